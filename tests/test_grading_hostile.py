"""Hostile and unlucky learner code ends as a clear status, and cannot pass without the work.

Each route of issue 8, section 3, through ``check()``: with the child-process runner
(the default on Linux) and, where the in-process runner can cope, with it too. After
each hostile call the same process must still grade an honest answer.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import tracemalloc
import warnings

import numpy as np
import pytest
from process_helpers import wait_until_gone

from backprop_lib import functional as F
from backprop_lib.grading import check
from backprop_lib.grading import child_process as child_module
from backprop_lib.grading.registry import all_exercises

pytestmark = pytest.mark.skipif(not child_module.fork_available(), reason="needs fork")


@pytest.fixture(autouse=True)
def _private_progress(tmp_path, monkeypatch):
    monkeypatch.setenv("BACKPROP_PROGRESS_FILE", str(tmp_path / "progress.json"))
    monkeypatch.delenv("BACKPROP_CHECK_ISOLATION", raising=False)


@pytest.fixture(params=["process", "inprocess"])
def isolation(request, monkeypatch):
    monkeypatch.setenv("BACKPROP_CHECK_ISOLATION", request.param)
    return request.param


def softmax_ok(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def vjp_ok(s, g):
    return s * (g - (g * s).sum(axis=-1, keepdims=True))


def vjp_forming_j(s, g):
    out = np.empty(np.shape(s))
    for n in range(len(s)):
        J = np.diag(s[n]) - np.outer(s[n], s[n])
        out[n] = g[n] @ J
    return out


def still_works():
    result = check("softmax", softmax_ok)
    assert result.passed, str(result)


def pid_is_gone(pid, seconds=5.0):
    child_module._reap_killed(block=True)
    return wait_until_gone(pid, seconds)


# ---------------------------------------------------------------------------
# Code that would hang the kernel
# ---------------------------------------------------------------------------


def swallow_everything(z):
    while True:
        try:
            while True:
                pass
        except BaseException:  # noqa: BLE001 - the hostile route itself
            pass


def ignore_the_alarm(z):
    signal.signal(signal.SIGALRM, signal.SIG_IGN)
    while True:
        pass


def reset_the_timer(z):
    while True:
        signal.setitimer(signal.ITIMER_REAL, 0)


def sleep_forever(z):
    time.sleep(10_000)


@pytest.mark.parametrize("answer", [swallow_everything, ignore_the_alarm, reset_the_timer,
                                    sleep_forever])
def test_code_that_defeats_in_process_limits_times_out_in_the_child(answer):
    start = time.perf_counter()
    result = check("softmax", answer, timeout=0.5)
    assert result.status == "timeout", str(result)
    assert time.perf_counter() - start < 5
    assert signal.getsignal(signal.SIGALRM) is not signal.SIG_IGN  # the kernel's is untouched
    still_works()


def test_a_timed_out_child_and_what_it_started_are_killed(tmp_path):
    pid_file = tmp_path / "pids"

    def spawn_and_spin(z):
        pid = os.fork()
        if pid == 0:
            while True:
                time.sleep(0.01)
        with open(pid_file, "w") as handle:
            handle.write(f"{os.getpid()} {pid}")
        while True:
            pass

    assert check("softmax", spawn_and_spin, timeout=0.5).status == "timeout"
    child, grandchild = map(int, pid_file.read_text().split())
    assert pid_is_gone(child) and pid_is_gone(grandchild)


def test_keyboard_interrupt_stops_the_check_and_kills_the_child(tmp_path):
    pid_file = tmp_path / "pid"

    def spin(z):
        pid_file.write_text(str(os.getpid()))
        while True:
            pass

    timer = threading.Timer(0.7, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    start = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        check("softmax", spin, timeout=30)
    assert time.perf_counter() - start < 10
    timer.join()
    assert pid_is_gone(int(pid_file.read_text()))
    still_works()


# ---------------------------------------------------------------------------
# Code that would end or crash the kernel
# ---------------------------------------------------------------------------


class ExitingArray:
    def __array__(self, dtype=None, copy=None):
        os._exit(4)


class SegfaultingArray:
    def __array__(self, dtype=None, copy=None):
        import ctypes

        ctypes.string_at(0)


@pytest.mark.parametrize("answer, status, words", [
    (lambda z: os._exit(3), "error", "os._exit(3)"),
    (lambda z: ExitingArray(), "error", "os._exit(4)"),
    (lambda z: SegfaultingArray(), "error", "segmentation fault"),
    (lambda z: os.kill(os.getpid(), signal.SIGKILL), "error", "SIGKILL"),
    (lambda z: sys.exit(2), "error", "exit"),
])
def test_code_that_ends_its_process_is_an_error_and_the_kernel_survives(answer, status, words):
    result = check("softmax", answer)
    assert result.status == status, str(result)
    assert words in result.message, result.message
    still_works()


def test_a_memory_bomb_is_a_memory_error(monkeypatch):
    monkeypatch.setenv("BACKPROP_CHECK_MEMORY_MB", "256")

    def bomb(z):
        blocks = []
        while True:
            blocks.append(np.ones(2**24))

    start = time.perf_counter()
    result = check("softmax", bomb, timeout=20)
    assert result.status == "error", str(result)
    assert "MemoryError" in result.message
    assert time.perf_counter() - start < 15
    still_works()


def test_input_is_refused_politely():
    result = check("softmax", lambda z: input("value? "))
    assert result.status == "error"
    assert "input() is not available" in result.message


# ---------------------------------------------------------------------------
# A floating-point state set by the learner
# ---------------------------------------------------------------------------


def _honest_answers():
    return {
        "softmax": softmax_ok,
        "log_softmax": lambda z: (z - z.max(-1, keepdims=True))
        - np.log(np.exp(z - z.max(-1, keepdims=True)).sum(-1, keepdims=True)),
        "softmax_vjp": vjp_ok,
        "softmax_jacobian_batch": lambda S: S[:, :, None] * np.eye(S.shape[1])
        - S[:, :, None] * S[:, None, :],
        "cross_entropy_grad": lambda z, y: (softmax_ok(z) - np.eye(z.shape[1])[y]) / len(y),
    }


@pytest.mark.parametrize("setting", ["seterr", "warnings"])
def test_learner_floating_point_settings_change_nothing(isolation, setting):
    old = np.seterr()
    try:
        with warnings.catch_warnings():
            if setting == "seterr":
                np.seterr(all="raise")
            else:
                warnings.simplefilter("error")
            for exercise_id, answer in _honest_answers().items():
                result = check(exercise_id, answer)
                assert result.passed, f"{exercise_id}: {result}"
            for exercise in all_exercises():  # wrong answers: never "the grader itself failed"
                result = check(exercise.id, (lambda *a: np.zeros(3)) if
                               exercise.kind == "function" else "a")
                assert "grader itself failed" not in result.message, str(result)
    finally:
        np.seterr(**old)


# ---------------------------------------------------------------------------
# Passing without doing the work
# ---------------------------------------------------------------------------


def test_the_function_given_to_numerical_gradient_holds_no_gradient(isolation, tmp_path):
    report = tmp_path / "report"

    def inspect_f(f, x, h=1e-5):
        reachable = [name for name in ("grad", "gradient", "_grad") if hasattr(f, name)]
        reachable += [k for k in getattr(f, "__globals__", {}) if "grad" in k.lower()]
        cells = [c.cell_contents for c in (f.__closure__ or ())]
        try:  # the first case only: later queued cases may be cut short when the check fails
            with open(report, "x") as handle:
                handle.write(f"{type(f).__name__} {reachable} {len(cells)}")
        except FileExistsError:
            pass
        return np.zeros_like(x)

    check("numerical_gradient", inspect_f)
    assert report.read_text() == "function [] 0"
    assert check("numerical_gradient", lambda f, x, h=1e-5: f.grad(x)).status == "error"


def _call_in_thread(function, *args):
    box = {}
    worker = threading.Thread(target=lambda: box.update(value=function(*args)))
    worker.start()
    worker.join()
    return box["value"]


class LazySoftmax:
    def __init__(self, z):
        self.z = z

    def __array__(self, dtype=None, copy=None):
        return F.softmax(self.z)


class LazyLoss:
    def __init__(self, z, y):
        self.z, self.y = z, y

    def __float__(self):
        return float(F.cross_entropy(self.z, self.y))


def _after_setprofile_none(z):
    sys.setprofile(None)
    threading.setprofile(None)
    return F.softmax(z)


@pytest.mark.parametrize("exercise_id, answer", [
    ("softmax", _after_setprofile_none),
    ("softmax", lambda z: _call_in_thread(F.softmax, z)),
    ("softmax", lambda z: LazySoftmax(z)),
    ("cross_entropy", lambda z, y: LazyLoss(z, y)),
])
def test_the_reference_is_found_on_every_route(isolation, exercise_id, answer):
    result = check(exercise_id, answer)
    assert result.status == "failed", str(result)
    assert result.diagnosis == ["uses_reference"]


# A fresh copy of a reference module: the learner's code reloads it, imports its file a
# second time or runs it with runpy, so its functions are new objects with the original code.
# Run in a new interpreter: reloading backprop_lib.functional here would swap the function
# objects every other test imported.
_FRESH_COPY_SCRIPT = """
import importlib, importlib.util, json, runpy, sys
import numpy as np
import backprop_lib.functional as F
from backprop_lib.grading import check

def honest(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)

def reload_inside(z):
    importlib.reload(F)
    return F.softmax(z)

def run_path_inside(z):
    return runpy.run_path(F.__file__)["softmax"](z)

results = {}
results["reload inside"] = check("softmax", reload_inside)
results["run_path inside"] = check("softmax", run_path_inside)
importlib.reload(F)  # an earlier cell
results["reloaded before"] = check("softmax", lambda z: F.softmax(z))
spec = importlib.util.spec_from_file_location("my_functional", F.__file__)
copy = importlib.util.module_from_spec(spec)
spec.loader.exec_module(copy)  # an earlier cell
results["file imported again before"] = check("softmax", lambda z: copy.softmax(z))
results["honest afterwards"] = check("softmax", honest)
library_still_works = bool(np.allclose(F.softmax(np.zeros(4)), 0.25)
                           and np.allclose(copy.softmax(np.zeros(2)), 0.5))
print(json.dumps({"library_still_works": library_still_works, "results": {
    route: [r.status, r.diagnosis, r.message] for route, r in results.items()}}))
"""


@pytest.mark.parametrize("mode", ["process", "inprocess"])
def test_a_fresh_copy_of_the_reference_is_found(mode, tmp_path):
    import json
    import subprocess

    env = dict(os.environ, BACKPROP_CHECK_ISOLATION=mode,
               BACKPROP_PROGRESS_FILE=str(tmp_path / "progress.json"))
    run = subprocess.run([sys.executable, "-c", _FRESH_COPY_SCRIPT], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout.strip().splitlines()[-1])
    results = report["results"]
    assert report["library_still_works"]
    for route in ("reload inside", "run_path inside", "reloaded before",
                  "file imported again before"):
        status, diagnosis, message = results[route]
        assert (status, diagnosis) == ("failed", ["uses_reference"]), (route, message)
    for route in ("reload inside", "run_path inside"):
        assert "backprop_lib.functional's code again" in results[route][2]
    assert "softmax()" in results["reloaded before"][2]
    assert results["honest afterwards"][0] == "passed", results["honest afterwards"]


def test_stopping_tracemalloc_does_not_hide_a_jacobian(isolation):
    def sneaky(s, g):
        if tracemalloc.is_tracing():
            tracemalloc.stop()
        return vjp_forming_j(s, g)

    result = check("softmax_vjp", sneaky)
    assert result.status in ("failed", "error"), str(result)
    assert "MiB" in result.message or "tracemalloc" in result.message
    if isolation == "process":
        assert "allocated" in result.message and "limit is" in result.message
    assert check("softmax_vjp", vjp_ok).passed


def test_forming_j_is_found_even_when_the_kernel_holds_free_memory():
    # A kernel that built big arrays before keeps free memory resident in its heap, and
    # glibc raises its mmap threshold; the forked child must not form J in those pages.
    for _ in range(3):
        block = np.ones(3 * 2**20)
        del block
    blocks = [np.ones(2**20) for _ in range(4)]
    pin = np.ones(1000)  # keeps the freed blocks below the top of the heap
    del blocks
    result = check("softmax_vjp", vjp_forming_j)
    assert result.status == "failed" and "allocated" in result.message, str(result)
    assert check("softmax_vjp", vjp_ok).passed
    del pin


def test_forming_j_is_measured_by_the_child_and_honest_answers_pass():
    assert "allocated" in check("softmax_vjp", vjp_forming_j).message
    for honest in (vjp_ok, lambda s, g: s * g - s * np.einsum("nk,nk->n", s, g)[:, None]):
        assert check("softmax_vjp", honest).passed


# ---------------------------------------------------------------------------
# Huge output
# ---------------------------------------------------------------------------


def test_huge_prints_at_every_level_are_capped():
    def chatty(z):
        for _ in range(2000):
            print("x" * 10_000)
        os.write(1, b"y" * 5_000_000)
        os.write(2, b"z" * 100_000)
        return softmax_ok(z) * 2

    start = time.perf_counter()
    result = check("softmax", chatty)
    assert result.status == "failed"
    assert len(result.output) < 12_000
    assert "not shown" in result.output
    assert time.perf_counter() - start < 10


def test_a_huge_result_is_a_failure_not_a_crash():
    result = check("softmax", lambda z: np.zeros((2**15, 2**12)) if z.ndim == 2 else
                   softmax_ok(z))
    assert result.status == "failed", str(result)
    assert "shape" in result.diagnosis


def test_every_exercise_survives_an_exiting_answer():
    for exercise in all_exercises():
        answer = (lambda *a: os._exit(0)) if exercise.kind == "function" else (
            lambda: os._exit(0))
        result = check(exercise.id, answer)
        assert result.status == "error", f"{exercise.id}: {result}"
    still_works()


_IN_PROCESS_EXIT_SCRIPT = """
import json, os, sys
import numpy as np
from backprop_lib.grading import check
from backprop_lib.grading.registry import all_exercises

class ExitingArray:
    def __array__(self, dtype=None, copy=None):
        os._exit(4)

platform_module = sys.modules[os.name]
routes = {"os._exit(3)": lambda z: os._exit(3), "__array__": lambda z: ExitingArray(),
          "platform _exit": lambda z: platform_module._exit(1), "os.abort": lambda z: os.abort()}
results = {name: [check("softmax", answer).status, check("softmax", answer).message]
           for name, answer in routes.items()}
every = {}
for exercise in all_exercises():
    answer = (lambda *a: os._exit(0)) if exercise.kind == "function" else (lambda: os._exit(0))
    every[exercise.id] = check(exercise.id, answer).status

def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)

print(json.dumps({"routes": results, "every": every, "honest": check("softmax", softmax).status,
                  "restored": os._exit.__name__ == "_exit" and os.abort.__name__ == "abort"}))
"""


def test_os_exit_cannot_end_the_kernel_in_process_either(tmp_path):
    """Windows, macOS and JupyterLite run answers in the kernel: os._exit there must raise."""
    import json
    import subprocess

    env = dict(os.environ, BACKPROP_CHECK_ISOLATION="inprocess",
               BACKPROP_PROGRESS_FILE=str(tmp_path / "progress.json"))
    run = subprocess.run([sys.executable, "-c", _IN_PROCESS_EXIT_SCRIPT], env=env,
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, (run.returncode, run.stderr[-2000:])
    report = json.loads(run.stdout.strip().splitlines()[-1])
    for name, (status, message) in report["routes"].items():
        assert status == "error", (name, message)
        assert "which would end your kernel" in message, (name, message)
    assert "os._exit(3)" in report["routes"]["os._exit(3)"][1]
    assert "os.abort()" in report["routes"]["os.abort"][1]
    assert set(report["every"].values()) == {"error"}, report["every"]
    assert report["honest"] == "passed" and report["restored"]


def test_question_answers_with_hostile_methods_cannot_end_the_kernel():
    class Sneaky:
        def __index__(self):
            os._exit(5)

        def __array__(self, dtype=None, copy=None):
            os._exit(5)

        def __float__(self):
            os._exit(5)

    questions = [e.id for e in all_exercises() if e.kind == "question"]
    assert len(questions) >= 3
    for exercise_id in questions[:3]:
        result = check(exercise_id, Sneaky())
        assert result.status == "error", str(result)
        assert "could not be read" in result.message
    still_works()


def test_what_a_call_printed_before_its_time_ran_out_is_shown():
    def debug_print_then_hang(z):
        print("starting the loop")
        os.write(2, b"raw descriptor output\n")
        while True:
            pass

    result = check("softmax", debug_print_then_hang, timeout=0.5)
    assert result.status == "timeout"
    assert "starting the loop" in result.output and "raw descriptor output" in result.output
