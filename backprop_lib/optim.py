"""Optimisers: plain/momentum SGD and Adam, updating parameters in place.

The API is one call per training step::

    loss = model.loss(X_batch, y_batch)   # forward pass, caches activations
    model.backward()                      # fills every layer's grads
    optimizer.step(model.parameters())    # updates every parameter in place

``model.parameters()`` returns a list of :class:`Parameter` triples
``(name, value, grad)``. ``step`` changes each ``value`` array in place, so the
layers see the new weights without being told. There is no ``zero_grad``:
every ``backward`` replaces the gradients instead of adding to them.

An optimiser keeps per-parameter state (velocities, moment estimates) under the
parameter's name, so use one optimiser per model.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

__all__ = ["Parameter", "Optimizer", "SGD", "Adam"]


class Parameter(NamedTuple):
    """A trainable array together with its latest gradient.

    Attributes
    ----------
    name : str
        Unique, stable name such as ``"W1"`` (keys the optimiser's state).
    value : ndarray
        The parameter itself; optimisers modify it in place.
    grad : ndarray or None
        ``dL/dvalue``, same shape as `value`; None before the first backward.
    """

    name: str
    value: np.ndarray
    grad: np.ndarray | None


class Optimizer:
    """Base class: validates the parameters and calls :meth:`_update` on each.

    Parameters
    ----------
    lr : float
        Learning rate (step size), positive.
    """

    def __init__(self, lr):
        self.lr = _check_real(lr, "lr", low=0.0, low_inclusive=False)
        self.state = {}

    def step(self, parameters):
        """Update every parameter in place, using its gradient.

        Parameters
        ----------
        parameters : iterable of Parameter
            ``(name, value, grad)`` triples, e.g. ``model.parameters()``.

        Raises
        ------
        TypeError
            If `parameters` is not an iterable of Parameter triples (a model passed
            instead of ``model.parameters()``, for example).
        RuntimeError
            If a parameter has no gradient yet.
        ValueError
            If a gradient's shape differs from its parameter's.
        """
        if hasattr(parameters, "parameters") and callable(parameters.parameters):
            raise TypeError(
                f"step expects the list model.parameters(), got the "
                f"{type(parameters).__name__} itself: call optimizer.step(model.parameters())"
            )
        try:
            parameters = list(parameters)
        except TypeError:
            raise TypeError(
                "parameters must be an iterable of Parameter (name, value, grad) triples, "
                f"such as model.parameters(); got {type(parameters).__name__}"
            ) from None
        for p in parameters:
            if not isinstance(p, Parameter) and not (
                    isinstance(p, tuple) and len(p) == 3 and isinstance(p[1], np.ndarray)):
                raise TypeError(
                    "parameters must hold Parameter (name, value, grad) triples, such as "
                    f"the items of model.parameters(); got an item of type {type(p).__name__}"
                )
            p = Parameter(*p)
            if p.grad is None:
                raise RuntimeError(
                    f"parameter {p.name!r} has no gradient; call model.backward() "
                    "before optimizer.step()"
                )
            if p.grad.shape != p.value.shape:
                raise ValueError(
                    f"gradient of {p.name!r} has shape {p.grad.shape} but the "
                    f"parameter has shape {p.value.shape}"
                )
            self._update(p.name, p.value, p.grad)

    def _state(self, name, value, *keys):
        """Zero-initialised state arrays for parameter `name`, one per key."""
        if name not in self.state:
            self.state[name] = {key: np.zeros_like(value) for key in keys}
        slots = self.state[name]
        if slots[keys[0]].shape != value.shape:
            raise ValueError(
                f"parameter {name!r} changed shape from {slots[keys[0]].shape} to "
                f"{value.shape}; create a new optimiser for a new model"
            )
        return [slots[key] for key in keys]

    def _update(self, name, value, grad):  # pragma: no cover - documented interface
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum and weight decay.

    With ``g = grad + weight_decay * w`` the update is ``v <- momentum * v + g``
    then ``w <- w - lr * v`` (with ``momentum=0`` this is ``w <- w - lr * g``).

    Parameters
    ----------
    lr : float, default 0.1
        Learning rate, positive.
    momentum : float in [0, 1), default 0.0
        How much of the previous step's velocity carries over.
    weight_decay : float, default 0.0
        L2 penalty coefficient, non-negative.
    """

    def __init__(self, lr=0.1, momentum=0.0, weight_decay=0.0):
        super().__init__(lr)
        self.momentum = _check_real(momentum, "momentum", low=0.0, high=1.0)
        self.weight_decay = _check_real(weight_decay, "weight_decay", low=0.0)

    def _update(self, name, value, grad):
        if self.weight_decay:
            grad = grad + self.weight_decay * value
        if self.momentum:
            (velocity,) = self._state(name, value, "velocity")
            velocity *= self.momentum
            velocity += grad
            grad = velocity
        value -= self.lr * grad

    def __repr__(self):
        return (
            f"SGD(lr={self.lr}, momentum={self.momentum}, weight_decay={self.weight_decay})"
        )


class Adam(Optimizer):
    """Adam: per-parameter steps scaled by running moment estimates of the gradient.

    With ``t`` counting steps, ``m <- b1 m + (1 - b1) g`` and
    ``v <- b2 v + (1 - b2) g**2``; the bias-corrected estimates
    ``m_hat = m / (1 - b1**t)`` and ``v_hat = v / (1 - b2**t)`` give the update
    ``w <- w - lr * m_hat / (sqrt(v_hat) + eps)``.

    Parameters
    ----------
    lr : float, default 1e-3
        Learning rate, positive.
    betas : tuple of two floats in [0, 1), default (0.9, 0.999)
        Decay rates ``(b1, b2)`` of the first and second moment estimates.
    eps : float, default 1e-8
        Added to the denominator to avoid division by zero, positive.
    """

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        super().__init__(lr)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        self.betas = (
            _check_real(betas[0], "betas[0]", low=0.0, high=1.0),
            _check_real(betas[1], "betas[1]", low=0.0, high=1.0),
        )
        self.eps = _check_real(eps, "eps", low=0.0, low_inclusive=False)
        self.t = 0

    def step(self, parameters):
        """Advance the step count, then update every parameter in place.

        Parameters
        ----------
        parameters : iterable of Parameter
            ``(name, value, grad)`` triples, e.g. ``model.parameters()``.
        """
        self.t += 1
        super().step(parameters)

    def _update(self, name, value, grad):
        b1, b2 = self.betas
        m, v = self._state(name, value, "m", "v")
        m += (1 - b1) * (grad - m)              # m <- b1 m + (1 - b1) g
        v += (1 - b2) * (grad * grad - v)       # v <- b2 v + (1 - b2) g^2
        m_hat = m / (1 - b1**self.t)
        v_hat = v / (1 - b2**self.t)
        value -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)

    def __repr__(self):
        return f"Adam(lr={self.lr}, betas={self.betas}, eps={self.eps})"


def _check_real(value, name, low=None, high=None, low_inclusive=True):
    """Return `value` as a float, checking its type and that it lies in [low, high)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    too_low = low is not None and (value < low if low_inclusive else value <= low)
    too_high = high is not None and value >= high
    if too_low or too_high or not np.isfinite(value):
        bracket = "[" if low_inclusive else "("
        upper = f"{high})" if high is not None else "inf)"
        raise ValueError(f"{name} must be in {bracket}{low}, {upper}, got {value}")
    return value
