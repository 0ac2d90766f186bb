"""Exercises of notebook 06 (Dense-layer backprop): ``dW_column_shape``, ``dz_dW_shape``,
``dense_backward``, ``numerical_gradient``, ``gradcheck_float32`` and ``last_layer_grad``.

Everything about each exercise lives here: public cases, hidden-case generator,
reference, named wrong variants and hints (see CONTRIBUTING.md, "Adding an exercise").
"""

from __future__ import annotations

import numpy as np

from ..cases import (
    Case,
    as_float64,
    describe_array,
    labels,
    random_size,
    with_layout,
)
from ..decomposition import Term
from ..mistakes import WrongVariant
from ..numeric import NumericExercise
from ..plain_data import source_function
from ..probes import probe
from ..questions import Question
from ..registry import register
from ..wrong_implementations import (
    naive_softmax,
    one_hot_float64,
    softmax_axis0,
    softmax_ce_terms,
    stable_softmax,
)

_F64, _F32 = np.float64, np.float32


# The exercises in the order notebook 06 asks them: two shape questions, dense_backward,
# numerical_gradient, gradcheck_float32, last_layer_grad.


register(Question(
    id="dW_column_shape", notebook=6, title="Shape of dC/dW in the column convention",
    points=1.0,
    prompt="One example in the column convention z = W a + b: the input a has D = 64 entries "
           "and the layer produces K = 10 logits z. What is the shape of dC/dW, the gradient "
           "of the scalar cost C with respect to the weight matrix W?",
    answer_kind="shape",
    answer_hash="0c3145afb3db3c82088c237b765c9cf374843d0e020f15a09fd2d62ee0d96d80",
    explanation="In z = W a the matrix W meets the column a from the left, so it has one row "
                "per logit and one column per input: K rows, D columns. C is one number, so "
                "there is one dC/dW_ij per weight, and the gradient has W's shape. It is the "
                "outer product dz a^T of a K-column and a D-row.",
    wrong_feedback={
        "fd7337e47cec77733755efa3128ca0fac94d91fb41a5abc3174364596a7d28de":
            "That is W's shape in the row convention Z = A W + b. In z = W a + b, W has one "
            "ROW per output.",
        "9e7b3edd84548e050df0f430384de6b3d03d2f547297faf84be8aa13dfa9ca98":
            "That is the shape of z (and of dC/dz). W has an entry for every pair (output, "
            "input).",
        "0260b5f3f30d7690ab6d5e7c7dce3a68cfe456ee7ad37746574a2536443a1624":
            "That is the shape of the input a. W has an entry for every pair (output, input).",
        "d0fa6b7e135e985227925c6f61b17e850b3de924d1ddcd415a449104c1b9cf99":
            "K by K is the softmax Jacobian ds/dz. The question is about W.",
    },
    hints=(
        "The cost is one number: there is one partial derivative per weight, so the gradient "
        "has the shape of W.",
        "In z = W a, the matrix product needs W's number of columns to equal a's length.",
        "W maps D inputs to K outputs: rows follow the outputs, columns the inputs.",
    ),
))


register(Question(
    id="dz_dW_shape", notebook=6, title="Shape of the Jacobian dz/dW", points=1.0,
    prompt="Same layer, one example: z = W a + b with K = 10 logits and D = 64 inputs. Written "
           "as a matrix, with one row per logit z_m and one column per weight W_ij (W "
           "flattened), what is the shape of the Jacobian dz/dW?",
    answer_kind="shape",
    answer_hash="83325073ffd73af82b312d27949ecacc2862ccc2d1d16b9135786030de9a91e4",
    explanation="Every one of the K logits has a derivative with respect to every one of the "
                "K*D weights: a K-by-(K*D) matrix, 6400 numbers here. Only K*D of them are "
                "nonzero, because dz_m/dW_ij = delta_mi a_j: logit m depends on row m of W "
                "only. Backpropagation never builds this matrix; the delta collapses the sum "
                "to the outer product dz a^T.",
    wrong_feedback={
        "93b12498cbc9a44a32bae0777392b96ca2d0753bb192ae2c4dfe64c6ad8005c8":
            "That is the shape of W, and of dC/dW: the derivative of ONE number with respect "
            "to W. z has K entries, and each has its own table of derivatives.",
        "812e788ce70c798eb1607f3877e609c185754c8011bfa27627c12fde314e3c33":
            "Right numbers, as a 3-index array dz_m/dW_ij. The question asks for the matrix "
            "form: flatten the two indices of W into one column index.",
        "90236482af5ac3d37430624db81a26183a86d23741cc6a4f02f00ae059a59ae9":
            "A Jacobian has one row per OUTPUT (numerator layout, notebook 01).",
        "c42e17f2f307218aa1d29e85d1aa2402aa06419e7dc050f91adc48427928b922":
            "K by K is the softmax Jacobian ds/dz. Here the inputs are the weights.",
    },
    hints=(
        "A Jacobian has one row per output and one column per input. What are the outputs "
        "here, and what are the inputs?",
        "The outputs are the K logits; the inputs are all the entries of W.",
        "How many entries does W have in the column convention?",
    ),
))


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


def _dense_backward_probes():
    rng = np.random.default_rng(60)

    def readable(*shape):
        return np.round(rng.uniform(-2.0, 2.0, size=shape), 1) + 0.01 * np.arange(shape[-1])

    return [probe((readable(4, 4), readable(4, 4), readable(4, 4)),
                  "dZ, A, W of shape (4, 4): every dimension equal"),
            probe((readable(2, 4), readable(2, 3), readable(3, 4)),
                  "dZ (2, 4), A (2, 3), W (3, 4)"),
            probe((readable(5, 2), readable(5, 3), readable(3, 2)),
                  "dZ (5, 2), A (5, 3), W (3, 2)")]


def _f(x):
    return as_float64(x)


# dA = dZ @ W.T, dW = A.T @ dZ, db = sum_n dZ (coefficient 1 each), and likely mistakes.
_DENSE_BACKWARD_TERMS = (
    Term("dZ_Wt", "dA term dZ @ W.T", lambda dZ, A, W: _f(dZ) @ _f(W).T, "1", output="dA"),
    Term("dZ_W", "product dZ @ W", lambda dZ, A, W: _f(dZ) @ _f(W), code="transposed",
         sentence="Your dA uses W instead of W^T: dA_nd = sum_h dZ_nh W_dh, which is dZ @ W.T.",
         replaces="dZ_Wt", output="dA"),
    Term("W_dZ", "product W @ dZ", lambda dZ, A, W: _f(W) @ _f(dZ), code="operand_order",
         sentence="Your dA multiplies in the column convention's order (W @ dZ). In the row "
                  "convention dA = dZ @ W.T: (N, H) @ (H, D) -> (N, D).", replaces="dZ_Wt",
         output="dA"),
    Term("At_dZ", "dW term A.T @ dZ", lambda dZ, A, W: _f(A).T @ _f(dZ), "1", output="dW"),
    Term("dZt_A", "product dZ.T @ A", lambda dZ, A, W: _f(dZ).T @ _f(A), code="transposed",
         sentence="Your dW is transposed: dZ^T A has shape (H, D), but dW must have W's shape "
                  "(D, H). Use A.T @ dZ.", replaces="At_dZ", output="dW"),
    Term("A_dZ", "product A @ dZ", lambda dZ, A, W: _f(A) @ _f(dZ), code="transposed",
         sentence="Your dW is A @ dZ: A must be transposed, dW = A.T @ dZ, "
                  "(D, N) @ (N, H) -> (D, H): a sum over the batch.", replaces="At_dZ",
         output="dW"),
    Term("dZ_sum0", "db term dZ.sum(axis=0)", lambda dZ, A, W: _f(dZ).sum(axis=0), "1",
         output="db"),
    Term("dZ_sum1", "dZ summed over axis 1", lambda dZ, A, W: _f(dZ).sum(axis=1),
         code="bias_wrong_axis",
         sentence="You summed dZ over axis=1 (over the units) for db. b is shared by all "
                  "examples, so sum over the batch: dZ.sum(axis=0), shape (H,).",
         replaces="dZ_sum0", output="db"),
)


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
        WrongVariant("db_total", "bias_wrong_axis",
                     "Your db is one number, the sum of every entry of dZ. b has one entry per "
                     "output unit: sum over the batch only, dZ.sum(axis=0), shape (H,).",
                     _dense_backward_variant(db=lambda dZ, A, W: dZ.sum())),
        WrongVariant("db_mean", "wrong_normaliser",
                     "You averaged dZ over the batch for db. The 1/N is already inside dZ "
                     "(it came from the loss), so just sum: dZ.sum(axis=0).",
                     _dense_backward_variant(db=lambda dZ, A, W: dZ.mean(axis=0))),
        WrongVariant("dW_mean", "wrong_normaliser",
                     "You divided dW by N. The 1/N is already inside dZ (it came from the "
                     "mean loss); A.T @ dZ needs no extra factor.",
                     _dense_backward_variant(dW=lambda dZ, A, W: A.T @ dZ / len(A))),
        WrongVariant("all_negated", "sign",
                     "Your gradients have the opposite sign.",
                     lambda dZ, A, W: tuple(-x for x in _dense_backward_reference(dZ, A, W))),
        WrongVariant("order", "output_order",
                     "You returned the gradients in a different order; return (dA, dW, db).",
                     lambda dZ, A, W: (lambda dA, dW, db: (dW, dA, db))(
                         *_dense_backward_reference(dZ, A, W))),
    ),
    probes=_dense_backward_probes, terms=_DENSE_BACKWARD_TERMS,
    dims=lambda dZ, A, W: {"N": np.shape(A)[0], "D": np.shape(A)[1], "H": np.shape(W)[1]},
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
    dims=lambda f, x: {"h": _H},
    tolerance=lambda case: (1e-6, 1e-7),
    restore_tolerance=1e-12,
    variants=(
        WrongVariant("forward", "forward_difference",
                     "You used forward differences (f(x + h) - f(x)) / h. Their error shrinks "
                     "only like h; central differences (f(x + h) - f(x - h)) / (2h) are "
                     "accurate to about h**2.",
                     lambda f, x: _finite_difference(f, x, lambda f, x, i: (
                         _perturbed(f, x, i, _H) - f(x)) / _H)),
        WrongVariant("no_half", "wrong_normaliser",
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


# ---------------------------------------------------------------------------
# After dense_backward and numerical_gradient (above), the notebook asks these.
# ---------------------------------------------------------------------------


register(Question(
    id="gradcheck_float32", notebook=6, title="A gradient check in float32", points=1.0,
    prompt="You check a correct dense layer with central differences and h = 1e-5. In float64 "
           "the relative error of dW is 3e-10. You run the same check with every array in "
           "float32 and get 4e-3. What is the best explanation?",
    answer_kind="choice",
    options={
        "a": "The layer has a bug that only float32 reveals.",
        "b": "The relative-error formula is not valid for float32 arrays.",
        "c": "Round-off: float32 keeps about 7 significant digits, and f(x + h) - f(x - h) "
             "cancels most of them, so the NUMERICAL gradient is inaccurate.",
        "d": "Central differences only work in float64; in float32 use forward differences.",
    },
    answer_hash="3f6bf44195950a5942d7a3e4c5b82356e45cf4484b75371e095ac78824e5250e",
    explanation="The error of a central difference is about h**2 (truncation) plus "
                "eps * |f| / h (round-off). float32 has eps ~ 1.2e-7, so with h = 1e-5 the "
                "round-off term is around 1e-2: the check measures the numerical derivative's "
                "own error. Run gradient checks in float64 (eps ~ 2.2e-16), where a correct "
                "gradient gives 1e-7 or less; in float32 even the best h (about 5e-3) leaves "
                "about 1e-5 to 1e-4.",
    wrong_feedback={
        "24be587a9130c99f07a3e189134a0aed0f0967594f0de429a33210b026736068":
            "The float64 check passed with the same code, so the formulas are right. Ask "
            "how accurate the numerical side can be in float32.",
        "0517ac21ca7a9955e4eed1f8bf0a0e901f9dfa1e8244dfd75aa5696ff4d57008":
            "The formula |a - b| / (|a| + |b|) works in any precision. What limits the "
            "numerical gradient in float32?",
        "9d8f99586528d9a0bd0bb1368f909dcf2abbdcc72c96e5d7ba51baf5b0bb92e7":
            "Forward differences are LESS accurate (error ~ h instead of h**2), and they "
            "suffer the same round-off.",
    },
    hints=(
        "The same code passed in float64. So which of the two gradients is the problem in "
        "float32: the analytic or the numerical one?",
        "Subtracting two nearly equal float32 numbers, f(x + h) and f(x - h), loses most of "
        "their 7 significant digits.",
        "Look at the step-size figure of this notebook: where does the float32 curve bottom "
        "out?",
    ),
))


def _softmax_ce_dZ(A, W, b, y):
    """dL/dZ = (softmax(A W + b) - one_hot(y)) / N, in float64, and A in float64."""
    A = as_float64(A)
    S = stable_softmax(A @ as_float64(W) + as_float64(b))
    return A, (S - one_hot_float64(y, S.shape[1])) / len(S)


def _last_layer_reference(A, W, b, y):
    A, dZ = _softmax_ce_dZ(A, W, b, y)
    return A.T @ dZ, dZ.sum(axis=0)


def _last_layer_from_dZ(A, dZ):
    return as_float64(A).T @ dZ, dZ.sum(axis=0)


def _last_layer_wrong_dZ(make_S, subtract=None, scale=True):
    """A variant whose dZ is built from `make_S(A, W, b)` with a wrong target or no 1/N."""
    def compute(A, W, b, y):
        S = make_S(as_float64(A), as_float64(W), as_float64(b))
        target = one_hot_float64(y, S.shape[1]) if subtract is None else subtract(S, y)
        dZ = S - target
        return _last_layer_from_dZ(A, dZ / len(S) if scale else dZ)
    return compute


def _logits_S(A, W, b):
    return stable_softmax(A @ W + b)


def _last_layer_column_order(A, W, b, y):
    """Logits as z = W a (A @ W.T) and dW = dZ^T A: the column convention's formulas."""
    A64, W64 = as_float64(A), as_float64(W)
    S = stable_softmax(A64 @ W64.T + as_float64(b))
    dZ = (S - one_hot_float64(y, S.shape[1])) / len(S)
    return dZ.T @ A64, dZ.sum(axis=0)


def _last_layer_case(rng, n, d, k, dtype, layout, logit_scale=None, public=False, label=None):
    A = rng.normal(size=(n, d))
    W = rng.normal(size=(d, k)) / np.sqrt(d)
    b = rng.normal(size=k) * 0.5
    if logit_scale is not None:  # logits of roughly +-logit_scale: a naive exp overflows
        W *= logit_scale / max(float(np.abs(A @ W).max()), 1e-12)
    A = with_layout(A.astype(dtype), layout)
    W = with_layout(W.astype(dtype), layout)
    b = b.astype(dtype)
    y = labels(rng, n, k)
    if label is None:
        parts = [describe_array("A", A), describe_array("W", W), f"b ({k},)", f"y ({n},) int"]
        if logit_scale is not None:
            parts.append(f"logits up to about {logit_scale:g}")
        label = ", ".join(parts)
    return Case((A, W, b, y), label, hidden=not public, dtype=dtype)


def _last_layer_public():
    rng = np.random.default_rng(60)
    square = _last_layer_case(rng, 3, 3, 3, _F64, "C", public=True,
                              label="A (3, 3), W (3, 3), b (3,), y (3,): every shape equal")
    A = np.array([[1.0, 2.0], [0.0, -1.0], [0.5, 0.5], [-2.0, 1.0]])
    W = np.array([[0.5, -1.0, 0.0], [1.0, 0.0, -0.5]])
    b = np.array([0.0, 0.1, -0.1])
    y = np.array([0, 2, 1, 2])
    small = Case((A, W, b, y), f"A = {A.tolist()}, W = {W.tolist()}, b = {b.tolist()}, "
                               f"y = {y.tolist()}", hidden=False)
    return [square, small]


def _last_layer_hidden(rng):
    square = random_size(rng, 3, 12)
    recipes = (
        (1, "d", 2, _F64, "C", None),
        ("n", "d", "k", _F32, "F", None),
        ("n", square, square, _F64, "C", None),
        ("n", "d", "k", _F64, "strided", 1e3),
        ("n", "d", "k", _F32, "reversed", 150.0),
        ("n", "d", 50, _F64, "C", None),
    )
    cases = []
    for n, d, k, dtype, layout, scale in recipes:
        n = random_size(rng, 2, 48) if n == "n" else n
        d = random_size(rng, 1, 30) if d == "d" else d
        k = random_size(rng, 3, 20) if k == "k" else k
        cases.append(_last_layer_case(rng, n, d, k, dtype, layout, scale))
    return cases


def _last_layer_probes():
    """A, W, b, y with every dimension equal (5), and twice with N, D, K all different.

    In every probe some class is nobody's label and some label repeats: otherwise "1 in
    every label column" would equal "1 everywhere" or the one-hot target itself.
    """
    rng = np.random.default_rng(61)

    def readable(*shape):
        return np.round(rng.uniform(-1.5, 1.5, size=shape), 1) + 0.01 * np.arange(shape[-1])

    def one(n, d, k, y, label):
        return probe((readable(n, d), readable(d, k), readable(k), np.array(y)), label)

    return [one(5, 5, 5, [3, 0, 1, 1, 4], "A (5, 5), W (5, 5), b (5,), y (5,): every "
                                          "dimension equal"),
            one(6, 4, 5, [1, 4, 0, 4, 1, 3], "A (6, 4), W (4, 5), b (5,), y (6,)"),
            one(3, 5, 6, [5, 0, 5], "A (3, 5), W (5, 6), b (6,), y (3,)")]


def _last_layer_dims(A, W, b, y):
    return {"N": np.shape(A)[0], "D": np.shape(A)[1], "K": np.shape(W)[1]}


def _last_layer_S(A, W, b, softmax=stable_softmax, bias=True):
    """softmax(A @ W + b) (or of A @ W) in float64, with the given softmax."""
    Z = as_float64(A) @ as_float64(W) + (as_float64(b) if bias else 0.0)
    return softmax(Z)


def _last_layer_Y(A, W, y):
    return one_hot_float64(np.asarray(y), np.shape(W)[1])


def _square(x):
    if x.shape[0] != x.shape[1]:
        raise ValueError("this mistake runs only for a square A")
    return x


def _logits_and_labels(A, W, b, y):
    return as_float64(A) @ as_float64(W) + as_float64(b), y


# dW = A^T S / N - A^T Y / N and db = sum_n S / N - sum_n Y / N (S = softmax(A W + b),
# Y one-hot): the softmax + cross-entropy terms of dZ, carried through A.T @ dZ and
# dZ.sum(axis=0), with dZ's likely mistakes (for dW; db has too few entries for them), and
# the mistakes of this exercise's own step.
_LAST_LAYER_TERMS = softmax_ce_terms(
    "1/N", logits_and_labels=_logits_and_labels, output="dW", prefix="dW_",
    wrap=lambda T, A, W, b, y: as_float64(A).T @ T) + (
    Term("At_S_no_bias", "A.T @ softmax(A @ W) (no bias)",
         lambda A, W, b, y: as_float64(A).T @ _last_layer_S(A, W, b, bias=False), output="dW",
         replaces="dW_S",
         sentence="Your logits leave out the bias: they are A @ W + b, and b changes the "
                  "softmax, so it changes dW too."),
    Term("AS", "product A @ S", lambda A, W, b, y: _square(as_float64(A)) @ _last_layer_S(
        A, W, b), code="transposed", output="dW", replaces="dW_S",
         sentence="Your dW multiplies A without transposing it (A @ dZ, which runs only when "
                  "N = D). dW = A.T @ dZ: (D, N) @ (N, K) -> (D, K), a sum over the batch."),
    Term("AY", "product A @ Y", lambda A, W, b, y: _square(as_float64(A)) @ _last_layer_Y(
        A, W, y), code="transposed", output="dW", replaces="dW_Y",
         sentence="Your dW multiplies A without transposing it (A @ dZ, which runs only when "
                  "N = D). dW = A.T @ dZ: (D, N) @ (N, K) -> (D, K), a sum over the batch."),
) + softmax_ce_terms(
    "1/N", logits_and_labels=_logits_and_labels, output="db", prefix="db_", mistakes=False,
    wrap=lambda T, A, W, b, y: T.sum(axis=0))


register(NumericExercise(
    id="last_layer_grad", notebook=6,
    title="Gradient of the last layer: dense + softmax + cross-entropy", points=3.0,
    signature="last_layer_grad(A, W, b, y)", arg_names=("A", "W", "b", "y"),
    output_names=("dW", "db"),
    reference=_last_layer_reference,
    public_cases=_last_layer_public, hidden_cases=_last_layer_hidden,
    probes=_last_layer_probes, terms=_LAST_LAYER_TERMS, dims=_last_layer_dims,
    normaliser="1/N",
    allowed_reference=("one_hot", "softmax"),
    variants=(
        WrongVariant("no_mean", "missing_batch_mean",
                     "Your dW and db are N times too large: dZ = (S - Y) / N, because the loss "
                     "is the MEAN over the batch.",
                     _last_layer_wrong_dZ(_logits_S, scale=False)),
        WrongVariant("dW_transposed", "transposed",
                     "Your dW is dZ^T A, shape (K, D): the column convention's dz a^T. In the "
                     "row convention W has shape (D, K), so dW = A.T @ dZ.",
                     lambda A, W, b, y: (lambda A64, dZ: (dZ.T @ A64, dZ.sum(axis=0)))(
                         *_softmax_ce_dZ(A, W, b, y))),
        WrongVariant("column_convention", None,
                     "You used the column convention's formulas on row-convention arrays: "
                     "logits A @ W.T (z = W a) and dW = dZ^T A. Here Z = A @ W + b with W of "
                     "shape (D, K), and dW = A.T @ dZ.",
                     _last_layer_column_order),
        WrongVariant("db_axis1", "bias_wrong_axis",
                     "You summed dZ over axis=1 (the classes) for db. b is added to every row, "
                     "so its gradient sums over the batch: dZ.sum(axis=0), shape (K,).",
                     lambda A, W, b, y: (lambda A64, dZ: (A64.T @ dZ, dZ.sum(axis=1)))(
                         *_softmax_ce_dZ(A, W, b, y))),
        WrongVariant("db_not_summed", "bias_wrong_axis",
                     "Your db is dZ itself, shape (N, K). b is shared by every example: "
                     "db = dZ.sum(axis=0).",
                     lambda A, W, b, y: (lambda A64, dZ: (A64.T @ dZ, dZ))(
                         *_softmax_ce_dZ(A, W, b, y))),
        WrongVariant("no_one_hot", "missing_one_hot",
                     "You used dZ = softmax / N and forgot to subtract the one-hot target.",
                     _last_layer_wrong_dZ(_logits_S, subtract=lambda S, y: 0.0)),
        WrongVariant("minus_labels", "missing_one_hot",
                     "You subtracted the label VALUES y[n] from every probability of row n. "
                     "Subtract the one-hot target instead: 1 at [n, y[n]], 0 elsewhere.",
                     _last_layer_wrong_dZ(_logits_S, subtract=lambda S, y: np.asarray(
                         y, dtype=float)[:, None])),
        WrongVariant("divided_twice", None,
                     "You divided by N again (dW / N or db = dZ.mean(axis=0)). The 1/N of the "
                     "mean loss is already inside dZ = (S - Y) / N.",
                     lambda A, W, b, y: tuple(g / len(y) for g in _last_layer_reference(
                         A, W, b, y))),
        WrongVariant("negated", "sign",
                     "Your gradients have the opposite sign: dZ = (S - Y) / N, probabilities "
                     "minus targets.",
                     lambda A, W, b, y: tuple(-g for g in _last_layer_reference(A, W, b, y))),
        WrongVariant("no_max_shift", "overflow",
                     "Your softmax has no max shift, so exp overflowed on large logits.",
                     _last_layer_wrong_dZ(lambda A, W, b: naive_softmax(A @ W + b))),
        WrongVariant("softmax_axis0", "wrong_axis",
                     "Your softmax normalises down the columns (over the batch) instead of "
                     "along each row.",
                     _last_layer_wrong_dZ(lambda A, W, b: softmax_axis0(A @ W + b))),
        WrongVariant("no_bias", None,
                     "Your logits leave out the bias: they are A @ W + b, and b changes the "
                     "softmax, so it changes dW too.",
                     _last_layer_wrong_dZ(lambda A, W, b: stable_softmax(A @ W))),
        WrongVariant("order", None,
                     "You returned the gradients in the other order; return (dW, db).",
                     lambda A, W, b, y: _last_layer_reference(A, W, b, y)[::-1]),
    ),
    hints=(
        "Two steps. First dZ = dL/dZ of shape (N, K), as in notebook 04; then the dense-layer "
        "backward pass of this notebook turns dZ into dW and db.",
        "dZ = (S - Y) / N with S = softmax(A @ W + b) and Y the one-hot labels (np.eye(K)[y], "
        "or subtract 1 at [np.arange(N), y]).",
        "dW = A.T @ dZ has the shape of W, (D, K); db = dZ.sum(axis=0) has the shape of b, "
        "(K,).",
        "`S = F.softmax(A @ W + b); S[np.arange(len(y)), y] -= 1; dZ = S / len(y); "
        "return A.T @ dZ, dZ.sum(axis=0)`.",
    ),
))
