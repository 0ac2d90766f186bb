"""Notebook 08's additions to backprop_lib.symbolic and backprop_lib.plots.

Every derivation is checked twice: the symbolic identity it claims is zero, and its raw
(exponential-form) result against finite differences of the library's NumPy functions.
Figures must be labelled and must show the data they were given.
"""

import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import sympy as sp  # noqa: E402

from backprop_lib import functional as F  # noqa: E402
from backprop_lib import plots as P  # noqa: E402
from backprop_lib import symbolic as S  # noqa: E402
from backprop_lib.gradcheck import numerical_gradient  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _is_zero(M):
    return all(sp.expand(e) == 0 for e in (M if isinstance(M, sp.MatrixBase) else [M]))


# ---------------------------------------------------------------------------
# symbolic
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("fn, args", [(S.saturation_gradients, ()),
                                      (S.distillation_gradient, (3,)),
                                      (S.distillation_gradient, (4,)),
                                      (S.cross_entropy_hessian, (3,)),
                                      (S.cross_entropy_hessian, (4,)),
                                      (S.log_softmax_jacobian_symbolic, (3,)),
                                      (S.log_softmax_jacobian_symbolic, (5,))])
def test_derivations_are_fast(fn, args):
    t0 = time.perf_counter()
    fn(*args)
    assert time.perf_counter() - t0 < 5.0


@pytest.mark.parametrize("fn", [S.distillation_gradient, S.cross_entropy_hessian,
                                S.log_softmax_jacobian_symbolic])
def test_bad_K_is_refused(fn):
    with pytest.raises(ValueError, match="K must be an integer"):
        fn(1)


def test_saturation_gradients_and_their_limits():
    sat = S.saturation_gradients()
    p = sat["p"]
    assert _is_zero(sat["mse_grad"] + p * (1 - p) ** 2)
    assert _is_zero(sat["ce_grad"] - (p - 1))
    assert sat["mse_limit"] == 0 and sat["ce_limit"] == -1
    mse = sp.lambdify(sat["z"], sat["mse_grad_raw"])
    ce = sp.lambdify(sat["z"], sat["ce_grad_raw"])
    for z0 in (-6.0, 0.3, 2.0):
        x = np.array([z0])
        assert np.isclose(mse(z0), numerical_gradient(
            lambda z_: 0.5 * (F.sigmoid(z_[0]) - 1) ** 2, x.copy())[0], atol=1e-8)
        assert np.isclose(ce(z0), numerical_gradient(
            lambda z_: -np.log(F.sigmoid(z_[0])), x.copy())[0], atol=1e-8)


@pytest.mark.parametrize("K", [3, 4])
def test_distillation_gradient_identities(K):
    d = S.distillation_gradient(K)
    assert _is_zero(d["grad_minus_formula"])
    assert _is_zero(d["leading_minus_formula"])
    assert _is_zero(d["at_t0"])
    assert d["grad"].shape == (K, 1) and d["leading"].shape == (K, 1)


def test_distillation_loss_has_gradient_t_times_q_minus_p_numerically():
    d = S.distillation_gradient(3)
    loss = sp.lambdify([list(d["z"]), list(d["v"]), d["t"]], d["loss"])
    rng = np.random.default_rng(0)
    z, v, t = rng.normal(size=3), rng.normal(size=3), 0.25
    num = numerical_gradient(lambda z_: loss(list(z_), list(v), t), z.copy())
    np.testing.assert_allclose(num, t * (F.softmax(t * z) - F.softmax(t * v)), atol=1e-9)


def test_distillation_leading_term_matches_large_temperatures():
    rng = np.random.default_rng(1)
    z, v = rng.normal(size=5), rng.normal(size=5)
    lead = ((z - z.mean()) - (v - v.mean())) / 5
    for T in (50.0, 500.0):
        grad = (F.softmax(z / T) - F.softmax(v / T)) / T
        np.testing.assert_allclose(grad * T**2, lead, rtol=0, atol=5 / T)


@pytest.mark.parametrize("K", [3, 4])
def test_cross_entropy_hessian_is_the_softmax_jacobian(K):
    h = S.cross_entropy_hessian(K)
    assert _is_zero(h["minus_J"]) and _is_zero(h["in_s_minus_sum_y_J"])
    assert h["hessian"].shape == (K, K)


def test_cross_entropy_hessian_raw_matches_finite_differences():
    h = S.cross_entropy_hessian(3)
    z_sym, y_sym = S.logit_symbols(3), h["y"]
    raw = sp.lambdify([list(z_sym), list(y_sym)], h["hessian_raw"])
    z = np.array([0.5, -1.0, 2.0])
    y = np.array([0.2, 0.5, 0.3])
    H_fd = S.numerical_jacobian(lambda z_: F.softmax(z_) - y, z)
    np.testing.assert_allclose(np.array(raw(list(z), list(y)), dtype=float), H_fd, atol=1e-8)


@pytest.mark.parametrize("K", [3, 5])
def test_log_softmax_jacobian_and_vjp(K):
    ls = S.log_softmax_jacobian_symbolic(K)
    assert _is_zero(ls["J_minus_formula"]) and _is_zero(ls["vjp_minus_formula"])
    assert not _is_zero(ls["Jg"] - ls["vjp"])  # not symmetric: J g differs from g^T J


def test_log_softmax_jacobian_raw_matches_finite_differences():
    ls = S.log_softmax_jacobian_symbolic(3)
    raw = sp.lambdify([list(S.logit_symbols(3))], ls["J_raw"])
    z = np.array([1.0, -0.5, 0.25])
    np.testing.assert_allclose(np.array(raw(list(z)), dtype=float),
                               S.numerical_jacobian(F.log_softmax, z), atol=1e-8)


# ---------------------------------------------------------------------------
# plots
# ---------------------------------------------------------------------------


def _labelled(ax):
    return bool(ax.get_title() and ax.get_xlabel() and ax.get_ylabel())


def test_plot_curves_draws_curves_references_and_marks():
    x = np.linspace(0, 1, 11)
    fig = P.plot_curves(x, {"a": x, "b": 1 - x}, xlabel="x", ylabel="y", title="t",
                        references={"floor": 0.2}, marks={"here": 0.5})
    ax = fig.axes[0]
    assert _labelled(ax) and len(ax.lines) == 4
    np.testing.assert_allclose(ax.lines[1].get_ydata(), 1 - x)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b", "floor", "here"]


def test_plot_curves_log_axes_hide_non_positive_values():
    x = np.array([1.0, 2.0, 3.0])
    fig = P.plot_curves(x, {"a": [1.0, 0.0, -1.0]}, xlabel="x", ylabel="y", title="t",
                        logx=True, logy=True)
    ax = fig.axes[0]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert np.isnan(ax.lines[0].get_ydata()[1:]).all()


def test_plot_curves_validates_its_input():
    with pytest.raises(ValueError, match="shape"):
        P.plot_curves([1, 2, 3], {"a": [1, 2]}, xlabel="x", ylabel="y", title="t")
    with pytest.raises(ValueError, match="at least one"):
        P.plot_curves([1, 2, 3], {}, xlabel="x", ylabel="y", title="t")


def test_plot_saturation_two_panels_with_matching_colours():
    p = np.geomspace(1e-3, 0.99, 20)
    steps = np.arange(1, 6)
    fig = P.plot_saturation(p, {"sigmoid + squared error": p * (1 - p) ** 2,
                                "softmax + cross-entropy": 1 - p},
                            steps, {"sigmoid + squared error": np.linspace(0, 1, 5),
                                    "sigmoid + cross-entropy (K = 2)": np.linspace(0, 1, 5)})
    left, right = fig.axes
    assert _labelled(left) and _labelled(right) and left.get_xscale() == "log"
    assert right.lines[0].get_color() == left.lines[0].get_color()
    assert right.lines[1].get_color() == left.lines[1].get_color()  # both cross-entropy
    np.testing.assert_allclose(left.lines[1].get_ydata(), 1 - p)


def test_plot_saturation_one_panel():
    p = np.linspace(0.1, 0.9, 5)
    fig = P.plot_saturation(p, {"a + b": p})
    assert len(fig.axes) == 1 and _labelled(fig.axes[0])


def test_plot_gradient_check_vs_step_marks_the_best_step():
    h = np.geomspace(1e-8, 1e-1, 8)
    err = np.array([1e-2, 1e-4, 1e-6, 1e-9, 1e-7, 1e-5, 1e-3, 1e-2])
    fig = P.plot_gradient_check_vs_step(h, {"float64": err}, threshold=1e-7)
    ax = fig.axes[0]
    assert _labelled(ax) and ax.get_xscale() == ax.get_yscale() == "log"
    star = ax.lines[1]
    assert star.get_xdata()[0] == h[3] and star.get_ydata()[0] == err[3]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "best h = 1e-05" in legend[0] and "pass threshold" in legend[1]


def test_plot_matrices_shares_a_centred_colour_scale():
    A, B = np.eye(3) * 0.5, -np.ones((3, 3)) * 0.1
    fig = P.plot_matrices({"A": A, "B": B}, title="two")
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 2 and [ax.get_title() for ax in panels] == ["A", "B"]
    for ax, M in zip(panels, (A, B), strict=True):
        np.testing.assert_allclose(ax.images[0].get_array(), M)
        assert ax.images[0].get_clim() == (-0.5, 0.5)
        assert _labelled(ax)
    with pytest.raises(ValueError, match="square"):
        P.plot_matrices({"bad": np.ones((2, 3))})


def test_plot_example_weights_bars_and_ignored_labels():
    fig = P.plot_example_weights({"a": [0.5, 0.0, 0.5], "b": [1 / 3] * 3},
                                 ignored=[False, True, False])
    ax = fig.axes[0]
    assert _labelled(ax) and len(ax.patches) == 6
    assert "(ignored)" in ax.get_xticklabels()[1].get_text()
    with pytest.raises(ValueError, match="same shape"):
        P.plot_example_weights({"a": [1, 2], "b": [1, 2, 3]})
