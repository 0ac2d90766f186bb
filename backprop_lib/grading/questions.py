"""Question exercises: shapes to predict, multiple choice, short numbers.

The learner passes a value, not a function::

    check("shape_of_dW", (64, 10))
    check("why_elementwise_fails", "c")
    show_question("why_elementwise_fails")     # prints the prompt and the options

Answers are never stored in plain text. An answer is first *normalised*
(:func:`normalise`), then hashed with SHA-256 together with a per-question salt
(:func:`answer_hash`); the registry holds only that hash.

What counts as the same answer
    shape
        ``(64, 10)``, ``[64, 10]``, ``np.array([64, 10])``, ``"64, 10"``,
        ``"(64,10)"``, ``"64x10"``; a single int ``5`` means ``(5,)``; ``()`` is a
        scalar.
    choice
        One letter, case and surrounding spaces, brackets and dots ignored:
        ``"c"``, ``" C "``, ``"(c)"``, ``"c."``.
    number
        Any int/float (or numeric string); compared after rounding to 6 decimals.

Answers may also be a function returning the answer: a stub raising
NotImplementedError, or the values ``None`` / ``...``, count as "not attempted",
so a student notebook runs through before the learner has answered.

Adding a question (notebook authors)
    1. Compute the hash of the correct answer in a terminal (it is printed,
       nothing is stored)::

           python -m backprop_lib.grading hash my_question_id shape "(3, 4)"

    2. Append a ``register(Question(...))`` block at the end of this file,
       following the ones below: id, notebook, title, points, at least three
       hints, prompt, ``answer_kind``, ``answer_hash``, an explanation shown
       after a pass, the options for multiple choice, and optionally feedback for
       likely wrong answers keyed by *their* hashes (computed the same way).
    3. ``tests/test_grading_questions.py`` checks every registered question's
       data; run it.
"""

from __future__ import annotations

import hashlib
import html
import numbers
import re
from dataclasses import dataclass, field

import numpy as np

from .feedback import CheckResult
from .registry import Exercise, close_matches, get_exercise, register
from .runner import guarded_call

__all__ = ["Question", "normalise", "answer_hash", "show_question", "ANSWER_KINDS"]

ANSWER_KINDS = ("shape", "choice", "number")
_SALT = "backprop-course-v1"
_NOT_ANSWERED = (None, Ellipsis)


class AnswerFormatError(ValueError):
    """The answer cannot be read as the kind of answer the question wants."""


# ---------------------------------------------------------------------------
# Normalisation and hashing
# ---------------------------------------------------------------------------


def _normalise_shape(value):
    if isinstance(value, str):
        text = value.strip().strip("()[] ").replace("\u00d7", "x")
        parts = [p for p in re.split(r"[,x*\s]+", text.lower()) if p]
        if not all(re.fullmatch(r"\d+", p) for p in parts):
            raise AnswerFormatError(f"could not read {value!r} as a shape; write it like (64, 10)")
        dims = [int(p) for p in parts]
    elif isinstance(value, numbers.Integral) and not isinstance(value, bool):
        dims = [int(value)]
    else:
        try:
            arr = np.asarray(value)
        except Exception as exc:  # noqa: BLE001 - odd objects
            raise AnswerFormatError(f"could not read a shape from {type(value).__name__}") from exc
        if arr.ndim > 1 or arr.dtype.kind == "f" and arr.size > 4:
            raise AnswerFormatError("that looks like an array, not a shape; pass its .shape, "
                                    "a tuple like (64, 10)")
        if arr.ndim > 1 or arr.dtype.kind not in "iu" and arr.size:
            raise AnswerFormatError("a shape is a tuple of whole numbers, like (64, 10)")
        dims = [int(d) for d in arr.reshape(-1)]
    if any(d < 0 for d in dims):
        raise AnswerFormatError("shape entries cannot be negative")
    return "shape:" + ",".join(str(d) for d in dims)


def _normalise_choice(value):
    if not isinstance(value, str):
        raise AnswerFormatError("answer with the letter of one option, as a string like \"c\"")
    letter = value.strip().strip("().:[] ").lower()
    if not re.fullmatch(r"[a-z]", letter):
        raise AnswerFormatError(f"answer with a single letter, like \"c\" (got {value!r})")
    return "choice:" + letter


def _normalise_number(value):
    try:
        x = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError) as exc:
        raise AnswerFormatError(f"could not read {value!r} as a number") from exc
    if not np.isfinite(x):
        raise AnswerFormatError("the answer is a finite number")
    x = round(x, 6) + 0.0  # + 0.0 turns -0.0 into 0.0
    return f"number:{x:.6g}"


_NORMALISERS = {"shape": _normalise_shape, "choice": _normalise_choice,
                "number": _normalise_number}


def normalise(kind, value):
    """Canonical text of an answer of `kind` (see the module docstring).

    Raises
    ------
    AnswerFormatError
        If `value` cannot be read as that kind of answer.
    """
    if kind not in _NORMALISERS:
        raise ValueError(f"answer kind must be one of {ANSWER_KINDS}, got {kind!r}")
    return _NORMALISERS[kind](value)


def answer_hash(question_id, kind, value):
    """SHA-256 hex digest of the normalised answer, salted with the question id."""
    text = f"{_SALT}\x00{question_id}\x00{normalise(kind, value)}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------
# The exercise
# ---------------------------------------------------------------------------


@dataclass
class Question(Exercise):
    """A question whose answer is a value, stored as a salted hash.

    Attributes
    ----------
    prompt : str
        The question, as ``show_question`` prints it.
    answer_kind : str
        ``"shape"``, ``"choice"`` or ``"number"``.
    answer_hash : str
        :func:`answer_hash` of the correct answer.
    explanation : str
        Shown after a pass: why the answer is right.
    options : dict
        For ``"choice"``: letter -> option text, in display order.
    wrong_feedback : dict
        Hash of a likely wrong answer -> what that answer suggests.
    """

    prompt: str = ""
    answer_kind: str = "shape"
    answer_hash: str = ""
    explanation: str = ""
    options: dict = field(default_factory=dict)
    wrong_feedback: dict = field(default_factory=dict)

    kind = "question"

    def grade(self, answer, *, timeout=None, seed=None):
        """Compare the learner's answer with the stored hash."""
        base = dict(exercise_id=self.id, points=self.points, title=self.title,
                    hint_call=f'hint("{self.id}")')
        answer, early = self._resolve(answer, timeout, base)
        if early is not None:
            return early
        try:
            given = answer_hash(self.id, self.answer_kind, answer)
            if self.answer_kind == "choice" and self.options:
                letter = normalise("choice", answer).split(":")[1]
                if letter not in self.options:
                    raise AnswerFormatError(
                        f"choose one of {', '.join(self.options)} (got {letter!r})")
        except AnswerFormatError as exc:
            return CheckResult(status="failed", passed=False, score=0.0,
                               message=f"Your answer could not be read: {exc}.", **base)
        if given == self.answer_hash:
            return CheckResult(status="passed", passed=True, score=self.points,
                               message="Correct.", explanation=self.explanation, **base)
        return self._wrong(answer, given, base)

    def _resolve(self, answer, timeout, base):
        """Call a function answer; map stubs and placeholders to "not attempted"."""
        not_attempted = CheckResult(status="not attempted", passed=False, score=0.0, message=(
            "Not attempted yet: replace the placeholder with your answer and run the cell "
            "again."), **base)
        if callable(answer):
            outcome = guarded_call(answer, timeout=timeout)
            if outcome.kind == "not_implemented":
                return None, not_attempted
            if outcome.kind != "ok":
                return None, CheckResult(status="timeout" if outcome.kind == "timeout"
                                         else "error", passed=False, score=0.0,
                                         error=outcome.error,
                                         message="Your answer function did not return an "
                                                 "answer.", **base)
            answer = outcome.value
        if any(answer is placeholder for placeholder in _NOT_ANSWERED):
            return None, not_attempted
        return answer, None

    def _wrong(self, answer, given, base):
        codes, sentences = [], []
        if self.answer_kind == "shape":
            codes.append("shape")
            text = normalise("shape", answer)
            dims = text.split(":")[1].split(",")
            if len(dims) > 1 and answer_hash(self.id, "shape", ",".join(dims[::-1])) \
                    == self.answer_hash:
                codes.insert(0, "transposed")
                sentences.append(("Transposed", "You have the right numbers in the opposite "
                                  "order: check which axis is which."))
        specific = self.wrong_feedback.get(given)
        if specific:
            sentences.append(("About your answer", specific))
        return CheckResult(status="failed", passed=False, score=0.0, diagnosis=codes,
                           explanations=sentences,
                           message="Not quite. Think it through again, or ask for a hint.",
                           **base)


# ---------------------------------------------------------------------------
# Showing a question
# ---------------------------------------------------------------------------


@dataclass
class QuestionView:
    """A question's prompt and options; HTML in Jupyter, text elsewhere."""

    question: Question

    def __str__(self):
        q = self.question
        lines = [f"Question {q.id!r} ({q.points:g} point{'s' if q.points != 1 else ''}):",
                 q.prompt]
        lines += [f"  ({letter}) {text}" for letter, text in q.options.items()]
        lines.append(f"Answer with check({q.id!r}, your_answer), {self._example()}.")
        return "\n".join(lines)

    __repr__ = __str__

    def _example(self):
        return {"shape": "where your_answer is a shape tuple such as (3, 5) or (3,)",
                "choice": 'where your_answer is the letter of one option, such as "a"',
                "number": "where your_answer is a number"}[self.question.answer_kind]

    def _repr_html_(self):
        q = self.question
        items = "".join(f"<li><b>({html.escape(k)})</b> {html.escape(v)}</li>"
                        for k, v in q.options.items())
        options = f'<ul style="list-style:none;padding-left:8px">{items}</ul>' if items else ""
        return ('<div class="backprop-question" style="border-left:6px solid #7b1fa2;'
                'background:#f6ebf9;padding:8px 12px;margin:4px 0;'
                'font-family:sans-serif;color:#202124">'
                f"<b>Question</b> <code>{html.escape(q.id)}</code> "
                f"({q.points:g} point{'s' if q.points != 1 else ''})"
                f"<div>{html.escape(q.prompt)}</div>{options}"
                f"<div>Answer with <code>{html.escape(f'check({q.id!r}, your_answer)')}"
                f"</code>, {html.escape(self._example())}.</div></div>")


def show_question(question_id):
    """The prompt (and options) of a question exercise, for display in a notebook."""
    exercise = get_exercise(question_id)
    if not isinstance(exercise, Question):
        matches = [m for m in close_matches(question_id) if isinstance(get_exercise(m), Question)]
        also = f" Did you mean {', '.join(map(repr, matches))}?" if matches else ""
        raise KeyError(f"There is no question called {question_id!r}.{also}")
    return QuestionView(exercise)


# ---------------------------------------------------------------------------
# The questions. Append new ones at the end, following this pattern.
# ---------------------------------------------------------------------------

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
                "raised: labels of shape (N,) minus predictions of shape (N, 1) silently give "
                "an N-by-N table of every pair, and a mean over it is a wrong loss.",
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
    id="jacobian_shape", notebook=3, title="Shape of the softmax Jacobian", points=1.0,
    prompt="Softmax over K = 5 classes maps 5 logits z to 5 probabilities s. What is the "
           "shape of its Jacobian ds/dz for one example?",
    answer_kind="shape",
    answer_hash="b0f6ba427a84ce519996f87ae4a0d481cc712f485a8a92544c4a1c67175b7050",
    explanation="There is one partial derivative ds_i/dz_j for every pair (i, j): K rows "
                "(outputs) by K columns (logits). Each probability depends on every logit, so "
                "the off-diagonal entries are not zero.",
    wrong_feedback={
        "e5f6f788f1618a13ab95db41f041da1beacb02d313120a083ebe353c63a7e253":
            "That is the shape of s (or z). The Jacobian holds the derivative of EVERY "
            "output with respect to EVERY input.",
    },
    hints=(
        "A Jacobian has one row per output and one column per input.",
        "How many outputs s_i, and how many inputs z_j?",
        "Count the pairs (i, j).",
    ),
))

register(Question(
    id="jacobian_row_sum", notebook=3, title="Rows of the softmax Jacobian", points=1.0,
    prompt="Whatever the logits, what does each row of the softmax Jacobian, "
           "J[i, :] = (ds_i/dz_j for every class j), add up to? Answer with a number.",
    answer_kind="number",
    answer_hash="d90765947492d301e1055be463436b68d538b83f7b9c6d45fe339389595cd7a4",
    explanation="Adding the same constant c to every logit does not change softmax, so moving "
                "all logits together changes no s_i, and a row sum is exactly that directional "
                "derivative. In formulas: s_i (1 - s_i) + sum over j != i of (-s_i s_j) "
                "= s_i (1 - sum_j s_j), and the probabilities add up to one.",
    wrong_feedback={
        "65a360bdd33cc53c64ab458dbc1def70caa747a5ede09b3a0a94909b66fcfe81":
            "The probabilities s sum to 1. The question is about their DERIVATIVES.",
    },
    hints=(
        "What happens to softmax(z) if you add the same number c to every logit?",
        "A row sum is the derivative of s_i when every z_j moves by the same small amount.",
        "Write it out: s_i (1 - s_i) - sum over j != i of s_i s_j.",
    ),
))

register(Question(
    id="why_elementwise_fails", notebook=4, title="Why element-wise fails for softmax",
    points=1.0,
    prompt="With sigmoid, dL/dz = dL/ds * s * (1 - s) (element-wise) is correct. Why does the "
           "same element-wise formula give wrong gradients for softmax?",
    answer_kind="choice",
    options={
        "a": "The element-wise product of dL/ds and s * (1 - s) has the wrong shape.",
        "b": "Softmax is not differentiable where two logits are equal.",
        "c": "Softmax's Jacobian has non-zero off-diagonal entries, so each logit's gradient "
             "collects contributions from every output.",
        "d": "The cross-entropy loss has to be averaged over the batch before the chain rule.",
    },
    answer_hash="779784c18174286789763ad674f8f66c8f1a9ed26c483fda9af434e50af59a03",
    explanation="The chain rule sums over every path: dL/dz_j = sum_i dL/ds_i * ds_i/dz_j. For "
                "sigmoid ds_i/dz_j = 0 when i != j, so only the diagonal survives and the "
                "element-wise product is exact. For softmax ds_i/dz_j = -s_i s_j != 0, and "
                "dropping those terms gives a wrong gradient with the right shape.",
    wrong_feedback={
        "e50dc3aefbd0b7f275d997ef82c57439db994aaee5a518d030e213051e11ca94":
            "The shapes match: (K,) times (K,) is (K,). That is exactly why this bug is "
            "silent. The values are wrong, not the shape.",
        "f12b8e2767c84427b4b9465a326ef714083da1fc421f24819041dd82e2ae70e1":
            "Softmax is smooth everywhere, equal logits included.",
        "4d05fc5a7e20428177e75e6ed73d6fbc03f4599c9980f6b8e1a5b2ca65803e98":
            "The batch mean only scales the gradient by 1/N; it does not explain wrong "
            "directions for a single example.",
    },
    hints=(
        "Write the chain rule with indices: dL/dz_j = sum_i dL/ds_i * ds_i/dz_j.",
        "Which terms of that sum does the element-wise formula keep?",
        "For sigmoid, is ds_i/dz_j zero when i != j? And for softmax?",
    ),
))

register(Question(
    id="dL_ds_shape", notebook=4, title="Shape of dL/ds", points=1.0,
    prompt="For ONE example with K = 4 classes, what is the shape of dL/ds, the gradient of "
           "the scalar loss L with respect to the softmax output s?",
    answer_kind="shape",
    answer_hash="39d1c7760f660a68c2ccdfb5ee1ef70826c3ac0be27d7e36c095263e6f4e5c23",
    explanation="L is a scalar, so there is one partial derivative dL/ds_i per entry of s: "
                "the gradient has the shape of s. The K-by-K matrix is the softmax Jacobian "
                "ds/dz; the chain rule combines the two as a vector-Jacobian product, which "
                "gives dL/dz, again one entry per class.",
    wrong_feedback={
        "1e19da8592878193e630e534a03f1991165d6fcb3eaddf81f1c79679e0826e6e":
            "(4, 4) is the shape of the Jacobian ds/dz. dL/ds is the gradient of one number "
            "with respect to s.",
        "e2f6e7770e58aa3e97ad6e16feb8bf0b8e20cea7ee560703f1a6229050ad5667":
            "L is the scalar; its gradient with respect to s has one entry per entry of s.",
    },
    hints=(
        "The gradient of a scalar with respect to a vector has the vector's shape.",
        "How many entries does s have?",
        "One partial derivative dL/ds_i for each class i.",
    ),
))


register(Question(
    id="softmax_shift", notebook=2, title="What changes softmax?", points=1.0,
    prompt="Which ONE of these operations on the logits z changes the output of softmax(z)?",
    answer_kind="choice",
    options={
        "a": "Adding 5 to every logit.",
        "b": "Multiplying every logit by 5.",
        "c": "Subtracting max(z) from every logit.",
        "d": "None of them: softmax only depends on the order of the logits.",
    },
    answer_hash="67ef2f8324b01abc1e9b418cc1511e7e552eeade0655d1ffd07a2beeab5c63f8",
    explanation="Adding a constant c multiplies the numerator and every term of the "
                "denominator by e^c, which cancels: softmax is shift invariant, and subtracting "
                "max(z) is such a shift. Multiplying by 5 multiplies every difference z_i - z_j "
                "by 5 and sharpens the distribution: it is a temperature T = 1/5.",
    wrong_feedback={
        "069818fbe7475db32a2934cd4d961c9958c10870264316ec579ecb6e113053b8":
            "e^(z_k + 5) = e^5 e^(z_k); the factor e^5 appears in every term and cancels.",
        "c6a02d21e3b6dc57892a5d5488282101f60316647ce39999b97c98d27be3a1ba":
            "Subtracting max(z) is a shift by the constant c = -max(z), which is exactly why "
            "the numerically stable softmax gives the same answer as the formula.",
        "29b137110bbb8770820a171f69deb5d96f376b874cece174c812125c614781ae":
            "Compare softmax(z) and softmax(5 * z) in a cell: the order is the same, the "
            "probabilities are not.",
    },
    hints=(
        "Write e^(z_k + c) as a product and see what cancels between numerator and "
        "denominator.",
        "Subtracting max(z) is adding the constant c = -max(z).",
        "Softmax depends on the differences z_i - z_j. Which operation changes them?",
    ),
))

register(Question(
    id="softmax_temperature_limit", notebook=2, title="Softmax at low temperature",
    points=1.0,
    prompt="z = (1.0, 3.0, 2.0). As the temperature T decreases towards 0 (from above), "
           "what does softmax(z / T) approach?",
    answer_kind="choice",
    options={
        "a": "(1/3, 1/3, 1/3)",
        "b": "(0, 1, 0)",
        "c": "(0.090, 0.665, 0.245), the same as at T = 1",
        "d": "(0, 0.5, 0.5)",
    },
    answer_hash="1fee52818a71ece65d988579355f9361de84605d89c5d274f149cfaec9341673",
    explanation="Divide numerator and denominator by e^(m/T) with m = max(z) = 3: "
                "s_k = e^((z_k - m)/T) / sum_j e^((z_j - m)/T). Every exponent with z_j < m "
                "goes to minus infinity as T -> 0, so those terms vanish and the class with the "
                "largest logit gets probability 1: the one-hot arg-max (0, 1, 0).",
    wrong_feedback={
        "c30a95eb1c2ada6a1b7b248df0b141a5f0c00ce44ee5168ccb6e95cefd0ab04a":
            "That is the limit of a HIGH temperature, where z / T goes to 0 for every class.",
        "56e7c6dc9b30ca32d1d923d8925b9fad8acc6c68c49ae4ae8663ee446e491405":
            "Dividing by T changes the differences z_i - z_j, so the probabilities change "
            "with T.",
        "86471869a7ec75e6d24d28390a2ac92ec25a55afb00e1a98a3dec2e366015fba":
            "Only TIED maxima share the mass. Here 3.0 is larger than 2.0.",
    },
    hints=(
        "A small T makes the differences (z_i - z_j) / T very large.",
        "Divide the numerator and the denominator by e^(max(z) / T).",
        "What happens to e^(-1/T) as T -> 0?",
    ),
))

register(Question(
    id="logsumexp_equal_logits", notebook=2, title="logsumexp of equal logits", points=1.0,
    prompt="K = 4 logits are all equal to 10. What is logsumexp(z) = log(e^z_1 + ... + e^z_4)? "
           "Answer with a number (6 decimals are compared; you may compute it with np.log).",
    answer_kind="number",
    answer_hash="3f767a3ef7726f206a861115b8f30ff017324657ad59c023eb3621a72862e7c1",
    explanation="With m = max(z) = 10, LSE(z) = m + log(sum_j e^(z_j - m)) = 10 + log(4 e^0) "
                "= 10 + log 4 = 11.386294. Equal logits are the case where LSE is furthest from "
                "the maximum: max(z) <= LSE(z) <= max(z) + log K.",
    wrong_feedback={
        "4e7c7ddb9c2f06c10f14558084b539b641ad4078060cefc19cafe832e375413f":
            "That is max(z). logsumexp is a SMOOTH maximum: it adds log of the sum of "
            "e^(z_j - max), which is not 0 here.",
        "aad5f5bb8c2ac4d88a9cd2042908bd255110530605a336e0d39b576534c53aee":
            "That is logsumexp of four zeros. Shifting every logit by c shifts LSE by c.",
        "390ad4a7064fb521c12b9dc18fbc45a4e79c92928f881d972597544542ddf14c":
            "That is the sum of the logits; logsumexp sums their exponentials, then takes "
            "the log.",
    },
    hints=(
        "Factor e^max(z) out of the sum.",
        "LSE(z) = m + log(sum_j e^(z_j - m)) with m = max(z). What is each e^(z_j - m) here?",
        "Four terms equal to e^0 = 1.",
    ),
))

register(Question(
    id="jacobian_rank", notebook=3, title="Rank of the softmax Jacobian", points=1.0,
    prompt="Softmax over K = 5 classes, at any finite logits. What is the rank of its "
           "Jacobian J = diag(s) - s s^T? Answer with a number.",
    answer_kind="number",
    answer_hash="bf65aabcf66c43a5119b59196face88c3214e30d9bab9605b967659f4c91f67f",
    explanation="J (1, ..., 1) = 0 because adding the same constant to every logit changes "
                "nothing, so one direction is lost and the rank is at most K - 1 = 4. No "
                "other direction is lost (all K - 1 other eigenvalues are positive), so the "
                "rank is exactly 4.",
    wrong_feedback={
        "d490dee209c29a3fde37a2fdb40685dce076a7c5089fac30a1dd1a65ca7e7beb":
            "A full rank of 5 would mean no direction of the logits leaves s unchanged. "
            "What happens when every logit grows by the same amount?",
        "63fed7afcd1bb4298a0beb5e44d692770afdc179a787d5afdf0702a204f7b34f":
            "Only one direction is lost. Which one, and why is it the only one?",
    },
    hints=(
        "Rank = number of columns minus the dimension of the null space.",
        "Is there a vector v with J v = 0? Think of shift invariance.",
        "The all-ones vector is the only such direction (up to scaling).",
    ),
))

register(Question(
    id="logit_grad_sum", notebook=4, title="The gradient with respect to the logits sums to",
    points=1.0,
    prompt="For one example, softmax followed by cross-entropy with a one-hot target: what do "
           "the K entries of dL/dz add up to, for any logits? Answer with a number.",
    answer_kind="number",
    answer_hash="6f40bdf0c1dbce6127fc33bb1fe2c99de58e8c24a3f191f05646838c13c43d32",
    explanation="dL/dz = s - y, and both s and y sum to 1, so the entries sum to 0. More "
                "generally, any vector-Jacobian product through softmax sums to 0, because "
                "J (1, ..., 1) = 0: raising every logit together cannot change the loss.",
    wrong_feedback={
        "06dab11745c7fd81e7667e5af08d4e0fcf7ce7276bb218b3add27589ae6bd8f9":
            "The probabilities s sum to 1, but the gradient is s - y.",
        "e89747f67542e4ecd129f2b6166576ffd197f756c77b1915c74d8e8c79010059":
            "The entry of the true class is s_c - 1, but the other entries are positive.",
    },
    hints=(
        "Write dL/dz in its simplest form.",
        "What does s sum to? And the one-hot y?",
        "Sum of (s - y) = sum of s - sum of y.",
    ),
))
