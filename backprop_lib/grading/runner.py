"""Run the learner's code: where it runs, under which limits, and what comes back.

Every call of the learner's code ends as a :class:`CallOutcome`, whatever the
code does; nothing it raises escapes, with one deliberate exception:
**KeyboardInterrupt**. A Ctrl-C (or Jupyter's "interrupt kernel" button) while
a check runs means "stop", so it propagates as usual and also stops a "Run All".

Two runners, one contract
    *Child process* (the default on Linux and other POSIX systems except macOS):
    the learner's function runs in a forked child process that sends back only
    plain arrays; the parent enforces the time limit with SIGKILL and measures
    the child's memory itself (:mod:`~backprop_lib.grading.child_process`).
    Nothing the code does there (an endless loop that swallows every exception,
    ``os._exit``, a crash, a memory bomb, patching NumPy) reaches the kernel.

    *In process* (Windows; macOS, where forking a process that has started
    Apple's Accelerate or other system-framework threads is unsafe; Pyodide /
    JupyterLite, which cannot fork; or ``BACKPROP_CHECK_ISOLATION=inprocess``):
    :func:`guarded_call` runs the code here under a time limit from
    :mod:`~backprop_lib.grading.deadlines` (SIGALRM in the main thread, else a
    ``sys.monitoring`` / ``sys.settrace`` deadline, else a daemon thread).

    ``BACKPROP_CHECK_ISOLATION`` chooses: ``process``, ``inprocess``, or
    ``auto`` (the default: the child process where it is the default and fork
    works). Where a child cannot be started (fork fails) the in-process runner
    is used for that check, with one warning.

What is watched during a call (both runners)
    - stdout and stderr are captured (only the first characters are kept), and
      so are warnings (each distinct one once), instead of being shown;
    - calls into backprop_lib's reference functions are recorded
      (``uses_reference``), however the learner reached them
      (:mod:`~backprop_lib.grading.reference_calls`);
    - the call runs under NumPy's default floating-point error state (warn on
      divide, overflow and invalid, ignore underflow), whatever ``np.seterr``
      the learner set; the grader's own work runs under
      :func:`known_float_state`;
    - in process only, ``os._exit`` and ``os.abort`` raise :class:`HardExit`
      instead of ending the kernel (:func:`hard_exits_raise`);
    - memory, for the cases that limit it: the child's peak resident memory
      (measured by the parent, so ``tracemalloc.stop()`` changes nothing), or
      in process the tracemalloc peak.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import sys
import time
import traceback
import tracemalloc
import warnings
from dataclasses import dataclass

import numpy as np

from .deadlines import GraderTimeout, call_with_deadline
from .reference_calls import REFERENCE_MODULES, ReferenceRecorder

__all__ = ["CallOutcome", "guarded_call", "run_case", "run_answer", "default_timeout",
           "default_executor", "isolation", "known_float_state", "REFERENCE_MODULES",
           "TIMEOUT_ENV_VAR", "ISOLATION_ENV_VAR"]

TIMEOUT_ENV_VAR = "BACKPROP_CHECK_TIMEOUT"
ISOLATION_ENV_VAR = "BACKPROP_CHECK_ISOLATION"
DEFAULT_TIMEOUT = 3.0
OUTPUT_LIMIT = 4000
ERROR_LIMIT = 1500
_GRADING_DIR = os.path.dirname(os.path.abspath(__file__))

#: NumPy's default floating-point error handling, under which the learner's code runs.
LEARNER_ERRSTATE = {"divide": "warn", "over": "warn", "invalid": "warn", "under": "ignore"}


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
        ``"ok"``; ``"not_implemented"`` (the stub's NotImplementedError);
        ``"exception"``; ``"exit"`` (``sys.exit``, ``exit()``, ``os._exit``: the
        code ended its process); ``"crashed"`` (the child process was killed by
        a signal: a segfault, an abort, the CPU-time limit); ``"timeout"``.
    value : object
        When ``kind == "ok"``: plain data (for :func:`run_case`, a list of
        numeric ndarrays or a :class:`~backprop_lib.grading.conversion.ConversionProblem`).
    error : str
        For exceptions: type, message and the learner's line, without grader
        frames. For exits and crashes: what ended the process.
    output : str
        Captured stdout + stderr, truncated to a few thousand characters.
    reference_calls : tuple of str
        Names of the reference functions the learner's code called directly
        (e.g. ``("softmax",)``); calls those make internally are not listed.
    seconds : float
        Duration of the call.
    peak_bytes : int or None
        Peak of memory used by the call, when measured.
    args_after : tuple
        For :func:`run_case`: the arguments as the learner's function left them
        (array arguments as arrays, others None), to detect inputs changed in place.
    lost : bool
        True if the call never ran: the child process queued to run it had
        ended first (an earlier call timed out or crashed).
    """

    kind: str
    value: object = None
    error: str = ""
    output: str = ""
    reference_calls: tuple = ()
    seconds: float = 0.0
    peak_bytes: int | None = None
    args_after: tuple = ()
    lost: bool = False


# ---------------------------------------------------------------------------
# Floating-point state
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def learner_float_state():
    """NumPy's default floating-point error state, for the learner's call."""
    with np.errstate(**LEARNER_ERRSTATE):
        yield


@contextlib.contextmanager
def _known_state():
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("default")
        yield


def known_float_state(function):
    """Decorator: run the grader's own work under a known floating-point state.

    Whatever the learner set before the check (``np.seterr(all="raise")``,
    ``warnings.simplefilter("error")``), the grader generates cases, computes
    references and compares with floating-point errors ignored and warnings
    never turned into exceptions; the learner's calls get
    :func:`learner_float_state`.
    """
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with _known_state():
            return function(*args, **kwargs)
    return wrapper


# ---------------------------------------------------------------------------
# Capturing output, warnings and errors
# ---------------------------------------------------------------------------


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


def _report_warnings(caught, sink, limit=5):
    """Write the distinct warnings raised by the learner's code to `sink`."""
    seen = []
    for w in caught:
        text = f"{w.category.__name__}: {str(w.message)[:300]} (line {w.lineno})"
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
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - an exception whose __str__ fails
        text = "(message could not be shown)"
    if len(text) > ERROR_LIMIT:
        text = text[:ERROR_LIMIT] + f" ... ({len(text) - ERROR_LIMIT} more characters)"
    head = f"{type(exc).__name__}: {text}".rstrip(": ")
    if isinstance(exc, MemoryError):
        head += " (the check ran out of the memory it allows)"
    learner = [f for f in frames if not _is_library_file(f.filename)]
    shown = (learner or frames)[-3:]
    lines = [head]
    for f in shown:
        where = f"line {f.lineno}" + (f" in {f.name}" if f.name != "<module>" else "")
        code = f": {f.line.strip()[:200]}" if f.line else ""
        lines.append(f"  {where}{code}")
    return "\n".join(lines)


def classify(exc):
    """Map an exception from the learner's code to a CallOutcome kind."""
    if isinstance(exc, NotImplementedError):
        return "not_implemented"
    if isinstance(exc, SystemExit):
        return "exit"
    return "exception"


class HardExit(SystemExit):
    """Raised instead of ending the process when the learner's code calls ``os._exit``
    or ``os.abort`` during an in-process call (see :func:`hard_exits_raise`); its
    ``code`` is the call, e.g. ``"os._exit(3)"``."""


def _raising(how, original):
    pid = os.getpid()

    def stand_in(*args, **kwargs):
        if os.getpid() != pid:  # a process the learner's code forked may really end
            return original(*args, **kwargs)
        shown = ", ".join(repr(a) for a in args)
        raise HardExit(f"{how}({shown})")
    stand_in.__name__ = how.rsplit(".", 1)[-1]
    return stand_in


@contextlib.contextmanager
def hard_exits_raise():
    """While active, ``os._exit(n)`` and ``os.abort()`` raise :class:`HardExit`.

    For the in-process runner only (a forked child may really exit): without it
    one ``os._exit`` in an answer, or in its result's ``__array__``, ends the
    learner's kernel on Windows, macOS and in JupyterLite. The platform module
    (``posix`` / ``nt``) is patched too, so ``posix._exit`` is caught as well.
    Best effort: ctypes or a signal to the own process are not caught here.
    """
    targets = [os] + [m for m in (sys.modules.get(os.name),) if m is not None and m is not os]
    saved = [(module, name, module.__dict__[name]) for module in targets
             for name in ("_exit", "abort") if name in module.__dict__]
    try:
        for module, name, original in saved:
            setattr(module, name, _raising(f"os.{name}", original))
        yield
    finally:
        for module, name, original in saved:
            setattr(module, name, original)


def how_it_exited(outcome):
    """For an ``"exit"`` outcome: what the learner's code did, to follow "Your function ..."."""
    if outcome.error.startswith(("ended", "called os.")):
        return outcome.error
    return "called exit() or sys.exit()"


def describe_exception(exc):
    """The CallOutcome ``error`` text for `exc` (exits say how the code exited)."""
    if isinstance(exc, HardExit):
        return f"called {exc.code} (which would end your kernel)"
    if isinstance(exc, SystemExit):
        return f"called sys.exit({exc.code!r})" if exc.code is not None else "called sys.exit()"
    return summarize_exception(exc)


# ---------------------------------------------------------------------------
# One watched call (shared by both runners)
# ---------------------------------------------------------------------------


class TracemallocStopped(RuntimeError):
    """The learner's code stopped tracemalloc, so memory could not be measured."""


@contextlib.contextmanager
def _peak_memory(enabled):
    """Yield a dict whose ``"peak"`` holds the tracemalloc allocation peak (bytes) afterwards."""
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
        if not tracemalloc.is_tracing():
            box["stopped"] = True
        box["peak"] = max(0, tracemalloc.get_traced_memory()[1] - baseline)
        if not was_tracing:
            tracemalloc.stop()
    if box.get("stopped"):
        raise TracemallocStopped(
            "tracemalloc was stopped during the call, so the check could not measure how much "
            "memory your function used")


def run_watched(fn, args, sink, *, recorder=None, timeout=None, measure_memory=False):
    """Call ``fn(*args)`` with warnings, floating-point state and reference calls watched.

    Parameters
    ----------
    fn : callable
    args : tuple
    sink : text stream
        Receives the summary of the warnings raised.
    recorder : ReferenceRecorder, optional
        Entered around the call (None: already recording, or not wanted).
    timeout : float, optional
        Stop the call after this many seconds (:func:`deadlines.call_with_deadline`);
        None: no limit here (a child process is limited by its parent).
    measure_memory : bool
        Measure the tracemalloc peak (in-process runner only).

    Returns
    -------
    (value, peak_bytes)
        Raises whatever the call raised (GraderTimeout at the limit).
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with learner_float_state(), recorder or contextlib.nullcontext(), \
                    _peak_memory(measure_memory) as memory:
                if timeout is None:
                    value = fn(*args)
                else:
                    value = call_with_deadline(lambda: fn(*args), timeout)
        finally:
            _report_warnings(caught, sink)
    return value, memory["peak"]


def guarded_call(fn, args=(), *, timeout=None, watch_reference=True, measure_memory=False):
    """Run ``fn(*args)`` in this process under a time limit and report what happened.

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
    recorder = ReferenceRecorder() if watch_reference else None
    start = time.perf_counter()
    outcome = CallOutcome(kind="ok")
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), \
                hard_exits_raise():
            outcome.value, outcome.peak_bytes = run_watched(
                fn, args, sink, recorder=recorder, timeout=timeout,
                measure_memory=measure_memory)
    except GraderTimeout:
        outcome.kind = "timeout"
        outcome.error = f"stopped after {timeout:g} s"
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - the learner's code may raise anything
        outcome.kind = classify(exc)
        outcome.error = describe_exception(exc)
    outcome.seconds = time.perf_counter() - start
    outcome.output = sink.getvalue()
    outcome.reference_calls = tuple(sorted(recorder.entries)) if recorder else ()
    return outcome


# ---------------------------------------------------------------------------
# Executors
# ---------------------------------------------------------------------------


def run_case(fn, args, *, timeout=None, output_names=None, measure_memory=False):
    """Run one case of a numeric exercise in this process: `fn` on copies of `args`.

    This is the in-process *executor* of
    :meth:`~backprop_lib.grading.numeric.NumericExercise.grade`. Every executor
    (this one, :class:`~backprop_lib.grading.child_process.ChildExecutor`, the
    batch autograder's sandbox) takes the same arguments and returns a
    :class:`CallOutcome` whose ``value`` is plain data, so the grader compares
    only arrays it can trust.

    Parameters
    ----------
    fn : callable
        The learner's function.
    args : tuple
        The case's inputs; the learner gets copies
        (:func:`~backprop_lib.grading.plain_data.learner_copy`: arrays in the same
        memory layout, test functions rebuilt from their source).
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
    from .conversion import to_plain
    from .plain_data import learner_copy

    copies = tuple(learner_copy(a) for a in args)

    def call(*inputs):
        return to_plain(fn(*inputs), output_names)

    outcome = guarded_call(call, copies, timeout=timeout, measure_memory=measure_memory)
    outcome.args_after = copies
    return outcome


def run_answer(fn, *, timeout=None):
    """Call a question's answer function ``fn()`` and return its answer as plain data.

    Runs where the learner's code runs by default (a child process or this
    process, see :func:`isolation`). ``value`` of the outcome is what
    :func:`~backprop_lib.grading.conversion.to_plain_answer` makes of the return value.
    """
    from .conversion import to_plain_answer

    if isolation() == "process":
        from .child_process import run_answer_in_child

        outcome = run_answer_in_child(fn, timeout=resolve_timeout(timeout))
        if outcome is not None:
            return outcome
    return guarded_call(lambda: to_plain_answer(fn()), timeout=timeout)


def _process_by_default():
    return sys.platform not in ("darwin", "win32", "cygwin", "emscripten", "wasi")


def isolation():
    """``"process"`` or ``"inprocess"``: where the learner's code runs now.

    ``$BACKPROP_CHECK_ISOLATION`` may say ``process`` (wherever fork exists),
    ``inprocess``, or ``auto`` (default: the child process on POSIX systems
    other than macOS).
    """
    wanted = os.environ.get(ISOLATION_ENV_VAR, "").strip().lower()
    can_fork = hasattr(os, "fork") and sys.platform not in ("emscripten", "wasi")
    if wanted in ("inprocess", "in-process", "in_process", "off", "none"):
        return "inprocess"
    if wanted == "process":
        return "process" if can_fork else "inprocess"
    return "process" if can_fork and _process_by_default() else "inprocess"


def default_executor():
    """The executor :meth:`NumericExercise.grade` uses when given none.

    A new :class:`~backprop_lib.grading.child_process.ChildExecutor` (close it
    after the check) or :func:`run_case`, as :func:`isolation` says.
    """
    if isolation() == "process":
        from .child_process import ChildExecutor

        return ChildExecutor()
    return run_case
