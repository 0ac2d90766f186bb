"""Tests for the notebook 03-04 figures (plots.py) and the Jacobian explorer (widgets.py)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from backprop_lib import functional as F  # noqa: E402
from backprop_lib import plots as P  # noqa: E402
from backprop_lib import widgets as W  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _labelled(ax):
    return ax.get_title() and ax.get_xlabel() and ax.get_ylabel()


def test_jacobian_heatmap_shows_the_matrix():
    s = F.softmax(np.array([2.0, 1.0, 0.1]))
    J = F.softmax_jacobian(s)
    fig = P.plot_jacobian_heatmap(J)
    ax = fig.axes[0]
    assert _labelled(ax)
    np.testing.assert_allclose(ax.images[0].get_array(), J)
    assert len(ax.texts) == 9  # one annotation per entry
    lo, hi = ax.images[0].get_clim()
    assert lo == -hi  # centred on 0


def test_jacobian_heatmap_into_given_axes_and_validation():
    fig, ax = plt.subplots()
    assert P.plot_jacobian_heatmap(np.eye(12) * 0.1, ax=ax, title="t") is fig
    assert ax.get_title() == "t" and len(ax.texts) == 0  # no annotations for K > 8
    with pytest.raises(ValueError):
        P.plot_jacobian_heatmap(np.zeros((2, 3)))


def test_jacobian_eigenvalues_plot(rng):
    probs = [F.softmax(rng.normal(size=k)) for k in (3, 5)]
    fig = P.plot_jacobian_eigenvalues(probs)
    ax = fig.axes[0]
    assert _labelled(ax)
    points = np.concatenate([c.get_offsets() for c in ax.collections if len(c.get_offsets())])
    assert points.shape == (8, 2)
    assert np.sum(np.abs(points[:, 1]) < 1e-12) == 2  # one zero eigenvalue per vector
    assert (points[:, 1] > -1e-12).all()
    with pytest.raises(ValueError):
        P.plot_jacobian_eigenvalues([])


def test_gradient_comparison():
    fig = P.plot_gradient_comparison({"a": [1.0, -2.0], "b": [0.5, 0.5], "c": [0, 1]})
    ax = fig.axes[0]
    assert _labelled(ax)
    assert len(ax.patches) == 6
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b", "c"]
    with pytest.raises(ValueError):
        P.plot_gradient_comparison({"a": [1.0, 2.0], "b": [1.0]})
    with pytest.raises(ValueError):
        P.plot_gradient_comparison({})


def test_chain_rule_diagram():
    fig = P.chain_rule_diagram()
    ax = fig.axes[0]
    assert ax.get_title()
    text = " ".join(t.get_text() for t in ax.texts)
    assert "(K,)" in text and "(1, K) @ (K, K)" in text


def test_new_names_exported():
    for name in ("plot_jacobian_heatmap", "plot_jacobian_eigenvalues",
                 "plot_gradient_comparison", "chain_rule_diagram"):
        assert name in P.__all__
    assert "jacobian_explorer" in W.__all__ and "JacobianExplorer" in W.__all__


def test_jacobian_explorer_follows_sliders():
    ex = W.jacobian_explorer(K=4)
    assert len(ex.logit_sliders) == 4
    first_png = ex.image.value
    assert first_png[:4] == b"\x89PNG"
    ex.logit_sliders[0].value = 5.0
    ex.logit_sliders[3].value = -3.0
    s = F.softmax(ex.logits)
    np.testing.assert_allclose(ex.heatmap.get_array(), F.softmax_jacobian(s), atol=1e-15)
    np.testing.assert_allclose([b.get_height() for b in ex.bars], s)
    assert ex.image.value != first_png
    assert "row sums" in ex.readout.value and "eigenvalues" in ex.readout.value
    ax_j = ex.ax_j
    assert _labelled(ax_j) and _labelled(ex.ax_s)


def test_jacobian_explorer_displays_without_frontend():
    ex = W.jacobian_explorer(K=3, logits=[0.0, 0.0, 0.0])
    bundle = ex._repr_mimebundle_()
    assert "image/png" in bundle and "text/plain" in bundle
    np.testing.assert_allclose(ex.jacobian, np.eye(3) / 3 - 1 / 9)


@pytest.mark.parametrize("bad", [dict(K=1), dict(K=7), dict(K=3, logits=[1.0, 2.0])])
def test_jacobian_explorer_validation(bad):
    with pytest.raises(ValueError):
        W.jacobian_explorer(**bad)
