"""Progress file: atomic, shared safely between kernels, forgiving about damage."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

from backprop_lib.grading import check, hint, progress
from backprop_lib.grading import progress_store as progress_module
from backprop_lib.grading.registry import get_exercise


@pytest.fixture()
def store(tmp_path, monkeypatch):
    path = tmp_path / "progress.json"
    monkeypatch.setenv("BACKPROP_PROGRESS_FILE", str(path))
    monkeypatch.setattr(progress_module, "_warned", set())
    return path


def softmax_ok(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_wrong(z):
    return np.exp(z) / np.exp(z).sum(axis=0, keepdims=True)


def entry(path, exercise_id):
    return json.loads(path.read_text())["exercises"][exercise_id]


def test_default_location_is_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("BACKPROP_PROGRESS_FILE", raising=False)
    monkeypatch.chdir(tmp_path)
    assert progress_module.progress_path() == tmp_path / ".backprop_progress.json"


def test_missing_file_is_a_fresh_start_without_warning(store):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = progress()
    assert report.score == 0 and report.passed == 0
    assert report.total == len(report.exercises) > 10


def test_best_score_is_kept_and_attempts_counted(store):
    check("softmax", softmax_ok)
    check("softmax", softmax_wrong)
    saved = entry(store, "softmax")
    assert saved["passed"] is True
    assert saved["best_score"] == get_exercise("softmax").points
    assert saved["attempts"] == 2
    assert saved["last_status"] == "failed"


def test_stub_does_not_count_as_an_attempt(store):
    def stub(z):
        raise NotImplementedError()

    check("softmax", stub)
    saved = entry(store, "softmax")
    assert saved.get("attempts", 0) == 0 and saved["last_status"] == "not attempted"


def test_unknown_exercise_is_not_recorded(store):
    check("no_such_exercise", softmax_ok)
    assert not store.exists() or "no_such_exercise" not in json.loads(store.read_text())[
        "exercises"]


def test_writes_are_atomic_and_leave_no_temp_files(store, monkeypatch):
    check("softmax", softmax_ok)
    before = store.read_text()

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.warns(RuntimeWarning, match="Could not save progress"):
        result = check("log_softmax", lambda z: z)
    assert result.status == "failed"
    assert store.read_text() == before
    leftovers = [p.name for p in store.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


@pytest.mark.parametrize("damage", ["{not json", "[]", '{"exercises": 3}', ""])
def test_corrupt_file_means_fresh_start_with_one_warning(store, damage):
    store.write_text(damage)
    with pytest.warns(RuntimeWarning, match="damaged") as record:
        report = progress()
        progress()
    assert len([w for w in record if "damaged" in str(w.message)]) == 1
    assert report.score == 0
    result = check("softmax", softmax_ok)
    assert result.passed
    assert entry(store, "softmax")["passed"] is True
    assert (store.parent / (store.name + ".corrupt")).read_text() == damage


def test_unwritable_location_warns_and_grading_goes_on(tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv("BACKPROP_PROGRESS_FILE", str(blocker / "progress.json"))
    monkeypatch.setattr(progress_module, "_warned", set())
    with pytest.warns(RuntimeWarning, match="Could not save progress"):
        assert check("softmax", softmax_ok).passed


_WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    from backprop_lib.grading import check

    def stub(*args):
        raise NotImplementedError()

    def wrong(z):
        return z

    exercise = sys.argv[1]
    for i in range(int(sys.argv[2])):
        check(exercise, wrong)
        check("softmax", wrong)
""")


def test_two_processes_writing_at_once_lose_nothing(store, tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    env = dict(os.environ, BACKPROP_PROGRESS_FILE=str(store))
    rounds = 15
    procs = [subprocess.Popen([sys.executable, str(script), ex, str(rounds)], env=env)
             for ex in ("log_softmax", "dense_forward")]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    data = json.loads(store.read_text())["exercises"]
    assert data["log_softmax"]["attempts"] == rounds
    assert data["dense_forward"]["attempts"] == rounds
    assert data["softmax"]["attempts"] == 2 * rounds


def test_hints_are_progressive_and_remembered(store):
    hints = get_exercise("softmax").hints
    first, second = hint("softmax"), hint("softmax")
    assert first.startswith(f"Hint 1 of {len(hints)}") and hints[0] in first
    assert second.startswith(f"Hint 2 of {len(hints)}") and hints[1] in second
    assert entry(store, "softmax")["hints_seen"] == 2
    for _ in range(len(hints) + 2):
        last = hint("softmax")
    assert hints[-1] in last and "last hint" in last
    assert hints[0] in hint("softmax", 1)
    assert "<div" in last._repr_html_()


def test_hint_for_unknown_exercise_suggests_names(store):
    assert "'softmax'" in hint("sofmax")


def test_every_exercise_has_three_distinct_hints():
    from backprop_lib.grading import exercises

    for exercise_id in exercises():
        hints = get_exercise(exercise_id).hints
        assert len(hints) >= 3 and len(set(hints)) == len(hints), exercise_id


def test_report_per_notebook_and_overall(store):
    check("softmax", softmax_ok)
    check("shape_of_dW", (64, 10))
    report = progress()
    by_number = {row.notebook: row for row in report.rows}
    assert by_number[2].passed == 1 and by_number[2].score == get_exercise("softmax").points
    assert by_number[1].passed == 1
    assert report.passed == 2
    assert report.points == sum(get_exercise(e).points for e in report.exercises)
    text = str(report)
    assert "Overall" in text and "02 Softmax" in text and "#" in text
    assert "softmax" not in report.to_do and "log_softmax" in report.to_do
    assert "Not passed yet" in text and "log_softmax" in text
    html = report._repr_html_()
    assert "<table>" in html and "Overall" in html and "width:" in html


def test_report_of_one_notebook_matches_the_registry(store):
    from backprop_lib.grading import exercises

    report = progress()
    assert sum(row.total for row in report.rows) == len(exercises())
    assert {row.notebook for row in report.rows} == {get_exercise(e).notebook
                                                      for e in exercises()}


def test_hints_advance_even_when_progress_cannot_be_saved(tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv("BACKPROP_PROGRESS_FILE", str(blocker / "progress.json"))
    monkeypatch.setattr(progress_module, "_warned", set())
    with pytest.warns(RuntimeWarning):
        assert hint("dense_forward").startswith("Hint 1")
    assert hint("dense_forward").startswith("Hint 2")
