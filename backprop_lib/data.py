"""Data sets and batching: spirals, the UCI digits, a stratified split, minibatches.

Everything here is seeded, so a notebook run twice shows the same numbers, and
nothing is downloaded: the digits ship inside the package (see
``backprop_lib/data/README.md`` for their source, licence and checksum).
"""

from __future__ import annotations

import numbers
from importlib import resources

import numpy as np

from ._validation import positive_int as _positive_int

__all__ = [
    "make_spiral",
    "load_digits",
    "train_test_split",
    "minibatches",
    "DIGITS_FILE",
    "DIGITS_SHA256",
]

DIGITS_FILE = "digits.npz"
#: SHA-256 of the shipped ``data/digits.npz`` (checked by the tests).
DIGITS_SHA256 = "af104d81e7cd419be5f343d23c6ca2e4e4ff847b06636260802df8e903c6183f"
#: Largest pixel value in the digits: each pixel counts the "on" pixels of a 4x4 block.
DIGITS_MAX_VALUE = 16


def make_spiral(n_per_class=100, n_classes=3, noise=0.2, seed=0):
    """Interleaved spiral arms in 2-D, one arm per class: not linearly separable.

    Each arm starts at the origin and winds outwards; point ``i`` of class
    ``k`` sits at radius ``r = i / (n_per_class - 1)`` and angle
    ``2*pi*k / n_classes + 4*r`` (radians), and the angle gets Gaussian noise
    of standard deviation `noise`.

    Parameters
    ----------
    n_per_class : int, default 100
        Points per class.
    n_classes : int, default 3
        Number of classes (arms).
    noise : float, default 0.2
        Standard deviation of the angular noise; 0 gives clean curves.
    seed : int or numpy.random.Generator, optional
        Seed for the noise.

    Returns
    -------
    X : ndarray, shape (n_per_class * n_classes, 2), float64
        Points, grouped by class.
    y : ndarray, shape (n_per_class * n_classes,), intp
        Integer labels in NumPy's index type (int64 on 64-bit platforms, int32 in
        the browser's WebAssembly Python), so ``np.bincount`` and indexing take them.
        Class of each point, in ``[0, n_classes)``.
    """
    n_per_class = _positive_int(n_per_class, "n_per_class")
    n_classes = _positive_int(n_classes, "n_classes")
    if not isinstance(noise, numbers.Real) or not noise >= 0:
        raise ValueError(f"noise must be a non-negative number, got {noise!r}")
    rng = np.random.default_rng(seed)
    radius = np.linspace(0.0, 1.0, n_per_class)                      # (n,)
    start = 2 * np.pi * np.arange(n_classes) / n_classes             # (K,)
    angle = start[:, None] + 4.0 * radius[None, :]                   # (K, n)
    angle = angle + noise * rng.standard_normal(angle.shape)
    X = np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=-1)  # (K, n, 2)
    y = np.repeat(np.arange(n_classes, dtype=np.intp), n_per_class)
    return X.reshape(-1, 2), y


def load_digits():
    """The UCI optical-recognition handwritten digits: 1,797 images of 8x8 pixels.

    Each pixel is the number of "on" pixels in a 4x4 block of a 32x32 bitmap,
    an integer from 0 to 16. This loader divides by 16, so the features lie in
    ``[0, 1]``; multiply by 16 to recover the original counts.

    Source: E. Alpaydin and C. Kaynak, UCI Machine Learning Repository,
    https://doi.org/10.24432/C50P49, licensed CC BY 4.0. The file is read from
    the package (no download); see ``backprop_lib/data/README.md``.

    Returns
    -------
    X : ndarray, shape (1797, 64), float64
        One flattened image per row, values in ``[0, 1]``; ``X[i].reshape(8, 8)``
        is the image.
    y : ndarray, shape (1797,), intp
        Integer labels 0-9 in NumPy's index type (int64 on 64-bit platforms).
        The digit shown, 0 to 9 (about 180 of each).
    """
    with resources.files("backprop_lib").joinpath("data", DIGITS_FILE).open("rb") as fh:
        with np.load(fh) as archive:
            images = archive["images"]
            labels = archive["labels"]
    X = images.astype(np.float64) / DIGITS_MAX_VALUE
    return X, labels.astype(np.intp)


def train_test_split(X, y, test_size=0.25, seed=0, stratify=True):
    """Split a data set at random into a training part and a held-out test part.

    Parameters
    ----------
    X : array_like, shape (N, ...)
        Examples, one per row.
    y : array_like, shape (N,)
        Labels.
    test_size : float in (0, 1) or int, default 0.25
        Fraction of the examples, or number of examples, to hold out.
    seed : int or numpy.random.Generator, optional
        Seed for the shuffle.
    stratify : bool, default True
        Keep each class's share (nearly) equal in both parts. The number held
        out per class is proportional to its size, with rounding leftovers
        going to the classes with the largest remainders.

    Returns
    -------
    X_train : ndarray, shape (N - n_test, ...)
    X_test : ndarray, shape (n_test, ...)
    y_train : ndarray, shape (N - n_test,)
    y_test : ndarray, shape (n_test,)
        Both parts are in random order.
    """
    X, y = _check_xy(X, y)
    n = y.shape[0]
    n_test = _n_test(test_size, n)
    rng = np.random.default_rng(seed)
    if stratify:
        test_idx = _stratified_test_indices(y, n_test, rng)
    else:
        test_idx = rng.permutation(n)[:n_test]
    is_test = np.zeros(n, dtype=bool)
    is_test[test_idx] = True
    train_idx = rng.permutation(np.flatnonzero(~is_test))
    test_idx = rng.permutation(np.flatnonzero(is_test))
    return X[train_idx], X[test_idx], y[train_idx], y[test_idx]


def minibatches(X, y, batch_size, shuffle=True, seed=None):
    """Iterate over ``(X_batch, y_batch)`` pairs that together cover the data once.

    Parameters
    ----------
    X : array_like, shape (N, ...)
    y : array_like, shape (N,)
    batch_size : int
        Rows per batch; the last batch holds the remainder and may be smaller.
    shuffle : bool, default True
        Visit the rows in a random order (a fresh one each call).
    seed : int or numpy.random.Generator, optional
        Seed for the order. Pass one Generator to successive calls (as a
        training loop does every epoch) to get a different order each time.

    Yields
    ------
    X_batch : ndarray, shape (B, ...)
    y_batch : ndarray, shape (B,)
        ``B = batch_size`` except possibly for the last batch.
    """
    X, y = _check_xy(X, y)
    batch_size = _positive_int(batch_size, "batch_size")
    n = y.shape[0]
    order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        yield X[idx], y[idx]


# ---------------------------------------------------------------------------
# Helpers (private)
# ---------------------------------------------------------------------------



def _check_xy(X, y):
    """Return X, y as arrays, checking y is 1-D and has one label per row of X."""
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim < 1:
        raise ValueError(f"X must have one row per example, got a scalar of shape {X.shape}")
    if y.ndim != 1:
        raise ValueError(f"y must have shape (N,), got {y.ndim}-D shape {y.shape}")
    if X.shape[0] != y.shape[0]:
        raise ValueError(
            f"X has {X.shape[0]} rows but y has {y.shape[0]} labels; they must match"
        )
    return X, y


def _n_test(test_size, n):
    """Number of held-out examples for `test_size` (fraction or count) of `n`."""
    if isinstance(test_size, bool) or not isinstance(test_size, numbers.Real):
        raise TypeError(f"test_size must be a float or an int, got {type(test_size).__name__}")
    if isinstance(test_size, numbers.Integral):
        n_test = int(test_size)
    elif 0 < test_size < 1:
        n_test = int(round(test_size * n))
    else:
        raise ValueError(f"test_size must be a fraction in (0, 1) or a count, got {test_size}")
    if not 0 < n_test < n:
        raise ValueError(
            f"test_size={test_size} leaves {n_test} of {n} examples for testing; "
            "both parts must be non-empty"
        )
    return n_test


def _stratified_test_indices(y, n_test, rng):
    """Pick `n_test` indices so that each class is held out in proportion to its size."""
    classes, y_idx, counts = np.unique(y, return_inverse=True, return_counts=True)
    share = counts * n_test / y.shape[0]                  # ideal (fractional) test counts
    take = np.floor(share).astype(int)
    leftover = n_test - take.sum()
    take[np.argsort(take - share, kind="stable")[:leftover]] += 1
    picked = [
        rng.permutation(np.flatnonzero(y_idx == c))[:take[c]] for c in range(classes.size)
    ]
    return np.concatenate(picked)
