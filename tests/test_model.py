"""Tests for backprop_lib.model: Sequential/MLP passes, gradients, fit and accuracy."""

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

from backprop_lib.data import load_digits, make_spiral, train_test_split
from backprop_lib.gradcheck import check_model_gradients
from backprop_lib.layers import Dense, ReLU, SoftmaxCrossEntropy, Tanh
from backprop_lib.model import MLP, History, Sequential, accuracy
from backprop_lib.optim import SGD, Adam

matplotlib.use("Agg")


@pytest.fixture
def batch(rng):
    X = rng.standard_normal((8, 6))
    y = np.arange(8) % 3
    return X, y


# -- gradients ------------------------------------------------------------------


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
def test_mlp_gradients_match_central_differences(rng, batch, activation):
    X, y = batch
    model = MLP([6, 5, 4, 3], activation=activation, seed=2)
    for layer in model.layers[::2]:
        # Non-zero biases: an all-zero hidden row would put the next layer's
        # pre-activations exactly on ReLU's kink, where no derivative exists.
        layer.params["b"][:] = 0.5 * rng.standard_normal(layer.b.shape)
    report = check_model_gradients(model, X, y)
    assert len(report.errors) == 6  # W and b of three Dense layers
    assert report.max_error < 1e-7, str(report)


def test_backward_returns_input_gradient_and_fills_every_layer(batch):
    X, y = batch
    model = MLP([6, 5, 3], seed=0)
    model.loss(X, y)
    dX = model.backward()
    assert dX.shape == X.shape
    for layer in model.layers:
        assert set(layer.grads) == set(layer.params)
        for key, grad in layer.grads.items():
            assert grad.shape == layer.params[key].shape


def test_backward_before_loss_raises():
    with pytest.raises(RuntimeError, match="before"):
        MLP([4, 3], seed=0).backward()


# -- structure and predictions --------------------------------------------------


def test_mlp_layout_and_parameter_names():
    model = MLP([64, 32, 16, 10], activation="tanh", seed=0)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Dense", "Tanh", "Dense", "Tanh", "Dense"]
    assert [p.name for p in model.parameters()] == ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert model.num_parameters() == 64 * 32 + 32 + 32 * 16 + 16 + 16 * 10 + 10
    assert model.layers[0].init == "xavier" and MLP([2, 2]).layers[0].init == "he"


def test_parameters_are_live_views_with_latest_gradients(batch):
    X, y = batch
    model = MLP([6, 4, 3], seed=0)
    assert all(p.grad is None for p in model.parameters())
    model.loss(X, y)
    model.backward()
    for p, (layer, key) in zip(
        model.parameters(),
        [(model.layers[0], "W"), (model.layers[0], "b"), (model.layers[2], "W"),
         (model.layers[2], "b")],
        strict=True,
    ):
        assert p.value is layer.params[key] and p.grad is layer.grads[key]


def test_forward_predict_and_predict_proba_agree(batch):
    X, _ = batch
    model = MLP([6, 5, 3], seed=1)
    logits = model.forward(X)
    proba = model.predict_proba(X)
    assert logits.shape == proba.shape == (8, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(model.predict(X), np.argmax(logits, axis=1))
    np.testing.assert_array_equal(model(X), logits)


def test_sequential_accepts_custom_layers_and_loss(batch):
    X, y = batch
    model = Sequential([Dense(6, 4, seed=0), Tanh(), Dense(4, 3, seed=1)],
                       loss_layer=SoftmaxCrossEntropy(label_smoothing=0.2))
    assert model.loss(X, y) > 0
    assert check_model_gradients(model, X, y).max_error < 1e-7


def test_sequential_repr_lists_layers_and_parameter_count():
    text = repr(MLP([64, 64, 10], seed=0))
    assert "Dense(64 -> 64" in text and "ReLU()" in text and "4,810 parameters" in text


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: Sequential([]), ValueError),
        (lambda: Sequential([ReLU(), "not a layer"]), TypeError),
        (lambda: MLP([64]), ValueError),
        (lambda: MLP([64, 0, 10]), ValueError),
        (lambda: MLP([64, 10], activation="softplus"), ValueError),
    ],
)
def test_bad_model_arguments_raise(make, error):
    with pytest.raises(error):
        make()


# -- training -------------------------------------------------------------------


def test_fit_records_history_and_learns_spirals():
    X, y = make_spiral(n_per_class=60, n_classes=3, noise=0.1, seed=0)
    model = MLP([2, 32, 3], seed=0)
    initial_loss, _ = model.evaluate(X, y)
    history = model.fit(X, y, optimizer=Adam(lr=0.02), epochs=60, batch_size=32, seed=0,
                        X_val=X, y_val=y, progress=False)
    assert isinstance(history, History)
    assert history.epoch == list(range(1, 61))
    for series in (history.train_loss, history.train_acc, history.val_loss, history.val_acc):
        assert len(series) == 60 and np.all(np.isfinite(series))
    assert history.train_loss[-1] < 0.5 * initial_loss
    assert history.val_acc[-1] > 0.9
    assert history.val_loss[-1] == pytest.approx(model.evaluate(X, y)[0])


def test_fit_without_validation_leaves_val_series_empty(batch):
    X, y = batch
    history = MLP([6, 3], seed=0).fit(X, y, optimizer=SGD(lr=0.1), epochs=2, progress=False)
    assert history.val_loss == [] and history.val_acc == []
    assert set(history.as_dict()) == {"epoch", "train_loss", "train_acc", "val_loss", "val_acc"}


def test_fit_is_reproducible_with_a_seed(batch):
    X, y = batch
    runs = [
        MLP([6, 4, 3], seed=0).fit(X, y, optimizer=Adam(lr=0.01), epochs=3, batch_size=3,
                                   seed=5, progress=False).train_loss
        for _ in range(2)
    ]
    assert runs[0] == runs[1]


def test_fit_trains_digits_to_high_test_accuracy():
    # A small, quick version of benchmarks/digits.py (which reaches >= 97%).
    X, y = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, seed=0)
    model = MLP([64, 32, 10], seed=0)
    model.fit(X_train, y_train, optimizer=Adam(lr=1e-2), epochs=8, batch_size=64, seed=0,
              progress=False)
    assert accuracy(y_test, model.predict(X_test)) > 0.93


def test_fit_in_float32():
    X, y = make_spiral(n_per_class=50, noise=0.1, seed=1)
    model = MLP([2, 32, 3], seed=0, dtype=np.float32)
    history = model.fit(X.astype(np.float32), y, optimizer=Adam(lr=0.02), epochs=40,
                        batch_size=32, seed=0, progress=False)
    assert all(p.value.dtype == np.float32 for p in model.parameters())
    assert model.forward(X).dtype == np.float32
    assert history.train_loss[-1] < history.train_loss[0]
    assert history.train_acc[-1] > 0.8


def test_fit_progress_bar_reports_to_stderr(batch, capsys):
    X, y = batch
    MLP([6, 3], seed=0).fit(X, y, optimizer=SGD(lr=0.1), epochs=2, progress=True)
    assert "2/2" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"epochs": 0}, ValueError),
        ({"batch_size": 1.5}, TypeError),
        ({"X_val": np.zeros((2, 6))}, ValueError),
    ],
)
def test_fit_rejects_bad_arguments(batch, kwargs, error):
    X, y = batch
    with pytest.raises(error):
        MLP([6, 3]).fit(X, y, optimizer=SGD(), progress=False, **kwargs)


@pytest.mark.parametrize(
    ("data", "optimizer", "error", "pattern"),
    [
        ("ok", None, TypeError, r"fit needs an optimizer, e.g. .*Adam\(lr=1e-2\)"),
        ("ok", Adam, TypeError, r"not the class Adam itself: add the parentheses"),
        ("ok", SGD, TypeError, r"SGD\(lr=...\), not the class SGD"),
        ("ok", "adam", TypeError, "optimizer must have a step"),
        ("no X", SGD(), ValueError, "X is None: fit needs training data"),
        ("no y", SGD(), ValueError, "y is None: fit needs training data"),
        ("empty", SGD(), ValueError, "X has no rows"),
        ("float labels", SGD(), TypeError, r"y must hold integer class labels, got dtype float64"),
        ("text X", SGD(), TypeError, "X must be a numeric array"),
        ("bad val", SGD(), TypeError, "y_val must hold integer class labels"),
    ],
)
def test_fit_explains_missing_data_and_optimizer_mistakes(batch, data, optimizer, error,
                                                         pattern):
    X, y = batch
    kwargs = {}
    if data == "no X":
        X = None
    elif data == "no y":
        y = None
    elif data == "empty":
        X, y = X[:0], y[:0]
    elif data == "float labels":
        y = y.astype(float)
    elif data == "text X":
        X = X.astype(str)
    elif data == "bad val":
        kwargs = {"X_val": X, "y_val": y.astype(float)}
    with pytest.raises(error, match=pattern):
        MLP([6, 3]).fit(X, y, optimizer=optimizer, progress=False, **kwargs)


def test_history_plot_draws_train_and_validation_curves():
    history = History(epoch=[1, 2], train_loss=[1.0, 0.5], train_acc=[0.5, 0.8],
                      val_loss=[1.1, 0.7], val_acc=[0.4, 0.7])
    axes = history.plot()
    assert [len(ax.lines) for ax in axes] == [2, 2]
    plt.close(axes[0].figure)


# -- accuracy -------------------------------------------------------------------


def test_accuracy_counts_matches_and_accepts_scores():
    assert accuracy([0, 1, 2, 2], [0, 1, 1, 2]) == 0.75
    scores = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    assert accuracy([0, 1, 1], scores) == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    ("y_true", "y_pred", "pattern"),
    [
        ([0.0, 1.0, 2.0], [0, 1, 2], r"y_true must hold integer class labels, got dtype float64"),
        ([0, 1, 2], [0.0, 1.0, 1.0], r"y_pred must hold integer class labels.*\(N, K\)"),
        ([True, False], [1, 0], "y_true must hold integer class labels, got dtype bool"),
        ([0, 1], [["a", "b"], ["c", "d"]], r"y_pred scores of shape \(N, K\) must be numbers"),
    ],
)
def test_accuracy_rejects_labels_that_are_not_integers(y_true, y_pred, pattern):
    with pytest.raises(TypeError, match=pattern):
        accuracy(y_true, y_pred)


def test_accuracy_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="y_pred"):
        accuracy([0, 1, 2], [0, 1])
    with pytest.raises(ValueError, match="empty"):
        accuracy([], [])
