"""Test cases for numeric exercises: random inputs of every awkward kind.

A :class:`Case` is one call of the learner's function. Hidden cases are drawn
from a fresh seed on every ``check`` so they cannot be memorised; the helpers
here produce the inputs that break naive code: ``N = 1``, ``K = 2`` and
``K`` in the hundreds, float32 and float64, logits up to ``1e4``, rows of very
different scales, and arrays that are not C-contiguous (Fortran order, strided
views, reversed views).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Case", "logits", "labels", "probabilities", "with_layout", "copy_like",
           "describe_array", "pick", "random_size", "as_float64", "logit_batches", "logit_cases",
           "FLOAT_DTYPES", "LOGIT_REGIMES", "LAYOUTS", "ANY_LAYOUT", "LOGIT_RECIPES"]

FLOAT_DTYPES = (np.float64, np.float32)
LOGIT_REGIMES = ("normal", "extreme", "mixed_scales", "large_positive", "tied")
LAYOUTS = ("C", "F", "strided", "reversed")
ANY_LAYOUT = LAYOUTS

_REGIME_TEXT = {
    "normal": "ordinary logits",
    "extreme": "extreme logits up to 1e4",
    "mixed_scales": "rows of very different scales",
    "large_positive": "large positive logits (around 1000)",
    "tied": "rows of equal logits",
}
_LAYOUT_TEXT = {
    "C": "",
    "F": "Fortran order",
    "strided": "a strided (non-contiguous) view",
    "reversed": "a reversed (negative-stride) view",
}


@dataclass
class Case:
    """One call of the learner's function.

    Attributes
    ----------
    args : tuple
        Inputs, kept pristine: the learner receives copies with the same
        memory layout (see :func:`copy_like`).
    label : str
        What the case is, in words (never the hidden data itself).
    hidden : bool
        False for public cases.
    dtype : numpy dtype
        Floating dtype of the inputs; sets the tolerance.
    memory_limit : int or None
        If set, the learner's call may allocate at most this many bytes.
    """

    args: tuple
    label: str
    hidden: bool = True
    dtype: type = np.float64
    memory_limit: int | None = None


def logits(rng, shape, dtype=np.float64, regime="normal"):
    """Random logits of `shape` in one of :data:`LOGIT_REGIMES`.

    Parameters
    ----------
    rng : numpy.random.Generator
    shape : tuple of int, last axis K >= 1
    dtype : float dtype
    regime : str

    Returns
    -------
    ndarray, shape `shape`, dtype `dtype`, C order
    """
    shape = tuple(shape)
    if regime == "normal":
        z = rng.normal(0.0, 3.0, size=shape)
    elif regime == "extreme":
        z = rng.uniform(-1e4, 1e4, size=shape)
        z.reshape(-1, shape[-1])[:, 0] = 1e4  # every row reaches 1e4: naive exp overflows
    elif regime == "mixed_scales":
        rows = int(np.prod(shape[:-1], dtype=int))
        scales = 10.0 ** rng.uniform(-3, 3.5, size=(rows, 1))
        scales[0, 0] = 3e3
        if rows > 1:
            scales[1, 0] = 1e-2
        z = (rng.normal(0.0, 1.0, size=(rows, shape[-1])) * scales).reshape(shape)
    elif regime == "large_positive":
        z = 1000.0 + rng.normal(0.0, 2.0, size=shape)
    elif regime == "tied":
        z = np.repeat(rng.normal(0.0, 5.0, size=shape[:-1] + (1,)), shape[-1], axis=-1)
    else:
        raise ValueError(f"unknown regime {regime!r}")
    return z.astype(dtype)


def labels(rng, n, k):
    """Random integer class labels, shape (n,), values in [0, k)."""
    return rng.integers(0, k, size=n).astype(np.int64)


def with_layout(a, layout):
    """Return the values of `a` in the memory `layout` (one of :data:`LAYOUTS`)."""
    a = np.asarray(a)
    if a.ndim == 0:
        return a.copy()  # np.ascontiguousarray would make it 1-d
    if layout == "C":
        return np.ascontiguousarray(a)
    if layout == "F":
        return np.asfortranarray(a)
    if layout == "strided":
        base = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), dtype=a.dtype)
        view = base[..., ::2]
        view[...] = a
        return view
    if layout == "reversed":
        base = np.ascontiguousarray(a[::-1])
        return base[::-1]
    raise ValueError(f"unknown layout {layout!r}")


def layout_of(a):
    """The name of the layout of array `a` (inverse of :func:`with_layout`)."""
    if a.ndim == 0 or a.flags.c_contiguous:
        return "C"
    if a.flags.f_contiguous:
        return "F"
    if a.strides[0] < 0:
        return "reversed"
    return "strided"


def copy_like(value):
    """A copy of `value` with the same memory layout; non-arrays are returned as is."""
    if not isinstance(value, np.ndarray):
        return value
    return with_layout(value.copy(), layout_of(value))


def describe_array(name, a, regime=None):
    """E.g. ``"z (64, 300) float32, extreme logits up to 1e4, Fortran order"``."""
    bits = [f"{name} {tuple(a.shape)} {a.dtype}"]
    if regime:
        bits.append(_REGIME_TEXT.get(regime, regime))
    layout = _LAYOUT_TEXT[layout_of(a)] if isinstance(a, np.ndarray) else ""
    if layout:
        bits.append(layout)
    return ", ".join(bits)


def pick(rng, options):
    """One element of `options`, chosen with `rng`."""
    return options[int(rng.integers(len(options)))]


def random_size(rng, low, high):
    """A random int in ``[low, high]`` (both included)."""
    return int(rng.integers(low, high + 1))


def as_float64(a):
    """`a` as a float64 array (references compute in float64 for an accurate target)."""
    return np.asarray(a, dtype=np.float64)


def probabilities(rng, shape, dtype, regime):
    """Softmax rows of random logits (see :func:`logits`), cast to `dtype`.

    Returns
    -------
    ndarray, shape `shape`, every row on the probability simplex
    """
    e = logits(rng, shape, np.float64, regime)
    e = np.exp(e - e.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(dtype)


#: (batch, K, dtype, regime, layout) recipes for hidden logit cases: "n"/"k" draw a random
#: size, "square" makes N = K (so an axis mix-up cannot hide behind a shape error).
LOGIT_RECIPES = (
    (1, 2, np.float64, "normal", "C"),
    ("n", "k", np.float64, "normal", "F"),
    (1, "k", np.float32, "extreme", "C"),
    ("n", "k", np.float64, "extreme", "strided"),
    ("n", 2, np.float32, "tied", "reversed"),
    ("n", "k", np.float64, "mixed_scales", "C"),
    ("n", "k", np.float32, "mixed_scales", "F"),
    ("n", "k", np.float64, "large_positive", "reversed"),
    ("n", "k", np.float32, "normal", "strided"),
    ("square", "square", np.float64, "normal", "C"),
)


def _recipe_shape(rng, n, k, max_n, max_k):
    if n == "square":
        n = k = random_size(rng, 3, 12)
        return n, k
    n = random_size(rng, 2, max_n) if n == "n" else n
    k = random_size(rng, 3, max_k) if k == "k" else k
    return n, k


def logit_batches(rng, max_n=64, max_k=300):
    """Yield ``(z, regime, dtype)`` for every recipe in :data:`LOGIT_RECIPES`.

    Yields
    ------
    z : ndarray, shape (N, K), in the recipe's dtype and memory layout
    regime : str
    dtype : numpy float type
    """
    for n, k, dtype, regime, layout in LOGIT_RECIPES:
        n, k = _recipe_shape(rng, n, k, max_n, max_k)
        yield with_layout(logits(rng, (n, k), dtype, regime), layout), regime, dtype


def logit_cases(rng):
    """Hidden cases ``(z,)`` for functions of a batch of logits, one per recipe."""
    return [Case((z,), describe_array("z", z, regime), dtype=dtype)
            for z, regime, dtype in logit_batches(rng)]
