"""Held-out measurement of the diagnosis: realistic wrong answers written after the code.

Each answer is labelled with the mistake code a good tutor would name, or ``NO_CAUSE`` when
no code describes it. The tests assert that at least 90 % of the nameable (answer, seed)
pairs get their code, that every wrong answer is rejected, and that every correct
alternative passes. Hidden-case seeds are fixed, so the numbers reproduce;
``pytest tests/test_grading_heldout.py -s`` prints the rates and the misses.

History, for an honest reading of the numbers:

- ``HELDOUT_1`` was written once the diagnosis was finished, without running any of it
  before. Its first measurement was 104 of 128 (answer, seed) pairs named, 81.2 %, with
  12 answers missed (listed in ``FIRST_RUN_MISSES``). Those misses were then used to
  improve the diagnosis, so ``HELDOUT_1`` is development data now.
- ``HELDOUT_2`` was written after those improvements, again without running it before.
  Its first measurement was 90 of 106 pairs, 84.9 %, with 8 answers missed
  (``SECOND_RUN_MISSES``), four of them in the scalar ``cross_entropy``. They too were used
  to improve the diagnosis, so ``HELDOUT_2`` is development data now as well.
- ``HELDOUT_3`` was written after the second round of improvements, without running it
  before, and on purpose with harder answers (precision lost inside a computation, other
  epsilons, other step sizes, other axis orders). Its first measurement was 68 of 96
  pairs, 70.8 % (``THIRD_RUN_MISSES``). General fixes it prompted (float16-level
  precision, per-row normalisers, permuted axes) and a few exercise ones brought it to
  85.4 %; the seven answers still missed are listed in ``THIRD_SET_STILL_MISSED``.
- ``HELDOUT_4`` was written after that, without running it before its first measurement:
  92 of 98 pairs, 93.9 % (``FOURTH_RUN_MISSES``). One of its misses was a false "float16"
  finding (and, once that was tightened, a false per-row normaliser): both checks now
  ignore differences of rounding size. No other change was made for it.
"""

from __future__ import annotations

import numpy as np
import pytest

from backprop_lib.grading.registry import get_exercise

SEEDS = (11, 12)
NO_CAUSE = None


@pytest.fixture(autouse=True)
def _private_progress(tmp_path, monkeypatch):
    monkeypatch.setenv("BACKPROP_PROGRESS_FILE", str(tmp_path / "progress.json"))


def _softmax(z):
    m = np.max(z, axis=-1, keepdims=True)
    e = np.exp(z - m)
    return e / np.sum(e, axis=-1, keepdims=True)


def _log_softmax(z):
    m = np.max(z, axis=-1, keepdims=True)
    return z - m - np.log(np.sum(np.exp(z - m), axis=-1, keepdims=True))


def _one_hot(y, k):
    Y = np.zeros((len(y), k))
    Y[np.arange(len(y)), y] = 1.0
    return Y


# ---------------------------------------------------------------------------
# wrong answers, by exercise
# ---------------------------------------------------------------------------


def rows_in_half_precision(A):
    out = np.zeros(A.shape[0])
    for j in range(A.shape[1]):
        out += A[:, j]
    return out.astype(np.float16)


def rows_stored_in_first_column(A):
    A[:, 0] = A.sum(axis=1)
    return A[:, 0].copy()


def rows_skipping_first_column(A):
    return sum(A[:, j] for j in range(1, A.shape[1])) + 0.0 * A[:, 0]


def softmax_sum_index_none(z):
    e = np.exp(z)
    return e / np.sum(e, axis=-1)[..., None]


def softmax_shift_in_place(z):
    z -= np.max(z, axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def softmax_numerator_shift_only(z):
    return np.exp(z - z.max(axis=-1, keepdims=True)) / np.exp(z).sum(axis=-1, keepdims=True)


def softmax_via_unshifted_lse(z):
    return np.exp(z - np.log(np.sum(np.exp(z), axis=-1, keepdims=True)))


def log_softmax_rows_sign(z):
    z2 = np.atleast_2d(z)
    out = np.empty(z2.shape)
    for i, row in enumerate(z2.reshape(-1, z2.shape[-1])):
        m = row.max()
        out.reshape(-1, z2.shape[-1])[i] = row - m + np.log(np.exp(row - m).sum())
    return out.reshape(np.shape(z))


def log_softmax_in_place(z):
    z -= z.max(axis=-1, keepdims=True)
    z -= np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return z


def jacobian_diagonal_assigned(s):
    J = np.outer(s, s)
    J[np.diag_indices(len(s))] = s * (1 - s)
    return J


def jacobian_index_typo(s):
    K = len(s)
    J = np.zeros((K, K))
    for i in range(K):
        for j in range(K):
            J[i, j] = s[i] * ((i == j) - s[i])
    return J


def jacobian_of_resoftmaxed(s):
    p = np.exp(s) / np.exp(s).sum()
    return np.diag(p) - np.outer(p, p)


def batch_jacobians_half(S):
    N, K = S.shape
    J = np.zeros((N, K, K), dtype=np.float16)
    for n in range(N):
        J[n] = np.diag(S[n]) - np.outer(S[n], S[n])
    return J


def vjp_in_place(s, g):
    g *= s
    g -= s * g.sum(axis=-1, keepdims=True)
    return g


def vjp_full_jacobian_sign(s, g):
    K = s.shape[-1]
    J = s[:, :, None] * np.eye(K) + s[:, :, None] * s[:, None, :]
    return np.einsum("ni,nij->nj", g, J)


def ce_loop_sum(logits, y):
    logp = _log_softmax(logits)
    total = 0.0
    for i in range(len(y)):
        total -= logp[i, y[i]]
    return total


def ce_grad_shift_in_place(logits, y):
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    return (p - _one_hot(y, p.shape[1])) / len(y)


def ce_grad_row_shift_column_sum(logits, y):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    p = e / e.sum(axis=0, keepdims=True)
    return (p - _one_hot(y, p.shape[1])) / len(y)


def backward_with_update(dZ, A, W):
    dA = dZ @ W.T
    dW = A.T @ dZ
    W -= 0.1 * dW
    return dA, dW, dZ.sum(axis=0)


def _numgrad(step, restore=True, dtype=float, divide=lambda d, h: d / (2 * h)):
    def numerical_gradient(f, x, h=1e-5):
        grad = np.zeros(x.shape, dtype=dtype)
        for i in np.ndindex(x.shape):
            old = x[i]
            fp, fm = step(f, x, i, old, h)
            if restore:
                x[i] = old
            grad[i] = divide(fp - fm, h)
        return grad
    return numerical_gradient


def _central(f, x, i, old, h):
    x[i] = old + h
    fp = f(x)
    x[i] = old - h
    return fp, f(x)


def _forward_restored(f, x, i, old, h):
    x[i] += h
    fp = f(x)
    x[i] -= h
    return fp, f(x)


def numgrad_aliased_copies(f, x, h=1e-5):
    grad = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        old = x[i]
        xp = x
        xp[i] = old + h
        fp = f(xp)
        xm = x
        xm[i] = old - h
        grad[i] = (fp - f(xm)) / (2 * h)
    return grad


def numgrad_rows_only(f, x, h=1e-5):
    grad = np.zeros(x.shape)
    for i in range(len(x)):
        x[i] += h
        fp = f(x)
        x[i] -= 2 * h
        fm = f(x)
        x[i] += h
        grad[i] = (fp - fm) / (2 * h)
    return grad


def numgrad_tiny_step(f, x, h=1e-5):
    return _numgrad(_central)(f, x, 1e-12)


#: (exercise id, code a good tutor would name or NO_CAUSE, implementation)
HELDOUT_1 = [
    # 00 row sums
    ("warmup_row_sums", "wrong_axis", lambda A: np.add.reduce(A, axis=0)),
    ("warmup_row_sums", "dtype", rows_in_half_precision),
    ("warmup_row_sums", "wrong_normaliser", lambda A: np.sum(A, axis=-1) / len(A)),
    ("warmup_row_sums", "shape", lambda A: A.sum(axis=1)[:, np.newaxis]),
    ("warmup_row_sums", "mutates_input", rows_stored_in_first_column),
    ("warmup_row_sums", NO_CAUSE, lambda A: np.cumsum(A, axis=1)[:, 0]),
    ("warmup_row_sums", NO_CAUSE, rows_skipping_first_column),
    # 01 dense forward
    ("dense_forward", "operand_order", lambda A, W, b: W @ A.T + b),
    ("dense_forward", "sign", lambda A, W, b: A @ W - b),
    ("dense_forward", "wrong_normaliser", lambda A, W, b: (A @ W + b) / A.shape[0]),
    ("dense_forward", NO_CAUSE, lambda A, W, b: A @ W + b.sum()),
    ("dense_forward", "transposed", lambda A, W, b: np.einsum("nd,dh->hn", A, W) + b[:, None]),
    ("dense_forward", "transposed", lambda A, W, b: A.T @ W + b),
    ("dense_forward", "dtype", lambda A, W, b: (A @ W + b).astype(np.float16)),
    ("dense_forward", NO_CAUSE, lambda A, W, b: A @ W + b[0]),
    # 02 softmax
    ("softmax", "overflow", softmax_sum_index_none),
    ("softmax", "wrong_axis", lambda z: np.exp(z - z.max(axis=0)) / np.exp(z - z.max(axis=0))
     .sum(axis=0)),
    ("softmax", NO_CAUSE, softmax_numerator_shift_only),
    ("softmax", "dtype", lambda z: np.asarray(_softmax(z), dtype=np.half)),
    ("softmax", "mutates_input", softmax_shift_in_place),
    ("softmax", "wrong_axis", lambda z: np.exp(z - z.max()) / np.exp(z - z.max())
     .sum(axis=-1, keepdims=True)),
    ("softmax", "overflow", softmax_via_unshifted_lse),
    # 02 log-softmax
    ("log_softmax", "overflow", lambda z: np.log(np.exp(z) / np.exp(z).sum(-1, keepdims=True))),
    ("log_softmax", "wrong_axis", lambda z: z - z.max(-1, keepdims=True) - np.log(
        np.exp(z - z.max(-1, keepdims=True)).sum(axis=0, keepdims=True))),
    ("log_softmax", NO_CAUSE, lambda z: z - z.max(-1, keepdims=True) - np.log(
        np.exp(z).sum(-1, keepdims=True))),
    ("log_softmax", "sign", log_softmax_rows_sign),
    ("log_softmax", "dtype", lambda z: _log_softmax(z).astype(np.float16)),
    ("log_softmax", "mutates_input", log_softmax_in_place),
    ("log_softmax", NO_CAUSE, lambda z: z / np.log(np.exp(z).sum(-1, keepdims=True))),
    ("log_softmax", "wrong_axis", lambda z: z - np.log(np.exp(z - z.max()).sum(
        -1, keepdims=True)) - z.max()),
    # 03 softmax Jacobian
    ("softmax_jacobian", NO_CAUSE, lambda s: np.diag(s) - s * s),
    ("softmax_jacobian", "dtype", lambda s: (np.diag(s) - np.outer(s, s)).astype(np.float16)),
    ("softmax_jacobian", "sign", lambda s: s * np.eye(len(s)) + np.outer(s, s)),
    ("softmax_jacobian", "wrong_normaliser", lambda s: np.diag(s) - np.outer(s, s) / len(s)),
    ("softmax_jacobian", NO_CAUSE, lambda s: np.diag(s * (1 - s)) - np.outer(s, s)),
    ("softmax_jacobian", NO_CAUSE, jacobian_index_typo),
    ("softmax_jacobian", "double_softmax", jacobian_of_resoftmaxed),
    ("softmax_jacobian", "sign", jacobian_diagonal_assigned),
    # 03 batched Jacobian
    ("softmax_jacobian_batch", "wrong_axis", lambda S: S[:, :, None] * np.eye(S.shape[1])
     - np.einsum("ni,nj->ij", S, S)),
    ("softmax_jacobian_batch", "dtype", batch_jacobians_half),
    ("softmax_jacobian_batch", "wrong_normaliser", lambda S: (S[:, :, None] * np.eye(S.shape[1])
     - S[:, :, None] * S[:, None, :]) / len(S)),
    ("softmax_jacobian_batch", "missing_term", lambda S: -S[:, :, None] * S[:, None, :]),
    # 04 VJP
    ("softmax_vjp", NO_CAUSE, lambda s, g: g * s - s * (g * s).sum(axis=-1, keepdims=True) * s),
    ("softmax_vjp", "wrong_axis", lambda s, g: s * (g - np.einsum("nk,nk->k", g, s))),
    ("softmax_vjp", "elementwise_jacobian", lambda s, g: g * (s - s**2)),
    ("softmax_vjp", "wrong_normaliser", lambda s, g: s * (g - (g * s).sum(
        axis=-1, keepdims=True)) / s.shape[0]),
    ("softmax_vjp", "dtype", lambda s, g: s * (g - np.sum(g * s, axis=-1, keepdims=True)) + 0j),
    ("softmax_vjp", "sign", vjp_full_jacobian_sign),
    ("softmax_vjp", "mutates_input", vjp_in_place),
    ("softmax_vjp", NO_CAUSE, lambda s, g: s - s * (g * s).sum(axis=-1, keepdims=True)),
    # 04 cross-entropy
    ("cross_entropy", "not_finite", lambda z, y: -np.mean(np.log(_softmax(z))[np.arange(len(y)),
                                                                                y])),
    ("cross_entropy", "wrong_normaliser", lambda z, y: -np.sum(np.log(
        _softmax(z)[np.arange(len(y)), y])) / z.size),
    ("cross_entropy", "overflow", lambda z, y: -(z[np.arange(len(y)), y]
                                                 - np.log(np.exp(z).sum(1))).mean()),
    ("cross_entropy", "wrong_index", lambda z, y: -np.log(_softmax(z)[y]).mean()),
    ("cross_entropy", "sign", lambda z, y: np.mean(np.log(np.exp(z).sum(1))
                                                   - z[np.arange(len(y)), y]) * -1),
    ("cross_entropy", "wrong_normaliser", lambda z, y: -np.sum(
        _one_hot(y, z.shape[1]) * _log_softmax(z), axis=0).mean()),
    ("cross_entropy", "missing_batch_mean", ce_loop_sum),
    ("cross_entropy", "shape", lambda z, y: -(_one_hot(y, z.shape[1]) * _log_softmax(z))
     .mean(axis=0)),
    # 04 cross-entropy gradient
    ("cross_entropy_grad", "sign", lambda z, y: _one_hot(y, z.shape[1]) - _softmax(z)),
    ("cross_entropy_grad", "missing_batch_mean",
     lambda z, y: _softmax(z) - _one_hot(y, z.shape[1]) / len(y)),
    ("cross_entropy_grad", "transposed", lambda z, y: (_softmax(z) - _one_hot(y, z.shape[1]).T)
     / len(y)),
    ("cross_entropy_grad", "elementwise_jacobian", lambda z, y: (_softmax(z) * (
        1 - _softmax(z)) * (-_one_hot(y, z.shape[1]) / _softmax(z))) / len(y)),
    ("cross_entropy_grad", "missing_batch_mean", lambda z, y: np.exp(z) / np.exp(z).sum(
        1, keepdims=True) - _one_hot(y, z.shape[1])),
    ("cross_entropy_grad", "mutates_input", ce_grad_shift_in_place),
    ("cross_entropy_grad", "wrong_axis", ce_grad_row_shift_column_sum),
    ("cross_entropy_grad", "dtype", lambda z, y: ((_softmax(z) - _one_hot(y, z.shape[1]))
                                                  / len(y)).astype(np.float16)),
    # 06 dense backward
    ("dense_backward", "transposed", lambda dZ, A, W: (W @ dZ.T, A.T @ dZ, dZ.sum(0))),
    ("dense_backward", "wrong_normaliser",
     lambda dZ, A, W: (dZ @ W.T, A.T @ dZ, np.ones(len(dZ)) @ dZ / len(dZ))),
    ("dense_backward", NO_CAUSE,
     lambda dZ, A, W: (dZ @ W.T, np.outer(A.sum(0), dZ.sum(0)), dZ.sum(0))),
    ("dense_backward", "output_order", lambda dZ, A, W: (A.T @ dZ, dZ.sum(0), dZ @ W.T)),
    ("dense_backward", "dtype",
     lambda dZ, A, W: ((dZ @ W.T).astype(np.float16), A.T @ dZ, dZ.sum(0))),
    ("dense_backward", "mutates_input", backward_with_update),
    ("dense_backward", "sign", lambda dZ, A, W: (dZ @ W.T, A.T @ dZ, -dZ.sum(0))),
    ("dense_backward", NO_CAUSE, lambda dZ, A, W: (dZ @ W.T, A.T @ dZ, dZ[0])),
    # 06 numerical gradient
    ("numerical_gradient", "forward_difference",
     _numgrad(_forward_restored, divide=lambda d, h: d / h)),
    ("numerical_gradient", "wrong_normaliser", _numgrad(_central, divide=lambda d, h: d / 2 * h)),
    ("numerical_gradient", "mutates_input", numgrad_aliased_copies),
    ("numerical_gradient", "dtype", _numgrad(_central, dtype=np.float16)),
    ("numerical_gradient", NO_CAUSE, numgrad_rows_only),
    ("numerical_gradient", NO_CAUSE, numgrad_tiny_step),
]


# ---------------------------------------------------------------------------
# the second held-out set (written after the fixes prompted by the first)
# ---------------------------------------------------------------------------


def rows_by_column_index(A):
    return np.array([np.sum(A[:, i]) for i in range(A.shape[0])])


def softmax_row_loop(z):
    import math

    out = []
    for row in z:
        m = max(row)
        e = [math.exp(v - m) for v in row]
        out.append([v / sum(e) for v in e])
    return np.array(out).reshape(np.shape(z))


def softmax_out_arguments(z):
    np.subtract(z, z.max(axis=-1, keepdims=True), out=z)
    np.exp(z, out=z)
    return z / z.sum(axis=-1, keepdims=True)


def log_softmax_rows_unshifted(z):
    flat = np.asarray(z).reshape(-1, np.shape(z)[-1])
    out = np.array([row - np.log(np.sum(np.exp(row))) for row in flat])
    return out.reshape(np.shape(z))


def jacobian_negated_after_fill(s):
    J = np.outer(s, s)
    np.fill_diagonal(J, s * (1 - s))
    return -J


def vjp_shift_g_in_place(s, g):
    g -= (g * s).sum(axis=-1, keepdims=True)
    return s * g


def vjp_einsum_keeps_i(s, g):
    K = s.shape[-1]
    J = s[:, :, None] * np.eye(K) - s[:, :, None] * s[:, None, :]
    return np.einsum("ni,nij->ni", g, J)


def vjp_builds_jacobian(s, g):
    K = s.shape[-1]
    J = s[:, :, None] * np.eye(K) - s[:, :, None] * s[:, None, :]
    return np.sum(g[:, :, None] * J, axis=1)


def ce_forgets_max(z, y):
    m = z.max(axis=1)
    return -np.mean(z[np.arange(len(y)), y] - np.log(np.sum(np.exp(z - m[:, None]), axis=1)))


def ce_epsilon_in_log(z, y):
    return -np.log(_softmax(z)[np.arange(len(y)), y] + 1e-12).mean()


def ce_grad_partial_mean(z, y):
    p = _softmax(z)
    p[np.arange(len(y)), y] -= 1
    p[np.arange(len(y)), y] /= len(y)
    return p


def ce_grad_aliased_logits(z, y):
    p = z
    p -= p.max(axis=1, keepdims=True)
    np.exp(p, out=p)
    p /= p.sum(axis=1, keepdims=True)
    return (p - _one_hot(y, p.shape[1])) / len(y)


def _copies_numgrad(sign=1, forward=False, reshape=None, h_used=None):
    def numerical_gradient(f, x, h=1e-5):
        h = h_used or h
        grad = np.zeros(x.shape)
        for i in np.ndindex(x.shape):
            xp, xm = x.copy(), x.copy()
            xp[i] += h
            xm[i] -= h
            if forward:
                grad[i] = (f(xp) - f(x)) / h
            else:
                grad[i] = sign * (f(xp) - f(xm)) / (2 * h)
        return grad if reshape is None else grad.reshape(reshape(x))
    return numerical_gradient


HELDOUT_2 = [
    # 00 row sums
    ("warmup_row_sums", "wrong_axis", rows_by_column_index),
    ("warmup_row_sums", "wrong_axis", lambda A: np.einsum("ij->j", A)),
    ("warmup_row_sums", "wrong_normaliser", lambda A: np.mean(A, axis=1) * A.shape[0]),
    ("warmup_row_sums", "shape", lambda A: A.sum(axis=1).reshape(-1, 1)),
    ("warmup_row_sums", "dtype", lambda A: np.sum(A, axis=1, dtype=np.float16)),
    ("warmup_row_sums", NO_CAUSE, lambda A: A.sum(axis=1).round(2)),
    ("warmup_row_sums", "wrong_axis", lambda A: np.full(A.shape[0], A.sum())),
    # 01 dense forward
    ("dense_forward", "transposed", lambda A, W, b: np.einsum("dn,dh->nh", A, W) + b),
    ("dense_forward", NO_CAUSE, lambda A, W, b: A @ W + np.tile(b, (A.shape[1], 1))),
    ("dense_forward", "operand_order", lambda A, W, b: W.T @ A + b),
    ("dense_forward", NO_CAUSE, lambda A, W, b: A @ (W + b)),
    ("dense_forward", NO_CAUSE, lambda A, W, b: A @ W + b[::-1]),
    # 02 softmax
    ("softmax", NO_CAUSE, softmax_row_loop),
    ("softmax", "wrong_axis", lambda z: np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)),
    ("softmax", NO_CAUSE, lambda z: np.exp(z - z.max(-1, keepdims=True)) / np.linalg.norm(
        np.exp(z - z.max(-1, keepdims=True)), axis=-1, keepdims=True)),
    ("softmax", "overflow", lambda z: np.exp(z - z.mean(-1, keepdims=True)) / np.exp(
        z - z.mean(-1, keepdims=True)).sum(-1, keepdims=True)),
    ("softmax", NO_CAUSE, lambda z: 1 / (1 + np.exp(-z))),
    ("softmax", "mutates_input", softmax_out_arguments),
    ("softmax", "wrong_axis", lambda z: np.exp(z - z.max(axis=-1)) / np.exp(
        z - z.max(axis=-1)).sum(axis=-1, keepdims=True)),
    ("softmax", "wrong_axis", lambda z: _softmax(z) * 0 + np.exp(z - z.max(-2, keepdims=True))
     / np.exp(z - z.max(-2, keepdims=True)).sum(-2, keepdims=True)),
    # 02 log-softmax
    ("log_softmax", "overflow", lambda z: z - z.max(-1, keepdims=True) - np.log(
        np.exp(z).sum(-1, keepdims=True)) + z.max(-1, keepdims=True)),
    ("log_softmax", "not_finite", lambda z: np.log(_softmax(z))),
    ("log_softmax", NO_CAUSE, lambda z: -np.log(1 + np.exp(-z))),
    ("log_softmax", "wrong_axis", lambda z: z - np.log(np.sum(np.exp(z), axis=0))),
    ("log_softmax", "overflow", log_softmax_rows_unshifted),
    ("log_softmax", "wrong_axis", lambda z: z - np.logaddexp.reduce(z, axis=0, keepdims=True)),
    ("log_softmax", "wrong_normaliser", lambda z: z - z.max(-1, keepdims=True) - np.log(
        np.exp(z - z.max(-1, keepdims=True)).mean(-1, keepdims=True))),
    # 03 softmax Jacobian
    ("softmax_jacobian", "inner_product", lambda s: np.diag(s) - np.dot(s, s)),
    ("softmax_jacobian", NO_CAUSE, lambda s: -np.outer(s, s) + np.diag(s**2)),
    ("softmax_jacobian", "sign", jacobian_negated_after_fill),
    ("softmax_jacobian", NO_CAUSE, lambda s: np.diag(s) - np.outer(s, 1 - s)),
    # 03 batched Jacobian
    ("softmax_jacobian_batch", NO_CAUSE, lambda S: S[:, :, None] * np.eye(S.shape[1])
     - S[:, None, :] ** 2),
    ("softmax_jacobian_batch", "shape", lambda S: [np.diag(s) - np.outer(s, s) for s in S][0]),
    ("softmax_jacobian_batch", "shape", lambda S: np.stack(
        [np.diag(s) - np.outer(s, s) for s in S], axis=-1)),
    ("softmax_jacobian_batch", "dtype", lambda S: (S[:, :, None] * np.eye(S.shape[1])
                                                   - S[:, :, None] * S[:, None, :]).astype("e")),
    ("softmax_jacobian_batch", "sign", lambda S: -(S[:, :, None] * np.eye(S.shape[1])
                                                   - S[:, :, None] * S[:, None, :])),
    # 04 VJP
    ("softmax_vjp", "missing_term", lambda s, g: g * s - (g * s).sum(axis=-1, keepdims=True)),
    ("softmax_vjp", NO_CAUSE, lambda s, g: s * (g - (g * s).sum(axis=-1, keepdims=True))
     * (1 - s)),
    ("softmax_vjp", NO_CAUSE, vjp_einsum_keeps_i),
    ("softmax_vjp", "missing_term", lambda s, g: s * (g - g.mean(axis=-1, keepdims=True))),
    ("softmax_vjp", NO_CAUSE, vjp_builds_jacobian),
    ("softmax_vjp", "mutates_input", vjp_shift_g_in_place),
    ("softmax_vjp", NO_CAUSE, lambda s, g: g * (s - s * s.sum(-1, keepdims=True))),
    # 04 cross-entropy
    ("cross_entropy", "overflow", lambda z, y: np.mean(-np.log(np.exp(z[np.arange(len(y)), y])
                                                               / np.exp(z).sum(axis=1)))),
    ("cross_entropy", "missing_term", ce_forgets_max),
    ("cross_entropy", "not_finite", ce_epsilon_in_log),
    ("cross_entropy", "wrong_normaliser", lambda z, y: -np.sum(
        _log_softmax(z)[np.arange(len(y)), y]) / len(z[0])),
    ("cross_entropy", "dtype", lambda z, y: np.float16(np.mean(
        -_log_softmax(z)[np.arange(len(y)), y]))),
    ("cross_entropy", "wrong_index", lambda z, y: -np.mean(
        _log_softmax(z)[np.arange(len(y)), y - 1])),
    ("cross_entropy", "missing_one_hot", lambda z, y: -np.mean(np.max(_log_softmax(z), axis=1))),
    # 04 cross-entropy gradient
    ("cross_entropy_grad", "wrong_axis", lambda z, y: (np.exp(z - z.max()) / np.exp(
        z - z.max()).sum() - _one_hot(y, z.shape[1])) / len(y)),
    ("cross_entropy_grad", "missing_batch_mean", ce_grad_partial_mean),
    ("cross_entropy_grad", "overflow", lambda z, y: (np.exp(z) / np.exp(z).sum(
        1, keepdims=True) - _one_hot(y, z.shape[1])) / len(y)),
    ("cross_entropy_grad", "wrong_normaliser", lambda z, y: (_softmax(z) - _one_hot(
        y, z.shape[1])) * len(y)),
    ("cross_entropy_grad", NO_CAUSE, lambda z, y: (_softmax(z) - np.eye(len(y))[y]) / len(y)),
    ("cross_entropy_grad", "mutates_input", ce_grad_aliased_logits),
    ("cross_entropy_grad", "wrong_axis", lambda z, y: (_softmax(z.T).T - _one_hot(
        y, z.shape[1])) / len(y)),
    ("cross_entropy_grad", NO_CAUSE, lambda z, y: np.log(_softmax(z)) - _one_hot(y, z.shape[1])),
    # 06 dense backward
    ("dense_backward", "shape", lambda dZ, A, W: (dZ @ W.T, A.T @ dZ,
                                                  dZ.sum(axis=0, keepdims=True))),
    ("dense_backward", "operand_order", lambda dZ, A, W: (W @ dZ, A.T @ dZ, dZ.sum(0))),
    ("dense_backward", "output_order", lambda dZ, A, W: (A.T @ dZ, dZ.sum(0), dZ @ W.T)[::-1]
     [1:] + (dZ @ W.T,)),
    ("dense_backward", "wrong_normaliser", lambda dZ, A, W: (dZ @ W.T / len(dZ), A.T @ dZ,
                                                             dZ.sum(0))),
    ("dense_backward", "wrong_normaliser", lambda dZ, A, W: (dZ @ W.T, A.T @ dZ,
                                                             dZ.sum(0) / dZ.shape[1])),
    ("dense_backward", "transposed", lambda dZ, A, W: (dZ @ W.T, A.T.dot(dZ).T, dZ.sum(0))),
    ("dense_backward", "transposed", lambda dZ, A, W: (np.einsum("nh,hd->nd", dZ, W),
                                                       A.T @ dZ, dZ.sum(0))),
    ("dense_backward", "dtype", lambda dZ, A, W: (dZ @ W.T, A.T @ dZ,
                                                  dZ.sum(0).astype(np.float16))),
    ("dense_backward", NO_CAUSE, lambda dZ, A, W: (dZ @ W.T, A.T @ dZ + W, dZ.sum(0))),
    # 06 numerical gradient
    ("numerical_gradient", "forward_difference", _copies_numgrad(forward=True)),
    ("numerical_gradient", "shape", _copies_numgrad(reshape=lambda x: (-1,))),
    ("numerical_gradient", "sign", _copies_numgrad(sign=-1)),
    ("numerical_gradient", NO_CAUSE, _copies_numgrad(h_used=1e-2)),
    ("numerical_gradient", "shape", _copies_numgrad(reshape=lambda x: x.shape[::-1])),
]



# ---------------------------------------------------------------------------
# the third held-out set (written after the fixes prompted by the second)
# ---------------------------------------------------------------------------


def dense_bias_into_weights(A, W, b):
    W += b
    return A @ W


def softmax_clipped(z):
    z = np.clip(z, -500, 500)
    return np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)


def log_softmax_rows_without_max(z):
    flat = np.asarray(z, dtype=float).reshape(-1, np.shape(z)[-1])
    out = np.array([row - np.log(np.exp(row - row.max()).sum()) for row in flat])
    return out.reshape(np.shape(z))


def jacobian_as_int(s):
    K = len(s)
    J = np.empty((K, K))
    J[...] = -np.outer(s, s)
    J += np.diag(s)
    return J.astype(int)


def ce_grad_rows_set(z, y):
    p = _softmax(z)
    Y = np.zeros_like(p)
    Y[y] = 1
    return (p - Y) / len(y)


def ce_grad_subtract_twice(z, y):
    grad = (_softmax(z) - _one_hot(y, z.shape[1])) / len(y)
    grad[np.arange(len(y)), y] -= 1 / len(y)
    return grad


def numgrad_no_restore_flat(f, x, h=1e-5):
    grad = np.zeros(x.shape)
    for i in range(x.size):
        x.flat[i] += h
        fp = f(x)
        x.flat[i] -= 2 * h
        fm = f(x)
        grad.flat[i] = (fp - fm) / (2 * h)
    return grad


def numgrad_relative_step(f, x, h=1e-5):
    grad = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old * (1 + h)
        fp = f(x)
        x[i] = old * (1 - h)
        fm = f(x)
        x[i] = old
        grad[i] = (fp - fm) / (2 * h)
    return grad


def numgrad_forward_2h(f, x, h=1e-5):
    grad = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        xp = x.copy()
        xp[i] += 2 * h
        grad[i] = (f(xp) - f(x)) / (2 * h)
    return grad


def numgrad_swap_first_last(f, x, h=1e-5):
    return np.swapaxes(np.asarray(_copies_numgrad()(f, x, h)), 0, -1)


HELDOUT_3 = [
    # 00 row sums
    ("warmup_row_sums", NO_CAUSE, lambda A: A @ np.ones(A.shape[0])),
    ("warmup_row_sums", "wrong_axis", lambda A: np.ones(A.shape[0]) @ A),
    ("warmup_row_sums", "dtype", lambda A: A.sum(axis=1).astype(np.int32)),
    ("warmup_row_sums", NO_CAUSE, lambda A: np.linalg.norm(A, ord=1, axis=1)),
    ("warmup_row_sums", "wrong_axis", lambda A: A.T.sum(axis=1)),
    ("warmup_row_sums", "dtype", lambda A: A.astype(np.float16).sum(axis=1)),
    ("warmup_row_sums", NO_CAUSE, lambda A: np.sum(A[:-1], axis=1)),
    # 01 dense forward
    ("dense_forward", "wrong_axis", lambda A, W, b: (A[:, :, None] * W[None]).sum(axis=2) + b),
    ("dense_forward", "bias_wrong_axis", lambda A, W, b: np.dot(A, W) + np.expand_dims(b, 1)),
    ("dense_forward", "dtype", lambda A, W, b: np.matmul(A, W, dtype=np.float16) + b),
    ("dense_forward", NO_CAUSE, lambda A, W, b: A @ W + b.mean()),
    ("dense_forward", "transposed", lambda A, W, b: (A @ W).T + b),
    ("dense_forward", "mutates_input", dense_bias_into_weights),
    # 02 softmax
    ("softmax", "dtype", lambda z: np.exp(z - z.max(-1, keepdims=True)) / np.sum(
        np.exp(z - z.max(-1, keepdims=True)), axis=-1, keepdims=True, dtype=np.float16)),
    ("softmax", "overflow", softmax_clipped),
    ("softmax", "wrong_axis", lambda z: np.exp(z - z.max(-1, keepdims=True)) / np.exp(
        z - z.max(-1, keepdims=True)).sum(0, keepdims=True)),
    ("softmax", NO_CAUSE, lambda z: z / z.sum(-1, keepdims=True)),
    ("softmax", NO_CAUSE, lambda z: np.exp(z) / (1 + np.exp(z))),
    ("softmax", "wrong_normaliser", lambda z: np.exp(z - z.max(-1, keepdims=True))
     / np.exp(z - z.max(-1, keepdims=True)).max(-1, keepdims=True)),
    ("softmax", NO_CAUSE, lambda z: np.exp((z - z.max(-1, keepdims=True)) / 2) / np.exp(
        (z - z.max(-1, keepdims=True)) / 2).sum(-1, keepdims=True)),
    # 02 log-softmax
    ("log_softmax", "overflow", lambda z: z - np.log(np.exp(z).sum(-1, keepdims=True) + 1e-12)),
    ("log_softmax", "not_finite", lambda z: np.log(np.exp(z - z.max(-1, keepdims=True)))
     - np.log(np.exp(z - z.max(-1, keepdims=True)).sum(-1, keepdims=True))),
    ("log_softmax", "transposed", lambda z: (z - z.max(-1, keepdims=True)) - np.log(np.exp(
        z - z.max(-1, keepdims=True)).sum(-1, keepdims=True)).T),
    ("log_softmax", "wrong_axis", lambda z: z - z.max(-1, keepdims=True) - np.log(np.sum(
        np.exp(z - z.max(-1, keepdims=True))))),
    ("log_softmax", "wrong_axis", lambda z: np.log(np.exp(z) / np.sum(np.exp(z), axis=0,
                                                                      keepdims=True))),
    ("log_softmax", NO_CAUSE, lambda z: z - np.log(np.cumsum(np.exp(z), axis=-1))),
    ("log_softmax", "missing_term", log_softmax_rows_without_max),
    # 03 softmax Jacobian
    ("softmax_jacobian", NO_CAUSE, lambda s: np.diag(s) - np.outer(s, s)[::-1]),
    ("softmax_jacobian", "elementwise_jacobian", lambda s: np.diag(s) - np.outer(s, s)
     * np.eye(len(s))),
    ("softmax_jacobian", NO_CAUSE, lambda s: np.tril(np.diag(s) - np.outer(s, s))),
    ("softmax_jacobian", "wrong_normaliser", lambda s: (np.diag(s) - np.outer(s, s)) * len(s)),
    ("softmax_jacobian", "dtype", jacobian_as_int),
    # 03 batched Jacobian
    ("softmax_jacobian_batch", "wrong_axis", lambda S: np.apply_along_axis(
        lambda s: np.diag(s) - np.outer(s, s), 0, S)),
    ("softmax_jacobian_batch", "missing_term", lambda S: np.eye(S.shape[1])
     - S[:, :, None] * S[:, None, :]),
    ("softmax_jacobian_batch", NO_CAUSE, lambda S: S[:, :, None] * (np.eye(S.shape[1])
                                                                    - S[:, :, None])),
    ("softmax_jacobian_batch", "wrong_axis", lambda S: (S[:, :, None] * np.eye(S.shape[1])
                                                        - S[:, :, None] * S[:, None, :]).sum(0)),
    ("softmax_jacobian_batch", "dtype", lambda S: np.array(
        [np.diag(s) - np.outer(s, s) for s in S], dtype=np.float16)),
    # 04 VJP
    ("softmax_vjp", NO_CAUSE, lambda s, g: s * (g - (s * s).sum(axis=-1, keepdims=True))),
    ("softmax_vjp", "transposed", lambda s, g: s * (g - (g * s).sum(axis=1, keepdims=True).T)),
    ("softmax_vjp", "wrong_axis", lambda s, g: g * s - s * np.einsum("ij,ij->i", g, s)),
    ("softmax_vjp", "wrong_normaliser", lambda s, g: s * (g - (g * s).sum(
        axis=-1, keepdims=True)) * len(s)),
    ("softmax_vjp", NO_CAUSE, lambda s, g: (g - (g * s).sum(axis=-1, keepdims=True)) / s),
    ("softmax_vjp", "wrong_axis", lambda s, g: s * g - (g * s).sum(axis=0) * s),
    # 04 cross-entropy
    ("cross_entropy", "wrong_normaliser", lambda z, y: -np.mean(
        _log_softmax(z)[range(len(y)), y]) / len(y)),
    ("cross_entropy", "shape", lambda z, y: -np.mean(_log_softmax(z)[np.arange(len(y)), y],
                                                    axis=0, keepdims=True)),
    ("cross_entropy", "not_finite", lambda z, y: -np.mean(np.sum(
        _one_hot(y, z.shape[1]) * np.log(_softmax(z) + 1e-9), axis=1))),
    ("cross_entropy", "overflow", lambda z, y: np.mean(np.log(np.sum(np.exp(z), 1))
                                                       - z[range(len(y)), y])),
    ("cross_entropy", "wrong_index", lambda z, y: -np.mean(
        _log_softmax(z)[y, np.arange(len(y)) % z.shape[1]])),
    ("cross_entropy", "not_finite", lambda z, y: -np.log(np.prod(
        _softmax(z)[np.arange(len(y)), y])) / len(y)),
    # 04 cross-entropy gradient
    ("cross_entropy_grad", "wrong_index", ce_grad_rows_set),
    ("cross_entropy_grad", "shape", lambda z, y: (_softmax(z) - _one_hot(y, z.shape[1]))
     .sum(axis=0) / len(y)),
    ("cross_entropy_grad", "missing_batch_mean", lambda z, y: _softmax(z) / len(y)
     - _one_hot(y, z.shape[1])),
    ("cross_entropy_grad", NO_CAUSE, ce_grad_subtract_twice),
    ("cross_entropy_grad", NO_CAUSE, lambda z, y: (_softmax(z) * (1 - _softmax(z))
                                                   - _one_hot(y, z.shape[1])) / len(y)),
    ("cross_entropy_grad", "wrong_normaliser", lambda z, y: (_softmax(z) - _one_hot(
        y, z.shape[1])) / max(len(y) - 1, 1)),
    # 06 dense backward
    ("dense_backward", "shape", lambda dZ, A, W: (dZ @ W.T, A.T @ dZ, dZ.sum(0)[None])),
    ("dense_backward", "transposed", lambda dZ, A, W: (dZ @ W.T, np.einsum("nd,nh->hd", A, dZ),
                                                       dZ.sum(0))),
    ("dense_backward", "wrong_normaliser", lambda dZ, A, W: (dZ @ W.T, A.T @ dZ * len(A),
                                                             dZ.sum(0))),
    ("dense_backward", NO_CAUSE, lambda dZ, A, W: (dZ @ W.T, A.T @ dZ, dZ.max(axis=0))),
    ("dense_backward", "transposed", lambda dZ, A, W: (W.T @ dZ.T, A.T @ dZ, dZ.sum(0))),
    ("dense_backward", "shape", lambda dZ, A, W: (dZ @ W.T, A.T @ dZ)),
    # 06 numerical gradient
    ("numerical_gradient", NO_CAUSE, numgrad_relative_step),
    ("numerical_gradient", "mutates_input", numgrad_no_restore_flat),
    ("numerical_gradient", "forward_difference", numgrad_forward_2h),
    ("numerical_gradient", "transposed", numgrad_swap_first_last),
]


# ---------------------------------------------------------------------------
# the fourth held-out set (written after the fixes prompted by the third)
# ---------------------------------------------------------------------------


def softmax_overwrite_input(z):
    z[...] = np.exp(z - z.max(axis=-1, keepdims=True))
    z /= z.sum(axis=-1, keepdims=True)
    return z


def vjp_multiply_into_g(s, g):
    sg = np.multiply(s, g, out=g)
    return sg - s * sg.sum(axis=-1, keepdims=True)


def backward_dw_into_w(dZ, A, W):
    dA = dZ @ W.T
    dW = np.matmul(A.T, dZ, out=W)
    return dA, dW, dZ.sum(axis=0)


def backward_rescaled_dz(dZ, A, W):
    dZ = dZ / len(dZ)
    return dZ @ W.T, A.T @ dZ, dZ.sum(axis=0)


def numgrad_second_point_unshifted(f, x, h=1e-5):
    grad = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        fp = f(x)
        x[i] = old
        fm = f(x)
        grad[i] = (fp - fm) / (2 * h)
    return grad


def numgrad_int_grad(f, x, h=1e-5):
    grad = np.zeros_like(x, dtype=int)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        fp = f(x)
        x[i] = old - h
        fm = f(x)
        x[i] = old
        grad[i] = (fp - fm) / (2 * h)
    return grad


HELDOUT_4 = [
    # 00 row sums
    ("warmup_row_sums", "wrong_axis", lambda A: np.sum(A, 0)),
    ("warmup_row_sums", "dtype", lambda A: np.array([np.sum(r) for r in A], dtype=np.float16)),
    ("warmup_row_sums", "wrong_axis", lambda A: A.sum(-2)),
    ("warmup_row_sums", "shape", lambda A: np.sum(A, axis=1)[None, :]),
    ("warmup_row_sums", NO_CAUSE, lambda A: np.sum(A * A, axis=1)),
    ("warmup_row_sums", NO_CAUSE, lambda A: A[:, 0] + A[:, 1]),
    # 01 dense forward
    ("dense_forward", "operand_order", lambda A, W, b: np.dot(W, A) + b),
    ("dense_forward", "bias_wrong_axis", lambda A, W, b: A @ W + np.atleast_2d(b).T),
    ("dense_forward", "transposed", lambda A, W, b: A @ W.transpose() + b),
    ("dense_forward", NO_CAUSE, lambda A, W, b: A @ W * b),
    ("dense_forward", "transposed", lambda A, W, b: np.einsum("nd,dh", A, W) + b),
    ("dense_forward", NO_CAUSE, lambda A, W, b: (A @ W + b).round(4)),
    ("dense_forward", "sign", lambda A, W, b: -(A @ W) + b),
    # 02 softmax
    ("softmax", "wrong_axis", lambda z: np.exp(z) / sum(np.exp(z))),
    ("softmax", "sign", lambda z: np.exp(z.max(-1, keepdims=True) - z) / np.exp(
        z.max(-1, keepdims=True) - z).sum(-1, keepdims=True)),
    ("softmax", "dtype", lambda z: _softmax(z).astype(np.float32).astype(np.float16)),
    ("softmax", "mutates_input", softmax_overwrite_input),
    # 02 log-softmax
    ("log_softmax", "not_finite", lambda z: np.log(_softmax(z) + 1e-12)),
    ("log_softmax", "sign", lambda z: z.max(-1, keepdims=True) + np.log(np.exp(
        z - z.max(-1, keepdims=True)).sum(-1, keepdims=True)) - z),
    ("log_softmax", "wrong_axis", lambda z: (z - z.max(-1, keepdims=True)) - np.log(np.exp(
        z - z.max(-1, keepdims=True)).sum(axis=-2, keepdims=True))),
    ("log_softmax", "dtype", lambda z: np.log(_softmax(z).astype(complex))),
    # 03 softmax Jacobian
    ("softmax_jacobian", "sign", lambda s: np.diag(s) + np.outer(-s, -s)),
    ("softmax_jacobian", NO_CAUSE, lambda s: np.diag(s * s) - np.outer(s, s)),
    ("softmax_jacobian", NO_CAUSE, lambda s: np.diag(s) - np.outer(s, s)
     + 1e-8 * np.eye(len(s))),
    ("softmax_jacobian", NO_CAUSE, lambda s: np.diag(1 - s) * s - np.outer(s, s)),
    ("softmax_jacobian", NO_CAUSE, lambda s: np.diag(s / np.linalg.norm(s))
     - np.outer(s, s) / np.linalg.norm(s) ** 2),
    # 03 batched Jacobian
    ("softmax_jacobian_batch", "wrong_axis", lambda S: np.einsum("ni,ij->nij", S, np.eye(
        S.shape[1])) - np.einsum("ni,nj->nij", S, S).sum(0)),
    ("softmax_jacobian_batch", NO_CAUSE, lambda S: S[..., None] * np.eye(S.shape[1])
     - S[..., None] * S[..., None]),
    ("softmax_jacobian_batch", "wrong_normaliser", lambda S: S[:, :, None] * np.eye(S.shape[1])
     - np.einsum("ni,nj->nij", S, S) / S.shape[1]),
    ("softmax_jacobian_batch", "transposed", lambda S: np.array(
        [np.diag(s) - np.outer(s, s) for s in S]).transpose(1, 2, 0)),
    ("softmax_jacobian_batch", "missing_term", lambda S: np.array([np.diag(s) for s in S])),
    # 04 VJP
    ("softmax_vjp", "missing_term", lambda s, g: (s * g) - s * g.sum(-1, keepdims=True)),
    ("softmax_vjp", "mutates_input", vjp_multiply_into_g),
    ("softmax_vjp", NO_CAUSE, lambda s, g: g * (s - (g * s).sum(-1, keepdims=True))),
    ("softmax_vjp", "sign", lambda s, g: s * (-g + (g * s).sum(-1, keepdims=True))),
    ("softmax_vjp", "wrong_axis", lambda s, g: s * (g - np.sum(g * s, axis=0))),
    ("softmax_vjp", "elementwise_jacobian", lambda s, g: g * s - g * s * s),
    # 04 cross-entropy
    ("cross_entropy", "wrong_index", lambda z, y: -np.mean(
        _log_softmax(z)[np.arange(len(y))][y])),
    ("cross_entropy", "wrong_normaliser", lambda z, y: -(_log_softmax(z) * _one_hot(
        y, z.shape[1])).sum() / z.shape[1]),
    ("cross_entropy", "not_finite", lambda z, y: -np.mean(np.log(
        _softmax(z)[np.arange(len(y)), y].clip(1e-15)))),
    ("cross_entropy", "missing_batch_mean", lambda z, y: -np.mean(
        _log_softmax(z)[np.arange(len(y)), y] * len(y))),
    ("cross_entropy", NO_CAUSE, lambda z, y: -np.median(_log_softmax(z)[np.arange(len(y)), y])),
    ("cross_entropy", "sign", lambda z, y: np.sum(_log_softmax(z)[np.arange(len(y)), y])
     / len(y)),
    # 04 cross-entropy gradient
    ("cross_entropy_grad", "wrong_axis", lambda z, y: (np.exp(z) / np.exp(z).sum()
                                                       - _one_hot(y, z.shape[1])) / len(y)),
    ("cross_entropy_grad", "missing_batch_mean", lambda z, y: np.exp(_log_softmax(z))
     - _one_hot(y, z.shape[1])),
    ("cross_entropy_grad", "wrong_normaliser", lambda z, y: (_softmax(z) - _one_hot(
        y, z.shape[1])) / len(y) ** 2),
    ("cross_entropy_grad", NO_CAUSE, lambda z, y: _softmax(z) * (_softmax(z) - _one_hot(
        y, z.shape[1])) / len(y)),
    ("cross_entropy_grad", "sign", lambda z, y: -(_softmax(z) - _one_hot(y, z.shape[1]))
     / len(y)),
    # 06 dense backward
    ("dense_backward", "output_order", lambda dZ, A, W: (dZ @ W.T, dZ.sum(0), A.T @ dZ)),
    ("dense_backward", "transposed", lambda dZ, A, W: (dZ @ W.T, A @ dZ.T, dZ.sum(0))),
    ("dense_backward", "wrong_normaliser", lambda dZ, A, W: (dZ @ W.T / W.shape[1], A.T @ dZ,
                                                             dZ.sum(0))),
    ("dense_backward", "sign", lambda dZ, A, W: (dZ @ W.T, -(A.T @ dZ), dZ.sum(0))),
    ("dense_backward", "wrong_normaliser", backward_rescaled_dz),
    ("dense_backward", "mutates_input", backward_dw_into_w),
    # 06 numerical gradient
    ("numerical_gradient", "forward_difference", numgrad_second_point_unshifted),
    ("numerical_gradient", "dtype", numgrad_int_grad),
    ("numerical_gradient", "mutates_input", _numgrad(_central, restore=False)),
    ("warmup_row_sums", "wrong_axis", lambda A: np.nansum(A, axis=0)),
    ("dense_forward", "bias_wrong_axis", lambda A, W, b: A @ W + b[None, :].T),
    ("log_softmax", "dtype", lambda z: z - z.max(-1, keepdims=True) - np.log(np.exp(
        z - z.max(-1, keepdims=True)).sum(-1, keepdims=True)).astype(np.float16)),
    ("cross_entropy_grad", "wrong_axis", lambda z, y: (np.exp(z - z.max(1, keepdims=True))
                                                       / np.exp(z - z.max(1, keepdims=True))
                                                       .sum(1) - _one_hot(y, z.shape[1]))
     / len(y)),
]


#: What the first measurement of HELDOUT_4 missed.
FOURTH_RUN_MISSES = [
    ("log_softmax", "not_finite", "dtype (seed 11), nothing (seed 12): log(softmax + 1e-12)"),
    ("dense_backward", "transposed", "nothing: A @ dZ.T for dW"),
    ("numerical_gradient", "forward_difference",
     "wrong_normaliser: (f(x + h) - f(x)) / (2h), half a forward difference"),
]

#: What the first measurement of HELDOUT_3 missed.
THIRD_RUN_MISSES = [
    ("dense_forward", "dtype", "nothing: np.matmul(..., dtype=np.float16)"),
    ("softmax", "dtype", "nothing: the sum taken in float16"),
    ("softmax", "wrong_axis", "nothing: row max, column sums"),
    ("softmax", "wrong_normaliser", "nothing: divided by the row maximum"),
    ("log_softmax", "transposed", "wrong_axis: the (N, 1) normaliser transposed"),
    ("log_softmax", "wrong_axis", "missing_term: normaliser summed over the whole array"),
    ("softmax_jacobian_batch", "wrong_axis", "shape: np.apply_along_axis(..., 0, S)"),
    ("softmax_vjp", "transposed", "wrong_axis: the (N, 1) inner product transposed"),
    ("cross_entropy", "not_finite", "nothing: -log(p + 1e-9)"),
    ("cross_entropy", "wrong_index", "nothing: logp[y, arange(N) % K]"),
    ("cross_entropy_grad", "wrong_index", "nothing: Y[y] = 1 (rows)"),
    ("cross_entropy_grad", "wrong_normaliser", "missing_batch_mean: divided by N - 1"),
    ("dense_backward", "transposed", "nothing: W.T @ dZ.T for dA"),
    ("numerical_gradient", "forward_difference", "nothing: forward difference with step 2h"),
    ("numerical_gradient", "transposed", "nothing: axes 0 and -1 swapped (3-D x)"),
]

#: Still missed after the fixes (the first two give the very numbers of the named mistake:
#: a transposed (N, 1) column and an (N,) vector without keepdims broadcast alike).
THIRD_SET_STILL_MISSED = [
    ("log_softmax", "transposed"), ("softmax_vjp", "transposed"),
    ("softmax_jacobian_batch", "wrong_axis"), ("cross_entropy", "wrong_index"),
    ("cross_entropy_grad", "wrong_normaliser"), ("dense_backward", "transposed"),
    ("numerical_gradient", "forward_difference"),
]

#: What the first measurement of HELDOUT_1 missed (exercise, label, what the grader said).
FIRST_RUN_MISSES = [
    ("dense_forward", "operand_order", "transposed: W @ A.T + b"),
    ("softmax", "overflow", "nothing: exp(z - log(sum(exp(z)))) without the shift"),
    ("log_softmax", "overflow", "not_finite: log(exp(z) / sum(exp(z)))"),
    ("log_softmax", "wrong_axis", "not_finite: shifted by the global maximum"),
    ("softmax_jacobian", "sign", "elementwise_jacobian: outer product, diagonal replaced"),
    ("softmax_jacobian_batch", "wrong_axis", "nothing: einsum 'ni,nj->ij' for the outer part"),
    ("cross_entropy", "overflow", "not_finite: log-sum-exp without the shift"),
    ("cross_entropy", "wrong_index", "nothing: p[y]"),
    ("cross_entropy_grad", "sign", "missing_batch_mean only: Y - p (no 1/N either)"),
    ("cross_entropy_grad", "transposed", "nothing: p - Y.T (a symmetric probe label matrix)"),
    ("cross_entropy_grad", "wrong_axis", "nothing: row max shift, column sums"),
    ("numerical_gradient", "wrong_normaliser", "nothing: (fp - fm) / 2 * h"),
]


#: What the first measurement of HELDOUT_2 missed.
SECOND_RUN_MISSES = [
    ("warmup_row_sums", "wrong_axis", "nothing: np.full(N, A.sum())"),
    ("dense_forward", "operand_order", "transposed: W.T @ A + b"),
    ("softmax", "wrong_axis", "nothing: axis=1 on a single vector (AxisError)"),
    ("log_softmax", "wrong_normaliser", "nothing: log of the mean of exp(z - m)"),
    ("cross_entropy", "missing_term", "nothing: the max not added back"),
    ("cross_entropy", "not_finite", "nothing: -log(p + 1e-12)"),
    ("cross_entropy", "wrong_index", "nothing: labels y - 1"),
    ("cross_entropy", "missing_one_hot", "nothing: the predicted class instead of y"),
]


# ---------------------------------------------------------------------------
# correct alternatives (none of them in tests/test_grading_exercises.py)
# ---------------------------------------------------------------------------


def jacobians_as_list(S):
    return [np.diagflat(s) - np.outer(s, s) for s in S]


def ce_grad_copy_then_subtract(z, y):
    p = _softmax(z).copy()
    p[np.arange(len(y)), y] -= 1
    return p * (1.0 / len(y))


def numgrad_flat(f, x, h=1e-5):
    grad = np.zeros(x.size)
    flat = x.reshape(-1)
    for i in range(x.size):
        old = flat[i]
        flat[i] = old + h
        fp = f(x)
        flat[i] = old - h
        fm = f(x)
        flat[i] = old
        grad[i] = (fp - fm) / (2 * h)
    return grad.reshape(x.shape).tolist()


def jacobian_filled(s):
    J = -np.outer(s, s)
    np.fill_diagonal(J, s - s**2)
    return J


def numgrad_unit_vectors(f, x, h=1e-5):
    grad = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = 1.0
        grad[i] = (f(x + h * e) - f(x - h * e)) / (2 * h)
    return grad


CORRECT_ALTERNATIVES = [
    # written with the fourth held-out set
    ("warmup_row_sums", lambda A: A.mean(1) * A.shape[1]),
    ("softmax_jacobian", lambda s: np.diag(s) - np.matmul(s[:, None], s[None, :])),
    ("softmax_jacobian", lambda s: np.identity(len(s)) * s - np.outer(s, s)),
    ("softmax_vjp", lambda s, g: s * (g - (g * s).mean(axis=-1, keepdims=True) * s.shape[-1])),
    ("cross_entropy", lambda z, y: -np.mean(_log_softmax(z)[:, y].diagonal())),
    ("numerical_gradient", _numgrad(_central, divide=lambda d, h: d / (h + h))),
    # written with the third held-out set
    ("warmup_row_sums", lambda A: A.sum(axis=1, keepdims=True).flatten()),
    ("warmup_row_sums", lambda A: [row.mean() * len(row) for row in A]),
    ("dense_forward", lambda A, W, b: (A[:, :, None] * W[None]).sum(axis=1) + b),
    ("dense_forward", lambda A, W, b: A @ W + b * np.ones((A.shape[0], 1))),
    ("softmax", lambda z: np.exp(z - z.max(-1, keepdims=True)) / np.add.reduce(
        np.exp(z - z.max(-1, keepdims=True)), axis=-1, keepdims=True)),
    ("log_softmax", lambda z: (z - z.max(-1, keepdims=True)) - np.log(np.add.reduce(
        np.exp(z - z.max(-1, keepdims=True)), -1, keepdims=True))),
    ("softmax_jacobian", lambda s: np.diag(s) - np.kron(s, s).reshape(len(s), len(s))),
    ("softmax_jacobian", lambda s: np.diag(s) - np.outer(s, s) / s.sum()),
    ("softmax_jacobian_batch", lambda S: np.apply_along_axis(
        lambda s: np.diag(s) - np.outer(s, s), 1, S)),
    ("softmax_vjp", lambda s, g: s * (g - np.sum(g * s, axis=-1)[:, np.newaxis])),
    ("cross_entropy_grad", lambda z, y: np.where(_one_hot(y, z.shape[1]) == 1, _softmax(z) - 1,
                                                 _softmax(z)) / len(y)),
    ("dense_backward", lambda dZ, A, W: (dZ @ W.T, A.T @ dZ, list(dZ.sum(axis=0)))),
    ("numerical_gradient", numgrad_unit_vectors),
    # written with the second held-out set
    ("warmup_row_sums", lambda A: A.cumsum(axis=1)[:, -1]),
    ("dense_forward", lambda A, W, b: np.einsum("nd,hd->nh", A, W.T) + b),
    ("dense_forward", lambda A, W, b: A @ W + b.reshape(-1, 1).T),
    ("dense_forward", lambda A, W, b: sum(A[:, d:d + 1] * W[d] for d in range(W.shape[0])) + b),
    ("softmax_jacobian", lambda s: np.diagflat(s) - np.dot(s[:, None], s[None, :])),
    ("softmax_jacobian", lambda s: np.eye(len(s)) * s - s[:, None] * s),
    ("softmax_jacobian", jacobian_filled),
    ("softmax_jacobian", lambda s: np.diag(s) * (1 - s) - np.outer(s, s) * (1 - np.eye(len(s)))),
    ("softmax_jacobian", lambda s: (np.diag(s) - np.outer(s, s)).tolist()),
    ("softmax_jacobian_batch", lambda S: np.einsum("ni,ij->nij", S, np.eye(S.shape[1]))
     - np.einsum("ni,nj->nji", S, S)),
    ("softmax_jacobian_batch", lambda S: S[:, :, None] * np.eye(S.shape[1])
     - S[:, :, None] @ S[:, None, :]),
    ("softmax_vjp", lambda s, g: s * (g - (g @ s.T).diagonal()[:, None])),
    ("softmax_vjp", lambda s, g: np.einsum("nij,nj->ni", s[:, :, None] * np.eye(s.shape[1])[
        None] - s[:, :, None] * s[:, None, :], g) if s.shape[1] < 500 else s * (g - (g * s).sum(
            axis=-1, keepdims=True))),
    ("cross_entropy", lambda z, y: np.mean(np.log(np.sum(np.exp(z - z.max(1, keepdims=True)), 1))
                                           + z.max(1) - z[np.arange(len(y)), y])),
    ("cross_entropy_grad", lambda z, y: ((_softmax(z) - _one_hot(y, z.shape[1])) / len(y))
     .tolist()),
    ("cross_entropy_grad", lambda z, y: -(_one_hot(y, z.shape[1]) - _softmax(z)) / len(y)),
    ("numerical_gradient", _copies_numgrad()),
    # written with the first held-out set
    ("warmup_row_sums", lambda A: np.add.reduce(A, axis=1)),
    ("warmup_row_sums", lambda A: list(map(float, map(sum, A)))),
    ("warmup_row_sums", lambda A: (A @ np.ones((A.shape[1], 1)))[:, 0]),
    ("dense_forward", lambda A, W, b: A @ W + b.reshape(1, -1)),
    ("dense_forward", lambda A, W, b: np.tensordot(A, W, axes=1) + b),
    ("softmax", lambda z: np.exp(z - np.logaddexp.reduce(z, axis=-1, keepdims=True))),
    ("softmax", lambda z: 1.0 / np.exp(z[..., None, :] - z[..., :, None]).sum(axis=-1)),
    ("log_softmax", lambda z: z - np.logaddexp.reduce(z, axis=-1, keepdims=True)),
    ("softmax_jacobian", lambda s: np.diag(s) - np.outer(s, s.T)),
    ("softmax_jacobian", lambda s: s[:, None] * (np.eye(len(s)) - s)),
    ("softmax_jacobian_batch", lambda S: S[:, None, :] * np.eye(S.shape[1])
     - S[:, :, None] * S[:, None, :]),
    ("softmax_jacobian_batch", jacobians_as_list),
    ("softmax_vjp", lambda s, g: s * g - s * (g * s).sum(axis=1)[:, None]),
    ("softmax_vjp", lambda s, g: (g - np.einsum("nj,nj->n", g, s)[:, None]) * s),
    ("cross_entropy", lambda z, y: np.mean(np.logaddexp.reduce(z, axis=1)
                                           - z[np.arange(len(y)), y])),
    ("cross_entropy", lambda z, y: -np.mean(np.take_along_axis(_log_softmax(z), y[:, None],
                                                               axis=1))),
    ("cross_entropy_grad", ce_grad_copy_then_subtract),
    ("cross_entropy_grad", lambda z, y: (_softmax(z) - _one_hot(y, z.shape[1])) * (1.0 / len(y))),
    ("dense_backward", lambda dZ, A, W: (dZ.dot(W.T), dZ.T.dot(A).T, dZ.sum(axis=0))),
    ("dense_backward", lambda dZ, A, W: [(W @ dZ.T).T, np.einsum("nd,nh->dh", A, dZ),
                                         np.ones(len(dZ)) @ dZ]),
    ("numerical_gradient", numgrad_flat),
]


# ---------------------------------------------------------------------------
# the measurement
# ---------------------------------------------------------------------------


def _grade(exercise_id, answer, seed):
    return get_exercise(exercise_id).grade(answer, timeout=5.0, seed=seed)


NUMERIC = {"warmup_row_sums", "dense_forward", "softmax", "log_softmax", "softmax_jacobian",
           "softmax_jacobian_batch", "softmax_vjp", "cross_entropy", "cross_entropy_grad",
           "dense_backward", "numerical_gradient"}


def _measure(answers, name):
    """(rate over nameable (answer, seed) pairs, misses); every answer must be rejected."""
    hits, nameable, misses = 0, 0, []
    for exercise_id, code, answer in answers:
        for seed in SEEDS:
            result = _grade(exercise_id, answer, seed)
            assert result.status != "passed", (exercise_id, code, str(result))
            if code is NO_CAUSE:
                continue
            nameable += 1
            if code in result.diagnosis:
                hits += 1
            else:
                misses.append(f"{exercise_id} (seed {seed}): want {code}, got "
                              f"{result.diagnosis}")
    print(f"\n{name}: {hits}/{nameable} nameable (answer, seed) pairs named "
          f"= {hits / nameable:.1%}")
    for miss in misses:
        print("  miss:", miss)
    return hits / nameable, misses


def test_held_out_sets_are_large_and_cover_every_numeric_exercise():
    assert min(len(HELDOUT_1), len(HELDOUT_2), len(HELDOUT_3), len(HELDOUT_4)) >= 60
    for answers in (HELDOUT_1, HELDOUT_2, HELDOUT_3, HELDOUT_4):
        assert {item[0] for item in answers} == NUMERIC
    assert {item[0] for item in CORRECT_ALTERNATIVES} == NUMERIC


def test_first_held_out_set_now_development_data():
    rate, misses = _measure(HELDOUT_1, "held-out set 1 (after its misses were fixed)")
    assert rate >= 0.9, misses


def test_fourth_held_out_set():
    rate, misses = _measure(HELDOUT_4, "held-out set 4")
    assert rate >= 0.9, misses


def test_third_held_out_set_now_development_data():
    # Below the 90 % goal even after the fixes it prompted (see the history above); the
    # floor guards against regressions.
    rate, misses = _measure(HELDOUT_3, "held-out set 3 (after its general misses were fixed)")
    assert rate >= 0.85, misses


def test_second_held_out_set_now_development_data():
    rate, misses = _measure(HELDOUT_2, "held-out set 2 (after its misses were fixed)")
    assert rate >= 0.9, misses


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("exercise_id, index", [
    (ex, i) for i, (ex, _) in enumerate(CORRECT_ALTERNATIVES)])
def test_held_out_correct_alternatives_pass(exercise_id, index, seed):
    result = _grade(exercise_id, CORRECT_ALTERNATIVES[index][1], seed)
    assert result.status == "passed", str(result)
