"""Tests for backprop_lib.symbolic: every derivation is correct and fast (< 5 s)."""

import time

import numpy as np
import pytest
import sympy as sp

from backprop_lib import functional as F
from backprop_lib import symbolic as S


def _is_zero_matrix(M):
    return all(sp.expand(e) == 0 for e in M)


def _timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


@pytest.mark.parametrize(
    "fn, args",
    [
        (S.softmax_jacobian_raw, (3,)),
        (S.softmax_jacobian_symbolic, (3,)),
        (S.softmax_jacobian_symbolic, (6,)),
        (S.softmax_jacobian_general, ()),
        (S.jacobian_properties, (3,)),
        (S.jacobian_properties, (4,)),
        (S.one_hot_covariance, (4,)),
        (S.sigmoid_jacobian_symbolic, (3,)),
        (S.cross_entropy_gradient, (3,)),
        (S.cross_entropy_gradient, (5,)),
        (S.cross_entropy_gradient, (3, 1)),
        (S.two_wrongs_gradient, (3,)),
        (S.dense_layer_gradient, (3, 4)),
        (S.lambdify_softmax_jacobian, (4,)),
    ],
)
def test_each_derivation_under_five_seconds(fn, args):
    _, seconds = _timed(fn, *args)
    assert seconds < 5.0, f"{fn.__name__}{args} took {seconds:.2f} s"


def test_symbols_shapes_and_validation():
    assert S.logit_symbols(4).shape == (4, 1)
    assert S.prob_symbols(2).shape == (2, 1)
    assert str(S.prob_symbols(3)[2]) == "s2"
    for bad in (1, 0, 2.5, True, "3"):
        with pytest.raises(ValueError):
            S.logit_symbols(bad)


@pytest.mark.parametrize("K", [2, 3, 5])
def test_concrete_jacobian_matches_formula(K):
    J = S.softmax_jacobian_symbolic(K)
    assert J.shape == (K, K)
    assert _is_zero_matrix(J - S.softmax_jacobian_formula(K))
    assert not any(e.has(sp.exp) for e in J), "all exponentials should be rewritten as s_i"


def test_concrete_jacobian_reads_nicely():
    J = S.softmax_jacobian_symbolic(3)
    s0, s1 = sp.symbols("s0 s1", positive=True)
    assert str(J[0, 0]) == "s0*(1 - s0)"
    assert J[0, 1] == -s0 * s1


def test_general_derivation_steps():
    g = S.softmax_jacobian_general()
    sym = g.symbols
    i, j, s = sym["i"], sym["j"], sym["s"]
    assert g.derivative.has(sp.Sum) and g.derivative.has(sp.KroneckerDelta)
    assert g.after_doit.has(sp.Piecewise)
    assert not g.in_range.has(sp.Piecewise)
    assert not g.with_Z.has(sp.Sum)
    assert sp.expand(g.result - s[i] * (sp.KroneckerDelta(i, j) - s[j])) == 0


def test_general_result_instantiates_to_diag_minus_outer():
    g = S.softmax_jacobian_general()
    for K in (2, 3, 4):
        J = S.instantiate_general(g.result, K, g.symbols)
        assert _is_zero_matrix(J - S.softmax_jacobian_formula(K))
    # symbols argument is optional
    assert _is_zero_matrix(S.instantiate_general(g.result, 3) - S.softmax_jacobian_formula(3))


def test_general_derivative_agrees_numerically_with_finite_differences(rng):
    """Evaluate the raw general-K derivative at concrete logits (independent of our steps)."""
    g = S.softmax_jacobian_general()
    z, i, j, K = g.symbols["z"], g.symbols["i"], g.symbols["j"], g.symbols["K"]
    zval = rng.normal(size=3)
    num = S.numerical_jacobian(F.softmax, zval)
    for a in range(3):
        for b in range(3):
            expr = g.derivative.subs({K: 3, i: a, j: b}).doit()
            expr = expr.subs({z[m]: zval[m] for m in range(3)})
            assert abs(float(expr) - num[a, b]) < 1e-8


@pytest.mark.parametrize("K", [3, 4])
def test_properties(K):
    p = S.jacobian_properties(K)
    assert _is_zero_matrix(p["J_minus_JT"])
    assert _is_zero_matrix(p["row_sums_constrained"])
    assert not _is_zero_matrix(p["row_sums"])
    assert p["det"] == 0
    assert sp.expand(p["leading_minor"]) != 0
    assert p["psd_gap"] == 0


def test_one_hot_covariance_is_the_jacobian():
    mean, second, cov = S.one_hot_covariance(3)
    assert _is_zero_matrix(mean - S.prob_symbols(3))
    assert _is_zero_matrix(second - sp.diag(*S.prob_symbols(3)))
    assert _is_zero_matrix(cov - S.softmax_jacobian_formula(3))


def test_sigmoid_jacobian_is_diagonal():
    J_raw, J = S.sigmoid_jacobian_symbolic(3)
    a = sp.symbols("a0:3", positive=True)
    for r in range(3):
        for c in range(3):
            if r != c:
                assert J_raw[r, c] == 0 and J[r, c] == 0
        assert sp.expand(J[r, r] - a[r] * (1 - a[r])) == 0


@pytest.mark.parametrize("targets", ["probability", "one-hot", 0, 2])
def test_cross_entropy_gradient_is_s_minus_y(targets):
    r = S.cross_entropy_gradient(3, targets)
    assert _is_zero_matrix(r["minus_s_minus_y"])
    assert _is_zero_matrix(r["grad"] - (r["s"] - r["y"]))
    assert _is_zero_matrix(r["vjp"] - (r["s"] - r["y"]))
    assert r["dL_ds"].shape == (3, 1)


def test_cross_entropy_gradient_bad_targets():
    with pytest.raises(ValueError):
        S.cross_entropy_gradient(3, 3)
    with pytest.raises(ValueError):
        S.cross_entropy_gradient(3, "soft")


def test_two_wrongs_make_s_minus_y():
    local, upstream, product = S.two_wrongs_gradient(4)
    s, y = S.prob_symbols(4), S.target_symbols(4)
    assert local.shape == upstream.shape == product.shape == (4, 1)
    assert _is_zero_matrix(product - (s - y))


def test_dense_layer_gradient():
    r = S.dense_layer_gradient(2, 3)
    assert r["dW"].shape == (2, 3) and r["db"].shape == (1, 3) and r["da"].shape == (1, 2)
    assert _is_zero_matrix(r["dW"] - r["dW_outer"])
    assert _is_zero_matrix(r["db"] - r["g"])
    assert _is_zero_matrix(r["da"] - r["da_matrix"])
    with pytest.raises(ValueError):
        S.dense_layer_gradient(0, 3)


@pytest.mark.parametrize("K", [2, 3, 5])
def test_lambdified_jacobian_matches_numpy_and_finite_differences(K, rng):
    z = rng.normal(size=K)
    s = F.softmax(z)
    f_raw = S.lambdify_softmax_jacobian(K)
    f_s = S.lambdify_softmax_jacobian(K, form="s")
    J_num = S.numerical_jacobian(F.softmax, z)
    assert f_raw(z).shape == (K, K)
    np.testing.assert_allclose(f_raw(z), F.softmax_jacobian(s), atol=1e-12)
    np.testing.assert_allclose(f_s(s), F.softmax_jacobian(s), atol=1e-12)
    assert np.max(np.abs(f_raw(z) - J_num)) < 1e-8
    with pytest.raises(ValueError):
        f_raw(np.zeros(K + 1))
    with pytest.raises(ValueError):
        S.lambdify_softmax_jacobian(K, form="bad")


def test_numerical_jacobian_shapes_and_no_mutation():
    x = np.array([0.5, -1.0, 2.0])
    x_before = x.copy()
    J = S.numerical_jacobian(lambda v: np.array([v.sum(), (v**2).sum()]), x)
    assert J.shape == (2, 3)
    np.testing.assert_allclose(J, [[1, 1, 1], 2 * x_before], atol=1e-6)
    np.testing.assert_array_equal(x, x_before)
    with pytest.raises(ValueError):
        S.numerical_jacobian(np.sin, np.zeros((2, 2)))
