"""Wrong implementations that several exercises share, for their WrongVariants.

Each one is a realistic mistake written out once, so that the exercise modules
(``exercises/nbNN_*.py``) can name it in their variants: softmax without the max
shift, softmax down the wrong axis, a transposed result. They take and return
plain arrays and may raise on shapes where the mistake cannot happen (the
grader then skips the variant).
"""

from __future__ import annotations

import numpy as np

__all__ = ["naive_softmax", "softmax_axis0", "swap_last_axes", "one_hot_float64",
           "stable_softmax", "softmax_row_shift_column_sum"]


def stable_softmax(z, axis=-1):
    """Softmax with the max shift, along `axis` (a correct helper for building variants)."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def naive_softmax(z, axis=-1):
    """Softmax WITHOUT the max shift: overflows to inf / inf = NaN for large logits."""
    e = np.exp(np.asarray(z))
    return e / e.sum(axis=axis, keepdims=True)


def softmax_axis0(z):
    """Softmax normalised down the columns (over the batch) instead of along each row."""
    return stable_softmax(z, axis=0)


def softmax_row_shift_column_sum(z):
    """Each row shifted by its own maximum, then normalised down the COLUMNS (axis 0)."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def swap_last_axes(x):
    """`x` with its last two axes swapped (raises for fewer than two axes)."""
    x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError("nothing to transpose")
    return np.swapaxes(x, -1, -2)


def one_hot_float64(y, k):
    """One-hot rows ``(N, k)`` of the integer labels `y` ``(N,)``."""
    y = np.asarray(y)
    out = np.zeros((y.shape[0], k))
    out[np.arange(y.shape[0]), y] = 1.0
    return out
