"""Interim stand-in for ``backprop_lib.grading.child_process`` (until grader-runner lands).

:mod:`~backprop_lib.autograde.sandbox` imports ``ChildProcess`` and ``ChildLimits`` from
``backprop_lib.grading.child_process`` and falls back to this module only while that one
does not exist. It implements the subset of that interface the autograder uses, with the
same names: a forked child with its own process group, stdin from ``/dev/null``, stdout
and stderr (file descriptors 1 and 2) into a pipe the parent reads and caps, every other
inherited descriptor closed, a scrubbed environment, a working directory, resource limits
(CPU time, address space, no core files), a new network namespace where allowed; requests
and responses travel as JSON with numeric arrays as raw bytes (never pickle), validated
by the parent. Delete this file once ``grading/child_process.py`` is on main.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import io
import json
import math
import os
import select
import signal
import struct
import sys
import time
from dataclasses import dataclass

import numpy as np

from ..grading.cases import layout_of, with_layout
from ..grading.conversion import ConversionProblem
from ..grading.runner import CallOutcome, _ReferenceWatcher

try:
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None

__all__ = ["ChildLimits", "ChildProcess", "ChildStartError"]

_MAX_MESSAGE = 256 * 2**20
_KINDS = ("ok", "not_implemented", "exception", "exit", "crashed", "timeout")
_CHILD_FAILED = 70


class ChildStartError(OSError):
    """The child process could not be started."""


@dataclass
class ChildLimits:
    """Limits of the child (the fields of grader-runner's ChildLimits that are used)."""

    memory_bytes: int | None = None
    cpu_seconds: float | None = None
    output_chars: int = 4000
    env: dict | None = None
    cwd: str | None = None
    blas_threads: int | None = None
    no_network: bool = False


# -- plain data ------------------------------------------------------------------


def _encode(value, depth=0):
    if depth > 20:
        raise TypeError("nested too deeply")
    if value is None or isinstance(value, (bool, int, float, str)):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**63:
            return float(value)
        return value
    if value is Ellipsis:
        return {"__ellipsis__": 1}
    if isinstance(value, np.generic) and value.dtype.kind in "biufc":
        value = np.asarray(value)
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufc":
            raise TypeError(f"arrays of dtype {value.dtype} are not plain data")
        layout = layout_of(value)
        data = value.tobytes(order="C")
        return {"__nd__": [value.dtype.str, list(value.shape), layout,
                           base64.b64encode(data).decode("ascii")]}
    if isinstance(value, ConversionProblem):
        return {"__problem__": [value.reason, list(value.codes), value.component]}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, depth + 1) for v in value]}
    if isinstance(value, list):
        return [_encode(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {"__dict__": [[str(k), _encode(v, depth + 1)] for k, v in value.items()]}
    raise TypeError(f"a {type(value).__name__} is not plain data")


def _decode(value, depth=0):
    if depth > 20:
        raise ValueError("nested too deeply")
    if isinstance(value, list):
        return [_decode(v, depth + 1) for v in value]
    if not isinstance(value, dict):
        return value
    if "__nd__" in value:
        dtype_text, shape, layout, data = value["__nd__"]
        dtype = np.dtype(str(dtype_text))
        if dtype.kind not in "biufc" or dtype.hasobject:
            raise ValueError("not a numeric array")
        shape = tuple(int(n) for n in shape)
        flat = np.frombuffer(base64.b64decode(data), dtype=dtype)
        if flat.size != math.prod(shape):
            raise ValueError("array size does not match its shape")
        array = flat.reshape(shape).copy()
        return array if array.ndim == 0 else with_layout(array, str(layout))
    if "__tuple__" in value:
        return tuple(_decode(v, depth + 1) for v in value["__tuple__"])
    if "__ellipsis__" in value:
        return Ellipsis
    if "__problem__" in value:
        reason, codes, component = value["__problem__"]
        return ConversionProblem(str(reason)[:2000], [str(c) for c in codes][:5],
                                 component if type(component) is int else None)
    if "__dict__" in value:
        return {str(k): _decode(v, depth + 1) for k, v in value["__dict__"]}
    raise ValueError("unknown object in message")


def _pack(obj):
    body = json.dumps(_encode(obj)).encode("utf-8")
    return struct.pack("<Q", len(body)) + body


_GRADER_DIRS = tuple(os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep + d
                     for d in ("autograde", "grading"))


def _summary(exc):
    """``Type: message`` and the learner's last lines (grader frames left out)."""
    import traceback

    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not os.path.abspath(f.filename).startswith(_GRADER_DIRS)]
    lines = [f"{type(exc).__name__}: {exc}".rstrip(": ")]
    for f in frames[-3:]:
        where = f"line {f.lineno}" + (f" in {f.name}" if f.name != "<module>" else "")
        lines.append(f"  {where}" + (f": {f.line.strip()}" if f.line else ""))
    return "\n".join(lines)


def _plain_answer(value, depth=0):
    """A question's answer as plain data (or a ConversionProblem); runs in the child."""
    if value is None or value is Ellipsis or type(value) in (bool, int, float):
        return value
    if type(value) is str:
        return value[:1000]
    if isinstance(value, np.generic) and value.dtype.kind in "biufc":
        return value.item()
    for base in (bool, int, float, str):
        if isinstance(value, base):
            return _plain_answer(base(value), depth)
    if isinstance(value, (tuple, list)) and depth < 3:
        items = [_plain_answer(v, depth + 1) for v in list(value)[:33]]
        if len(items) > 32:
            return ConversionProblem("your answer is a very long sequence, not a short value.")
        bad = next((i for i in items if isinstance(i, ConversionProblem)), None)
        return bad or (tuple(items) if isinstance(value, tuple) else items)
    try:
        arr = np.asarray(value)
    except Exception:  # noqa: BLE001 - odd objects
        arr = None
    if arr is None or arr.dtype.kind not in "biufc" or arr.size > 32:
        return ConversionProblem(f"your answer (a {type(value).__name__}) is not a plain value.")
    return np.array(arr, copy=True)


# -- the child -----------------------------------------------------------------------


def _cut_network():
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return False
    for flags in (0x40000000, 0x40000000 | 0x10000000):  # CLONE_NEWNET (| CLONE_NEWUSER)
        if libc.unshare(flags) == 0:
            return True
    return False


def _set_limit(which, soft):
    with contextlib.suppress(ValueError, OSError):
        _, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        resource.setrlimit(which, (soft, soft if hard == resource.RLIM_INFINITY else hard))


class _Child:
    def __init__(self, namespace, limits, req_fd, res_fd, out_fd, status_fd):
        self.namespace, self.limits = namespace, limits
        self.req_fd, self.res_fd = req_fd, res_fd
        with contextlib.suppress(OSError):
            os.setpgid(0, 0)
        for name in ("SIGINT", "SIGTERM", "SIGALRM", "SIGHUP", "SIGCHLD", "SIGXCPU"):
            with contextlib.suppress(ValueError, OSError, AttributeError):
                signal.signal(getattr(signal, name), signal.SIG_DFL)
        with contextlib.suppress(Exception):
            ctypes.CDLL(None).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # die with the parent
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        keep = {0, 1, 2, req_fd, res_fd, status_fd}
        for fd in range(3, 1024):
            if fd not in keep:
                with contextlib.suppress(OSError):
                    os.close(fd)
        stream = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8",
                                  errors="backslashreplace", line_buffering=True,
                                  write_through=True)
        sys.stdout = sys.stderr = sys.__stdout__ = sys.__stderr__ = stream
        sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
        if limits.env is not None:
            os.environ.clear()
            os.environ.update({str(k): str(v) for k, v in limits.env.items()})
        if limits.cwd:
            os.chdir(limits.cwd)
        network = _cut_network() if limits.no_network else False
        if resource is not None:
            _set_limit(resource.RLIMIT_CORE, 0)
            if limits.cpu_seconds:
                used = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
                _set_limit(resource.RLIMIT_CPU, math.ceil(used + limits.cpu_seconds))
            if limits.memory_bytes:
                with open("/proc/self/statm", "rb") as handle:
                    base = int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
                _set_limit(resource.RLIMIT_AS, base + int(limits.memory_bytes))
        os.write(status_fd, b"n" if network else b"y")
        os.close(status_fd)

    def serve(self):
        while True:
            head = self._read(8)
            if head is None:
                return
            body = self._read(struct.unpack("<Q", head)[0])
            request = _decode(json.loads(body))
            response = self._handle(request)
            try:
                message = _pack(response)
            except (TypeError, ValueError) as exc:
                message = _pack({"kind": "ok", "value": ConversionProblem(
                    f"your function's result could not be sent back ({exc}).", ["dtype"])})
            sys.stdout.flush()
            view = memoryview(message)
            while len(view):
                view = view[os.write(self.res_fd, view):]

    def _read(self, n):
        chunks, left = [], n
        while left:
            chunk = os.read(self.req_fd, min(left, 1 << 20))
            if not chunk:
                return None
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def _handle(self, request):
        response = {"kind": "ok", "error": "", "value": None, "reference_calls": [],
                    "args_after": []}
        args = ()
        watcher = _ReferenceWatcher()
        start = time.perf_counter()
        try:
            if request["op"] == "exec":
                import linecache

                source, filename = request["source"], request["filename"]
                linecache.cache[filename] = (len(source), None, source.splitlines(True),
                                             filename)
                code = compile(source, filename, "exec")
                exec(code, self.namespace)  # noqa: S102 - the point of the sandbox
            else:
                target = self.namespace[request["name"]]
                args = tuple(request["args"])
                with watcher:
                    value = target(*args)
                conversion = request["conversion"]
                if conversion == "arrays":
                    from ..grading.conversion import to_plain

                    names = tuple(request["output_names"] or ()) or None
                    value = to_plain(value, names)
                elif conversion == "answer":
                    value = _plain_answer(value)
                else:
                    value = None
                response["value"] = value
        except BaseException as exc:  # noqa: BLE001 - the learner's code may raise anything
            response["kind"] = ("not_implemented" if isinstance(exc, NotImplementedError)
                                else "exit" if isinstance(exc, SystemExit) else "exception")
            response["error"] = _summary(exc)
            response["value"] = None
        response["seconds"] = time.perf_counter() - start
        response["reference_calls"] = sorted(watcher.entries)
        response["args_after"] = [a if isinstance(a, np.ndarray) and a.dtype.kind in "biufc"
                                  else None for a in args]
        return response


# -- the parent ---------------------------------------------------------------------


class ChildProcess:
    """A forked child serving ``run_code`` and ``call`` requests (see the module docstring)."""

    def __init__(self, namespace=None, limits=None):
        self.namespace = dict(namespace or {})
        self.limits = limits or ChildLimits()
        self.pid, self.status = None, None
        self._network = None
        pipes = [os.pipe() for _ in range(4)]
        (req_r, req_w), (res_r, res_w), (out_r, out_w), (st_r, st_w) = pipes
        try:
            pid = os.fork()
        except OSError as exc:
            for fd in (fd for pair in pipes for fd in pair):
                os.close(fd)
            raise ChildStartError(exc.errno, f"could not start a child process: {exc}") from exc
        if pid == 0:
            code = 0
            try:
                _Child(self.namespace, self.limits, req_r, res_w, out_w, st_w).serve()
            except BaseException:  # noqa: BLE001 - nothing may escape the child
                code = _CHILD_FAILED
            finally:
                os._exit(code)
        with contextlib.suppress(OSError):
            os.setpgid(pid, pid)
        for fd in (req_r, res_w, out_w, st_w):
            os.close(fd)
        self.pid = pid
        self._req, self._res, self._out, self._status_fd = req_w, res_r, out_r, st_r
        os.set_blocking(res_r, False)
        os.set_blocking(out_r, False)

    @property
    def alive(self):
        return self.pid is not None and self.status is None

    @property
    def network_isolated(self):
        if self._network is None and self.alive:
            ready, _, _ = select.select([self._status_fd], [], [], 30)
            self._network = bool(ready) and os.read(self._status_fd, 1) == b"n"
        return bool(self._network)

    def run_code(self, source, *, timeout=None, filename="<cell>"):
        return self._roundtrip({"op": "exec", "source": str(source),
                                "filename": str(filename)}, timeout)

    def call(self, name, args=(), *, timeout=None, output_names=None, conversion="arrays",
             wrap=None, measure_memory=False):
        if wrap is not None:  # pragma: no cover - the autograder wraps in child_side
            raise NotImplementedError("the interim child does not wrap answers")
        return self._roundtrip({"op": "call", "name": str(name), "args": tuple(args),
                                "output_names": list(output_names or ()),
                                "conversion": conversion}, timeout)

    def _roundtrip(self, request, timeout):
        if not self.alive:
            return CallOutcome(kind="crashed", error="the child process is not running")
        self.network_isolated  # noqa: B018 - wait until the child has set itself up
        timeout = float(timeout or 3.0)
        start = time.perf_counter()
        deadline = start + timeout
        output = bytearray()
        try:
            message = _pack(request)
            view = memoryview(message)
            while len(view):
                view = view[os.write(self._req, view):]
            body = self._receive(deadline, output)
        except OSError:
            body = None
        text = output[:4 * self.limits.output_chars].decode("utf-8", "replace")
        if len(text) > self.limits.output_chars or len(output) > 4 * self.limits.output_chars:
            text = text[:self.limits.output_chars] + "\n... (more output not shown)"
        if body is None:
            timed_out = time.perf_counter() >= deadline
            self.close()
            outcome = self._ending(timed_out, timeout)
        else:
            outcome = self._outcome(body)
        outcome.output = text
        outcome.seconds = outcome.seconds or time.perf_counter() - start
        return outcome

    def _receive(self, deadline, output):
        head, body, need = b"", b"", None
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                return None
            ready, _, _ = select.select([self._res, self._out], [], [], left)
            if self._out in ready:
                with contextlib.suppress(BlockingIOError):
                    data = os.read(self._out, 1 << 20)
                    if len(output) < 16 * self.limits.output_chars:
                        output += data
            if self._res in ready:
                try:
                    data = os.read(self._res, 1 << 20)
                except BlockingIOError:
                    continue
                if not data:
                    return None
                if need is None:
                    head += data
                    if len(head) >= 8:
                        need = struct.unpack("<Q", head[:8])[0]
                        if need > _MAX_MESSAGE:
                            return None
                        body, head = head[8:], b""
                else:
                    body += data
                if need is not None and len(body) >= need:
                    with contextlib.suppress(BlockingIOError, OSError):
                        output += os.read(self._out, 1 << 20)
                    return body[:need]

    def _outcome(self, body):
        try:
            response = _decode(json.loads(body))
        except (ValueError, TypeError, KeyError) as exc:
            return CallOutcome(kind="ok", value=ConversionProblem(
                f"your function's result could not be read ({exc}).", ["dtype"]))
        if not isinstance(response, dict):
            return CallOutcome(kind="crashed", error="the child sent something odd")
        kind = response.get("kind") if response.get("kind") in _KINDS else "crashed"
        outcome = CallOutcome(kind=kind, error=str(response.get("error") or "")[:20000])
        calls = response.get("reference_calls")
        outcome.reference_calls = tuple(str(c) for c in calls[:100]) if isinstance(
            calls, list) else ()
        seconds = response.get("seconds")
        outcome.seconds = float(seconds) if isinstance(seconds, float) else 0.0
        after = response.get("args_after")
        outcome.args_after = tuple(a if isinstance(a, np.ndarray) else None for a in after) \
            if isinstance(after, list) else ()
        if kind == "ok":
            outcome.value = response.get("value")
        return outcome

    def _ending(self, timed_out, timeout):
        if timed_out:
            return CallOutcome(kind="timeout", error=f"stopped after {timeout:g} s")
        status = self.status
        if status is None:
            return CallOutcome(kind="crashed", error="the child process stopped answering")
        if os.WIFSIGNALED(status):
            name = signal.Signals(os.WTERMSIG(status)).name
            return CallOutcome(kind="crashed", error=f"the process was killed by {name}")
        code = os.WEXITSTATUS(status)
        if code == _CHILD_FAILED:
            return CallOutcome(kind="crashed", error="the child process failed")
        return CallOutcome(kind="exit", error=f"ended its process (exit status {code}, as "
                                              f"os._exit({code}) does)")

    def close(self):
        if self.pid is None:
            return
        if self.status is None:
            for kill in (os.killpg, os.kill):
                with contextlib.suppress(OSError):
                    kill(self.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                _, self.status = os.waitpid(self.pid, 0)
            if self.status is None:
                self.status = -1
        for fd in (self._req, self._res, self._out, self._status_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._req = self._res = self._out = self._status_fd = -1

    def __del__(self):
        with contextlib.suppress(Exception):
            self.close()
