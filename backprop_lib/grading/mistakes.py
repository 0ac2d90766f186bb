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

__all__ = ["MISTAKES", "WrongVariant", "describe"]

#: code -> (title, general explanation). The codes are part of the public contract.
MISTAKES = {
    "shape": (
        "Wrong shape",
        "Your result does not have the shape the exercise asks for. Print the shape of "
        "every intermediate array to find the step where it goes astray.",
    ),
    "dtype": (
        "Not floating-point numbers",
        "Your result is not an array of floating-point numbers (it holds integers, booleans, "
        "text or objects). Gradients and probabilities are real numbers.",
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
