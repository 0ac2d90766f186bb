"""Notebook 06's library pieces: ``symbolic.last_layer_gradient`` and its three figures
(``plots.plot_outer_product``, ``plot_sum_of_outer_products``, ``plot_step_size_tradeoff``)."""

import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import sympy as sp  # noqa: E402

from backprop_lib import functional as F  # noqa: E402
from backprop_lib import plots, symbolic  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def layer():
    start = time.perf_counter()
    derivation = symbolic.last_layer_gradient(K=3, D=2)
    return derivation, time.perf_counter() - start


# ---------------------------------------------------------------------------
# symbolic.last_layer_gradient
# ---------------------------------------------------------------------------


def test_derivation_is_fast_and_shaped_like_the_column_convention(layer):
    d, seconds = layer
    assert seconds < 5
    assert d["a"].shape == (2, 1) and d["W"].shape == (3, 2) and d["b"].shape == (3, 1)
    assert d["z"].shape == d["s"].shape == d["g"].shape == d["dz"].shape == (3, 1)
    assert d["J"].shape == (3, 3) and d["dz_dW"].shape == (3, 3, 2)
    assert d["dW"].shape == d["dW_outer"].shape == d["double_sum"].shape == (3, 2)
    assert d["db"].shape == (3, 1) and d["da"].shape == (2, 1)


@pytest.mark.parametrize("name", ["dz_dW_minus_delta", "double_sum_minus_outer",
                                  "dW_minus_outer", "db_minus_dz", "da_minus_WT_dz"])
def test_both_routes_agree(layer, name):
    d, _ = layer
    assert all(entry == 0 for entry in sp.flatten(d[name].tolist())), d[name]


def test_direct_route_is_in_s_and_g_and_each_weight_sees_its_own_input(layer):
    d, _ = layer
    allowed = set(d["s"]) | set(d["a"])
    for i in range(3):
        for j in range(2):
            entry = d["dW"][i, j]
            assert entry != 0
            assert not entry.has(sp.exp) and not entry.has(sp.Subs)
            assert entry.free_symbols <= allowed | {d["a"][j]}
            assert entry.has(d["a"][j]) and not entry.has(d["a"][1 - j])
            assert sp.expand(entry.subs(d["a"][j], 0)) == 0      # dW_ij is proportional to a_j


def test_direct_route_matches_numbers_for_cross_entropy(layer):
    """Put numbers in: for C = -log s_c the result must be (s - y) a^T from NumPy."""
    d, _ = layer
    rng = np.random.default_rng(0)
    a, W, b, c = rng.normal(size=2), rng.normal(size=(3, 2)), rng.normal(size=3), 2
    s = F.softmax(W @ a + b)
    y = np.eye(3)[c]
    numbers = {**dict(zip(d["a"], a, strict=True)), **dict(zip(d["s"], s, strict=True))}
    ce = {d["g"][k]: -y[k] / d["s"][k] for k in range(3)}
    got = np.array(d["dW"].xreplace(ce).subs(numbers).evalf(), dtype=float)
    np.testing.assert_allclose(got, np.outer(s - y, a), rtol=1e-12, atol=1e-14)
    weights = dict(zip(d["W"], W.ravel(), strict=True))       # both row-major
    da = np.array(d["da"].xreplace(ce).subs({**numbers, **weights}).evalf(), dtype=float)[:, 0]
    np.testing.assert_allclose(da, W.T @ (s - y), rtol=1e-12, atol=1e-14)


def test_other_sizes_and_validation():
    d = symbolic.last_layer_gradient(K=2, D=1)
    assert d["dW"].shape == (2, 1) and d["dW_minus_outer"] == sp.zeros(2, 1)
    d = symbolic.last_layer_gradient(K=4, D=3)
    assert d["dW_minus_outer"] == sp.zeros(4, 3)
    for bad in [dict(K=1), dict(K=2.5), dict(D=0), dict(D=True), dict(D="2")]:
        with pytest.raises(ValueError):
            symbolic.last_layer_gradient(**bad)
    assert "last_layer_gradient" in symbolic.__all__


# ---------------------------------------------------------------------------
# plots
# ---------------------------------------------------------------------------


def test_outer_product_draws_the_column_the_row_and_their_product():
    dz, a = np.array([0.5, -1.0, 0.25]), np.array([2.0, -1.0])
    fig = plots.plot_outer_product(dz, a)
    images = [ax.images[0].get_array() for ax in fig.axes if ax.images]
    assert len(images) == 3
    row, column, matrix = images
    np.testing.assert_allclose(row, a[None, :])
    np.testing.assert_allclose(column, dz[:, None])
    np.testing.assert_allclose(matrix, np.outer(dz, a))
    assert "(3, 2)" in fig.axes[2].get_xlabel() and fig._suptitle.get_text()
    assert len({ax.images[0].get_clim() for ax in fig.axes if ax.images}) == 1   # one scale
    for bad in [(np.ones((2, 2)), a), (dz, np.array([]))]:
        with pytest.raises(ValueError):
            plots.plot_outer_product(*bad)


def test_sum_of_outer_products_ends_with_A_transpose_dZ():
    rng = np.random.default_rng(1)
    A, dZ = rng.normal(size=(3, 4)), rng.normal(size=(3, 2))
    fig = plots.plot_sum_of_outer_products(A, dZ)
    assert len(fig.axes) == 4
    for n in range(3):
        np.testing.assert_allclose(fig.axes[n].images[0].get_array(), np.outer(A[n], dZ[n]))
        assert f"example {n}" in fig.axes[n].get_title()
    np.testing.assert_allclose(fig.axes[-1].images[0].get_array(), A.T @ dZ)
    assert "(4, 2)" in fig.axes[-1].get_title() and fig.axes[0].get_ylabel()
    signs = [t.get_text() for ax in fig.axes[:-1] for t in ax.texts if t.get_text() in "+="]
    assert signs == ["+", "+", "="]
    with pytest.raises(ValueError):
        plots.plot_sum_of_outer_products(A, dZ[:2])
    with pytest.raises(ValueError):
        plots.plot_sum_of_outer_products(np.ones((7, 2)), np.ones((7, 2)))


def test_step_size_tradeoff_is_log_log_with_stars_guides_and_thresholds():
    h = np.logspace(-12, -1, 12)
    errors = {"central": 1e-3 * h**2 + 1e-16 / h, "forward": 1e-2 * h + 1e-16 / h,
              "exact at one step": np.where(h == h[5], 0.0, 1e-9)}
    fig = plots.plot_step_size_tradeoff(h, errors, thresholds=(1e-7, 1e-2))
    ax = fig.axes[0]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(errors)
    stars = [line for line in ax.lines if line.get_marker() == "*"]
    assert len(stars) == 3
    best = h[np.argmin(errors["central"])]
    assert any(np.isclose(line.get_xdata()[0], best) for line in stars)
    assert ax.get_ylim()[0] > 0                                # a zero error stays plottable
    levels = {line.get_ydata()[0] for line in ax.lines if line.get_linestyle() == ":"}
    assert levels == {1e-7, 1e-2}
    with pytest.raises(ValueError):
        plots.plot_step_size_tradeoff(h, {"short": np.ones(3)})
    with pytest.raises(ValueError):
        plots.plot_step_size_tradeoff(-h, errors)
    fig2, ax2 = plt.subplots()
    assert plots.plot_step_size_tradeoff(h, errors, ax=ax2, title="t") is fig2
    assert ax2.get_title() == "t"


def test_new_figures_are_exported():
    for name in ("plot_outer_product", "plot_sum_of_outer_products", "plot_step_size_tradeoff"):
        assert name in plots.__all__
