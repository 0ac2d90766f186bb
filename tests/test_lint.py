"""Repository hygiene: ruff is clean, generated files are ignored, pre-commit guards both."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def run(*args, **kwargs):
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120, **kwargs)


def test_ruff_is_clean():
    result = run(sys.executable, "-m", "ruff", "check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        "build/solutions/02_softmax.ipynb",
        "notebooks/.ipynb_checkpoints/02_softmax-checkpoint.ipynb",
        ".backprop_progress.json",
        "notebooks/.backprop_progress.json",
        "notebooks/.backprop_progress.json.lock",
        "tests/screenshots/slider_after.png",
        "backprop_lib/__pycache__/functional.cpython-312.pyc",
    ],
)
def test_generated_files_are_git_ignored(path):
    # Only the repository's own .gitignore counts, not the user's global excludes.
    result = run("git", "-c", "core.excludesFile=/dev/null", "check-ignore", "--no-index", path)
    assert result.returncode == 0, f"{path} is not covered by .gitignore {result.stderr}"


@pytest.mark.parametrize(
    "path",
    [
        "notebooks/02_softmax.ipynb",
        "course/02_softmax.md",
        "binder/environment.yml",
        "binder/postBuild",
        "tests/fixtures/course/90_softmax_widget.md",
        "backprop_lib/grading/release.py",
    ],
)
def test_sources_are_not_ignored(path):
    result = run("git", "-c", "core.excludesFile=/dev/null", "check-ignore", "--no-index", path)
    assert result.returncode == 1, f"{path} must not be ignored: {result.stdout}"


def test_pre_commit_config_is_valid_and_guards_lint_and_notebooks():
    result = run(sys.executable, "-m", "pre_commit", "validate-config", ".pre-commit-config.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    entries = [hook["entry"] for repo in config["repos"] for hook in repo["hooks"]]
    assert any(entry.startswith("ruff check") for entry in entries)
    assert "python -m backprop_lib.grading.release --check" in entries


def test_release_check_command_passes_on_the_repository():
    """What the pre-commit hook runs: notebooks/ is in sync with course/."""
    result = run(sys.executable, "-m", "backprop_lib.grading.release", "--check")
    assert result.returncode == 0, result.stdout + result.stderr
