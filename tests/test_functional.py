"""Tests for backprop_lib.functional: properties, numerics, dtypes and bad input."""

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from backprop_lib import functional as F
from backprop_lib.gradcheck import numerical_gradient, rel_error

# Any NumPy warning (overflow, invalid value, divide by zero) is a test failure.
pytestmark = pytest.mark.filterwarnings("error")

FAST = settings(max_examples=40, deadline=None)
DTYPES = [np.float32, np.float64]


# ---------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------


def logits_arrays(max_abs=30.0, min_k=1, max_k=7, max_n=5):
    """Float64 logits of shape (N, K)."""
    shapes = st.tuples(st.integers(1, max_n), st.integers(min_k, max_k))
    values = st.floats(-max_abs, max_abs, allow_nan=False, allow_infinity=False)
    return shapes.flatmap(lambda shape: arrays(np.float64, shape, elements=values))


@st.composite
def logits_and_labels(draw, max_abs=30.0):
    """(logits (N, K), integer labels (N,))."""
    z = draw(logits_arrays(max_abs=max_abs))
    n, k = z.shape
    y = np.array(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    return z, y


smoothing = st.sampled_from([0.0, 0.1, 0.5])
reductions = st.sampled_from(F.REDUCTIONS)


def smoothed_targets(y, k, eps):
    return (1 - eps) * F.one_hot(y, k) + eps / k


def reference_cross_entropy(z, targets):
    """Per-sample loss from the definition, valid for moderate logits."""
    return -(targets * np.log(np.exp(z) / np.exp(z).sum(axis=1, keepdims=True))).sum(axis=1)


# ---------------------------------------------------------------------------
# Softmax, log_softmax, logsumexp
# ---------------------------------------------------------------------------


@FAST
@given(logits_arrays(max_abs=1e3))
def test_softmax_rows_are_probability_distributions(z):
    s = F.softmax(z)
    assert s.shape == z.shape
    assert np.all(s >= 0)
    np.testing.assert_allclose(s.sum(axis=-1), 1.0, rtol=1e-12)


@FAST
@given(logits_arrays(), st.floats(-1e3, 1e3))
def test_softmax_is_shift_invariant(z, c):
    np.testing.assert_allclose(F.softmax(z + c), F.softmax(z), rtol=1e-9, atol=1e-15)


@FAST
@given(logits_arrays(max_abs=20.0))
def test_softmax_matches_definition_for_moderate_logits(z):
    e = np.exp(z)
    np.testing.assert_allclose(F.softmax(z), e / e.sum(axis=-1, keepdims=True), rtol=1e-12)


def test_softmax_acts_on_last_axis_of_any_shape(rng):
    z = rng.normal(size=(2, 3, 4))
    s = F.softmax(z)
    for idx in np.ndindex(2, 3):
        np.testing.assert_allclose(s[idx], F.softmax(z[idx]))
    np.testing.assert_allclose(F.softmax(z[0, 0]).sum(), 1.0)


@FAST
@given(logits_arrays(max_abs=1e3))
def test_log_softmax_equals_log_of_softmax_where_finite(z):
    s = F.softmax(z)
    visible = s > 1e-300
    np.testing.assert_allclose(F.log_softmax(z)[visible], np.log(s[visible]), rtol=1e-9, atol=1e-12)


@FAST
@given(logits_arrays(max_abs=1e4))
def test_log_softmax_is_z_minus_logsumexp(z):
    expected = z - F.logsumexp(z, keepdims=True)
    np.testing.assert_allclose(F.log_softmax(z), expected, rtol=1e-12, atol=1e-9)
    assert np.all(F.log_softmax(z) <= 0)


def logsumexp_reference(row):
    """Independent per-row reference in Python floats: m + log1p(sum of the others)."""
    row = [float(v) for v in row]
    i_max = max(range(len(row)), key=row.__getitem__)
    m = row[i_max]
    rest = math.fsum(math.exp(v - m) for i, v in enumerate(row) if i != i_max)
    return m + math.log1p(rest)


@FAST
@given(logits_arrays(max_abs=1e4))
def test_logsumexp_matches_stable_reference(z):
    expected = [logsumexp_reference(row) for row in z]
    np.testing.assert_allclose(F.logsumexp(z), expected, rtol=1e-13, atol=1e-12)


def test_logsumexp_keepdims_shapes(rng):
    z = rng.normal(size=(2, 3, 5))
    assert F.logsumexp(z).shape == (2, 3)
    assert F.logsumexp(z, keepdims=True).shape == (2, 3, 1)
    np.testing.assert_allclose(F.logsumexp(z), np.log(np.exp(z).sum(axis=-1)))


# ---------------------------------------------------------------------------
# Jacobians and the VJP
# ---------------------------------------------------------------------------


@FAST
@given(logits_arrays(max_abs=10.0))
def test_softmax_jacobian_properties(z):
    s = F.softmax(z)
    J = F.softmax_jacobian(s)
    n, k = z.shape
    assert J.shape == (n, k, k)
    np.testing.assert_allclose(J, np.swapaxes(J, -1, -2), atol=0)  # symmetric
    np.testing.assert_allclose(J.sum(axis=-1), 0.0, atol=1e-15)  # rows sum to 0
    eigenvalues = np.linalg.eigvalsh(J)
    assert np.all(eigenvalues >= -1e-14)  # positive semi-definite
    for Jn in J:
        # All probabilities are >= e^-20 / K here, so the rank is exactly K - 1.
        assert np.linalg.matrix_rank(Jn, tol=1e-12) == k - 1


@FAST
@given(logits_arrays(max_abs=5.0))
def test_softmax_jacobian_entries_follow_the_formula(z):
    s = F.softmax(z)
    J = F.softmax_jacobian(s)
    n, k = s.shape
    for b in range(n):
        for i in range(k):
            for j in range(k):
                assert J[b, i, j] == pytest.approx(s[b, i] * ((i == j) - s[b, j]), abs=1e-15)


def test_softmax_jacobian_matches_central_differences(rng):
    z = rng.normal(size=5)
    J = F.softmax_jacobian(F.softmax(z))
    for i in range(5):
        numeric = numerical_gradient(lambda v, i=i: F.softmax(v)[i], z.copy())
        assert rel_error(J[i], numeric) < 1e-7


def test_softmax_jacobian_any_leading_shape(rng):
    s = F.softmax(rng.normal(size=(2, 3, 4)))
    J = F.softmax_jacobian(s)
    assert J.shape == (2, 3, 4, 4)
    np.testing.assert_allclose(J[1, 2], F.softmax_jacobian(s[1, 2]))
    assert F.softmax_jacobian(s[0, 0]).shape == (4, 4)


@FAST
@given(logits_arrays(max_abs=20.0), st.integers(0, 2**32 - 1))
def test_softmax_vjp_equals_jacobian_route(z, seed):
    s = F.softmax(z)
    g = np.random.default_rng(seed).normal(size=z.shape)
    via_jacobian = np.einsum("nk,nkj->nj", g, F.softmax_jacobian(s))
    np.testing.assert_allclose(F.softmax_vjp(s, g), via_jacobian, rtol=1e-9, atol=1e-14)


def test_softmax_vjp_matches_central_differences(rng):
    z = rng.normal(size=(3, 6))
    g = rng.normal(size=(3, 6))
    numeric = numerical_gradient(lambda v: np.sum(F.softmax(v) * g), z.copy())
    assert rel_error(F.softmax_vjp(F.softmax(z), g), numeric) < 1e-7


def test_elementwise_product_with_jacobian_diagonal_is_wrong(rng):
    """The learner's trap: s * (1 - s) * g is not the softmax backward pass."""
    s = F.softmax(rng.normal(size=(4, 5)))
    g = rng.normal(size=(4, 5))
    assert rel_error(s * (1 - s) * g, F.softmax_vjp(s, g)) > 1e-2


def test_sigmoid_is_stable_and_correct(rng):
    z = rng.normal(scale=5, size=(4, 3))
    np.testing.assert_allclose(F.sigmoid(z), 1 / (1 + np.exp(-z)), rtol=1e-14)
    np.testing.assert_allclose(F.sigmoid(-z), 1 - F.sigmoid(z), atol=1e-15)
    with np.errstate(all="raise"):
        np.testing.assert_array_equal(F.sigmoid(np.array([-1e4, 0.0, 1e4])), [0.0, 0.5, 1.0])


def test_sigmoid_jacobian_is_diagonal_and_matches_central_differences(rng):
    z = rng.normal(size=(2, 4))
    J = F.sigmoid_jacobian(F.sigmoid(z))
    assert J.shape == (2, 4, 4)
    off_diagonal = J * (1 - np.eye(4))
    assert np.all(off_diagonal == 0)
    for n in range(2):
        for i in range(4):
            numeric = numerical_gradient(lambda v, i=i: F.sigmoid(v)[i], z[n].copy())
            assert rel_error(J[n, i], numeric) < 1e-7


def test_relu():
    z = np.array([[-2.0, 0.0, 3.5]], dtype=np.float32)
    out = F.relu(z)
    np.testing.assert_array_equal(out, [[0.0, 0.0, 3.5]])
    assert out.dtype == np.float32
    assert F.relu([1, -1]).dtype == np.float64


# ---------------------------------------------------------------------------
# one_hot
# ---------------------------------------------------------------------------


def test_one_hot_values_and_dtype():
    Y = F.one_hot([2, 0, 1, 2], 4, dtype=np.float32)
    assert Y.dtype == np.float32
    np.testing.assert_array_equal(Y, np.eye(4, dtype=np.float32)[[2, 0, 1, 2]])
    assert F.one_hot(np.array([], dtype=int), 3).shape == (0, 3)


# ---------------------------------------------------------------------------
# Cross-entropy and its gradient
# ---------------------------------------------------------------------------


@FAST
@given(logits_and_labels(), smoothing)
def test_cross_entropy_matches_definition(zy, eps):
    z, y = zy
    per_sample = reference_cross_entropy(z, smoothed_targets(y, z.shape[1], eps))
    np.testing.assert_allclose(
        F.cross_entropy(z, y, reduction="none", label_smoothing=eps), per_sample,
        rtol=1e-9, atol=1e-13,
    )
    assert F.cross_entropy(z, y, label_smoothing=eps) == pytest.approx(per_sample.mean())
    assert F.cross_entropy(z, y, "sum", eps) == pytest.approx(per_sample.sum())


@FAST
@given(logits_and_labels(max_abs=1e3), smoothing)
def test_cross_entropy_grad_is_softmax_minus_targets_over_n(zy, eps):
    z, y = zy
    n, k = z.shape
    expected = F.softmax(z) - smoothed_targets(y, k, eps)
    grad = F.cross_entropy_grad(z, y, label_smoothing=eps)
    np.testing.assert_allclose(grad, expected / n, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(F.cross_entropy_grad(z, y, "sum", eps), expected, atol=1e-14)
    np.testing.assert_allclose(F.cross_entropy_grad(z, y, "none", eps), expected, atol=1e-14)
    np.testing.assert_allclose(grad.sum(axis=1), 0.0, atol=1e-14)


@FAST
@given(logits_and_labels(), smoothing, reductions)
def test_probability_targets_agree_with_integer_labels(zy, eps, reduction):
    z, y = zy
    onehot = F.one_hot(y, z.shape[1])
    np.testing.assert_allclose(
        F.cross_entropy(z, onehot, reduction, eps), F.cross_entropy(z, y, reduction, eps),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        F.cross_entropy_grad(z, onehot, reduction, eps),
        F.cross_entropy_grad(z, y, reduction, eps),
        atol=1e-15,
    )


@FAST
@given(logits_and_labels(max_abs=1e4), smoothing, reductions)
def test_fused_loss_and_grad_match_the_textbook_route(zy, eps, reduction):
    """softmax_cross_entropy agrees with -sum(t * log_softmax) and softmax - t."""
    z, y = zy
    n, k = z.shape
    targets = smoothed_targets(y, k, eps)
    per_sample = -(targets * F.log_softmax(z)).sum(axis=1)
    scale = 1 / n if reduction == "mean" else 1.0
    expected_loss = {"none": per_sample, "sum": per_sample.sum(), "mean": per_sample.mean()}
    loss, grad = F.softmax_cross_entropy(z, y, reduction, eps)
    np.testing.assert_allclose(loss, expected_loss[reduction], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad, scale * (F.softmax(z) - targets), atol=1e-15)
    np.testing.assert_array_equal(loss, F.cross_entropy(z, y, reduction, eps))
    np.testing.assert_array_equal(grad, F.cross_entropy_grad(z, y, reduction, eps))


@pytest.mark.parametrize("eps", [0.0, 0.2])
@pytest.mark.parametrize("targets", ["labels", "probabilities"])
def test_cross_entropy_grad_matches_central_differences(rng, eps, targets):
    z = rng.normal(scale=2, size=(4, 5))
    y = rng.integers(0, 5, size=4)
    if targets == "probabilities":
        y = F.softmax(rng.normal(size=(4, 5)))
    numeric = numerical_gradient(lambda v: F.cross_entropy(v, y, label_smoothing=eps), z.copy())
    assert rel_error(F.cross_entropy_grad(z, y, label_smoothing=eps), numeric) < 1e-7


def test_losses_do_not_modify_their_inputs(rng):
    z = rng.normal(size=(3, 4))
    y = np.array([0, 3, 1])
    z0, y0 = z.copy(), y.copy()
    F.cross_entropy(z, y)
    F.cross_entropy_grad(z, y)
    F.softmax_cross_entropy(z, y, label_smoothing=0.1)
    np.testing.assert_array_equal(z, z0)
    np.testing.assert_array_equal(y, y0)


def test_mean_loss_is_a_zero_dimensional_array_and_none_is_per_sample(rng):
    z = rng.normal(size=(3, 4)).astype(np.float32)
    assert np.shape(F.cross_entropy(z, [0, 1, 2])) == ()
    assert F.cross_entropy(z, [0, 1, 2], reduction="none").shape == (3,)


# ---------------------------------------------------------------------------
# dtypes and extreme logits
# ---------------------------------------------------------------------------

UNARY = [F.softmax, F.log_softmax, F.logsumexp, F.sigmoid, F.relu]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("func", UNARY, ids=lambda f: f.__name__)
def test_unary_functions_keep_float_dtype(func, dtype, rng):
    assert func(rng.normal(size=(2, 3)).astype(dtype)).dtype == dtype


@pytest.mark.parametrize("func", UNARY, ids=lambda f: f.__name__)
def test_integer_input_becomes_float64(func):
    assert func(np.array([[1, 2, 3]])).dtype == np.float64


@pytest.mark.parametrize("dtype", DTYPES)
def test_jacobians_vjp_and_losses_keep_float_dtype(dtype, rng):
    z = rng.normal(size=(3, 4)).astype(dtype)
    s = F.softmax(z)
    y = np.array([0, 1, 3])
    assert F.softmax_jacobian(s).dtype == dtype
    assert F.sigmoid_jacobian(s).dtype == dtype
    assert F.softmax_vjp(s, s).dtype == dtype
    assert F.cross_entropy(z, y).dtype == dtype
    assert F.cross_entropy(z, y, reduction="none").dtype == dtype
    assert F.cross_entropy_grad(z, y, label_smoothing=0.1).dtype == dtype
    assert F.cross_entropy(z, s).dtype == dtype
    loss, grad = F.softmax_cross_entropy(z, y)
    assert loss.dtype == dtype and grad.dtype == dtype


EXTREME = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, -1e4]])


@pytest.mark.parametrize("dtype", DTYPES)
def test_extreme_logits_are_finite_exact_and_silent(dtype):
    z = EXTREME.astype(dtype)
    y = np.array([1, 0, 2])
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        s = F.softmax(z)
        log_s = F.log_softmax(z)
        lse = F.logsumexp(z)
        per_sample = F.cross_entropy(z, y, reduction="none")
        grad = F.cross_entropy_grad(z, y)
        fused_loss, fused_grad = F.softmax_cross_entropy(z, y, label_smoothing=0.1)
        sig = F.sigmoid(z)
    expected_s = np.array([[1, 0, 0], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0]])
    np.testing.assert_allclose(s, expected_s, rtol=1e-6)
    np.testing.assert_allclose(log_s[0], [0.0, -2e4, -1e4], rtol=1e-6)
    np.testing.assert_allclose(lse, [1e4, -1e4 + np.log(3), 1e4 + np.log(2)], rtol=1e-6)
    # Label 1 in row 0 sits 2e4 below the max: the loss is 2e4, not inf.
    np.testing.assert_allclose(per_sample, [2e4, np.log(3), 2e4 + np.log(2)], rtol=1e-6)
    np.testing.assert_allclose(grad, (expected_s - F.one_hot(y, 3)) / 3, atol=1e-6)
    for result in (s, log_s, lse, per_sample, grad, fused_loss, fused_grad, sig):
        assert np.all(np.isfinite(result))
        assert result.dtype == dtype


# ---------------------------------------------------------------------------
# Bad input: every validation branch, each message naming the argument
# ---------------------------------------------------------------------------

Z = np.zeros((3, 4))
Y = np.array([0, 1, 3])
P = np.full((3, 4), 0.25)

BAD_INPUTS = [
    # (function, args, kwargs, exception, message pattern)
    (F.softmax, (np.array([True, False]),), {}, TypeError, "z must hold numbers"),
    (F.softmax, (np.array(["a", "b"]),), {}, TypeError, "z must be a real numeric"),
    (F.softmax, (np.array([1 + 2j]),), {}, TypeError, "z must be a real numeric"),
    (F.softmax, (np.float64(3.0),), {}, ValueError, "z must have at least 1"),
    (F.softmax, (np.zeros((2, 0)),), {}, ValueError, "z must have at least one entry"),
    (F.softmax, (np.array([0.0, np.nan]),), {}, ValueError, "z contains NaN"),
    (F.log_softmax, (np.array([0.0, np.inf]),), {}, ValueError, r"z contains NaN or \+inf"),
    (F.logsumexp, (np.array([-np.inf, -np.inf]),), {}, ValueError, "z contains .* -inf"),
    (F.softmax_vjp, (np.ones(3), np.ones(4)), {}, ValueError, "s and g must have the same"),
    (F.cross_entropy, (np.zeros(4), Y), {}, ValueError, r"logits must have shape \(N, K\)"),
    (F.cross_entropy, (np.zeros((0, 4)), Y[:0]), {}, ValueError, "logits must have at least"),
    (F.cross_entropy, (np.array([[0, np.nan]]), [0]), {}, ValueError, r"logits contains NaN"),
    (F.cross_entropy, (np.array([[0, np.inf]]), [0]), {}, ValueError, r"logits .* or \+inf"),
    (F.cross_entropy, (np.array([[1.0, 2], [-np.inf, -np.inf]]), [0, 1]), {}, ValueError,
     "logits contains .* entirely -inf"),
    (F.cross_entropy, (np.array([[0, -np.inf]]), [1]), {}, ValueError,
     "cross-entropy of row 0 is not finite: logits has -inf"),
    (F.cross_entropy, (np.array([[0, -np.inf]]), [0]), {"label_smoothing": 0.1}, ValueError,
     "cross-entropy of row 0 is not finite"),
    (F.cross_entropy, (Z > 0, Y), {}, TypeError, "logits must hold numbers"),
    (F.cross_entropy, (Z, [0, 1]), {}, ValueError, "y has 2 labels but logits has 3 rows"),
    (F.cross_entropy, (Z, [0, 1, 4]), {}, ValueError, r"y must hold class indices in \[0, 3\]"),
    (F.cross_entropy, (Z, [0, -1, 2]), {}, ValueError, "y must hold class indices"),
    (F.cross_entropy, (Z, [0.0, 1.0, 2.0]), {}, TypeError, "y of shape .* integer class labels"),
    (F.cross_entropy, (Z, [0.5, 1.0, 2.0]), {}, TypeError, "y of shape .* integer class labels"),
    (F.cross_entropy, (Z, Y > 0), {}, TypeError, "y must hold integer labels or prob"),
    (F.cross_entropy, (Z, np.array(["a", "b", "c"])), {}, TypeError, "y must be integer"),
    (F.cross_entropy, (Z, np.zeros((3, 4, 1))), {}, ValueError, "y must be integer labels of"),
    (F.cross_entropy, (Z, np.full((3, 5), 0.2)), {}, ValueError, "targets y must have the log"),
    (F.cross_entropy, (Z, np.full((3, 4), 0.3)), {}, ValueError, "must sum to 1"),
    (F.cross_entropy, (Z, P - [0.5, 0.5, 0, 0] + [0, 0, 0.5, 0.5]), {}, ValueError,
     "targets y must be non-negative"),
    (F.cross_entropy, (Z, np.where(P > 0, np.nan, P)), {}, ValueError,
     "targets y contain NaN"),
    (F.cross_entropy, (Z, Y), {"reduction": "avg"}, ValueError, "reduction must be one of"),
    (F.cross_entropy, (Z, Y), {"reduction": None}, ValueError, "reduction must be one of"),
    (F.cross_entropy, (Z, Y), {"label_smoothing": 1.0}, ValueError, r"label_smoothing must be in"),
    (F.cross_entropy, (Z, Y), {"label_smoothing": -0.1}, ValueError, "label_smoothing must be"),
    (F.cross_entropy, (Z, Y), {"label_smoothing": float("nan")}, ValueError, "label_smoothing"),
    (F.cross_entropy, (Z, Y), {"label_smoothing": "0.1"}, TypeError, "label_smoothing must be a"),
    (F.cross_entropy, (Z, Y), {"label_smoothing": True}, TypeError, "label_smoothing must be a"),
    (F.one_hot, ([0, 1], 2.0), {}, TypeError, "num_classes must be an int"),
    (F.one_hot, ([0, 1], 0), {}, ValueError, "num_classes must be >= 1"),
    (F.one_hot, ([0.0, 1.0], 2), {}, TypeError, "y must hold integer class labels"),
    (F.one_hot, ([[0, 1]], 2), {}, ValueError, r"y must have shape \(N,\)"),
    (F.one_hot, ([0, 2], 2), {}, ValueError, r"y must hold class indices in \[0, 1\]"),
    # Jacobian and VJP take the softmax OUTPUT: logits, exp(z), negative values, NaN are refused.
    (F.softmax_jacobian, (np.array([2.0, -1.0, 0.5]),), {}, ValueError,
     "negative entries .* this looks like logits; pass softmax"),
    (F.softmax_jacobian, (np.array([[2.0, 1.0, 0.5]]),), {}, ValueError,
     r"s\[0\] sums to 3.5; this looks like logits"),
    (F.softmax_jacobian, (np.exp(np.array([0.0, 1.0])),), {}, ValueError,
     "each row of s must sum to 1"),
    (F.softmax_jacobian, (np.array([0.5, np.nan, 0.5]),), {}, ValueError,
     "s contains NaN or infinite values"),
    (F.softmax_jacobian, (np.array([0.5, np.inf]),), {}, ValueError, "s contains NaN or inf"),
    (F.softmax_vjp, (np.array([[2.0, -1.0]]), np.ones((1, 2))), {}, ValueError,
     "this looks like logits; pass softmax"),
    (F.softmax_vjp, (np.array([[0.2, 0.2]]), np.ones((1, 2))), {}, ValueError,
     r"s\[0\] sums to 0.4"),
    (F.softmax_vjp, (np.array([[np.nan, 1.0]]), np.ones((1, 2))), {}, ValueError,
     "s contains NaN"),
    (F.logsumexp, (np.zeros(3),), {"keepdims": "no"}, TypeError, "keepdims must be True or"),
    (F.logsumexp, (np.zeros(3),), {"keepdims": 1}, TypeError, "keepdims must be True or False"),
    (F.logsumexp, (np.zeros(3),), {"keepdims": None}, TypeError, "keepdims must be True or"),
]


@pytest.mark.parametrize("loss", [F.cross_entropy, F.cross_entropy_grad, F.softmax_cross_entropy])
@pytest.mark.parametrize(
    "func, args, kwargs, error, pattern",
    [case for case in BAD_INPUTS if case[0] is F.cross_entropy],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_losses_reject_bad_input(loss, func, args, kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        loss(*args, **kwargs)


@pytest.mark.parametrize(
    "func, args, kwargs, error, pattern",
    [case for case in BAD_INPUTS if case[0] is not F.cross_entropy],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_other_functions_reject_bad_input(func, args, kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        func(*args, **kwargs)


@pytest.mark.parametrize("dtype", DTYPES)
def test_minus_inf_logits_act_as_a_mask(dtype):
    """A class with logit -inf gets probability 0, as if it were not there."""
    z = np.array([[1.0, -np.inf, 3.0], [-np.inf, 0.0, 2.0]], dtype=dtype)
    y = np.array([2, 1])
    with np.errstate(all="raise"):
        s = F.softmax(z)
        loss, grad = F.softmax_cross_entropy(z, y)
    assert s[0, 1] == 0 and s[1, 0] == 0
    np.testing.assert_allclose(F.log_softmax(z)[0, [0, 2]], F.log_softmax(z[0, [0, 2]]),
                               rtol=1e-6)
    unmasked = np.array([[1.0, 3.0], [0.0, 2.0]], dtype=dtype)
    np.testing.assert_allclose(loss, F.cross_entropy(unmasked, [1, 0]), rtol=1e-6)
    assert grad[0, 1] == 0 and grad[1, 0] == 0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", [1.0, 50.0, 500.0, 1e4])
def test_fused_loss_is_accurate_at_every_logit_scale(dtype, scale, rng):
    """Rows that need the max shift and rows that do not give the same answer."""
    z64 = rng.normal(size=(6, 5)) * scale
    z64[::2] += scale  # mix rows of different magnitude
    y = rng.integers(0, 5, size=6)
    expected = np.array([logsumexp_reference(row) - row[c] for row, c in zip(z64, y, strict=True)])
    for eps in (0.0, 0.3):
        loss = F.cross_entropy(z64.astype(dtype), y, reduction="none", label_smoothing=eps)
        uniform = np.array([logsumexp_reference(row) - row.mean() for row in z64])
        reference = (1 - eps) * expected + eps * uniform
        tol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(loss, reference, rtol=tol, atol=tol * scale)


def test_probability_targets_tolerate_float32_rounding(rng):
    z = rng.normal(size=(64, 1000)).astype(np.float32)
    targets = F.softmax(rng.normal(size=(64, 1000)).astype(np.float32))
    assert np.isfinite(F.cross_entropy(z, targets))


# ---------------------------------------------------------------------------
# The parallel path of the fused loss (row blocks in a thread pool)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_parallel_blocks_match_the_single_pass(monkeypatch, dtype, reduction):
    rng = np.random.default_rng(7)
    z = (rng.normal(size=(37, 11)) * 3).astype(dtype)
    z[5] *= 4000  # a row that needs the max shift
    y = rng.integers(0, 11, size=37)
    expected = F.softmax_cross_entropy(z, y, reduction=reduction, label_smoothing=0.1)
    monkeypatch.setattr(F, "_PARALLEL_MIN_SIZE", 0)
    monkeypatch.setattr(F, "_WORKERS", 3)
    got = F.softmax_cross_entropy(z, y, reduction=reduction, label_smoothing=0.1)
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-6)
    np.testing.assert_array_equal(got[1], expected[1])


def test_parallel_blocks_still_reject_nan(monkeypatch):
    monkeypatch.setattr(F, "_PARALLEL_MIN_SIZE", 0)
    monkeypatch.setattr(F, "_WORKERS", 2)
    z = np.zeros((6, 4))
    z[4, 2] = np.nan
    with pytest.raises(ValueError, match="logits"):
        F.softmax_cross_entropy(z, np.zeros(6, dtype=int))


# ---------------------------------------------------------------------------
# The probability check of softmax_jacobian / softmax_vjp accepts every real softmax output
# ---------------------------------------------------------------------------


@FAST
@given(logits_arrays(max_abs=1e4))
def test_probability_check_accepts_softmax_output_in_float32_and_float64(z):
    for dtype in (np.float64, np.float32):
        s = F.softmax(z.astype(dtype))
        F.softmax_jacobian(s)
        F.softmax_vjp(s, np.ones_like(s))


@pytest.mark.parametrize("k", [2, 1000, 50_000])
def test_probability_check_accepts_wide_float32_rows(k, rng):
    s = F.softmax(rng.normal(0.0, 5.0, size=(2, k)).astype(np.float32))
    assert F.softmax_vjp(s, s).shape == (2, k)


def test_probability_check_accepts_float64_probabilities_cast_to_float32(rng):
    s = F.softmax(rng.normal(size=(8, 300))).astype(np.float32)
    assert F.softmax_jacobian(s).shape == (8, 300, 300)


def test_probability_check_accepts_exact_zeros_and_ones():
    s = np.array([[1.0, 0.0, 0.0], [0.0, 0.5, 0.5]])
    np.testing.assert_array_equal(F.softmax_jacobian(s)[0], np.zeros((3, 3)))


def test_logsumexp_keepdims_accepts_numpy_bools():
    z = np.zeros((2, 3))
    assert F.logsumexp(z, keepdims=np.bool_(True)).shape == (2, 1)
    assert F.logsumexp(z, keepdims=False).shape == (2,)
