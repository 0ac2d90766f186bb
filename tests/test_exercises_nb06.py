"""The exercises added with notebook 06 (dense-layer backprop).

``last_layer_grad``: correct solutions written in several styles pass; realistic wrong
answers fail with the mistake each must be named as; a stub is "not attempted". The three
questions: the right answer passes in any spelling, likely wrong answers get their specific
feedback, and no answer is stored in plain text. (``dense_backward`` and
``numerical_gradient``, also in notebook 06, are tested in ``test_grading_exercises.py``.)
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest

from backprop_lib import functional as F
from backprop_lib.grading import check, exercises, release
from backprop_lib.grading.exercises import nb06_dense_layer_backprop as module
from backprop_lib.grading.questions import answer_hash, normalise
from backprop_lib.grading.registry import get_exercise

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "course" / "06_dense_layer_backprop.md"
SEEDS = (0, 1)
NEW_IDS = ["dW_column_shape", "dz_dW_shape", "gradcheck_float32", "last_layer_grad"]


@pytest.fixture(autouse=True)
def _private_progress(tmp_path, monkeypatch):
    monkeypatch.setenv("BACKPROP_PROGRESS_FILE", str(tmp_path / "progress.json"))


def grade(exercise_id, answer, seed=0):
    return get_exercise(exercise_id).grade(answer, timeout=5.0, seed=seed)


def _feedback_text(result):
    return " ".join([result.message] + [sentence for _, sentence in result.explanations])


# ---------------------------------------------------------------------------
# last_layer_grad: correct solutions in four styles
# ---------------------------------------------------------------------------


def _softmax_rows(Z):
    e = np.exp(Z - Z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _model_answer(A, W, b, y):
    """The notebook's solution: the allowed F.softmax, one-hot subtracted in place."""
    dZ = F.softmax(A @ W + b)
    dZ[np.arange(len(y)), y] -= 1
    dZ /= len(y)
    return A.T @ dZ, dZ.sum(axis=0)


def _einsum_answer(A, W, b, y):
    """Own softmax, an explicit one-hot matrix, every product as an einsum."""
    Z = np.einsum("nd,dk->nk", A, W) + b
    Y = np.eye(W.shape[1])[y]
    dZ = (_softmax_rows(Z) - Y) / len(y)
    return np.einsum("nd,nk->dk", A, dZ), np.einsum("nk->k", dZ)


def _loop_answer(A, W, b, y):
    """One example at a time: the column-convention result dz a^T, transposed and summed."""
    N, K = len(y), W.shape[1]
    dW, db = np.zeros(W.shape), np.zeros(K)
    for n in range(N):
        z = W.T @ A[n] + b                       # the column convention's z = W_col a + b
        s = np.exp(z - z.max())
        s /= s.sum()
        dz = s.copy()
        dz[y[n]] -= 1.0
        dW += np.outer(dz, A[n]).T / N           # (dz a^T)^T: the row convention's shape
        db += dz / N
    return dW, db


def _log_softmax_answer(A, W, b, y):
    """Probabilities from a stable log-softmax, one-hot built with np.zeros."""
    Z = A @ W + b
    shifted = Z - Z.max(axis=-1, keepdims=True)
    S = np.exp(shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True)))
    Y = np.zeros_like(S)
    Y[np.arange(len(y)), y] = 1
    dZ = (S - Y) / A.shape[0]
    return A.T @ dZ, dZ.sum(axis=0)


CORRECT = {"last_layer_grad": [_model_answer, _einsum_answer, _loop_answer, _log_softmax_answer]}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("index", range(len(CORRECT["last_layer_grad"])))
def test_correct_solutions_pass(index, seed):
    result = grade("last_layer_grad", CORRECT["last_layer_grad"][index], seed=seed)
    assert result.status == "passed", str(result)
    assert result.score == result.points == 3.0 and result.diagnosis == []


def test_stub_is_not_attempted():
    def last_layer_grad(A, W, b, y):
        raise NotImplementedError()

    result = grade("last_layer_grad", last_layer_grad)
    assert result.status == "not attempted" and result.score == 0


def test_reference_passes_and_matches_the_library_layers():
    exercise = get_exercise("last_layer_grad")
    assert exercise.grade(exercise.reference, timeout=5.0, seed=3).passed
    rng = np.random.default_rng(0)
    A, W, b = rng.normal(size=(7, 4)), rng.normal(size=(4, 5)), rng.normal(size=5)
    y = rng.integers(0, 5, size=7)
    from backprop_lib import layers

    dense, loss = layers.Dense(4, 5), layers.SoftmaxCrossEntropy()
    dense.params["W"][...] = W
    dense.params["b"][...] = b
    loss.forward(dense.forward(A), y)
    dense.backward(loss.backward())
    dW, db = exercise.reference(A, W, b, y)
    np.testing.assert_allclose(dW, dense.grads["W"], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(db, dense.grads["b"], rtol=1e-12, atol=1e-15)


def test_hidden_cases_cover_awkward_inputs_and_change_with_the_seed():
    exercise = get_exercise("last_layer_grad")
    first = exercise.hidden_cases(np.random.default_rng(0))
    second = exercise.hidden_cases(np.random.default_rng(1))
    assert any(a.args[0].shape != b.args[0].shape for a, b in zip(first, second, strict=True))
    dtypes = {case.args[0].dtype for case in first}
    assert dtypes == {np.dtype(np.float32), np.dtype(np.float64)}
    assert any(case.args[0].shape[0] == 1 for case in first)
    assert any(case.args[1].shape[0] == case.args[1].shape[1] for case in first)   # D == K
    logits = [np.abs(case.args[0].astype(float) @ case.args[1] + case.args[2]).max()
              for case in first]
    assert max(logits) > 710                      # float64 exp overflows
    f32 = [z for z, case in zip(logits, first, strict=True) if case.dtype == np.float32]
    assert max(f32) > 89                          # float32 exp overflows
    assert any(not case.args[0].flags.c_contiguous for case in first)


# ---------------------------------------------------------------------------
# last_layer_grad: realistic wrong answers and the mistake each must be named as
# ---------------------------------------------------------------------------


def _dZ(A, W, b, y, softmax=_softmax_rows):
    S = softmax(A @ W + b)
    S[np.arange(len(y)), y] -= 1
    return S / len(y)


def _no_mean(A, W, b, y):
    S = _softmax_rows(A @ W + b)
    dZ = S - np.eye(W.shape[1])[y]
    return A.T @ dZ, dZ.sum(axis=0)


def _column_formula(A, W, b, y):
    dZ = _dZ(A, W, b, y)
    return dZ.T @ A, dZ.sum(axis=0)               # dz a^T, summed: (K, D)


def _column_everywhere(A, W, b, y):
    S = _softmax_rows(A @ W.T + b)                # z = W a, reading W as (K, D)
    S[np.arange(len(y)), y] -= 1
    dZ = S / len(y)
    return dZ.T @ A, dZ.sum(axis=0)


def _db_axis1(A, W, b, y):
    dZ = _dZ(A, W, b, y)
    return A.T @ dZ, dZ.sum(axis=1)


def _db_not_summed(A, W, b, y):
    dZ = _dZ(A, W, b, y)
    return A.T @ dZ, dZ


def _no_one_hot(A, W, b, y):
    dZ = _softmax_rows(A @ W + b) / len(y)
    return A.T @ dZ, dZ.sum(axis=0)


def _minus_labels(A, W, b, y):
    dZ = (_softmax_rows(A @ W + b) - y[:, None]) / len(y)
    return A.T @ dZ, dZ.sum(axis=0)


def _db_mean(A, W, b, y):
    dZ = _dZ(A, W, b, y)
    return A.T @ dZ, dZ.mean(axis=0)


def _negated(A, W, b, y):
    dZ = (np.eye(W.shape[1])[y] - _softmax_rows(A @ W + b)) / len(y)
    return A.T @ dZ, dZ.sum(axis=0)


def _naive(A, W, b, y):
    def naive_softmax(Z):
        e = np.exp(Z)
        return e / e.sum(axis=1, keepdims=True)
    dZ = _dZ(A, W, b, y, softmax=naive_softmax)
    return A.T @ dZ, dZ.sum(axis=0)


def _softmax_columns(A, W, b, y):
    def softmax0(Z):
        e = np.exp(Z - Z.max(axis=0))
        return e / e.sum(axis=0)
    dZ = _dZ(A, W, b, y, softmax=softmax0)
    return A.T @ dZ, dZ.sum(axis=0)


def _library_gradient(A, W, b, y):
    dZ = F.cross_entropy_grad(A @ W + b, y)
    return A.T @ dZ, dZ.sum(axis=0)


def _no_bias(A, W, b, y):
    dZ = _dZ(A, W, np.zeros_like(b), y)
    return A.T @ dZ, dZ.sum(axis=0)


def _swapped(A, W, b, y):
    dZ = _dZ(A, W, b, y)
    return dZ.sum(axis=0), A.T @ dZ


def _overwrites_W(A, W, b, y):
    dZ = _dZ(A, W, b, y)
    W -= 0.1 * (A.T @ dZ)                        # "the update step", done to the caller's W
    return A.T @ dZ, dZ.sum(axis=0)


# (mistake code or None, a fragment of the feedback, implementation)
WRONG = [
    ("missing_batch_mean", "N times too large", _no_mean),
    ("transposed", "column convention's dz a^T", _column_formula),
    (None, "column convention's formulas", _column_everywhere),
    ("bias_wrong_axis", "axis=1", _db_axis1),
    ("bias_wrong_axis", "shared by every example", _db_not_summed),
    ("missing_one_hot", "forgot to subtract the one-hot", _no_one_hot),
    ("missing_one_hot", "label VALUES", _minus_labels),
    (None, "divided by N again", _db_mean),
    ("sign", "opposite sign", _negated),
    ("overflow", "max shift", _naive),
    ("wrong_axis", "down the columns", _softmax_columns),
    ("uses_reference", "cross_entropy_grad", _library_gradient),
    (None, "leave out the bias", _no_bias),
    (None, "other order", _swapped),
    ("mutates_input", "changed its input W", _overwrites_W),
]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("code, fragment, impl", WRONG, ids=[w[2].__name__ for w in WRONG])
def test_wrong_answer_is_named(code, fragment, impl, seed):
    result = grade("last_layer_grad", impl, seed=seed)
    assert result.status == "failed", str(result)
    assert result.score == 0 and not result.passed
    if code is not None:
        assert code in result.diagnosis, str(result)
    assert fragment in _feedback_text(result), str(result)


def test_at_least_five_wrong_answers_carry_a_design_code():
    codes = {code for code, _, _ in WRONG if code is not None}
    assert {"missing_batch_mean", "transposed", "bias_wrong_axis", "missing_one_hot"} <= codes
    assert len(codes) >= 5


def test_a_transposed_dW_is_named_even_when_its_shape_is_wrong():
    """On a non-square case dZ^T A has shape (K, D): a shape error, still named transposed."""
    exercise = get_exercise("last_layer_grad")
    case = exercise.public_cases()[1]                # A (4, 2), W (2, 3): D != K
    only_that_case = dataclasses.replace(exercise, public_cases=lambda: [case],
                                         hidden_cases=lambda rng: [])
    result = only_that_case.grade(_column_formula, seed=0)
    assert result.status == "failed" and "transposed" in result.diagnosis, str(result)


# ---------------------------------------------------------------------------
# The questions
# ---------------------------------------------------------------------------

#: The correct answers, known to the tests only (the package stores hashes).
ANSWERS = {"dW_column_shape": (10, 64), "dz_dW_shape": (10, 640), "gradcheck_float32": "c"}


@pytest.mark.parametrize("question_id, answer", sorted(ANSWERS.items()))
def test_correct_answer_passes_directly_and_from_a_function(question_id, answer):
    result = check(question_id, answer)
    assert result.status == "passed" and result.score == result.points == 1.0
    assert result.explanation
    assert check(question_id, lambda: answer).passed


@pytest.mark.parametrize("question_id", sorted(ANSWERS))
def test_placeholder_is_not_attempted(question_id):
    def answer():
        raise NotImplementedError()

    assert check(question_id, answer).status == "not attempted"
    assert check(question_id, None).status == "not attempted"


@pytest.mark.parametrize("spelling", ["10x640", [10, 640], "(10, 640)", np.array([10, 640])])
def test_shape_answer_spellings(spelling):
    assert check("dz_dW_shape", spelling).passed


@pytest.mark.parametrize("question_id, wrong, fragment", [
    ("dW_column_shape", (64, 10), "row convention"),
    ("dW_column_shape", (10,), "shape of z"),
    ("dW_column_shape", (64,), "input a"),
    ("dW_column_shape", (10, 10), "softmax Jacobian"),
    ("dz_dW_shape", (10, 64), "ONE number"),
    ("dz_dW_shape", (10, 10, 64), "flatten"),
    ("dz_dW_shape", (640, 10), "one row per OUTPUT"),
    ("dz_dW_shape", (10, 10), "softmax Jacobian"),
    ("gradcheck_float32", "a", "float64 check passed"),
    ("gradcheck_float32", "b", "any precision"),
    ("gradcheck_float32", "d", "LESS accurate"),
])
def test_likely_wrong_answers_get_specific_feedback(question_id, wrong, fragment):
    result = check(question_id, wrong)
    assert result.status == "failed" and result.score == 0
    assert fragment in _feedback_text(result), str(result)


def test_transposed_shapes_are_named():
    assert check("dW_column_shape", (64, 10)).diagnosis == ["transposed", "shape"]
    assert check("dz_dW_shape", (640, 10)).diagnosis == ["transposed", "shape"]


def test_answers_are_hashed_and_not_in_the_module_source():
    source = Path(module.__file__).read_text()
    for question_id, answer in ANSWERS.items():
        q = get_exercise(question_id)
        assert answer_hash(q.id, q.answer_kind, answer) == q.answer_hash
        assert normalise(q.answer_kind, answer) not in source
        if q.answer_kind == "shape":
            for text in (q.prompt, q.explanation, *q.hints, *q.wrong_feedback.values()):
                assert str(tuple(answer)) not in text, (question_id, text)
        assert len(q.hints) >= 3


def test_choice_question_has_its_options_and_a_unique_answer():
    q = get_exercise("gradcheck_float32")
    assert list(q.options) == ["a", "b", "c", "d"]
    passing = [letter for letter in q.options if check(q.id, letter).passed]
    assert passing == [ANSWERS[q.id]]


# ---------------------------------------------------------------------------
# The notebook and the registry agree
# ---------------------------------------------------------------------------


def _checked_in_notebook():
    text = NOTEBOOK.read_text(encoding="utf-8")
    return [match[1] for match in re.findall(r"""check\((["'])(\w+)\1""", text)]


def test_notebook_checks_every_exercise_of_notebook_06_once():
    checked = _checked_in_notebook()
    assert sorted(checked) == sorted(exercises(6)) and len(set(checked)) == len(checked)
    assert release.checked_exercises('check("last_layer_grad", f)') == ["last_layer_grad"]


def test_new_exercises_are_registered_in_the_order_the_notebook_asks_them():
    registered = [e for e in exercises(6) if e in NEW_IDS]
    asked = [e for e in _checked_in_notebook() if e in NEW_IDS]
    assert registered == asked == NEW_IDS
