"""Headless tests for the figures of notebook 09 (backprop_lib.plots, capstone section)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from backprop_lib import plots  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_midnetwork_diagram_shows_shapes_and_the_vjp():
    fig = plots.midnetwork_softmax_diagram()
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert "not -y/s" in ax.get_title()
    assert "(N, T)" in texts and "(N, D)" in texts and "()" in texts
    assert any("langle g, a" in t for t in texts)


def test_smoothed_targets_are_the_convention_of_the_brief():
    fig = plots.plot_smoothed_targets(10, 3, 0.1)
    ax = fig.axes[0]
    one_hot, smoothed = (np.array([bar.get_height() for bar in container])
                         for container in ax.containers)
    assert np.allclose(one_hot, np.eye(10)[3])
    assert np.allclose(smoothed, 0.9 * np.eye(10)[3] + 0.01) and np.isclose(smoothed.sum(), 1.0)
    assert ax.get_xlabel() and ax.get_ylabel() and "K = 10" in ax.get_title()
    assert len(ax.get_legend().get_texts()) == 2


@pytest.mark.parametrize("k, label, smoothing", [(1, 0, 0.1), (10, 10, 0.1), (10, 3, 1.0),
                                                 (10, 3, -0.1), (2.5, 0, 0.1)])
def test_smoothed_targets_reject_bad_arguments(k, label, smoothing):
    with pytest.raises(ValueError):
        plots.plot_smoothed_targets(k, label, smoothing)


def test_gradcheck_errors_mark_failures_red_on_a_log_axis():
    errors = {"layers[0] Dense: x": 1e-10, "layers[0] Dense: W": 0.0, "bad": 0.3,
              "nan": float("nan")}
    fig = plots.plot_gradcheck_errors(errors, tol=1e-6)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_xlabel() and ax.get_title()
    colours = [bar.get_facecolor()[:3] for bar in ax.patches]
    red = matplotlib.colors.to_rgb("#d62728")
    assert [np.allclose(c, red) for c in colours] == [False, False, True, True]
    assert [t.get_text() for t in ax.get_yticklabels()] == list(errors)


@pytest.mark.parametrize("errors, tol", [({}, 1e-6), ({"x": 1e-9}, 0.0),
                                         ({"x": 1e-9}, float("nan"))])
def test_gradcheck_errors_reject_bad_arguments(errors, tol):
    with pytest.raises(ValueError):
        plots.plot_gradcheck_errors(errors, tol)
