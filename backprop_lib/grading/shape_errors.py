"""Explain a NumPy shape error: which operands failed, and which order would fit.

When the learner's code raises ``ValueError: matmul: ... (size 2 is different
from 4)`` the grader knows the shapes of the case's arguments, so it can say
which product raised (``W @ A``, with ``(3, 4) @ (2, 3)``) and which
arrangement of the same two arrays fits (``A @ W``, giving ``(2, 4)``, the
shape of ``Z``). Broadcasting errors such as ``(2, 3)`` against ``(2,)`` get
the ``keepdims`` explanation.

Only the arguments' own shapes are known, not those of the learner's
intermediate arrays, so the explanation is offered only when exactly the
shapes in the message can be matched. An axis that does not exist (``axis=1`` of a
single vector) gets the ``axis=-1`` explanation.
"""

from __future__ import annotations

import itertools
import re

import numpy as np

from .mistakes import Finding

__all__ = ["explain_shape_error"]

_MATMUL = re.compile(r"matmul: Input operand 1 has a mismatch in its core dimension 0.*"
                     r"\(size (\d+) is different from (\d+)\)")
_DOT = re.compile(r"shapes \(([\d, ]+)\) and \(([\d, ]+)\) not aligned")
_BROADCAST = re.compile(r"could not be broadcast together with shapes ((?:\([\d,]*\) ?)+)")
_AXIS = re.compile(r"axis (-?\d+) is out of bounds for array of dimension (\d+)")


def _shape(text):
    return tuple(int(x) for x in text.replace(" ", "").split(",") if x)


def _operands(arg_names, args):
    """``{label: shape}`` for the 2-D array arguments and their transposes."""
    out = {}
    for name, arg in zip(arg_names, args, strict=False):
        if isinstance(arg, np.ndarray) and arg.ndim == 2:
            out[name] = (name, False, arg.shape)
            if arg.shape[0] != arg.shape[1]:
                out[f"{name}.T"] = (name, True, arg.shape[::-1])
    return out


def _label(base, transposed):
    return f"{base}.T" if transposed else base


def _fits(left, right):
    """The product's shape if ``left @ right`` fits, else None."""
    return (left[0], right[1]) if left[1] == right[0] else None


def _arrangements(a, b):
    """Every ``X @ Y`` of arrays `a` and `b` (each possibly transposed), in both orders."""
    for (p, q) in ((a, b), (b, a)):
        for tp, tq in itertools.product((False, True), repeat=2):
            yield p, tp, q, tq


def _shape_of(base_shape, transposed):
    return base_shape[::-1] if transposed else base_shape


def _explain_product(failed_pairs, arg_names, args, wanted, output_names):
    """A Finding for the failed product among `failed_pairs`, or None."""
    shapes = {name: arg.shape for name, arg in zip(arg_names, args, strict=False)
              if isinstance(arg, np.ndarray) and arg.ndim == 2}
    options = []
    for (x_base, x_t), (y_base, y_t) in failed_pairs:
        for p, tp, q, tq in _arrangements(x_base, y_base):
            if (p, tp, q, tq) == (x_base, x_t, y_base, y_t):
                continue
            result = _fits(_shape_of(shapes[p], tp), _shape_of(shapes[q], tq))
            if result is not None and result in wanted:
                options.append(((x_base, x_t), (y_base, y_t), (p, tp), (q, tq), result))
    if not options:
        return None
    # Prefer what a learner most likely wrote (plain names before transposes), then the
    # fix with fewest changes (one transpose, or the two operands swapped).
    def cost(option):
        (xb, xt), (yb, yt), (pb, pt), (qb, qt), _ = option
        swapped = pb != xb
        changes = (int(pt != (yt if swapped else xt)) + int(qt != (xt if swapped else yt)))
        # On a tie, the swap: a product in the column convention's order is the more
        # common mistake than a stray transpose.
        return (int(xt) + int(yt), changes, not swapped)

    (xb, xt), (yb, yt), (pb, pt), (qb, qt), result = min(options, key=cost)
    failed = f"{_label(xb, xt)} @ {_label(yb, yt)}"
    fixed = f"{_label(pb, pt)} @ {_label(qb, qt)}"
    x_shape, y_shape = _shape_of(shapes[xb], xt), _shape_of(shapes[yb], yt)
    out_name = output_names.get(result)
    where = f", the shape of {out_name}" if out_name else ""
    swapped = pb != xb
    code = "operand_order" if swapped else "transposed"
    sentence = (f"The product that failed is probably {failed}: {x_shape} @ {y_shape}, whose "
                f"inner sizes {x_shape[1]} and {y_shape[0]} differ. {fixed} fits: "
                f"{_shape_of(shapes[pb], pt)} @ {_shape_of(shapes[qb], qt)} -> {result}"
                f"{where}.")
    if code == "operand_order":
        sentence += (" In the row convention the batch comes first (A @ W); W @ A is the "
                     "column convention's order.")
    return Finding(code, sentence)


def _matmul_pairs(operands, inner_left, inner_right):
    """Operand pairs (X, Y) for which ``X @ Y`` raises with these inner sizes."""
    pairs = []
    for (xb, xt, xs), (yb, yt, ys) in itertools.product(operands.values(), repeat=2):
        if xb != yb and xs[1] == inner_left and ys[0] == inner_right:
            pairs.append(((xb, xt), (yb, yt)))
    return pairs


def _dot_pairs(operands, left_shape, right_shape):
    pairs = []
    for (xb, xt, xs), (yb, yt, ys) in itertools.product(operands.values(), repeat=2):
        if xb != yb and xs == left_shape and ys == right_shape:
            pairs.append(((xb, xt), (yb, yt)))
    return pairs


def _broadcast_finding(shapes):
    """The keepdims explanation for ``(n, m)`` against ``(n,)``, or None."""
    if len(shapes) != 2:
        return None
    big, small = sorted(shapes, key=len, reverse=True)
    if len(big) >= 2 and len(small) == len(big) - 1 and small == big[:-1] and \
            big[-1] != big[-2]:
        keep = big[:-1] + (1,)
        return Finding("wrong_axis", (
            f"An array of shape {small} cannot line up with one of shape {big}: "
            f"broadcasting matches shapes from the LAST axis. A sum or max over the last axis "
            f"drops that axis; with keepdims=True it has shape {keep} and divides (or "
            "subtracts from) each row as intended."))
    return None


def explain_shape_error(error, arg_names, args, expected_shapes, output_names=None):
    """A Finding explaining a NumPy shape error from the learner's code, or None.

    Parameters
    ----------
    error : str
        The exception summary (``"ValueError: matmul: ..."``).
    arg_names : tuple of str
        Names of the exercise's arguments (``("A", "W", "b")``).
    args : tuple
        The case's arguments.
    expected_shapes : list of tuple
        Shapes of the correct outputs.
    output_names : tuple of str or None
        Names of the outputs (``("dA", "dW", "db")``).

    Returns
    -------
    Finding or None
    """
    first = error.splitlines()[0] if error else ""
    names = dict(zip(expected_shapes, output_names or ("the result",) * len(expected_shapes),
                     strict=False))
    wanted = set(expected_shapes)
    operands = _operands(arg_names, args)
    match = _MATMUL.search(first)
    if match:
        right_first, left_last = int(match.group(1)), int(match.group(2))
        pairs = _matmul_pairs(operands, left_last, right_first)
        return _explain_product(pairs, arg_names, args, wanted, names)
    match = _DOT.search(first)
    if match:
        pairs = _dot_pairs(operands, _shape(match.group(1)), _shape(match.group(2)))
        return _explain_product(pairs, arg_names, args, wanted, names)
    match = _BROADCAST.search(first)
    if match:
        shapes = [_shape(s) for s in re.findall(r"\(([\d,]*)\)", match.group(1))]
        return _broadcast_finding(shapes)
    match = _AXIS.search(first)
    if match:
        axis, ndim = int(match.group(1)), int(match.group(2))
        return Finding("wrong_axis", (
            f"Your code asks for axis {axis} of an array with {ndim} dimension(s). The "
            "function must work for a single vector, a batch and more leading axes: count "
            "from the end, axis=-1 is always the last axis (the classes)."))
    return None
