"""The README's promises: two set-up commands, a launch link per notebook, CI runs the same."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def quick_start_commands():
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.strip()]


def test_quick_start_is_exactly_two_make_commands():
    assert quick_start_commands() == ["make lab", "make test"]


def test_makefile_defines_both_commands():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in ("lab", "test", "notebooks"):
        assert re.search(rf"^{target}:", makefile, re.M), f"Makefile lacks a '{target}' target"


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    lines = (line.strip() for line in ci.splitlines())
    commands = [line for line in lines if line and not line.startswith("#")]
    assert "make test" in commands
    assert "set -euo pipefail" in commands


def test_every_notebook_has_a_link_and_a_binder_launch_link():
    for source in sorted((ROOT / "course").glob("[0-9][0-9]_*.md")):
        name = f"notebooks/{source.stem}.ipynb"
        assert f"]({name})" in README, f"README course map has no link to {name}"
        assert f"urlpath=lab/tree/{name}" in README, f"README has no Binder link for {name}"
