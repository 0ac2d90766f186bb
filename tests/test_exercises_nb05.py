"""Notebook 05's exercises (backprop_lib/grading/exercises/nb05_batches_and_cost.py).

Correct answers written in several different ways must pass; stubs are "not attempted";
realistic wrong answers fail with the mistake code (and the sentence) they must get. The
question's answer and its likely wrong answers are known here only, never in the package.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import backprop_lib.grading.exercises as exercise_package
from backprop_lib import functional as F
from backprop_lib.grading import check
from backprop_lib.grading import exercises as list_exercises
from backprop_lib.grading.questions import answer_hash, normalise
from backprop_lib.grading.registry import get_exercise

SEEDS = (0, 1)
NUMERIC = ("batched_vjp", "block_diagonal_jacobian", "ce_grad_with_reduction",
           "softmax_vjp_columns")


@pytest.fixture(autouse=True)
def _private_progress(tmp_path, monkeypatch):
    monkeypatch.setenv("BACKPROP_PROGRESS_FILE", str(tmp_path / "progress.json"))


def grade(exercise_id, answer, seed=0, timeout=5.0):
    return get_exercise(exercise_id).grade(answer, timeout=timeout, seed=seed)


def _feedback_text(result):
    return " ".join([result.message] + [s for _, s in result.explanations])


# ---------------------------------------------------------------------------
# Correct answers, several routes each (NumPy only, as a learner writes them)
# ---------------------------------------------------------------------------


def _softmax_rows(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _block_diag_loop(J):
    N, K, _ = J.shape
    big = np.zeros((N * K, N * K))
    for n in range(N):
        big[n * K:(n + 1) * K, n * K:(n + 1) * K] = J[n]
    return big


def _block_diag_einsum(J):
    N, K, _ = J.shape
    return np.einsum("nm,nij->nimj", np.eye(N), J).reshape(N * K, N * K)


def _block_diag_fancy_index(J):
    N, K, _ = J.shape
    big = np.zeros((N * K, N * K), dtype=J.dtype)
    n, i, j = np.meshgrid(np.arange(N), np.arange(K), np.arange(K), indexing="ij")
    big[n * K + i, n * K + j] = J
    return big


def _ce_reduction_solution(z, y, reduction):
    G = _softmax_rows(z)
    G[np.arange(len(y)), y] -= 1
    return G / len(y) if reduction == "mean" else G


def _ce_reduction_eye(z, y, reduction):
    scale = 1.0 / z.shape[0] if reduction == "mean" else 1.0
    return (_softmax_rows(z.astype(np.float64)) - np.eye(z.shape[1])[y]) * scale


def _ce_reduction_loop(z, y, reduction):
    out = np.empty(z.shape)
    for n, (row, label) in enumerate(zip(z, y, strict=True)):
        p = np.exp(row - row.max())
        p /= p.sum()
        p[label] -= 1.0
        out[n] = p
    return out / len(y) if reduction == "mean" else out


def _ce_reduction_log_softmax(z, y, reduction):
    shifted = z - z.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    grad = np.exp(log_p)
    np.subtract.at(grad, (np.arange(len(y)), y), 1.0)
    return grad / {"mean": len(y), "sum": 1}[reduction]


CORRECT = {
    "batched_vjp": [
        lambda G, J: np.einsum("nk,nkj->nj", G, J),
        lambda G, J: (G[:, None, :] @ J)[:, 0],
        lambda G, J: np.stack([g @ j for g, j in zip(G, J, strict=True)]),
        lambda G, J: (G[:, :, None] * J).sum(axis=1),
    ],
    "block_diagonal_jacobian": [_block_diag_loop, _block_diag_einsum, _block_diag_fancy_index],
    "ce_grad_with_reduction": [_ce_reduction_solution, _ce_reduction_eye, _ce_reduction_loop,
                               _ce_reduction_log_softmax],
    "softmax_vjp_columns": [
        lambda S, G: S * (G - (G * S).sum(axis=0, keepdims=True)),
        lambda S, G: S * (G - (G * S).sum(axis=0)),          # no keepdims: harmless here
        lambda S, G: (S.T * (G.T - (G.T * S.T).sum(axis=-1, keepdims=True))).T,
        lambda S, G: S * G - S * np.einsum("kn,kn->n", G, S),
    ],
}


def test_notebook_05_numeric_exercises_are_all_covered_here():
    numeric = {e for e in list_exercises(5) if get_exercise(e).kind == "function"}
    assert numeric == set(NUMERIC) == set(CORRECT)
    assert all(len(answers) >= 3 for answers in CORRECT.values())
    # in the order the notebook asks them
    assert list_exercises(5) == ["block_diagonal_jacobian", "batched_vjp",
                                 "ce_grad_with_reduction", "jacobian_memory_gib",
                                 "softmax_vjp_columns"]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("exercise_id, index", [
    (ex, i) for ex, answers in CORRECT.items() for i in range(len(answers))])
def test_correct_answers_pass(exercise_id, index, seed):
    result = grade(exercise_id, CORRECT[exercise_id][index], seed=seed)
    assert result.status == "passed", str(result)
    assert result.passed and result.score == result.points > 0
    assert result.diagnosis == []


@pytest.mark.parametrize("exercise_id", NUMERIC)
def test_stub_is_not_attempted(exercise_id):
    def stub(*args):
        raise NotImplementedError()

    result = grade(exercise_id, stub)
    assert result.status == "not attempted" and result.score == 0


@pytest.mark.parametrize("exercise_id", NUMERIC)
def test_reference_values_pass(exercise_id):
    exercise = get_exercise(exercise_id)
    result = exercise.grade(lambda *args: exercise.reference(*args), timeout=5, seed=3)
    assert result.status == "passed" or result.diagnosis == ["uses_reference"], str(result)


def test_calling_the_library_is_flagged():
    result = grade("softmax_vjp_columns", lambda S, G: F.softmax_vjp(S.T, G.T).T)
    assert result.diagnosis == ["uses_reference"]


@pytest.mark.parametrize("exercise_id", NUMERIC)
def test_every_exercise_has_named_variants_and_three_hints(exercise_id):
    exercise = get_exercise(exercise_id)
    assert len(exercise.variants) >= 5 and len(exercise.hints) >= 3
    assert len({v.name for v in exercise.variants}) == len(exercise.variants)


# ---------------------------------------------------------------------------
# Realistic wrong answers: (exercise, mistake code or None, words of the feedback, answer)
# ---------------------------------------------------------------------------


def _block_diag_blocks_transposed(J):
    return _block_diag_loop(np.swapaxes(J, 1, 2))


def _block_diag_interleaved(J):
    N, K, _ = J.shape
    big = np.zeros((N * K, N * K))
    for n in range(N):
        big[n::N, n::N] = J[n]                  # position i*N + n: Z flattened by columns
    return big


def _block_diag_no_reshape(J):
    N, K, _ = J.shape
    return np.einsum("nm,nij->nimj", np.eye(N), J)


def _ce_reduction_always_mean(z, y, reduction):
    return _ce_reduction_solution(z, y, "mean")


def _ce_reduction_always_sum(z, y, reduction):
    return _ce_reduction_solution(z, y, "sum")


def _ce_reduction_swapped(z, y, reduction):
    return _ce_reduction_solution(z, y, "sum" if reduction == "mean" else "mean")


def _ce_reduction_np_mean(z, y, reduction):
    G = _ce_reduction_solution(z, y, "sum")
    return G / G.size if reduction == "mean" else G


WRONG = [
    # batched_vjp
    ("batched_vjp", "transposed", "J g", lambda G, J: np.einsum("nk,njk->nj", G, J)),
    ("batched_vjp", "transposed", "J g", lambda G, J: (J @ G[:, :, None])[:, :, 0]),
    ("batched_vjp", "wrong_axis", "axis=2", lambda G, J: (G[:, :, None] * J).sum(axis=2)),
    ("batched_vjp", "wrong_axis", "axis=2", lambda G, J: np.einsum("nk,nkj->nk", G, J)),
    ("batched_vjp", "wrong_axis", "LAST axis", lambda G, J: (G[:, None, :] * J).sum(axis=1)),
    ("batched_vjp", "wrong_axis", "mixes the examples",
     lambda G, J: np.tensordot(G, J, axes=([1], [1])).sum(axis=1)),
    ("batched_vjp", "wrong_axis", "mixes the examples",
     lambda G, J: np.einsum("nk,mkj->nj", G, J)),
    ("batched_vjp", "shape", "(N, N, K)", lambda G, J: G @ J),
    ("batched_vjp", "shape", "[:, 0]", lambda G, J: G[:, None, :] @ J),
    ("batched_vjp", "elementwise_jacobian", "diagonal",
     lambda G, J: G * np.diagonal(J, axis1=1, axis2=2)),
    ("batched_vjp", None, "silently mixes", lambda G, J: (G * J).sum(axis=1)),
    ("batched_vjp", None, "J[0]", lambda G, J: G @ J[0]),
    # block_diagonal_jacobian
    ("block_diagonal_jacobian", "transposed", "transposed", _block_diag_blocks_transposed),
    ("block_diagonal_jacobian", "transposed", "transposed", lambda J: _block_diag_loop(J).T),
    ("block_diagonal_jacobian", "shape", "stacked", lambda J: J.reshape(-1, J.shape[-1])),
    ("block_diagonal_jacobian", "shape", "(N*K, N*K)", _block_diag_no_reshape),
    ("block_diagonal_jacobian", None, "column by column", _block_diag_interleaved),
    ("block_diagonal_jacobian", None, "off-diagonal blocks are not zero",
     lambda J: np.tile(J.reshape(-1, J.shape[-1]), (1, J.shape[0]))),
    ("block_diagonal_jacobian", None, "J[0]", lambda J: np.kron(np.eye(len(J)), J[0])),
    # ce_grad_with_reduction
    ("ce_grad_with_reduction", "missing_batch_mean", "carries 1/N", _ce_reduction_always_sum),
    ("ce_grad_with_reduction", "missing_batch_mean", "carries 1/N", _ce_reduction_swapped),
    ("ce_grad_with_reduction", "wrong_normaliser", "With reduction='sum' you divided by N",
     _ce_reduction_always_mean),
    ("ce_grad_with_reduction", None, "N*K", _ce_reduction_np_mean),
    ("ce_grad_with_reduction", "sign", "opposite sign",
     lambda z, y, r: -_ce_reduction_solution(z, y, r)),
    ("ce_grad_with_reduction", "missing_one_hot", "one-hot",
     lambda z, y, r: _softmax_rows(z) / (len(y) if r == "mean" else 1)),
    ("ce_grad_with_reduction", "transposed", "transposed",
     lambda z, y, r: _ce_reduction_solution(z, y, r).T),
    # softmax_vjp_columns
    ("softmax_vjp_columns", "wrong_axis", "axis 0",
     lambda S, G: S * (G - (G * S).sum(axis=-1, keepdims=True))),
    ("softmax_vjp_columns", "wrong_axis", "axis 0",
     lambda S, G: S * (G - (G * S).sum(axis=1, keepdims=True))),
    ("softmax_vjp_columns", "transposed", "row layout",
     lambda S, G: S.T * (G.T - (G.T * S.T).sum(axis=-1, keepdims=True))),
    ("softmax_vjp_columns", "wrong_axis", "whole array", lambda S, G: S * (G - (G * S).sum())),
    ("softmax_vjp_columns", "elementwise_jacobian", "diagonal",
     lambda S, G: G * S * (1 - S)),
    ("softmax_vjp_columns", "sign", "opposite sign",
     lambda S, G: S * ((G * S).sum(axis=0, keepdims=True) - G)),
]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("exercise_id, code, text, answer", WRONG,
                         ids=[f"{w[0]}-{w[1]}-{i}" for i, w in enumerate(WRONG)])
def test_wrong_answer_is_named(exercise_id, code, text, answer, seed):
    result = grade(exercise_id, answer, seed=seed)
    assert result.status == "failed", str(result)
    assert result.score == 0 and not result.passed
    if code is None:
        assert result.diagnosis == [], str(result)
    else:
        assert code in result.diagnosis, str(result)
    assert text in _feedback_text(result), str(result)


def test_each_exercise_has_three_coded_wrong_answers_here():
    coded = {}
    for exercise_id, code, _text, _answer in WRONG:
        coded[exercise_id] = coded.get(exercise_id, 0) + (code is not None)
    assert set(coded) == set(NUMERIC) and min(coded.values()) >= 3, coded


def test_first_public_case_is_square_so_a_misaligned_batch_axis_is_named_not_an_error():
    first = get_exercise("batched_vjp").public_cases()[0]
    n, k = first.args[0].shape
    assert n == k
    # On a rectangular batch the same slip raises a broadcasting error: status "error".
    wrong = get_exercise("batched_vjp").grade(lambda G, J: (G * J).sum(axis=1), seed=0)
    assert wrong.status == "failed" and "public case 1" in wrong.message


# ---------------------------------------------------------------------------
# What the hidden cases cover
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_batched_vjp_cases_cover_square_rectangular_and_non_symmetric(seed):
    cases = get_exercise("batched_vjp").hidden_cases(np.random.default_rng(seed))
    shapes = [case.args[0].shape for case in cases]
    assert any(n == k for n, k in shapes) and any(n != k for n, k in shapes)
    assert any(n == 1 for n, _ in shapes) and max(k for _, k in shapes) >= 150
    Js = [case.args[1] for case in cases]
    assert sum(not np.allclose(J, np.swapaxes(J, 1, 2)) for J in Js) >= 5
    assert any(np.allclose(J, np.swapaxes(J, 1, 2)) for J in Js)   # a real softmax Jacobian
    assert {case.dtype for case in cases} == {np.float32, np.float64}
    assert any(not J.flags.c_contiguous for J in Js)


def test_block_diagonal_cases_include_one_example_and_one_class():
    cases = get_exercise("block_diagonal_jacobian").hidden_cases(np.random.default_rng(0))
    shapes = [case.args[0].shape for case in cases]
    assert any(n == 1 for n, _, _ in shapes) and any(k == 1 for _, k, _ in shapes)
    assert any(n == k for n, k, _ in shapes)


def test_reduction_cases_use_both_reductions_and_batches_larger_than_one():
    exercise = get_exercise("ce_grad_with_reduction")
    cases = exercise.public_cases() + exercise.hidden_cases(np.random.default_rng(0))
    assert {case.args[2] for case in cases} == {"mean", "sum"}
    assert all(any(case.args[2] == r and case.args[0].shape[0] > 1 for case in cases)
               for r in ("mean", "sum"))


def test_column_cases_hold_one_distribution_per_column_and_a_square_batch():
    cases = get_exercise("softmax_vjp_columns").hidden_cases(np.random.default_rng(0))
    for case in cases:
        S = np.asarray(case.args[0], dtype=float)
        np.testing.assert_allclose(S.sum(axis=0), 1.0, rtol=1e-5)
    assert any(case.args[0].shape[0] == case.args[0].shape[1] for case in cases)


# ---------------------------------------------------------------------------
# The exercises' references agree with each other (properties)
# ---------------------------------------------------------------------------


@settings(max_examples=40)
@given(n=st.integers(1, 5), k=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_vjp_through_the_block_diagonal_matrix_is_the_batched_vjp(n, k, seed):
    rng = np.random.default_rng(seed)
    G, J = rng.normal(size=(n, k)), rng.normal(size=(n, k, k))
    big = get_exercise("block_diagonal_jacobian").reference(J)
    assert big.shape == (n * k, n * k)
    through_big = (G.reshape(-1) @ big).reshape(n, k)
    np.testing.assert_allclose(through_big, get_exercise("batched_vjp").reference(G, J),
                               atol=1e-12)


@settings(max_examples=40)
@given(n=st.integers(1, 6), k=st.integers(2, 6), seed=st.integers(0, 2**16))
def test_column_vjp_is_the_row_vjp_transposed_and_uses_J(n, k, seed):
    rng = np.random.default_rng(seed)
    S = F.softmax(rng.normal(size=(n, k)))
    G = rng.normal(size=(n, k))
    columns = get_exercise("softmax_vjp_columns").reference(S.T, G.T)
    rows = get_exercise("batched_vjp").reference(G, F.softmax_jacobian(S))
    np.testing.assert_allclose(columns, rows.T, atol=1e-12)


@settings(max_examples=30)
@given(n=st.integers(1, 9), k=st.integers(2, 6), seed=st.integers(0, 2**16))
def test_sum_gradient_is_n_times_the_mean_gradient(n, k, seed):
    rng = np.random.default_rng(seed)
    z, y = rng.normal(size=(n, k)), rng.integers(0, k, size=n)
    reference = get_exercise("ce_grad_with_reduction").reference
    np.testing.assert_allclose(reference(z, y, "sum"), n * reference(z, y, "mean"), rtol=1e-12)


# ---------------------------------------------------------------------------
# The memory question
# ---------------------------------------------------------------------------

_GIB_ANSWER = 8 * 128_000**2 * 4 / 2**30
_LIKELY_WRONG = {
    8 * 128_000**2 * 8 / 2**30: "float64",
    8 * 128_000**2 * 4 / 1e9: "GB",
    128_000**2 * 4 / 2**30: "ONE position",
    8 * 128_000**2 * 4: "number of bytes",
    8 * 128_000 * 4 / 2**30: "(N, K) array",
    8 * 128_000**2 * 4 / 2**20: "MiB",
}


@pytest.mark.parametrize("answer", [_GIB_ANSWER, str(_GIB_ANSWER), lambda: _GIB_ANSWER,
                                    np.float32(_GIB_ANSWER)])
def test_memory_question_accepts_the_computed_number(answer):
    result = check("jacobian_memory_gib", answer)
    assert result.status == "passed", str(result)
    assert "2**30" in result.explanation


@pytest.mark.parametrize("wrong, fragment", sorted(_LIKELY_WRONG.items()))
def test_memory_question_explains_likely_wrong_answers(wrong, fragment):
    result = check("jacobian_memory_gib", wrong)
    assert result.status == "failed"
    assert fragment in _feedback_text(result), str(result)


def test_memory_question_rounded_answer_fails_and_placeholder_is_not_attempted():
    assert check("jacobian_memory_gib", 488.3).status == "failed"
    assert check("jacobian_memory_gib", 488).status == "failed"
    assert check("jacobian_memory_gib", None).status == "not attempted"

    def stub():
        raise NotImplementedError()

    assert check("jacobian_memory_gib", stub).status == "not attempted"


def test_memory_question_answer_is_hashed_not_stored():
    question = get_exercise("jacobian_memory_gib")
    assert answer_hash(question.id, "number", _GIB_ANSWER) == question.answer_hash
    canonical = normalise("number", _GIB_ANSWER)
    source = (Path(exercise_package.__file__).parent / "nb05_batches_and_cost.py").read_text()
    assert canonical not in source and canonical.split(":")[1] not in source
    for wrong in _LIKELY_WRONG:
        assert answer_hash(question.id, "number", wrong) in question.wrong_feedback
    assert len(question.hints) >= 3 and question.points > 0
