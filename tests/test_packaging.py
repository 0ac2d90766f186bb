"""pyproject.toml, environment.yml and binder/ agree, and Binder would build them."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import escapism
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
ENVIRONMENT = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))

# Conda packages the environment needs that are not Python dependencies of the project.
CONDA_ONLY = {"python", "pip"}


def pyproject_runtime():
    """Requirements a learner's environment needs: the package's dependencies and the lab extra."""
    project = PYPROJECT["project"]
    requirements = [*project["dependencies"], *project["optional-dependencies"]["lab"]]
    return {canonicalize_name(r.name): r for r in map(Requirement, requirements)}


def conda_pins():
    """Package name -> pinned version string ('' when unpinned) from environment.yml."""
    pins = {}
    for spec in ENVIRONMENT["dependencies"]:
        assert isinstance(spec, str), f"unexpected mapping in environment.yml: {spec}"
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*(?:=+\s*([^\s=]+))?", spec.strip())
        assert match, f"cannot read the conda spec {spec!r}"
        pins[canonicalize_name(match.group(1))] = match.group(2) or ""
    return pins


def test_environment_uses_conda_forge_and_python_312():
    assert ENVIRONMENT["channels"][0] == "conda-forge"
    assert "defaults" not in ENVIRONMENT["channels"]
    assert conda_pins()["python"] == "3.12"


def test_environment_names_the_same_runtime_packages_as_pyproject():
    conda = set(conda_pins()) - CONDA_ONLY
    assert conda == set(pyproject_runtime())


def test_pinned_versions_satisfy_pyproject():
    pins = conda_pins()
    for name, requirement in pyproject_runtime().items():
        version = pins[name]
        assert re.fullmatch(r"\d+(\.\d+)+", version), f"{name} is not pinned: {version!r}"
        assert requirement.specifier.contains(version), f"{name}={version} violates {requirement}"


def test_pyproject_python_range_includes_the_conda_python():
    from packaging.specifiers import SpecifierSet

    assert SpecifierSet(PYPROJECT["project"]["requires-python"]).contains(conda_pins()["python"])


def test_binder_environment_is_a_symlink_to_the_root_one():
    link = ROOT / "binder" / "environment.yml"
    assert link.is_symlink()
    assert os.readlink(link) == "../environment.yml"
    assert link.resolve() == (ROOT / "environment.yml").resolve()


def test_binder_has_no_other_environment_files():
    """repo2docker honours several files in binder/; only these two may decide the build."""
    assert sorted(p.name for p in (ROOT / "binder").iterdir()) == ["environment.yml", "postBuild"]


def test_postbuild_is_a_strict_executable_bash_script():
    post_build = ROOT / "binder" / "postBuild"
    assert os.access(post_build, os.X_OK), "binder/postBuild must be executable"
    lines = post_build.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "#!/bin/bash"
    commands = [line.strip() for line in lines[1:] if line.strip() and not line.startswith("#")]
    assert commands[0] == "set -euo pipefail"
    assert "python -m pip install --no-deps -e ." in commands


def test_repo2docker_picks_the_conda_buildpack_with_python_312(tmp_path):
    """A dry run (no Docker, no network) of the build mybinder.org would do."""
    repo2docker = shutil.which("repo2docker", path=str(Path(sys.executable).parent))
    assert repo2docker, "repo2docker is missing: install the test extra (jupyter-repo2docker)"
    result = subprocess.run(
        [repo2docker, "--no-build", "--Repo2Docker.default_buildpack=None", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "Building conda environment for python=3.12" in result.stderr
    dockerfile = result.stdout
    # The base environment is the lock file repo2docker ships for Python 3.12; the Dockerfile
    # names build files escaped with escapism (a dependency of repo2docker).
    copied = re.search(r"^COPY \S+ build_script_files/(\S+) /tmp/env/environment.lock$",
                       dockerfile, re.M)
    assert copied, "the conda buildpack's base environment is missing from the Dockerfile"
    lock_file = escapism.escape("environment.py-3.12-linux-64.lock", escape_char="-")
    assert lock_file.lower() in copied.group(1).lower()
    assert 'env update -p ${NB_PYTHON_PREFIX} --file "binder/environment.yml"' in dockerfile
    assert "RUN ./binder/postBuild" in dockerfile
