"""Tests for backprop_lib.layers: gradients, shapes, caching and error messages."""

import numpy as np
import pytest

from backprop_lib.functional import one_hot, softmax
from backprop_lib.gradcheck import check_layer_gradients, numerical_gradient, rel_error
from backprop_lib.layers import Dense, ReLU, Sigmoid, SoftmaxCrossEntropy, Tanh

ACTIVATIONS = [ReLU, Sigmoid, Tanh]


def away_from_zero(rng, shape):
    """Random inputs with |x| >= 0.1, so ReLU's kink never sits inside a finite difference."""
    x = rng.standard_normal(shape)
    return np.sign(x) * (0.1 + np.abs(x))


# -- gradient checks (float64, relative error < 1e-7) -------------------------


@pytest.mark.parametrize("init", ["he", "xavier"])
def test_dense_gradients_match_central_differences(rng, init):
    layer = Dense(7, 4, init=init, seed=3)
    layer.params["b"][:] = rng.standard_normal(4)  # a non-zero bias exercises db fully
    report = check_layer_gradients(layer, rng.standard_normal((5, 7)))
    assert set(report.errors) == {"x", "W", "b"}
    assert report.max_error < 1e-7, str(report)


@pytest.mark.parametrize("cls", ACTIVATIONS)
def test_activation_gradients_match_central_differences(rng, cls):
    report = check_layer_gradients(cls(), away_from_zero(rng, (6, 5)))
    assert report.max_error < 1e-7, str(report)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_softmax_cross_entropy_gradient_matches_central_differences(rng, label_smoothing):
    layer = SoftmaxCrossEntropy(label_smoothing=label_smoothing)
    logits = rng.standard_normal((6, 4))  # moderate logits: no tiny gradient entries
    y = rng.integers(0, 4, size=6)
    layer.forward(logits, y)
    analytic = layer.backward()
    numeric = numerical_gradient(lambda z: layer.forward(z, y), logits)
    assert rel_error(analytic, numeric) < 1e-7


def test_softmax_cross_entropy_is_mean_loss_and_softmax_minus_onehot(rng):
    logits = rng.standard_normal((8, 3))
    y = rng.integers(0, 3, size=8)
    layer = SoftmaxCrossEntropy()
    loss = layer.forward(logits, y)
    probs = softmax(logits)
    assert isinstance(loss, float)
    assert loss == pytest.approx(-np.mean(np.log(probs[np.arange(8), y])), rel=1e-12)
    np.testing.assert_allclose(layer.backward(), (probs - one_hot(y, 3)) / 8, atol=1e-15)


# -- Dense: forward, parameters, initialisation -------------------------------


def test_dense_forward_is_affine_map_and_caches_input(rng):
    layer = Dense(3, 2, seed=0)
    layer.params["b"][:] = [1.0, -2.0]
    A = rng.standard_normal((4, 3))
    Z = layer.forward(A)
    assert Z.shape == (4, 2)
    np.testing.assert_allclose(Z, A @ layer.W + layer.b)
    dZ = rng.standard_normal((4, 2))
    dA = layer.backward(dZ)
    np.testing.assert_allclose(layer.grads["W"], A.T @ dZ)
    np.testing.assert_allclose(layer.grads["b"], dZ.sum(axis=0))
    np.testing.assert_allclose(dA, dZ @ layer.W.T)


def test_dense_params_are_the_arrays_used_in_forward():
    layer = Dense(2, 2, seed=0)
    assert layer.W is layer.params["W"] and layer.b is layer.params["b"]
    layer.params["W"][:] = 0.0  # what an in-place optimiser step does
    layer.params["b"][:] = 5.0
    np.testing.assert_array_equal(layer.forward(np.ones((3, 2))), np.full((3, 2), 5.0))


@pytest.mark.parametrize(("init", "variance"), [("he", 2 / 400), ("xavier", 2 / 500)])
def test_dense_initialisation_variance(init, variance):
    layer = Dense(400, 100, init=init, seed=1)
    assert layer.W.shape == (400, 100) and layer.b.shape == (100,)
    assert np.all(layer.b == 0)
    assert layer.W.var() == pytest.approx(variance, rel=0.05)


def test_dense_seed_and_rng_make_weights_reproducible():
    np.testing.assert_array_equal(Dense(4, 3, seed=7).W, Dense(4, 3, seed=7).W)
    assert not np.array_equal(Dense(4, 3, seed=7).W, Dense(4, 3, seed=8).W)
    W_rng = Dense(4, 3, rng=np.random.default_rng(7)).W
    np.testing.assert_array_equal(W_rng, Dense(4, 3, seed=7).W)


def test_dense_float32_keeps_float32_everywhere(rng):
    layer = Dense(5, 3, seed=0, dtype=np.float32)
    Z = layer.forward(rng.standard_normal((4, 5)))  # float64 input is cast
    dA = layer.backward(np.ones((4, 3)))
    assert Z.dtype == dA.dtype == np.float32
    assert layer.grads["W"].dtype == layer.grads["b"].dtype == np.float32


def test_dense_repr_shows_shapes():
    text = repr(Dense(64, 10))
    assert "64 -> 10" in text and "(64, 10)" in text and "(10,)" in text


# -- activations ----------------------------------------------------------------


def test_relu_passes_gradient_only_where_input_was_positive():
    layer = ReLU()
    out = layer.forward(np.array([[-2.0, 0.0, 3.0]]))
    np.testing.assert_array_equal(out, [[0.0, 0.0, 3.0]])
    np.testing.assert_array_equal(layer.backward(np.array([[5.0, 5.0, 5.0]])), [[0, 0, 5.0]])


@pytest.mark.parametrize(("cls", "fn"), [(Sigmoid, lambda z: 1 / (1 + np.exp(-z))),
                                         (Tanh, np.tanh)])
def test_smooth_activations_compute_their_function(rng, cls, fn):
    z = rng.standard_normal((3, 4))
    np.testing.assert_allclose(cls().forward(z), fn(z), rtol=1e-12)


@pytest.mark.parametrize("cls", ACTIVATIONS)
def test_activations_keep_float32(cls):
    layer = cls()
    out = layer.forward(np.ones((2, 3), dtype=np.float32))
    assert out.dtype == np.float32
    assert layer.backward(np.ones((2, 3), dtype=np.float32)).dtype == np.float32


@pytest.mark.parametrize("cls", ACTIVATIONS)
def test_activations_have_no_params(cls):
    assert cls().params == {} and cls().grads == {}


# -- errors ---------------------------------------------------------------------


@pytest.mark.parametrize("layer", [Dense(3, 2), ReLU(), Sigmoid(), Tanh()], ids=repr)
def test_backward_before_forward_names_the_layer(layer):
    with pytest.raises(RuntimeError, match=f"{type(layer).__name__}.backward .*before"):
        layer.backward(np.ones((2, 2)))


def test_loss_backward_before_forward_raises():
    with pytest.raises(RuntimeError, match="SoftmaxCrossEntropy.backward"):
        SoftmaxCrossEntropy().backward()


def test_dense_forward_rejects_wrong_input_shape():
    with pytest.raises(ValueError, match=r"Dense\(3 -> 2.*\(N, 3\).*\(4, 5\)"):
        Dense(3, 2).forward(np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        Dense(3, 2).forward(np.ones(3))


@pytest.mark.parametrize("layer", [Dense(3, 2), ReLU(), Tanh()], ids=repr)
def test_backward_rejects_dout_of_wrong_shape(layer):
    out = layer.forward(np.ones((4, 3)))
    bad = np.ones((out.shape[0] + 1, out.shape[1]))
    with pytest.raises(ValueError, match=rf"{type(layer).__name__}.backward.*{out.shape}"):
        layer.backward(bad)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"in_features": 0, "out_features": 2}, ValueError, "in_features"),
        ({"in_features": 2.5, "out_features": 2}, TypeError, "in_features"),
        ({"in_features": 2, "out_features": -1}, ValueError, "out_features"),
        ({"in_features": 2, "out_features": 2, "init": "zeros"}, ValueError, "init"),
        ({"in_features": 2, "out_features": 2, "dtype": np.int32}, TypeError, "dtype"),
        ({"in_features": 2, "out_features": 2, "rng": 3}, TypeError, "rng"),
    ],
)
def test_dense_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        Dense(**kwargs)


def test_layers_reject_non_numeric_input():
    with pytest.raises(TypeError, match="Z"):
        ReLU().forward(np.array([["a", "b"]]))
    with pytest.raises(TypeError, match="A"):
        Dense(2, 2).forward(np.array([[True, False]]))


def test_loss_layer_rejects_bad_labels():
    with pytest.raises(ValueError, match="y"):
        SoftmaxCrossEntropy().forward(np.zeros((2, 3)), np.array([0, 3]))


@pytest.mark.parametrize(
    ("layer", "x", "name"),
    [(Dense(3, 2, seed=0), np.ones((4, 3)), "dZ"), (ReLU(), np.ones((4, 3)), "dA"),
     (Sigmoid(), np.ones((4, 3)), "dA"), (Tanh(), np.ones((4, 3)), "dA")],
)
def test_backward_errors_name_the_argument_as_backward_calls_it(layer, x, name):
    out = layer.forward(x)
    with pytest.raises(ValueError, match=rf"{layer.name}.backward: {name} must have the shape"):
        layer.backward(np.ones((out.shape[0] + 1, out.shape[1])))
    with pytest.raises(TypeError, match=rf"^{name} must be a real numeric array"):
        layer.backward(np.full(out.shape, "x"))
