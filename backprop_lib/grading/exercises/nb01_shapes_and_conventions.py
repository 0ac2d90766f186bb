"""Exercises of notebook 01 (Shapes and conventions): three shape questions and
``dense_forward``.

Everything about each exercise lives here: public cases, hidden-case generator,
reference, named wrong variants and hints (see CONTRIBUTING.md, "Adding an exercise").
"""

from __future__ import annotations

import numpy as np

from ..cases import (
    ANY_LAYOUT,
    Case,
    as_float64,
    describe_array,
    pick,
    random_size,
    with_layout,
)
from ..decomposition import Term
from ..mistakes import WrongVariant
from ..numeric import NumericExercise
from ..probes import probe
from ..questions import Question
from ..registry import register

_F64, _F32 = np.float64, np.float32


register(Question(
    id="shape_of_Z_column", notebook=1, title="Column convention: shape of z", points=1.0,
    prompt="In the column convention one example is a vector: z = W a + b, with W of shape "
           "(10, 64) and a of shape (64,). What is the shape of z (which is also the shape "
           "of b)?",
    answer_kind="shape",
    answer_hash="b0e3f305d37e0e0b95c0cbe8a944df9a6163acf1528d0b9151c8b9a20f2e0f6e",
    explanation="W @ a contracts the inputs (the columns of W) and leaves one entry per "
                "output unit (the rows of W). In the row convention the same layer stores the "
                "transposed matrix and a batch as rows: Z = A @ W + b, and b has one entry per "
                "output unit in both conventions.",
    wrong_feedback={
        "9dca5fe2d20978c50adfab21c7bd256afed7e71e868b8fb69846e58509d15535":
            "With a of shape (64,) NumPy returns a 1-D result; (10, 1) would need a to be a "
            "column of shape (64, 1).",
        "2220ec542ea41ee56e4cbc773c7b584d7415c915a6f820289d168db17e967125":
            "That is the shape of the input a. How many outputs does W produce?",
    },
    hints=(
        "In W @ a the last axis of W meets the only axis of a; that axis disappears.",
        "(10, 64) @ (64,): which of the numbers survives?",
        "The result has one entry per output unit, and W has 10 rows.",
    ),
))


register(Question(
    id="shape_of_dW", notebook=1, title="Shape of dW", points=1.0,
    prompt="A dense layer computes Z = A @ W + b with A of shape (32, 64) (a batch of N = 32 "
           "examples with D = 64 features) and W of shape (64, 10). What is the shape of "
           "dL/dW, the gradient of the scalar loss with respect to W?",
    answer_kind="shape",
    answer_hash="8c32069980cf7703cdd719690cc325836965c6d4d8edd432dc0f858cec198c39",
    explanation="The loss is a single number, so there is one partial derivative dL/dW_ij per "
                "entry of W: the gradient always has the parameter's own shape. It is computed "
                "as A^T dZ, a (64, 32) matrix times a (32, 10) matrix.",
    wrong_feedback={
        "c42fad8f6be6d255cd3891954dc784a09a436c77009c1cc9c62483763271d25a":
            "That is the shape of Z (and of dZ), not of W.",
        "5c4e1d27b499caa871db44a6e7d04b50a3ee718fc72acb3c99d38d72a6bcdef5":
            "That is the shape of the input A.",
    },
    hints=(
        "The loss L is one number. How many partial derivatives dL/dW_ij are there?",
        "The gradient with respect to a parameter always has the parameter's own shape.",
        "Look at the shape of W.",
    ),
))


register(Question(
    id="shape_broadcast_trap", notebook=1, title="The broadcasting trap", points=1.0,
    prompt="a has shape (5,) and b has shape (5, 1). What is the shape of a - b?",
    answer_kind="shape",
    answer_hash="06c30d6eb6c226c168a52d7907a97cd8f8454faf6ad36157f6ce49de5c158904",
    explanation="Broadcasting lines shapes up from the right, and a missing axis counts as "
                "length 1, so each operand stretches along the other's axis. No error is "
                "raised: targets of shape (N,) minus predictions of shape (N, 1) silently "
                "give an N-by-N table of every pair, and a mean over it is a wrong loss.",
    wrong_feedback={
        "ddcb92a2cda4415cb9afc04d1db96a7c850ed6a7ff5a6dc503b8c4c077b03492":
            "NumPy does not pair the entries up one by one here. Line the shapes up from "
            "the right and apply the broadcasting rules.",
        "df9b8f391c831f3bcc5a50a0870aa58b3a52c2004744486c1721f61f0eb93299":
            "NumPy does not pair the entries up one by one here. Line the shapes up from "
            "the right and apply the broadcasting rules.",
    },
    hints=(
        "NumPy compares shapes from the LAST axis backwards; a missing axis counts as 1.",
        "Write both shapes right-aligned: (_, 5) and (5, 1). An axis of length 1 stretches to "
        "match the other.",
        "(1, 5) and (5, 1) both stretch along their length-1 axis.",
    ),
))


def _dense_public():
    rng = np.random.default_rng(1)
    square = (rng.normal(size=(3, 4)), rng.normal(size=(4, 3)), rng.normal(size=3))
    wide = (np.arange(6.0).reshape(2, 3), np.ones((3, 4)), np.array([0.0, 1.0, 2.0, 3.0]))
    return [Case(square, "A (3, 4), W (4, 3), b (3,)", hidden=False),
            Case(wide, "A = [[0, 1, 2], [3, 4, 5]], W = ones((3, 4)), b = [0, 1, 2, 3]",
                 hidden=False)]


def _dense_hidden(rng):
    cases = []
    for n, dtype, layout in ((1, _F64, "C"), ("n", _F32, "F"), ("n", _F64, "strided"),
                             ("n", _F64, "reversed"), ("n", _F32, "C")):
        n = random_size(rng, 2, 64) if n == "n" else n
        d, h = random_size(rng, 1, 40), random_size(rng, 1, 40)
        scales = 10.0 ** rng.uniform(-2, 2, size=(n, 1))
        A = with_layout((rng.normal(size=(n, d)) * scales).astype(dtype), layout)
        W = with_layout(rng.normal(size=(d, h)).astype(dtype), pick(rng, ANY_LAYOUT))
        b = rng.normal(size=h).astype(dtype)
        label = ", ".join([describe_array("A", A), describe_array("W", W), f"b {b.shape}"])
        cases.append(Case((A, W, b), label, dtype=dtype))
    return cases


def _dense_probes():
    square = (np.array([[1.0, 2.0, 0.0, -0.5], [-1.0, 0.5, 3.0, 1.0], [2.0, 1.0, -2.0, 0.0],
                        [0.5, -1.5, 1.0, 2.0]]),
              np.array([[0.5, -1.0, 2.0, 1.0], [1.0, 0.0, 1.5, -0.5], [-2.0, 3.0, 1.0, 0.5],
                        [0.0, 1.0, -1.0, 2.5]]),
              np.array([0.1, -0.2, 0.3, 0.4]))
    wide = (np.array([[1.0, 2.0, 0.5], [-1.0, 0.0, 3.0]]),
            np.array([[1.0, 0.0, -1.0, 2.0], [0.5, 1.0, 2.0, -1.0], [0.0, -2.0, 1.0, 1.0]]),
            np.array([0.1, 0.2, -0.3, 0.4]))
    return [probe(square, "A, W of shape (4, 4), b (4,): every dimension equal"),
            probe(wide, "A (2, 3), W (3, 4), b (4,)")]


# Z = 1 * A @ W + 1 * b, and the terms of likely mistakes (most only fit square probes).
_DENSE_TERMS = (
    Term("AW", "matrix product A @ W", lambda A, W, b: np.asarray(A) @ W, "1"),
    Term("bias", "bias b", lambda A, W, b: np.asarray(b), "1",
         sentence="You left out the bias b: the layer is A @ W + b."),
    Term("WA", "product W @ A", lambda A, W, b: np.asarray(W) @ A, code="operand_order",
         sentence="You computed W @ A, the column convention's order (z = W a). In the row "
                  "convention the batch A (N, D) comes first: A @ W is (N, D) @ (D, H) -> (N, H).",
         replaces="AW"),
    Term("WAt", "product W @ A.T", lambda A, W, b: np.asarray(W) @ np.asarray(A).T,
         code="operand_order",
         sentence="You computed W @ A.T, the column convention's z = W a applied to the batch "
                  "as columns. Here W is stored as (D, H) and the batch as rows: A @ W is "
                  "(N, D) @ (D, H) -> (N, H).", replaces="AW"),
    Term("WtA", "product W.T @ A", lambda A, W, b: np.asarray(W).T @ A, code="operand_order",
         sentence="You computed W.T @ A, the column convention's z = W a (with W stored "
                  "transposed), but the batch A has one example per ROW. In the row convention "
                  "the layer is A @ W: (N, D) @ (D, H) -> (N, H).", replaces="AW"),
    Term("AWt", "product A @ W.T", lambda A, W, b: np.asarray(A) @ np.asarray(W).T,
         code="transposed",
         sentence="You multiplied by W transposed (A @ W.T). In the row convention W has shape "
                  "(D, H) and is used as it is: A @ W.", replaces="AW"),
    Term("AtW", "product A.T @ W", lambda A, W, b: np.asarray(A).T @ W, code="transposed",
         sentence="You transposed A (A.T @ W). Each ROW of A is one example: A @ W.",
         replaces="AW"),
    Term("ZT", "transposed product (A @ W).T", lambda A, W, b: (np.asarray(A) @ W).T,
         code="transposed",
         sentence="You computed the product transposed, (A @ W).T = W.T @ A.T, as in the column "
                  "convention z = W a. In the row convention each ROW of Z is one example: "
                  "A @ W + b.", replaces="AW"),
    Term("bias_column", "bias added down the columns", lambda A, W, b: np.asarray(b)[:, None],
         code="bias_wrong_axis",
         sentence="You added b down the columns (b[:, None]). b has one entry per output unit "
                  "and is added to every row: A @ W + b.", replaces="bias"),
)


register(NumericExercise(
    id="dense_forward", notebook=1, title="Dense layer forward pass", points=1.0,
    signature="dense_forward(A, W, b)", arg_names=("A", "W", "b"),
    reference=lambda A, W, b: as_float64(A) @ as_float64(W) + as_float64(b),
    public_cases=_dense_public, hidden_cases=_dense_hidden,
    variants=(
        WrongVariant("column_convention", "transposed",
                     "You returned Z transposed, shape (H, N), as in the column convention "
                     "z = W a + b. In the row convention each ROW of Z is one example.",
                     lambda A, W, b: (np.asarray(A) @ W + b).T),
        WrongVariant("bias_as_column", "bias_wrong_axis",
                     "You added b down the columns (b[:, None] or b.reshape(-1, 1)). b has one "
                     "entry per output unit and is added to every row: A @ W + b.",
                     lambda A, W, b: np.asarray(A) @ W + np.asarray(b)[:, None]),
        WrongVariant("no_bias", "missing_term", "You left out the bias b.",
                     lambda A, W, b: np.asarray(A) @ W),
        WrongVariant("first_row_only", "shape",
                     "You computed the output of a single example (one row) instead of the "
                     "whole batch.", lambda A, W, b: np.asarray(A)[0] @ W + b),
    ),
    probes=_dense_probes, terms=_DENSE_TERMS,
    dims=lambda A, W, b: {"N": np.shape(A)[0], "D": np.shape(A)[1], "H": np.shape(W)[1]},
    hints=(
        "Write down the shapes: A is (N, D), W is (D, H), b is (H,). The result Z must be "
        "(N, H): one row of H outputs per example.",
        "Matrix product first: A @ W has shape (N, H). Then add the bias; NumPy broadcasting "
        "adds the (H,) vector b to every row.",
        "The whole layer is one line: `return A @ W + b`.",
    ),
))
