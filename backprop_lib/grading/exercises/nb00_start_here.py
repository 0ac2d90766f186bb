"""Exercises of notebook 00 (Start here): the warm-up ``warmup_row_sums``.

Everything about each exercise lives here: public cases, hidden-case generator,
reference, named wrong variants and hints (see CONTRIBUTING.md, "Adding an exercise").
"""

from __future__ import annotations

import numpy as np

from ..cases import (
    Case,
    as_float64,
    describe_array,
    random_size,
    with_layout,
)
from ..decomposition import Term
from ..mistakes import WrongVariant
from ..numeric import NumericExercise
from ..probes import probe
from ..registry import register

_F64, _F32 = np.float64, np.float32


def _row_sums_public():
    a1 = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    a2 = np.array([[1.0, -1.0, 0.5], [2.0, 0.0, 0.0], [0.0, 3.0, 1.0]])
    return [Case((a1,), f"A = {a1.tolist()}", hidden=False),
            Case((a2,), f"A = {a2.tolist()}", hidden=False)]


def _row_sums_hidden(rng):
    cases = []
    for n, d, dtype, layout in ((1, 1, _F64, "C"), (1, "d", _F32, "C"), ("n", "d", _F64, "F"),
                                ("n", "d", _F32, "strided"), ("n", 1, _F64, "reversed"),
                                ("sq", "sq", _F64, "C")):
        if n == "sq":
            n = d = random_size(rng, 3, 9)
        n = random_size(rng, 2, 50) if n == "n" else n
        d = random_size(rng, 2, 50) if d == "d" else d
        scales = 10.0 ** rng.uniform(-2, 3, size=(n, 1))
        a = with_layout((rng.normal(size=(n, d)) * scales).astype(dtype), layout)
        cases.append(Case((a,), describe_array("A", a), dtype=dtype))
    return cases


def _row_sums_probes():
    square = np.array([[1.0, 2.0, 4.0, 0.5], [0.5, -1.0, 3.0, 1.0], [2.0, 0.0, -2.5, 1.5],
                       [-1.0, 1.0, 0.5, 2.0]])
    wide = np.array([[1.0, 2.0, 3.0, 4.0], [-1.0, 0.5, 0.0, 2.0]])
    tall = np.array([[1.0, -2.0], [3.0, 0.5], [0.0, 1.5], [2.0, 2.0], [-1.0, 4.0]])
    return [probe((square,), "A of shape (4, 4): every dimension equal"),
            probe((wide,), "A of shape (2, 4)"), probe((tall,), "A of shape (5, 2)")]


_ROW_SUMS_TERMS = (
    Term("row_sums", "row sums", lambda A: A.sum(axis=1), "1"),
    Term("column_sums", "column sums", lambda A: A.sum(axis=0), code="wrong_axis",
         sentence="You summed each column (axis=0); each row is summed along axis=1.",
         replaces="row_sums"),
)


register(NumericExercise(
    id="warmup_row_sums", notebook=0, title="Warm-up: row sums", points=1.0,
    signature="row_sums(A)", arg_names=("A",),
    reference=lambda A: as_float64(A).sum(axis=1),
    public_cases=_row_sums_public, hidden_cases=_row_sums_hidden,
    variants=(
        WrongVariant("column_sums", "wrong_axis",
                     "You summed each column (axis=0); each row is summed along axis=1.",
                     lambda A: np.asarray(A).sum(axis=0)),
        WrongVariant("total", "wrong_axis",
                     "You added up every entry of A into one number; sum each row separately "
                     "with axis=1.", lambda A: np.asarray(A).sum()),
        WrongVariant("total_repeated", "wrong_axis",
                     "Every entry of your result is the sum of the WHOLE array (A.sum() without "
                     "an axis). Sum each row separately: A.sum(axis=1).",
                     lambda A: np.full(np.shape(A)[0], np.asarray(A).sum())),
        WrongVariant("keepdims", "shape",
                     "You kept the summed axis (keepdims=True), giving shape (N, 1); the "
                     "exercise wants a flat (N,) vector.",
                     lambda A: np.asarray(A).sum(axis=1, keepdims=True)),
        WrongVariant("row_means", "wrong_normaliser",
                     "You computed the mean of each row (you divided by D, the number of "
                     "columns); the exercise wants the sum.",
                     lambda A: np.asarray(A).mean(axis=1)),
    ),
    probes=_row_sums_probes, terms=_ROW_SUMS_TERMS,
    dims=lambda A: {"N": np.shape(A)[0], "D": np.shape(A)[1]},
    hints=(
        "A has one row per example: shape (N, D). The answer has one number per row: shape (N,).",
        "NumPy reductions take an axis argument: A.sum(axis=k) adds up along axis k and removes "
        "it. Which axis runs along a row?",
        "Axis 0 runs down the columns, axis 1 runs along each row: `return A.sum(axis=1)`.",
    ),
))
