"""Models built from layers, and the training loop.

:class:`Sequential` chains layers and ends in a loss layer; :class:`MLP` builds a
multi-layer perceptron from a list of sizes. One training step is::

    loss = model.loss(X_batch, y_batch)   # forward through every layer and the loss
    model.backward()                      # backward through them, filling grads
    optimizer.step(model.parameters())    # in-place update (see backprop_lib.optim)

and :meth:`Sequential.fit` repeats it over minibatches for a number of epochs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from backprop_lib import functional as F
from backprop_lib.data import minibatches
from backprop_lib.layers import Dense, ReLU, Sigmoid, SoftmaxCrossEntropy, Tanh
from backprop_lib.optim import Parameter

from ._validation import positive_int as _positive_int

__all__ = ["Sequential", "MLP", "History", "accuracy"]

ACTIVATIONS = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh}


class Sequential:
    """Layers applied one after another, followed by a loss layer.

    Parameters
    ----------
    layers : list of layers
        Each has ``forward(x)``, ``backward(dout)``, ``params`` and ``grads``
        (see :mod:`backprop_lib.layers`). The last one outputs the logits.
    loss_layer : layer, optional
        Turns logits and labels into a scalar loss: ``forward(logits, y)`` and
        ``backward()``. Default: a new :class:`SoftmaxCrossEntropy`.

    Attributes
    ----------
    layers : list
        The layers, in forward order.
    loss_layer : layer
        The loss layer.
    """

    def __init__(self, layers, loss_layer=None):
        layers = list(layers)
        if not layers:
            raise ValueError("layers must contain at least one layer")
        for i, layer in enumerate(layers):
            if not (hasattr(layer, "forward") and hasattr(layer, "backward")):
                raise TypeError(
                    f"layers[{i}] ({type(layer).__name__}) needs forward and backward methods"
                )
        self.layers = layers
        self.loss_layer = SoftmaxCrossEntropy() if loss_layer is None else loss_layer

    # -- forward and backward -------------------------------------------------

    def forward(self, X):
        """Run every layer on a batch and return the logits.

        Parameters
        ----------
        X : array_like, shape (N, D)

        Returns
        -------
        logits : ndarray, shape (N, K)
        """
        out = X
        for layer in self.layers:
            out = layer.forward(out)
        return out

    def __call__(self, X):
        """Same as :meth:`forward`."""
        return self.forward(X)

    def loss(self, X, y):
        """Forward pass including the loss; caches everything backward needs.

        Parameters
        ----------
        X : array_like, shape (N, D)
        y : array_like of int, shape (N,)
            Class labels in ``[0, K)``.

        Returns
        -------
        loss : float
            Mean loss over the batch.
        """
        return self.loss_layer.forward(self.forward(X), y)

    def backward(self):
        """Backpropagate from the loss of the last :meth:`loss` call.

        Fills ``grads`` of every layer (replacing the previous ones).

        Returns
        -------
        dX : ndarray, shape (N, D)
            Gradient of the loss with respect to the input batch.
        """
        grad = self.loss_layer.backward()
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
        return grad

    # -- predictions ----------------------------------------------------------

    def predict_proba(self, X):
        """Class probabilities ``softmax(logits)``.

        Parameters
        ----------
        X : array_like, shape (N, D)

        Returns
        -------
        proba : ndarray, shape (N, K)
            Rows are non-negative and sum to 1.
        """
        return F.softmax(self.forward(X))

    def predict(self, X):
        """Most likely class of each example.

        Parameters
        ----------
        X : array_like, shape (N, D)

        Returns
        -------
        y_pred : ndarray of int, shape (N,)
        """
        return np.argmax(self.forward(X), axis=-1)

    def evaluate(self, X, y):
        """Mean loss and accuracy on a data set (no parameters change).

        The loss is the model's own loss layer (so it includes any label
        smoothing), making it comparable with the training loss.

        Parameters
        ----------
        X : array_like, shape (N, D)
        y : array_like of int, shape (N,)

        Returns
        -------
        loss : float
        acc : float
            Fraction classified correctly, in ``[0, 1]``.
        """
        logits = self.forward(X)
        loss = self.loss_layer.forward(logits, y)
        return loss, accuracy(y, np.argmax(logits, axis=-1))

    # -- parameters -----------------------------------------------------------

    def parameters(self):
        """Every trainable array with its gradient, for an optimiser.

        Layers with parameters are numbered from 1 in forward order, so an
        MLP's parameters are named ``W1, b1, W2, b2, ...``.

        Returns
        -------
        params : list of backprop_lib.optim.Parameter
            ``(name, value, grad)`` triples; ``value`` is the layer's own
            array (updating it in place updates the layer) and ``grad`` is
            None until :meth:`backward` has run.
        """
        params = []
        for number, layer in _numbered_param_layers(self.layers):
            for key, value in layer.params.items():
                params.append(Parameter(f"{key}{number}", value, layer.grads.get(key)))
        return params

    def num_parameters(self):
        """int: total number of trainable scalars."""
        return sum(p.value.size for p in self.parameters())

    # -- training -------------------------------------------------------------

    def fit(self, X, y, *, optimizer, epochs=10, batch_size=32, X_val=None, y_val=None,
            seed=None, progress=True):
        """Train with minibatch gradient descent.

        Each epoch visits the training rows once in a fresh random order, in
        batches of `batch_size`, doing ``loss -> backward -> optimizer.step``
        on each batch.

        Parameters
        ----------
        X : array_like, shape (N, D)
            Training inputs.
        y : array_like of int, shape (N,)
            Training labels.
        optimizer : backprop_lib.optim.Optimizer
            E.g. ``Adam(lr=1e-2)``; its ``step(parameters)`` updates in place.
        epochs : int, default 10
            Passes over the training data.
        batch_size : int, default 32
            Rows per minibatch.
        X_val : array_like, shape (M, D), optional
        y_val : array_like of int, shape (M,), optional
            A held-out set, evaluated after every epoch.
        seed : int or numpy.random.Generator, optional
            Seed for the minibatch order.
        progress : bool, default True
            Show a progress bar (a widget in Jupyter, text elsewhere).

        Returns
        -------
        History
            Per-epoch training loss and accuracy (averaged over the epoch's
            minibatches, so measured while the weights were changing) and,
            if a validation set was given, validation loss and accuracy
            (measured at the end of the epoch).

        Raises
        ------
        TypeError
            If `optimizer` is missing, is a class instead of an instance
            (``Adam`` instead of ``Adam(lr=...)``) or has no ``step`` method;
            if `X` is not numeric or `y` does not hold integer labels.
        ValueError
            If there is no data (None or zero rows), or the shapes do not match.
        """
        epochs = _positive_int(epochs, "epochs")
        batch_size = _positive_int(batch_size, "batch_size")
        _check_optimizer(optimizer)
        if (X_val is None) != (y_val is None):
            raise ValueError("pass both X_val and y_val, or neither")
        X, y = _check_data(X, y, "X", "y")
        if X_val is not None:
            _check_data(X_val, y_val, "X_val", "y_val")
        rng = np.random.default_rng(seed)
        history = History()
        bar = _progress_bar(epochs, enabled=progress)
        try:
            for epoch in range(1, epochs + 1):
                train_loss, train_acc = self._train_epoch(X, y, optimizer, batch_size, rng)
                history.epoch.append(epoch)
                history.train_loss.append(train_loss)
                history.train_acc.append(train_acc)
                stats = {"loss": f"{train_loss:.4f}", "acc": f"{train_acc:.3f}"}
                if X_val is not None:
                    val_loss, val_acc = self.evaluate(X_val, y_val)
                    history.val_loss.append(val_loss)
                    history.val_acc.append(val_acc)
                    stats.update(val_loss=f"{val_loss:.4f}", val_acc=f"{val_acc:.3f}")
                bar.set_postfix(stats, refresh=False)
                bar.update(1)
        finally:
            bar.close()
        return history

    def _train_epoch(self, X, y, optimizer, batch_size, rng):
        """One pass over the data; return the epoch's mean loss and accuracy."""
        loss_sum = 0.0
        n_correct = 0
        for X_batch, y_batch in minibatches(X, y, batch_size, seed=rng):
            logits = self.forward(X_batch)
            loss = self.loss_layer.forward(logits, y_batch)
            self.backward()
            optimizer.step(self.parameters())
            loss_sum += loss * len(y_batch)
            n_correct += np.count_nonzero(np.argmax(logits, axis=-1) == y_batch)
        n = len(y)
        return loss_sum / n, n_correct / n

    def __repr__(self):
        lines = [f"{type(self).__name__}("]
        lines += [f"  ({i}) {layer!r}" for i, layer in enumerate(self.layers)]
        lines.append(f"  loss: {self.loss_layer!r}")
        lines.append(f")  # {self.num_parameters():,} parameters")
        return "\n".join(lines)


class MLP(Sequential):
    """Multi-layer perceptron: Dense layers with an activation between each pair.

    ``MLP([64, 64, 10])`` is ``Dense(64 -> 64), ReLU, Dense(64 -> 10)``, ending in
    logits (no activation after the last layer) and a softmax cross-entropy loss.

    Parameters
    ----------
    sizes : sequence of int
        ``[D_in, H_1, ..., H_L, K]``: input features, hidden widths, classes.
        At least two entries.
    activation : {"relu", "sigmoid", "tanh"}, default "relu"
        Hidden-layer activation.
    seed : int, optional
        Seed for the initial weights (all layers draw from one generator).
    init : {"he", "xavier"}, optional
        Weight initialisation; default "he" for ReLU, "xavier" otherwise.
    dtype : data-type, default float64
        Floating dtype of every parameter and activation.
    label_smoothing : float in [0, 1), default 0.0
        Passed to the :class:`SoftmaxCrossEntropy` loss.
    """

    def __init__(self, sizes, activation="relu", seed=None, *, init=None, dtype=np.float64,
                 label_smoothing=0.0):
        sizes = [_positive_int(s, "sizes[i]") for s in sizes]
        if len(sizes) < 2:
            raise ValueError(f"sizes needs at least [D_in, K], got {sizes}")
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}"
            )
        if init is None:
            init = "he" if activation == "relu" else "xavier"
        rng = np.random.default_rng(seed)
        layers = []
        for i, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            if i > 0:
                layers.append(ACTIVATIONS[activation]())
            layers.append(Dense(d_in, d_out, init=init, rng=rng, dtype=dtype))
        super().__init__(layers, SoftmaxCrossEntropy(label_smoothing=label_smoothing))
        self.sizes = sizes
        self.activation = activation


@dataclass
class History:
    """What :meth:`Sequential.fit` measured, one entry per epoch.

    Attributes
    ----------
    epoch : list of int
        1, 2, ..., epochs.
    train_loss, train_acc : list of float
        Mean training loss and accuracy over the epoch's minibatches.
    val_loss, val_acc : list of float
        Loss and accuracy on the validation set after each epoch (empty if
        none was given).
    """

    epoch: list = field(default_factory=list)
    train_loss: list = field(default_factory=list)
    train_acc: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_acc: list = field(default_factory=list)

    def as_dict(self):
        """dict of str to list: the recorded series, e.g. for ``pandas.DataFrame``."""
        return {
            "epoch": self.epoch,
            "train_loss": self.train_loss,
            "train_acc": self.train_acc,
            "val_loss": self.val_loss,
            "val_acc": self.val_acc,
        }

    def plot(self, axes=None):
        """Plot loss and accuracy against epoch, side by side.

        Parameters
        ----------
        axes : pair of matplotlib Axes, optional
            Where to draw; a new figure with two panels by default.

        Returns
        -------
        axes : pair of matplotlib Axes
        """
        if axes is None:
            import matplotlib.pyplot as plt

            _, axes = plt.subplots(1, 2, figsize=(9, 3.2), constrained_layout=True)
        for ax, metric, label in zip(axes, ("loss", "acc"), ("loss", "accuracy"), strict=True):
            ax.plot(self.epoch, getattr(self, f"train_{metric}"), label="train")
            if getattr(self, f"val_{metric}"):
                ax.plot(self.epoch, getattr(self, f"val_{metric}"), label="validation")
            ax.set_xlabel("epoch")
            ax.set_ylabel(label)
            ax.legend()
        return axes


def accuracy(y_true, y_pred):
    """Fraction of predictions equal to the true labels.

    Parameters
    ----------
    y_true : array_like of int, shape (N,)
    y_pred : array_like, shape (N,) of int labels, or shape (N, K) of scores
        Scores (logits or probabilities) are turned into labels by argmax.

    Returns
    -------
    acc : float
        In ``[0, 1]``.

    Raises
    ------
    TypeError
        If `y_true` (or 1-D `y_pred`) holds floats, booleans or other non-integers:
        labels are class indices.
    ValueError
        If the shapes do not match or there are no labels.
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    _check_integer_labels(y_true, "y_true")
    if y_pred.ndim == 2:
        if y_pred.dtype.kind not in "fiu":
            raise TypeError(f"y_pred scores of shape (N, K) must be numbers, got dtype "
                            f"{y_pred.dtype}")
        y_pred = np.argmax(y_pred, axis=-1)
    else:
        _check_integer_labels(y_pred, "y_pred", scores_allowed=True)
    if y_true.ndim != 1 or y_pred.shape != y_true.shape:
        raise ValueError(
            f"y_true must have shape (N,) and y_pred shape (N,) or (N, K); "
            f"got {y_true.shape} and {np.asarray(y_pred).shape}"
        )
    if y_true.size == 0:
        raise ValueError("accuracy of an empty set is undefined (y_true has no labels)")
    return float(np.mean(y_true == y_pred))


def _check_integer_labels(y, name, scores_allowed=False):
    """Raise TypeError unless `y` holds integer class labels (an empty `y` passes)."""
    if y.dtype.kind in "iu" or y.size == 0:
        return
    also = " (or pass scores of shape (N, K))" if scores_allowed else ""
    if y.dtype.kind == "f":
        raise TypeError(
            f"{name} must hold integer class labels, got dtype {y.dtype}; use "
            f"{name}.astype(int) if the values are whole numbers{also}"
        )
    raise TypeError(f"{name} must hold integer class labels, got dtype {y.dtype}{also}")


def _check_optimizer(optimizer):
    """Raise TypeError unless `optimizer` is an optimizer instance with a step method."""
    if optimizer is None:
        raise TypeError("fit needs an optimizer, e.g. fit(X, y, optimizer=Adam(lr=1e-2))")
    if isinstance(optimizer, type):
        name = optimizer.__name__
        raise TypeError(
            f"optimizer must be an optimizer instance such as {name}(lr=...), not the class "
            f"{name} itself: add the parentheses, optimizer={name}(...)"
        )
    if not callable(getattr(optimizer, "step", None)):
        raise TypeError(
            "optimizer must have a step(parameters) method, like backprop_lib.optim.SGD or "
            f"Adam; got {type(optimizer).__name__}"
        )


def _check_data(X, y, x_name, y_name):
    """Return `X`, `y` as arrays after checking they are a non-empty labelled data set."""
    if X is None or y is None:
        missing = x_name if X is None else y_name
        raise ValueError(f"{missing} is None: fit needs training data, fit({x_name}, "
                         f"{y_name}, optimizer=...)")
    X, y = np.asarray(X), np.asarray(y)
    if X.dtype.kind not in "fiu":
        raise TypeError(f"{x_name} must be a numeric array, got dtype {X.dtype}")
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ValueError(
            f"{x_name} must have shape (N, D) and {y_name} shape (N,), got {X.shape} and "
            f"{y.shape}"
        )
    if X.shape[0] == 0:
        raise ValueError(f"{x_name} has no rows: there must be at least one example")
    _check_integer_labels(y, y_name)
    return X, y


def _numbered_param_layers(layers):
    """Yield ``(number, layer)`` for layers that have parameters, numbered from 1."""
    number = 0
    for layer in layers:
        if getattr(layer, "params", None):
            number += 1
            yield number, layer


def _progress_bar(total, enabled):
    """A tqdm bar over epochs (notebook widget in Jupyter), or a silent stand-in."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="epochs", unit="epoch", disable=not enabled, leave=True)

