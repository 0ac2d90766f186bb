"""Named mistakes: the codes of the course design and the wrong variants behind them.

A *mistake code* (``"transposed"``, ``"overflow"``, ...) is what ``check``
reports in ``CheckResult.diagnosis``. Each code has a short title and a
general explanation in the learner's terms (:data:`MISTAKES`).

A :class:`WrongVariant` is a concrete wrong implementation, for example
"softmax without the max shift". When a learner's answer fails, the grader
runs every variant of the exercise on the failing case; a variant whose
output the learner's answer reproduces is named in the feedback with its
code and its own, more specific sentence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["MISTAKES", "WrongVariant", "Finding", "describe"]

#: code -> (title, general explanation). The codes are part of the public contract.
MISTAKES = {
    "shape": (
        "Wrong shape",
        "Your result does not have the shape the exercise asks for. Print the shape of "
        "every intermediate array to find the step where it goes astray.",
    ),
    "dtype": (
        "Wrong kind of numbers",
        "Your result is not an array of real floating-point numbers of the input's precision "
        "(it holds integers, booleans, text, objects, complex numbers or half-precision "
        "float16). Gradients and probabilities are real numbers.",
    ),
    "not_finite": (
        "NaN or infinity",
        "Your result contains NaN or infinity where the correct answer is an ordinary number.",
    ),
    "overflow": (
        "Overflow: no max shift",
        "np.exp overflows to inf for logits above about 709 (about 88 in float32), and inf/inf "
        "is NaN. Subtract each row's maximum before exponentiating: the softmax does not change, "
        "and the largest exponent becomes exp(0) = 1.",
    ),
    "wrong_axis": (
        "Reduced over the wrong axis",
        "A sum, max or softmax ran over the wrong axis. Softmax and its normaliser act on the "
        "last axis (axis=-1), one row per example; use keepdims=True so the result broadcasts "
        "back against each row.",
    ),
    "transposed": (
        "Transposed",
        "Your result has the right numbers in transposed positions (rows and columns swapped). "
        "Check which axis is which: in the row convention, A is (N, D) and W is (D, H).",
    ),
    "elementwise_jacobian": (
        "Element-wise instead of the full Jacobian",
        "You used only the diagonal of the softmax Jacobian, s * (1 - s), as if each output "
        "depended on its own logit only. Softmax couples every output to every logit: the "
        "off-diagonal entries -s_i s_j matter, so the chain rule needs the whole Jacobian "
        "(or the vector-Jacobian product s * (g - <g, s>)).",
    ),
    "sign": (
        "Sign flipped",
        "Your result is the correct answer with the opposite sign. Check the order of a "
        "subtraction (for example s - y versus y - s).",
    ),
    "missing_batch_mean": (
        "Missing 1/N",
        "The loss is the MEAN over the batch, so its gradient carries a factor 1/N. Your "
        "result is N times too large: you summed instead of averaging.",
    ),
    "missing_one_hot": (
        "Forgot the one-hot target",
        "The gradient of softmax + cross-entropy is (softmax(z) - one_hot(y)) / N, and the "
        "loss only looks at the probability of the true class. Your answer leaves out the "
        "one-hot target.",
    ),
    "bias_wrong_axis": (
        "Bias on the wrong axis",
        "The bias b has one entry per output unit, shape (H,). It is added to every row, so "
        "its gradient sums dZ over the batch axis: db = dZ.sum(axis=0).",
    ),
    "mutates_input": (
        "Changed an input in place",
        "Your function modified one of its input arrays (for example with -=, /= or out=). "
        "The caller still needs them: work on new arrays, or copy first.",
    ),
    "uses_reference": (
        "Called the course's own solution",
        "Your function calls backprop_lib's reference implementation. The point of the "
        "exercise is to write it yourself with NumPy.",
    ),
    # Codes added with the structural diagnosis (grading/diagnosis.py). They name mistakes
    # the codes above cannot: a term of the formula left out, a wrong count in a division,
    # outputs or operands in the wrong order.
    "missing_term": (
        "A term of the formula is missing",
        "Your result is the correct formula with one of its terms left out. Write the formula "
        "down term by term and check that each one appears in your code.",
    ),
    "wrong_normaliser": (
        "Divided by the wrong number",
        "Your result is the correct one scaled by a wrong factor: you divided by a count "
        "other than the one the formula has (or divided where no division belongs).",
    ),
    "output_order": (
        "Results in the wrong order",
        "Your results are right but returned in a different order than the exercise asks "
        "for. Return them in the order of the signature.",
    ),
    "operand_order": (
        "Operands in the wrong order",
        "A matrix product has its operands in the wrong order. In the row convention a batch "
        "is the rows of A (N, D) and W is (D, H), so the layer is A @ W; W @ A is the column "
        "convention's order z = W a.",
    ),
    "double_softmax": (
        "Softmax applied twice",
        "You applied softmax to something that already is a softmax output. The function "
        "receives probabilities s = softmax(z): use them directly.",
    ),
    "wrong_index": (
        "Picked the wrong entries",
        "Your indexing picks the wrong entries. To take one entry per row, index with two "
        "arrays of the same length: p[np.arange(N), y]; p[:, y] picks an (N, N) block.",
    ),
    "inner_product": (
        "Inner product instead of outer product",
        "You used an inner product (one number) where the outer product (a matrix) belongs. "
        "For a 1-D array s, s.T is s itself, so s @ s.T and np.dot(s, s) are the number "
        "sum_i s_i^2; the outer product s s^T is np.outer(s, s) or s[:, None] * s[None, :].",
    ),
    "forward_difference": (
        "Forward instead of central differences",
        "You used the forward difference (f(x + h) - f(x)) / h, whose error shrinks only like "
        "h. The central difference (f(x + h) - f(x - h)) / (2h) is accurate to about h**2.",
    ),
}


def describe(code):
    """Return ``(title, explanation)`` for a mistake code (a neutral text if unknown)."""
    return MISTAKES.get(code, (code.replace("_", " ").capitalize(), ""))


@dataclass(frozen=True)
class WrongVariant:
    """A realistic wrong implementation of an exercise.

    Attributes
    ----------
    name : str
        Short name for tests and maintainers, e.g. ``"no_max_shift"``.
    code : str or None
        The mistake code reported when the learner's answer matches this
        variant, or None for a mistake without a code (only the sentence is shown).
    sentence : str
        What the learner most likely did, in their terms.
    compute : callable
        Takes the same arguments as the learner's function and returns the
        wrong output in the same structure as the reference. It may raise
        (for example on shapes where the mistake cannot happen); the
        variant is then skipped.
    """

    name: str
    code: str | None
    sentence: str
    compute: Callable

    def __post_init__(self):
        if self.code is not None and self.code not in MISTAKES:
            raise ValueError(f"unknown mistake code {self.code!r}")


@dataclass(frozen=True)
class Finding:
    """A mistake found in one answer: a code (or None) and a sentence for the learner.

    The diagnosis stages (wrong variants, transforms of the right answer, the
    decomposition on the formula's terms, the analysis of a shape error) each
    return findings; :mod:`~backprop_lib.grading.diagnosis` merges them.

    Attributes
    ----------
    code : str or None
        A code of :data:`MISTAKES`, or None for a finding shown only as a sentence.
    sentence : str
        What the learner most likely did, with the numbers of the case.
    outputs : tuple of int
        Which outputs (for functions returning several arrays) the finding explains;
        empty when it is about the answer as a whole.
    weak : bool
        True for an observation that does not explain the answer ("your result is the
        correct one times 0.37"): the diagnosis keeps looking for a cause.
    """

    code: str | None
    sentence: str
    outputs: tuple = ()
    weak: bool = False

    def __post_init__(self):
        if self.code is not None and self.code not in MISTAKES:
            raise ValueError(f"unknown mistake code {self.code!r}")
