"""Every course notebook runs top to bottom in a real kernel.

* The solutions build passes every check() it calls.
* The student build runs without error, and every exercise is "not attempted".

The notebooks are built from course/ into a temporary folder and executed there (cwd), with the
progress file redirected into that folder, so a run never touches the learner's files. Until the
course has sources, the fixture notebook in tests/fixtures/course/ stands in.
"""

import json
import re
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from backprop_lib.grading import release

pytestmark = pytest.mark.notebooks

ROOT = Path(__file__).resolve().parents[1]
SOURCES = release.course_sources(ROOT / "course") or release.course_sources(
    ROOT / "tests" / "fixtures" / "course"
)
CELL_TIMEOUT = 240  # seconds; training notebooks are the slow ones

# The first line of a CheckResult's text: "softmax (Softmax): passed -- 2 / 2 points".
HEADLINE = re.compile(
    r"^(?P<id>[\w\-]+)(?: \(.*?\))?: (?P<status>passed|failed|not attempted|error|timeout) -- ",
    re.M,
)


class ExecutionTimes:
    """A pytest plugin that lists the notebooks' execution times in the terminal summary."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    def pytest_terminal_summary(self, terminalreporter):
        if self.seconds:
            terminalreporter.section("notebook execution times (kernel start included)")
            for name, value in sorted(self.seconds.items()):
                terminalreporter.write_line(f"{value:6.1f} s  {name}")
            for version in ("solutions", "student"):
                runs = [v for name, v in self.seconds.items() if name.endswith(f"({version})")]
                if runs:
                    terminalreporter.write_line(
                        f"{sum(runs):6.1f} s  whole course, {version} ({len(runs)} notebooks)")


@pytest.fixture(scope="module")
def timings(request) -> dict[str, float]:
    """Where each test records how long its notebook took; printed at the end of the run."""
    plugin = ExecutionTimes()
    request.config.pluginmanager.register(plugin, name="backprop-notebook-times")
    return plugin.seconds


def execute(source: Path, version: str, workdir: Path, monkeypatch, timings):
    """Build one version ('student' or 'solutions') of a source and run it in a fresh kernel.

    Returns the executed notebook and the progress data the grader saved.
    """
    built = release.build_source(source)
    nb = nbformat.reads(getattr(built, version), as_version=4)
    progress_file = workdir / "progress.json"
    monkeypatch.setenv("BACKPROP_PROGRESS_FILE", str(progress_file))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(workdir)}},
    )
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError, naming the cell, on the first error
    timings[f"{source.stem} ({version})"] = time.perf_counter() - start
    (workdir / built.filename).write_text(nbformat.writes(nb), encoding="utf-8")  # for debugging
    progress = json.loads(progress_file.read_text()) if progress_file.exists() else {}
    return nb, progress.get("exercises", {})


def reported_statuses(nb) -> dict[str, list[str]]:
    """Exercise id -> statuses shown by the check() cells' outputs, in notebook order."""
    statuses: dict[str, list[str]] = {}
    for cell in nb.cells:
        if cell.cell_type != "code" or not release.checked_exercises(cell.source):
            continue
        for output in cell.outputs:
            assert output.output_type != "error"
            text = output.get("data", {}).get("text/plain", "") or output.get("text", "")
            for match in HEADLINE.finditer(text):
                statuses.setdefault(match["id"], []).append(match["status"])
    return statuses


def exercises_in(nb) -> set[str]:
    return {ex for cell in nb.cells if cell.cell_type == "code"
            for ex in release.checked_exercises(cell.source)}


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_solutions_notebook_passes_every_check(source, tmp_path, monkeypatch, timings):
    nb, progress = execute(source, "solutions", tmp_path, monkeypatch, timings)
    expected = exercises_in(nb)
    shown = reported_statuses(nb)
    assert set(shown) == expected, "every check() cell should display its result"
    # A notebook may show a wrong answer failing first (00 does); the last check must pass.
    failing = {ex: s for ex, s in shown.items() if s[-1] != "passed"}
    assert not failing, f"check() did not pass in the end: {failing}"
    # The grader saved the passes too.
    assert {ex for ex in expected if progress.get(ex, {}).get("passed")} == expected


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_student_notebook_runs_and_nothing_is_attempted(source, tmp_path, monkeypatch, timings):
    nb, progress = execute(source, "student", tmp_path, monkeypatch, timings)
    expected = exercises_in(nb)
    shown = reported_statuses(nb)
    assert set(shown) == expected, "every check() cell should display its result"
    attempted = {ex: s for ex, s in shown.items() if s[-1] != "not attempted"}
    assert not attempted, f"the learner's own attempts should be stubs: {attempted}"
    assert not any(entry.get("passed") for entry in progress.values())
    assert {e.get("last_status", "not attempted") for e in progress.values()} <= {"not attempted"}
