"""Every numeric exercise: references and alternative solutions pass, stubs are
"not attempted", and realistic wrong implementations fail with the right mistake code."""

from __future__ import annotations

import numpy as np
import pytest

from backprop_lib import functional as F
from backprop_lib import gradcheck
from backprop_lib.grading import exercises as list_exercises
from backprop_lib.grading.registry import get_exercise

SEEDS = (0, 1)


@pytest.fixture(autouse=True)
def _private_progress(tmp_path, monkeypatch):
    monkeypatch.setenv("BACKPROP_PROGRESS_FILE", str(tmp_path / "progress.json"))


def grade(exercise_id, answer, seed=0, timeout=5.0):
    return get_exercise(exercise_id).grade(answer, timeout=timeout, seed=seed)


# ---------------------------------------------------------------------------
# Correct solutions: the model answer plus at least two different routes each
# ---------------------------------------------------------------------------


def _stable_softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _stable_log_softmax(z):
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _softmax_loop(z):
    z = np.asarray(z, dtype=float)
    flat = z.reshape(-1, z.shape[-1])
    out = np.empty_like(flat)
    for n, row in enumerate(flat):
        m = max(row)
        exps = [np.exp(v - m) for v in row]
        total = sum(exps)
        out[n] = [e / total for e in exps]
    return out.reshape(z.shape)


def _softmax_via_logsumexp(z):
    m = z.max(axis=-1, keepdims=True)
    lse = m + np.log(np.exp(z - m).sum(axis=-1, keepdims=True))
    return np.exp(z - lse)


def _log_softmax_loop(z):
    z = np.asarray(z, dtype=float)
    out = np.empty_like(z)
    for idx in np.ndindex(z.shape[:-1]):
        row = z[idx]
        m = row.max()
        out[idx] = row - m - np.log(np.sum(np.exp(row - m)))
    return out


def _ce_one_hot_matrix(logits, y):
    n, k = logits.shape
    Y = np.eye(k)[y]
    return -(Y * _stable_log_softmax(logits)).sum() / n


def _ce_loop(logits, y):
    total = 0.0
    for row, label in zip(logits, y, strict=True):
        m = row.max()
        total += m + np.log(np.exp(row - m).sum()) - row[label]
    return total / len(y)


def _ce_grad_one_hot(logits, y):
    n, k = logits.shape
    return (_stable_softmax(logits) - np.eye(k)[y]) / n


def _ce_grad_loop(logits, y):
    out = np.zeros(logits.shape)
    for n in range(logits.shape[0]):
        out[n] = _stable_softmax(logits[n])
        out[n, y[n]] -= 1.0
    return out / logits.shape[0]


def _numgrad_model(f, x, h=1e-5):
    grad = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        fp = f(x)
        x[i] = old - h
        fm = f(x)
        x[i] = old
        grad[i] = (fp - fm) / (2 * h)
    return grad


def _numgrad_nditer(f, x, h=1e-5):
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        i = it.multi_index
        x[i] += h
        fp = f(x)
        x[i] -= 2 * h
        fm = f(x)
        x[i] += h  # restores x up to rounding
        grad[i] = (fp - fm) / (2 * h)
        it.iternext()
    return grad


def _numgrad_copies(f, x, h=1e-5):
    grad = np.empty(x.size)
    for i in range(x.size):
        step = np.zeros(x.size)
        step[i] = h
        step = step.reshape(x.shape)
        grad[i] = (f(x + step) - f(x - step)) / (2 * h)
    return grad.reshape(x.shape)


CORRECT = {
    "warmup_row_sums": [
        lambda A: A.sum(axis=1),
        lambda A: [sum(row) for row in A],
        lambda A: np.einsum("nd->n", A),
        lambda A: A @ np.ones(A.shape[1]),
    ],
    "dense_forward": [
        lambda A, W, b: A @ W + b,
        lambda A, W, b: np.einsum("nd,dh->nh", A, W) + b[None, :],
        lambda A, W, b: np.array([[sum(A[n, d] * W[d, h] for d in range(W.shape[0])) + b[h]
                                   for h in range(W.shape[1])] for n in range(A.shape[0])]),
        lambda A, W, b: (W.T @ A.T + b[:, None]).T,
    ],
    "softmax": [_stable_softmax, _softmax_loop, _softmax_via_logsumexp],
    "log_softmax": [
        _stable_log_softmax,
        _log_softmax_loop,
        lambda z: z - (z.max(-1, keepdims=True)
                       + np.log(np.exp(z - z.max(-1, keepdims=True)).sum(-1, keepdims=True))),
    ],
    "softmax_jacobian": [
        lambda s: np.diag(s) - np.outer(s, s),
        lambda s: np.array([[s[i] * ((i == j) - s[j]) for j in range(len(s))]
                            for i in range(len(s))]),
        lambda s: np.einsum("i,ij->ij", s, np.eye(len(s))) - np.einsum("i,j->ij", s, s),
        lambda s: np.diagflat(s) - s[:, None] * s[None, :],
    ],
    "softmax_jacobian_batch": [
        lambda S: S[:, :, None] * np.eye(S.shape[1]) - S[:, :, None] * S[:, None, :],
        lambda S: np.stack([np.diag(s) - np.outer(s, s) for s in S]),
        lambda S: np.einsum("ni,ij->nij", S, np.eye(S.shape[1]))
        - np.einsum("ni,nj->nij", S, S),
    ],
    "softmax_vjp": [
        lambda s, g: s * (g - (g * s).sum(axis=-1, keepdims=True)),
        lambda s, g: np.array([s_n * (g_n - g_n @ s_n) for s_n, g_n in zip(s, g, strict=True)]),
        lambda s, g: s * g - s * np.einsum("nk,nk->n", g, s)[:, None],
    ],
    "cross_entropy": [
        lambda z, y: -_stable_log_softmax(z)[np.arange(len(y)), y].mean(),
        _ce_one_hot_matrix,
        _ce_loop,
    ],
    "cross_entropy_grad": [
        lambda z, y: (_stable_softmax(z) - np.eye(z.shape[1])[y]) / len(y),
        _ce_grad_one_hot,
        _ce_grad_loop,
    ],
    "dense_backward": [
        lambda dZ, A, W: (dZ @ W.T, A.T @ dZ, dZ.sum(axis=0)),
        lambda dZ, A, W: (np.einsum("nh,dh->nd", dZ, W), np.einsum("nd,nh->dh", A, dZ),
                          np.einsum("nh->h", dZ)),
        lambda dZ, A, W: [np.tensordot(dZ, W, axes=(1, 1)),
                          sum(np.outer(A[n], dZ[n]) for n in range(len(A))),
                          np.array([dZ[:, h].sum() for h in range(dZ.shape[1])])],
    ],
    "numerical_gradient": [_numgrad_model, _numgrad_nditer, _numgrad_copies],
}


#: Numeric exercises whose correct and wrong answers live in a test file of their own.
TESTED_IN_OWN_FILE = {"jacobian_vjp": "tests/test_jacobian_vjp.py",
                      "predict_digits": "tests/test_exercises_nb07.py"}


def _solutions_in_notebook_test_files():
    """Exercise ids that a ``tests/test_exercises_nbNN.py`` file covers in its own CORRECT.

    Notebooks 05 and later test their new exercises in a file of their own, which holds a
    CORRECT dict (id -> correct solutions) like the one above.
    """
    import importlib.util
    from pathlib import Path

    ids = set()
    for path in sorted(Path(__file__).parent.glob("test_exercises_nb[0-9][0-9].py")):
        spec = importlib.util.spec_from_file_location(f"_solutions_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        ids |= set(module.CORRECT)
    return ids


def test_every_numeric_exercise_has_solutions_here():
    numeric = {ex for ex in list_exercises() if get_exercise(ex).kind == "function"}
    assert numeric == (set(CORRECT) | _solutions_in_notebook_test_files()
                       | set(TESTED_IN_OWN_FILE))
    assert all(len(impls) >= 3 for impls in CORRECT.values())


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("exercise_id, index", [
    (ex, i) for ex, impls in CORRECT.items() for i in range(len(impls))])
def test_correct_solutions_pass(exercise_id, index, seed):
    result = grade(exercise_id, CORRECT[exercise_id][index], seed=seed)
    assert result.status == "passed", str(result)
    assert result.passed and result.score == result.points > 0
    assert result.diagnosis == []


@pytest.mark.parametrize("exercise_id", sorted(CORRECT))
def test_reference_function_passes(exercise_id):
    """The library's own implementation passes (when it is not flagged as the reference)."""
    exercise = get_exercise(exercise_id)
    outcome = exercise.grade(lambda *args: exercise.reference(*args), timeout=5, seed=3)
    # The reference lives in backprop_lib.functional for most exercises, which
    # the grader rightly flags as "uses_reference"; values must be right either way.
    assert outcome.status == "passed" or outcome.diagnosis == ["uses_reference"], str(outcome)


@pytest.mark.parametrize("exercise_id", sorted(CORRECT))
def test_stub_is_not_attempted(exercise_id):
    def stub(*args):
        raise NotImplementedError()

    result = grade(exercise_id, stub)
    assert result.status == "not attempted"
    assert result.score == 0 and not result.passed
    assert "NotImplementedError" in result.message


# ---------------------------------------------------------------------------
# Wrong implementations and the mistake each must be named as
# ---------------------------------------------------------------------------


def _naive_softmax(z):
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _softmax_axis0(z):
    e = np.exp(z - z.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def _softmax_global_max(z):
    e = np.exp(z - z.max())
    return e / e.sum(axis=-1, keepdims=True)


def _softmax_in_place(z):
    z -= z.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z


def _jacobian_reusing_s(s):
    J = -np.outer(s, s)
    s *= 1 - s
    J[np.diag_indices_from(J)] += s
    return J


def _jacobian_batch_in_place(S):
    J = -(S[:, :, None] * S[:, None, :])
    S *= 1 - S  # the diagonal entries s (1 - s), computed in S's own buffer
    k = np.arange(S.shape[1])
    J[:, k, k] += S
    return J


def _vjp_in_place(s, g):
    g -= (g * s).sum(axis=-1, keepdims=True)
    g *= s
    return g


def _vjp_forming_jacobian(s, g):
    J = s[:, :, None] * np.eye(s.shape[1]) - s[:, :, None] * s[:, None, :]
    return np.einsum("ni,nij->nj", g, J)


def _ce_grad_in_place(z, y):
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    z[np.arange(len(y)), y] -= 1
    z /= len(y)
    return z


def _dense_backward_into_A(dZ, A, W):
    dW = A.T @ dZ
    dA = np.matmul(dZ, W.T, out=A) if A.shape == (dZ.shape[0], W.shape[0]) else None
    return dA, dW, dZ.sum(axis=0)


def _numgrad_no_restore(f, x, h=1e-5):
    grad = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        x[i] += h
        fp = f(x)
        x[i] -= 2 * h
        fm = f(x)
        grad[i] = (fp - fm) / (2 * h)
    return grad


def _numgrad_step(sign, divisor, forward=False):
    def numerical_gradient(f, x, h=1e-5):
        grad = np.zeros(x.shape)
        for i in np.ndindex(x.shape):
            old = x[i]
            x[i] = old + sign * h
            fp = f(x)
            x[i] = old if forward else old - sign * h
            fm = f(x)
            x[i] = old
            grad[i] = (fp - fm) / (divisor * h)
        return grad
    return numerical_gradient


def _dense_layer_forward(A, W, b):
    from backprop_lib.layers import Dense

    layer = Dense(W.shape[0], W.shape[1])
    layer.params["W"], layer.params["b"] = W, b
    return layer.forward(A)


def _uses_reference(name):
    return lambda *args: getattr(F, name)(*args)


#: (exercise id, expected mistake code or None, text expected in the feedback, implementation)
WRONG = [
    # 00 warm-up
    ("warmup_row_sums", "wrong_axis", "column", lambda A: A.sum(axis=0)),
    ("warmup_row_sums", "wrong_axis", "every entry", lambda A: A.sum()),
    ("warmup_row_sums", "shape", "keepdims", lambda A: A.sum(axis=1, keepdims=True)),
    ("warmup_row_sums", "mutates_input", "A", lambda A: np.cumsum(A, axis=1, out=A)[:, -1]),
    ("warmup_row_sums", "dtype", "integers", lambda A: A.sum(axis=1).astype(int)),
    ("warmup_row_sums", "wrong_normaliser", "mean", lambda A: A.mean(axis=1)),
    # 01 dense forward
    ("dense_forward", "transposed", "column convention", lambda A, W, b: (A @ W + b).T),
    ("dense_forward", "transposed", "row", lambda A, W, b: W.T @ A.T + b[:, None]),
    ("dense_forward", "bias_wrong_axis", "every row", lambda A, W, b: A @ W + b[:, None]),
    ("dense_forward", "bias_wrong_axis", "b", lambda A, W, b: A @ W + b.reshape(-1, 1)),
    ("dense_forward", "shape", "single example", lambda A, W, b: A[0] @ W + b),
    ("dense_forward", "missing_term", "bias", lambda A, W, b: A @ W),
    ("dense_forward", "uses_reference", "backprop_lib", _dense_layer_forward),
    # 02 softmax
    ("softmax", "overflow", "maximum", _naive_softmax),
    ("softmax", "wrong_axis", "axis=0", _softmax_axis0),
    ("softmax", "wrong_axis", "WHOLE", lambda z: np.exp(z - z.max(-1, keepdims=True))
     / np.exp(z - z.max(-1, keepdims=True)).sum()),
    ("softmax", "wrong_axis", "z.max()", _softmax_global_max),
    ("softmax", "sign", "-z", lambda z: _stable_softmax(-z)),
    ("softmax", "transposed", "transposed", lambda z: _stable_softmax(z).T),
    ("softmax", "mutates_input", "z", _softmax_in_place),
    ("softmax", "uses_reference", "backprop_lib", _uses_reference("softmax")),
    # 02 log-softmax
    ("log_softmax", "overflow", "maximum",
     lambda z: z - np.log(np.exp(z).sum(axis=-1, keepdims=True))),
    ("log_softmax", "not_finite", "np.log(softmax(z))", lambda z: np.log(_stable_softmax(z))),
    ("log_softmax", "wrong_axis", "axis=0", lambda z: np.log(_softmax_axis0(z))),
    ("log_softmax", "sign", "opposite sign", lambda z: -_stable_log_softmax(z)),
    ("log_softmax", "transposed", "transposed", lambda z: _stable_log_softmax(z).T),
    ("log_softmax", "uses_reference", "backprop_lib", _uses_reference("log_softmax")),
    ("log_softmax", "missing_term", "log(sum(exp", lambda z: z - z.max(axis=-1, keepdims=True)),
    # 03 softmax Jacobian
    ("softmax_jacobian", "elementwise_jacobian", "off-diagonal", lambda s: np.diag(s * (1 - s))),
    ("softmax_jacobian", "elementwise_jacobian", "(K, K) matrix", lambda s: s * (1 - s)),
    ("softmax_jacobian", "sign", "flipped", lambda s: np.outer(s, s) - np.diag(s)),
    ("softmax_jacobian", "mutates_input", "s", _jacobian_reusing_s),
    ("softmax_jacobian", "uses_reference", "backprop_lib", _uses_reference("softmax_jacobian")),
    ("softmax_jacobian", "shape", "shape", lambda s: (np.diag(s) - np.outer(s, s))[None]),
    ("softmax_jacobian", "missing_term", "diag(s)", lambda s: -np.outer(s, s)),
    ("softmax_jacobian", "double_softmax", "OUTPUT", lambda s: np.diag(_stable_softmax(s))
     - np.outer(_stable_softmax(s), _stable_softmax(s))),
    # 03 batched Jacobian
    ("softmax_jacobian_batch", "elementwise_jacobian", "off-diagonal",
     lambda S: (S * (1 - S))[:, :, None] * np.eye(S.shape[1])),
    ("softmax_jacobian_batch", "elementwise_jacobian", "(K, K) matrix", lambda S: S * (1 - S)),
    ("softmax_jacobian_batch", "sign", "flipped",
     lambda S: S[:, :, None] * S[:, None, :] - S[:, :, None] * np.eye(S.shape[1])),
    ("softmax_jacobian_batch", "wrong_axis", "single (K, K)",
     lambda S: np.diag(S.sum(axis=0)) - S.T @ S),
    ("softmax_jacobian_batch", "mutates_input", "S", _jacobian_batch_in_place),
    ("softmax_jacobian_batch", "uses_reference", "backprop_lib",
     _uses_reference("softmax_jacobian")),
    # 04 VJP
    ("softmax_vjp", "elementwise_jacobian", "EVERY output", lambda s, g: g * s * (1 - s)),
    ("softmax_vjp", "sign", "opposite sign",
     lambda s, g: s * ((g * s).sum(axis=-1, keepdims=True) - g)),
    ("softmax_vjp", "wrong_axis", "axis=-1",
     lambda s, g: s * (g - (g * s).sum(axis=0, keepdims=True))),
    ("softmax_vjp", "wrong_axis", "one number", lambda s, g: s * (g - (g * s).sum())),
    ("softmax_vjp", "mutates_input", "g", _vjp_in_place),
    ("softmax_vjp", "uses_reference", "backprop_lib", _uses_reference("softmax_vjp")),
    ("softmax_vjp", None, "Jacobian", _vjp_forming_jacobian),
    # 04 cross-entropy
    ("cross_entropy", "missing_batch_mean", "MEAN",
     lambda z, y: -_stable_log_softmax(z)[np.arange(len(y)), y].sum()),
    ("cross_entropy", "sign", "minus", lambda z, y: _stable_log_softmax(z)[np.arange(len(y)), y]
     .mean()),
    ("cross_entropy", "overflow", "maximum",
     lambda z, y: -np.log(_naive_softmax(z)[np.arange(len(y)), y]).mean()),
    ("cross_entropy", "not_finite", "log(softmax",
     lambda z, y: -np.log(_stable_softmax(z)[np.arange(len(y)), y]).mean()),
    ("cross_entropy", "missing_one_hot", "true class",
     lambda z, y: -_stable_log_softmax(z).sum(axis=1).mean()),
    ("cross_entropy", "wrong_axis", "axis=0",
     lambda z, y: -np.log(_softmax_axis0(z))[np.arange(len(y)), y].mean()),
    ("cross_entropy", "uses_reference", "backprop_lib", _uses_reference("cross_entropy")),
    ("cross_entropy", "wrong_index", "[np.arange(N), y]",
     lambda z, y: -_stable_log_softmax(z)[:, y].mean()),
    ("cross_entropy", "shape", "mean", lambda z, y: -_stable_log_softmax(z)[np.arange(len(y)), y]),
    # 04 cross-entropy gradient
    ("cross_entropy_grad", "missing_batch_mean", "1/N",
     lambda z, y: _stable_softmax(z) - np.eye(z.shape[1])[y]),
    ("cross_entropy_grad", "missing_one_hot", "one-hot", lambda z, y: _stable_softmax(z) / len(y)),
    ("cross_entropy_grad", "sign", "flipped",
     lambda z, y: (np.eye(z.shape[1])[y] - _stable_softmax(z)) / len(y)),
    ("cross_entropy_grad", "overflow", "max shift",
     lambda z, y: (_naive_softmax(z) - np.eye(z.shape[1])[y]) / len(y)),
    ("cross_entropy_grad", "wrong_axis", "axis=0",
     lambda z, y: (_softmax_axis0(z) - np.eye(z.shape[1])[y]) / len(y)),
    ("cross_entropy_grad", "transposed", "transposed",
     lambda z, y: ((_stable_softmax(z) - np.eye(z.shape[1])[y]) / len(y)).T),
    ("cross_entropy_grad", "mutates_input", "logits", _ce_grad_in_place),
    ("cross_entropy_grad", "uses_reference", "backprop_lib", _uses_reference("cross_entropy_grad")),
    # 06 dense backward
    ("dense_backward", "transposed", "A.T @ dZ",
     lambda dZ, A, W: (dZ @ W.T, dZ.T @ A, dZ.sum(axis=0))),
    ("dense_backward", "transposed", "W^T", lambda dZ, A, W: (dZ @ W, A.T @ dZ, dZ.sum(axis=0))),
    ("dense_backward", "bias_wrong_axis", "axis=1",
     lambda dZ, A, W: (dZ @ W.T, A.T @ dZ, dZ.sum(axis=1))),
    ("dense_backward", "bias_wrong_axis", "shared bias", lambda dZ, A, W: (dZ @ W.T, A.T @ dZ, dZ)),
    ("dense_backward", "sign", "opposite sign",
     lambda dZ, A, W: (-(dZ @ W.T), -(A.T @ dZ), -dZ.sum(axis=0))),
    ("dense_backward", "mutates_input", "A", _dense_backward_into_A),
    ("dense_backward", "wrong_normaliser", "already inside dZ",
     lambda dZ, A, W: (dZ @ W.T, A.T @ dZ, dZ.mean(axis=0))),
    ("dense_backward", "output_order", "order",
     lambda dZ, A, W: (A.T @ dZ, dZ @ W.T, dZ.sum(axis=0))),
    # 06 numerical gradient
    ("numerical_gradient", "mutates_input", "x", _numgrad_no_restore),
    ("numerical_gradient", "sign", "flipped", _numgrad_step(sign=-1, divisor=2)),
    ("numerical_gradient", "transposed", "shape of x", lambda f, x, h=1e-5: _numgrad_model(f, x).T),
    ("numerical_gradient", "shape", "flat", lambda f, x, h=1e-5: _numgrad_model(f, x).ravel()),
    ("numerical_gradient", "dtype", "integers",
     lambda f, x, h=1e-5: _numgrad_model(f, x).astype(int)),
    ("numerical_gradient", "uses_reference", "backprop_lib",
     lambda f, x, h=1e-5: gradcheck.numerical_gradient(f, x, h)),
    ("numerical_gradient", "forward_difference", "forward differences",
     _numgrad_step(1, 1, forward=True)),
    ("numerical_gradient", "wrong_normaliser", "2h", _numgrad_step(sign=1, divisor=1)),
]


# ---------------------------------------------------------------------------
# Development set for the structural diagnosis: realistic wrong answers that the
# exercises' hand-written variants do not reproduce exactly (combined mistakes, other
# normalisers, operands in the column convention's order, no keepdims, ...). The
# held-out set in tests/test_grading_heldout.py was written after the code and is
# measured separately.
# ---------------------------------------------------------------------------


def _sm(z, axis=-1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _lsm(z):
    m = z.max(axis=-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


def _onehot(z, y):
    return np.eye(z.shape[1])[y]


def _dev_vjp_in_loop(s, g):
    out = np.empty_like(s)
    for n in range(s.shape[0]):
        J = np.diag(s[n]) + np.outer(s[n], s[n])
        out[n] = g[n] @ J
    return out


def _dev_numgrad_all_at_once(f, x, h=1e-5):
    grad = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        grad[i] = (f(x + h) - f(x - h)) / (2 * h)
    return grad


def _dev_ce_grad_columns(z, y):
    p = _sm(z)
    p[:, y] -= 1
    return p / len(y)


#: (exercise id, the code a tutor would name, implementation)
DEV = [
    ("warmup_row_sums", "wrong_axis", lambda A: np.array([col.sum() for col in A.T])),
    ("warmup_row_sums", "wrong_normaliser", lambda A: A.sum(axis=1) / A.shape[1]),
    ("warmup_row_sums", "dtype", lambda A: A.sum(axis=1).astype(np.float16)),
    ("warmup_row_sums", "shape", lambda A: A.sum(axis=1, keepdims=True).T),
    ("dense_forward", "operand_order", lambda A, W, b: W @ A + b),
    ("dense_forward", "transposed", lambda A, W, b: A @ W.T + b),
    ("dense_forward", "transposed", lambda A, W, b: np.einsum("nd,hd->nh", A, W) + b),
    ("dense_forward", "transposed", lambda A, W, b: W.T @ A.T + b),
    ("dense_forward", "missing_term", lambda A, W, b: np.dot(A, W)),
    ("softmax", "wrong_axis", lambda z: np.exp(z - z.max(-1, keepdims=True))
     / np.exp(z - z.max(-1, keepdims=True)).sum(axis=-1)),
    ("softmax", "wrong_axis", lambda z: np.exp(z - np.max(z)) / np.sum(np.exp(z - np.max(z)))),
    ("softmax", "dtype", lambda z: _sm(z).astype(np.float16)),
    ("softmax", "double_softmax", lambda z: _sm(_sm(z))),
    ("log_softmax", "wrong_axis", lambda z: z - z.max(-1, keepdims=True)
     - np.log(np.exp(z - z.max(-1, keepdims=True)).sum(-1))),
    ("log_softmax", "sign", lambda z: z - z.max(-1, keepdims=True)
     + np.log(np.exp(z - z.max(-1, keepdims=True)).sum(-1, keepdims=True))),
    ("log_softmax", "wrong_axis", lambda z: z - np.log(np.exp(z - z.max()).sum()) - z.max()),
    ("log_softmax", "dtype", lambda z: _lsm(z).astype(np.complex128)),
    ("softmax_jacobian", "sign", lambda s: np.diag(s) + np.outer(s, s)),
    ("softmax_jacobian", "missing_term", lambda s: s[:, None] * (1 - s[None, :])),
    ("softmax_jacobian", "missing_term", lambda s: np.eye(len(s)) - np.outer(s, s)),
    ("softmax_jacobian", "elementwise_jacobian", lambda s: np.diag(s) - np.diag(s * s)),
    ("softmax_jacobian", "wrong_normaliser", lambda s: (np.diag(s) - np.outer(s, s)) / len(s)),
    ("softmax_jacobian_batch", "sign",
     lambda S: np.stack([np.diag(s) + np.outer(s, s) for s in S])),
    ("softmax_jacobian_batch", "elementwise_jacobian",
     lambda S: np.stack([np.diag(s - s**2) for s in S])),
    ("softmax_jacobian_batch", "wrong_axis",
     lambda S: np.stack([np.diag(c) - np.outer(c, c) for c in S.T])),
    ("softmax_vjp", "sign", lambda s, g: s * (g + (g * s).sum(-1, keepdims=True))),
    ("softmax_vjp", "wrong_axis", lambda s, g: s * (g - (g * s).sum(axis=1))),
    ("softmax_vjp", "wrong_normaliser", lambda s, g: s * (g - (g * s).mean(-1, keepdims=True))),
    ("softmax_vjp", "missing_term", lambda s, g: g - (g * s).sum(-1, keepdims=True)),
    ("softmax_vjp", "sign", _dev_vjp_in_loop),
    ("softmax_vjp", "dtype", lambda s, g: (s * (g - (g * s).sum(-1, keepdims=True)))
     .astype(np.float16)),
    ("cross_entropy", "wrong_normaliser", lambda z, y: -np.mean(_onehot(z, y) * _lsm(z))),
    ("cross_entropy", "missing_batch_mean", lambda z, y: -np.sum(_lsm(z)[np.arange(len(y)), y])),
    ("cross_entropy", "sign", lambda z, y: np.mean(_lsm(z)[np.arange(len(y)), y])),
    ("cross_entropy_grad", "wrong_normaliser", lambda z, y: (_sm(z) - _onehot(z, y)) / z.shape[1]),
    ("cross_entropy_grad", "sign", lambda z, y: (_sm(z) + _onehot(z, y)) / len(y)),
    ("cross_entropy_grad", "elementwise_jacobian",
     lambda z, y: (_sm(z) * _onehot(z, y) - _onehot(z, y)) / len(y)),
    ("cross_entropy_grad", "wrong_normaliser", lambda z, y: (_sm(z) - _onehot(z, y)) / z.size),
    ("cross_entropy_grad", "missing_one_hot", lambda z, y: _sm(z) / len(y) - 1 / len(y)),
    ("dense_backward", "output_order", lambda dZ, A, W: (A.T @ dZ, dZ @ W.T, dZ.sum(axis=0))),
    ("dense_backward", "transposed", lambda dZ, A, W: (dZ @ W.T, A @ dZ, dZ.sum(axis=0))),
    ("dense_backward", "wrong_normaliser",
     lambda dZ, A, W: (dZ @ W.T, A.T @ dZ / len(A), dZ.sum(axis=0) / len(A))),
    ("dense_backward", "sign", lambda dZ, A, W: (-dZ @ W.T, A.T @ dZ, dZ.sum(axis=0))),
    ("dense_backward", "bias_wrong_axis", lambda dZ, A, W: (dZ @ W.T, A.T @ dZ, np.sum(dZ))),
    ("numerical_gradient", "wrong_normaliser",
     lambda f, x, h=1e-5: _numgrad_step(sign=1, divisor=4)(f, x, h)),
    ("numerical_gradient", None, _dev_numgrad_all_at_once),
    ("softmax_jacobian", "inner_product", lambda s: np.diag(s) - s.T @ s),
    ("softmax_vjp", "wrong_axis", lambda s, g: s * (g - g @ s)),
    ("cross_entropy_grad", "wrong_index", _dev_ce_grad_columns),
]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("exercise_id, code, impl", DEV,
                         ids=[f"{d[0]}-{d[1]}-{i}" for i, d in enumerate(DEV)])
def test_development_wrong_answer_is_named(exercise_id, code, impl, seed):
    result = grade(exercise_id, impl, seed=seed)
    assert result.status in {"failed", "error"}, str(result)
    if code is not None:
        assert code in result.diagnosis, str(result)


def _feedback_text(result):
    return " ".join([result.message] + [s for _, s in result.explanations])


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("exercise_id, code, text, impl", WRONG,
                         ids=[f"{w[0]}-{w[1]}-{i}" for i, w in enumerate(WRONG)])
def test_wrong_implementation_is_named(exercise_id, code, text, impl, seed):
    result = grade(exercise_id, impl, seed=seed)
    assert result.status == "failed", str(result)
    assert result.score == 0 and not result.passed
    if code is not None:
        assert code in result.diagnosis, str(result)
    assert text in _feedback_text(result), str(result)


def test_each_exercise_has_five_named_wrong_implementations():
    named = {}
    for exercise_id, code, _text, _impl in WRONG:
        if code is not None:
            named[exercise_id] = named.get(exercise_id, 0) + 1
    assert set(named) == set(CORRECT)
    assert min(named.values()) >= 5, named


def test_every_wrong_variant_code_is_a_design_code():
    from backprop_lib.grading.mistakes import MISTAKES

    for exercise_id in CORRECT:
        for variant in get_exercise(exercise_id).variants:
            assert variant.code is None or variant.code in MISTAKES


# ---------------------------------------------------------------------------
# What the cases cover
# ---------------------------------------------------------------------------


def test_hidden_cases_change_with_the_seed_and_cover_awkward_inputs():
    exercise = get_exercise("softmax")
    first = exercise.hidden_cases(np.random.default_rng(0))
    second = exercise.hidden_cases(np.random.default_rng(1))
    assert any(a.args[0].shape != b.args[0].shape or not np.array_equal(a.args[0], b.args[0])
               for a, b in zip(first, second, strict=True))
    arrays = [case.args[0] for case in first]
    assert {a.dtype for a in arrays} == {np.dtype(np.float32), np.dtype(np.float64)}
    assert any(a.shape[0] == 1 for a in arrays)
    assert any(a.shape[-1] == 2 for a in arrays)
    assert max(np.abs(a).max() for a in arrays) >= 1e4
    assert any(not a.flags.c_contiguous and not a.flags.f_contiguous for a in arrays)
    assert any(a.flags.f_contiguous and not a.flags.c_contiguous for a in arrays)


def test_learner_receives_inputs_in_the_case_layout():
    seen = []

    def spy(z):
        seen.append((z.flags.c_contiguous, z.flags.f_contiguous, z.dtype))
        return _stable_softmax(z)

    assert grade("softmax", spy, seed=4).passed
    assert (False, False, np.dtype(np.float64)) in seen or (False, False,
                                                            np.dtype(np.float32)) in seen
    assert (False, True, np.dtype(np.float64)) in seen or (False, True,
                                                           np.dtype(np.float32)) in seen


def test_float32_answers_are_accepted_and_float64_too():
    as_float32 = grade("softmax", lambda z: _stable_softmax(z).astype(np.float32))
    as_float64 = grade("softmax", lambda z: _stable_softmax(z.astype(np.float64)))
    assert as_float32.passed and as_float64.passed


def test_a_small_error_on_one_entry_is_caught_with_its_index():
    def off_by_a_bit(z):
        s = _stable_softmax(z)
        s[..., -1] += 1e-3
        return s

    result = grade("softmax", off_by_a_bit)
    assert result.status == "failed"
    assert result.mismatch.startswith("[0, 2]")
    assert result.expected_shape == result.got_shape == (2, 3)


def test_exercises_are_listed_by_notebook():
    assert list_exercises(0) == ["warmup_row_sums"]
    placement = {"dense_forward": 1, "softmax": 2, "log_softmax": 2, "softmax_jacobian": 3,
                 "softmax_jacobian_batch": 3, "softmax_vjp": 4, "cross_entropy": 4,
                 "cross_entropy_grad": 4, "dense_backward": 6, "numerical_gradient": 6}
    for exercise_id, notebook in placement.items():
        assert exercise_id in list_exercises(notebook)
    everything = list_exercises()
    notebooks = [get_exercise(e).notebook for e in everything]
    assert notebooks == sorted(notebooks) and len(set(everything)) == len(everything)


def test_two_mistakes_in_two_outputs_are_both_named():
    result = grade("dense_backward", lambda dZ, A, W: (dZ @ W.T, dZ.T @ A, dZ.sum(axis=1)))
    assert set(result.diagnosis) >= {"transposed", "bias_wrong_axis"}
    assert result.mismatch.startswith("dW")


def test_seed_is_recorded_and_differs_between_checks():
    from backprop_lib.grading import check

    seeds = {check("softmax", _stable_softmax).seed for _ in range(3)}
    assert len(seeds) == 3
