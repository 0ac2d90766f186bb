"""Progress that survives kernel restarts: a small JSON file, safely shared, never lost.

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
    Stored values are validated when read (:func:`entry_view`): only a JSON
    ``true`` is a pass (``"passed": "false"`` is not), scores are finite numbers
    capped by the exercise's points, counts are non-negative integers; anything
    else counts as absent, so a hand-edited or half-written file never crashes
    ``progress()`` or ``hint()``. Entries and fields this version does not know
    are kept as they are.

How it stays intact
    - Every change is read-modify-write under an exclusive lock on a side file
      (``<file>.lock``, held with the `filelock` library: ``flock`` on POSIX,
      ``msvcrt`` on Windows, a lock file where ``flock`` is missing or does not
      work, such as Pyodide; a stale lock file of a killed process is broken).
      If the lock cannot be had within :data:`LOCK_TIMEOUT` seconds, the change
      is saved without it (one warning).
    - The new content goes to a temporary file in the same folder that then
      replaces the old one with ``os.replace`` (never an in-place overwrite, which
      hangs some JupyterLite versions), so a reader, or a process killed halfway
      (a kernel restart, a child process killed at its time limit), leaves the
      old file or the new one, never half of one. Temporary files left behind
      by a killed writer are removed at the next change. The file keeps its
      permissions (a group-shared 0664 file stays 0664) and, where allowed, its
      group.
    - A missing file is a fresh start. A file that exists but cannot be read
      (permissions, a folder) is never replaced: this session's results are
      kept in memory (``progress()`` and ``hint()`` show them) and not saved,
      with one warning. A damaged file (not UTF-8 JSON of the right shape,
      e.g. binary junk) is moved aside to ``<file>.damaged-<UTC time>`` (every
      damaged copy keeps its own name) and progress starts afresh; one saved as
      UTF-16 or with a byte-order mark by an editor is read, and rewritten as
      UTF-8 (the original also kept aside).

Nothing here raises into ``check``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import html
import json
import math
import os
import secrets
import stat
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from .registry import NOTEBOOK_TITLES, all_exercises

try:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "only soft file lock is available" without flock
        import filelock
except ImportError:  # pragma: no cover - a trimmed install: no lock between kernels
    filelock = None

__all__ = ["ENV_VAR", "progress_path", "load", "update", "record_result", "entry_view",
           "hints_seen", "set_hints_seen", "ProgressReport", "progress", "LOCK_TIMEOUT"]

ENV_VAR = "BACKPROP_PROGRESS_FILE"
DEFAULT_NAME = ".backprop_progress.json"
VERSION = 1
#: Seconds to wait for another kernel's lock before saving without it.
LOCK_TIMEOUT = 5.0
#: A progress file larger than this is not progress (it is moved aside as damaged).
MAX_FILE_BYTES = 8 * 2**20
#: In degraded (unlocked) mode, temporary files older than this are taken as orphans.
ORPHAN_AGE = 60.0
_STATUSES = ("passed", "failed", "not attempted", "error", "timeout")
_warned: set = set()
#: path -> progress of this session that could not be saved (unreadable or unwritable file).
_unsaved: dict = {}


def progress_path():
    """The progress file: ``$BACKPROP_PROGRESS_FILE`` or ``./.backprop_progress.json``."""
    return Path(os.environ.get(ENV_VAR) or Path.cwd() / DEFAULT_NAME)


def _warn_once(key, text):
    if key not in _warned:
        _warned.add(key)
        warnings.warn(text, RuntimeWarning, stacklevel=3)


def _empty():
    return {"version": VERSION, "exercises": {}}


# ---------------------------------------------------------------------------
# Validating what is stored
# ---------------------------------------------------------------------------


def _number(value, default=0.0):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    value = float(value)
    return value if math.isfinite(value) else default


def _count(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0
    return int(value) if math.isfinite(value) and value > 0 else 0


def entry_view(entry, points=None):
    """The validated fields of a stored entry (whatever the file holds).

    Parameters
    ----------
    entry : object
        What the file holds for one exercise (normally a dict).
    points : float, optional
        The exercise's points; the best score is capped by them.

    Returns
    -------
    dict
        ``passed`` (bool: only a JSON ``true``), ``best_score`` (float >= 0),
        ``attempts`` and ``hints_seen`` (int >= 0), ``last_status`` and
        ``last_attempt`` (str, possibly empty).
    """
    entry = entry if isinstance(entry, dict) else {}
    best = max(0.0, _number(entry.get("best_score")))
    if points is not None:
        best = min(best, float(points))
    status = entry.get("last_status")
    attempt = entry.get("last_attempt")
    return {"passed": entry.get("passed") is True, "best_score": best,
            "attempts": _count(entry.get("attempts")),
            "hints_seen": _count(entry.get("hints_seen")),
            "last_status": status if status in _STATUSES else "",
            "last_attempt": attempt if isinstance(attempt, str) else ""}


def _merged(stored, unsaved):
    """Stored progress plus this session's unsaved progress (best of both per exercise)."""
    data = {"version": VERSION, "exercises": dict(stored["exercises"])}
    for exercise_id, extra in unsaved["exercises"].items():
        old, new = entry_view(data["exercises"].get(exercise_id)), entry_view(extra)
        data["exercises"][exercise_id] = {
            "passed": old["passed"] or new["passed"],
            "best_score": max(old["best_score"], new["best_score"]),
            "attempts": max(old["attempts"], new["attempts"]),
            "hints_seen": max(old["hints_seen"], new["hints_seen"]),
            "last_status": new["last_status"] or old["last_status"],
            "last_attempt": new["last_attempt"] or old["last_attempt"],
            "points": extra.get("points") if isinstance(extra, dict) else None}
    return data


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------


def _decode(raw):
    """(text, recoded) of the file's bytes; recoded if it was not plain UTF-8."""
    for bom, encoding in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"),
                          (b"\xfe\xff", "utf-16")):
        if raw.startswith(bom):
            return raw.decode(encoding), True
    return raw.decode("utf-8"), False


def _read(path):
    """``(state, data, detail)`` of the file at `path`.

    ``state`` is ``"missing"``, ``"ok"``, ``"recoded"`` (valid, but not plain
    UTF-8), ``"unreadable"`` (exists, cannot be read) or ``"damaged"``.
    """
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return "damaged", None, f"{size} bytes, too large to be progress"
        raw = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):  # no such file (its folder may be a file)
        return "missing", None, ""
    except OSError as exc:
        return "unreadable", None, str(exc)
    try:
        text, recoded = _decode(raw)
        data = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return "damaged", None, type(exc).__name__
    if not isinstance(data, dict) or not isinstance(data.get("exercises"), dict):
        return "damaged", None, "not a progress record"
    return ("recoded" if recoded else "ok"), data, ""


def load(path=None, *, quarantine=False):
    """The stored progress (plus this session's unsaved progress); never raises.

    Parameters
    ----------
    path : path-like, optional
        Defaults to :func:`progress_path`.
    quarantine : bool
        Move a damaged file aside (only done under the lock, by :func:`update`).

    Returns
    -------
    dict
        ``{"version": 1, "exercises": {...}}``; entries as stored (see :func:`entry_view`).
    """
    path = Path(path or progress_path())
    state, data, detail = _read(path)
    if state == "unreadable":
        _warn_once(("unreadable", str(path)), f"Could not read progress file {path} ({detail}); "
                   "it is left untouched, and this session's results are kept in memory "
                   "only (progress() shows them).")
    elif state == "damaged":
        kept = _move_aside(path) if quarantine else None
        _warn_once(("damaged", str(path), str(kept)),
                   f"Progress file {path} is damaged ({detail}); starting fresh"
                   + (f" (the damaged file is kept as {kept.name})." if kept else "."))
    elif state == "recoded" and quarantine:
        kept = _move_aside(path, copy=True)
        _warn_once(("recoded", str(path)), f"Progress file {path} was not saved as UTF-8; it is "
                   "rewritten as UTF-8" + (f" (the original is kept as {kept.name})."
                                           if kept else "."))
    stored = data if data is not None else _empty()
    unsaved = _unsaved.get(str(path))
    return _merged(stored, unsaved) if unsaved else stored


def _move_aside(path, copy=False):
    """Rename (or copy) `path` to a new ``<name>.damaged-<UTC time>[-n]``; the new path or None."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    for n in range(1, 1000):
        target = path.with_name(f"{path.name}.damaged-{stamp}" + (f"-{n}" if n > 1 else ""))
        try:
            if copy:
                with open(target, "xb") as handle:
                    handle.write(path.read_bytes())
            else:
                try:
                    os.link(path, target)  # fails if `target` exists: no copy is overwritten
                except FileExistsError:
                    raise
                except OSError:  # no hard links on this file system
                    if target.exists():
                        continue
                    os.replace(path, target)
                    return target
                os.unlink(path)
            return target
        except FileExistsError:
            continue
        except OSError:
            return None
    return None


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(path):
    """Hold the lock on ``<path>.lock``; yields True if held, False if saving without it."""
    lock = None
    if filelock is not None:
        lock_path = path.with_name(path.name + ".lock")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "falling back to SoftFileLock"
                lock = filelock.FileLock(str(lock_path), timeout=LOCK_TIMEOUT)
                lock.acquire()
        except (filelock.Timeout, OSError, RuntimeError) as exc:
            lock = None
            _warn_once(("lock", str(path)), f"Could not lock {lock_path} ({exc or 'timed out'}); "
                       "progress is saved without the lock (two kernels saving at the same "
                       "moment could lose one result).")
    try:
        yield lock is not None
    finally:
        if lock is not None:
            with contextlib.suppress(Exception):
                lock.release()


def _remove_orphans(path, locked):
    """Delete temporary files that killed writers left next to `path`."""
    prefix, now = path.name + ".", time.time()
    with contextlib.suppress(OSError):
        for entry in os.scandir(path.parent):
            if not (entry.name.startswith(prefix) and entry.name.endswith(".tmp")):
                continue
            with contextlib.suppress(OSError):
                if locked or now - entry.stat().st_mtime > ORPHAN_AGE:
                    os.unlink(entry.path)


def _atomic_write(path, data):
    """Write JSON to a new temporary file next to `path`, then rename it over `path`.

    The temporary file is created with the permissions the umask allows and
    then given the mode (and, where allowed, the group) of the file it replaces.
    """
    try:
        old = path.stat()
    except OSError:
        old = None
    tmp = path.with_name(f"{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        if old is not None:
            with contextlib.suppress(OSError):
                os.chmod(tmp, stat.S_IMODE(old.st_mode))
            if hasattr(os, "chown") and old.st_gid != os.stat(tmp).st_gid:
                with contextlib.suppress(OSError):
                    os.chown(tmp, -1, old.st_gid)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def update(change, path=None):
    """Apply ``change(data)`` to the stored progress, atomically and under the lock.

    Returns the new data. When the file cannot be read or written, the change
    is applied to this session's unsaved progress instead (one warning) and
    that is returned; it is saved by a later change once the file works again.
    """
    path = Path(path or progress_path())
    key = str(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _locked(path) as locked:
            state, _, _ = _read(path)
            if state != "unreadable":
                data = load(path, quarantine=True)  # includes unsaved progress, if any
                change(data)
                data["version"] = VERSION
                _atomic_write(path, data)
                _unsaved.pop(key, None)
                _remove_orphans(path, locked)
                return data
            load(path)  # warns once
    except OSError as exc:
        _warn_once(("unwritable", key), f"Could not save progress to {path} ({exc}); results "
                   "of this session are kept in memory only.")
    unsaved = _unsaved.setdefault(key, _empty())
    change(unsaved)
    return load(path)


def _now():
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _entry(data, exercise_id):
    entry = data["exercises"].get(exercise_id)
    if not isinstance(entry, dict):
        entry = data["exercises"][exercise_id] = {}
    return entry


def merge_attempt(entry, result):
    """Fold one CheckResult into a stored entry (best score kept)."""
    view = entry_view(entry)
    entry["points"] = float(result.points)
    entry["best_score"] = max(view["best_score"], float(result.score))
    entry["passed"] = bool(view["passed"] or result.passed)
    entry["attempts"] = view["attempts"] + (result.status != "not attempted")
    entry["last_status"] = result.status
    entry["last_attempt"] = _now()
    return entry


def record_result(result, path=None):
    """Save a CheckResult of a registered exercise."""
    return update(lambda data: merge_attempt(_entry(data, result.exercise_id), result), path)


def hints_seen(exercise_id, path=None):
    """How many hints of `exercise_id` the learner has already seen."""
    return entry_view(load(path)["exercises"].get(exercise_id))["hints_seen"]


def set_hints_seen(exercise_id, count, path=None):
    """Remember that the learner has seen `count` hints of `exercise_id`."""
    def change(data):
        entry = _entry(data, exercise_id)
        entry["hints_seen"] = max(entry_view(entry)["hints_seen"], int(count))

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
        entry = entry_view(stored.get(ex.id), ex.points)
        entries[ex.id] = entry if ex.id in stored else {}
        row = by_notebook.setdefault(ex.notebook, NotebookRow(
            ex.notebook, NOTEBOOK_TITLES.get(ex.notebook, ""), 0, 0, 0.0, 0.0))
        row.total += 1
        row.exercise_ids.append(ex.id)
        row.points += float(ex.points)
        row.score += entry["best_score"]
        row.passed += entry["passed"]
    rows = [by_notebook[n] for n in sorted(by_notebook)]
    return ProgressReport(rows=rows, exercises=entries, path=str(Path(path or progress_path())))
