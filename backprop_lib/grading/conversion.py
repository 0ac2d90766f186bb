"""Turn what the learner's function returned into plain arrays.

This runs where the learner's code runs (in the same guarded call, so an
``__array__`` that loops or calls the reference is caught like the function
itself). Its output is plain data only: a list of numeric ndarrays (dtype kind
``b``, ``i``, ``u``, ``f`` or ``c``), one per output of the exercise, or a
:class:`ConversionProblem` saying why the value is not numbers. The grader
decides what an integer, float16 or complex result means; nothing here
compares values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["ConversionProblem", "to_plain", "to_plain_answer", "is_plain_answer",
           "describe_type", "RESULT_LIMIT"]

_NUMERIC_KINDS = "biufc"

#: Largest result (bytes, all outputs together) taken back from the learner's function; every
#: exercise's results are far smaller, and a child process sends it through a pipe.
RESULT_LIMIT = 256 * 2**20


@dataclass
class ConversionProblem:
    """Why a return value could not be turned into arrays of numbers (plain data).

    Attributes
    ----------
    reason : str
        A sentence for the learner, e.g. ``"your function returned None ..."``.
    codes : list of str
        Mistake codes (``"dtype"``, ``"shape"``).
    component : int or None
        Which output (for functions returning several arrays), if one is at fault.
    """

    reason: str
    codes: list = field(default_factory=list)
    component: int | None = None


def describe_type(value):
    """E.g. ``"an array of shape (3, 4)"`` or ``"a dict"``."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    return f"a {type(value).__name__}"


def _one_array(part, name):
    """`part` as a numeric ndarray, or a ConversionProblem."""
    try:
        raw = np.asarray(part)
    except Exception as exc:  # noqa: BLE001 - odd objects (a failing __array__, ragged lists)
        return ConversionProblem(f"{name} could not be turned into an array of numbers "
                                 f"({type(exc).__name__}: {exc}).", ["dtype"])
    if raw.nbytes > RESULT_LIMIT:
        return ConversionProblem(f"{name} has shape {raw.shape} ({raw.nbytes / 2**20:.0f} MiB), "
                                 "far larger than any result of this exercise.", ["shape"])
    if raw.dtype.kind in _NUMERIC_KINDS:
        return np.array(raw, copy=True)
    if raw.dtype.kind == "O":
        try:
            return np.asarray(raw.tolist(), dtype=float)
        except (TypeError, ValueError) as exc:
            return ConversionProblem(f"{name} could not be turned into an array of numbers "
                                     f"({type(exc).__name__}: {exc}).", ["dtype"])
    return ConversionProblem(f"{name} holds {raw.dtype.kind!r}-kind data ({raw.dtype}), not "
                             "numbers.", ["dtype"])


def to_plain(value, output_names=None):
    """The learner's return value as plain arrays.

    Parameters
    ----------
    value : object
        What the learner's function returned.
    output_names : tuple of str or None
        For functions returning several arrays, their names (``("dA", "dW", "db")``);
        None for a single result.

    Returns
    -------
    list of ndarray or ConversionProblem
        One numeric array per output, copied (never a view into the learner's objects).
    """
    if value is None:
        return ConversionProblem("your function returned None -- did you forget `return`?")
    if isinstance(value, (str, bytes)):
        return ConversionProblem(f"your function returned text ({value[:40]!r}), not numbers.",
                                 ["dtype"])
    if output_names:
        n = len(output_names)
        if not isinstance(value, (tuple, list)) or len(value) != n:
            return ConversionProblem(f"return the {n} arrays ({', '.join(output_names)}) as a "
                                     f"tuple; got {describe_type(value)}.", ["shape"])
        parts, names = list(value), list(output_names)
    else:
        parts, names = [value], ["your result"]
    arrays = []
    for i, (part, name) in enumerate(zip(parts, names, strict=True)):
        arr = _one_array(part, name)
        if isinstance(arr, ConversionProblem):
            arr.component = i if output_names else None
            return arr
        arrays.append(arr)
    return arrays


# ---------------------------------------------------------------------------
# Answers to question exercises
# ---------------------------------------------------------------------------

_PLAIN_SCALARS = (bool, int, float, str, type(None), type(Ellipsis))
_ANSWER_DEPTH = 4
_ANSWER_ITEMS = 1000
_ANSWER_TEXT = 1000


def is_plain_answer(value, depth=0):
    """True if `value` is already plain data that no learner code can hide behind.

    Exact built-in types only (a subclass could run code when it is read): a
    scalar, a string, None or ``...``, a numeric ndarray, or a short tuple/list
    of those.
    """
    if type(value) in _PLAIN_SCALARS:
        return True
    if type(value) is np.ndarray:
        return value.dtype.kind in _NUMERIC_KINDS and value.size <= _ANSWER_ITEMS
    if type(value) in (tuple, list) and depth < _ANSWER_DEPTH and len(value) <= _ANSWER_ITEMS:
        return all(is_plain_answer(v, depth + 1) for v in value)
    return False


def to_plain_answer(value, depth=0):
    """A question's answer as plain data, or a ConversionProblem.

    This runs where the learner's code runs (it may call the learner's
    ``__index__``, ``__float__``, ``__array__``, ``__iter__``). The result is
    built from ``None``, ``...``, bool, int, float, str (cut to 1000
    characters), numeric ndarrays, and tuples/lists of those.
    """
    if type(value) in _PLAIN_SCALARS:
        return value[:_ANSWER_TEXT] if type(value) is str else value
    if isinstance(value, np.generic) and value.dtype.kind in _NUMERIC_KINDS:
        return value.item()
    if isinstance(value, (bool, int, float, str)):  # subclasses: their plain value
        base = next(t for t in (bool, int, float, str) if isinstance(value, t))
        return to_plain_answer(base(value), depth)
    if isinstance(value, (tuple, list)) and depth < _ANSWER_DEPTH:
        items = list(value)[:_ANSWER_ITEMS + 1]
        if len(items) > _ANSWER_ITEMS:
            return ConversionProblem("your answer is a very long sequence, not a short value.")
        plain = [to_plain_answer(v, depth + 1) for v in items]
        problem = next((p for p in plain if isinstance(p, ConversionProblem)), None)
        if problem is not None:
            return problem
        return tuple(plain) if isinstance(value, tuple) else plain
    arr = _one_array(value, "your answer")
    if isinstance(arr, ConversionProblem):
        return arr
    if arr.size > _ANSWER_ITEMS:
        return ConversionProblem(f"your answer is an array of shape {arr.shape}, not a short "
                                 "value.")
    return arr
