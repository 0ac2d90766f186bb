"""Progress file: atomic, shared safely between kernels, forgiving about damage."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
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
    with pytest.warns(RuntimeWarning, match="kept as"):
        result = check("softmax", softmax_ok)
    assert result.passed
    assert entry(store, "softmax")["passed"] is True
    kept = list(store.parent.glob(store.name + ".damaged-*"))
    assert [p.read_text() for p in kept] == [damage]


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


# ---------------------------------------------------------------------------
# Progress is never lost (issue 8, section 4)
# ---------------------------------------------------------------------------

_GOOD = {"version": 1, "exercises": {"softmax": {"best_score": 2.0, "points": 2.0,
                                                 "passed": True, "attempts": 1}}}


def test_an_unreadable_file_is_never_replaced_and_the_session_goes_on(store, monkeypatch):
    store.write_text(json.dumps(_GOOD))
    before = store.read_bytes()
    real_read_bytes = type(store).read_bytes

    def refuse(self):
        if self == store:
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_bytes(self)

    monkeypatch.setattr(type(store), "read_bytes", refuse)
    with pytest.warns(RuntimeWarning, match="left untouched"):
        assert check("log_softmax", softmax_wrong).status == "failed"
    assert check("dense_forward", lambda A, W, b: A @ W + b).passed
    assert hint("cross_entropy").startswith("Hint 1")
    assert hint("cross_entropy").startswith("Hint 2")
    report = progress()
    assert report.exercises["dense_forward"]["passed"] and report.passed == 1
    monkeypatch.undo()
    assert store.read_bytes() == before
    assert not list(store.parent.glob("*.tmp"))


def test_a_folder_in_place_of_the_file_is_left_alone(tmp_path, monkeypatch):
    folder = tmp_path / "progress.json"
    folder.mkdir()
    monkeypatch.setenv("BACKPROP_PROGRESS_FILE", str(folder))
    monkeypatch.setattr(progress_module, "_warned", set())
    with pytest.warns(RuntimeWarning):
        assert check("softmax", softmax_ok).passed
    assert folder.is_dir() and progress().passed == 1


def test_a_utf16_file_is_read_and_rewritten_as_utf8(store):
    store.write_bytes(json.dumps(_GOOD).encode("utf-16"))
    assert progress().exercises["softmax"]["passed"]
    with pytest.warns(RuntimeWarning, match="not saved as UTF-8"):
        check("log_softmax", softmax_wrong)
    data = json.loads(store.read_text(encoding="utf-8"))
    assert data["exercises"]["softmax"]["passed"] is True
    assert data["exercises"]["log_softmax"]["attempts"] == 1
    (kept,) = store.parent.glob(store.name + ".damaged-*")
    assert kept.read_bytes() == json.dumps(_GOOD).encode("utf-16")


def test_every_damaged_copy_is_kept_under_its_own_name(store):
    junk = [bytes(range(256)) * 3, b"\x00\x01 not json at all", b'{"exercises": [1, 2]}']
    for damage in junk:
        store.write_bytes(damage)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert progress().passed == 0  # progress() works on a damaged file
            assert hint("softmax").startswith("Hint")
            assert check("softmax", softmax_ok).passed
    kept = sorted(store.parent.glob(store.name + ".damaged-*"))
    assert sorted(p.read_bytes() for p in kept) == sorted(junk)
    assert entry(store, "softmax")["passed"] is True


def test_the_files_permissions_are_kept(store):
    old_umask = os.umask(0o022)
    try:
        check("softmax", softmax_ok)
        assert oct(os.stat(store).st_mode & 0o777) == "0o644"
        os.chmod(store, 0o664)
        check("log_softmax", softmax_wrong)
        assert oct(os.stat(store).st_mode & 0o777) == "0o664"
        assert entry(store, "log_softmax")["attempts"] == 1
    finally:
        os.umask(old_umask)


@pytest.mark.parametrize("stored", [
    {"passed": "false", "best_score": "2.0", "attempts": "3"},
    {"passed": 1, "best_score": float("nan"), "attempts": -4, "hints_seen": "7"},
    {"passed": None, "best_score": 1e300, "hints_seen": 2.5, "last_status": 42},
    {"passed": [True], "best_score": True, "last_attempt": {"a": 1}},
    ["not", "a", "dict"],
    "passed",
    None,
])
def test_stored_values_are_validated(store, stored):
    text = json.dumps({"version": 1, "exercises": {"softmax": stored, "future_exercise": {
        "passed": True}}}, allow_nan=True)
    store.write_text(text)
    report = progress()
    assert report.passed == 0
    assert 0 <= report.score <= get_exercise("softmax").points
    assert str(report) and report._repr_html_()
    assert hint("softmax").startswith("Hint ")
    result = check("softmax", softmax_wrong)
    assert result.status == "failed"
    saved = json.loads(store.read_text())["exercises"]
    assert saved["softmax"]["passed"] is False and saved["softmax"]["attempts"] >= 1
    assert saved["future_exercise"] == {"passed": True}  # what this version does not know stays


def test_a_large_best_score_cannot_exceed_the_points(store):
    store.write_text(json.dumps({"exercises": {"softmax": {"best_score": 1e9, "passed": True}}}))
    assert progress().score == get_exercise("softmax").points


def test_orphaned_temporary_files_are_removed(store):
    check("softmax", softmax_ok)
    orphan = store.parent / (store.name + ".1a2b3c4d5e6f.tmp")
    orphan.write_text("{half")
    other = store.parent / "unrelated.tmp"
    other.write_text("keep me")
    check("log_softmax", softmax_wrong)
    assert not orphan.exists() and other.exists()


_KILLED_WRITER = textwrap.dedent("""
    import os, sys, time
    from backprop_lib.grading import progress_store

    where = sys.argv[1]
    real_replace = os.replace

    def stall(*args):
        open(sys.argv[2], "w").close()   # tell the test we are in the middle
        time.sleep(600)

    if where == "before_replace":
        os.replace = stall
        progress_store.update(lambda data: data["exercises"].update(x={"passed": True}))
    else:
        with progress_store._locked(progress_store.progress_path()):
            stall()
""")


@pytest.mark.parametrize("where", ["before_replace", "holding_the_lock"])
def test_a_writer_killed_halfway_loses_nothing_and_blocks_nothing(store, tmp_path, where):
    check("softmax", softmax_ok)
    before = store.read_text()
    script, flag = tmp_path / "writer.py", tmp_path / "in_the_middle"
    script.write_text(_KILLED_WRITER)
    env = dict(os.environ, BACKPROP_PROGRESS_FILE=str(store))
    writer = subprocess.Popen([sys.executable, str(script), where, str(flag)], env=env)
    deadline = time.time() + 60
    while not flag.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert flag.exists()
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    assert store.read_text() == before  # the old file, whole
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the lock of a killed process is no obstacle
        check("log_softmax", softmax_wrong)
    assert time.perf_counter() - start < progress_module.LOCK_TIMEOUT
    saved = json.loads(store.read_text())["exercises"]
    assert saved["softmax"]["passed"] is True and saved["log_softmax"]["attempts"] == 1
    assert not list(store.parent.glob(store.name + ".*.tmp"))


def test_a_check_killed_in_its_child_process_leaves_progress_intact(store):
    check("softmax", softmax_ok)

    def checks_inside_then_hangs(z):
        check("log_softmax", softmax_wrong)  # writes progress from the child process
        while True:
            pass

    assert check("softmax", checks_inside_then_hangs, timeout=1).status == "timeout"
    saved = json.loads(store.read_text())["exercises"]
    assert saved["softmax"]["passed"] is True
    assert saved["softmax"]["last_status"] == "timeout"


def test_without_flock_the_lock_still_works(store, monkeypatch):
    import errno

    fcntl = pytest.importorskip("fcntl")

    def no_flock(*args):
        raise OSError(errno.ENOSYS, "Function not implemented")

    monkeypatch.setattr(fcntl, "flock", no_flock)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # filelock's fallback warning does not reach the learner
        assert check("softmax", softmax_ok).passed
        assert check("log_softmax", softmax_wrong).status == "failed"
    assert entry(store, "log_softmax")["attempts"] == 1


_NO_FLOCK = "import fcntl\ndel fcntl.flock\n"


def test_two_processes_without_flock_lose_nothing(store, tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(_NO_FLOCK + _WRITER)
    env = dict(os.environ, BACKPROP_PROGRESS_FILE=str(store), PYTHONWARNINGS="error::UserWarning")
    rounds = 10
    procs = [subprocess.Popen([sys.executable, str(script), ex, str(rounds)], env=env)
             for ex in ("log_softmax", "dense_forward")]
    assert all(p.wait(timeout=180) == 0 for p in procs)
    data = json.loads(store.read_text())["exercises"]
    assert data["log_softmax"]["attempts"] == rounds
    assert data["dense_forward"]["attempts"] == rounds
    assert data["softmax"]["attempts"] == 2 * rounds


def test_a_lock_that_never_comes_means_saving_without_it(store, monkeypatch, tmp_path):
    pytest.importorskip("filelock")
    monkeypatch.setattr(progress_module, "LOCK_TIMEOUT", 0.3)
    script = tmp_path / "hold.py"
    flag = tmp_path / "held"
    script.write_text(textwrap.dedent(f"""
        import time, filelock
        with filelock.FileLock({str(store) + ".lock"!r}):
            open({str(flag)!r}, "w").close()
            time.sleep(60)
    """))
    proc = subprocess.Popen([sys.executable, str(script)])
    try:
        deadline = time.time() + 30
        while not flag.exists() and time.time() < deadline:
            time.sleep(0.05)
        with pytest.warns(RuntimeWarning, match="saved without the lock"):
            assert check("softmax", softmax_ok).passed
        assert entry(store, "softmax")["passed"] is True
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("number", ["two", None, 2.7, -5, 10**9, [1]])
def test_hint_numbers_of_any_kind_give_a_hint(store, number):
    assert hint("softmax", number).startswith("Hint ")
