"""Tests for backprop_lib.optim: update rules, in-place updates, convergence, errors."""

import numpy as np
import pytest

from backprop_lib.optim import SGD, Adam, Parameter

# An ill-conditioned quadratic f(w) = 0.5 * sum(a * (w - c)**2), minimum at w = c.
CURVATURE = np.array([1.0, 4.0, 0.25])
MINIMUM = np.array([3.0, -1.0, 2.0])


def quadratic(w):
    return 0.5 * np.sum(CURVATURE * (w - MINIMUM) ** 2)


def minimise(optimizer, steps):
    w = np.zeros(3)
    for _ in range(steps):
        optimizer.step([Parameter("w", w, CURVATURE * (w - MINIMUM))])
    return w


@pytest.mark.parametrize(
    "optimizer",
    [SGD(lr=0.4), SGD(lr=0.1, momentum=0.9), Adam(lr=0.1)],
    ids=["sgd", "momentum", "adam"],
)
def test_optimisers_minimise_a_quadratic(optimizer):
    w = minimise(optimizer, steps=500)
    assert quadratic(w) < 1e-6 * quadratic(np.zeros(3))
    np.testing.assert_allclose(w, MINIMUM, atol=2e-3)


def test_momentum_beats_plain_sgd_on_an_ill_conditioned_quadratic():
    plain = quadratic(minimise(SGD(lr=0.1), steps=50))
    heavy = quadratic(minimise(SGD(lr=0.1, momentum=0.9), steps=50))
    assert heavy < plain


def test_sgd_step_is_w_minus_lr_grad_in_place():
    w = np.array([1.0, 2.0])
    same = w
    SGD(lr=0.5).step([Parameter("w", w, np.array([2.0, -4.0]))])
    assert w is same
    np.testing.assert_allclose(w, [0.0, 4.0])


def test_sgd_momentum_accumulates_velocity():
    w = np.zeros(1)
    opt = SGD(lr=1.0, momentum=0.5)
    for _ in range(3):
        opt.step([Parameter("w", w, np.ones(1))])
    # velocities 1, 1.5, 1.75 -> w = -(1 + 1.5 + 1.75)
    np.testing.assert_allclose(w, [-4.25])


def test_sgd_weight_decay_adds_l2_gradient():
    w = np.array([2.0])
    SGD(lr=0.1, weight_decay=0.5).step([Parameter("w", w, np.zeros(1))])
    np.testing.assert_allclose(w, [2.0 - 0.1 * 0.5 * 2.0])


def test_adam_first_step_has_size_lr_whatever_the_gradient_scale():
    w = np.zeros(3)
    Adam(lr=0.01).step([Parameter("w", w, np.array([1e-3, -5.0, 300.0]))])
    np.testing.assert_allclose(w, [-0.01, 0.01, -0.01], rtol=1e-4)


def test_adam_keeps_separate_state_per_parameter_name():
    a, b = np.zeros(2), np.zeros(2)
    opt = Adam(lr=0.1)
    for _ in range(3):
        opt.step([Parameter("a", a, np.ones(2)), Parameter("b", b, -np.ones(2))])
    np.testing.assert_allclose(a, -b)
    assert set(opt.state) == {"a", "b"} and opt.t == 3


@pytest.mark.parametrize("optimizer", [SGD(lr=0.1, momentum=0.9), Adam(lr=0.1)],
                         ids=["momentum", "adam"])
def test_float32_parameters_stay_float32(optimizer):
    w = np.ones(4, dtype=np.float32)
    optimizer.step([Parameter("w", w, np.ones(4, dtype=np.float32))])
    assert w.dtype == np.float32 and np.all(w < 1)


def test_step_without_gradient_explains_what_to_do():
    with pytest.raises(RuntimeError, match="'W1'.*backward"):
        SGD().step([Parameter("W1", np.zeros(2), None)])


def test_step_rejects_gradient_of_wrong_shape():
    with pytest.raises(ValueError, match=r"'W1'.*\(3,\).*\(2,\)"):
        Adam().step([Parameter("W1", np.zeros(2), np.zeros(3))])


def test_state_shape_change_is_reported():
    opt = SGD(momentum=0.9)
    opt.step([Parameter("W", np.zeros(2), np.zeros(2))])
    with pytest.raises(ValueError, match="new optimiser"):
        opt.step([Parameter("W", np.zeros(3), np.zeros(3))])


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: SGD(lr=0), ValueError, "lr"),
        (lambda: SGD(lr="fast"), TypeError, "lr"),
        (lambda: SGD(momentum=1.0), ValueError, "momentum"),
        (lambda: SGD(weight_decay=-1), ValueError, "weight_decay"),
        (lambda: Adam(betas=(0.9,)), TypeError, "betas"),
        (lambda: Adam(betas=(0.9, 1.5)), ValueError, r"betas\[1\]"),
        (lambda: Adam(eps=0), ValueError, "eps"),
        (lambda: Adam(lr=float("nan")), ValueError, "lr"),
    ],
)
def test_bad_hyperparameters_raise(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_reprs_show_hyperparameters():
    assert "momentum=0.9" in repr(SGD(momentum=0.9))
    assert "lr=0.01" in repr(Adam(lr=0.01))


@pytest.mark.parametrize(
    ("parameters", "pattern"),
    [
        (42, "parameters must be an iterable of Parameter"),
        ([np.zeros(3)], "parameters must hold Parameter .* got an item of type ndarray"),
        (["W1"], "got an item of type str"),
    ],
)
def test_step_explains_what_parameters_must_be(parameters, pattern):
    with pytest.raises(TypeError, match=pattern):
        SGD().step(parameters)


def test_step_explains_a_model_passed_instead_of_its_parameters():
    from backprop_lib.model import MLP

    with pytest.raises(TypeError, match=r"optimizer.step\(model.parameters\(\)\)"):
        Adam().step(MLP([2, 2], seed=0))


def test_step_accepts_plain_triples():
    value = np.ones(2)
    SGD(lr=0.5).step([("w", value, np.ones(2))])
    np.testing.assert_allclose(value, [0.5, 0.5])
