"""Headless tests for backprop_lib.plots and backprop_lib.widgets.

Figures must carry titles and axis labels; explorers must build without a
widget frontend and must update the plotted data when a slider moves.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from backprop_lib import plots, widgets  # noqa: E402
from backprop_lib.functional import log_softmax, softmax  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _titles(fig):
    return [ax.get_title() for ax in fig.axes]


# ---------------------------------------------------------------------------
# plots: notebook 00 and 01
# ---------------------------------------------------------------------------


def test_pipeline_diagram_has_title_and_shapes():
    fig = plots.pipeline_diagram()
    assert "softmax classifier" in _titles(fig)[0]
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "(N, D)" in texts and "(N, K)" in texts and "()" in texts


def test_shape_diagram_default_title_is_the_shape_equation():
    fig = plots.shape_diagram([("A", ("N", "D")), ("W", ("D", "H"))], ("Z", ("N", "H")))
    assert _titles(fig) == ["(N, D) @ (D, H)  ->  (N, H)"]
    texts = [t.get_text() for t in fig.axes[0].texts]
    for needed in ("A", "W", "Z", "=", "@", "(N, H)"):
        assert needed in texts


def test_shape_diagram_same_dimension_same_colour():
    fig = plots.shape_diagram([("A", ("N", "D")), ("W", ("D", "H"))], ("Z", ("N", "H")))
    colours = {}
    for t in fig.axes[0].texts:
        if t.get_text() in ("N", "D", "H"):
            colours.setdefault(t.get_text(), set()).add(t.get_color())
    assert all(len(c) == 1 for c in colours.values())
    assert len({next(iter(c)) for c in colours.values()}) == 3


def test_shape_diagram_mixed_ops_vectors_ints_and_3d():
    fig = plots.shape_diagram(
        [("A", (5, 3)), ("W", (3, 2)), ("b", (2,))], ("Z", (5, 2)), ops=["@", "+"]
    )
    assert _titles(fig) == ["(5, 3) @ (3, 2) + (2,)  ->  (5, 2)"]
    fig = plots.shape_diagram([("J", ("N", "K", "K")), ("g", ("N", "K"))], ops="*", title="t")
    assert _titles(fig) == ["t"]


def test_shape_diagram_rejects_bad_input():
    with pytest.raises(ValueError):
        plots.shape_diagram([])
    with pytest.raises(ValueError):
        plots.shape_diagram([("A", (1, 2)), ("B", (2, 3))], ops=["@", "+"])
    with pytest.raises(ValueError):
        plots.shape_diagram([("A", (1, 2, 3, 4))])


def test_shape_diagram_draws_into_given_axes():
    fig, ax = plt.subplots()
    out = plots.shape_diagram([("a", ("N",)), ("c", ("N", 1))], ("a - c", ("N", "N")),
                              ops="-", ax=ax)
    assert out is fig
    assert ax.get_title() == "(N,) - (N, 1)  ->  (N, N)"


# ---------------------------------------------------------------------------
# plots: notebook 02
# ---------------------------------------------------------------------------


def test_plot_softmax_bars_heights_are_the_probabilities():
    z = np.array([2.0, 1.0, 0.1])
    fig = plots.plot_softmax_bars(z, temperature=2.0)
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches]
    np.testing.assert_allclose(heights, softmax(z / 2.0))
    assert ax.get_xlabel() and ax.get_ylabel() and "T = 2" in ax.get_title()


def test_plot_temperatures_two_labelled_panels():
    z = np.array([2.0, 1.0, 0.1, -1.0])
    fig = plots.plot_temperatures(z, temperatures=(0.5, 1.0, 3.0))
    assert len(fig.axes) == 2
    for ax in fig.axes:
        assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
        assert ax.get_legend() is not None
    # first panel: 3 temperatures x 4 classes bars
    assert len(fig.axes[0].patches) == 12
    # second panel: one curve per class (+ the uniform line)
    assert len(fig.axes[1].get_lines()) == 5
    with pytest.raises(ValueError):
        plots.plot_temperatures(z, temperatures=(0.0, 1.0))


def test_plot_log_softmax_stability_naive_curve_breaks_stable_does_not():
    fig = plots.plot_log_softmax_stability(max_gap=1000.0)
    ax = fig.axes[0]
    stable, naive = ax.get_lines()[:2]
    assert np.isfinite(stable.get_ydata()).all()
    assert not np.isfinite(naive.get_ydata()).all()
    gaps = stable.get_xdata()
    np.testing.assert_allclose(stable.get_ydata(),
                               log_softmax(np.stack([0 * gaps, -gaps], -1))[:, 1])
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()


# ---------------------------------------------------------------------------
# widgets: notebook 02
# ---------------------------------------------------------------------------


def test_softmax_explorer_builds_headless_and_shows_softmax():
    e = widgets.softmax_explorer(K=4)
    np.testing.assert_allclose(e.bar_heights(), softmax(e.logits))
    assert e.image.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert e.ax.get_xlabel() and e.ax.get_ylabel() and e.ax.get_title()
    assert len(e.logit_sliders) == 4


def test_softmax_explorer_slider_change_updates_plot():
    e = widgets.softmax_explorer(K=3, logits=[0.0, 0.0, 0.0])
    np.testing.assert_allclose(e.bar_heights(), [1 / 3] * 3)
    before = e.image.value
    e.logit_sliders[2].value = 3.0
    expected = softmax(np.array([0.0, 0.0, 3.0]))
    np.testing.assert_allclose(e.bar_heights(), expected)
    assert e.image.value != before
    assert "sum(s) = 1.000000" in e.readout.value


def test_softmax_explorer_temperature_and_shift():
    e = widgets.softmax_explorer(K=3, logits=[1.0, 0.0, -1.0])
    p1 = e.bar_heights()
    e.shift_slider.value = 5.0  # shift invariance: nothing changes
    np.testing.assert_allclose(e.bar_heights(), p1)
    e.temperature_slider.value = 10.0  # hotter: flatter
    assert e.bar_heights().max() < p1.max()
    np.testing.assert_allclose(e.bar_heights(), softmax(np.array([1.0, 0.0, -1.0]) / 10.0))
    assert "T = 10.00" in e.ax.get_title()


def test_softmax_explorer_display_bundle_has_widget_and_static_png():
    e = widgets.softmax_explorer(K=2)
    bundle = e._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert isinstance(bundle["image/png"], str) and bundle["image/png"].startswith("iVBOR")
    assert "explorer" in bundle["text/plain"]


def test_softmax_explorer_rejects_bad_arguments():
    with pytest.raises(ValueError):
        widgets.softmax_explorer(K=0)
    with pytest.raises(ValueError):
        widgets.softmax_explorer(K=3, logits=[1.0, 2.0])
    with pytest.raises(ValueError):
        widgets.temperature_slider(low=0.0)


def test_plot_softmax_vs_sigmoid_curves_coincide():
    fig = plots.plot_softmax_vs_sigmoid(max_diff=6.0)
    ax = fig.axes[0]
    soft, sig = ax.get_lines()[:2]
    np.testing.assert_allclose(soft.get_ydata(), sig.get_ydata(), atol=1e-12)
    assert soft.get_xdata()[0] == -6.0
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
