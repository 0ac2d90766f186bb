"""check() survives whatever the learner's code does, and its feedback stays honest."""

from __future__ import annotations

import inspect
import signal
import sys
import threading
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backprop_lib import functional as F
from backprop_lib.functional import softmax as imported_reference_softmax
from backprop_lib.grading import CheckResult, check
from backprop_lib.grading.registry import get_exercise
from backprop_lib.grading.runner import guarded_call

STATUSES = {"passed", "failed", "not attempted", "error", "timeout"}


@pytest.fixture(autouse=True)
def _private_progress(tmp_path, monkeypatch):
    monkeypatch.setenv("BACKPROP_PROGRESS_FILE", str(tmp_path / "progress.json"))


def softmax_ok(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# ---------------------------------------------------------------------------
# Hostile answers end as a status
# ---------------------------------------------------------------------------


def test_infinite_loop_times_out_quickly():
    def spin(z):
        while True:
            pass

    start = time.perf_counter()
    result = check("softmax", spin, timeout=0.3)
    assert result.status == "timeout"
    assert time.perf_counter() - start < 2.0
    assert "time limit" in result.message


def test_loop_that_catches_exceptions_still_times_out():
    def stubborn(z):
        while True:
            try:
                while True:
                    pass
            except Exception:  # noqa: BLE001 - what a careless learner writes
                pass

    assert check("softmax", stubborn, timeout=0.2).status == "timeout"


def test_code_that_catches_the_timeout_and_returns_is_still_a_timeout():
    def sly(z):
        try:
            while True:
                pass
        except BaseException:  # noqa: BLE001
            return np.full(z.shape, 1.0 / z.shape[-1])

    assert check("softmax", sly, timeout=0.2).status == "timeout"


def test_timeout_from_environment_variable(monkeypatch):
    monkeypatch.setenv("BACKPROP_CHECK_TIMEOUT", "0.2")

    def slow(z):
        time.sleep(5)

    start = time.perf_counter()
    assert check("softmax", slow).status == "timeout"
    assert time.perf_counter() - start < 2.0


def test_timeout_in_a_worker_thread_uses_the_thread_fallback():
    def slow_then_done(z):
        end = time.perf_counter() + 1.0
        while time.perf_counter() < end:
            pass
        return softmax_ok(z)

    box = {}
    worker = threading.Thread(target=lambda: box.update(r=check("softmax", slow_then_done,
                                                                 timeout=0.2)))
    worker.start()
    worker.join(10)
    assert box["r"].status == "timeout"
    time.sleep(1.0)  # let the abandoned call finish before other tests run


@pytest.mark.parametrize("timeout", [0, -1, "soon", float("nan"), float("inf")])
def test_nonsense_timeouts_fall_back_to_the_default(timeout):
    assert check("softmax", softmax_ok, timeout=timeout).passed


@pytest.mark.parametrize("exiting", [lambda z: sys.exit(1), lambda z: exit(), lambda z: quit(0)])
def test_sys_exit_is_an_error_not_an_exit(exiting):
    result = check("softmax", exiting)
    assert result.status == "error"
    assert "exit" in result.message


def test_huge_print_is_captured_and_truncated(capsys):
    def chatty(z):
        print("x" * 5_000_000)
        for _ in range(1000):
            print("line")
        return softmax_ok(z) * 2

    result = check("softmax", chatty)
    assert result.status == "failed"
    assert len(result.output) < 10_000
    assert "more characters not shown" in result.output
    assert "xxxx" not in capsys.readouterr().out


def test_exception_reports_type_and_learner_line_without_grader_frames():
    def broken(z):
        e = np.exp(z)
        return e / e.sum(axis=-1)  # forgot keepdims

    result = check("softmax", broken)
    assert result.status == "error"
    assert "ValueError" in result.message and "keepdims" in result.message
    assert "e.sum(axis=-1)" in result.error
    assert "grading" not in result.error


class OddEq:
    def __eq__(self, other):
        raise RuntimeError("do not compare me")

    __hash__ = object.__hash__


class OddArray:
    def __array__(self, dtype=None, copy=None):
        raise RuntimeError("no array for you")


class SlowArray:
    def __array__(self, dtype=None, copy=None):
        while True:
            pass


@pytest.mark.parametrize("value, code", [
    (None, None),
    ("a string", "dtype"),
    (OddEq(), "dtype"),
    (OddArray(), "dtype"),
    (3, "dtype"),
    ([[1, 2], [3]], "dtype"),
    (np.full((2, 3), np.nan), "not_finite"),
    (np.zeros((3, 2)), "shape"),
    (np.zeros((2, 3), dtype=complex), "dtype"),
])
def test_odd_return_values_fail_politely(value, code):
    result = check("softmax", lambda z: value, timeout=0.5)
    assert result.status == "failed", str(result)
    if code:
        assert code in result.diagnosis
    assert str(result) and result._repr_html_()


def test_a_returned_object_whose_conversion_never_ends_times_out():
    result = check("softmax", lambda z: SlowArray(), timeout=0.5)
    assert result.status == "timeout", str(result)


def test_lists_instead_of_arrays_are_fine():
    def as_lists(z):
        return softmax_ok(np.asarray(z)).tolist()

    assert check("softmax", as_lists).passed


def test_python_float_for_a_scalar_loss_is_fine():
    def loss(z, y):
        m = z.max(axis=1, keepdims=True)
        logp = z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))
        return float(-logp[np.arange(len(y)), y].mean())

    assert check("cross_entropy", loss).passed


@pytest.mark.parametrize("answer", [None, 42, np.zeros(3), "softmax", [softmax_ok]])
def test_non_function_answer_is_an_error_with_advice(answer):
    result = check("softmax", answer)
    assert result.status == "error"
    assert "without parentheses" in result.message


@pytest.mark.parametrize("bad_id", ["softmx", "Softmax_Jacobian ", 42, None, ""])
def test_unknown_exercise_is_a_friendly_error(bad_id):
    result = check(bad_id, softmax_ok)
    assert isinstance(result, CheckResult)
    assert result.status == "error"
    assert "no exercise" in result.message


def test_unknown_exercise_lists_close_matches():
    assert "'softmax'" in check("softmx", softmax_ok).message
    assert "'softmax_jacobian'" in check("softmax_jacobain", softmax_ok).message


def test_keyboard_interrupt_still_stops_the_check():
    def interrupted(z):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        check("softmax", interrupted)


def test_every_status_is_a_known_status():
    answers = [softmax_ok, lambda z: 1 / 0, lambda z: None]
    for answer in answers:
        assert check("softmax", answer).status in STATUSES


# ---------------------------------------------------------------------------
# Watchers: reference use, mutation, and that the grader cleans up
# ---------------------------------------------------------------------------


def test_reference_imported_before_the_check_is_still_detected():
    def sneaky(z):
        return imported_reference_softmax(z)

    result = check("softmax", sneaky)
    assert result.status == "failed"
    assert result.diagnosis == ["uses_reference"]


def test_reference_used_for_a_helper_is_detected():
    def cross_entropy(z, y):
        return -F.log_softmax(z)[np.arange(len(y)), y].mean()

    assert "uses_reference" in check("cross_entropy", cross_entropy).diagnosis


def test_mutation_is_reported_even_when_values_are_right():
    def in_place(z):
        z -= z.max(axis=-1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=-1, keepdims=True)
        return z

    result = check("softmax", in_place)
    assert result.status == "failed"
    assert result.diagnosis == ["mutates_input"]
    assert "changed its input z" in result.message


def test_existing_alarm_and_profiler_are_restored():
    if not hasattr(signal, "setitimer"):
        pytest.skip("no interval timers on this platform")
    fired = []

    def handler(signum, frame):
        fired.append(signum)

    def hook(frame, event, arg):
        return None

    old = signal.signal(signal.SIGALRM, handler)
    previous_profile = sys.getprofile()
    try:
        signal.setitimer(signal.ITIMER_REAL, 50.0)
        sys.setprofile(hook)
        check("softmax", softmax_ok)
        check("softmax", lambda z: 1 / 0)
        assert sys.getprofile() is hook
        sys.setprofile(previous_profile)
        assert signal.getsignal(signal.SIGALRM) is handler
        remaining = signal.getitimer(signal.ITIMER_REAL)[0]
        assert 40.0 < remaining <= 50.0
    finally:
        sys.setprofile(previous_profile)
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert fired == []


def test_guarded_call_reports_what_happened():
    ok = guarded_call(lambda: 41 + 1)
    assert (ok.kind, ok.value) == ("ok", 42)
    assert guarded_call(lambda: 1 / 0).kind == "exception"
    assert guarded_call(lambda: sys.exit()).kind == "exit"

    def stub():
        raise NotImplementedError()

    assert guarded_call(stub).kind == "not_implemented"
    assert guarded_call(lambda: F.softmax(np.zeros(3))).reference_calls == ("softmax",)
    assert guarded_call(lambda: np.zeros(3)).reference_calls == ()


def test_one_hot_is_an_allowed_helper():
    def grad(z, y):
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True) - F.one_hot(y, z.shape[1])) / len(y)

    assert check("cross_entropy_grad", grad).passed


def test_reference_use_names_the_function():
    result = check("softmax", lambda z: F.softmax(z))
    assert "softmax()" in result.message


def test_warnings_from_learner_code_are_captured_not_shown(recwarn):
    def naive(z):
        e = np.exp(z)
        return e / e.sum(axis=-1, keepdims=True)

    result = check("softmax", naive)
    assert "overflow" in result.diagnosis
    assert "RuntimeWarning" in result.output
    assert len(recwarn) == 0


def test_correct_answers_are_confirmed_fast():
    exercise = get_exercise("softmax_jacobian_batch")

    def batch(S):
        return S[:, :, None] * np.eye(S.shape[1]) - S[:, :, None] * S[:, None, :]

    times = []
    for seed in range(5):
        start = time.perf_counter()
        assert exercise.grade(batch, timeout=3, seed=seed).passed
        times.append(time.perf_counter() - start)
    assert sorted(times)[2] < 0.5


# ---------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------


def _reference_source_lines():
    lines = set()
    for name in F.__all__:
        for line in inspect.getsource(getattr(F, name)).splitlines():
            line = line.strip()
            if len(line) > 25 and not line.startswith(('"', "'", "#")):
                lines.add(line)
    return lines


def test_feedback_never_contains_reference_source():
    source_lines = _reference_source_lines()
    answers = [softmax_ok, lambda z: softmax_ok(z).T, lambda z: 1 / 0, lambda z: None,
               lambda z: np.exp(z) / np.exp(z).sum(-1, keepdims=True),
               lambda z: imported_reference_softmax(z)]
    for exercise_id in ("softmax", "log_softmax", "cross_entropy_grad"):
        for answer in answers:
            result = check(exercise_id, answer)
            shown = result._repr_html_() + str(result) + result.message
            leaked = [line for line in source_lines if line in shown]
            assert leaked == [], leaked


def test_html_panel_has_the_promised_parts():
    result = check("softmax", lambda z: np.exp(z) / np.exp(z).sum(-1, keepdims=True))
    html = result._repr_html_()
    for part in ("failed", "0 / 2 points", "What was tested", "Expected shape", "Your shape",
                 "First mismatch", "Overflow", 'hint(&quot;softmax&quot;)'):
        assert part in html, part


def test_html_escapes_what_the_learner_printed():
    def printer(z):
        print("<script>alert(1)</script>")
        return None

    html = check("softmax", printer)._repr_html_()
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


def test_passed_result_says_public_and_hidden_honestly():
    result = check("softmax", softmax_ok)
    assert "passed all 3 public and" in result.message.lower()
    assert "hidden" in result.message
    assert result.diagnosis == [] and bool(result)


def test_without_a_kernel_the_bundle_is_html_and_text_only():
    result = check("softmax", lambda z: None)
    bundle = result._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}
    assert "hint(" in bundle["text/plain"]


def test_with_a_kernel_the_bundle_adds_a_working_hint_button(monkeypatch):
    import IPython

    class FakeShell:
        kernel = object()

    monkeypatch.setattr(IPython, "get_ipython", lambda: FakeShell())
    result = check("softmax", lambda z: None)
    bundle = result._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "hint(" in bundle["text/html"]  # the fallback for frontends without widgets

    from backprop_lib.grading.feedback import _hint_widget

    box = _hint_widget(result)
    panel, button, shown = box.children
    button.click()
    assert "Hint 1 of" in shown.value
    button.click()
    assert "Hint 2 of" in shown.value
    assert _hint_widget(check("softmax", softmax_ok)) is None


@pytest.mark.parametrize("variable, value", [("NBGRADER_EXECUTION", "autograde"),
                                             ("NBGRADER_EXECUTION", "validate"),
                                             ("BACKPROP_CHECK_RAISE", "1")])
def test_under_an_autograder_a_failure_raises(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    assert check("softmax", softmax_ok).passed
    with pytest.raises(AssertionError, match="failed"):
        check("softmax", lambda z: None)
    with pytest.raises(AssertionError, match="no exercise"):
        check("no_such_exercise", softmax_ok)


def test_outside_an_autograder_nothing_raises(monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.setenv("BACKPROP_CHECK_RAISE", "0")
    assert check("softmax", lambda z: None).status == "failed"


_ANY_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
    | st.text(max_size=5) | st.complex_numbers(),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=2), inner, max_size=2),
    max_leaves=8,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=_ANY_VALUE, exercise_id=st.sampled_from(["softmax", "cross_entropy",
                                                      "dense_backward", "shape_of_dW",
                                                      "why_elementwise_fails"]))
def test_any_returned_value_ends_as_a_status(value, exercise_id):
    answer = value if get_exercise(exercise_id).kind == "question" else (lambda *a: value)
    result = check(exercise_id, answer)
    assert result.status in STATUSES
    assert str(result) and result._repr_html_()


def test_slow_but_finite_code_runs_out_of_the_total_budget():
    def sluggish(z):
        time.sleep(0.06)
        return softmax_ok(z)

    start = time.perf_counter()
    result = check("softmax", sluggish, timeout=0.1)
    assert result.status == "timeout"
    assert "too slow" in result.message
    assert time.perf_counter() - start < 1.5


def test_calls_ending_right_at_the_time_limit_leave_no_timer_behind():
    if not hasattr(signal, "setitimer"):
        pytest.skip("no interval timers on this platform")

    def busy(seconds):
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            pass
        return seconds

    handler_before = signal.getsignal(signal.SIGALRM)
    rng = np.random.default_rng(0)
    kinds = {guarded_call(busy, (float(rng.uniform(0.0005, 0.0025)),), timeout=0.0015).kind
             for _ in range(300)}
    assert kinds <= {"ok", "timeout"}
    assert signal.getsignal(signal.SIGALRM) is handler_before
    assert signal.getitimer(signal.ITIMER_REAL)[0] == 0 or handler_before not in (
        signal.SIG_DFL, None)
