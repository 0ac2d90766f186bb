"""The structural diagnosis, stage by stage: factors, decomposition, transforms, shape errors,
probes through the executor (and within the time budget), dtype decisions."""

from __future__ import annotations

import dataclasses
import time
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backprop_lib.grading.cases import Case
from backprop_lib.grading.decomposition import Term, decompose
from backprop_lib.grading.factors import (
    Monomial,
    describe_change,
    is_ambiguous,
    match_ratio,
    normaliser_code,
    parse,
)
from backprop_lib.grading.mistakes import MISTAKES, Finding
from backprop_lib.grading.numeric import NumericExercise
from backprop_lib.grading.probes import probe, readable_probabilities, run_probes
from backprop_lib.grading.registry import get_exercise
from backprop_lib.grading.runner import CallOutcome, run_case
from backprop_lib.grading.shape_errors import explain_shape_error
from backprop_lib.grading.transforms import transform_findings


@pytest.fixture(autouse=True)
def _private_progress(tmp_path, monkeypatch):
    monkeypatch.setenv("BACKPROP_PROGRESS_FILE", str(tmp_path / "progress.json"))


def _sm(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# ---------------------------------------------------------------------------
# factors
# ---------------------------------------------------------------------------


def test_monomials_parse_print_and_evaluate():
    assert parse("1/N").text() == "1/N"
    assert parse("-1/(N*K)").text() == "-1/(N*K)"
    assert parse("K/N").value({"N": 4, "K": 6}) == 1.5
    assert parse("2").const == Fraction(2)
    assert parse("N**2") == Monomial(1, {"N": 2})
    assert parse("0").is_zero
    with pytest.raises(ValueError, match="monomial"):
        parse("N + K")
    with pytest.raises(ValueError, match="monomial"):
        parse("__import__('os')")


@given(st.tuples(st.integers(-2, 2), st.integers(-2, 2)).filter(
    lambda p: abs(p[0]) + abs(p[1]) <= 2), st.sampled_from([1, -1]))
def test_match_ratio_recovers_any_simple_factor_from_two_cases(powers, sign):
    pn, pk = powers
    truth = Monomial(sign, {"N": pn, "K": pk})
    dims = [{"N": 3, "K": 5}, {"N": 4, "K": 7}]
    assert match_ratio([truth.value(d) for d in dims], dims) == truth


def test_one_case_with_n_equal_two_is_ambiguous_and_prefers_the_dimension():
    assert is_ambiguous([2.0], [{"N": 2, "K": 3}])
    assert match_ratio([2.0], [{"N": 2, "K": 3}]) == parse("N")
    assert not is_ambiguous([2.0, 5.0], [{"N": 2, "K": 3}, {"N": 5, "K": 3}])
    assert match_ratio([0.37], [{"N": 2}]) is None


def test_describe_change_says_what_was_divided_by_what_with_numbers():
    dims = {"N": 5, "K": 7}
    text = describe_change(parse("1/N"), parse("1/K"), dims)
    assert "divided by K = 7 (the number of classes)" in text
    assert "divides by N = 5 (the batch size)" in text
    assert "5 times too large" in describe_change(parse("1/N"), parse("1"), dims)
    assert "has no such factor" in describe_change(parse("1"), parse("1/N"), dims, "db")


@pytest.mark.parametrize("expected, observed, codes", [
    ("1/N", "1", ["missing_batch_mean"]),
    ("1/N", "1/K", ["wrong_normaliser"]),
    ("1/N", "-1/N", ["sign"]),
    ("1/N", "-1/(N*K)", ["wrong_normaliser", "sign"]),
    ("1", "1/N", ["wrong_normaliser"]),
    ("1", "1", []),
])
def test_normaliser_codes(expected, observed, codes):
    assert normaliser_code(parse(expected), parse(observed)) == codes


# ---------------------------------------------------------------------------
# decomposition
# ---------------------------------------------------------------------------


def _diag(s):
    return np.diag(s)


def _outer(s):
    return np.outer(s, s)


TERMS = (
    Term("diag", "diagonal term diag(s)", _diag, "1"),
    Term("outer", "outer-product term s s^T", _outer, "-1"),
    Term("diag_sq", "diagonal of s s^T", lambda s: np.diag(s * s), code="elementwise_jacobian",
         sentence="elementwise", replaces="outer"),
)
S5 = readable_probabilities(1, 5, 1)[0]
S6 = readable_probabilities(1, 6, 2)[0]


def _cases(f):
    return [((s,), [f(s)]) for s in (S5, S6)]


def test_decomposition_of_the_right_answer_is_right():
    assert decompose(TERMS, _cases(lambda s: _diag(s) - _outer(s))) == ([], "right")


def test_decomposition_names_a_sign_slip_on_one_term_with_its_sign():
    findings, verdict = decompose(TERMS, _cases(lambda s: _diag(s) + _outer(s)))
    assert verdict == "named"
    assert [f.code for f in findings] == ["sign"]
    assert "outer-product term s s^T has a + sign where - belongs" in findings[0].sentence


def test_decomposition_names_a_missing_term_and_a_replacing_mistake_term():
    findings, _ = decompose(TERMS, _cases(lambda s: -_outer(s)))
    assert [f.code for f in findings] == ["missing_term"]
    findings, _ = decompose(TERMS, _cases(lambda s: np.diag(s - s * s)))
    assert [(f.code, f.sentence) for f in findings] == [("elementwise_jacobian", "elementwise")]


def test_decomposition_names_a_normaliser_from_the_dimensions():
    dims = lambda s: {"K": len(s)}  # noqa: E731
    findings, _ = decompose(TERMS, _cases(lambda s: (_diag(s) - _outer(s)) / len(s)),
                            dims_of=dims)
    assert [f.code for f in findings] == ["wrong_normaliser"]
    assert "divided by K = 5" in findings[0].sentence


def test_decomposition_claims_nothing_when_the_answer_is_outside_the_terms():
    assert decompose(TERMS, _cases(lambda s: np.sin(_outer(s)))) == ([], "unexplained")


def test_decomposition_needs_more_entries_than_terms():
    tiny = readable_probabilities(1, 2, 3)[0]  # a (2, 2) answer: 4 entries for 3 terms
    assert decompose(TERMS, [((tiny,), [np.sin(_outer(tiny))])]) == ([], "unexplained")


def test_decomposition_picks_the_alternative_formula_with_fewest_changes():
    shifted = (Term("a", "term a", lambda x: x - 1.0, "1"), Term("b", "term b", np.cos, "-1"))
    plain = (Term("x", "term x", lambda x: x, "1"), Term("one", "constant", np.ones_like, "1"),
             Term("b", "term b", np.cos, "-1"))
    x = np.linspace(0.1, 2.0, 12)
    answer = x - 1.0 + np.cos(x)   # one change in the first form, more in the second
    findings, _ = decompose((plain, shifted), [((x,), [answer])])
    assert [f.code for f in findings] == ["sign"] and "term b" in findings[0].sentence


def test_decomposition_handles_several_outputs_separately():
    terms = (Term("p", "first term", lambda x: 2 * x, "1", output="u"),
             Term("q", "second term", lambda x: x**2, "1", output="v"))
    x = np.linspace(0.5, 3.0, 6)
    findings, _ = decompose(terms, [((x,), [2 * x, -(x**2)])], output_names=("u", "v"))
    assert [(f.code, f.outputs) for f in findings] == [("sign", (1,))]


# ---------------------------------------------------------------------------
# transforms of the right answer
# ---------------------------------------------------------------------------

E = np.arange(12.0).reshape(3, 4) + 1


@pytest.mark.parametrize("got, code, text", [
    (E.T, "transposed", "shape (4, 3) where (3, 4) belongs"),
    (-E, "sign", "opposite sign"),
    (E.reshape(-1), "shape", "are right, but its shape is (12,)"),
    (E[..., None], "shape", "keepdims"),
    (3 * E, "missing_batch_mean", "3 times too large"),
    (E * 3 / 4, "wrong_normaliser", "divided by K = 4"),
    (E / 4, "wrong_normaliser", "divided by N*K = 12"),
    (2 * E.T, "transposed", "transposed"),
])
def test_transform_findings_of_one_output(got, code, text):
    findings = transform_findings([got], [E], dims={"N": 3, "K": 4}, normaliser="1/N")
    assert code in [f.code for f in findings]
    assert any(text in f.sentence for f in findings), findings


def test_transform_finds_the_broadcasting_table_and_swapped_outputs():
    e = np.array([1.0, 2.0, 3.0])
    table = e[:, None] + np.zeros((3, 3))
    table[np.diag_indices(3)] = e
    findings = transform_findings([table + np.triu(np.ones((3, 3)), 1)], [e])
    assert [f.code for f in findings] == ["shape"] and "diagonal" in findings[0].sentence
    outs = [np.ones((2, 3)), np.zeros(4)]
    findings = transform_findings(outs[::-1], outs, names=("dA", "db"))
    assert [f.code for f in findings] == ["output_order"]
    assert "You returned (db, dA)" in findings[0].sentence


def test_an_ambiguous_factor_asks_other_cases():
    asked = []

    def more(i):
        asked.append(i)
        return [(5.0, {"N": 5, "K": 3})]

    findings = transform_findings([2 * E], [E], dims={"N": 2, "K": 4}, normaliser="1/N",
                                  more_ratios=more)
    assert asked == [0] and [f.code for f in findings] == ["missing_batch_mean"]


# ---------------------------------------------------------------------------
# shape errors
# ---------------------------------------------------------------------------

A, W, B = np.ones((2, 3)), np.ones((3, 4)), np.ones(4)


def _error(f):
    try:
        f()
    except ValueError as exc:
        return f"ValueError: {exc}"
    raise AssertionError("no error")


@pytest.mark.parametrize("f, code, text", [
    (lambda: W @ A, "operand_order", "A @ W fits: (2, 3) @ (3, 4) -> (2, 4)"),
    (lambda: np.dot(W, A), "operand_order", "probably W @ A"),
    (lambda: A @ W.T, "transposed", "A @ W fits"),
])
def test_a_failed_product_is_named_with_the_order_that_fits(f, code, text):
    finding = explain_shape_error(_error(f), ("A", "W", "b"), (A, W, B), [(2, 4)], None)
    assert finding is not None and finding.code == code
    assert text in finding.sentence


def test_a_reduction_without_keepdims_is_named():
    z = np.ones((2, 3))
    finding = explain_shape_error(_error(lambda: z / z.sum(axis=1)), ("z",), (z,), [(2, 3)])
    assert finding.code == "wrong_axis" and "keepdims=True it has shape (2, 1)" in \
        finding.sentence


def test_other_errors_are_not_guessed():
    assert explain_shape_error("ValueError: something else", ("z",), (A,), [(2, 3)]) is None
    z = np.ones((4, 4))
    assert explain_shape_error(_error(lambda: z + np.ones(3)), ("z",), (z,), [(4, 4)]) is None


# ---------------------------------------------------------------------------
# probes: through the executor, within the budget
# ---------------------------------------------------------------------------


class SandboxExecutor:
    """An executor that knows the learner's code only by name (like the batch autograder)."""

    def __init__(self, functions, delay=0.0):
        self.functions, self.delay, self.calls = functions, delay, []

    def __call__(self, answer, args, *, timeout, output_names, measure_memory):
        self.calls.append((answer, tuple(np.shape(a) for a in args), timeout))
        time.sleep(self.delay)
        return run_case(self.functions[answer], args, timeout=timeout,
                        output_names=output_names, measure_memory=measure_memory)


def test_every_call_of_the_learners_code_goes_through_the_executor():
    def wrong(A, W, b):
        return W @ A + b

    executor = SandboxExecutor({"dense_forward#learner": wrong})
    result = get_exercise("dense_forward").grade("dense_forward#learner", seed=0,
                                                 executor=executor)
    assert result.status == "error" and "operand_order" in result.diagnosis
    assert all(name == "dense_forward#learner" for name, _, _ in executor.calls)
    assert ((4, 4), (4, 4), (4,)) in [shapes for _, shapes, _ in executor.calls]  # the probe


def test_probes_stop_when_the_diagnosis_budget_is_spent():
    cases = [probe((np.ones(2),), f"probe {i}") for i in range(5)]
    executor = SandboxExecutor({"f": lambda x: x}, delay=0.15)
    start = time.perf_counter()
    runs = run_probes(cases, "f", executor, budget=0.3)
    assert time.perf_counter() - start < 0.6
    assert [r.kind for r in runs].count("skipped") >= 2
    assert all(timeout <= 0.3 for _, _, timeout in executor.calls)


def test_probes_never_run_past_the_time_the_failing_case_was_allowed():
    def slow_and_wrong(s):
        time.sleep(0.25)
        return np.diag(s) + np.outer(s, s)

    start = time.perf_counter()
    result = get_exercise("softmax_jacobian").grade(slow_and_wrong, seed=0, timeout=0.3)
    assert time.perf_counter() - start < 0.3 + 0.35
    assert result.status == "failed"


def test_an_executor_that_fails_on_a_probe_does_not_break_the_check():
    calls = []

    def executor(answer, args, **kwargs):
        calls.append(args)
        if len(calls) > 1:
            raise RuntimeError("sandbox died")
        return run_case(answer, args, **kwargs)

    def wrong(s, g):
        return s * (g + (g * s).sum(-1, keepdims=True))

    result = get_exercise("softmax_vjp").grade(wrong, seed=0, executor=executor)
    assert result.status == "failed" and len(calls) > 1


def test_a_diagnosis_bug_never_turns_a_failure_into_a_grader_error(monkeypatch):
    import backprop_lib.grading.numeric as numeric

    def broken(*args, **kwargs):
        raise ZeroDivisionError("bug in a stage")

    monkeypatch.setattr(numeric, "diagnose_mismatch", broken)
    result = get_exercise("softmax").grade(lambda z: _sm(z) * 2, seed=0)
    assert result.status == "failed" and "grader" not in result.message


def test_right_on_the_probes_says_where_to_look():
    def wrong_only_for_float32(z):
        out = _sm(z.astype(np.float64))
        return out + 1e-3 if z.dtype == np.float32 else out

    result = get_exercise("softmax").grade(wrong_only_for_float32, seed=0)
    assert result.status == "failed" and "hidden" in result.message
    assert any("small ordinary inputs your function gives the right result" in s
               for _, s in result.explanations)


def test_an_exercise_without_probes_still_decomposes_the_failing_case():
    s = readable_probabilities(1, 6, 0)[0]
    exercise = dataclasses.replace(get_exercise("softmax_jacobian"), probes=None,
                                   public_cases=lambda: [Case((s,), "s (6,)", hidden=False)])
    result = exercise.grade(lambda s: np.diag(s) + np.outer(s, s), seed=0)
    assert result.diagnosis == ["sign"]


def test_every_code_a_stage_can_report_is_a_design_code():
    for code in ("missing_term", "wrong_normaliser", "output_order", "operand_order",
                 "double_softmax", "wrong_index", "forward_difference", "inner_product"):
        assert code in MISTAKES
    with pytest.raises(ValueError, match="unknown mistake code"):
        Finding("no_such_code", "")
    with pytest.raises(ValueError, match="unknown mistake code"):
        Term("t", "t", np.ones_like, code="no_such_code")


# ---------------------------------------------------------------------------
# the kind of numbers returned
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("convert, text", [
    (lambda a: a.astype(np.float16), "float16 (half precision"),
    (lambda a: a.astype(np.complex128), "complex (complex128) with zero imaginary parts"),
])
def test_right_values_of_the_wrong_dtype_are_named(convert, text):
    result = get_exercise("softmax").grade(lambda z: convert(_sm(z)), seed=0)
    assert result.status == "failed" and result.diagnosis == ["dtype"]
    assert text in result.message


def test_complex_values_with_imaginary_parts_are_refused_as_dtype():
    result = get_exercise("softmax").grade(lambda z: _sm(z) + 1j, seed=0)
    assert result.diagnosis == ["dtype"] and "non-zero imaginary parts" in result.message


def test_float16_with_wrong_values_names_both():
    result = get_exercise("softmax_jacobian").grade(
        lambda s: (np.diag(s) + np.outer(s, s)).astype(np.float16), seed=0)
    assert set(result.diagnosis) >= {"dtype", "sign"}


def test_float32_results_pass_when_accurate_and_are_named_when_not():
    assert get_exercise("softmax").grade(lambda z: _sm(z).astype(np.float32), seed=0).passed

    def cancels_in_float32(dZ, A, W):
        A32, dZ32 = A.astype(np.float32), dZ.astype(np.float32)
        return dZ @ W.T, (A32.T @ dZ32 + 1e4) - 1e4, dZ.sum(axis=0)

    result = get_exercise("dense_backward").grade(cancels_in_float32, seed=0)
    assert result.status == "failed"


def test_an_exercise_can_declare_its_diagnosis_in_a_few_lines():
    """The interface CONTRIBUTING.md documents, on a new exercise: twice each entry."""
    exercise = NumericExercise(
        id="double_it", notebook=0, title="Double", points=1.0, hints=("a", "b", "c"),
        signature="double_it(x)", arg_names=("x",), reference=lambda x: 2 * x,
        public_cases=lambda: [Case((np.arange(1.0, 7.0).reshape(2, 3),), "x (2, 3)",
                                   hidden=False)],
        hidden_cases=lambda rng: [],
        probes=lambda: [probe((np.arange(1.0, 13.0).reshape(3, 4),), "x (3, 4)")],
        terms=(Term("x", "term 2x", lambda x: 2 * x, "1"),
               Term("square", "term x**2", lambda x: x**2, code="missing_term",
                    sentence="You squared x.")),
        dims=lambda x: {"N": x.shape[0], "K": x.shape[1]})
    assert exercise.grade(lambda x: x + x, seed=0).passed
    assert exercise.grade(lambda x: 2 * x + x**2, seed=0).diagnosis == ["missing_term"]
    result = exercise.grade(lambda x: 2 * x / x.shape[1], seed=0)
    assert result.diagnosis == ["wrong_normaliser"] and "K = 3" in str(result)


def test_a_case_that_fails_without_raising_gets_codes_also_on_error_status():
    result = get_exercise("softmax").grade(lambda z: np.exp(z) / np.exp(z).sum(axis=-1),
                                           seed=0)
    assert result.status == "error" and result.diagnosis == ["wrong_axis"]
    assert isinstance(result.explanations, list) and result.explanations


def test_executor_outcome_kinds_other_than_ok_are_ignored_by_probes():
    def executor(answer, args, **kwargs):
        if np.shape(args[0]) == (4, 4):
            return CallOutcome(kind="timeout", error="stopped")
        return run_case(answer, args, **kwargs)

    result = get_exercise("softmax").grade(lambda z: np.exp(z) / np.exp(z).sum(axis=-1),
                                           seed=0, executor=executor)
    assert result.status == "error" and "wrong_axis" in result.diagnosis


def test_numbers_in_the_feedback_are_those_of_the_failing_case():
    def divides_by_k(z, y):
        return (_sm(z) - np.eye(z.shape[1])[y]) / z.shape[1]

    result = get_exercise("cross_entropy_grad").grade(divides_by_k, seed=0)
    assert result.case.startswith("public case 1")  # logits (3, 4)
    text = " ".join(s for _, s in result.explanations)
    assert "K = 4 (the number of classes)" in text and "N = 3 (the batch size)" in text


def test_a_term_transposed_is_named_without_being_declared():
    def one_hot_transposed(z, y):
        return (_sm(z) - np.eye(z.shape[1])[y].T) / len(y)

    result = get_exercise("cross_entropy_grad").grade(one_hot_transposed, seed=0)
    assert result.status == "error" and "transposed" in result.diagnosis
