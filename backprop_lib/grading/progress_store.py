"""Progress that survives kernel restarts: a small JSON file, safely shared.

Where
    ``.backprop_progress.json`` in the current working directory, or the path in
    the environment variable ``BACKPROP_PROGRESS_FILE``.

What
    One entry per exercise id::

        {"version": 1,
         "exercises": {"softmax": {"best_score": 2.0, "points": 2.0, "passed": true,
                                   "attempts": 3, "last_status": "failed",
                                   "last_attempt": "2026-01-01T12:00:00+00:00",
                                   "hints_seen": 1}}}

    The best score is kept: a later failure never erases an earlier pass.

How it stays intact
    Every change is read-modify-write under an exclusive lock on a side file
    (``<file>.lock``, POSIX ``flock``; without ``fcntl`` the lock is skipped),
    so two kernels updating at once both keep their results. The new content
    goes to a temporary file in the same folder that then replaces the old one
    with ``os.replace``, so a reader never sees a half-written file. A missing
    file is a fresh start; an unreadable one is moved aside to ``<file>.corrupt``
    and also a fresh start, with one warning. Nothing here raises into ``check``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import html
import json
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from .registry import NOTEBOOK_TITLES, all_exercises

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = ["ENV_VAR", "progress_path", "load", "record_result", "ProgressReport", "progress"]

ENV_VAR = "BACKPROP_PROGRESS_FILE"
DEFAULT_NAME = ".backprop_progress.json"
VERSION = 1
_warned: set = set()


def progress_path():
    """The progress file: ``$BACKPROP_PROGRESS_FILE`` or ``./.backprop_progress.json``."""
    return Path(os.environ.get(ENV_VAR) or Path.cwd() / DEFAULT_NAME)


def _warn_once(key, text):
    if key not in _warned:
        _warned.add(key)
        warnings.warn(text, RuntimeWarning, stacklevel=3)


def _empty():
    return {"version": VERSION, "exercises": {}}


def _valid(data):
    return (isinstance(data, dict) and isinstance(data.get("exercises"), dict)
            and all(isinstance(v, dict) for v in data["exercises"].values()))


def load(path=None, *, quarantine=False):
    """Read the progress file; missing or corrupt means a fresh, empty record.

    Parameters
    ----------
    path : path-like, optional
        Defaults to :func:`progress_path`.
    quarantine : bool
        Move a corrupt file aside to ``<file>.corrupt`` (only done under the lock).

    Returns
    -------
    dict
    """
    path = Path(path or progress_path())
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return _empty()
    except OSError as exc:
        _warn_once(("unreadable", str(path)), f"Could not read progress file {path} ({exc}); "
                   "starting with empty progress.")
        return _empty()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not _valid(data):
        _warn_once(("corrupt", str(path)), f"Progress file {path} is damaged; starting fresh "
                   f"(the old file is kept as {path.name}.corrupt).")
        if quarantine:
            with contextlib.suppress(OSError):
                os.replace(path, path.with_name(path.name + ".corrupt"))
        return _empty()
    return data


@contextlib.contextmanager
def _locked(path):
    """Hold an exclusive lock on ``<path>.lock`` (no-op without fcntl)."""
    if fcntl is None:
        yield
        return
    lock_path = path.with_name(path.name + ".lock")
    with open(lock_path, "a", encoding="utf-8") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _atomic_write(path, data):
    """Write JSON to a temporary file next to `path`, then rename it over `path`."""
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def update(change, path=None):
    """Apply ``change(data)`` to the stored progress, atomically and under the lock.

    Returns the new data, or None when the file could not be written (a
    warning is issued once; grading goes on).
    """
    path = Path(path or progress_path())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _locked(path):
            data = load(path, quarantine=True)
            change(data)
            data["version"] = VERSION
            _atomic_write(path, data)
        return data
    except OSError as exc:
        _warn_once(("unwritable", str(path)), f"Could not save progress to {path} ({exc}); "
                   "results of this session are not saved.")
        return None


def _now():
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _entry(data, exercise_id):
    return data["exercises"].setdefault(exercise_id, {})


def merge_attempt(entry, result):
    """Fold one CheckResult into a stored entry (best score kept)."""
    entry["points"] = float(result.points)
    entry["best_score"] = max(float(entry.get("best_score", 0.0)), float(result.score))
    entry["passed"] = bool(entry.get("passed", False) or result.passed)
    if result.status != "not attempted":
        entry["attempts"] = int(entry.get("attempts", 0)) + 1
    entry["last_status"] = result.status
    entry["last_attempt"] = _now()
    return entry


def record_result(result, path=None):
    """Save a CheckResult of a registered exercise."""
    return update(lambda data: merge_attempt(_entry(data, result.exercise_id), result), path)


def hints_seen(exercise_id, path=None):
    """How many hints of `exercise_id` the learner has already seen."""
    entry = load(path)["exercises"].get(exercise_id, {})
    try:
        return max(0, int(entry.get("hints_seen", 0)))
    except (TypeError, ValueError):
        return 0


def set_hints_seen(exercise_id, count, path=None):
    """Remember that the learner has seen `count` hints of `exercise_id`."""
    def change(data):
        entry = _entry(data, exercise_id)
        entry["hints_seen"] = max(int(entry.get("hints_seen", 0) or 0), int(count))

    update(change, path)


# ---------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------


@dataclass
class NotebookRow:
    """One notebook's line in the report, with its exercise ids in the order it asks them."""

    notebook: int
    title: str
    passed: int
    total: int
    score: float
    points: float
    exercise_ids: list = field(default_factory=list)


@dataclass
class ProgressReport:
    """Per-notebook and overall scores; HTML table in Jupyter, text elsewhere.

    Attributes
    ----------
    rows : list of NotebookRow
    exercises : dict
        exercise id -> stored entry (empty dict if never attempted).
    path : str
        The progress file read.
    """

    rows: list
    exercises: dict
    path: str

    @property
    def score(self):
        return sum(r.score for r in self.rows)

    @property
    def points(self):
        return sum(r.points for r in self.rows)

    @property
    def passed(self):
        return sum(r.passed for r in self.rows)

    @property
    def total(self):
        return sum(r.total for r in self.rows)

    @property
    def to_do(self):
        """Ids of the exercises not passed yet, in course order."""
        return [ex_id for ex_id, entry in self.exercises.items() if not entry.get("passed")]

    def __str__(self):
        lines = ["Course progress", f"{'notebook':<38} {'passed':>7} {'score':>11}  bar"]
        for r in self.rows + [self._overall_row()]:
            name = f"{r.notebook:02d} {r.title}" if r.notebook >= 0 else "Overall"
            lines.append(f"{name:<38} {r.passed:>3}/{r.total:<3} {r.score:>5g}/{r.points:<5g}"
                         f"  {_text_bar(r.score, r.points)}")
            if r.exercise_ids:
                lines.append("    " + "  ".join(self._mark(ex_id) + " " + ex_id
                                                for ex_id in r.exercise_ids))
        if self.to_do:
            lines.append("Not passed yet: " + ", ".join(self.to_do))
        return "\n".join(lines)

    __repr__ = __str__

    def _mark(self, exercise_id):
        """A check mark for a passed exercise, a dot for one still to do."""
        return "\u2713" if self.exercises.get(exercise_id, {}).get("passed") else "\u00b7"

    def _html_ids(self, exercise_ids):
        """The exercises of one notebook as HTML, passed ones in green with a check mark."""
        return " ".join(_html_exercise(self._mark(ex_id), ex_id,
                                       bool(self.exercises.get(ex_id, {}).get("passed")))
                        for ex_id in exercise_ids)

    def _overall_row(self):
        return NotebookRow(-1, "Overall", self.passed, self.total, self.score, self.points)

    def _repr_html_(self):
        head = ("<tr><th style='text-align:left'>Notebook</th><th>Passed</th>"
                "<th>Score</th><th style='text-align:left'>Progress</th>"
                "<th style='text-align:left'>Exercises</th></tr>")
        body = []
        for r in self.rows + [self._overall_row()]:
            name = f"{r.notebook:02d} {r.title}" if r.notebook >= 0 else "<b>Overall</b>"
            name = name if r.notebook < 0 else html.escape(name)
            body.append(f"<tr><td style='text-align:left'>{name}</td>"
                        f"<td>{r.passed} / {r.total}</td><td>{r.score:g} / {r.points:g}</td>"
                        f"<td style='text-align:left'>{_html_bar(r.score, r.points)}</td>"
                        f"<td style='text-align:left'>{self._html_ids(r.exercise_ids)}</td></tr>")
        to_do = ""
        if self.to_do:
            items = ", ".join(f"<code>{html.escape(ex_id)}</code>" for ex_id in self.to_do)
            to_do = (f"<details><summary>Not passed yet ({len(self.to_do)})</summary>"
                     f"{items}</details>")
        return ("<div class='backprop-progress' style='font-family:sans-serif'>"
                "<b>Course progress</b><table>" + head + "".join(body) + "</table>"
                + to_do + "</div>")


def _html_exercise(mark, exercise_id, passed):
    colour = "#1b7f3b" if passed else "#5f6368"
    return (f"<span style='color:{colour};white-space:nowrap'>{mark}&nbsp;"
            f"<code>{html.escape(exercise_id)}</code></span>")


def _fraction(score, points):
    return 0.0 if points <= 0 else min(1.0, max(0.0, score / points))


def _text_bar(score, points, width=20):
    filled = round(_fraction(score, points) * width)
    return "[" + "#" * filled + "." * (width - filled) + f"] {_fraction(score, points):.0%}"


def _html_bar(score, points):
    pct = 100 * _fraction(score, points)
    return ("<div style='width:160px;background:#e0e0e0;border-radius:3px;display:inline-block'>"
            f"<div style='width:{pct:.0f}%;background:#1b7f3b;height:10px;border-radius:3px'>"
            f"</div></div> {pct:.0f}%")


def progress(path=None):
    """Build the :class:`ProgressReport` from the registry and the stored file."""
    stored = load(path)["exercises"]
    by_notebook: dict = {}
    entries = {}
    for ex in all_exercises():
        entry = stored.get(ex.id, {})
        entries[ex.id] = entry
        row = by_notebook.setdefault(ex.notebook, NotebookRow(
            ex.notebook, NOTEBOOK_TITLES.get(ex.notebook, ""), 0, 0, 0.0, 0.0))
        row.total += 1
        row.exercise_ids.append(ex.id)
        row.points += float(ex.points)
        best = min(float(entry.get("best_score", 0.0) or 0.0), float(ex.points))
        row.score += best
        row.passed += bool(entry.get("passed", False))
    rows = [by_notebook[n] for n in sorted(by_notebook)]
    return ProgressReport(rows=rows, exercises=entries, path=str(Path(path or progress_path())))
