"""Build the course's JupyterLite site into build/lite/ (what ``make lite`` runs).

The site is static files: JupyterLab's UI, the Pyodide kernel, the Pyodide distribution, every
wheel the course imports (backprop_lib, numpy, sympy, matplotlib, ipywidgets and what they
need) and the student notebooks. At run time it loads nothing from anywhere else.

Stages, each a small function below:

1. **sources**: the Pyodide core files and the official ``pyodide-lock.json`` from the npm
   package; the official Pyodide wheels the site ships, from a PyPI bundle or the official
   release archive, each checked against the official lock's sha256 (a mismatch fails the
   build); pure-Python wheels from PyPI (pinned with hashes in ``lite/pypi-wheels.txt``); the
   course's own wheel from ``pip wheel``. Downloads are cached in build/lite-cache/, so a
   rebuild is fast and needs no network.
2. **lock**: the site's ``pyodide-lock.json``: the official entries of the shipped packages plus
   one entry per added wheel (imports read from the wheel, dependencies from its metadata,
   checked against what the site ships), so a plain ``import backprop_lib`` loads everything.
3. **stage**: a JupyterLite folder in build/lite-stage/ (lite/ configuration, the notebooks in
   ``files/``, the Pyodide distribution in ``static/pyodide/``).
4. **build**: ``jupyter lite build`` into build/lite/ (replaced only when the build succeeds).

The site is rebuilt only when one of its inputs changed (``--force`` rebuilds anyway).
Usage: ``python lite/build_site.py [--force] [--pyodide-archive URL_OR_PATH]``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import urllib.request
import zipfile
from email.parser import Parser
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
LITE = ROOT / "lite"
BUILD = ROOT / "build"
CACHE = BUILD / "lite-cache"
STAGE = BUILD / "lite-stage"
OUTPUT = BUILD / "lite"
INPUTS_FILE = ".backprop-lite-inputs"
ARCHIVE_ENV_VAR = "PYODIDE_ARCHIVE"
PYODIDE_KERNELSPEC = {"name": "python", "display_name": "Python (Pyodide)", "language": "python"}
PYODIDE_CORE_FILES = ("pyodide.js", "pyodide.asm.js", "pyodide.asm.wasm", "python_stdlib.zip")

# The environment markers of Pyodide 0.27 (CPython 3.12.7 compiled to wasm32 by Emscripten),
# to read which requirements of a wheel apply in the browser.
PYODIDE_MARKERS = {
    "implementation_name": "cpython",
    "implementation_version": "3.12.7",
    "os_name": "posix",
    "platform_machine": "wasm32",
    "platform_python_implementation": "CPython",
    "platform_release": "3.1.58",
    "platform_system": "Emscripten",
    "platform_version": "#1",
    "python_full_version": "3.12.7",
    "python_version": "3.12",
    "sys_platform": "emscripten",
    "extra": "",
}


class BuildError(RuntimeError):
    """The site cannot be built as configured (a checksum, a missing wheel, a failed tool)."""


def log(text):
    print(f"[lite] {text}", flush=True)


def run(command, **kwargs):
    """Run a command, failing the build with its output when it fails."""
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise BuildError(f"{' '.join(map(str, command))} failed:\n{result.stdout}{result.stderr}")
    return result


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_config(path=LITE / "site.toml"):
    return tomllib.loads(Path(path).read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------
# 1. sources
# ---------------------------------------------------------------------------


def fetch_pyodide_core(config, cache=CACHE):
    """The unpacked npm package of Pyodide (core files and the official lock).

    ``npm pack`` fetches the tarball once; its sha512 must equal ``npm_integrity``.

    Returns
    -------
    Path
        The folder holding ``pyodide.js``, ``pyodide-lock.json``, ...
    """
    spec, integrity = config["pyodide"]["npm_package"], config["pyodide"]["npm_integrity"]
    folder = cache / "npm"
    unpacked = folder / spec.replace("@", "-")
    if (unpacked / "package" / "pyodide-lock.json").exists():
        return unpacked / "package"
    folder.mkdir(parents=True, exist_ok=True)
    log(f"npm pack {spec}")
    packed = run(["npm", "pack", spec, "--json", "--pack-destination", str(folder)])
    tarball = folder / json.loads(packed.stdout)[0]["filename"]
    algorithm, expected = integrity.split("-", 1)
    actual = base64.b64encode(hashlib.new(algorithm, tarball.read_bytes()).digest()).decode()
    if actual != expected:
        tarball.unlink()
        raise BuildError(f"{tarball.name}: {algorithm} {actual} is not the pinned {expected}")
    with tarfile.open(tarball) as archive:
        archive.extractall(unpacked, filter="data")
    return unpacked / "package"


def official_lock(core):
    return json.loads((core / "pyodide-lock.json").read_text(encoding="utf-8"))


def lock_closure(lock, roots):
    """`roots` and every package they depend on in `lock`, dependencies first.

    Raises
    ------
    BuildError
        When a root or a dependency is not in the lock.
    """
    packages, order, seen = lock["packages"], [], set()

    def visit(name, wanted_by):
        key = canonicalize_name(name)
        if key in seen:
            return
        if key not in packages:
            raise BuildError(f"{name} (wanted by {wanted_by}) is not in the official lock")
        seen.add(key)
        for dependency in packages[key]["depends"]:
            visit(dependency, key)
        order.append(key)

    for root in roots:
        visit(root, "lite/site.toml")
    return order


def verify_official(path, entry):
    """Fail unless the file's sha256 is the one the official lock gives for it."""
    actual = sha256_of(path)
    if actual != entry["sha256"]:
        raise BuildError(
            f"{path.name}: sha256 {actual} does not match the official pyodide-lock.json "
            f"({entry['sha256']}); refusing to ship it"
        )


def pip_download(arguments, destination):
    destination.mkdir(parents=True, exist_ok=True)
    run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
         "--disable-pip-version-check", "-d", str(destination), *arguments])


def fetch_bundle(config, cache=CACHE):
    """The PyPI package that carries the Pyodide wheels (downloaded once, sha256-pinned)."""
    requirement = Requirement(config["wheels"]["bundle"])
    folder = cache / "bundle"
    found = sorted(folder.glob(f"{requirement.name.replace('-', '_')}-*.whl"))
    if not found:
        log(f"pip download {requirement}")
        pip_download([str(requirement)], folder)
        found = sorted(folder.glob(f"{requirement.name.replace('-', '_')}-*.whl"))
    if len(found) != 1:
        raise BuildError(f"expected one wheel of {requirement} in {folder}, found {found}")
    expected = config["wheels"]["bundle_sha256"]
    if sha256_of(found[0]) != expected:
        raise BuildError(f"{found[0].name}: sha256 is not the pinned {expected}")
    return found[0]


def fetch_archive(path_or_url, cache=CACHE):
    """The official Pyodide release archive: a local path, or a URL downloaded once."""
    if "://" not in path_or_url:
        path = Path(path_or_url).expanduser().resolve()
        if not path.exists():
            raise BuildError(f"Pyodide archive {path} does not exist")
        return path
    path = cache / "archive" / path_or_url.rstrip("/").rsplit("/", 1)[-1]
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        log(f"downloading {path_or_url}")
        partial = path.with_suffix(path.suffix + ".part")
        with urllib.request.urlopen(path_or_url, timeout=60) as response:
            with open(partial, "wb") as out:
                shutil.copyfileobj(response, out)
        partial.replace(path)
    return path


def extract_official_files(source, prefix, entries, destination):
    """Copy the files of the lock `entries` found under `prefix` in `source` to `destination`.

    `source` is a wheel (zip) or a ``.tar.bz2`` release archive. Every copied file is checked
    against its entry's sha256.

    Returns
    -------
    list of Path
    """
    wanted = {prefix + entry["file_name"]: entry for entry in entries}
    destination.mkdir(parents=True, exist_ok=True)
    copied = {}
    if zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as archive:
            for name in sorted(set(wanted) & set(archive.namelist())):
                target = destination / wanted[name]["file_name"]
                with archive.open(name) as member, open(target, "wb") as out:
                    shutil.copyfileobj(member, out)
                copied[name] = target
    else:
        with tarfile.open(source) as archive:
            for member in archive:
                if member.name in wanted and member.isfile():
                    target = destination / wanted[member.name]["file_name"]
                    with archive.extractfile(member) as data, open(target, "wb") as out:
                        shutil.copyfileobj(data, out)
                    copied[member.name] = target
    missing = sorted(set(wanted) - set(copied))
    if missing:
        raise BuildError(f"{Path(source).name} lacks {', '.join(missing)}")
    for name, target in copied.items():
        verify_official(target, wanted[name])
    return [copied[name] for name in wanted]


def fetch_pypi_wheels(requirements, cache=CACHE):
    """Download the pinned wheels of `requirements` (pip checks every hash).

    Returns
    -------
    dict
        canonical project name -> wheel path.
    """
    folder = cache / "pypi"
    pins = [Requirement(line.split("--hash", 1)[0].strip())
            for line in Path(requirements).read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.lstrip().startswith("#")]

    def present():
        wheels = {}
        for wheel in folder.glob("*.whl"):
            name, version, *_ = parse_wheel_filename(wheel.name)
            wheels[(name, str(version))] = wheel
        return wheels

    wanted = {(canonicalize_name(r.name), next(iter(r.specifier)).version) for r in pins}
    if not wanted <= set(present()):
        log(f"pip download -r {Path(requirements).name}")
        pip_download(["--require-hashes", "--only-binary=:all:", "-r", str(requirements)], folder)
    wheels = present()
    return {name: wheels[(name, version)] for name, version in sorted(wanted)}


def build_course_wheel(cache=CACHE):
    """``pip wheel`` of this repository (backprop_lib, with its data files)."""
    folder = cache / "course"
    shutil.rmtree(folder, ignore_errors=True)
    log("pip wheel . (backprop_lib)")
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
         "--disable-pip-version-check", "-w", str(folder), str(ROOT)])
    (wheel,) = folder.glob("*.whl")
    return wheel


# ---------------------------------------------------------------------------
# 2. the site's lock
# ---------------------------------------------------------------------------


def wheel_metadata(wheel):
    """The parsed METADATA of a wheel."""
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist()
                   if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
        return Parser().parsestr(archive.read(name).decode("utf-8"))


def wheel_imports(wheel):
    """Top-level import names a wheel provides (packages and single-file modules)."""
    names = set()
    with zipfile.ZipFile(wheel) as archive:
        for entry in archive.namelist():
            top, _, rest = entry.partition("/")
            if top.endswith((".dist-info", ".data")):
                continue
            if rest == "__init__.py" or (not rest and top.endswith(".py")):
                names.add(top.removesuffix(".py"))
    return sorted(names)


def wheel_requirements(wheel, not_needed=()):
    """Requirements of a wheel that apply in Pyodide, minus the `not_needed` projects."""
    skip = {canonicalize_name(n) for n in not_needed}
    applying = []
    for text in wheel_metadata(wheel).get_all("Requires-Dist") or []:
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate(PYODIDE_MARKERS):
            continue
        if canonicalize_name(requirement.name) not in skip:
            applying.append(requirement)
    return applying


def added_lock_entry(wheel, provided=(), not_needed=()):
    """A pyodide-lock.json entry for a pure-Python wheel.

    Its ``depends`` are the wheel's requirements minus those met by `provided` projects (shipped
    as JupyterLab extensions, not as Python packages) and `not_needed` ones.
    """
    name, version, *_ = parse_wheel_filename(wheel.name)
    depends = {canonicalize_name(r.name) for r in wheel_requirements(wheel, not_needed)}
    return {
        "name": name,
        "version": str(version),
        "file_name": wheel.name,
        "install_dir": "site",
        "sha256": sha256_of(wheel),
        "package_type": "package",
        "imports": wheel_imports(wheel),
        "depends": sorted(depends - set(provided)),
        "unvendored_tests": False,
    }


def site_lock(official, shipped, added_wheels, provided=None, not_needed=()):
    """The site's lock: the shipped official entries plus the added wheels.

    Every requirement of an added wheel must be met by the site, in a version it accepts.

    Parameters
    ----------
    official : dict
        The official pyodide-lock.json.
    shipped : list of str
        Official package names the site ships.
    added_wheels : dict
        canonical name -> wheel path; an added wheel replaces an official entry of that name.
    provided : dict, optional
        canonical name -> version of projects the site ships outside the lock (its JupyterLab
        extensions).
    not_needed : sequence of str
        Requirements the site deliberately leaves out.

    Returns
    -------
    dict
    """
    provided = {canonicalize_name(k): v for k, v in (provided or {}).items()}
    packages = {name: official["packages"][name] for name in shipped}
    for name, wheel in added_wheels.items():
        packages[name] = added_lock_entry(wheel, provided, not_needed)
    versions = {**provided, **{name: entry["version"] for name, entry in packages.items()}}
    for wheel in added_wheels.values():
        for requirement in wheel_requirements(wheel, not_needed):
            version = versions.get(canonicalize_name(requirement.name))
            if version is None:
                raise BuildError(f"{wheel.name} requires {requirement}, which the site lacks")
            if not requirement.specifier.contains(version, prereleases=True):
                raise BuildError(f"{wheel.name} requires {requirement}; the site has {version}")
    return {"info": official["info"], "packages": dict(sorted(packages.items()))}


# ---------------------------------------------------------------------------
# 3. stage and 4. build
# ---------------------------------------------------------------------------


def input_files():
    """Every file whose change must rebuild the site."""
    files = [*LITE.glob("*"), ROOT / "pyproject.toml", *(ROOT / "notebooks").glob("*.ipynb")]
    files += sorted(p for p in (ROOT / "backprop_lib").rglob("*")
                    if p.is_file() and "__pycache__" not in p.parts)
    return sorted(p for p in files if p.is_file())


def inputs_digest(archive=None):
    digest = hashlib.sha256(f"archive={archive}\n".encode())
    for path in input_files():
        digest.update(f"{path.relative_to(ROOT)}\n".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def with_pyodide_kernel(notebook):
    """The notebook's JSON with the site's kernel (Pyodide) as its kernelspec.

    JupyterLite would otherwise match ``python3`` to it by language, with a console warning,
    and mark every notebook as changed on opening.
    """
    data = json.loads(Path(notebook).read_text(encoding="utf-8"))
    data.setdefault("metadata", {})["kernelspec"] = dict(PYODIDE_KERNELSPEC)
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def stage(config, core, official_files, site_lock_data, added_wheels, extension_wheels):
    """Lay out the JupyterLite folder that ``jupyter lite build`` reads; returns it."""
    shutil.rmtree(STAGE, ignore_errors=True)
    pyodide = STAGE / "static" / "pyodide"
    pyodide.mkdir(parents=True)
    for name in PYODIDE_CORE_FILES:
        shutil.copy2(core / name, pyodide / name)
    for wheel in [*official_files, *added_wheels.values()]:
        shutil.copy2(wheel, pyodide / wheel.name)
    (pyodide / "pyodide-lock.json").write_text(json.dumps(site_lock_data, indent=1) + "\n",
                                               encoding="utf-8")
    files = STAGE / "files"
    files.mkdir()
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        (files / notebook.name).write_text(with_pyodide_kernel(notebook), encoding="utf-8")
    for name in ("jupyter-lite.json", "overrides.json"):
        shutil.copy2(LITE / name, STAGE / name)
    build_config = json.loads((LITE / "jupyter_lite_config.json").read_text(encoding="utf-8"))
    build_config["LiteBuildConfig"].update(
        contents=[str(files)],
        federated_extensions=[str(w) for w in extension_wheels],
    )
    (STAGE / "jupyter_lite_config.json").write_text(json.dumps(build_config, indent=1),
                                                    encoding="utf-8")
    return STAGE


def jupyter_lite_build(lite_dir, output):
    """``jupyter lite build`` into a fresh folder that then replaces `output`."""
    fresh = output.with_name(output.name + ".tmp")
    shutil.rmtree(fresh, ignore_errors=True)
    log("jupyter lite build")
    run([sys.executable, "-m", "jupyter", "lite", "build", "--lite-dir", str(lite_dir),
         "--output-dir", str(fresh)], cwd=lite_dir)
    shutil.rmtree(output, ignore_errors=True)
    fresh.replace(output)
    return output


def check_site(output):
    """Every file the site's lock names is in the site; PyPI fallback is off."""
    pyodide = output / "static" / "pyodide"
    lock = json.loads((pyodide / "pyodide-lock.json").read_text(encoding="utf-8"))
    missing = [e["file_name"] for e in lock["packages"].values()
               if not (pyodide / e["file_name"]).exists()]
    if missing:
        raise BuildError(f"the site's lock names files it does not ship: {missing}")
    config = json.loads((output / "jupyter-lite.json").read_text(encoding="utf-8"))
    kernel = config["jupyter-config-data"]["litePluginSettings"][
        "@jupyterlite/pyodide-kernel-extension:kernel"]
    if kernel.get("pyodideUrl") != "./static/pyodide/pyodide.js" or not kernel.get(
            "disablePyPIFallback"):
        raise BuildError(f"the site's Pyodide kernel settings are not self-contained: {kernel}")


def site_size(output):
    """Total bytes and file count of the site, and bytes per top-level part."""
    parts, total, count = {}, 0, 0
    for path in output.rglob("*"):
        if path.is_file():
            size = path.stat().st_size
            total, count = total + size, count + 1
            top = path.relative_to(output).parts[0]
            key = "static/pyodide" if top == "static" and "pyodide" in path.parts else top
            parts[key] = parts.get(key, 0) + size
    return total, count, parts


def print_size(output):
    total, count, parts = site_size(output)
    log(f"site: {output} ({total / 1e6:.1f} MB in {count} files)")
    for key, size in sorted(parts.items(), key=lambda kv: -kv[1])[:6]:
        log(f"  {size / 1e6:7.1f} MB  {key}")


def build(*, force=False, archive=None):
    """Build the site into build/lite/ unless it is up to date; returns its path."""
    config = load_config()
    archive = archive or os.environ.get(ARCHIVE_ENV_VAR) or (
        config["wheels"]["archive"] if config["wheels"]["source"] == "archive" else None)
    digest = inputs_digest(archive)
    stamp = OUTPUT / INPUTS_FILE
    if not force and stamp.exists() and stamp.read_text(encoding="utf-8").strip() == digest:
        log(f"{OUTPUT} is up to date")
        return OUTPUT

    core = fetch_pyodide_core(config)
    official = official_lock(core)
    if official["info"]["version"] != config["pyodide"]["version"]:
        raise BuildError(f"the npm package holds Pyodide {official['info']['version']}")
    pypi_wheels = fetch_pypi_wheels(LITE / config["pypi"]["requirements"])
    extensions = [pypi_wheels.pop(canonicalize_name(n)) for n in config["extensions"]["wheels"]]
    provided = {parse_wheel_filename(w.name)[0]: str(parse_wheel_filename(w.name)[1])
                for w in extensions}
    course = build_course_wheel()
    added = {**pypi_wheels, canonicalize_name("backprop_lib"): course}
    shipped = [n for n in lock_closure(official, config["pyodide"]["packages"]) if n not in added]
    entries = [official["packages"][n] for n in shipped]
    official_dir = CACHE / "official"
    shutil.rmtree(official_dir, ignore_errors=True)
    if archive:
        source, prefix = fetch_archive(archive), config["wheels"]["archive_dir"]
    else:
        source, prefix = fetch_bundle(config), config["wheels"]["bundle_dir"]
    log(f"{len(entries)} official Pyodide packages from {source.name}, sha256-checked")
    official_files = extract_official_files(source, prefix, entries, official_dir)
    lock = site_lock(official, shipped, added, provided, config["pypi"]["not_needed"])
    lite_dir = stage(config, core, official_files, lock, added, extensions)
    jupyter_lite_build(lite_dir, OUTPUT)
    check_site(OUTPUT)
    stamp.write_text(digest + "\n", encoding="utf-8")
    print_size(OUTPUT)
    return OUTPUT


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    parser.add_argument("--pyodide-archive", metavar="URL_OR_PATH",
                        help="take the Pyodide wheels from the official release archive "
                             f"(pyodide-<version>.tar.bz2; or set ${ARCHIVE_ENV_VAR})")
    args = parser.parse_args(argv)
    try:
        build(force=args.force, archive=args.pyodide_archive)
    except BuildError as exc:
        print(f"[lite] build failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
