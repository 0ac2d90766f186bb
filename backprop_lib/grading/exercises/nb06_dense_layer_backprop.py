"""Exercises of notebook 06 (Dense-layer backprop): ``dense_backward`` and
``numerical_gradient``.

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
from ..mistakes import WrongVariant
from ..numeric import NumericExercise
from ..plain_data import source_function
from ..registry import register

_F64, _F32 = np.float64, np.float32


def _dense_backward_reference(dZ, A, W):
    dZ, A, W = as_float64(dZ), as_float64(A), as_float64(W)
    return dZ @ W.T, A.T @ dZ, dZ.sum(axis=0)


def _dense_backward_case(rng, n, d, h, dtype, layout, public=False, label=None):
    dZ = with_layout(rng.normal(size=(n, h)).astype(dtype), layout)
    A = with_layout((rng.normal(size=(n, d)) * 10.0 ** rng.uniform(-2, 2, (n, 1)))
                    .astype(dtype), layout)
    W = with_layout(rng.normal(size=(d, h)).astype(dtype), layout)
    label = label or ", ".join(describe_array(k, v) for k, v in (("dZ", dZ), ("A", A), ("W", W)))
    return Case((dZ, A, W), label, hidden=not public, dtype=dtype)


def _dense_backward_public():
    rng = np.random.default_rng(6)
    return [_dense_backward_case(rng, 3, 3, 3, _F64, "C", True,
                                 "dZ (3, 3), A (3, 3), W (3, 3): every shape equal"),
            _dense_backward_case(rng, 2, 3, 4, _F64, "C", True, "dZ (2, 4), A (2, 3), W (3, 4)")]


def _dense_backward_hidden(rng):
    cases = []
    for n, dtype, layout in ((1, _F64, "C"), ("n", _F32, "F"), ("n", _F64, "strided"),
                             ("n", _F64, "reversed"), ("n", _F32, "C")):
        n = random_size(rng, 2, 64) if n == "n" else n
        cases.append(_dense_backward_case(rng, n, random_size(rng, 1, 40), random_size(rng, 1, 40),
                                          dtype, layout))
    return cases


def _dense_backward_variant(**wrong):
    def compute(dZ, A, W):
        dA, dW, db = _dense_backward_reference(dZ, A, W)
        parts = {"dA": dA, "dW": dW, "db": db}
        parts.update({k: f(as_float64(dZ), as_float64(A), as_float64(W)) for k, f in wrong.items()})
        return parts["dA"], parts["dW"], parts["db"]
    return compute


register(NumericExercise(
    id="dense_backward", notebook=6, title="Dense layer backward pass", points=3.0,
    signature="dense_backward(dZ, A, W)", arg_names=("dZ", "A", "W"),
    output_names=("dA", "dW", "db"),
    reference=_dense_backward_reference,
    public_cases=_dense_backward_public, hidden_cases=_dense_backward_hidden,
    variants=(
        WrongVariant("dW_transposed", "transposed",
                     "Your dW is transposed: dZ^T A has shape (H, D), but dW must have W's "
                     "shape (D, H). Use A.T @ dZ.",
                     _dense_backward_variant(dW=lambda dZ, A, W: dZ.T @ A)),
        WrongVariant("dA_no_transpose", "transposed",
                     "Your dA uses W instead of W^T. dA_nd = sum_h dZ_nh W_dh, which is "
                     "dZ @ W.T.", _dense_backward_variant(dA=lambda dZ, A, W: dZ @ W)),
        WrongVariant("db_axis1", "bias_wrong_axis",
                     "You summed dZ over axis=1 (over the units) for db. b is shared by all "
                     "examples, so sum over the batch: dZ.sum(axis=0), shape (H,).",
                     _dense_backward_variant(db=lambda dZ, A, W: dZ.sum(axis=1))),
        WrongVariant("db_not_summed", "bias_wrong_axis",
                     "Your db is dZ itself, shape (N, H). Each example adds to the gradient of "
                     "the shared bias: db = dZ.sum(axis=0).",
                     _dense_backward_variant(db=lambda dZ, A, W: dZ)),
        WrongVariant("db_mean", None,
                     "You averaged dZ over the batch for db. The 1/N is already inside dZ "
                     "(it came from the loss), so just sum: dZ.sum(axis=0).",
                     _dense_backward_variant(db=lambda dZ, A, W: dZ.mean(axis=0))),
        WrongVariant("dW_mean", None,
                     "You divided dW by N. The 1/N is already inside dZ (it came from the "
                     "mean loss); A.T @ dZ needs no extra factor.",
                     _dense_backward_variant(dW=lambda dZ, A, W: A.T @ dZ / len(A))),
        WrongVariant("all_negated", "sign",
                     "Your gradients have the opposite sign.",
                     lambda dZ, A, W: tuple(-x for x in _dense_backward_reference(dZ, A, W))),
        WrongVariant("order", None,
                     "You returned the gradients in a different order; return (dA, dW, db).",
                     lambda dZ, A, W: (lambda dA, dW, db: (dW, dA, db))(
                         *_dense_backward_reference(dZ, A, W))),
    ),
    hints=(
        "Each gradient has the shape of the thing it is the gradient of: dA like A (N, D), "
        "dW like W (D, H), db like b (H,). Let the shapes guide the products.",
        "Z = A W + b means dZ_nh/dW_dh = A_nd, so dW_dh = sum_n A_nd dZ_nh: a sum over the "
        "batch, which is the matrix product A^T dZ.",
        "In the same way dA_nd = sum_h dZ_nh W_dh = (dZ W^T)_nd, and b is added to every row, "
        "so db_h = sum_n dZ_nh.",
        "`return dZ @ W.T, A.T @ dZ, dZ.sum(axis=0)`.",
    ),
))


# The test functions handed to the learner's numerical_gradient are plain functions built from
# NumPy source text (plain_data.source_function): nothing reachable from them (attributes,
# closure, globals) holds the gradient, so `f.grad` and friends do not exist, and the same text
# can be sent to a child process or the batch autograder's sandbox. Their gradients live only
# in _GRADIENTS below, used by the reference and the wrong variants, which run in the grader.
# The learner's code calls them while reference calls are watched, so they use NumPy only.
def _test_function(text, body, constants=None):
    source = "def f(x):\n    x = np.asarray(x, dtype=np.float64)\n" + "".join(
        f"    {line}\n" for line in body)
    return source_function("f", source, constants, doc=f"f(x) = {text}")


_B = np.array([[1.0, -2.0], [0.5, 0.0], [-1.0, 3.0], [2.0, 1.0]])


def _softmax_rows(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


_SIN = _test_function("sum(sin(x) * x**2)", ["return float((np.sin(x) * x**2).sum())"])
_QUAD = _test_function("0.5 * sum((x @ B)**2) for a fixed (4, 2) matrix B",
                       ["return float(0.5 * ((x @ B) ** 2).sum())"], {"B": _B})
_LSE = _test_function("sum over rows of logsumexp(x)",
                      ["m = x.max(axis=-1, keepdims=True)",
                       "return float((m[..., 0] + np.log(np.exp(x - m).sum(axis=-1))).sum())"])
_CUBE = _test_function("sum(x**3) / 3 + sum(x)", ["return float((x**3).sum() / 3 + x.sum())"])
_FUNCTIONS = (_SIN, _QUAD, _LSE, _CUBE)
_GRADIENTS = {
    _SIN: lambda x: np.cos(x) * x**2 + 2 * x * np.sin(x),
    _QUAD: lambda x: x @ _B @ _B.T,
    _LSE: _softmax_rows,
    _CUBE: lambda x: x**2 + 1,
}


def _gradient(f, x):
    """The true gradient of test function `f` at `x` (in the grader only)."""
    return _GRADIENTS[f](as_float64(x))


def _numgrad_case(f, x, public=False):
    return Case((f, x), f"{f.__doc__}, {describe_array('x', x)}", hidden=not public)


def _numgrad_public():
    sin_f, quad_f = _FUNCTIONS[0], _FUNCTIONS[1]
    return [_numgrad_case(sin_f, np.array([0.5, -1.0, 2.0]), True),
            _numgrad_case(quad_f, np.array([[1.0, 0.5, -0.5, 2.0], [0.0, 1.0, 1.5, -1.0],
                                            [2.0, -1.0, 0.0, 0.5]]), True)]


def _numgrad_hidden(rng):
    sin_f, quad_f, lse_f, cube_f = _FUNCTIONS
    return [
        _numgrad_case(sin_f, rng.uniform(-2, 2, size=1)),
        _numgrad_case(lse_f, rng.normal(0, 2, size=(random_size(rng, 2, 4),
                                                    random_size(rng, 2, 5)))),
        _numgrad_case(quad_f, rng.normal(size=(random_size(rng, 2, 5), 4))),
        _numgrad_case(cube_f, rng.normal(size=(2, 3, 2))),
        _numgrad_case(sin_f, rng.uniform(-2, 2, size=random_size(rng, 5, 20))),
    ]


def _finite_difference(f, x, step):
    """``step(f, x, i)`` per entry, on a float64 copy of x; result shaped like x."""
    x = as_float64(x).copy()
    out = np.empty_like(x)
    for i in np.ndindex(x.shape):
        out[i] = step(f, x, i)
    return out


def _perturbed(f, x, i, delta):
    old = x[i]
    x[i] = old + delta
    try:
        return f(x)
    finally:
        x[i] = old


_H = 1e-5

register(NumericExercise(
    id="numerical_gradient", notebook=6, title="Numerical gradient (central differences)",
    points=2.0, signature="numerical_gradient(f, x, h=1e-5)", arg_names=("f", "x"),
    reference=_gradient,
    public_cases=_numgrad_public, hidden_cases=_numgrad_hidden,
    tolerance=lambda case: (1e-6, 1e-7),
    restore_tolerance=1e-12,
    variants=(
        WrongVariant("forward", None,
                     "You used forward differences (f(x + h) - f(x)) / h. Their error shrinks "
                     "only like h; central differences (f(x + h) - f(x - h)) / (2h) are "
                     "accurate to about h**2.",
                     lambda f, x: _finite_difference(f, x, lambda f, x, i: (
                         _perturbed(f, x, i, _H) - f(x)) / _H)),
        WrongVariant("no_half", None,
                     "You divided f(x + h) - f(x - h) by h; the two points are 2h apart, so "
                     "divide by 2h.",
                     lambda f, x: _finite_difference(f, x, lambda f, x, i: (
                         _perturbed(f, x, i, _H) - _perturbed(f, x, i, -_H)) / _H)),
        WrongVariant("reversed_difference", "sign",
                     "You computed (f(x - h) - f(x + h)) / (2h): the sign is flipped.",
                     lambda f, x: _finite_difference(f, x, lambda f, x, i: (
                         _perturbed(f, x, i, -_H) - _perturbed(f, x, i, _H)) / (2 * _H))),
        WrongVariant("transposed", "transposed",
                     "Your gradient is transposed; it must have the shape of x.",
                     lambda f, x: _gradient(f, x).T),
        WrongVariant("flattened", "shape",
                     "You returned a flat vector; reshape the gradient to x's shape.",
                     lambda f, x: _gradient(f, x).ravel()),
    ),
    hints=(
        "The gradient has the shape of x. Entry i is how fast f changes when you nudge x[i] "
        "alone, keeping every other entry fixed.",
        "Central differences: (f(x + h e_i) - f(x - h e_i)) / (2h), where e_i is 1 at index i "
        "and 0 elsewhere. Loop over every index with np.ndindex(x.shape).",
        "Change x in place and put it back: old = x[i]; x[i] = old + h; fp = f(x); "
        "x[i] = old - h; fm = f(x); x[i] = old. Forgetting the last step corrupts x.",
        "grad = np.zeros_like(x, dtype=float); for i in np.ndindex(x.shape): ... "
        "grad[i] = (fp - fm) / (2 * h); return grad.",
    ),
))
