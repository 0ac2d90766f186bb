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

__all__ = ["ConversionProblem", "to_plain", "describe_type"]

_NUMERIC_KINDS = "biufc"


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
