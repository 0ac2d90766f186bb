"""Notebook 09 (capstone): hidden-only checks of classes, a loss, and a trained model.

Correct designs (different caches, class layouts, model builds) must pass; realistic wrong
ones must fail with the mistake they make; stubs are "not attempted"; panels never print the
hidden inputs; everything a check needs travels through the executor's arguments and return
value (a forked child process grades exactly like this one); the exam labels never leave the
grader.
"""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from backprop_lib import functional as F
from backprop_lib.data import train_test_split
from backprop_lib.grading import check
from backprop_lib.grading.exercises import nb09_capstone as capstone
from backprop_lib.grading.registry import exercise_ids, get_exercise
from backprop_lib.grading.runner import CallOutcome, run_case
from backprop_lib.layers import Dense, Layer, ReLU, SoftmaxCrossEntropy, Tanh
from backprop_lib.model import MLP, Sequential
from backprop_lib.optim import Adam

SEEDS = (0, 1, 2)
LAYER_IDS = ("capstone_softmax_layer", "capstone_log_softmax_layer")
CE_ID = "capstone_smoothed_weighted_ce"
GRADCHECK_ID = "capstone_classifier_gradcheck"
EXAM_ID = "capstone_digits_exam"


@pytest.fixture(autouse=True)
def _private_progress(tmp_path, monkeypatch):
    monkeypatch.setenv("BACKPROP_PROGRESS_FILE", str(tmp_path / "progress.json"))


def grade(exercise_id, answer, seed=0, executor=None):
    return get_exercise(exercise_id).grade(answer, timeout=5.0, seed=seed, executor=executor)


def panel(result):
    return str(result) + result._repr_html_()


# ---------------------------------------------------------------------------
# Part 1: SoftmaxLayer, correct designs
# ---------------------------------------------------------------------------


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _vjp(s, g):
    return s * (g - (g * s).sum(axis=-1, keepdims=True))


class SoftmaxCachingS:
    """The notebook's design: cache the output."""

    def __init__(self):
        self.params, self.grads = {}, {}

    def forward(self, z):
        self.s = _softmax(np.asarray(z))
        return self.s

    def backward(self, g):
        return _vjp(self.s, g)


class SoftmaxCachingZ:
    """Cache a copy of the input; recompute the softmax in backward."""

    def __init__(self):
        self.z = None

    def forward(self, z):
        self.z = np.array(z, copy=True)
        return _softmax(self.z)

    def backward(self, g):
        return _vjp(_softmax(self.z), g)


class SoftmaxFullJacobian:
    """Build J = diag(s) - s s^T for every row and contract g with it (O(K^2), still right)."""

    def forward(self, z):
        self.cache = {"s": _softmax(np.asarray(z, dtype=float))}
        return self.cache["s"]

    def backward(self, g):
        s = self.cache["s"]
        J = s[..., :, None] * np.eye(s.shape[-1]) - s[..., :, None] * s[..., None, :]
        return np.einsum("...i,...ij->...j", g, J)


class SoftmaxOnLayerBase(Layer):
    """Inherit the course's Layer base class and its cache helper."""

    def forward(self, z):
        z = np.asarray(z)
        lse = z.max(axis=-1, keepdims=True)
        lse = lse + np.log(np.exp(z - lse).sum(axis=-1, keepdims=True))
        self._cache = np.exp(z - lse)
        return self._cache

    def backward(self, g):
        s = self._cached()
        return s * g - s * np.einsum("...k,...k->...", g, s)[..., None]


# ---------------------------------------------------------------------------
# Part 2: LogSoftmax, correct designs
# ---------------------------------------------------------------------------


def _log_softmax(z):
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


class LogSoftmaxCachingS:
    def __init__(self):
        self.params, self.grads = {}, {}

    def forward(self, z):
        log_s = _log_softmax(np.asarray(z))
        self.s = np.exp(log_s)
        return log_s

    def backward(self, g):
        return g - self.s * g.sum(axis=-1, keepdims=True)


class LogSoftmaxCachingLogS:
    def forward(self, z):
        self.log_s = _log_softmax(np.asarray(z))
        return self.log_s

    def backward(self, g):
        return g - np.exp(self.log_s) * np.sum(g, axis=-1, keepdims=True)


class LogSoftmaxExplicitJacobian:
    """J_ij = delta_ij - s_j built per row, contracted over the OUTPUT index i."""

    def forward(self, z):
        self.z = np.array(z, dtype=float)
        return _log_softmax(self.z)

    def backward(self, g):
        s = np.exp(_log_softmax(self.z))
        J = np.eye(s.shape[-1]) - s[..., None, :]
        return np.einsum("...i,...ij->...j", g, J)


# ---------------------------------------------------------------------------
# Part 3: the smoothed, weighted cross-entropy, correct routes
# ---------------------------------------------------------------------------


def swce_vectorised(logits, y, class_weights, smoothing):
    z = np.asarray(logits)
    n, k = z.shape
    log_p = _log_softmax(z)
    q = (1 - smoothing) * np.eye(k)[y] + smoothing / k
    omega = np.asarray(class_weights)[y]
    total = omega.sum()
    return -np.sum(omega[:, None] * q * log_p) / total, omega[:, None] * (np.exp(log_p) - q) / total


def swce_loop(logits, y, class_weights, smoothing):
    z = np.asarray(logits, dtype=float)
    n, k = z.shape
    total = sum(class_weights[label] for label in y)
    loss, grad = 0.0, np.zeros((n, k))
    for i in range(n):
        m = z[i].max()
        lse = m + np.log(np.sum(np.exp(z[i] - m)))
        q = np.full(k, smoothing / k)
        q[y[i]] += 1 - smoothing
        loss += class_weights[y[i]] * np.sum(q * (lse - z[i]))
        grad[i] = class_weights[y[i]] * (np.exp(z[i] - lse) - q)
    return loss / total, grad / total


def swce_einsum(logits, y, class_weights, smoothing):
    """Loss as eps-weighted mix of the NLL and the mean -log p, gradient by scatter."""
    z = np.asarray(logits)
    n, k = z.shape
    log_p = _log_softmax(z)
    omega = np.asarray(class_weights)[y]
    nll = -log_p[np.arange(n), y]
    uniform = -log_p.mean(axis=1)
    loss = np.einsum("n,n->", omega, (1 - smoothing) * nll + smoothing * uniform) / omega.sum()
    grad = np.exp(log_p) - smoothing / k
    grad[np.arange(n), y] -= 1 - smoothing
    return loss, grad * (omega / omega.sum())[:, None]


CORRECT = {
    "capstone_softmax_layer": [SoftmaxCachingS, SoftmaxCachingZ, SoftmaxFullJacobian,
                               SoftmaxOnLayerBase, SoftmaxCachingS()],
    "capstone_log_softmax_layer": [LogSoftmaxCachingS, LogSoftmaxCachingLogS,
                                   LogSoftmaxExplicitJacobian, LogSoftmaxCachingS()],
    CE_ID: [swce_vectorised, swce_loop, swce_einsum],
}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("exercise_id, index", [
    (ex, i) for ex, answers in CORRECT.items() for i in range(len(answers))])
def test_correct_designs_pass(exercise_id, index, seed):
    result = grade(exercise_id, CORRECT[exercise_id][index], seed=seed)
    assert result.status == "passed", str(result)
    assert result.score == result.points > 0 and result.diagnosis == []


# ---------------------------------------------------------------------------
# Wrong layers, and the mistake each must be named as
# ---------------------------------------------------------------------------


class _Softmax(SoftmaxCachingS):
    pass


class SoftmaxShortcut(_Softmax):
    def backward(self, g):
        return self.s - g


class SoftmaxPassThrough(_Softmax):
    def backward(self, g):
        return g


class SoftmaxDiagonal(_Softmax):
    def backward(self, g):
        return g * self.s * (1 - self.s)


class SoftmaxAxis0(_Softmax):
    def forward(self, z):
        z = np.asarray(z)
        e = np.exp(z - z.max(axis=0, keepdims=True))
        self.s = e / e.sum(axis=0, keepdims=True)
        return self.s


class SoftmaxInnerAxis0(_Softmax):
    def backward(self, g):
        return self.s * (g - (g * self.s).sum(axis=0, keepdims=True))


class SoftmaxInnerTotal(_Softmax):
    def backward(self, g):
        return self.s * (g - (g * self.s).sum())


class SoftmaxNoKeepdims(_Softmax):
    def backward(self, g):
        return self.s * (g - (g * self.s).sum(axis=-1))


class SoftmaxJacobianAtZ(_Softmax):
    def forward(self, z):
        self.z = np.asarray(z)
        return _softmax(self.z)

    def backward(self, g):
        return _vjp(self.z, g)


class SoftmaxOfUpstream(_Softmax):
    def backward(self, g):
        return _vjp(_softmax(g), g)


class SoftmaxClassCache(_Softmax):
    def forward(self, z):
        SoftmaxClassCache.s = _softmax(np.asarray(z))  # a class attribute: every instance shares it
        return SoftmaxClassCache.s


class SoftmaxFirstBatchOnly(_Softmax):
    def forward(self, z):
        s = _softmax(np.asarray(z))
        if not hasattr(self, "s"):
            self.s = s
        return s


class SoftmaxNoShift(_Softmax):
    def forward(self, z):
        e = np.exp(np.asarray(z))
        self.s = e / e.sum(axis=-1, keepdims=True)
        return self.s


class SoftmaxInPlace(_Softmax):
    def forward(self, z):
        z -= z.max(axis=-1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=-1, keepdims=True)
        self.s = z
        return z


class SoftmaxLibrary(_Softmax):
    def forward(self, z):
        self.s = F.softmax(z)
        return self.s


class SoftmaxNegated(_Softmax):
    def backward(self, g):
        return -_vjp(self.s, g)


class SoftmaxForgetsReturn(_Softmax):
    def forward(self, z):
        self.s = _softmax(np.asarray(z))


class _LogSoftmax(LogSoftmaxCachingS):
    pass


class LogSoftmaxTransposed(_LogSoftmax):
    def backward(self, g):
        return g - (g * self.s).sum(axis=-1, keepdims=True)


class LogSoftmaxDiagonal(_LogSoftmax):
    def backward(self, g):
        return g * (1 - self.s)


class LogSoftmaxNllShortcut(_LogSoftmax):
    def backward(self, g):
        return g + self.s


class LogSoftmaxForgotSum(_LogSoftmax):
    def backward(self, g):
        return g - self.s


class LogSoftmaxLogProbsForS(_LogSoftmax):
    def forward(self, z):
        self.log_s = _log_softmax(np.asarray(z))
        return self.log_s

    def backward(self, g):
        return g - self.log_s * g.sum(axis=-1, keepdims=True)


class LogSoftmaxSoftmaxVjp(_LogSoftmax):
    def backward(self, g):
        return _vjp(self.s, g)


class LogSoftmaxOfSoftmax(_LogSoftmax):
    def forward(self, z):
        self.s = _softmax(np.asarray(z))
        with np.errstate(divide="ignore"):
            return np.log(self.s)


class LogSoftmaxNoShift(_LogSoftmax):
    def forward(self, z):
        z = np.asarray(z)
        log_s = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
        self.s = np.exp(log_s)
        return log_s


class LogSoftmaxAxis0(_LogSoftmax):
    def forward(self, z):
        z = np.asarray(z)
        shifted = z - z.max(axis=0, keepdims=True)
        log_s = shifted - np.log(np.exp(shifted).sum(axis=0, keepdims=True))
        self.s = np.exp(log_s)
        return log_s


class LogSoftmaxClassCache(_LogSoftmax):
    def forward(self, z):
        log_s = _log_softmax(np.asarray(z))
        LogSoftmaxClassCache.s = np.exp(log_s)
        return log_s


class LogSoftmaxLibrary(_LogSoftmax):
    def forward(self, z):
        log_s = F.log_softmax(z)
        self.s = np.exp(log_s)
        return log_s


#: (exercise id, answer, status, expected mistake code or None, text expected in the panel)
WRONG_LAYERS = [
    ("capstone_softmax_layer", SoftmaxShortcut, "failed", None, "shortcut s - y"),
    ("capstone_softmax_layer", SoftmaxPassThrough, "failed", None, "returned g unchanged"),
    ("capstone_softmax_layer", SoftmaxDiagonal, "failed", "elementwise_jacobian", "diagonal"),
    ("capstone_softmax_layer", SoftmaxAxis0, "failed", "wrong_axis", "axis=0"),
    ("capstone_softmax_layer", SoftmaxInnerAxis0, "failed", "wrong_axis", "one number per row"),
    ("capstone_softmax_layer", SoftmaxInnerTotal, "failed", "wrong_axis", "whole array"),
    ("capstone_softmax_layer", SoftmaxNoKeepdims, "error", None, "keepdims=True"),
    ("capstone_softmax_layer", SoftmaxJacobianAtZ, "failed", None, "logits z where"),
    ("capstone_softmax_layer", SoftmaxOfUpstream, "failed", None, "its own argument g"),
    ("capstone_softmax_layer", SoftmaxClassCache, "failed", None, "ANOTHER instance"),
    ("capstone_softmax_layer", SoftmaxFirstBatchOnly, "failed", None, "EARLIER forward"),
    ("capstone_softmax_layer", SoftmaxNoShift, "failed", "overflow", "maximum"),
    ("capstone_softmax_layer", SoftmaxInPlace, "failed", "mutates_input", "z"),
    ("capstone_softmax_layer", SoftmaxLibrary, "failed", "uses_reference", "softmax()"),
    ("capstone_softmax_layer", SoftmaxNegated, "failed", "sign", "opposite sign"),
    ("capstone_softmax_layer", SoftmaxForgetsReturn, "error", None, "returned None"),
    ("capstone_log_softmax_layer", LogSoftmaxTransposed, "failed", "transposed", "not symmetric"),
    ("capstone_log_softmax_layer", LogSoftmaxDiagonal, "failed", "elementwise_jacobian", "1 - s"),
    ("capstone_log_softmax_layer", LogSoftmaxNllShortcut, "failed", None, "add up to -1"),
    ("capstone_log_softmax_layer", LogSoftmaxForgotSum, "failed", None, "dropped the factor"),
    ("capstone_log_softmax_layer", LogSoftmaxLogProbsForS, "failed", None, "s = exp(log s)"),
    ("capstone_log_softmax_layer", LogSoftmaxSoftmaxVjp, "failed", None, "SOFTMAX VJP"),
    ("capstone_log_softmax_layer", LogSoftmaxOfSoftmax, "failed", "not_finite", "underflows"),
    ("capstone_log_softmax_layer", LogSoftmaxNoShift, "failed", "overflow", "overflowed"),
    ("capstone_log_softmax_layer", LogSoftmaxAxis0, "failed", "wrong_axis", "axis=0"),
    ("capstone_log_softmax_layer", LogSoftmaxClassCache, "failed", None, "ANOTHER instance"),
    ("capstone_log_softmax_layer", LogSoftmaxLibrary, "failed", "uses_reference", "log_softmax()"),
]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("exercise_id, answer, status, code, text", WRONG_LAYERS,
                         ids=[f"{w[0][9:]}-{w[1].__name__}" for w in WRONG_LAYERS])
def test_wrong_layers_are_named(exercise_id, answer, status, code, text, seed):
    result = grade(exercise_id, answer, seed=seed)
    assert result.status == status, str(result)
    if code is not None:
        assert code in result.diagnosis, str(result)
    assert text in panel(result), str(result)


# ---------------------------------------------------------------------------
# Wrong losses
# ---------------------------------------------------------------------------


def _parts(logits, y, class_weights, smoothing):
    z = np.asarray(logits, dtype=float)
    n, k = z.shape
    Y = np.eye(k)[y]
    return z, n, k, Y, _log_softmax(z), np.asarray(class_weights, dtype=float)[y]


def ce_by_n(logits, y, w, eps):
    z, n, k, Y, log_p, omega = _parts(logits, y, w, eps)
    q = (1 - eps) * Y + eps / k
    return -np.sum(omega[:, None] * q * log_p) / n, omega[:, None] * (np.exp(log_p) - q) / n


def ce_summed(logits, y, w, eps):
    z, n, k, Y, log_p, omega = _parts(logits, y, w, eps)
    q = (1 - eps) * Y + eps / k
    return -np.sum(omega[:, None] * q * log_p), omega[:, None] * (np.exp(log_p) - q)


def ce_unweighted(logits, y, w, eps):
    return swce_vectorised(logits, y, np.ones(len(w)), eps)


def ce_weights_by_column(logits, y, w, eps):
    z, n, k, Y, log_p, omega = _parts(logits, y, w, eps)
    q = (1 - eps) * Y + eps / k
    w = np.asarray(w)
    return (-np.sum(w * q * log_p) / omega.sum(), w * (np.exp(log_p) - q) / omega.sum())


def ce_smoothing_off_true(logits, y, w, eps):
    z, n, k, Y, log_p, omega = _parts(logits, y, w, eps)
    q = (1 - eps) * Y + eps / (k - 1) * (1 - Y)
    return (-np.sum(omega[:, None] * q * log_p) / omega.sum(),
            omega[:, None] * (np.exp(log_p) - q) / omega.sum())


def ce_no_rescale(logits, y, w, eps):
    z, n, k, Y, log_p, omega = _parts(logits, y, w, eps)
    q = Y + eps / k
    return (-np.sum(omega[:, None] * q * log_p) / omega.sum(),
            omega[:, None] * (np.exp(log_p) - q) / omega.sum())


def ce_grad_unsmoothed(logits, y, w, eps):
    z, n, k, Y, log_p, omega = _parts(logits, y, w, eps)
    loss, _ = swce_vectorised(logits, y, w, eps)
    return loss, omega[:, None] * (np.exp(log_p) - Y) / omega.sum()


def ce_grad_unweighted(logits, y, w, eps):
    z, n, k, Y, log_p, omega = _parts(logits, y, w, eps)
    loss, _ = swce_vectorised(logits, y, w, eps)
    return loss, (np.exp(log_p) - ((1 - eps) * Y + eps / k)) / n


def ce_negated(logits, y, w, eps):
    loss, grad = swce_vectorised(logits, y, w, eps)
    return -loss, -grad


def ce_no_shift(logits, y, w, eps):
    z, n, k, Y, _, omega = _parts(logits, y, w, eps)
    e = np.exp(z)
    s = e / e.sum(axis=1, keepdims=True)
    q = (1 - eps) * Y + eps / k
    total = omega.sum()
    return -np.sum(omega[:, None] * q * np.log(s)) / total, omega[:, None] * (s - q) / total


def ce_log_of_softmax(logits, y, w, eps):
    z, n, k, Y, _, omega = _parts(logits, y, w, eps)
    s = _softmax(z)
    q = (1 - eps) * Y + eps / k
    with np.errstate(divide="ignore", invalid="ignore"):
        loss = -np.sum(omega[:, None] * q * np.log(s)) / omega.sum()
    return loss, omega[:, None] * (s - q) / omega.sum()


def ce_in_place(logits, y, w, eps):
    loss, grad = swce_vectorised(np.array(logits), y, w, eps)
    logits[...] = grad  # reuses the caller's buffer
    return loss, logits


def ce_library(logits, y, w, eps):
    log_p = F.log_softmax(logits)
    n, k = log_p.shape
    q = (1 - eps) * np.eye(k)[y] + eps / k
    omega = np.asarray(w)[y]
    return -np.sum(omega[:, None] * q * log_p) / omega.sum(), omega[:, None] * (
        np.exp(log_p) - q) / omega.sum()


WRONG_LOSSES = [
    (ce_by_n, "failed", None, "total weight of the batch"),
    (ce_summed, "failed", "missing_batch_mean", "did not divide"),
    (ce_unweighted, "failed", None, "ignores the class weights"),
    (ce_weights_by_column, "failed", None, "ITS TRUE CLASS"),
    (ce_smoothing_off_true, "failed", None, "K - 1 wrong classes"),
    (ce_no_rescale, "failed", None, "without scaling it by (1 - eps)"),
    (ce_grad_unsmoothed, "failed", None, "subtracts the one-hot target"),
    (ce_grad_unweighted, "failed", None, "gradient is not"),
    (ce_negated, "failed", "sign", "opposite sign"),
    (ce_no_shift, "failed", "overflow", "max shift"),
    (ce_log_of_softmax, "failed", "not_finite", "EVERY class"),
    (ce_in_place, "failed", "mutates_input", "logits"),
    (ce_library, "failed", "uses_reference", "log_softmax()"),
]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("answer, status, code, text", WRONG_LOSSES,
                         ids=[w[0].__name__ for w in WRONG_LOSSES])
def test_wrong_losses_are_named(answer, status, code, text, seed):
    result = grade(CE_ID, answer, seed=seed)
    assert result.status == status, str(result)
    if code is not None:
        assert code in result.diagnosis, str(result)
    assert text in panel(result), str(result)


def test_ignoring_the_smoothing_is_named():
    def no_smoothing(logits, y, w, eps):
        return swce_vectorised(logits, y, w, 0.0)

    result = grade(CE_ID, no_smoothing)
    assert result.status == "failed"
    assert "ignores the smoothing" in panel(result)


# ---------------------------------------------------------------------------
# Part 4: models. Pieces for correct and wrong builds
# ---------------------------------------------------------------------------


class NLL:
    """The notebook's loss layer on log-probabilities."""

    def __init__(self, class_weights, smoothing):
        self.w, self.eps = np.asarray(class_weights, dtype=float), float(smoothing)
        self.params, self.grads = {}, {}

    def forward(self, log_s, y):
        n, k = log_s.shape
        q = (1 - self.eps) * np.eye(k)[y] + self.eps / k
        omega = self.w[y]
        self.d = -omega[:, None] * q / self.normaliser(omega)
        return float(np.sum(-omega[:, None] * q * log_s) / omega.sum())

    def normaliser(self, omega):
        return omega.sum()

    def backward(self):
        return self.d


class NLLWithoutNormaliser(NLL):
    def normaliser(self, omega):
        return 1.0


class FusedLoss:
    """A loss layer on logits that wraps smoothed_weighted_ce (the fused design)."""

    def __init__(self, class_weights, smoothing):
        self.w, self.eps = np.asarray(class_weights, dtype=float), smoothing

    def forward(self, logits, y):
        loss, self.d = swce_vectorised(logits, y, self.w, self.eps)
        return loss

    def backward(self):
        return self.d


class ProbabilityLoss:
    """The same loss on probabilities (after a SoftmaxLayer): dL/ds = -omega q / (W s)."""

    def __init__(self, class_weights, smoothing):
        self.w, self.eps = np.asarray(class_weights, dtype=float), smoothing

    def forward(self, s, y):
        n, k = s.shape
        q = (1 - self.eps) * np.eye(k)[y] + self.eps / k
        omega = self.w[y]
        self.d = -omega[:, None] * q / (omega.sum() * s)
        return float(-np.sum(omega[:, None] * q * np.log(s)) / omega.sum())

    def backward(self):
        return self.d


class MyDense:
    def __init__(self, d, h, rng, copies=False, flip_dW=False):
        self.W, self.b = rng.normal(0, np.sqrt(2 / d), (d, h)), np.zeros(h)
        self.copies, self.flip_dW = copies, flip_dW

    @property
    def params(self):
        if self.copies:
            return {"W": self.W.copy(), "b": self.b.copy()}
        return {"W": self.W, "b": self.b}

    def forward(self, A):
        self.A = np.asarray(A, dtype=float)
        return self.A @ self.W + self.b

    def backward(self, dZ):
        dW = self.A.T @ dZ
        self.grads = {"W": -dW if self.flip_dW else dW, "b": dZ.sum(axis=0)}
        return dZ @ self.W.T


class MyReLU:
    params = grads = {}

    def forward(self, Z):
        self.mask = Z > 0
        return Z * self.mask

    def backward(self, dA):
        return dA * self.mask


class ReLUBackwardTransposed(MyReLU):
    def backward(self, dA):
        return (dA * self.mask).T


class DenseForgetsGrads(MyDense):
    def backward(self, dZ):
        dA = super().backward(dZ)
        del self.grads["b"]
        return dA


class MyModel:
    """A model class of one's own with Sequential's interface."""

    def __init__(self, layers, loss_layer, skip_activations=False):
        self.layers, self.loss_layer = layers, loss_layer
        self.skip_activations = skip_activations

    def forward(self, X):
        for layer in self.layers:
            X = layer.forward(X)
        return X

    def loss(self, X, y):
        return self.loss_layer.forward(self.forward(X), y)

    def backward(self):
        g = self.loss_layer.backward()
        for layer in reversed(self.layers):
            if self.skip_activations and not getattr(layer, "params", None):
                continue  # bug: the gradient does not pass through ReLU
            g = layer.backward(g)
        return g

    def predict(self, X):
        return np.argmax(self.forward(X), axis=-1)


def _weights(kind="balanced"):
    if kind == "ones":
        return np.ones(10)
    return np.random.default_rng(5).uniform(0.3, 3.0, size=10)


def notebook_model(seed=0, log_softmax=LogSoftmaxCachingS, loss=NLL, weights="balanced",
                   dtype=np.float64):
    rng = np.random.default_rng(seed)
    layers = [Dense(64, 32, rng=rng, dtype=dtype), ReLU(), Dense(32, 10, rng=rng, dtype=dtype),
              log_softmax()]
    return Sequential(layers, loss_layer=loss(_weights(weights), 0.1))


def own_fused_model(seed=0, **options):
    rng = np.random.default_rng(seed)
    layers = [MyDense(64, 32, rng), MyReLU(), MyDense(32, 10, rng)]
    return MyModel(layers, FusedLoss(_weights(), 0.1), **options)


def softmax_probability_model(seed=0):
    rng = np.random.default_rng(seed)
    layers = [Dense(64, 32, rng=rng), Tanh(), Dense(32, 10, rng=rng), SoftmaxCachingS()]
    return Sequential(layers, loss_layer=ProbabilityLoss(_weights(), 0.2))


def _own(layers, loss=None):
    return MyModel(layers, loss or FusedLoss(_weights(), 0.1))


# ---------------------------------------------------------------------------
# The gradient check of the whole classifier
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("build", [notebook_model, own_fused_model, softmax_probability_model,
                                   lambda: notebook_model(log_softmax=LogSoftmaxExplicitJacobian)],
                         ids=["notebook", "own_classes_fused_loss", "softmax_layer_tanh",
                              "explicit_jacobian"])
def test_correct_classifiers_pass_the_gradient_check(build, seed):
    result = grade(GRADCHECK_ID, build(), seed=seed)
    assert result.status == "passed", str(result)
    assert any(line.startswith("relative errors, loss_layer") for line in result.tested)


def _stub_log_softmax_model():
    class StubLogSoftmax:
        def forward(self, z):
            raise NotImplementedError()

        def backward(self, g):
            raise NotImplementedError()

    return notebook_model(log_softmax=StubLogSoftmax)


WRONG_MODELS = [
    (lambda: notebook_model(log_softmax=LogSoftmaxTransposed), None, "layers[3] (LogSoftmax"),
    (lambda: notebook_model(loss=NLLWithoutNormaliser), None, "constant factor"),
    (lambda: notebook_model(loss=NLLWithoutNormaliser, weights="ones"), "missing_batch_mean",
     "loss_layer (NLLWithoutNormaliser)"),
    (lambda: _own([MyDense(64, 10, np.random.default_rng(0), copies=True)]), None,
     "not copies"),
    (lambda: _own([MyDense(64, 10, np.random.default_rng(0), flip_dW=True)]), "sign",
     "grads['W']"),
    (lambda: _own([MyDense(64, 32, np.random.default_rng(0)), ReLUBackwardTransposed(),
                   MyDense(32, 10, np.random.default_rng(1))]), "shape", "layers[1]"),
    (lambda: _own([DenseForgetsGrads(64, 10, np.random.default_rng(0))]), None,
     "grads has no entry 'b'"),
    (lambda: own_fused_model(skip_activations=True), None, "the whole model"),
    (lambda: notebook_model(dtype=np.float32), None, "need float64"),
    (lambda: Sequential([Dense(64, 10, seed=0)], SoftmaxCrossEntropy()), "uses_reference",
     "SoftmaxCrossEntropy"),
    (lambda: notebook_model(log_softmax=LogSoftmaxLibrary), "uses_reference", "log_softmax()"),
]


@pytest.mark.parametrize("build, code, text", WRONG_MODELS,
                         ids=["transposed_log_softmax", "loss_without_normaliser",
                              "loss_without_1_over_n", "params_are_copies", "dW_sign",
                              "backward_shape", "missing_grad", "model_skips_relu", "float32",
                              "library_loss", "library_log_softmax"])
def test_wrong_classifiers_are_named(build, code, text):
    result = grade(GRADCHECK_ID, build(), seed=4)
    assert result.status == "failed", str(result)
    if code is not None:
        assert code in result.diagnosis, str(result)
    assert text in panel(result), str(result)


class _Odd:
    """A model-like object with whatever attributes a test gives it."""

    def __init__(self, **attributes):
        self.__dict__.update(attributes)

    def loss(self, X, y):
        return 0.0

    def backward(self):
        return None


@pytest.mark.parametrize("answer, status, text", [
    (None, "not attempted", "build_and_train"),
    (_stub_log_softmax_model(), "not attempted", "NotImplementedError"),
    (42, "error", "hand in your trained model"),
    ("model", "error", "hand in your trained model"),
    (MLP, "error", "raised"),
    (_Odd(layers=5, loss_layer=None), "error", "TypeError"),
    (_Odd(layers=[None], loss_layer=None), "error", "AttributeError"),
    (_Odd(layers=[], loss_layer=FusedLoss(np.ones(10), 0.0)), "failed", "empty"),
])
def test_gradient_check_of_odd_answers_ends_as_a_status(answer, status, text):
    result = grade(GRADCHECK_ID, answer)
    assert result.status == status, str(result)
    assert text in panel(result)


def test_gradient_check_restores_the_parameters_exactly():
    model = notebook_model()
    before = [p.value.copy() for p in model.parameters()]
    assert grade(GRADCHECK_ID, model).passed
    after = [p.value for p in model.parameters()]
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))


# ---------------------------------------------------------------------------
# The exam: trained models
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained():
    """The notebook's classifier and an own-classes fused one, trained as in notebook 09."""
    X, y = capstone.training_digits()
    X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.2, seed=0)
    weights = len(y_train) / (10 * np.bincount(y_train, minlength=10))
    rng = np.random.default_rng(0)
    notebook = Sequential([Dense(64, 64, rng=rng), ReLU(), Dense(64, 10, rng=rng),
                           LogSoftmaxCachingS()], loss_layer=NLL(weights, 0.1))
    notebook.fit(X_train, y_train, optimizer=Adam(lr=1e-2), epochs=20, batch_size=32, seed=0,
                 progress=False)
    own = MyModel([MyDense(64, 64, np.random.default_rng(1)), MyReLU(),
                   MyDense(64, 10, np.random.default_rng(2))], FusedLoss(weights, 0.1))
    Sequential(own.layers, own.loss_layer).fit(X_train, y_train, optimizer=Adam(lr=1e-2),
                                               epochs=20, batch_size=32, seed=1, progress=False)
    return {"notebook": notebook, "own": own}


@pytest.mark.parametrize("which", ["notebook", "own", "predict_function", "float_labels"])
def test_trained_classifiers_pass_the_exam(trained, which):
    answer = {"notebook": trained["notebook"], "own": trained["own"],
              "predict_function": trained["notebook"].predict,
              "float_labels": lambda X: trained["own"].predict(X).astype(float)}[which]
    result = grade(EXAM_ID, answer)
    assert result.status == "passed", str(result)
    assert "exam digits right" in result.message


def test_exam_score_does_not_depend_on_the_seed(trained):
    messages = {grade(EXAM_ID, trained["notebook"], seed=s).message for s in SEEDS}
    assert len(messages) == 1


class ConstantModel:
    def predict(self, X):
        return np.full(len(X), 7)


@pytest.mark.parametrize("answer, status, code, text", [
    (notebook_model(), "failed", None, "about chance"),
    (ConstantModel(), "failed", None, "predicts 7 for every digit"),
    (lambda X: notebook_model().forward(X), "failed", "shape", "argmax"),
    (lambda X: np.zeros(len(X) - 1, dtype=int), "failed", "shape", "expected (360,)"),
    (lambda X: np.full(len(X), 0.5), "failed", "dtype", "whole-number"),
    (MLP([64, 10], seed=0), "failed", "uses_reference", "SoftmaxCrossEntropy"),
    (lambda X: None, "error", None, "returned None"),
    (lambda X: 1 / 0, "error", None, "ZeroDivisionError"),
    (None, "not attempted", None, "build_and_train"),
])
def test_wrong_exam_answers_are_named(answer, status, code, text):
    result = grade(EXAM_ID, answer)
    assert result.status == status, str(result)
    if code is not None:
        assert code in result.diagnosis, str(result)
    assert text in panel(result), str(result)


# ---------------------------------------------------------------------------
# Stubs, panels, and what travels
# ---------------------------------------------------------------------------


class StubLayer:
    def forward(self, z):
        raise NotImplementedError()

    def backward(self, g):
        raise NotImplementedError()


def stub_ce(logits, y, class_weights, smoothing):
    raise NotImplementedError()


@pytest.mark.parametrize("exercise_id, stub", [
    ("capstone_softmax_layer", StubLayer), ("capstone_log_softmax_layer", StubLayer),
    (CE_ID, stub_ce), (GRADCHECK_ID, None), (EXAM_ID, None)])
def test_stubs_are_not_attempted(exercise_id, stub):
    result = check(exercise_id, stub)
    assert result.status == "not attempted" and result.score == 0
    assert result.tested == [] and "hidden case" not in str(result)


def test_every_capstone_exercise_is_registered_in_order():
    assert exercise_ids(9) == ["capstone_softmax_layer", "capstone_log_softmax_layer", CE_ID,
                               GRADCHECK_ID, EXAM_ID]
    assert sum(get_exercise(e).points for e in exercise_ids(9)) == 18


def test_there_are_no_public_cases():
    for exercise_id in (*LAYER_IDS, CE_ID):
        assert get_exercise(exercise_id).public_cases() == []


def _hidden_input_values(exercise_id, seed):
    """Formatted entries of the float inputs of every hidden case, as a panel would print them."""
    values = set()
    for case in get_exercise(exercise_id).hidden_cases(np.random.default_rng(seed)):
        for arg in case.args:
            if isinstance(arg, np.ndarray) and arg.dtype.kind == "f":
                for x in arg.reshape(-1)[:4]:
                    if x != round(x):
                        values.add(f"{float(x):.6g}")
    return values


@pytest.mark.parametrize("exercise_id, answer", [
    ("capstone_softmax_layer", SoftmaxDiagonal), ("capstone_softmax_layer", SoftmaxAxis0),
    ("capstone_log_softmax_layer", LogSoftmaxTransposed), (CE_ID, ce_by_n),
    (CE_ID, ce_weights_by_column)])
def test_panels_describe_the_failing_case_without_its_inputs(exercise_id, answer):
    result = grade(exercise_id, answer, seed=7)
    text = panel(result)
    assert result.case.startswith("hidden case") and "public case" not in text
    leaked = [v for v in _hidden_input_values(exercise_id, 7) if v in text]
    assert not leaked, leaked
    assert result.tested[:len(get_exercise(exercise_id).tests_in_words)] == list(
        get_exercise(exercise_id).tests_in_words)


def test_a_pass_lists_the_tests_in_words():
    result = grade("capstone_softmax_layer", SoftmaxCachingS)
    assert result.message.startswith("Passed all 9 hidden tests")
    assert result.tested == list(get_exercise("capstone_softmax_layer").tests_in_words)


def _fork_executor(fn, args, *, timeout, output_names, measure_memory):
    """Run one case in a forked child process; only the pickled outcome comes back."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: grade the call, send the plain outcome, leave at once
        os.close(read_end)
        try:
            outcome = run_case(fn, args, timeout=timeout, output_names=output_names,
                               measure_memory=measure_memory)
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            outcome = CallOutcome(kind="exception", error=repr(exc))
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(pickle.dumps(outcome))
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    return pickle.loads(data)


fork_only = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (POSIX)")


@fork_only
@pytest.mark.parametrize("exercise_id, answer, status", [
    ("capstone_softmax_layer", SoftmaxCachingZ, "passed"),
    ("capstone_softmax_layer", SoftmaxClassCache, "failed"),
    ("capstone_log_softmax_layer", LogSoftmaxCachingLogS, "passed"),
    (CE_ID, swce_loop, "passed"),
    (GRADCHECK_ID, notebook_model(), "passed"),
    (GRADCHECK_ID, notebook_model(log_softmax=LogSoftmaxTransposed), "failed"),
])
def test_checks_grade_the_same_in_a_forked_child(exercise_id, answer, status):
    here = grade(exercise_id, answer, seed=3)
    forked = grade(exercise_id, answer, seed=3, executor=_fork_executor)
    assert here.status == forked.status == status, str(forked)
    assert here.diagnosis == forked.diagnosis and here.message == forked.message


@fork_only
def test_the_exam_grades_the_same_in_a_forked_child(trained):
    forked = grade(EXAM_ID, trained["own"], executor=_fork_executor)
    assert forked.status == "passed" and forked.message == grade(EXAM_ID, trained["own"]).message


def test_the_exam_labels_never_reach_the_learners_code(trained):
    sent = []

    def recording_executor(fn, args, **options):
        sent.append(args)
        return run_case(fn, args, **options)

    assert grade(EXAM_ID, trained["notebook"], executor=recording_executor).passed
    _, _, X_exam, y_exam = capstone._digits_split()
    (args,) = sent
    assert len(args) == 1 and np.array_equal(args[0], X_exam)
    assert not any(np.array_equal(a, y_exam) for a in args)


def test_the_gradient_check_sends_a_few_digits_random_labels_and_a_seed():
    sent = []

    def recording_executor(fn, args, **options):
        sent.append(args)
        return run_case(fn, args, **options)

    assert grade(GRADCHECK_ID, notebook_model(), executor=recording_executor).passed
    ((X, y, seed),) = sent
    assert X.shape == (capstone._PROBE_ROWS, 64) and y.shape == (capstone._PROBE_ROWS,)
    assert isinstance(seed, int)


# ---------------------------------------------------------------------------
# The data, and the hidden-tests display
# ---------------------------------------------------------------------------


def test_training_digits_are_imbalanced_and_never_the_exam():
    X, y = capstone.training_digits()
    _, _, X_exam, y_exam = capstone._digits_split()
    assert X.shape[1] == X_exam.shape[1] == 64 and len(y_exam) == capstone.EXAM_SIZE
    counts = np.bincount(y, minlength=10)
    for digit in capstone.RARE_DIGITS:
        assert counts[digit] < 0.3 * np.median(counts)
    assert set(np.bincount(y_exam, minlength=10)) <= {35, 36, 37}
    exam_rows = {row.tobytes() for row in X_exam}
    assert not any(row.tobytes() in exam_rows for row in X)


def test_training_digits_returns_fresh_copies():
    X, y = capstone.training_digits()
    X[:] = 0
    y[:] = 0
    X2, y2 = capstone.training_digits()
    assert X2.any() and y2.any()


def test_hidden_tests_lists_every_line_as_text_and_html():
    for exercise_id in exercise_ids(9):
        shown = capstone.hidden_tests(exercise_id)
        words = get_exercise(exercise_id).tests_in_words
        assert all(line in str(shown) for line in words)
        assert "<li>" in shown._repr_html_() and exercise_id in shown._repr_html_()
    with pytest.raises(ValueError):
        capstone.hidden_tests("softmax")
