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
so a student notebook runs through before the learner has answered. A function
answer, or a value that is not plain built-in data (an object whose
``__index__`` or ``__array__`` is the learner's code), is read where the
learner's code runs (:func:`~backprop_lib.grading.runner.run_answer`: a child
process by default), so it cannot hang or end the kernel.

Adding a question (notebook authors)
    1. Compute the hash of the correct answer in a terminal (it is printed,
       nothing is stored)::

           python -m backprop_lib.grading hash my_question_id shape "(3, 4)"

    2. Add a ``register(Question(...))`` block to the notebook's exercise
       module, ``grading/exercises/nbNN_<slug>.py``, following the ones there:
       id, notebook, title, points, at least three hints, prompt,
       ``answer_kind``, ``answer_hash``, an explanation shown after a pass, the
       options for multiple choice, and optionally feedback for likely wrong
       answers keyed by *their* hashes (computed the same way).
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

from .conversion import ConversionProblem, is_plain_answer
from .feedback import CheckResult
from .registry import Exercise, close_matches, get_exercise
from .runner import run_answer

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
        """The answer as plain data; map stubs and placeholders to "not attempted"."""
        not_attempted = CheckResult(status="not attempted", passed=False, score=0.0, message=(
            "Not attempted yet: replace the placeholder with your answer and run the cell "
            "again."), **base)
        if callable(answer) or not is_plain_answer(answer):
            is_function = callable(answer)
            value = answer
            outcome = run_answer(answer if is_function else (lambda: value), timeout=timeout)
            if outcome.kind == "not_implemented":
                return None, not_attempted
            if outcome.kind != "ok":
                what = "Your answer function did not return an answer" if is_function else \
                    "Your answer could not be read"
                return None, CheckResult(status="timeout" if outcome.kind == "timeout"
                                         else "error", passed=False, score=0.0,
                                         error=outcome.error, output=outcome.output,
                                         message=f"{what} ({outcome.error.splitlines()[0]}).",
                                         **base)
            if isinstance(outcome.value, ConversionProblem):
                return None, CheckResult(status="failed", passed=False, score=0.0, message=(
                    f"Your answer could not be read: {outcome.value.reason}"), **base)
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
