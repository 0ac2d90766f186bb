"""Headless tests of notebook 07's figures (backprop_lib.plots) and its training explorer
(backprop_lib.widgets.TrainingExplorer): labelled figures that show the right numbers, and an
explorer that builds without a widget frontend, retrains when a control moves, and carries a
still image for viewers without widgets."""

import base64

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from backprop_lib import plots, widgets  # noqa: E402
from backprop_lib.data import make_spiral  # noqa: E402
from backprop_lib.functional import softmax  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# ---------------------------------------------------------------------------
# plots
# ---------------------------------------------------------------------------


def test_decision_grid_covers_the_data_with_a_margin():
    X = np.array([[0.0, -1.0], [2.0, 3.0]])
    points, extent = plots.decision_grid(X, resolution=5, margin=0.1)
    assert points.shape == (25, 2)
    assert extent == pytest.approx((-0.2, 2.2, -1.4, 3.4))
    grid = points.reshape(5, 5, 2)
    assert np.all(np.diff(grid[0, :, 0]) > 0) and np.all(np.diff(grid[:, 0, 1]) > 0)
    with pytest.raises(ValueError, match="shape"):
        plots.decision_grid(np.zeros((3, 3)))


def test_probability_image_shows_confident_classes_in_their_colour():
    proba = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [0, 0, 1.0]])
    image = plots.probability_image(proba, (2, 2))
    assert image.shape == (2, 2, 3) and image.min() >= 0 and image.max() <= 1
    blue, red = image[0, 0], image[0, 1]
    assert blue[2] > blue[0] and red[0] > red[2]   # class 0 is blue, class 1 red
    # The unsure pixel is paler (closer to white) than no pixel, but differs from the others.
    assert not np.allclose(image[1, 0], image[0, 0])


def test_plot_decision_boundary_is_labelled_and_uses_the_model():
    X, y = make_spiral(20, 3, seed=0)
    calls = []

    def proba(points):
        calls.append(points.shape)
        return softmax(points @ np.array([[1.0, -1.0, 0.0], [0.0, 1.0, -1.0]]))

    fig = plots.plot_decision_boundary(proba, X, y, title="regions", resolution=40)
    ax = fig.axes[0]
    assert calls == [(1600, 2)]
    assert ax.get_title() == "regions" and ax.get_xlabel() and ax.get_ylabel()
    assert ax.images[0].get_array().shape == (40, 40, 3)
    assert len(ax.collections) >= 3            # boundary lines and one scatter per class
    with pytest.raises(ValueError, match="predict_proba"):
        plots.plot_decision_boundary(lambda p: p[:, :1].ravel(), X, y)


def test_confusion_matrix_counts_pairs():
    y_true = np.array([0, 0, 1, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 2, 0, 2])
    counts = plots.confusion_matrix(y_true, y_pred)
    assert counts.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert plots.confusion_matrix(y_true, y_pred, num_classes=4).shape == (4, 4)
    with pytest.raises(ValueError):
        plots.confusion_matrix(y_true, y_pred[:-1])
    with pytest.raises(ValueError):
        plots.confusion_matrix(y_true, y_pred, num_classes=2)


def test_plot_confusion_matrix_titles_the_accuracy():
    y_true = np.array([0, 1, 1, 2])
    y_pred = np.array([0, 1, 2, 2])
    fig = plots.plot_confusion_matrix(y_true, y_pred)
    ax = fig.axes[0]
    assert ax.get_title() == "confusion matrix: 3 of 4 correct"
    assert ax.get_xlabel() == "predicted class" and ax.get_ylabel() == "true class"
    assert np.array_equal(ax.images[0].get_array(), [[1, 0, 0], [0, 1, 1], [0, 0, 1]])


def test_plot_misclassified_shows_the_most_confident_mistakes_first():
    images = np.arange(4 * 64, dtype=float).reshape(4, 64)
    y_true = np.array([0, 1, 2, 3])
    proba = np.full((4, 10), 0.01)
    proba[0, 0] = 0.91                 # right
    proba[1, 5], proba[2, 7], proba[3, 3] = 0.6, 0.9, 0.91    # wrong, wrong, right
    fig = plots.plot_misclassified(images, y_true, proba)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["true 2, said 7", "true 1, said 5"]
    assert fig._suptitle.get_text() == "2 of 4 images misclassified"


def test_plot_misclassified_without_mistakes():
    proba = np.eye(10)[:3]
    fig = plots.plot_misclassified(np.zeros((3, 64)), np.arange(3), proba)
    assert fig._suptitle.get_text() == "0 of 3 images misclassified"


# ---------------------------------------------------------------------------
# The training explorer
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def explorer():
    return widgets.training_explorer(hidden=20, lr=1.0, epochs=60)


def test_explorer_builds_headless_and_has_trained(explorer):
    assert explorer.image.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(explorer.losses) == 60
    assert explorer.losses[-1] < explorer.losses[0]
    assert explorer.loss_line.get_ydata().tolist() == explorer.losses
    assert 0.0 <= explorer.train_accuracy <= 1.0
    assert "training accuracy" in explorer.readout.value


def test_moving_a_slider_retrains_and_redraws(explorer):
    before_png = explorer.image.value
    before_regions = np.array(explorer.regions.get_array())
    explorer.hidden_slider.value = 80
    assert explorer.settings["hidden"] == 80
    assert explorer.image.value != before_png
    assert not np.allclose(explorer.regions.get_array(), before_regions)
    assert "H = 80" in explorer.ax_r.get_title()

    explorer.epochs_slider.value = 120
    assert len(explorer.losses) == 120 and explorer.ax_l.get_xlim()[1] == 120


def test_more_hidden_units_and_epochs_fit_the_spirals_better(explorer):
    explorer.hidden_slider.value = 2
    explorer.epochs_slider.value = 100
    small = explorer.losses[-1]
    explorer.hidden_slider.value = 100
    explorer.epochs_slider.value = 400
    assert explorer.losses[-1] < 0.5 * small
    assert explorer.train_accuracy > 0.9


def test_the_button_trains_again_from_a_new_start(explorer):
    seed, losses = explorer.seed, list(explorer.losses)
    explorer.train_button.click()
    assert explorer.seed == seed + 1
    assert len(explorer.losses) == len(losses) and explorer.losses != losses


def test_a_diverging_run_is_reported_not_raised():
    explorer = widgets.TrainingExplorer(hidden=10, epochs=20)
    explorer.X = explorer.X * 1e300                 # the logits overflow at once
    explorer.lr_slider.value = 5.0
    assert "Diverged" in explorer.readout.value
    assert "diverged" in explorer.ax_l.get_title()
    explorer.X = explorer.X / 1e300                 # and a sane run afterwards recovers
    explorer.lr_slider.value = 1.0
    assert "Diverged" not in explorer.readout.value
    assert explorer.ax_l.title.get_color() == "black"


def test_explorer_display_bundle_has_a_still_image(explorer):
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    png = base64.b64decode(bundle["image/png"])
    assert png == explorer.image.value
    assert "interactive explorer" in bundle["text/plain"]


def test_explorer_leaves_the_blas_setting_alone():
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas_threads():
        return [i["num_threads"] for i in threadpoolctl.threadpool_info()
                if i["user_api"] == "blas"]

    before = blas_threads()
    widgets.TrainingExplorer(hidden=5, epochs=10)
    assert blas_threads() == before
