"""The ``jacobian_vjp`` exercise of notebook 04: ``g^T J`` for any Jacobian.

Correct routes (einsum, loops, ``J.T @ g`` written for stacks, a row vector times J, scaled rows
summed) must pass; the classic wrong ones must fail with the mistake the grader names for them.
The cases use rectangular and non-symmetric Jacobians, so that an order mistake cannot hide
behind the symmetry of softmax's J.
"""

from __future__ import annotations

import numpy as np
import pytest

from backprop_lib import functional as F
from backprop_lib.grading.registry import get_exercise

SEEDS = (0, 1, 2)


@pytest.fixture(autouse=True)
def _private_progress(tmp_path, monkeypatch):
    monkeypatch.setenv("BACKPROP_PROGRESS_FILE", str(tmp_path / "progress.json"))


def grade(answer, seed=0):
    return get_exercise("jacobian_vjp").grade(answer, timeout=5.0, seed=seed)


def _feedback_text(result):
    return " ".join([result.message] + [s for _, s in result.explanations])


# ---------------------------------------------------------------------------
# Correct answers
# ---------------------------------------------------------------------------


def _loop(g, J):
    g, J = np.asarray(g, dtype=float), np.asarray(J, dtype=float)
    out = np.zeros(J.shape[:-2] + J.shape[-1:])
    for idx in np.ndindex(J.shape[:-2]):
        for k in range(J.shape[-1]):
            out[idx + (k,)] = sum(g[idx + (m,)] * J[idx + (m, k)] for m in range(J.shape[-2]))
    return out


def _transpose_last_two(g, J):
    # J.T @ g for one Jacobian, written so that it also works for a stack.
    return (np.swapaxes(J, -1, -2) @ g[..., None])[..., 0]


def _row_vector(g, J):
    return (g[..., None, :] @ J)[..., 0, :]


def _scaled_rows_summed(g, J):
    return (g[..., :, None] * J).sum(axis=-2)


def _matmul_t(g, J):
    return np.matmul(np.asarray(J).mT, np.asarray(g)[..., None]).squeeze(-1)


def _plain_for_one_example(g, J):
    if np.ndim(g) == 1:
        return J.T @ g   # the textbook J^T g: right for one example
    return np.stack([_plain_for_one_example(gi, Ji) for gi, Ji in zip(g, J, strict=True)])


CORRECT = {
    "einsum": lambda g, J: np.einsum("...m,...mk->...k", g, J),
    "loop": _loop,
    "J.T @ g, per example": _plain_for_one_example,
    "swapaxes(J) @ g": _transpose_last_two,
    "row vector @ J": _row_vector,
    "scaled rows summed": _scaled_rows_summed,
    "J.mT @ g": _matmul_t,
    "float32 result": lambda g, J: np.einsum("...m,...mk->...k", g, J).astype(np.float32),
}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", sorted(CORRECT))
def test_correct_routes_pass(name, seed):
    result = grade(CORRECT[name], seed=seed)
    assert result.status == "passed", str(result)
    assert result.score == result.points == 3.0 and result.diagnosis == []


def test_stub_is_not_attempted():
    def stub(g, J):
        raise NotImplementedError()

    assert grade(stub).status == "not attempted"


# ---------------------------------------------------------------------------
# Wrong answers and the mistake each must be named as
# ---------------------------------------------------------------------------


def _diag_only(g, J):
    return g * np.diagonal(J, axis1=-2, axis2=-1)


WRONG = [
    # (name, implementation, mistake code, a fragment of the sentence the learner must see)
    ("J @ g", lambda g, J: J @ g, "transposed", "COLUMNS of J"),
    ("(g * J).sum(axis=-1)", lambda g, J: (g * J).sum(axis=-1), "transposed", "COLUMNS of J"),
    ("g * J, silently (K, K)", lambda g, J: g * J, "shape", "without any error"),
    ("(g * J).sum(axis=0)", lambda g, J: (g * J).sum(axis=0), "wrong_axis", "COLUMNS of J"),
    ("(g[:, None] * J).sum(axis=1)", lambda g, J: (g[..., :, None] * J).sum(axis=-1),
     "wrong_axis", "summed along each row"),
    ("g[:, None] * J, not summed", lambda g, J: g[..., :, None] * J, "shape",
     "did not add up the rows"),
    ("diagonal only", _diag_only, "elementwise_jacobian", "diagonal of J only"),
    ("g @ J for a batch", lambda g, J: g @ J, "shape", "(N, N, K)"),
    ("np.dot(g, J) for a batch", lambda g, J: np.dot(g, J), "shape", "EVERY pair"),
    ("J.T @ g for a batch", lambda g, J: J.T @ g, "transposed", "reverses ALL axes"),
    ("row axis kept", lambda g, J: g[..., None, :] @ J, "shape", "length-1 row axis"),
    ("negated", lambda g, J: -np.einsum("...m,...mk->...k", g, J), None, "entry"),
]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name, impl, code, fragment", WRONG, ids=[w[0] for w in WRONG])
def test_wrong_answer_is_named(name, impl, code, fragment, seed):
    result = grade(impl, seed=seed)
    assert result.status == "failed", str(result)
    assert result.score == 0 and not result.passed
    if code is not None:
        assert code in result.diagnosis, str(result)
    assert fragment in _feedback_text(result), str(result)


def test_at_least_five_named_mistakes():
    codes = {w[2] for w in WRONG if w[2] is not None}
    assert len([w for w in WRONG if w[2] is not None]) >= 5
    assert {"transposed", "shape", "wrong_axis", "elementwise_jacobian"} <= codes


def test_an_answer_right_for_one_example_only_fails_on_the_public_batch():
    result = grade(lambda g, J: g @ J)
    assert "public case 3" in result.message, result.message


# ---------------------------------------------------------------------------
# What the cases cover
# ---------------------------------------------------------------------------


def _all_cases(seed):
    exercise = get_exercise("jacobian_vjp")
    return list(exercise.public_cases()) + list(exercise.hidden_cases(np.random.default_rng(seed)))


@pytest.mark.parametrize("seed", SEEDS)
def test_cases_are_rectangular_non_symmetric_batched_and_in_both_precisions(seed):
    cases = _all_cases(seed)
    shapes = [(case.args[0].shape, case.args[1].shape) for case in cases]
    for g_shape, J_shape in shapes:
        assert g_shape == J_shape[:-1], (g_shape, J_shape)
    assert any(J[-1] != J[-2] for _, J in shapes), "a rectangular J"
    assert any(len(J) == 2 for _, J in shapes) and any(len(J) == 3 for _, J in shapes)
    assert any(len(J) == 4 for _, J in shapes), "two leading axes"
    square = [case.args[1] for case in cases if case.args[1].shape[-1] == case.args[1].shape[-2]]
    assert any(not np.allclose(J, np.swapaxes(J, -1, -2)) for J in square)
    assert {case.dtype for case in cases} == {np.float32, np.float64}
    public = [case for case in cases if not case.hidden]
    assert len(public) == 3 and not any(case.hidden for case in public)


def test_the_softmax_case_equals_softmax_vjp():
    """On a softmax Jacobian the exercise's reference is the softmax VJP of notebook 04 §5."""
    exercise = get_exercise("jacobian_vjp")
    S = F.softmax(np.random.default_rng(0).normal(size=(5, 4)))
    g = np.random.default_rng(1).normal(size=(5, 4))
    assert np.allclose(exercise.reference(g, F.softmax_jacobian(S)), F.softmax_vjp(S, g))


def test_wrong_routes_that_agree_on_softmax_differ_on_the_public_cases():
    """J @ g equals g @ J for softmax's symmetric J; the public cases tell them apart."""
    exercise = get_exercise("jacobian_vjp")
    g, J = exercise.public_cases()[0].args
    assert not np.allclose(J @ g, g @ J)
    s = F.softmax(np.array([2.0, 1.0, 0.1]))
    J_soft = F.softmax_jacobian(s)
    assert np.allclose(J_soft @ g, g @ J_soft)
    assert np.allclose((g * J_soft).sum(axis=0), 0.0)      # columns of J sum to zero
    assert np.allclose((g[:, None] * J_soft).sum(axis=1), 0.0)  # rows too
