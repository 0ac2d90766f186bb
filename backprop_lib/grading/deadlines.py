"""Time limits for a call that runs in this process (the in-process runner).

:func:`call_with_deadline` runs ``call()`` and raises :class:`GraderTimeout` if
it has not finished after `timeout` seconds. Where the learner's code runs in
a child process (:mod:`~backprop_lib.grading.child_process`, the default on
Linux) the parent simply kills the child; this module is for where that is not
possible (Windows, macOS by default, Pyodide / JupyterLite) or not wanted
(``BACKPROP_CHECK_ISOLATION=inprocess``). Three methods, the first that applies:

``"alarm"`` (POSIX, main thread)
    A ``SIGALRM`` interval timer raises :class:`GraderTimeout` inside the
    learner's code, which also interrupts ``time.sleep``; it repeats every 50 ms
    while the call goes on. On Python 3.12+ the first alarm after the limit
    also switches on the ``"monitor"`` method below, so a loop that catches
    ``BaseException`` and carries on is stopped as well. A timer that was
    already set (pytest-timeout, for instance) is put back afterwards.
``"monitor"`` (no usable alarm: Windows, Pyodide, a worker thread)
    A deadline checked on every function start and every jump of Python code:
    ``sys.monitoring`` on Python 3.12+ (once the limit has passed it raises
    again at every loop iteration, so ``while True: try: ... except
    BaseException: pass`` ends too), ``sys.settrace`` before 3.12 (which Python
    switches off after one raise, so there a loop that swallows every exception
    is not stopped). Needs no thread and no signal, so it is what JupyterLite
    uses. It cannot interrupt one long C call (``time.sleep(100)``, a huge
    matrix product); the limit applies when that call returns.
``"thread"`` (a debugger or coverage tool already holds the trace hook)
    The call runs in a daemon thread and the grader stops waiting after the
    limit; the thread cannot be killed and may keep running in the background.

Where none applies (no threads and the trace hook taken) the call runs without
a limit. :func:`method` says which one a call would get.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

__all__ = ["GraderTimeout", "call_with_deadline", "method"]

_RETRIGGER_INTERVAL = 0.05
_GRADING_DIR = os.path.dirname(os.path.abspath(__file__))
_MONITORING_TOOL_IDS = (4, 3)  # sys.monitoring ids not claimed by debuggers/coverage/profilers


class GraderTimeout(BaseException):
    """Raised inside the learner's code when its time is up (not an ``Exception``)."""


def _alarm_usable():
    return (hasattr(signal, "setitimer") and sys.platform not in ("emscripten", "wasi")
            and threading.current_thread() is threading.main_thread())


def _free_monitoring_tool():
    monitoring = getattr(sys, "monitoring", None)
    if monitoring is None:
        return None
    for tool in _MONITORING_TOOL_IDS:
        if monitoring.get_tool(tool) is None:
            return tool
    return None


def method():
    """The time-limit method a call from this thread would get (see the module docstring)."""
    if _alarm_usable():
        return "alarm"
    if _free_monitoring_tool() is not None or (not hasattr(sys, "monitoring")
                                                and sys.gettrace() is None):
        return "monitor"
    return "thread"


def call_with_deadline(call, timeout):
    """Run ``call()``; raise :class:`GraderTimeout` if it takes longer than `timeout` s."""
    chosen = method()
    if chosen == "alarm":
        return _run_with_alarm(call, timeout)
    if chosen == "monitor":
        return _run_monitored(call, timeout)
    return _run_in_thread(call, timeout)


# ---------------------------------------------------------------------------
# "monitor": a deadline checked by Python itself, no thread and no signal
# ---------------------------------------------------------------------------


def _is_grader_code(code):
    return code.co_filename.startswith(_GRADING_DIR)


class _Monitor:
    """Raise :class:`GraderTimeout` in the learner's code once `deadline` has passed.

    ``expired`` may be set from a signal handler to raise from now on
    regardless of the clock (the alarm method's escalation).
    """

    def __init__(self, deadline):
        self.deadline = deadline
        self.active = True
        self.expired = False
        self.tool = None
        self.mode = None  # "monitoring", "trace", or None (not started / stopped)

    def _due(self, code):
        if not self.active or _is_grader_code(code):
            return False
        if not self.expired and time.perf_counter() < self.deadline:
            return False
        self.expired = True
        return True

    # sys.monitoring (3.12+): callbacks(code, offset) and (code, from, to)
    def _on_event(self, code, *_):
        if self._due(code):
            raise GraderTimeout

    # sys.settrace (before 3.12)
    def _trace(self, frame, event, arg):
        if self._due(frame.f_code):
            raise GraderTimeout
        return self._trace

    def start(self):
        tool = _free_monitoring_tool()
        if tool is not None:
            monitoring = sys.monitoring
            events = monitoring.events
            monitoring.use_tool_id(tool, "backprop-check deadline")
            monitoring.register_callback(tool, events.PY_START, self._on_event)
            monitoring.register_callback(tool, events.JUMP, self._on_event)
            monitoring.set_events(tool, events.PY_START | events.JUMP)
            self.tool, self.mode = tool, "monitoring"
            return True
        if not hasattr(sys, "monitoring") and sys.gettrace() is None:
            sys.settrace(self._trace)
            self.mode = "trace"
            return True
        return False

    def stop(self):
        """Switch the deadline off (idempotent)."""
        self.active = False
        if self.mode == "monitoring":
            monitoring = sys.monitoring
            monitoring.set_events(self.tool, 0)
            monitoring.register_callback(self.tool, monitoring.events.PY_START, None)
            monitoring.register_callback(self.tool, monitoring.events.JUMP, None)
            monitoring.free_tool_id(self.tool)
        elif self.mode == "trace":
            sys.settrace(None)
        self.mode = None


def _run_monitored(call, timeout):
    monitor = _Monitor(time.perf_counter() + timeout)
    if not monitor.start():
        return _run_in_thread(call, timeout)
    try:
        try:
            value = call()
        finally:
            monitor.stop()
    except GraderTimeout:
        raise
    if monitor.expired:  # the learner's code caught the timeout and returned anyway
        raise GraderTimeout
    return value


# ---------------------------------------------------------------------------
# "alarm": SIGALRM in the main thread
# ---------------------------------------------------------------------------


class _Alarm:
    """The SIGALRM handler of one call.

    When the limit passes, the handler raises :class:`GraderTimeout` (a
    BaseException, so ``except Exception`` in the learner's code does not catch
    it) and repeats every 50 ms while the call is still running. On 3.12+ it
    also starts a :class:`_Monitor` that raises at every jump from then on.
    """

    def __init__(self):
        self.armed = True
        self.fired = False
        self.monitor = None

    def on_alarm(self, signum, frame):
        if not self.armed:
            return
        self.fired = True
        if self.monitor is None and _free_monitoring_tool() is not None:
            monitor = _Monitor(0.0)
            monitor.expired = True
            if monitor.start():
                self.monitor = monitor
        raise GraderTimeout

    def disarm(self):
        self.armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        if self.monitor is not None:
            self.monitor.stop()


def _run_with_alarm(call, timeout):
    """Run `call` in this (main) thread, interrupting it after `timeout` seconds."""
    alarm = _Alarm()
    start = time.perf_counter()
    # Read the old state first: an alarm may land inside any call below (a garbage
    # collection can outlast a short limit), and everything after this point is undone
    # by the finally clause.
    old_timer = signal.getitimer(signal.ITIMER_REAL)
    old_handler = signal.getsignal(signal.SIGALRM)
    try:
        signal.signal(signal.SIGALRM, alarm.on_alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout, _RETRIGGER_INTERVAL)
        try:
            value = call()
        finally:
            alarm.disarm()
        if alarm.fired:  # the learner's code caught the timeout and returned anyway
            raise GraderTimeout
        return value
    finally:
        # First make our handler harmless, then stop the timer (and the monitor) before the
        # old handler (often SIG_DFL, which would end the process) comes back.
        alarm.armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        if alarm.monitor is not None:
            alarm.monitor.stop()
        signal.signal(signal.SIGALRM, old_handler if old_handler is not None else signal.SIG_DFL)
        if old_timer[0] > 0:
            left = max(old_timer[0] - (time.perf_counter() - start), 1e-3)
            signal.setitimer(signal.ITIMER_REAL, left, old_timer[1])


# ---------------------------------------------------------------------------
# "thread": wait for a daemon thread
# ---------------------------------------------------------------------------


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
    except RuntimeError:  # no threads (e.g. Pyodide) and no trace hook: no limit
        return call()
    worker.join(timeout)
    if worker.is_alive():
        raise GraderTimeout
    if "error" in box:
        raise box["error"]
    return box["value"]
