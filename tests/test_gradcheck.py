"""Tests for backprop_lib.gradcheck: numerical gradients, rel_error, layer/model checks."""

import numpy as np
import pytest

from backprop_lib import functional as F
from backprop_lib.gradcheck import (
    GradCheckReport,
    check_layer_gradients,
    check_model_gradients,
    numerical_gradient,
    rel_error,
)

# ---------------------------------------------------------------------------
# Minimal duck-typed layers and model, written here so these tests depend only
# on the documented protocol, not on backprop_lib.layers.
# ---------------------------------------------------------------------------


class TinyDense:
    """Z = A @ W + b, with an optional deliberate bug in dW or dA."""

    def __init__(self, W, b, bug=None):
        self.params = {"W": W, "b": b}
        self.grads = {}
        self.bug = bug

    def forward(self, A):
        self.A = A
        return A @ self.params["W"] + self.params["b"]

    def backward(self, dZ):
        dW = self.A.T @ dZ
        if self.bug == "transposed_dW":
            dW = (dZ.T @ self.A).T * 1.01
        self.grads = {"W": dW, "b": dZ.sum(axis=0)}
        dA = dZ @ self.params["W"].T
        return -dA if self.bug == "sign_dA" else dA


class TinyTanh:
    params = {}
    grads = {}

    def forward(self, x):
        self.out = np.tanh(x)
        return self.out

    def backward(self, dout):
        return dout * (1 - self.out**2)


class TinyModel:
    """Dense -> tanh -> Dense -> softmax cross-entropy."""

    def __init__(self, rng, bug=None):
        self.layers = [
            TinyDense(rng.normal(size=(3, 5)), rng.normal(size=5)),
            TinyTanh(),
            TinyDense(rng.normal(size=(5, 4)), rng.normal(size=4), bug=bug),
        ]

    def loss(self, X, y):
        out = X
        for layer in self.layers:
            out = layer.forward(out)
        self.y = y
        self.logits = out
        return float(F.cross_entropy(out, y))

    def backward(self):
        grad = F.cross_entropy_grad(self.logits, self.y)
        for layer in reversed(self.layers):
            grad = layer.backward(grad)


# ---------------------------------------------------------------------------
# numerical_gradient
# ---------------------------------------------------------------------------


def test_numerical_gradient_of_known_functions(rng):
    x = rng.normal(size=(3, 4))
    assert rel_error(numerical_gradient(lambda v: np.sum(v**2), x), 2 * x) < 1e-9
    assert rel_error(numerical_gradient(lambda v: np.sum(np.sin(v)), x), np.cos(x)) < 1e-8
    a = rng.normal(size=(3, 4))
    assert rel_error(numerical_gradient(lambda v: np.sum(a * v), x), a) < 1e-9


def test_numerical_gradient_of_logsumexp_is_softmax(rng):
    x = rng.normal(size=6)
    assert rel_error(numerical_gradient(lambda v: F.logsumexp(v), x), F.softmax(x)) < 1e-8


def test_numerical_gradient_returns_shape_and_dtype_of_x(rng):
    x = rng.normal(size=(2, 3, 2))
    g = numerical_gradient(lambda v: np.sum(v), x)
    assert g.shape == x.shape and g.dtype == x.dtype
    x32 = x.astype(np.float32)
    assert numerical_gradient(lambda v: np.sum(v), x32, h=1e-2).dtype == np.float32


def test_numerical_gradient_restores_x_exactly(rng):
    # Values chosen so that (x + h) - h != x in floating point for many entries.
    x = rng.normal(size=50) * 10.0 ** rng.integers(-8, 8, size=50)
    original = x.copy()
    numerical_gradient(lambda v: np.sum(v**3), x, h=1e-3)
    np.testing.assert_array_equal(x, original)
    assert x.tobytes() == original.tobytes()


def test_numerical_gradient_restores_x_when_f_raises(rng):
    x = rng.normal(size=4)
    original = x.copy()
    calls = []

    def explode(v):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("boom")
        return float(np.sum(v))

    with pytest.raises(RuntimeError, match="boom"):
        numerical_gradient(explode, x)
    np.testing.assert_array_equal(x, original)


def test_numerical_gradient_perturbs_in_place_so_shared_memory_works(rng):
    W = rng.normal(size=(2, 3))
    A = rng.normal(size=(4, 2))
    # f ignores its argument and reads W directly, as a layer reads its weights.
    grad = numerical_gradient(lambda _: np.sum(A @ W), W)
    assert rel_error(grad, A.sum(axis=0)[:, None] * np.ones((2, 3))) < 1e-9


@pytest.mark.parametrize(
    "f, x, h, error, pattern",
    [
        ("not callable", np.zeros(2), 1e-5, TypeError, "f must be callable"),
        (np.sum, [1.0, 2.0], 1e-5, TypeError, "x must be a NumPy array"),
        (np.sum, np.arange(3), 1e-5, TypeError, "x must have a floating dtype"),
        (np.sum, np.zeros(2), 0.0, ValueError, "h must be a positive"),
        (np.sum, np.zeros(2), float("nan"), ValueError, "h must be a positive"),
        (np.sum, np.zeros(2), "1e-5", TypeError, "h must be a positive number, got str"),
        (np.sum, np.zeros(2), True, TypeError, "h must be a positive number, got bool"),
        (lambda v: v * 2, np.zeros(2), 1e-5, ValueError, "f must return a scalar"),
    ],
)
def test_numerical_gradient_rejects_bad_input(f, x, h, error, pattern):
    with pytest.raises(error, match=pattern):
        numerical_gradient(f, x, h)


def test_numerical_gradient_rejects_read_only_x():
    x = np.zeros(3)
    x.flags.writeable = False
    with pytest.raises(ValueError, match="x must be writeable"):
        numerical_gradient(np.sum, x)


# ---------------------------------------------------------------------------
# rel_error
# ---------------------------------------------------------------------------


def test_rel_error_formula(rng):
    a = rng.normal(size=(3, 3))
    b = a + rng.normal(scale=1e-3, size=(3, 3))
    expected = np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b)))
    assert rel_error(a, b) == pytest.approx(expected, rel=1e-15)


def test_rel_error_behaviour():
    assert rel_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert rel_error([1.0], [-1.0]) == 1.0  # opposite signs: the maximum
    assert rel_error([0.0], [0.0]) == 0.0  # no division by zero
    assert rel_error([1e-12], [0.0]) == pytest.approx(1e-4)  # floor of 1e-8 applies
    assert rel_error([1e6], [1e6 + 1]) == pytest.approx(1 / (2e6 + 1))  # scale-free
    assert rel_error(np.zeros((0, 3)), np.zeros((0, 3))) == 0.0
    assert rel_error([1.0, 2.0], [2.0, 1.0]) == rel_error([2.0, 1.0], [1.0, 2.0])  # symmetric
    with pytest.raises(ValueError, match="a and b must have the same shape"):
        rel_error(np.zeros(2), np.zeros(3))


# ---------------------------------------------------------------------------
# check_layer_gradients and check_model_gradients
# ---------------------------------------------------------------------------


def make_dense(rng, bug=None):
    return TinyDense(rng.normal(size=(3, 2)), rng.normal(size=2), bug=bug)


def test_layer_check_passes_for_correct_layer(rng):
    x = rng.normal(size=(4, 3))
    report = check_layer_gradients(make_dense(rng), x)
    assert isinstance(report, GradCheckReport)
    assert set(report.errors) == {"x", "W", "b"}
    assert report.passed and bool(report) and report.failures == []
    assert report.max_error < 1e-8
    assert "PASSED" in str(report)


def test_layer_check_restores_input_and_parameters(rng):
    layer = make_dense(rng)
    x = rng.normal(size=(4, 3))
    before = [x.copy(), layer.params["W"].copy(), layer.params["b"].copy()]
    check_layer_gradients(layer, x)
    after = [x, layer.params["W"], layer.params["b"]]
    for old, new in zip(before, after, strict=True):
        np.testing.assert_array_equal(old, new)


@pytest.mark.parametrize("bug, wrong", [("transposed_dW", "W"), ("sign_dA", "x")])
def test_layer_check_detects_a_wrong_gradient(rng, bug, wrong):
    report = check_layer_gradients(make_dense(rng, bug=bug), rng.normal(size=(4, 3)))
    assert not report.passed
    assert report.failures == [wrong]
    assert report.errors[wrong] > 1e-3
    assert "WRONG" in str(report)


def test_layer_check_without_parameters_and_with_given_dout(rng):
    x = rng.normal(size=(3, 2))
    dout = rng.normal(size=(3, 2))
    report = check_layer_gradients(TinyTanh(), x, dout)
    assert set(report.errors) == {"x"} and report.passed
    with pytest.raises(ValueError, match="dout must have the output's shape"):
        check_layer_gradients(TinyTanh(), x, dout[:, :1])


def test_layer_check_sampled_entries(rng):
    report = check_layer_gradients(make_dense(rng, bug="transposed_dW"),
                                   rng.normal(size=(4, 3)), num_checks=6)
    assert report.failures == ["W"]
    with pytest.raises(ValueError, match="num_checks must be"):
        check_layer_gradients(make_dense(rng), rng.normal(size=(4, 3)), num_checks=0)


def test_model_check_passes_and_names_every_parameter(rng):
    model = TinyModel(rng)
    X = rng.normal(size=(6, 3))
    y = rng.integers(0, 4, size=6)
    W0 = model.layers[0].params["W"].copy()
    report = check_model_gradients(model, X, y)
    assert set(report.errors) == {
        "layers[0].TinyDense.W", "layers[0].TinyDense.b",
        "layers[2].TinyDense.W", "layers[2].TinyDense.b",
    }
    assert report.passed, str(report)
    np.testing.assert_array_equal(model.layers[0].params["W"], W0)


def test_model_check_detects_a_wrong_gradient(rng):
    model = TinyModel(rng, bug="transposed_dW")
    report = check_model_gradients(model, rng.normal(size=(6, 3)), rng.integers(0, 4, size=6))
    assert report.failures == ["layers[2].TinyDense.W"]


def test_report_tolerance_decides_pass_or_fail():
    report = GradCheckReport({"W": 1e-6, "b": 1e-9}, tol=1e-7)
    assert not report.passed and report.failures == ["W"] and report.max_error == 1e-6
    assert GradCheckReport({"W": 1e-6, "b": 1e-9}, tol=1e-5).passed


def test_checks_work_with_the_library_layers_and_model(rng):
    """The duck-typed protocol matches backprop_lib.layers and backprop_lib.model."""
    layers = pytest.importorskip("backprop_lib.layers")
    model_module = pytest.importorskip("backprop_lib.model")
    dense = layers.Dense(3, 2, seed=0)
    assert check_layer_gradients(dense, rng.normal(size=(4, 3))).passed
    model = model_module.MLP([3, 5, 4], activation="tanh", seed=0)
    report = check_model_gradients(model, rng.normal(size=(6, 3)), rng.integers(0, 4, size=6))
    assert len(report.errors) == 4 and report.passed, str(report)


def test_layer_and_model_checks_explain_objects_that_are_not_layers():
    with pytest.raises(TypeError, match="layer must have forward, backward, params and grads"):
        check_layer_gradients(object(), np.zeros((2, 3)))
    with pytest.raises(TypeError, match="model must have loss, backward and layers"):
        check_model_gradients(object(), np.zeros((2, 3)), np.zeros(2, dtype=int))
