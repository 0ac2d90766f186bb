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
           "stable_softmax", "softmax_row_shift_column_sum", "softmax_ce_terms"]


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


# ---------------------------------------------------------------------------
# diagnosis-adoption: the formula terms of softmax + cross-entropy's gradient, (S - Y)
# times a normaliser, and their likely mistakes, for the structural diagnosis
# (grading/decomposition.py) of every exercise built on that gradient.
# ---------------------------------------------------------------------------


def _labels_one_hot(z, y):
    return one_hot_float64(y, np.shape(z)[1])


def _ones_in_label_columns(z, y):
    """1 in every row of the columns that are some example's label (p[:, y] -= 1)."""
    n, k = np.shape(z)
    return np.broadcast_to(np.isin(np.arange(k), y), (n, k)).astype(float)


def _ones_in_label_rows(z, y):
    """1 in every column of the rows y[n] (Y[y] = 1)."""
    n, k = np.shape(z)
    return np.broadcast_to(np.isin(np.arange(n), y)[:, None], (n, k)).astype(float)


def _one_hot_from_one(z, y):
    """The one-hot of y - 1: labels read as if they counted from 1."""
    return one_hot_float64((np.asarray(y) - 1) % np.shape(z)[1], np.shape(z)[1])


def _softmax_whole_array(z):
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max())
    return e / e.sum()


def _softmax_column_shift(z):
    """Each COLUMN's maximum subtracted, then normalised along the rows: not a softmax."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=0, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _softmax_sums_without_keepdims(z):
    """e / e.sum(axis=1): the (N,) sums line up with the LAST axis (runs only when N = K)."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    total = e.sum(axis=-1)
    if total.shape[-1] != e.shape[-1]:
        raise ValueError("runs only when N = K")
    return e / total


def softmax_ce_terms(coefficient="1/N", *, logits_and_labels=None, output=None, wrap=None,
                     mistakes=True, prefix=""):
    """Terms of ``(S - Y) * coefficient`` (S = softmax(logits), Y one-hot) and its mistakes.

    Parameters
    ----------
    coefficient : str
        The normaliser of the gradient in the exercise, e.g. ``"1/N"``.
    logits_and_labels : callable, optional
        Maps the exercise's arguments to ``(logits (N, K), y (N,))``; default: the first
        two arguments.
    output : str, optional
        The output the terms describe, for exercises returning several arrays.
    wrap : callable, optional
        ``wrap(T, *args)`` maps an (N, K) term ``T`` (S, Y or a mistake) to the output's
        term, for an output that is a linear function of dL/dZ (``A.T @ T`` for a weight
        gradient, ``T.sum(axis=0)`` for a bias gradient).
    mistakes : bool
        False: only the two terms of the formula (for outputs with few entries).
    prefix : str
        Prefix of the term names (they must be unique within an exercise).

    Returns
    -------
    tuple of Term
        The softmax term ``S`` and the one-hot term ``Y``, then the likely mistakes (each
        replacing one of them): 1 subtracted everywhere, the label values subtracted, whole
        label columns or rows, the labels read from 1, and a softmax down the columns, over
        the whole array, shifted by each row's maximum but summed down the columns, shifted
        by the column maxima, or divided by row sums without keepdims.
    """
    from .decomposition import Term

    pick = logits_and_labels or (lambda *args: args[:2])

    def on(f):
        if wrap is None:
            return lambda *args: f(*pick(*args))
        return lambda *args: wrap(f(*pick(*args)), *args)

    def term(name, text, f, coefficient="0", replaces=None, **kw):
        return Term(prefix + name, text, on(f), coefficient, output=output,
                    replaces=None if replaces is None else prefix + replaces, **kw)

    formula = (
        term("S", "softmax term softmax(logits)", lambda z, y: stable_softmax(z), coefficient),
        term("Y", "one-hot term Y", _labels_one_hot, "-" + coefficient, code="missing_one_hot",
             sentence="You forgot to subtract the one-hot target Y (1 at [n, y[n]], 0 "
                      "elsewhere) from the probabilities."),
    )
    if not mistakes:
        return formula
    return formula + (
        term("label_values", "label values y[n] in row n",
             lambda z, y: np.broadcast_to(np.asarray(y, dtype=float)[:, None], np.shape(z)),
             code="missing_one_hot", replaces="Y",
             sentence="You subtracted the label VALUES y[n] from every probability of row n. "
                      "Subtract the one-hot target instead: 1 at [n, y[n]], 0 elsewhere."),
        term("S_row_shift_column_sum", "softmax summed down the columns",
             lambda z, y: softmax_row_shift_column_sum(z), code="wrong_axis", replaces="S",
             sentence="Your softmax subtracts each row's maximum but divides by the column "
                      "sums (axis=0). Both the max and the sum run along each row: axis=1, "
                      "keepdims=True."),
    ) + _more_softmax_ce_mistakes(term)


def _more_softmax_ce_mistakes(term):
    """The rest of softmax_ce_terms' mistakes, built with its `term` helper."""
    return (
        term("ones", "constant 1 in every entry", lambda z, y: np.ones(np.shape(z)),
             code="missing_one_hot", replaces="Y",
             sentence="You subtracted 1 from EVERY entry. Only the true class of each example "
                      "gets the -1: subtract the one-hot target Y."),
        term("Y_columns", "1 in every row of the label columns", _ones_in_label_columns,
             code="wrong_index", replaces="Y",
             sentence="You subtracted 1 from whole columns (p[:, y] -= 1): every row lost 1 in "
                      "every column that is some example's label. Each example has one true "
                      "class: p[np.arange(N), y] -= 1."),
        term("Y_rows", "1 in every column of the label rows", _ones_in_label_rows,
             code="wrong_index", replaces="Y",
             sentence="Your one-hot target has whole ROWS of ones (Y[y] = 1 sets rows y[n], "
                      "not one entry per example). Set Y[np.arange(N), y] = 1."),
        term("Y_from_one", "one-hot of y - 1", _one_hot_from_one, code="wrong_index",
             replaces="Y",
             sentence="Your one-hot target marks class y[n] - 1, as if the labels counted from "
                      "1. Class labels are 0, ..., K - 1: use y itself."),
        term("S_axis0", "softmax down the columns", lambda z, y: stable_softmax(z, axis=0),
             code="wrong_axis", replaces="S",
             sentence="Your softmax normalises down the columns (axis=0) instead of along each "
                      "row."),
        term("S_total", "softmax over the whole array", lambda z, y: _softmax_whole_array(z),
             code="wrong_axis", replaces="S",
             sentence="Your softmax divides by the sum over the WHOLE array instead of each "
                      "row's sum."),
        term("S_column_shift", "softmax shifted by the column maxima",
             lambda z, y: _softmax_column_shift(z), code="wrong_axis", replaces="S",
             sentence="Your softmax subtracts each COLUMN's maximum (z.max(axis=0)) and then "
                      "normalises each row: the shift must be each row's own maximum, "
                      "z.max(axis=1, keepdims=True), or the rows are no longer softmaxes."),
        term("S_no_keepdims", "softmax divided by row sums without keepdims",
             lambda z, y: _softmax_sums_without_keepdims(z), code="wrong_axis", replaces="S",
             sentence="Your softmax divides by e.sum(axis=1) without keepdims=True: the (N,) row "
                      "sums line up with the LAST axis, so column j is divided by row j's sum "
                      "(it runs only when N = K). Use keepdims=True."),
    )
