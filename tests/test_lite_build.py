"""lite/build_site.py, the stages of `make lite`, on small files made here (no network, fast).

The whole build and the site in a browser are tested in tests/test_lite.py.
"""

import hashlib
import importlib.util
import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("build_site", ROOT / "lite" / "build_site.py")
build_site = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_site)


def make_wheel(folder, name, version, files, requires=()):
    """A minimal wheel: `files` (path -> text) plus a METADATA with `requires`."""
    path = Path(folder) / f"{name}-{version}-py3-none-any.whl"
    metadata = [f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}"]
    metadata += [f"Requires-Dist: {r}" for r in requires]
    with zipfile.ZipFile(path, "w") as wheel:
        for inner, text in files.items():
            wheel.writestr(inner, text)
        wheel.writestr(f"{name}-{version}.dist-info/METADATA", "\n".join(metadata) + "\n")
    return path


def lock_entry(name, file_name, data=b"", depends=()):
    return {"name": name, "version": "1.0", "file_name": file_name,
            "sha256": hashlib.sha256(data).hexdigest(), "depends": list(depends),
            "imports": [name], "install_dir": "site", "package_type": "package",
            "unvendored_tests": False}


OFFICIAL = {
    "info": {"version": "0.27.7"},
    "packages": {
        "numpy": lock_entry("numpy", "numpy-2.0.2-cp312-cp312-pyodide_2024_0_wasm32.whl", b"np"),
        "six": lock_entry("six", "six-1.16.0-py2.py3-none-any.whl", b"six"),
        "cycler": lock_entry("cycler", "cycler-0.12.1-py3-none-any.whl", b"cy", ["six"]),
        "matplotlib": lock_entry("matplotlib", "matplotlib-3.8.4.whl", b"mpl",
                                 ["numpy", "cycler"]),
        "scipy": lock_entry("scipy", "scipy-1.14.1.whl", b"sp", ["numpy"]),
    },
}


def test_the_configuration_names_real_files_and_pins_every_download():
    config = build_site.load_config()
    assert (build_site.LITE / config["pypi"]["requirements"]).exists()
    for name in ("jupyter-lite.json", "jupyter_lite_config.json", "overrides.json"):
        json.loads((build_site.LITE / name).read_text(encoding="utf-8"))
    assert config["pyodide"]["npm_integrity"].startswith("sha512-")
    assert len(config["wheels"]["bundle_sha256"]) == 64
    pins = (build_site.LITE / config["pypi"]["requirements"]).read_text(encoding="utf-8")
    for line in pins.splitlines():
        if line.strip() and not line.startswith("#"):
            assert "==" in line and "--hash=sha256:" in line, line
    kernel = json.loads((build_site.LITE / "jupyter-lite.json").read_text())[
        "jupyter-config-data"]["litePluginSettings"]["@jupyterlite/pyodide-kernel-extension:kernel"]
    assert kernel["disablePyPIFallback"] is True


def test_lock_closure_puts_dependencies_first_and_leaves_out_the_rest():
    order = build_site.lock_closure(OFFICIAL, ["matplotlib"])
    assert set(order) == {"matplotlib", "numpy", "cycler", "six"}
    assert order.index("six") < order.index("cycler") < order.index("matplotlib")
    assert order.index("numpy") < order.index("matplotlib")


def test_lock_closure_fails_on_a_package_the_lock_lacks():
    with pytest.raises(build_site.BuildError, match="pandas"):
        build_site.lock_closure(OFFICIAL, ["pandas"])


def test_a_file_whose_sha256_differs_from_the_official_lock_fails_the_build(tmp_path):
    entry = OFFICIAL["packages"]["numpy"]
    good = tmp_path / entry["file_name"]
    good.write_bytes(b"np")
    build_site.verify_official(good, entry)
    good.write_bytes(b"np, tampered")
    with pytest.raises(build_site.BuildError, match="does not match the official"):
        build_site.verify_official(good, entry)


@pytest.mark.parametrize("kind", ["wheel", "archive"])
def test_official_files_come_from_a_bundle_or_the_release_archive(tmp_path, kind):
    entries = [OFFICIAL["packages"][n] for n in ("six", "numpy")]
    contents = {"six": b"six", "numpy": b"np"}
    prefix = "assets/pyodide/" if kind == "wheel" else "pyodide/"
    if kind == "wheel":
        source = tmp_path / "bundle-1.0-py3-none-any.whl"
        with zipfile.ZipFile(source, "w") as bundle:
            for e in entries:
                bundle.writestr(prefix + e["file_name"], contents[e["name"]])
    else:
        source = tmp_path / "pyodide-0.27.7.tar.bz2"
        with tarfile.open(source, "w:bz2") as archive:
            for e in entries:
                info = tarfile.TarInfo(prefix + e["file_name"])
                info.size = len(contents[e["name"]])
                archive.addfile(info, io.BytesIO(contents[e["name"]]))
    copied = build_site.extract_official_files(source, prefix, entries, tmp_path / "out")
    assert [p.name for p in copied] == [e["file_name"] for e in entries]
    assert copied[1].read_bytes() == b"np"


def test_a_tampered_file_in_the_bundle_fails_the_build(tmp_path):
    entry = OFFICIAL["packages"]["numpy"]
    source = tmp_path / "bundle-1.0-py3-none-any.whl"
    with zipfile.ZipFile(source, "w") as bundle:
        bundle.writestr("p/" + entry["file_name"], b"not numpy")
    with pytest.raises(build_site.BuildError, match="does not match the official"):
        build_site.extract_official_files(source, "p/", [entry], tmp_path / "out")


def test_a_file_missing_from_the_bundle_fails_the_build(tmp_path):
    source = tmp_path / "bundle-1.0-py3-none-any.whl"
    with zipfile.ZipFile(source, "w") as bundle:
        bundle.writestr("p/other.whl", b"")
    with pytest.raises(build_site.BuildError, match="lacks"):
        build_site.extract_official_files(source, "p/", [OFFICIAL["packages"]["six"]],
                                          tmp_path / "out")


def test_an_added_wheel_gets_its_imports_and_pyodide_dependencies(tmp_path):
    wheel = make_wheel(tmp_path, "course_lib", "0.1.0", {
        "course_lib/__init__.py": "", "course_lib/data/x.csv": "", "helper.py": "",
        "course_lib-0.1.0.data/scripts/tool": "",
    }, requires=[
        "numpy>=1.26", "colorama; platform_system == 'Windows'", "pytest; extra == 'test'",
        "widgetsnbextension~=4.0", "jupyterlab_widgets~=3.0.15",
    ])
    entry = build_site.added_lock_entry(wheel, provided={"jupyterlab-widgets": "3.0.16"},
                                        not_needed=["widgetsnbextension"])
    assert entry["name"] == "course-lib" and entry["version"] == "0.1.0"
    assert entry["imports"] == ["course_lib", "helper"]
    assert entry["depends"] == ["numpy"]
    assert entry["sha256"] == hashlib.sha256(wheel.read_bytes()).hexdigest()


def test_the_site_lock_ships_only_what_was_chosen_plus_the_added_wheels(tmp_path):
    wheel = make_wheel(tmp_path, "course_lib", "0.1.0", {"course_lib/__init__.py": ""},
                       requires=["numpy>=1.0", "matplotlib>=1.0"])
    shipped = build_site.lock_closure(OFFICIAL, ["matplotlib"])
    lock = build_site.site_lock(OFFICIAL, shipped, {"course-lib": wheel})
    assert set(lock["packages"]) == {"numpy", "six", "cycler", "matplotlib", "course-lib"}
    assert lock["packages"]["course-lib"]["depends"] == ["matplotlib", "numpy"]
    assert lock["info"] == OFFICIAL["info"]


def test_the_site_lock_fails_when_a_requirement_is_missing_or_too_old(tmp_path):
    shipped = ["numpy"]
    needs_sympy = make_wheel(tmp_path, "a", "1.0", {"a/__init__.py": ""}, ["sympy>=1.12"])
    with pytest.raises(build_site.BuildError, match="sympy.*lacks"):
        build_site.site_lock(OFFICIAL, shipped, {"a": needs_sympy})
    needs_new_numpy = make_wheel(tmp_path, "b", "1.0", {"b/__init__.py": ""}, ["numpy>=3"])
    with pytest.raises(build_site.BuildError, match="the site has 1.0"):
        build_site.site_lock(OFFICIAL, shipped, {"b": needs_new_numpy})
    needs_widgets = make_wheel(tmp_path, "c", "1.0", {"c/__init__.py": ""},
                               ["jupyterlab_widgets~=3.0.17"])
    with pytest.raises(build_site.BuildError, match="the site has 3.0.16"):
        build_site.site_lock(OFFICIAL, shipped, {"c": needs_widgets},
                             provided={"jupyterlab_widgets": "3.0.16"})


def test_staged_notebooks_name_the_pyodide_kernel(tmp_path):
    notebook = tmp_path / "nb.ipynb"
    notebook.write_text(json.dumps({"cells": [], "metadata": {"kernelspec": {"name": "python3"}},
                                    "nbformat": 4, "nbformat_minor": 5}))
    data = json.loads(build_site.with_pyodide_kernel(notebook))
    assert data["metadata"]["kernelspec"]["name"] == "python"
    assert data["cells"] == []


def test_any_change_to_an_input_changes_the_digest(tmp_path, monkeypatch):
    (tmp_path / "lite").mkdir()
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "backprop_lib").mkdir()
    (tmp_path / "pyproject.toml").write_text("x")
    (tmp_path / "notebooks" / "02.ipynb").write_text("{}")
    monkeypatch.setattr(build_site, "ROOT", tmp_path)
    monkeypatch.setattr(build_site, "LITE", tmp_path / "lite")
    first = build_site.inputs_digest()
    assert build_site.inputs_digest() == first
    assert build_site.inputs_digest(archive="pyodide.tar.bz2") != first
    (tmp_path / "notebooks" / "02.ipynb").write_text('{"changed": 1}')
    assert build_site.inputs_digest() != first
