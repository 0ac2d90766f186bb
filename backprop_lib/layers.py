"""Layers with a ``forward`` and a ``backward`` pass, each caching what backward needs.

Every layer follows one small contract, the same one the gradient checker in
:mod:`backprop_lib.gradcheck` relies on:

- ``forward(x)`` computes the output and remembers ("caches") whatever the
  backward pass will need.
- ``backward(dout)`` takes ``dL/d(output)``, fills ``self.grads`` (one entry per
  entry of ``self.params``, same shapes) and returns ``dL/d(input)``.
- ``params`` maps a name to the layer's trainable array (``{"W": ..., "b": ...}``
  for :class:`Dense`, empty for activations); optimisers update these arrays
  in place. ``grads`` maps the same names to the latest gradients; each
  ``backward`` call replaces them, so there is nothing to zero between steps.

The loss layer :class:`SoftmaxCrossEntropy` is the end of the chain: its
``forward(logits, y)`` returns the scalar loss and its ``backward()`` needs no
argument, because ``dL/dL = 1``.

Conventions: batches are rows, so the input of a layer has shape ``(N, D)``,
and a dense layer computes ``Z = A @ W + b`` with ``W`` of shape
``(D_in, D_out)`` and ``b`` of shape ``(D_out,)``.
"""

from __future__ import annotations

import numpy as np

from backprop_lib import functional as F

from ._validation import positive_int as _positive_int

__all__ = ["Layer", "Dense", "ReLU", "Sigmoid", "Tanh", "SoftmaxCrossEntropy"]

INITS = ("he", "xavier")


def _as_float_input(x, name, dtype=None):
    """Return `x` as a floating ndarray (in `dtype` if given), rejecting non-numbers.

    Integers become float64 when no `dtype` is given. (Checks ``dtype.kind``
    rather than ``np.issubdtype``: this runs on every forward and backward call.)
    """
    arr = np.asarray(x)
    kind = arr.dtype.kind
    if kind not in "fiu":
        raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    if dtype is not None:
        return arr.astype(dtype, copy=False)
    if kind != "f":
        return arr.astype(np.float64)
    return arr


class Layer:
    """Base class: empty ``params``/``grads`` and the cache bookkeeping.

    Subclasses implement :meth:`forward` and :meth:`backward`. Calling a layer
    like a function, ``layer(x)``, is the same as ``layer.forward(x)``.
    """

    def __init__(self):
        self.params = {}
        self.grads = {}
        self._cache = None

    def __call__(self, *args):
        return self.forward(*args)

    def forward(self, x):  # pragma: no cover - documented interface
        raise NotImplementedError

    def backward(self, dout):  # pragma: no cover - documented interface
        raise NotImplementedError

    @property
    def name(self):
        """The class name, used in error messages and shape traces."""
        return type(self).__name__

    def _cached(self):
        """Return the forward cache, or explain that forward has to run first."""
        if self._cache is None:
            raise RuntimeError(
                f"{self.name}.backward was called before {self.name}.forward; "
                "run a forward pass first so the layer can cache its inputs"
            )
        return self._cache

    def _check_dout(self, dout, expected_shape, dtype, name="dout"):
        """Return `dout` as an array of `dtype`, checking it has the output's shape.

        `name` is the argument's name in the calling ``backward`` (``dZ``, ``dA``), so
        the message talks about what the learner passed.
        """
        dout = _as_float_input(dout, name, dtype)
        if dout.shape != expected_shape:
            raise ValueError(
                f"{self.name}.backward: {name} must have the shape of the forward "
                f"output {expected_shape}, got {dout.shape}"
            )
        return dout


class Dense(Layer):
    """Fully connected layer ``Z = A @ W + b``.

    Parameters
    ----------
    in_features : int
        ``D_in``, the number of input features (columns of ``A``).
    out_features : int
        ``D_out``, the number of outputs (columns of ``Z``).
    init : {"he", "xavier"}, default "he"
        Weight initialisation: normal with variance ``2 / D_in`` ("he", suited
        to ReLU) or ``2 / (D_in + D_out)`` ("xavier", suited to sigmoid/tanh).
        The bias starts at zero.
    seed : int, optional
        Seed for the weights; ignored if `rng` is given.
    rng : numpy.random.Generator, optional
        Random generator for the weights (lets several layers share one stream).
    dtype : data-type, default float64
        Floating dtype of ``W``, ``b`` and everything the layer computes.
        Inputs of another dtype are cast to it.

    Attributes
    ----------
    params : dict
        ``{"W": ndarray, shape (D_in, D_out), "b": ndarray, shape (D_out,)}``.
    grads : dict
        ``{"W": dW, "b": db}`` with the same shapes, filled by :meth:`backward`.
    """

    def __init__(self, in_features, out_features, *, init="he", seed=None, rng=None,
                 dtype=np.float64):
        super().__init__()
        self.in_features = _positive_int(in_features, "in_features")
        self.out_features = _positive_int(out_features, "out_features")
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        self.dtype = np.dtype(dtype)
        if not np.issubdtype(self.dtype, np.floating):
            raise TypeError(f"dtype must be a floating type, got {self.dtype}")
        if rng is None:
            rng = np.random.default_rng(seed)
        elif not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        fan = in_features if init == "he" else in_features + out_features
        std = np.sqrt(2.0 / fan)
        W = rng.normal(0.0, std, size=(in_features, out_features))
        self.params = {
            "W": W.astype(self.dtype),
            "b": np.zeros(out_features, dtype=self.dtype),
        }
        self.init = init

    @property
    def W(self):
        """ndarray, shape (D_in, D_out): the weights (same array as ``params["W"]``)."""
        return self.params["W"]

    @property
    def b(self):
        """ndarray, shape (D_out,): the bias (same array as ``params["b"]``)."""
        return self.params["b"]

    def forward(self, A):
        """Compute ``Z = A @ W + b`` and cache ``A``.

        Parameters
        ----------
        A : array_like, shape (N, D_in)
            A batch of inputs, one row per example.

        Returns
        -------
        Z : ndarray, shape (N, D_out)
        """
        A = _as_float_input(A, "A", self.dtype)
        if A.ndim != 2 or A.shape[1] != self.in_features:
            raise ValueError(
                f"{self!r}.forward: expected input A of shape (N, {self.in_features}), "
                f"got {A.shape}"
            )
        self._cache = A
        return A @ self.W + self.b

    def backward(self, dZ):
        """Backpropagate ``dZ = dL/dZ``; store ``dW``, ``db``; return ``dA``.

        Parameters
        ----------
        dZ : array_like, shape (N, D_out)
            Gradient of the loss with respect to this layer's output.

        Returns
        -------
        dA : ndarray, shape (N, D_in)
            ``dZ @ W.T``, the gradient with respect to the input.

        Notes
        -----
        ``dW = A.T @ dZ`` (shape ``(D_in, D_out)``) sums the outer products of
        each example's input and output gradient; ``db = dZ.sum(axis=0)``
        (shape ``(D_out,)``) because ``b`` is broadcast to every row.
        """
        A = self._cached()
        dZ = self._check_dout(dZ, (A.shape[0], self.out_features), self.dtype, "dZ")
        self.grads = {"W": A.T @ dZ, "b": dZ.sum(axis=0)}
        return dZ @ self.W.T

    def __repr__(self):
        return (
            f"Dense({self.in_features} -> {self.out_features}, W{self.W.shape}, "
            f"b{self.b.shape}, {self.dtype.name})"
        )


class ReLU(Layer):
    """Rectified linear unit ``A = max(Z, 0)``, applied element-wise.

    Caches the boolean mask ``Z > 0``; the gradient passes where it is True
    and is zero elsewhere (the subgradient at exactly 0 is taken as 0).
    """

    def forward(self, Z):
        """Apply ReLU.

        Parameters
        ----------
        Z : array_like, shape (N, ...)

        Returns
        -------
        A : ndarray, same shape as `Z`
        """
        Z = _as_float_input(Z, "Z")
        self._cache = Z > 0
        return F.relu(Z)

    def backward(self, dA):
        """Return ``dZ = dA * (Z > 0)``.

        Parameters
        ----------
        dA : array_like, same shape as the forward input

        Returns
        -------
        dZ : ndarray, same shape as `dA`
        """
        mask = self._cached()
        dA = self._check_dout(dA, mask.shape, None, "dA")
        return dA * mask

    def __repr__(self):
        return "ReLU()"


class Sigmoid(Layer):
    """Logistic sigmoid ``A = 1 / (1 + exp(-Z))``, applied element-wise.

    Caches the output ``A``, because the derivative is ``A * (1 - A)``.
    """

    def forward(self, Z):
        """Apply the sigmoid.

        Parameters
        ----------
        Z : array_like, shape (N, ...)

        Returns
        -------
        A : ndarray, same shape as `Z`
        """
        A = F.sigmoid(_as_float_input(Z, "Z"))
        self._cache = A
        return A

    def backward(self, dA):
        """Return ``dZ = dA * A * (1 - A)``.

        Parameters
        ----------
        dA : array_like, same shape as the forward output

        Returns
        -------
        dZ : ndarray, same shape as `dA`
        """
        A = self._cached()
        dA = self._check_dout(dA, A.shape, A.dtype, "dA")
        return dA * A * (1 - A)

    def __repr__(self):
        return "Sigmoid()"


class Tanh(Layer):
    """Hyperbolic tangent ``A = tanh(Z)``, applied element-wise.

    Caches the output ``A``, because the derivative is ``1 - A**2``.
    """

    def forward(self, Z):
        """Apply tanh.

        Parameters
        ----------
        Z : array_like, shape (N, ...)

        Returns
        -------
        A : ndarray, same shape as `Z`
        """
        A = np.tanh(_as_float_input(Z, "Z"))
        self._cache = A
        return A

    def backward(self, dA):
        """Return ``dZ = dA * (1 - A**2)``.

        Parameters
        ----------
        dA : array_like, same shape as the forward output

        Returns
        -------
        dZ : ndarray, same shape as `dA`
        """
        A = self._cached()
        dA = self._check_dout(dA, A.shape, A.dtype, "dA")
        return dA * (1 - A * A)

    def __repr__(self):
        return "Tanh()"


class SoftmaxCrossEntropy(Layer):
    """Softmax followed by the mean cross-entropy, as one fused loss layer.

    Fusing the two is what makes the backward pass simple: the gradient with
    respect to the logits is ``(softmax(logits) - onehot(y)) / N``, so the
    softmax Jacobian never has to be formed.

    Parameters
    ----------
    label_smoothing : float in [0, 1), default 0.0
        Mix the one-hot targets with the uniform distribution:
        ``(1 - eps) * onehot + eps / K``.
    """

    def __init__(self, label_smoothing=0.0):
        super().__init__()
        self.label_smoothing = label_smoothing

    def forward(self, logits, y):
        """Return the mean cross-entropy of `logits` against labels `y`.

        Parameters
        ----------
        logits : array_like, shape (N, K)
            Unnormalised scores, one row per example.
        y : array_like of int, shape (N,), or float, shape (N, K)
            Class indices in ``[0, K)``, or probability targets.

        Returns
        -------
        loss : float
            The loss, averaged over the batch.
        """
        loss, dlogits = F.softmax_cross_entropy(
            logits, y, label_smoothing=self.label_smoothing
        )
        # The gradient comes almost for free with the loss, so cache it.
        self._cache = dlogits
        return float(loss)

    def backward(self):
        """Return ``dL/dlogits``.

        Returns
        -------
        dlogits : ndarray, shape (N, K)
            ``(softmax(logits) - targets) / N``. This is the array computed
            (fused with the loss) in :meth:`forward`, returned without a copy;
            treat it as read-only.
        """
        return self._cached()

    def __repr__(self):
        if self.label_smoothing:
            return f"SoftmaxCrossEntropy(label_smoothing={self.label_smoothing})"
        return "SoftmaxCrossEntropy()"

