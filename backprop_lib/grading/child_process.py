"""Run the learner's code in a forked child process that answers only with plain data.

Why a child process
    In the learner's own kernel, code that swallows every exception in an
    endless loop, ignores SIGALRM, calls ``os._exit`` or crashes would hang or
    kill the kernel, and code that stops ``tracemalloc`` or switches off a
    profiler could fool the grader. A forked child runs the learner's function
    on a copy of the kernel's memory; the parent (the grader) sends it inputs,
    waits with a deadline, kills it with SIGKILL when time is up, reads its
    peak memory from the operating system, and gets back only plain data
    (numbers, text, numeric arrays: :mod:`~backprop_lib.grading.plain_data`,
    never pickle). Every ending becomes a
    :class:`~backprop_lib.grading.runner.CallOutcome`: a value, an exception, the
    NotImplementedError stub, ``sys.exit`` or ``os._exit`` (``"exit"``), death by
    a signal (``"crashed"``), a timeout, a MemoryError at the memory limit.

The interface (for ``check()``, the batch autograder and other tools)
    ::

        limits = ChildLimits(memory_bytes=2 * 2**30, cpu_seconds=120, cwd=workdir,
                             env={"PATH": "/usr/bin"}, blas_threads=1, no_network=True)
        with ChildProcess({"__name__": "__main__"}, limits) as child:
            ran = child.run_code(notebook_cell_source, timeout=30)    # CallOutcome
            out = child.call("softmax", (z,), timeout=3)              # CallOutcome
            out.kind, out.value          # "ok", [ndarray] (or a ConversionProblem)
            out = child.call("Dense", (dZ, A, W), timeout=3, wrap="dense_layer",
                             output_names=("dA", "dW", "db"))

    :class:`ChildProcess` forks when it is created. The child keeps a
    *namespace* (a dict: the one given, plus whatever :meth:`~ChildProcess.run_code`
    defines) and serves requests one at a time until it is closed:

    ``call(name, args, *, timeout, output_names=None, conversion="arrays", wrap=None,
    measure_memory=False)``
        calls ``namespace[name](*args)``. `args` must be plain data (arrays
        keep their memory layout; source functions from
        :func:`~backprop_lib.grading.plain_data.source_function` may be sent).
        ``wrap="exercise_id"`` applies that exercise's ``wrap_answer`` in the
        child first. ``conversion="arrays"`` returns the value as
        :func:`~backprop_lib.grading.conversion.to_plain` makes it (one array
        per output); ``"answer"`` as
        :func:`~backprop_lib.grading.conversion.to_plain_answer` (question
        answers); ``"none"`` drops it. ``args_after`` holds the array arguments
        as the call left them.
    ``run_code(source, *, timeout, filename="<cell>")``
        executes Python source in the namespace (a notebook cell).
    ``close()``
        kills the child (also on ``with`` exit and when garbage-collected).

    After a timeout or a crash the child is gone (``alive`` is False) and
    further requests end as ``"crashed"``; start a new one. A call with
    ``measure_memory=True`` reports its peak resident memory (``peak_bytes``,
    relative to the child's memory when the call started) as the kernel
    records it: the parent reads the child's ``VmHWM`` in ``/proc`` (Linux), or,
    for a child started with ``single_call=True`` (it exits after its first
    request), ``wait4``'s resource usage. Nothing in the child, such as
    ``tracemalloc.stop()``, changes what the kernel records.

    :class:`SandboxExecutor` grades an answer that lives by name in such a
    child: ``exercise.grade("softmax", executor=SandboxExecutor(child, exercise))``.

    :class:`ChildExecutor` is the executor of ``check()`` (see
    :meth:`~backprop_lib.grading.numeric.NumericExercise.grade`): one child per
    check for all its cases (a new one after a timeout or a crash), and a
    single-call child for a case whose arguments are not plain data (they
    reach the child through the fork itself) or that measures memory where
    ``/proc`` cannot.

In the child
    It gets its own process group (the parent kills the group, so processes the
    learner's code starts die too) and dies with its parent (Linux). Its stdin
    is ``/dev/null``; its stdout and stderr, at the file-descriptor level too,
    go to a pipe that the parent reads, keeping the first characters. Every
    other inherited file descriptor is closed, so nothing it does can reach the
    Jupyter kernel's sockets; IPython's display and the kernel's message
    sending are made no-ops and ``input()`` raises. Signal handlers are reset.
    It never returns into the caller's stack: it ends with ``os._exit``.
    Reference-function stubs (:mod:`~backprop_lib.grading.reference_calls`)
    are installed for its whole life. :class:`ChildLimits` are applied last.

Where fork is unavailable (Windows, Pyodide) or fails, callers fall back to
the in-process runner (:func:`~backprop_lib.grading.runner.run_case`).
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import errno
import gc
import io
import math
import os
import select
import signal
import sys
import threading
import time
import warnings
import weakref
from dataclasses import dataclass

import numpy as np

from . import plain_data
from .conversion import RESULT_LIMIT, ConversionProblem
from .reference_calls import ReferenceRecorder
from .runner import (
    OUTPUT_LIMIT,
    CallOutcome,
    classify,
    describe_exception,
    resolve_timeout,
    run_case,
    run_watched,
)

try:
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None

__all__ = ["ChildLimits", "ChildProcess", "ChildExecutor", "SandboxExecutor", "ChildStartError",
           "fork_available", "peak_rss_is_resettable", "run_answer_in_child", "MEMORY_ENV_VAR"]

MEMORY_ENV_VAR = "BACKPROP_CHECK_MEMORY_MB"
DEFAULT_MEMORY_MB = 1024
_KINDS = ("ok", "not_implemented", "exception", "exit", "crashed", "timeout", "interrupted")
_READ_CHUNK = 1 << 20
_CHILD_FAILED = 70  # exit status of a child whose own set-up or serving failed
_START_TIMEOUT = 30.0  # seconds a child may take to set itself up
_MESSAGE_LIMIT = RESULT_LIMIT + (64 << 20)
_SIGNAL_TEXT = {
    "SIGSEGV": "a segmentation fault",
    "SIGBUS": "a bus error",
    "SIGABRT": "an abort",
    "SIGXCPU": "the CPU-time limit",
    "SIGKILL": "a kill signal (perhaps the system ran out of memory)",
    "SIGFPE": "a floating-point exception",
    "SIGILL": "an illegal instruction",
}


class ChildStartError(OSError):
    """The child process could not be started (no fork, or fork failed)."""


def fork_available():
    """True where this process can fork a child (POSIX, not Pyodide)."""
    return hasattr(os, "fork") and sys.platform not in ("emscripten", "wasi", "win32")


@dataclass
class ChildLimits:
    """Resource limits of a child process (each None means "no limit").

    Attributes
    ----------
    memory_bytes : int or None
        Address space the child may add to what it has when it starts
        (``RLIMIT_AS``); beyond it allocations fail with MemoryError.
    cpu_seconds : float or None
        CPU time for the child's whole life (``RLIMIT_CPU``; SIGXCPU, then SIGKILL).
    output_chars : int
        Characters of stdout/stderr kept per request.
    result_bytes : int
        Largest message accepted from the child.
    env : dict or None
        Replace the child's environment variables with this (a scrubbed environment).
    cwd : str or None
        Working directory of the child (e.g. a throwaway temporary folder).
    blas_threads : int or None
        Threads for BLAS in the child: through threadpoolctl if it is installed,
        otherwise only through the usual environment variables, which take effect
        only if BLAS has not been loaded yet (set them before importing NumPy).
    no_network : bool
        Put the child in a new, empty network namespace (Linux, where the system
        allows it); :attr:`ChildProcess.network_isolated` says whether it worked.
    """

    memory_bytes: int | None = None
    cpu_seconds: float | None = None
    output_chars: int = OUTPUT_LIMIT
    result_bytes: int = _MESSAGE_LIMIT
    env: dict | None = None
    cwd: str | None = None
    blas_threads: int | None = None
    no_network: bool = False

    @classmethod
    def for_check(cls, timeout):
        """The limits of ``check()``'s children: memory from ``$BACKPROP_CHECK_MEMORY_MB``."""
        try:
            mb = float(os.environ.get(MEMORY_ENV_VAR, "") or DEFAULT_MEMORY_MB)
        except ValueError:
            mb = DEFAULT_MEMORY_MB
        memory = int(mb * 2**20) if mb > 0 else None
        return cls(memory_bytes=memory, cpu_seconds=8 * timeout + 10)


# ---------------------------------------------------------------------------
# Small OS helpers
# ---------------------------------------------------------------------------

_LIBC = []


def _libc():
    """The C library on Linux (loaded in the parent, before forking), else None."""
    if not _LIBC:
        libc = None
        if sys.platform.startswith("linux"):
            try:
                import ctypes

                libc = ctypes.CDLL(None, use_errno=True)
            except (ImportError, OSError):
                libc = None
        _LIBC.append(libc)
    return _LIBC[0]


def _load_prctl():
    """libc's prctl on Linux, else None."""
    return getattr(_libc(), "prctl", None)


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def _fresh_pages_for_large_blocks():
    """Make every large allocation from now on touch new pages (glibc), so that RSS shows it.

    The child starts with the kernel's heap, whose free memory may be resident
    (a notebook that built big arrays before), and glibc raises its mmap
    threshold after large blocks are freed; a Jacobian could then reuse
    resident pages and never show in the peak RSS. Pinning the thresholds at
    128 KiB and trimming the heap makes each block of 128 KiB or more a fresh
    mapping that is unmapped when freed.
    """
    libc = _libc()
    if libc is None or not hasattr(libc, "mallopt") or not hasattr(libc, "malloc_trim"):
        return
    libc.mallopt(_M_MMAP_THRESHOLD, 128 * 1024)
    libc.mallopt(_M_TRIM_THRESHOLD, 128 * 1024)
    libc.malloc_trim(0)


def _write_all(fd, buffers):
    """Write every buffer to the blocking descriptor `fd`."""
    for buffer in buffers:
        view = memoryview(buffer).cast("B")
        while len(view):
            view = view[os.write(fd, view):]


class _Requests:
    """The child's blocking reader of the parent's requests."""

    def __init__(self, fd, max_bytes):
        self.fd = fd
        self.reader = plain_data.MessageReader(max_bytes)
        self.ready = collections.deque()

    def next(self):
        """The next whole request message; None when the parent closed the pipe."""
        while not self.ready:
            chunk = os.read(self.fd, _READ_CHUNK)
            if not chunk:
                return None
            self.ready.extend(self.reader.feed(chunk))
        return self.ready.popleft()


def _rss_bytes():
    """This process's resident memory now (Linux), or its peak so far elsewhere."""
    try:
        with open("/proc/self/statm", "rb") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        if resource is None:
            return None
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def _address_space_bytes():
    try:
        with open("/proc/self/statm", "rb") as handle:
            return int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _reset_peak_rss():
    """Make the kernel's peak-RSS record start from now (Linux >= 4.0; else no-op)."""
    with contextlib.suppress(OSError):
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")


def _peak_rss(pid):
    """The peak resident memory of process `pid` as the kernel records it (Linux), or None."""
    try:
        with open(f"/proc/{pid}/status", "rb") as handle:
            for line in handle:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def peak_rss_is_resettable():
    """True where a child can reset its peak-RSS record and the parent can read it (Linux)."""
    if not _RESETTABLE:
        ok = False
        try:
            with open("/proc/self/clear_refs", "w") as handle:
                handle.write("5")
            ok = _peak_rss(os.getpid()) is not None
        except OSError:
            ok = False
        _RESETTABLE.append(ok)
    return _RESETTABLE[0]


_RESETTABLE = []


def _maxrss_bytes(rusage):
    return rusage.ru_maxrss if sys.platform == "darwin" else rusage.ru_maxrss * 1024


def _signal_name(number):
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


#: Written by the child to its output pipe after each request, so that the parent can tell
#: which call printed what even when several are queued.
_END_OF_OUTPUT = b"\x00\x1b[backprop-check: end of call]\x00"


class _OutputStream:
    """The child's output pipe, split at end-of-call markers into one _Output per ticket."""

    def __init__(self, stray):
        self.waiting = collections.deque()  # tickets whose output is not complete yet
        self.stray = stray
        self._tail = b""

    def add(self, data):
        data = self._tail + data
        while True:
            cut = data.find(_END_OF_OUTPUT)
            if cut < 0:
                break
            self._target().add(data[:cut])
            if self.waiting:
                self.waiting.popleft().output_done = True
            data = data[cut + len(_END_OF_OUTPUT):]
        keep = len(_END_OF_OUTPUT) - 1  # a marker may be split between two reads
        partial = next((k for k in range(min(keep, len(data)), 0, -1)
                        if _END_OF_OUTPUT.startswith(data[-k:])), 0)
        self._target().add(data[:len(data) - partial])
        self._tail = data[len(data) - partial:]

    def _target(self):
        return self.waiting[0].output if self.waiting else self.stray


class _Output:
    """The child's stdout/stderr bytes for one request, first `limit` characters kept."""

    def __init__(self, limit):
        self.limit = limit
        self.kept = bytearray()
        self.dropped = 0

    def add(self, data):
        room = max(0, 4 * self.limit - len(self.kept))  # bytes; cut to characters in text()
        self.kept += data[:room]
        self.dropped += max(0, len(data) - room)

    def text(self):
        text = self.kept.decode("utf-8", errors="replace")
        extra = self.dropped
        if len(text) > self.limit:
            extra += len(text[self.limit:].encode("utf-8"))
            text = text[:self.limit]
        if extra:
            text += f"\n... ({extra} more characters not shown)"
        return text


# ---------------------------------------------------------------------------
# The child process
# ---------------------------------------------------------------------------


def _kill_group(pid):
    """SIGKILL the child's process group (and the child). Only ever before it is reaped."""
    for kill in (os.killpg, os.kill):
        with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
            kill(pid, signal.SIGKILL)


#: Children killed but not reaped yet: tearing down a copy of a large kernel takes a few
#: milliseconds that a check need not wait for. Reaped at the next start and at exit.
_UNREAPED = []


def _reap_killed(block=False):
    for pid in list(_UNREAPED):
        try:
            done, _ = os.waitpid(pid, 0 if block else os.WNOHANG)
        except ChildProcessError:  # already reaped (by someone else)
            done = pid
        if done:
            _UNREAPED.remove(pid)


atexit.register(_reap_killed, True)


class _GcFreeze:
    """Keep the parent's objects out of its garbage collector while children live.

    A full collection touches every object, so while a child shares the
    parent's memory it would copy nearly every page (copy-on-write), in the
    parent and, for the same reason, in the child. ``gc.freeze()`` before each
    fork moves the existing objects to a permanent generation; the last child
    to go gives them back. A freeze the program made itself is left alone.
    """

    def __init__(self):
        self.children = 0
        self.ours = False
        self.lock = threading.Lock()

    def hold(self):
        with self.lock:
            if self.children == 0:
                self.ours = hasattr(gc, "freeze") and gc.get_freeze_count() == 0
            if self.ours:
                gc.freeze()
            self.children += 1

    def release(self):
        with self.lock:
            self.children = max(0, self.children - 1)
            if self.children == 0 and self.ours:
                gc.unfreeze()
                self.ours = False


_GC_FREEZE = _GcFreeze()


def _finalize(pid, fds):
    """Kill a child that was never closed (garbage collection, interpreter exit)."""
    _GC_FREEZE.release()
    _kill_group(pid)
    _UNREAPED.append(pid)
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


class _Ticket:
    """One submitted request and, once it is in, its CallOutcome."""

    def __init__(self, request, output):
        self.request = request
        self.output = output  # what it printed (the child's stdout and stderr)
        self.output_done = False  # its end-of-call marker has been read
        self.timeout = None
        self.started = None  # when the child began it (perf_counter), if known
        self.outcome = None


class ChildProcess:
    """A forked child that runs calls and code for its parent (see the module docstring).

    Parameters
    ----------
    namespace : dict, optional
        Names the child can call; inherited through the fork, so any object
        works (the learner's function, the grader's own objects).
    limits : ChildLimits, optional
    single_call : bool
        The child exits after its first request; that call gets ``peak_bytes``.

    Raises
    ------
    ChildStartError
        If the process cannot fork.
    """

    def __init__(self, namespace=None, limits=None, *, single_call=False):
        if not fork_available():
            raise ChildStartError(errno.ENOSYS, "this platform cannot fork a child process")
        self.namespace = dict(namespace or {})
        self.limits = limits or ChildLimits()
        self.single_call = single_call
        self.pid = None
        self.status = None
        self.rusage = None
        self._fds = ()
        self._finalizer = None
        self._start()

    # -- starting -------------------------------------------------------

    def _start(self):
        _reap_killed()
        ReferenceRecorder.prepare()
        ReferenceRecorder.refresh()  # once here, not in every child
        _libc()
        pipes = [os.pipe() for _ in range(4)]  # requests, responses, output, status
        (req_r, req_w), (res_r, res_w), (out_r, out_w), (st_r, st_w) = pipes
        parent_pid, from_main = os.getpid(), threading.current_thread() is threading.main_thread()
        try:
            with warnings.catch_warnings():
                # Python 3.12+ warns when a process with threads (a Jupyter kernel) forks;
                # the child below never touches the other threads' state.
                warnings.simplefilter("ignore", DeprecationWarning)
                _GC_FREEZE.hold()
                pid = os.fork()
        except OSError as exc:
            _GC_FREEZE.release()
            for fd in (fd for pair in pipes for fd in pair):
                os.close(fd)
            raise ChildStartError(exc.errno, f"could not start a child process: {exc}") from exc
        if pid == 0:  # the child: never return into the caller
            code = 0
            try:
                _Child(self, req_r, res_w, out_w, st_w, parent_pid, from_main).serve()
            except BaseException:  # noqa: BLE001 - nothing may escape the child
                code = _CHILD_FAILED
            finally:
                os._exit(code)
        with contextlib.suppress(OSError):
            os.setpgid(pid, pid)
        for fd in (req_r, res_w, out_w, st_w):
            os.close(fd)
        for fd in (req_w, res_r, out_r):
            os.set_blocking(fd, False)
        self.pid = pid
        self._req, self._res, self._out = req_w, res_r, out_r
        self._status_fd, self._network = st_r, None
        self._fds = (req_w, res_r, out_r, st_r)
        self._finalizer = weakref.finalize(self, _finalize, pid, self._fds)
        self._forked_at, self._ready_at = time.perf_counter(), None
        self._outgoing, self._pending = collections.deque(), collections.deque()
        self._reader = plain_data.MessageReader(self.limits.result_bytes)
        self._out_open = True
        self._output = _OutputStream(_Output(self.limits.output_chars))
        self._last_sent = False

    @property
    def network_isolated(self):
        """True if the child's network namespace was cut off (see ChildLimits.no_network)."""
        deadline = time.perf_counter() + _START_TIMEOUT
        try:
            while self._network is None and self.alive and time.perf_counter() < deadline:
                self._pump(deadline)
        except KeyboardInterrupt:
            self.close()
            raise
        return bool(self._network)

    # -- requests -------------------------------------------------------

    @property
    def alive(self):
        return self.pid is not None and self.status is None

    @property
    def accepting(self):
        """True while the child runs and has not been sent its ``last`` request."""
        return self.alive and not self._last_sent

    @property
    def queued(self):
        """How many submitted requests have no outcome yet."""
        return len(self._pending)

    def call(self, name, args=(), *, timeout=None, output_names=None, conversion="arrays",
             wrap=None, measure_memory=False, args_from=None):
        """Call ``namespace[name](*args)`` in the child and wait for the outcome.

        Parameters
        ----------
        name : str
        args : tuple
            Plain data (see :mod:`~backprop_lib.grading.plain_data`).
        timeout : float, optional
            Seconds, counted from when the child starts the call; it is killed after that.
        output_names : tuple of str or None
            For ``conversion="arrays"``: the outputs of a function returning several arrays.
        conversion : {"arrays", "answer", "none"}
        wrap : str or None
            Id of the exercise whose ``wrap_answer`` turns the named object into the function.
        measure_memory : bool
            Reset the kernel's peak-memory record before the call and report the
            call's peak (``peak_bytes``, relative to the child's resident memory
            when the call started): read from ``/proc`` on Linux, else (single-call
            children only) from ``wait4``'s resource usage. Submit nothing else
            until its result is in.
        args_from : str or None
            Take the arguments (copies) from ``namespace[args_from]`` instead of `args`.

        Returns
        -------
        CallOutcome
        """
        ticket = self.submit(name, args, output_names=output_names, conversion=conversion,
                             wrap=wrap, measure_memory=measure_memory, args_from=args_from)
        return self.result(ticket, timeout)

    def run_code(self, source, *, timeout=None, filename="<cell>"):
        """Execute Python `source` in the child's namespace; a CallOutcome with value None."""
        ticket = self._submit({"op": "exec", "source": str(source), "filename": str(filename)})
        return self.result(ticket, timeout)

    def submit(self, name, args=(), *, output_names=None, conversion="arrays", wrap=None,
               measure_memory=False, args_from=None, last=False):
        """Queue a call (same parameters as :meth:`call`) without waiting for it.

        The child works through queued calls in order while the caller does
        something else; :meth:`result` then waits for one. With ``last=True``
        the child exits once it has answered (nothing more will be asked), which
        spares both processes copying shared memory. Returns a ticket.

        Raises
        ------
        PlainDataError
            If `args` is not plain data.
        """
        return self._submit({"op": "call", "name": name,
                             "args": None if args_from else tuple(args), "args_from": args_from,
                             "output_names": list(output_names or ()) or None,
                             "conversion": conversion, "wrap": wrap,
                             "measure_memory": bool(measure_memory), "last": bool(last)})

    def _submit(self, request):
        buffers = plain_data.encode(request)
        ticket = _Ticket(request, _Output(self.limits.output_chars))
        if self.accepting:
            self._last_sent = bool(request.get("last"))
            self._outgoing.extend(memoryview(b).cast("B") for b in buffers if len(b))
            self._pending.append(ticket)
            self._output.waiting.append(ticket)
            if self._ready_at is not None and len(self._pending) == 1:
                ticket.started = time.perf_counter()
        else:
            ticket.outcome = CallOutcome(kind="crashed", lost=True,
                                         error="the child process is not running")
        return ticket

    def result(self, ticket, timeout=None):
        """Wait for the outcome of `ticket` (from :meth:`submit`).

        Its time limit `timeout` counts from when the child started it. If the
        child ended (a timeout or crash of an earlier call), the outcome is a
        ``"crashed"`` one with ``lost=True``: it never ran.
        """
        ticket.timeout = resolve_timeout(timeout)
        try:
            while ticket.outcome is None:
                head = self._pending[0]
                limit = head.timeout if head.timeout is not None else resolve_timeout(None)
                if head.started is None:
                    deadline = self._forked_at + _START_TIMEOUT + limit
                else:
                    deadline = head.started + limit
                # A response already waiting in the pipe counts, even past the deadline.
                moved = self._pump(deadline)
                if head.outcome is None and not moved and time.perf_counter() >= deadline:
                    self._end(head, timed_out=head.started is not None)
        except KeyboardInterrupt:
            self.close()
            raise
        outcome = ticket.outcome
        if outcome.kind == "interrupted":
            raise KeyboardInterrupt
        return outcome

    # -- the parent's side of the pipes -----------------------------------

    def _pump(self, deadline):
        """Move bytes once: requests out, responses and output in (waiting until `deadline`).

        Returns True if response bytes arrived.
        """
        poller = select.poll()
        if self._outgoing:
            poller.register(self._req, select.POLLOUT)
        poller.register(self._res, select.POLLIN)
        if self._out_open:
            poller.register(self._out, select.POLLIN)
        if self._network is None:
            poller.register(self._status_fd, select.POLLIN)
        left = max(0.0, deadline - time.perf_counter())
        moved = False
        for fd, _ in poller.poll(math.ceil(left * 1000)):
            if fd == self._req:
                self._send_some()
            elif fd == self._status_fd:
                self._child_ready(self._read_available(self._status_fd) or b"")
            elif fd == self._out:
                data = self._read_available(self._out)
                if data:
                    self._output.add(data)
                elif data == b"":
                    self._out_open = False
            elif self.alive:
                self._receive_some()
                moved = True
            if not self.alive:
                return moved
        return moved

    def _send_some(self):
        while self._outgoing:
            try:
                n = os.write(self._req, self._outgoing[0])
            except BlockingIOError:
                return
            except OSError:  # the child closed its end: it is ending
                self._outgoing.clear()
                return
            if n < len(self._outgoing[0]):
                self._outgoing[0] = self._outgoing[0][n:]
                return
            self._outgoing.popleft()

    def _child_ready(self, data):
        if not data:  # the child ended during its set-up
            self._network = False
            if self._pending:
                self._end(self._pending[0], timed_out=False)
            return
        self._network = data == b"n"
        self._ready_at = time.perf_counter()
        if self._pending and self._pending[0].started is None:
            self._pending[0].started = self._ready_at

    def _receive_some(self):
        data = self._read_available(self._res)
        if data is None:
            return
        if not data:  # end of file: the child ended during the call at the head
            if self._pending:
                self._end(self._pending[0], timed_out=False)
            else:
                self.close()
            return
        try:
            messages = self._reader.feed(data)
        except plain_data.PlainDataError as exc:
            head = self._pending[0]
            self.close()
            head.outcome = CallOutcome(kind="ok", value=ConversionProblem(
                f"your function's result could not be read ({exc})."), output=head.output.text())
            self._lose_pending()
            return
        for message in messages:
            if not self._pending:
                break
            self._finish(self._pending.popleft(), message)
            if self._pending:
                self._pending[0].started = time.perf_counter()

    def _finish(self, ticket, message):
        """Turn a response into the ticket's CallOutcome."""
        while not ticket.output_done:  # the child wrote it, and its marker, before answering
            data = self._read_available(self._out)
            if not data:
                break
            self._output.add(data)
        try:
            outcome, rss_before = self._outcome(message, ticket.request)
        except plain_data.PlainDataError as exc:
            outcome, rss_before = CallOutcome(kind="ok", value=ConversionProblem(
                f"your function's result could not be read ({exc}).")), None
        peak = _peak_rss(self.pid) if rss_before is not None else None
        ending = self.single_call or ticket.request.get("last")
        if ending or (rss_before is not None and peak is None):
            # The child is done (or already gone, so /proc no longer has its peak): reap it,
            # waiting for it if its peak memory must come from wait4's resource usage.
            self.close(wait=rss_before is not None and peak is None)
            if rss_before is not None and peak is None and self.rusage is not None:
                peak = _maxrss_bytes(self.rusage)
        if peak is not None:
            outcome.peak_bytes = max(0, peak - rss_before)
        outcome.output = ticket.output.text()
        ticket.outcome = outcome

    def _end(self, ticket, timed_out):
        """The child is gone or must go: `ticket` ends as a timeout, an exit or a crash."""
        if timed_out:
            self.close()
            outcome = CallOutcome(kind="timeout", error=f"stopped after {ticket.timeout:g} s")
        else:
            self.close(wait=True)  # it is ending by itself: wait for its exit status
            outcome = self._ending()
        outcome.output = ticket.output.text()
        ticket.outcome = outcome
        self._lose_pending()

    def _lose_pending(self):
        """Every queued call the child will never run ends as a lost one."""
        while self._pending:
            ticket = self._pending.popleft()
            if ticket.outcome is None:
                ticket.outcome = CallOutcome(kind="crashed", lost=True,
                                             error="the child process ended before this call")
        self._outgoing.clear()

    @staticmethod
    def _read_available(fd):
        try:
            return os.read(fd, _READ_CHUNK)
        except BlockingIOError:
            return None
        except OSError:
            return b""

    def _outcome(self, message, request):
        """(CallOutcome, the child's resident bytes before the call) of a response."""
        response = plain_data.decode(message, max_bytes=self.limits.result_bytes)
        if not isinstance(response, dict):
            response = {}
        kind = response.get("kind") if response.get("kind") in _KINDS else "crashed"
        outcome = CallOutcome(kind=kind, error=str(response.get("error") or "")[:20000])
        calls = response.get("reference_calls")
        outcome.reference_calls = tuple(str(c) for c in calls[:100]) if isinstance(calls, list) \
            else ()
        seconds = response.get("seconds")
        outcome.seconds = float(seconds) if isinstance(seconds, float) else 0.0
        after = response.get("args_after")
        outcome.args_after = tuple(a if isinstance(a, np.ndarray) else None for a in after) \
            if isinstance(after, list) else ()
        rss = response.get("rss_before")
        if kind == "ok":
            outcome.value = _plain_value(response.get("value"), request.get("conversion"))
        return outcome, (rss if type(rss) is int else None)

    def _ending(self):
        """The CallOutcome of a child that ended without answering: an exit or a crash."""
        status = self.status
        if status is None or status < 0:
            return CallOutcome(kind="crashed", error="the child process ended")
        if os.WIFSIGNALED(status):
            name = _signal_name(os.WTERMSIG(status))
            why = _SIGNAL_TEXT.get(name, name)
            return CallOutcome(kind="crashed", error=f"the process was killed by {why} ({name})")
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else status
        if code == _CHILD_FAILED:
            return CallOutcome(kind="crashed", error="the child process running it failed")
        return CallOutcome(kind="exit", error=f"ended its process (exit status {code}, as "
                                              f"os._exit({code}) does)")

    # -- stopping -------------------------------------------------------

    def _reap(self, block):
        if self.pid is None or self.status is not None:
            return
        try:
            pid, status, rusage = os.wait4(self.pid, 0 if block else os.WNOHANG)
        except ChildProcessError:  # someone else reaped it
            self.status, self.rusage = -1, None
            return
        if pid:
            self.status, self.rusage = status, rusage

    def close(self, wait=False):
        """Kill the child (and anything it started) and release its pipes.

        The group is killed before the child is reaped, never after (its
        process id could then belong to another process). With ``wait=False``
        a child that is still tearing itself down is reaped later (at the next
        start, at exit); ``status`` and ``rusage`` are then left unset.
        """
        if self.pid is None:
            return
        if self.status is None:
            _kill_group(self.pid)
            self._reap(block=wait)
            if self.status is None:
                _UNREAPED.append(self.pid)
                self.status = -1
        if self._finalizer is not None and self._finalizer.detach() is not None:
            _GC_FREEZE.release()
        self._lose_pending()
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds = ()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _plain_value(value, conversion):
    """The value of an "ok" response, as the executors promise it."""
    if isinstance(value, dict) and isinstance(value.get("reason"), str):
        codes = value.get("codes")
        component = value.get("component")
        return ConversionProblem(
            reason=value["reason"][:2000],
            codes=[str(c) for c in codes[:5]] if isinstance(codes, list) else [],
            component=component if type(component) is int else None)
    if conversion == "arrays" and not (isinstance(value, list) and all(
            isinstance(v, np.ndarray) for v in value)):
        return ConversionProblem("the grader could not read your result.", ["dtype"])
    return value


# ---------------------------------------------------------------------------
# What runs in the child
# ---------------------------------------------------------------------------


def _no_input(*args, **kwargs):
    raise RuntimeError("input() is not available while check() runs your function")


class _Child:
    """The child side: set up once, then answer requests until the parent closes the pipe."""

    def __init__(self, owner, req_fd, res_fd, out_fd, status_fd, parent_pid, from_main):
        self.namespace = owner.namespace
        self.limits = owner.limits
        self.single_call = owner.single_call
        self.req_fd, self.res_fd = req_fd, res_fd
        self._setup(out_fd, status_fd, parent_pid, from_main)

    # -- set-up ---------------------------------------------------------

    def _setup(self, out_fd, status_fd, parent_pid, from_main):
        with contextlib.suppress(OSError):
            os.setpgid(0, 0)
        self._reset_signals()
        if from_main:
            self._die_with_parent(parent_pid)
        self._redirect_fds(out_fd, status_fd)
        self._quiet_jupyter()
        self.recorder = ReferenceRecorder(permanent=True).__enter__()
        network = self._apply_limits()
        with contextlib.suppress(OSError):
            os.write(status_fd, b"n" if network else b"y")
        os.close(status_fd)

    @staticmethod
    def _reset_signals():
        with contextlib.suppress(ValueError, OSError):
            signal.set_wakeup_fd(-1)
        for name in ("SIGINT", "SIGTERM", "SIGALRM", "SIGHUP", "SIGUSR1", "SIGUSR2",
                     "SIGCHLD", "SIGXCPU"):
            number = getattr(signal, name, None)
            if number is not None:
                with contextlib.suppress(ValueError, OSError):
                    signal.signal(number, signal.SIG_DFL)
        if hasattr(signal, "setitimer"):
            signal.setitimer(signal.ITIMER_REAL, 0)
        with contextlib.suppress(Exception):
            import faulthandler

            faulthandler.disable()

    @staticmethod
    def _die_with_parent(parent_pid):
        prctl = _load_prctl()
        if prctl is not None:
            prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != parent_pid:  # the parent is already gone
            os._exit(0)

    def _redirect_fds(self, out_fd, status_fd):
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        self.marker_fd = out_fd  # the same pipe, on a descriptor the learner does not know
        keep = sorted({0, 1, 2, self.req_fd, self.res_fd, status_fd, out_fd})
        start = 0
        for fd in keep:
            if start < fd:
                os.closerange(start, fd)
            start = fd + 1
        os.closerange(start, max(start + 1, _max_fd()))
        stream = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8",
                                  errors="backslashreplace", line_buffering=True,
                                  write_through=True)
        sys.stdout = sys.stderr = sys.__stdout__ = sys.__stderr__ = self.stream = stream
        sys.stdin = sys.__stdin__ = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))

    @staticmethod
    def _quiet_jupyter():
        """Nothing the learner's code displays or sends may reach the kernel's sockets."""
        import builtins

        builtins.input = _no_input
        ipython = sys.modules.get("IPython")
        shell = ipython.get_ipython() if ipython is not None else None
        if shell is None:
            return
        with contextlib.suppress(Exception):
            from IPython.core.displaypub import DisplayPublisher

            shell.display_pub = DisplayPublisher(shell=shell)  # prints text/plain instead
        kernel = getattr(shell, "kernel", None)
        session = getattr(kernel, "session", None)
        if session is not None:
            with contextlib.suppress(Exception):
                session.send = lambda *args, **kwargs: None

    def _apply_limits(self):
        """Apply :class:`ChildLimits`; True if the network namespace was cut off."""
        limits = self.limits
        if limits.env is not None:
            os.environ.clear()
            os.environ.update({str(k): str(v) for k, v in limits.env.items()})
        if limits.cwd is not None:
            os.chdir(limits.cwd)
        if limits.blas_threads:
            _limit_blas_threads(int(limits.blas_threads))
        network = _cut_network() if limits.no_network else False
        if resource is not None:
            _set_limit(resource.RLIMIT_CORE, 0)
            if limits.cpu_seconds:
                used = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
                soft = math.ceil(used + limits.cpu_seconds)
                _set_limit(resource.RLIMIT_CPU, soft, soft + 2)
            if limits.memory_bytes and hasattr(resource, "RLIMIT_AS"):
                base = _address_space_bytes()
                if base is not None:
                    _set_limit(resource.RLIMIT_AS, base + int(limits.memory_bytes))
        return network

    # -- serving --------------------------------------------------------

    def serve(self):
        requests = _Requests(self.req_fd, 1 << 34)
        while True:
            message = requests.next()
            if message is None:
                return
            request = plain_data.decode(message, allow_functions=True, max_bytes=1 << 34)
            response = self._handle(request)
            try:
                buffers = plain_data.encode(response, allow_functions=False)
            except plain_data.PlainDataError as exc:
                buffers = plain_data.encode({"kind": "ok", "value": {
                    "reason": f"your function's result could not be sent back ({exc}).",
                    "codes": ["dtype"]}})
            with contextlib.suppress(Exception):
                sys.stdout.flush()
            _write_all(self.res_fd, buffers)
            if self.single_call or (isinstance(request, dict) and request.get("last")):
                return

    def _handle(self, request):
        if not isinstance(request, dict):
            return {"kind": "crashed", "error": "bad request"}
        if request.get("op") == "exec":
            return self._run(lambda: exec(compile(request["source"], request["filename"],  # noqa: S102
                                                  "exec"), self.namespace), (), "none", False)
        name = request.get("name")
        target = self.namespace.get(name) if isinstance(name, str) else None
        if target is None:
            return {"kind": "exception", "error": f"NameError: name {name!r} is not defined"}
        if request.get("wrap"):
            target = _wrapped(target, request["wrap"])
        if request.get("args_from"):
            args = tuple(plain_data.learner_copy(a) for a in self.namespace[request["args_from"]])
        else:
            args = tuple(request.get("args") or ())
        output_names = tuple(request["output_names"]) if request.get("output_names") else None
        conversion = request.get("conversion", "arrays")
        if conversion == "arrays":
            from .conversion import to_plain

            def fn(*inputs):
                return to_plain(target(*inputs), output_names)
        elif conversion == "answer":
            from .conversion import to_plain_answer

            def fn(*inputs):
                return to_plain_answer(target(*inputs))
        else:
            fn = target
        return self._run(fn, args, conversion, bool(request.get("measure_memory")))

    def _run(self, fn, args, conversion, measure_memory):
        self.recorder.refresh()  # stub the copies a reload in an earlier cell made
        self.recorder.clear()
        rss_before = None
        if measure_memory:
            _fresh_pages_for_large_blocks()
            _reset_peak_rss()
            rss_before = _rss_bytes()
        response = {"kind": "ok", "error": ""}
        start = time.perf_counter()
        try:
            value, _ = run_watched(fn, args, self.stream)
            if conversion == "none":
                value = None
            if isinstance(value, ConversionProblem):
                value = {"reason": value.reason, "codes": list(value.codes),
                         "component": value.component}
            response["value"] = value
        except KeyboardInterrupt:
            response["kind"] = "interrupted"
        except BaseException as exc:  # noqa: BLE001 - the learner's code may raise anything
            response["kind"] = classify(exc)
            response["error"] = describe_exception(exc)
        response["seconds"] = time.perf_counter() - start
        for stream in {id(s): s for s in (sys.stdout, sys.stderr, self.stream)}.values():
            with contextlib.suppress(Exception):
                stream.flush()
        sys.stdout = sys.stderr = self.stream  # whatever the call did to them
        with contextlib.suppress(OSError):
            _write_all(self.marker_fd, [_END_OF_OUTPUT])
        response["reference_calls"] = sorted(self.recorder.entries)
        response["args_after"] = [a if isinstance(a, np.ndarray) and a.dtype.kind in "biufc"
                                  else None for a in args]
        response["rss_before"] = rss_before
        return response


def _wrapped(target, exercise_id):
    """`target` turned into the function of exercise `exercise_id` (its ``wrap_answer``)."""
    from .registry import get_exercise

    wrap = getattr(get_exercise(str(exercise_id)), "wrap_answer", None)
    if wrap is None:
        return target

    def wrapped(*args):
        return wrap(target)(*args)

    return wrapped


def _max_fd():
    try:
        return min(os.sysconf("SC_OPEN_MAX"), 1 << 20)
    except (ValueError, OSError):
        return 4096


def _set_limit(which, soft, hard=None):
    """Lower a resource limit (never raise one above the current hard limit)."""
    with contextlib.suppress(ValueError, OSError):
        _, current_hard = resource.getrlimit(which)
        hard = soft if hard is None else hard
        if current_hard != resource.RLIM_INFINITY:
            hard = min(hard, current_hard)
            soft = min(soft, hard)
        resource.setrlimit(which, (soft, hard))


def _limit_blas_threads(n):
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                 "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
        os.environ[name] = str(n)
    with contextlib.suppress(Exception):
        import threadpoolctl

        threadpoolctl.threadpool_limits(n)


def _cut_network():
    """Move into a new network namespace with no interfaces up (Linux); True if it worked."""
    if not sys.platform.startswith("linux"):
        return False
    unshare = getattr(os, "unshare", None)
    flags_net = getattr(os, "CLONE_NEWNET", 0x40000000)
    flags_user = getattr(os, "CLONE_NEWUSER", 0x10000000)
    for flags in (flags_net, flags_net | flags_user):
        try:
            if unshare is not None:
                unshare(flags)
                return True
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            if libc.unshare(flags) == 0:
                return True
        except (OSError, AttributeError):
            continue
    return False


# ---------------------------------------------------------------------------
# The executor of check()
# ---------------------------------------------------------------------------

_warned_fallback = []


def _warn_fallback(exc):
    if not _warned_fallback:
        _warned_fallback.append(True)
        warnings.warn(f"check() could not start a child process ({exc}); your code runs in this "
                      "kernel instead (set BACKPROP_CHECK_ISOLATION=inprocess to silence this).",
                      RuntimeWarning, stacklevel=4)


class _Planned:
    """One case announced by :meth:`ChildExecutor.prepare`."""

    def __init__(self, args, measure):
        self.args = args
        self.measure = measure
        self.plain = plain_data.can_encode(tuple(args))
        self.ticket = None


class ChildExecutor:
    """The executor of ``check()``: the learner's function runs in forked children.

    One child serves every case of a check (forked at the first case, with
    the learner's function in its memory). When the grader announces the
    cases first (:meth:`prepare`), they are queued to the child at once, so it
    computes the next cases while the grader compares the last one; a case
    that measures memory is queued alone. A case whose arguments are not
    plain data, or that measures memory without a Linux ``/proc``, gets a
    single-call child of its own. After a timeout or a crash the next case
    starts a new child. Call :meth:`close` when the check is over. If no child
    can be started, the cases run in this process
    (:func:`~backprop_lib.grading.runner.run_case`), with one warning.

    Parameters
    ----------
    limits : ChildLimits, optional
        Default :meth:`ChildLimits.for_check` for the first case's timeout.
    """

    def __init__(self, limits=None):
        self.limits = limits
        self._child = None
        self._fn = None
        self._in_process = False
        self._plan, self._plan_fn, self._plan_names = [], None, None

    def prepare(self, fn, cases, *, output_names=None):
        """Announce the calls to come: `cases` is a list of ``(args, measure_memory)``."""
        self._plan = [_Planned(args, measure) for args, measure in cases]
        self._plan_fn, self._plan_names = fn, output_names

    def __call__(self, fn, args, *, timeout=None, output_names=None, measure_memory=False):
        timeout = resolve_timeout(timeout)
        if self._in_process:
            return run_case(fn, args, timeout=timeout, output_names=output_names,
                            measure_memory=measure_memory)
        try:
            entry = self._queued(fn, args, output_names, measure_memory, timeout)
            if entry is not None:
                outcome = self._child.result(entry.ticket, timeout)
                if not outcome.lost:
                    return outcome
            return self._direct(fn, args, timeout, output_names, measure_memory)
        except ChildStartError as exc:
            _warn_fallback(exc)
            self._in_process = True
            return run_case(fn, args, timeout=timeout, output_names=output_names,
                            measure_memory=measure_memory)

    def _child_for(self, fn, timeout):
        if self._child is None or not self._child.accepting or self._fn is not fn:
            self.close()
            self._child = ChildProcess({"answer": fn},
                                       self.limits or ChildLimits.for_check(timeout))
            self._fn = fn
        return self._child

    def _queued(self, fn, args, output_names, measure_memory, timeout):
        """The announced entry of this call, queued to the child (with the next ones), or None."""
        if fn is not self._plan_fn or output_names != self._plan_names:
            return None
        index = next((i for i, e in enumerate(self._plan)
                      if e.args is args and e.measure == bool(measure_memory)), None)
        if index is None:
            return None
        entry = self._plan[index]
        lost = entry.ticket is not None and entry.ticket.outcome is not None and \
            entry.ticket.outcome.lost
        if entry.ticket is None or lost:
            for later in self._plan[index:]:
                later.ticket = None
            child = self._child_for(fn, timeout)
            for k, later in enumerate(self._plan[index:]):
                if not later.plain or (later.measure and (k > 0 or not peak_rss_is_resettable())):
                    break
                later.ticket = child.submit("answer", later.args, output_names=output_names,
                                            measure_memory=later.measure,
                                            last=later is self._plan[-1] and not later.measure)
                if later.measure:
                    break
        return entry if entry.ticket is not None else None

    def _direct(self, fn, args, timeout, output_names, measure_memory):
        """One call, not queued: in the check's child, or in a single-call child.

        A call outside the announced cases (a diagnostic probe after a failure)
        must not wait behind cases still queued to the child: that child goes.
        """
        if self._child is not None and self._child.queued:
            self.close()
        limits = self.limits or ChildLimits.for_check(timeout)
        single = measure_memory and not peak_rss_is_resettable()
        if single or not plain_data.can_encode(tuple(args)):
            with ChildProcess({"answer": fn, "args": tuple(args)}, limits,
                              single_call=True) as child:
                return child.call("answer", timeout=timeout, output_names=output_names,
                                  measure_memory=measure_memory, args_from="args")
        return self._child_for(fn, timeout).call("answer", tuple(args), timeout=timeout,
                                                 output_names=output_names,
                                                 measure_memory=measure_memory)

    def close(self):
        """Stop the child serving this check, if any."""
        if self._child is not None:
            self._child.close()
        self._child, self._fn = None, None


class SandboxExecutor:
    """Executor for answers that live by name in a :class:`ChildProcess` (the batch autograder).

    ::

        with ChildProcess({"__name__": "__main__"}, limits) as child:
            child.run_code(submission_code, timeout=60)
            exercise = get_exercise("softmax")
            result = exercise.grade("softmax", executor=SandboxExecutor(child, exercise))

    ``grade`` hands the answer (a name) through unchanged
    (:attr:`applies_wrap_answer`); the child applies the exercise's
    ``wrap_answer`` itself. The child is not restarted: after a timeout or a
    crash its namespace is gone, and later calls end as ``"crashed"``.

    Parameters
    ----------
    child : ChildProcess
    exercise : NumericExercise
    """

    applies_wrap_answer = True

    def __init__(self, child, exercise):
        self.child = child
        self.wrap = exercise.id if getattr(exercise, "wrap_answer", None) else None

    def __call__(self, name, args, *, timeout=None, output_names=None, measure_memory=False):
        return self.child.call(str(name), tuple(args), timeout=timeout,
                               output_names=output_names, wrap=self.wrap,
                               measure_memory=measure_memory)


def run_answer_in_child(fn, *, timeout):
    """A question's answer ``fn()`` computed in a single-call child; None if none can start."""
    try:
        with ChildProcess({"answer": fn}, ChildLimits.for_check(timeout),
                          single_call=True) as child:
            return child.call("answer", (), timeout=timeout, conversion="answer")
    except ChildStartError as exc:
        _warn_fallback(exc)
        return None
