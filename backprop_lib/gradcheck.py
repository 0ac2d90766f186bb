"""Numerical gradients and gradient checks for layers and models.

A gradient check compares an analytic gradient (from ``backward``) with a
numerical one from central differences,

    df/dx_i  ~=  (f(x + h e_i) - f(x - h e_i)) / (2 h),

whose error is O(h^2). With float64 and ``h = 1e-5`` a correct backward pass
typically agrees to a relative error of about 1e-9 or better, while a wrong
one is off by 1e-2 or more, so a tolerance of 1e-7 separates the two.
Run checks in float64: in float32 rounding noise swamps the O(h^2) term.

The layer and model checks only rely on duck typing:

- a layer has ``forward(x)``, ``backward(dout) -> dx``, and dicts ``params``
  (name -> ndarray) and ``grads`` (name -> ndarray, filled by ``backward``);
- a model has ``loss(X, y) -> float`` (runs the forward pass),
  ``backward()`` (fills every layer's ``grads``) and a list ``layers``.

The arrays in ``params`` must be the very arrays the layer computes with (not
copies): the checks perturb them in place and always restore them exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "numerical_gradient",
    "rel_error",
    "GradCheckReport",
    "check_layer_gradients",
    "check_model_gradients",
]

DEFAULT_TOL = 1e-7


def _check_perturbable(x, name="x"):
    if not isinstance(x, np.ndarray):
        raise TypeError(
            f"{name} must be a NumPy array (it is perturbed in place), got {type(x).__name__}"
        )
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{name} must have a floating dtype, got {x.dtype}")
    if not x.flags.writeable:
        raise ValueError(f"{name} must be writeable (it is perturbed in place)")


def _check_step(h):
    """Raise unless `h` is a positive finite real number (not a bool or a string)."""
    if isinstance(h, bool) or not isinstance(h, (int, float, np.integer, np.floating)):
        raise TypeError(f"h must be a positive number, got {type(h).__name__} {h!r}")
    if not np.isfinite(h) or h <= 0:
        raise ValueError(f"h must be a positive finite step, got {h!r}")


def _check_layer(layer):
    """Raise TypeError unless `layer` has forward, backward, params and grads."""
    missing = [name for name in ("forward", "backward", "params", "grads")
               if not hasattr(layer, name)]
    if missing:
        raise TypeError(
            f"layer must have forward, backward, params and grads (see backprop_lib.layers); "
            f"{type(layer).__name__} has no {', '.join(missing)}"
        )


def _scalar(value):
    """Return `value` (the output of an objective) as a Python float."""
    arr = np.asarray(value)
    if arr.size != 1:
        raise ValueError(f"f must return a scalar, got an array of shape {arr.shape}")
    return float(arr.reshape(()))


def _central_differences(f, x, indices, h):
    """Central-difference derivatives of ``f(x)`` at the given multi-indices.

    Each ``x[i]`` is set to ``x[i] + h`` and ``x[i] - h`` in turn and then
    reassigned its saved original value, so `x` is restored bit for bit, even
    if `f` raises.
    """
    values = np.empty(len(indices), dtype=np.float64)
    for n, i in enumerate(indices):
        original = x[i]
        try:
            x[i] = original + h
            f_plus = _scalar(f(x))
            x[i] = original - h
            f_minus = _scalar(f(x))
        finally:
            x[i] = original
        values[n] = (f_plus - f_minus) / (2.0 * h)
    return values


def numerical_gradient(f, x, h=1e-5):
    """Gradient of a scalar function by central differences.

    ``grad[i] = (f(x + h e_i) - f(x - h e_i)) / (2 h)`` for every index ``i``.

    `x` is modified IN PLACE while the function runs (one entry at a time,
    by +h and -h) and every entry is restored exactly to its original value
    afterwards, also if `f` raises. This lets `f` ignore its argument and
    read an array that shares memory with `x`, such as a layer's weights.

    Parameters
    ----------
    f : callable
        Called as ``f(x)``; returns a scalar (a float or a size-1 array).
    x : ndarray, any shape, floating dtype
        Point at which to differentiate. Use float64 for accurate results.
    h : float, default 1e-5
        Step size (> 0).

    Returns
    -------
    grad : ndarray, same shape and dtype as `x`
    """
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    _check_perturbable(x)
    _check_step(h)
    indices = list(np.ndindex(x.shape))
    grad = _central_differences(f, x, indices, h)
    return grad.reshape(x.shape).astype(x.dtype, copy=False)


def rel_error(a, b):
    """Largest element-wise relative error between two arrays.

    ``max_i |a_i - b_i| / max(1e-8, |a_i| + |b_i|)``. The floor of 1e-8 in
    the denominator stops entries where both values are (near) zero from
    dividing by zero; there the measure becomes an absolute error / 1e-8.

    Parameters
    ----------
    a, b : array_like, same shape (any)

    Returns
    -------
    err : float
        0.0 for identical arrays (and for empty ones); at most 1.0 for finite
        inputs unless both entries are below the 1e-8 floor.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


@dataclass
class GradCheckReport:
    """Result of a gradient check.

    Attributes
    ----------
    errors : dict of str -> float
        Max relative error (see :func:`rel_error`) of each checked array.
    tol : float
        Tolerance; the check passes when every error is <= tol.
    """

    errors: dict = field(default_factory=dict)
    tol: float = DEFAULT_TOL

    @property
    def max_error(self):
        """The largest error over all checked arrays (0.0 if none)."""
        return max(self.errors.values(), default=0.0)

    @property
    def passed(self):
        """True when every error is within the tolerance."""
        return all(err <= self.tol for err in self.errors.values())

    @property
    def failures(self):
        """Names of the arrays whose error exceeds the tolerance."""
        return [name for name, err in self.errors.items() if err > self.tol]

    def __bool__(self):
        return self.passed

    def __str__(self):
        width = max((len(name) for name in self.errors), default=4)
        lines = [f"gradient check (tol {self.tol:.0e}): {'PASSED' if self.passed else 'FAILED'}"]
        for name, err in self.errors.items():
            mark = "ok" if err <= self.tol else "WRONG"
            lines.append(f"  {name:<{width}}  rel error {err:.2e}  {mark}")
        return "\n".join(lines)


def _entries_to_check(shape, num_checks, rng):
    """All multi-indices of `shape`, or `num_checks` random ones (without repeats)."""
    size = int(np.prod(shape))
    if num_checks is None or num_checks >= size:
        return list(np.ndindex(shape))
    flat = rng.choice(size, size=num_checks, replace=False)
    return [np.unravel_index(i, shape) for i in flat]


def _compare(f, x, analytic, h, num_checks, rng):
    """Relative error between `analytic` and central differences of f at x."""
    analytic = np.asarray(analytic)
    if analytic.shape != x.shape:
        raise ValueError(
            f"analytic gradient has shape {analytic.shape}, expected {x.shape}"
        )
    indices = _entries_to_check(x.shape, num_checks, rng)
    numeric = _central_differences(f, x, indices, h)
    return rel_error(np.array([analytic[i] for i in indices]), numeric)


def _check_num_checks(num_checks):
    if num_checks is not None and (not isinstance(num_checks, int) or num_checks < 1):
        raise ValueError(f"num_checks must be None or a positive int, got {num_checks!r}")


def check_layer_gradients(layer, x, dout=None, *, h=1e-5, tol=DEFAULT_TOL,
                          num_checks=None, seed=0):
    """Check a layer's ``backward`` against central differences.

    The objective is ``f = sum(layer.forward(x) * dout)``, whose gradient
    with respect to the output is exactly `dout`. The analytic gradients are
    ``layer.backward(dout)`` (for `x`) and ``layer.grads[name]`` (for each
    parameter); the numerical ones perturb `x` and ``layer.params[name]`` in
    place (restored exactly afterwards).

    Parameters
    ----------
    layer : object
        Has ``forward(x)``, ``backward(dout) -> dx`` and the dicts ``params``
        and ``grads`` (may be empty for layers without parameters).
    x : ndarray, shape (N, D_in), floating (use float64)
        Input batch. It is perturbed in place and restored.
    dout : ndarray, shape like ``layer.forward(x)``, optional
        Upstream gradient; by default a seeded standard-normal array.
    h : float, default 1e-5
        Central-difference step.
    tol : float, default 1e-7
        Pass/fail threshold on each relative error.
    num_checks : int, optional
        Check only this many random entries of each array (faster for large
        layers); by default every entry.
    seed : int, default 0
        Seed for `dout` and for choosing entries.

    Returns
    -------
    report : GradCheckReport
        ``errors`` has the key ``"x"`` and one key per parameter name.
    """
    _check_layer(layer)
    _check_perturbable(x)
    _check_num_checks(num_checks)
    _check_step(h)
    rng = np.random.default_rng(seed)
    out = np.asarray(layer.forward(x))
    if dout is None:
        dout = rng.standard_normal(out.shape)
    dout = np.asarray(dout, dtype=np.float64)
    if dout.shape != out.shape:
        raise ValueError(f"dout must have the output's shape {out.shape}, got {dout.shape}")
    dx = np.array(layer.backward(dout), copy=True)
    analytic = {name: np.array(g, copy=True) for name, g in layer.grads.items()}

    def objective(_):
        return np.sum(np.asarray(layer.forward(x), dtype=np.float64) * dout)

    errors = {"x": _compare(objective, x, dx, h, num_checks, rng)}
    for name, param in layer.params.items():
        if name not in analytic:
            raise ValueError(f"layer.grads has no entry {name!r} after backward")
        _check_perturbable(param, f"layer.params[{name!r}]")
        errors[name] = _compare(objective, param, analytic[name], h, num_checks, rng)
    return GradCheckReport(errors, tol)


def _layer_label(index, layer):
    return f"layers[{index}].{getattr(layer, 'name', None) or type(layer).__name__}"


def check_model_gradients(model, X, y, *, h=1e-5, tol=DEFAULT_TOL, num_checks=None, seed=0):
    """Check every parameter gradient of a model against central differences.

    Runs ``model.loss(X, y)`` and ``model.backward()`` once for the analytic
    gradients, then perturbs each entry of each ``layer.params[name]`` in
    place (restored exactly) and re-evaluates ``model.loss(X, y)``.

    Parameters
    ----------
    model : object
        Has ``loss(X, y) -> float``, ``backward()`` and a list ``layers`` of
        layers with ``params`` and ``grads`` dicts.
    X : ndarray, shape (N, D), floating (use float64)
        Input batch.
    y : ndarray, shape (N,) int
        Labels, passed through to ``model.loss``.
    h, tol, num_checks, seed
        As in :func:`check_layer_gradients`.

    Returns
    -------
    report : GradCheckReport
        One key per parameter, like ``"layers[0].Dense.W"``.
    """
    missing = [name for name in ("loss", "backward", "layers") if not hasattr(model, name)]
    if missing:
        raise TypeError(f"model must have loss, backward and layers (see backprop_lib.model); "
                        f"{type(model).__name__} has no {', '.join(missing)}")
    _check_num_checks(num_checks)
    _check_step(h)
    rng = np.random.default_rng(seed)
    model.loss(X, y)
    model.backward()
    analytic = {}
    targets = {}
    for i, layer in enumerate(model.layers):
        params = getattr(layer, "params", None) or {}
        for name, param in params.items():
            key = f"{_layer_label(i, layer)}.{name}"
            if name not in layer.grads:
                raise ValueError(f"{key} has no gradient in layer.grads after backward()")
            _check_perturbable(param, key)
            analytic[key] = np.array(layer.grads[name], copy=True)
            targets[key] = param

    def objective(_):
        return model.loss(X, y)

    errors = {
        key: _compare(objective, param, analytic[key], h, num_checks, rng)
        for key, param in targets.items()
    }
    return GradCheckReport(errors, tol)
