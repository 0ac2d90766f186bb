"""Headless tests for notebook 05's figures in backprop_lib.plots.

Each figure must carry a title, axis labels and a legend where it has several series, must
draw the data it is given, and must reject input it cannot draw.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from backprop_lib import functional as F  # noqa: E402
from backprop_lib import plots  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _block_diagonal(J):
    n, k, _ = J.shape
    big = np.zeros((n * k, n * k))
    for m in range(n):
        big[m * k:(m + 1) * k, m * k:(m + 1) * k] = J[m]
    return big


def _loglog_slope(line):
    x, y = line.get_xdata(), line.get_ydata()
    return np.polyfit(np.log(x), np.log(y), 1)[0]


def _sweep(sizes, seconds, n_bytes):
    return {"size": np.asarray(sizes), "seconds": np.asarray(seconds, dtype=float),
            "bytes": np.asarray(n_bytes, dtype=float)}


def _fake_sweeps():
    K = np.array([16, 64, 256, 1024])
    K_long = np.array([16, 64, 256, 1024, 4096, 16384])
    sweep_K = {"Jacobian route": _sweep(K, 1e-9 * K**2.1, 8.0 * K**2),
               "VJP route": _sweep(K_long, 1e-8 * K_long, 24.0 * K_long),
               "fused (S - Y)/N": _sweep(K_long, 3e-9 * K_long, 16.0 * K_long)}
    N = np.array([16, 64, 256])
    sweep_N = {name: _sweep(N, 1e-7 * N * (i + 1), 8.0 * N) for i, name in enumerate(sweep_K)}
    return sweep_K, sweep_N


# ---------------------------------------------------------------------------
# plot_block_jacobian
# ---------------------------------------------------------------------------


def test_block_jacobian_image_is_the_matrix_with_zero_blocks_marked():
    S = F.softmax(np.random.default_rng(0).normal(size=(3, 4)))
    big = _block_diagonal(F.softmax_jacobian(S))
    fig = plots.plot_block_jacobian(big, 3, 4)
    ax = fig.axes[0]
    np.testing.assert_array_equal(ax.images[0].get_array(), big)
    assert "(12, 12)" in ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    zeros = [t for t in ax.texts if t.get_text() == "0"]
    assert len(zeros) == 3 * 2                           # N * (N - 1) off-diagonal blocks
    assert len(ax.lines) == 2 * (3 - 1)                  # block boundaries, both directions
    vmin, vmax = ax.images[0].get_clim()
    assert vmin == -vmax == -np.abs(big).max()           # colour scale centred on 0


def test_block_jacobian_with_one_example_has_no_boundaries():
    J = F.softmax_jacobian(F.softmax(np.array([[1.0, 0.0, -1.0]])))
    fig = plots.plot_block_jacobian(J[0], 1, 3, title="one block")
    assert fig.axes[0].get_title() == "one block"
    assert not fig.axes[0].lines and not fig.axes[0].texts


@pytest.mark.parametrize("big, N, K", [(np.zeros((6, 6)), 2, 2), (np.zeros((6, 4)), 2, 3),
                                       (np.zeros((6, 6)), 0, 3), (np.zeros((6, 6)), 2.0, 3)])
def test_block_jacobian_rejects_inconsistent_sizes(big, N, K):
    with pytest.raises(ValueError):
        plots.plot_block_jacobian(big, N, K)


# ---------------------------------------------------------------------------
# plot_cost_scaling
# ---------------------------------------------------------------------------


def test_cost_scaling_draws_three_log_log_panels_with_reference_slopes():
    sweep_K, sweep_N = _fake_sweeps()
    fig = plots.plot_cost_scaling(sweep_K, sweep_N, n_fixed=8, k_fixed=32)
    time_ax, memory_ax, n_ax = fig.axes
    for ax in fig.axes:
        assert ax.get_xscale() == ax.get_yscale() == "log"
        assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
        assert ax.get_legend() is not None
    assert "N = 8" in time_ax.get_title() and "K = 32" in n_ax.get_title()
    for ax in (time_ax, memory_ax):
        references = {line.get_label(): line for line in ax.lines if "reference" in
                      line.get_label()}
        assert set(references) == {"reference ∝ K²", "reference ∝ K"}
        assert _loglog_slope(references["reference ∝ K²"]) == pytest.approx(2.0)
        assert _loglog_slope(references["reference ∝ K"]) == pytest.approx(1.0)
    n_refs = [line for line in n_ax.lines if "reference" in line.get_label()]
    assert len(n_refs) == 1 and _loglog_slope(n_refs[0]) == pytest.approx(1.0)


def test_cost_scaling_plots_the_measured_values_and_memory_in_mib():
    sweep_K, _ = _fake_sweeps()
    fig = plots.plot_cost_scaling(sweep_K)
    assert len(fig.axes) == 2
    time_ax, memory_ax = fig.axes
    data = {line.get_label(): line for line in time_ax.lines}
    np.testing.assert_allclose(data["VJP route"].get_ydata(), sweep_K["VJP route"]["seconds"])
    memory = {line.get_label(): line for line in memory_ax.lines}
    np.testing.assert_allclose(memory["Jacobian route"].get_ydata(),
                               sweep_K["Jacobian route"]["bytes"] / 2**20)


def test_cost_scaling_reference_lines_stay_below_their_anchor_points():
    sweep_K, _ = _fake_sweeps()
    fig = plots.plot_cost_scaling(sweep_K, references={2: "Jacobian route", 1: "VJP route"})
    lines = {line.get_label(): line for line in fig.axes[0].lines}
    jacobian = lines["Jacobian route"].get_ydata()
    reference = lines["reference ∝ K²"].get_ydata()
    assert np.all(reference[-4:] < jacobian[-4:])
    assert np.all(reference[-4:] > 0.1 * jacobian[-4:])


@pytest.mark.parametrize("broken", ["negative", "empty", "short", "anchor"])
def test_cost_scaling_rejects_bad_input(broken):
    sweep_K, _ = _fake_sweeps()
    kwargs = {}
    if broken == "negative":
        sweep_K["VJP route"]["seconds"][0] = -1.0
    elif broken == "empty":
        sweep_K = {}
    elif broken == "short":
        sweep_K["VJP route"] = _sweep([16], [1e-6], [100])
    else:
        kwargs["references"] = {2: "no such route"}
    with pytest.raises(ValueError):
        plots.plot_cost_scaling(sweep_K, **kwargs)


# ---------------------------------------------------------------------------
# plot_gradient_size_vs_batch and plot_jacobian_memory
# ---------------------------------------------------------------------------


def test_gradient_size_plot_has_both_reductions_and_a_slope_one_reference():
    N = np.array([8, 32, 128])
    fig = plots.plot_gradient_size_vs_batch(N, {"mean": [1.0, 0.7, 0.6], "sum": N * 0.6})
    ax = fig.axes[0]
    labels = [line.get_label() for line in ax.lines]
    assert labels[:2] == ["mean", "sum"] and ax.get_legend() is not None
    reference = next(line for line in ax.lines if "reference" in line.get_label())
    assert _loglog_slope(reference) == pytest.approx(1.0)
    assert ax.get_xscale() == ax.get_yscale() == "log"


def test_gradient_size_plot_rejects_mismatched_lengths():
    with pytest.raises(ValueError):
        plots.plot_gradient_size_vs_batch([8, 32], {"mean": [1.0, 2.0, 3.0]})


def test_jacobian_memory_bars_are_k_squared_and_k_times_the_itemsize():
    sizes = {"digits": 10, "a vocabulary": 50_000}
    fig = plots.plot_jacobian_memory(sizes, itemsize=4, budgets={"16 GiB": 16 * 2**30})
    ax = fig.axes[0]
    widths = sorted(p.get_width() for p in ax.patches)
    assert widths == sorted([10 * 4, 50_000 * 4, 10**2 * 4, 50_000**2 * 4])
    texts = [t.get_text() for t in ax.texts]
    assert "9.31 GiB" in texts and "400 B" in texts and "195 KiB" in texts
    assert ax.get_xscale() == "log" and ax.get_title() and ax.get_xlabel()
    budget = [line for line in ax.lines if "16 GiB" in line.get_label()]
    assert len(budget) == 1 and budget[0].get_xdata()[0] == 16 * 2**30


def test_jacobian_memory_in_float64_doubles_the_bars():
    fig32 = plots.plot_jacobian_memory({"K": 1000}, itemsize=4)
    fig64 = plots.plot_jacobian_memory({"K": 1000}, itemsize=8)
    w32 = sorted(p.get_width() for p in fig32.axes[0].patches)
    w64 = sorted(p.get_width() for p in fig64.axes[0].patches)
    np.testing.assert_allclose(w64, 2 * np.array(w32))


@pytest.mark.parametrize("sizes, itemsize", [({}, 4), ({"bad": 0}, 4), ({"K": 10}, 0),
                                             ({"K": 10}, 2.5)])
def test_jacobian_memory_rejects_bad_input(sizes, itemsize):
    with pytest.raises(ValueError):
        plots.plot_jacobian_memory(sizes, itemsize=itemsize)
