"""Call the learner's code safely: a time limit, captured prints, and watchers.

:func:`guarded_call` runs ``fn(*args)`` and always returns a
:class:`CallOutcome`; it never lets an exception from the learner's code
escape, with one deliberate exception: **KeyboardInterrupt**. A Ctrl-C (or
the Jupyter "interrupt kernel" button) while a check runs means "stop", so it
propagates as usual and also stops a "Run All".

How the time limit works
    In the main thread on a POSIX system (a Jupyter kernel, a script, pytest)
    a ``SIGALRM`` interval timer raises an exception inside the learner's code,
    which really stops an infinite Python loop. A timer that was already set
    (pytest-timeout, for instance) is put back afterwards. Elsewhere (Windows,
    or a call from a worker thread) the call runs in a daemon thread and the
    grader stops waiting after the limit; the thread cannot be killed and may
    keep running in the background. Where threads cannot start either
    (Pyodide, so JupyterLite), the call runs without a time limit.

    No method can interrupt a single long-running NumPy C call, which ends when
    it ends, nor a loop that swallows *every* exception (a bare ``except:`` or
    ``except BaseException:`` around the loop body): such code ignores Ctrl-C
    too, and only restarting the kernel stops it. ``except Exception:`` is fine.

What is watched during the call
    - stdout and stderr are captured (only the first characters are kept), and
      so are warnings (each distinct one once), instead of being shown;
    - with ``watch_reference=True`` a profile hook records whether any
      function defined in backprop_lib's reference modules ran
      (``uses_reference``), however the learner imported it;
    - with ``measure_memory=True`` tracemalloc records the peak of new
      allocations (NumPy reports its arrays to tracemalloc).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import signal
import sys
import threading
import time
import traceback
import tracemalloc
import warnings
from dataclasses import dataclass

__all__ = ["CallOutcome", "guarded_call", "run_case", "default_timeout", "REFERENCE_MODULES"]

#: Modules whose code the learner must not call (their reference solutions).
REFERENCE_MODULES = (
    "backprop_lib.functional",
    "backprop_lib.gradcheck",
    "backprop_lib.layers",
    "backprop_lib.model",
)

TIMEOUT_ENV_VAR = "BACKPROP_CHECK_TIMEOUT"
DEFAULT_TIMEOUT = 3.0
OUTPUT_LIMIT = 4000
_GRADING_DIR = os.path.dirname(os.path.abspath(__file__))
_RETRIGGER_INTERVAL = 0.05


def _positive_seconds(value):
    """`value` as a positive finite float, or None."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if 0 < seconds < float("inf") else None


def default_timeout():
    """Seconds allowed per call: env var ``BACKPROP_CHECK_TIMEOUT`` or 3."""
    return _positive_seconds(os.environ.get(TIMEOUT_ENV_VAR, "")) or DEFAULT_TIMEOUT


def resolve_timeout(timeout):
    """The `timeout` asked for if it is a positive number, else the default."""
    return _positive_seconds(timeout) or default_timeout()


@dataclass
class CallOutcome:
    """What happened when the learner's code ran.

    Attributes
    ----------
    kind : str
        ``"ok"``, ``"not_implemented"``, ``"exception"``, ``"exit"`` or ``"timeout"``.
    value : object
        The return value when ``kind == "ok"``.
    error : str
        For exceptions: type, message and the learner's line, without grader frames.
    output : str
        Captured stdout + stderr, truncated to a few thousand characters.
    reference_calls : tuple of str
        Names of the reference functions the learner's code called directly
        (e.g. ``("softmax",)``); calls those make internally are not listed.
    seconds : float
        Wall-clock duration of the call.
    peak_bytes : int or None
        Peak of memory allocated during the call, when measured.
    args_after : tuple
        For :func:`run_case`: the arguments as the learner's function left them
        (array arguments as arrays), to detect inputs changed in place.
    """

    kind: str
    value: object = None
    error: str = ""
    output: str = ""
    reference_calls: tuple = ()
    seconds: float = 0.0
    peak_bytes: int | None = None
    args_after: tuple = ()


class _GraderTimeout(BaseException):
    """Raised inside the learner's code by the alarm signal."""


class _CappedText(io.TextIOBase):
    """A text sink keeping only the first `limit` characters written to it."""

    def __init__(self, limit=OUTPUT_LIMIT):
        self._parts = []
        self._kept = 0
        self._dropped = 0
        self._limit = limit

    def writable(self):
        return True

    def write(self, text):
        text = str(text)
        room = self._limit - self._kept
        if room > 0:
            self._parts.append(text[:room])
            self._kept += min(room, len(text))
        self._dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def getvalue(self):
        text = "".join(self._parts)
        if self._dropped:
            text += f"\n... ({self._dropped} more characters not shown)"
        return text


def _reference_files():
    """Absolute source paths of the reference modules that exist."""
    files = set()
    for name in REFERENCE_MODULES:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is not None and spec.origin:
            files.add(os.path.abspath(spec.origin))
    return frozenset(files)


class _ReferenceWatcher:
    """A profile hook that records which reference functions are entered.

    Only entry points count: a call into a reference module from code outside
    it (the learner's), not the helpers the reference calls internally.
    """

    def __init__(self):
        self.files = _reference_files()
        self.entries = set()
        self._previous = None

    def _hook(self, frame, event, arg):
        if event != "call" or frame.f_code.co_filename not in self.files:
            return
        caller = frame.f_back
        if caller is None or caller.f_code.co_filename not in self.files:
            self.entries.add(frame.f_code.co_name)

    def __enter__(self):
        self._previous = sys.getprofile()
        if self.files:
            sys.setprofile(self._hook)
        return self

    def __exit__(self, *exc):
        sys.setprofile(self._previous)
        return False


@contextlib.contextmanager
def _peak_memory(enabled):
    """Yield a dict whose ``"peak"`` holds the allocation peak (bytes) afterwards."""
    box = {"peak": None}
    if not enabled:
        yield box
        return
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    baseline = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    try:
        yield box
    finally:
        box["peak"] = max(0, tracemalloc.get_traced_memory()[1] - baseline)
        if not was_tracing:
            tracemalloc.stop()


def _report_warnings(caught, sink, limit=5):
    """Write the distinct warnings raised by the learner's code to `sink`."""
    seen = []
    for w in caught:
        text = f"{w.category.__name__}: {w.message} (line {w.lineno})"
        if text not in seen:
            seen.append(text)
    for text in seen[:limit]:
        sink.write(f"warning: {text}\n")
    if len(seen) > limit:
        sink.write(f"... and {len(seen) - limit} more warnings\n")


def _is_library_file(filename):
    """True for frames of the grader, NumPy, or the standard library."""
    path = os.path.abspath(filename)
    if path.startswith(_GRADING_DIR):
        return True
    return "site-packages" in path or path.startswith(os.path.dirname(os.__file__))


def summarize_exception(exc):
    """``Type: message`` plus the learner's frames (grader frames removed)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not os.path.abspath(f.filename).startswith(_GRADING_DIR)]
    head = f"{type(exc).__name__}: {exc}".rstrip(": ")
    learner = [f for f in frames if not _is_library_file(f.filename)]
    shown = (learner or frames)[-3:]
    lines = [head]
    for f in shown:
        where = f"line {f.lineno}" + (f" in {f.name}" if f.name != "<module>" else "")
        code = f": {f.line.strip()}" if f.line else ""
        lines.append(f"  {where}{code}")
    return "\n".join(lines)


def _classify(exc):
    """Map an exception from the learner's code to a CallOutcome kind."""
    if isinstance(exc, NotImplementedError):
        return "not_implemented"
    if isinstance(exc, SystemExit):
        return "exit"
    return "exception"


class _Alarm:
    """SIGALRM-based time limit for a call in the main thread.

    When the limit passes, the handler raises :class:`_GraderTimeout` (a
    BaseException, so ``except Exception`` in the learner's code does not
    catch it) and repeats every 50 ms while the call is still running, which
    also ends code that catches it once and carries on.
    """

    def __init__(self):
        self.armed = True
        self.fired = False

    def on_alarm(self, signum, frame):
        if self.armed:
            self.fired = True
            raise _GraderTimeout

    def disarm(self):
        self.armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)


def _run_with_alarm(call, timeout):
    """Run `call` in this (main) thread, interrupting it after `timeout` seconds."""
    alarm = _Alarm()
    start = time.perf_counter()
    old_handler = signal.signal(signal.SIGALRM, alarm.on_alarm)
    old_timer = signal.setitimer(signal.ITIMER_REAL, timeout, _RETRIGGER_INTERVAL)
    try:
        try:
            value = call()
        finally:
            alarm.disarm()
        if alarm.fired:  # the learner's code caught the timeout and returned anyway
            raise _GraderTimeout
        return value
    finally:
        # Even if an alarm interrupted disarm() above: stop the timer before the
        # old handler (often SIG_DFL, which would end the process) comes back.
        alarm.armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_handler)
        if old_timer[0] > 0:
            left = max(old_timer[0] - (time.perf_counter() - start), 1e-3)
            signal.setitimer(signal.ITIMER_REAL, left, old_timer[1])


def _run_in_thread(call, timeout):
    """Run `call` in a daemon thread and wait at most `timeout` seconds."""
    box = {}

    def target():
        try:
            box["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - reported to the caller
            box["error"] = exc

    worker = threading.Thread(target=target, name="backprop-check", daemon=True)
    try:
        worker.start()
    except RuntimeError:  # no threads (e.g. Pyodide / JupyterLite): run without a limit
        return call()
    worker.join(timeout)
    if worker.is_alive():
        raise _GraderTimeout
    if "error" in box:
        raise box["error"]
    return box["value"]


def _can_use_alarm():
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def guarded_call(fn, args=(), *, timeout=None, watch_reference=True, measure_memory=False):
    """Run ``fn(*args)`` under a time limit and report what happened.

    Parameters
    ----------
    fn : callable
        The learner's function (or any callable).
    args : tuple
        Positional arguments; pass copies if mutation matters.
    timeout : float, optional
        Seconds allowed; default :func:`default_timeout`.
    watch_reference : bool
        Record calls into backprop_lib's reference modules.
    measure_memory : bool
        Record the peak of new allocations with tracemalloc.

    Returns
    -------
    CallOutcome
        Never raises for the learner's errors; KeyboardInterrupt propagates.
    """
    timeout = resolve_timeout(timeout)
    sink = _CappedText()
    watcher = _ReferenceWatcher() if watch_reference else contextlib.nullcontext()

    def call():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                with watcher, _peak_memory(measure_memory) as memory:
                    value = fn(*args)
            finally:
                _report_warnings(caught, sink)
        return value, memory["peak"]

    in_this_thread = _can_use_alarm()
    runner = _run_with_alarm if in_this_thread else _run_in_thread
    previous_profile = sys.getprofile()
    was_tracing = tracemalloc.is_tracing()
    start = time.perf_counter()
    outcome = CallOutcome(kind="ok")
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            try:
                outcome.value, outcome.peak_bytes = runner(call, timeout)
            finally:
                # Belt and braces: an alarm landing inside a context manager's
                # __exit__ must not leave our hooks installed.
                if in_this_thread:
                    sys.setprofile(previous_profile)
                if not was_tracing and tracemalloc.is_tracing():
                    tracemalloc.stop()
    except _GraderTimeout:
        outcome.kind = "timeout"
        outcome.error = f"stopped after {timeout:g} s"
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - the learner's code may raise anything
        outcome.kind = _classify(exc)
        outcome.error = summarize_exception(exc)
    outcome.seconds = time.perf_counter() - start
    outcome.output = sink.getvalue()
    outcome.reference_calls = tuple(sorted(getattr(watcher, "entries", ())))
    return outcome


def run_case(fn, args, *, timeout=None, output_names=None, measure_memory=False):
    """Run one case of a numeric exercise: the learner's `fn` on copies of `args`.

    This is the *executor* interface of
    :meth:`~backprop_lib.grading.numeric.NumericExercise.grade`: whatever runs the
    learner's code (this process, a child process, the batch autograder's
    sandbox) takes the same arguments and returns a :class:`CallOutcome` whose
    ``value`` is plain data, so the grader compares only arrays it can trust.

    Parameters
    ----------
    fn : callable
        The learner's function.
    args : tuple
        The case's inputs; the learner gets copies with the same memory layout.
    timeout : float, optional
        Seconds allowed; default :func:`default_timeout`.
    output_names : tuple of str or None
        Names of the outputs for functions returning several arrays.
    measure_memory : bool
        Record the peak of new allocations.

    Returns
    -------
    CallOutcome
        With ``kind == "ok"``, ``value`` is a list of numeric ndarrays (one per
        output) or a :class:`~backprop_lib.grading.conversion.ConversionProblem`;
        ``args_after`` holds the copies after the call.
    """
    from .cases import copy_like
    from .conversion import to_plain

    copies = tuple(copy_like(a) for a in args)

    def call(*inputs):
        return to_plain(fn(*inputs), output_names)

    outcome = guarded_call(call, copies, timeout=timeout, measure_memory=measure_memory)
    outcome.args_after = copies
    return outcome
