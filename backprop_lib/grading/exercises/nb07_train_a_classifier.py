"""Exercises of notebook 07 (Train a classifier): the pieces of a two-layer MLP and its result.

``mlp_forward``, ``mlp_backward``, ``loss_and_grads``, ``sgd_step`` and ``predict_digits``,
in the order the notebook asks them. The network is
``X -> dense(W1, b1) -> ReLU -> dense(W2, b2) -> logits``, with its parameters in a dict
``params = {"W1": (D, H), "b1": (H,), "W2": (H, K), "b2": (K,)}`` and its gradients in a
dict ``grads`` with the same keys and shapes. The learner's functions take and return
dicts; each exercise's ``wrap_answer`` turns the case's plain arrays into those dicts and
the learner's dicts back into a tuple of arrays in the order ``W1, b1, W2, b2``.

``predict_digits`` is scored differently: the learner's ``predict(X)`` labels the held-out
digits of the notebook's split (which it never trained on), and the grader, not the
learner's code, counts how many labels are right (:class:`HeldOutAccuracyExercise`).

Which library functions a learner may call (``allowed_reference``): notebook 07 falls back
to the library's pieces where a learner has not finished an earlier notebook. Its
``dense_forward`` / ``dense_backward`` fallbacks run the library's ``Dense`` layer (entry
points ``__init__``, ``forward``, ``backward``), the loss fallbacks are
``functional.cross_entropy`` / ``cross_entropy_grad``, and ``functional.relu`` and
``softmax`` are ordinary building blocks. Exercises built on those pieces allow them;
``sgd_step`` is the learner's own work and allows nothing.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..cases import Case, as_float64, describe_array, random_size, with_layout
from ..conversion import ConversionProblem
from ..decomposition import Term
from ..mistakes import WrongVariant
from ..numeric import NumericExercise, _Problem
from ..probes import probe
from ..registry import register
from ..wrong_implementations import softmax_ce_terms

_F64, _F32 = np.float64, np.float32

#: The order in which the graded outputs list the parameters (and their gradients).
PARAM_NAMES = ("W1", "b1", "W2", "b2")

#: The held-out split that ``predict_digits`` scores: the test part of
#: ``train_test_split(*load_digits(), test_size=0.25, seed=0)``, as in notebook 07.
DIGITS_SPLIT = {"test_size": 0.25, "seed": 0}
#: Held-out accuracy that passes ``predict_digits``.
MIN_ACCURACY = 0.95

# Library entry points the fallbacks of notebook 07 call (see the module docstring).
_DENSE_FALLBACK = ("__init__", "forward", "backward")
_NETWORK_PIECES = ("one_hot", "relu", *_DENSE_FALLBACK)
_LOSS_PIECES = ("cross_entropy", "cross_entropy_grad", "softmax", "log_softmax")


# ---------------------------------------------------------------------------
# Shared: a reference network, cases, and the dict <-> tuple adapters
# ---------------------------------------------------------------------------


def _forward(X, W1, b1, W2, b2):
    """Reference forward pass in float64: logits (N, K), Z1 (N, H), A1 (N, H)."""
    X, W1, b1, W2, b2 = map(as_float64, (X, W1, b1, W2, b2))
    Z1 = X @ W1 + b1
    A1 = np.maximum(Z1, 0.0)
    return A1 @ W2 + b2, Z1, A1


def _backward(dZ2, X, Z1, A1, W2, *, mask=None, dW=None, db=None, dA=None):
    """Reference backward pass, with optional wrong pieces for the variants.

    Returns ``(dW1, db1, dW2, db2)``. `mask(dA1, Z1)` replaces the ReLU's backward,
    `dW(A, dZ)`, `db(dZ)` and `dA(dZ, W)` the dense layer's formulas.
    """
    dZ2, X, Z1, A1, W2 = map(as_float64, (dZ2, X, Z1, A1, W2))
    dW = dW or (lambda A, dZ: A.T @ dZ)
    db = db or (lambda dZ: dZ.sum(axis=0))
    dA = dA or (lambda dZ, W: dZ @ W.T)
    mask = mask or (lambda dA1, Z1: dA1 * (Z1 > 0))
    dA1 = dA(dZ2, W2)
    dZ1 = mask(dA1, Z1)
    return dW(X, dZ1), db(dZ1), dW(A1, dZ2), db(dZ2)


def _softmax(Z):
    e = np.exp(Z - Z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _params(W1, b1, W2, b2):
    return {"W1": W1, "b1": b1, "W2": W2, "b2": b2}


def _as_grad_tuple(grads, what="mlp_backward"):
    """The learner's grads dict -> (dW1, db1, dW2, db2); a clear error for anything else."""
    if not isinstance(grads, dict):
        raise TypeError(f"{what} must return a dict of gradients with the keys "
                        f"{', '.join(PARAM_NAMES)} (the keys of params); got "
                        f"{type(grads).__name__}")
    missing = [k for k in PARAM_NAMES if k not in grads]
    if missing:
        raise KeyError(f"the grads dict has no entry {', '.join(map(repr, missing))}; use the "
                       f"keys of params ({', '.join(PARAM_NAMES)}); yours are "
                       f"{', '.join(map(repr, grads)) or 'none'}")
    return tuple(grads[k] for k in PARAM_NAMES)


def _network(rng, n, d, h, k, dtype, layout):
    """X and the four parameters of a random network (biases non-zero, so they matter)."""
    X = with_layout((rng.normal(size=(n, d)) * 10.0 ** rng.uniform(-1, 1, (n, 1)))
                    .astype(dtype), layout)
    W1 = with_layout(rng.normal(0.0, np.sqrt(2.0 / d), size=(d, h)).astype(dtype), layout)
    b1 = rng.normal(0.0, 0.5, size=h).astype(dtype)
    W2 = with_layout(rng.normal(0.0, np.sqrt(2.0 / h), size=(h, k)).astype(dtype), layout)
    b2 = rng.normal(0.0, 0.5, size=k).astype(dtype)
    return X, W1, b1, W2, b2


def _shapes_label(X, W1, W2):
    n, d = X.shape
    return f"N = {n}, D = {d}, H = {W1.shape[1]}, K = {W2.shape[1]}"


# Hidden-case recipes shared by the network exercises: (N, D, H, K, dtype, layout);
# "square" makes N = D = H = K, so that a transposed matrix has the right shape.
_NETWORK_RECIPES = (
    (1, "d", "h", "k", _F64, "C"),
    ("n", "d", "h", "k", _F32, "F"),
    ("square", None, None, None, _F64, "C"),
    ("n", "d", "h", 2, _F64, "strided"),
    ("n", "d", "h", "k", _F64, "reversed"),
    ("n", "d", "h", "k", _F32, "C"),
)


def _recipe_sizes(rng, n, d, h, k):
    if n == "square":
        size = random_size(rng, 3, 9)
        return size, size, size, size

    def draw(v, low, high):
        return random_size(rng, low, high) if isinstance(v, str) else v

    return draw(n, 2, 64), draw(d, 1, 30), draw(h, 1, 40), draw(k, 2, 12)


# The diagnosis' probes (see CONTRIBUTING.md, "Declaring the diagnosis"): small networks of
# readable numbers, one with every dimension equal (so a transposed weight or a bias added
# along the wrong axis still runs) and two with N, D, H and K all different.
_PROBE_SIZES = ((4, 4, 4, 4), (5, 3, 4, 2), (3, 5, 6, 4))


def _readable(rng, *shape):
    """Entries with one decimal (distinct along the last axis): easy to read, no ties."""
    return np.round(rng.uniform(-1.5, 1.5, size=shape), 1) + 0.01 * np.arange(shape[-1])


def _probe_network(seed, n, d, h, k):
    """(X, W1, b1, W2, b2) of readable numbers for one probe.

    Every example has active and inactive hidden units, and so has every unit across the
    batch: an example whose units are all inactive passes no gradient back, and would make
    mistakes in its row of dlogits invisible (two terms that differ only there coincide).
    """
    for attempt in range(100):
        rng = np.random.default_rng(seed + 1000 * attempt)
        X, W1, b1 = _readable(rng, n, d), _readable(rng, d, h), _readable(rng, h)
        active = (X @ W1 + b1) > 0
        if active.any(0).all() and active.any(1).all() and (~active).any(0).all() and (
                ~active).any(1).all():
            break
    return X, W1, b1, _readable(rng, h, k), _readable(rng, k)


def _probe_label(n, d, h, k, extra=""):
    sizes = (f"N = D = H = K = {n}: every dimension equal" if n == d == h == k
             else f"N = {n}, D = {d}, H = {h}, K = {k}")
    return sizes + extra


def _network_dims(X, W1, *rest):
    """N, D, H, K from X (N, D), W1 (D, H) and the last array of shape (H, K) in `rest`."""
    W2 = next(a for a in rest if np.ndim(a) == 2)
    return {"N": np.shape(X)[0], "D": np.shape(X)[1], "H": np.shape(W1)[1],
            "K": np.shape(W2)[1]}


def _square_only(a):
    """`a` if it is a square matrix; raises otherwise (a mistake that runs only then)."""
    if np.ndim(a) != 2 or np.shape(a)[0] != np.shape(a)[1]:
        raise ValueError("this mistake runs only when the shapes are equal")
    return a


# ---------------------------------------------------------------------------
# 1. mlp_forward(X, params) -> (logits, cache)
# ---------------------------------------------------------------------------


def _forward_answer(answer):
    """Call ``answer(X, params)``; return (logits, Z1, A1) from its ``(logits, cache)``."""
    def call(X, W1, b1, W2, b2):
        out = answer(X, _params(W1, b1, W2, b2))
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            raise TypeError("mlp_forward must return a pair (logits, cache) with "
                            "cache = (X, Z1, A1); got "
                            + (f"a {type(out).__name__} of {len(out)}"
                               if isinstance(out, (tuple, list)) else type(out).__name__))
        logits, cache = out
        if not (isinstance(cache, (tuple, list)) and len(cache) == 3):
            raise TypeError("the cache must be the tuple (X, Z1, A1) that mlp_backward "
                            "unpacks; got " + (f"a {type(cache).__name__} of {len(cache)}"
                                               if isinstance(cache, (tuple, list))
                                               else type(cache).__name__))
        return logits, cache[1], cache[2]
    return call


def _forward_case(rng, n, d, h, k, dtype, layout, public=False, label=None):
    X, W1, b1, W2, b2 = _network(rng, n, d, h, k, dtype, layout)
    label = label or f"{_shapes_label(X, W1, W2)}, {describe_array('X', X)}"
    return Case((X, W1, b1, W2, b2), label, hidden=not public, dtype=dtype)


def _forward_public():
    rng = np.random.default_rng(70)
    # The square case first: with every shape equal, a transposed matrix gives wrong numbers
    # (a named mistake) instead of a shape error.
    return [_forward_case(rng, 4, 4, 4, 4, _F64, "C", True,
                          "N = D = H = K = 4: every shape equal"),
            _forward_case(rng, 4, 3, 5, 2, _F64, "C", True, "N = 4, D = 3, H = 5, K = 2")]


def _forward_hidden(rng):
    return [_forward_case(rng, *_recipe_sizes(rng, n, d, h, k), dtype, layout)
            for n, d, h, k, dtype, layout in _NETWORK_RECIPES]


def _forward_variant(f):
    """A wrong forward pass `f(X, W1, b1, W2, b2) -> (logits, Z1, A1)` in float64."""
    return lambda *args: f(*map(as_float64, args))


def _relu_in_place_alias(X, W1, b1, W2, b2):
    logits, Z1, A1 = _forward(X, W1, b1, W2, b2)
    return logits, A1, A1          # Z1 was overwritten by the in-place ReLU


def _forward_probes():
    return [probe(_probe_network(700 + i, *sizes), _probe_label(*sizes))
            for i, sizes in enumerate(_PROBE_SIZES)]


def _Z1(X, W1, b1, W2, b2):
    return as_float64(X) @ as_float64(W1) + as_float64(b1)


def _A1(X, W1, b1, W2, b2):
    return np.maximum(_Z1(X, W1, b1, W2, b2), 0.0)


# Z1 = X @ W1 + b1, A1 = relu(Z1), logits = A1 @ W2 + b2, and likely mistakes.
_FORWARD_TERMS = (
    Term("XW1", "product X @ W1", lambda X, W1, b1, W2, b2: as_float64(X) @ as_float64(W1), "1",
         output="Z1"),
    Term("b1", "bias b1", lambda X, W1, b1, W2, b2: as_float64(b1), "1", output="Z1",
         sentence="Your Z1 leaves out the bias b1: Z1 = X @ W1 + b1."),
    Term("b1_column", "b1 added along the rows", lambda X, W1, b1, W2, b2: _square_only(
        np.outer(as_float64(b1), np.ones(np.shape(X)[0]))), code="bias_wrong_axis",
         output="Z1", replaces="b1",
         sentence="You added b1 as a column (b1[:, None]): entry [n, h] got b1[n] instead of "
                  "b1[h] (it runs only when N = H). b1 has one entry per hidden unit and is "
                  "added to every row: X @ W1 + b1."),
    Term("XW1t", "product X @ W1.T", lambda X, W1, b1, W2, b2: as_float64(X)
         @ _square_only(as_float64(W1)).T, code="transposed", output="Z1", replaces="XW1",
         sentence="Your first layer multiplies by W1.T (it runs only when D = H). In the row "
                  "convention a layer is A @ W + b with W of shape (D_in, D_out): X @ W1."),
    Term("A1W2", "product A1 @ W2", lambda X, W1, b1, W2, b2: _A1(X, W1, b1, W2, b2)
         @ as_float64(W2), "1", output="logits"),
    Term("A1W2t", "product A1 @ W2.T", lambda X, W1, b1, W2, b2: _A1(X, W1, b1, W2, b2)
         @ _square_only(as_float64(W2)).T, code="transposed", output="logits",
         replaces="A1W2",
         sentence="Your second layer multiplies by W2.T (it runs only when H = K). In the row "
                  "convention a layer is A @ W + b with W of shape (D_in, D_out): A1 @ W2."),
    Term("b2", "bias b2", lambda X, W1, b1, W2, b2: as_float64(b2), "1", output="logits",
         sentence="Your logits leave out the bias b2: logits = A1 @ W2 + b2."),
)
# No term mixes Z1 and relu(Z1): |Z1| = 2 relu(Z1) - Z1 would then read as "your ReLU is
# multiplied by 2". A1 = Z1 (no ReLU) is a wrong variant instead.


register(NumericExercise(
    id="mlp_forward", notebook=7, title="MLP forward pass", points=2.0,
    signature="mlp_forward(X, params)", arg_names=("X", "W1", "b1", "W2", "b2"),
    output_names=("logits", "Z1", "A1"),
    reference=_forward,
    public_cases=_forward_public, hidden_cases=_forward_hidden,
    probes=_forward_probes, terms=_FORWARD_TERMS, dims=_network_dims,
    wrap_answer=_forward_answer,
    allowed_reference=_NETWORK_PIECES,
    variants=(
        WrongVariant("no_relu", None,
                     "Your network has no ReLU: A1 must be max(Z1, 0). Without it the two "
                     "dense layers collapse into one linear map, which cannot learn a curved "
                     "decision boundary.",
                     _forward_variant(lambda X, W1, b1, W2, b2: (
                         (X @ W1 + b1) @ W2 + b2, X @ W1 + b1, X @ W1 + b1))),
        WrongVariant("relu_on_logits", None,
                     "You applied the ReLU to the logits as well. The last layer's output goes "
                     "straight into the softmax inside the loss; a ReLU there forbids negative "
                     "logits.",
                     _forward_variant(lambda *a: (np.maximum(_forward(*a)[0], 0.0),
                                                  *_forward(*a)[1:]))),
        WrongVariant("returned_probabilities", None,
                     "You returned softmax probabilities. mlp_forward returns the logits Z2; "
                     "the softmax belongs to the loss (cross_entropy works on logits).",
                     _forward_variant(lambda *a: (_softmax(_forward(*a)[0]), *_forward(*a)[1:]))),
        WrongVariant("no_b1", "missing_term", "You left out the first layer's bias b1.",
                     _forward_variant(lambda X, W1, b1, W2, b2: _forward(X, W1, 0 * b1, W2, b2))),
        WrongVariant("no_b2", "missing_term", "You left out the second layer's bias b2.",
                     _forward_variant(lambda X, W1, b1, W2, b2: _forward(X, W1, b1, W2, 0 * b2))),
        WrongVariant("sigmoid", None,
                     "You used a sigmoid as the activation; this network uses ReLU, "
                     "np.maximum(Z1, 0).",
                     _forward_variant(lambda X, W1, b1, W2, b2: (
                         (1 / (1 + np.exp(-(X @ W1 + b1)))) @ W2 + b2, X @ W1 + b1,
                         1 / (1 + np.exp(-(X @ W1 + b1)))))),
        WrongVariant("transposed_weights", "transposed",
                     "You multiplied by a transposed weight matrix (W.T). In the row "
                     "convention a layer is A @ W + b with W of shape (D_in, D_out).",
                     _forward_variant(lambda X, W1, b1, W2, b2: _forward(X, W1.T, b1, W2.T, b2))),
        WrongVariant("relu_in_place", None,
                     "Your cache holds the ReLU's output in the place of Z1: the pre-activation "
                     "Z1 was overwritten. A line such as `A1 = Z1; A1[A1 < 0] = 0` changes Z1 "
                     "too, because both names refer to the same array. Use "
                     "A1 = np.maximum(Z1, 0), which makes a new array.",
                     _forward_variant(_relu_in_place_alias)),
    ),
    hints=(
        "Three steps, each one line: Z1 = the first dense layer of X; A1 = the ReLU of Z1; "
        "logits = the second dense layer of A1. Print the shape after each: (N, H), (N, H), "
        "(N, K).",
        "Use your dense_forward(A, W, b) from notebook 01 for both dense layers, with "
        "params['W1'], params['b1'] and then params['W2'], params['b2']. The ReLU is "
        "np.maximum(Z1, 0).",
        "No ReLU after the second layer and no softmax: mlp_forward returns the logits, and "
        "the cache (X, Z1, A1) that the backward pass will need.",
        "`Z1 = dense_forward(X, params['W1'], params['b1']); A1 = np.maximum(Z1, 0); "
        "logits = dense_forward(A1, params['W2'], params['b2']); return logits, (X, Z1, A1)`.",
    ),
))


# ---------------------------------------------------------------------------
# 2. mlp_backward(dlogits, cache, params) -> grads
# ---------------------------------------------------------------------------


def _backward_answer(answer):
    """Call ``answer(dlogits, (X, Z1, A1), params)``; its grads dict -> a tuple."""
    def call(dZ2, X, Z1, A1, W1, b1, W2, b2):
        return _as_grad_tuple(answer(dZ2, (X, Z1, A1), _params(W1, b1, W2, b2)))
    return call


def _backward_case(rng, n, d, h, k, dtype, layout, public=False, label=None):
    X, W1, b1, W2, b2 = _network(rng, n, d, h, k, dtype, layout)
    _, Z1, A1 = _forward(X, W1, b1, W2, b2)
    Z1, A1 = with_layout(Z1.astype(dtype), layout), with_layout(A1.astype(dtype), layout)
    dZ2 = with_layout(rng.normal(size=(n, k)).astype(dtype), layout)  # any upstream gradient
    label = label or (f"{_shapes_label(X, W1, W2)}, random upstream gradient "
                      f"{describe_array('dlogits', dZ2)}")
    return Case((dZ2, X, Z1, A1, W1, b1, W2, b2), label, hidden=not public, dtype=dtype)


def _backward_public():
    rng = np.random.default_rng(71)
    return [_backward_case(rng, 4, 4, 4, 4, _F64, "C", True,
                           "N = D = H = K = 4 (every shape equal), random dlogits"),
            _backward_case(rng, 4, 3, 5, 2, _F64, "C", True,
                           "N = 4, D = 3, H = 5, K = 2, a random upstream gradient dlogits")]


def _backward_hidden(rng):
    return [_backward_case(rng, *_recipe_sizes(rng, n, d, h, k), dtype, layout)
            for n, d, h, k, dtype, layout in _NETWORK_RECIPES]


def _backward_variant(**wrong):
    def compute(dZ2, X, Z1, A1, W1, b1, W2, b2):
        return _backward(dZ2, X, Z1, A1, W2, **wrong)
    return compute


def _all_grads(f):
    """A variant applying `f` to every reference gradient."""
    def compute(dZ2, X, Z1, A1, W1, b1, W2, b2):
        return tuple(f(g, len(dZ2)) for g in _backward(dZ2, X, Z1, A1, W2))
    return compute


def _one_dW_transposed(which):
    """A variant with only dW1 (`which` = 0) or only dW2 (`which` = 2) transposed."""
    def compute(dZ2, X, Z1, A1, W1, b1, W2, b2):
        grads = list(_backward(dZ2, X, Z1, A1, W2))
        grads[which] = grads[which].T
        return tuple(grads)
    return compute


def _dW2_from_X(dZ2, X, Z1, A1, W1, b1, W2, b2):
    dW1, db1, _, db2 = _backward(dZ2, X, Z1, A1, W2)
    return dW1, db1, as_float64(X).T @ as_float64(dZ2), db2


def _backward_probes():
    probes = []
    for i, (n, d, h, k) in enumerate(_PROBE_SIZES):
        X, W1, b1, W2, b2 = _probe_network(710 + i, n, d, h, k)
        _, Z1, A1 = _forward(X, W1, b1, W2, b2)
        dZ2 = _readable(np.random.default_rng(720 + i), n, k)
        probes.append(probe((dZ2, X, Z1, A1, W1, b1, W2, b2),
                            _probe_label(n, d, h, k, ", a readable upstream gradient dlogits")))
    return probes


def _dA1(dZ2, W2):
    return as_float64(dZ2) @ as_float64(W2).T


def _active(Z1):
    return (as_float64(Z1) > 0).astype(float)


_THROUGH_INACTIVE = (
    "Your {what} lets the gradient through where the unit was INACTIVE (Z1 <= 0), where the "
    "ReLU passes nothing back: the mask is missing, inverted, or applied too late. "
    "dZ1 = dA1 * (Z1 > 0), then {formula}.")


def _backward_terms():
    """dW2 = A1^T dZ2, db2 = sum dZ2, dW1 = X^T dZ1, db1 = sum dZ1, and likely mistakes."""
    def masked(dZ2, X, Z1, A1, W1, b1, W2, b2):
        return _dA1(dZ2, W2) * _active(Z1)

    def unmasked(dZ2, X, Z1, A1, W1, b1, W2, b2):
        return _dA1(dZ2, W2) * (1.0 - _active(Z1))

    def untransposed(dZ2, X, Z1, A1, W1, b1, W2, b2):
        return (as_float64(dZ2) @ _square_only(as_float64(W2))) * _active(Z1)

    def t(x):
        return as_float64(x).T

    return (
        Term("A1t_dZ2", "product A1.T @ dlogits",
             lambda dZ2, X, Z1, A1, *p: t(A1) @ as_float64(dZ2), "1", output="dW2"),
        Term("Z1t_dZ2", "product Z1.T @ dlogits",
             lambda dZ2, X, Z1, A1, *p: t(Z1) @ as_float64(dZ2), output="dW2",
             replaces="A1t_dZ2",
             sentence="Your dW2 uses Z1, the pre-activation; the second layer's input is the "
                      "ReLU's output A1, so dW2 = A1.T @ dlogits."),
        Term("sum_dZ2", "sum of dlogits over the batch",
             lambda dZ2, *rest: as_float64(dZ2).sum(axis=0), "1", output="db2"),
        Term("Xt_dZ1", "product X.T @ dZ1",
             lambda dZ2, X, *rest: t(X) @ masked(dZ2, X, *rest), "1", output="dW1"),
        Term("Xt_inactive", "gradient through inactive units",
             lambda dZ2, X, *rest: t(X) @ unmasked(dZ2, X, *rest), output="dW1",
             sentence=_THROUGH_INACTIVE.format(what="dW1", formula="dW1 = X.T @ dZ1"),
             replaces="Xt_dZ1"),
        Term("Xt_untransposed", "X.T @ ((dlogits @ W2) * mask)",
             lambda dZ2, X, *rest: t(X) @ untransposed(dZ2, X, *rest), code="transposed",
             output="dW1", replaces="Xt_dZ1",
             sentence="You sent the gradient back through W2 instead of W2.T (it runs only "
                      "when H = K): dA1 = dlogits @ W2.T."),
        Term("sum_dZ1", "sum of dZ1 over the batch",
             lambda *args: masked(*args).sum(axis=0), "1", output="db1"),
        Term("sum_inactive", "gradient through inactive units, summed",
             lambda *args: unmasked(*args).sum(axis=0), output="db1",
             sentence=_THROUGH_INACTIVE.format(what="db1", formula="db1 = dZ1.sum(axis=0)"),
             replaces="sum_dZ1"),
        Term("sum_untransposed", "(dlogits @ W2) * mask, summed",
             lambda *args: untransposed(*args).sum(axis=0), code="transposed", output="db1",
             replaces="sum_dZ1",
             sentence="You sent the gradient back through W2 instead of W2.T (it runs only "
                      "when H = K): dA1 = dlogits @ W2.T."),
    )


register(NumericExercise(
    id="mlp_backward", notebook=7, title="MLP backward pass (every parameter's gradient)",
    points=3.0,
    signature="mlp_backward(dlogits, cache, params)",
    arg_names=("dlogits", "X", "Z1", "A1", "W1", "b1", "W2", "b2"),
    output_names=("dW1", "db1", "dW2", "db2"),
    reference=lambda dZ2, X, Z1, A1, W1, b1, W2, b2: _backward(dZ2, X, Z1, A1, W2),
    public_cases=_backward_public, hidden_cases=_backward_hidden,
    probes=_backward_probes, terms=_backward_terms(),
    dims=lambda dZ2, X, Z1, A1, W1, b1, W2, b2: _network_dims(X, W1, W2),
    wrap_answer=_backward_answer,
    allowed_reference=_NETWORK_PIECES,
    variants=(
        WrongVariant("no_relu_mask", None,
                     "Your dW1 and db1 ignore the ReLU. The gradient reaches Z1 only where the "
                     "unit was active: dZ1 = dA1 * (Z1 > 0). Either the mask is missing, or "
                     "you applied it after computing dW1 and db1 from dA1 (the mask must come "
                     "before: dW1 = X.T @ dZ1, not X.T @ dA1).",
                     _backward_variant(mask=lambda dA1, Z1: dA1)),
        WrongVariant("mask_from_gradient", None,
                     "You masked with the sign of the gradient, dA1 > 0 (or applied the ReLU "
                     "to the gradient, np.maximum(dA1, 0)). The ReLU's derivative depends on "
                     "its forward input: dZ1 = dA1 * (Z1 > 0).",
                     _backward_variant(mask=lambda dA1, Z1: dA1 * (dA1 > 0))),
        WrongVariant("dW2_transposed", "transposed",
                     "Your dW2 is transposed: dlogits.T @ A1 has shape (K, H), but dW2 must "
                     "have W2's shape (H, K). Use A.T @ dZ: A1.T @ dlogits.",
                     _one_dW_transposed(2)),
        WrongVariant("dW1_transposed", "transposed",
                     "Your dW1 is transposed: dZ1.T @ X has shape (H, D), but dW1 must have "
                     "W1's shape (D, H). Use A.T @ dZ: X.T @ dZ1.",
                     _one_dW_transposed(0)),
        WrongVariant("dW_transposed", "transposed",
                     "A weight gradient is transposed: dZ.T @ A has shape (D_out, D_in), but "
                     "dW must have W's shape (D_in, D_out). Use A.T @ dZ (X.T @ dZ1 and "
                     "A1.T @ dlogits).",
                     _backward_variant(dW=lambda A, dZ: dZ.T @ A)),
        WrongVariant("dA_no_transpose", "transposed",
                     "You sent the gradient back through W2 instead of W2.T: "
                     "dA1 = dlogits @ W2.T.",
                     _backward_variant(dA=lambda dZ, W: dZ @ W)),
        WrongVariant("db_axis1", "bias_wrong_axis",
                     "You summed over axis=1 (the units) for a bias gradient. A bias is shared "
                     "by every example, so sum over the batch: dZ.sum(axis=0).",
                     _backward_variant(db=lambda dZ: dZ.sum(axis=1))),
        WrongVariant("db_not_summed", "bias_wrong_axis",
                     "A bias gradient is dZ itself, shape (N, H). Each example adds to the "
                     "gradient of the shared bias: db = dZ.sum(axis=0).",
                     _backward_variant(db=lambda dZ: dZ)),
        WrongVariant("divided_by_N", None,
                     "Your gradients are N times too small: you divided by N. The 1/N of the "
                     "mean loss is already inside dlogits (cross_entropy_grad put it there), "
                     "so the backward pass adds no factor.",
                     _all_grads(lambda g, n: g / n)),
        WrongVariant("missing_batch_mean", "missing_batch_mean",
                     "Your gradients are N times too large. mlp_backward receives dlogits "
                     "with the 1/N already in it; do not recompute the loss gradient inside "
                     "the backward pass.",
                     _all_grads(lambda g, n: g * n)),
        WrongVariant("dW2_from_X", None,
                     "Your dW2 uses X; the second layer's input is A1, so dW2 = A1.T @ dlogits.",
                     _dW2_from_X),
        WrongVariant("all_negated", "sign", "Your gradients have the opposite sign.",
                     _all_grads(lambda g, n: -g)),
    ),
    hints=(
        "Go backwards through the forward pass, one line per step, and give every gradient "
        "the shape of its array: dW2 like W2 (H, K), db2 (K,), dA1 like A1 (N, H), dZ1 like "
        "Z1, dW1 like W1 (D, H), db1 (H,).",
        "The second dense layer: your dense_backward(dlogits, A1, W2) from notebook 06 gives "
        "(dA1, dW2, db2). The first: dense_backward(dZ1, X, W1) gives (dX, dW1, db1); dX is "
        "not needed.",
        "In between comes the ReLU: dZ1 = dA1 * (Z1 > 0). The gradient passes where the unit "
        "was active and stops where it was not. dlogits already carries the 1/N: add no "
        "factor.",
        "Return a dict with the keys of params: {'W1': dW1, 'b1': db1, 'W2': dW2, 'b2': db2}.",
    ),
))


# ---------------------------------------------------------------------------
# 3. loss_and_grads(X, y, params) -> (loss, grads)
# ---------------------------------------------------------------------------


def _loss_reference(X, y, W1, b1, W2, b2, *, dlogits=None, loss=None):
    logits, Z1, A1 = _forward(X, W1, b1, W2, b2)
    n = len(y)
    S = _softmax(logits)
    Y = np.eye(logits.shape[1])[np.asarray(y)]
    log_p = logits - logits.max(axis=1, keepdims=True)
    log_p = log_p - np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    value = -(Y * log_p).sum() / n if loss is None else loss(logits, Y, S)
    dZ2 = (S - Y) / n if dlogits is None else dlogits(logits, Y, S)
    return (value, *_backward(dZ2, as_float64(X), Z1, A1, as_float64(W2)))


def _loss_answer(answer):
    def call(X, y, W1, b1, W2, b2):
        out = answer(X, y, _params(W1, b1, W2, b2))
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TypeError("loss_and_grads must return a pair (loss, grads); got "
                            + (f"a tuple of {len(out)}" if isinstance(out, tuple)
                               else type(out).__name__))
        loss, grads = out
        return (loss, *_as_grad_tuple(grads, "loss_and_grads"))
    return call


def _loss_case(rng, n, d, h, k, dtype, layout, public=False, label=None):
    X, W1, b1, W2, b2 = _network(rng, n, d, h, k, dtype, layout)
    y = rng.integers(0, k, size=n).astype(np.int64)
    label = label or f"{_shapes_label(X, W1, W2)}, {describe_array('X', X)}, labels y ({n},)"
    return Case((X, y, W1, b1, W2, b2), label, hidden=not public, dtype=dtype)


def _loss_public():
    rng = np.random.default_rng(72)
    return [_loss_case(rng, 5, 3, 4, 3, _F64, "C", True, "N = 5, D = 3, H = 4, K = 3"),
            _loss_case(rng, 8, 6, 10, 4, _F64, "C", True, "N = 8, D = 6, H = 10, K = 4")]


def _loss_hidden(rng):
    return [_loss_case(rng, *_recipe_sizes(rng, n, d, h, k), dtype, layout)
            for n, d, h, k, dtype, layout in _NETWORK_RECIPES]


def _loss_variant(**wrong):
    return lambda X, y, W1, b1, W2, b2: _loss_reference(X, y, W1, b1, W2, b2, **wrong)


def _cross_entropy_of(P, Y):
    """Mean cross-entropy of logits P (a learner who passed probabilities as logits)."""
    log_p = P - P.max(axis=1, keepdims=True)
    log_p = log_p - np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    return -(Y * log_p).sum() / len(Y)


def _loss_probes():
    """Networks of readable numbers with labels; larger than the other probes, so that
    every weight gradient has enough entries for the terms of dlogits' likely mistakes.
    In each, some class is nobody's label and some label repeats (see nb06's probes)."""
    sizes_and_labels = (((5, 5, 5, 5), [3, 0, 1, 1, 4]), ((6, 4, 5, 4), [1, 0, 3, 0, 3, 1]),
                        ((4, 5, 6, 5), [2, 0, 4, 4]))
    probes = []
    for i, ((n, d, h, k), y) in enumerate(sizes_and_labels):
        X, *params = _probe_network(730 + i, n, d, h, k)
        probes.append(probe((X, np.array(y), *params), _probe_label(n, d, h, k, f", y = {y}")))
    return probes


def _loss_logits_and_labels(X, y, W1, b1, W2, b2):
    return _forward(X, W1, b1, W2, b2)[0], y


def _through_the_network(output):
    """``wrap(T, *args)``: the gradient `output` when dlogits is T (N, K)."""
    def wrap(T, X, y, W1, b1, W2, b2):
        _, Z1, A1 = _forward(X, W1, b1, W2, b2)
        if output == "dW2":
            return A1.T @ T
        if output == "db2":
            return T.sum(axis=0)
        dZ1 = (T @ as_float64(W2).T) * (Z1 > 0)
        return as_float64(X).T @ dZ1 if output == "dW1" else dZ1.sum(axis=0)
    return wrap


# dlogits = S / N - Y / N (notebook 04) flows through the network into every gradient; its
# likely mistakes are named in the weight gradients (the biases have too few entries for
# them). The loss is one number: only its factor can be named.
_LOSS_TERMS = tuple(
    term for output in ("dW1", "db1", "dW2", "db2")
    for term in softmax_ce_terms("1/N", logits_and_labels=_loss_logits_and_labels,
                                 output=output, prefix=f"{output}_",
                                 mistakes=output.startswith("dW"),
                                 wrap=_through_the_network(output)))


register(NumericExercise(
    id="loss_and_grads", notebook=7, title="Loss and every gradient of a batch", points=2.0,
    signature="loss_and_grads(X, y, params)", arg_names=("X", "y", "W1", "b1", "W2", "b2"),
    output_names=("loss", "dW1", "db1", "dW2", "db2"),
    reference=_loss_reference,
    public_cases=_loss_public, hidden_cases=_loss_hidden,
    probes=_loss_probes, terms=_LOSS_TERMS, normaliser="1/N",
    dims=lambda X, y, W1, b1, W2, b2: _network_dims(X, W1, W2),
    wrap_answer=_loss_answer,
    allowed_reference=_NETWORK_PIECES + _LOSS_PIECES,
    variants=(
        WrongVariant("missing_batch_mean", "missing_batch_mean",
                     "Your gradients are N times too large: the logits' gradient must be "
                     "(S - Y) / N for the mean loss.",
                     _loss_variant(dlogits=lambda Z, Y, S: S - Y)),
        WrongVariant("summed_loss", None,
                     "Your loss is the sum over the batch; the course's loss is the mean "
                     "(divide by N).",
                     _loss_variant(loss=lambda Z, Y, S: _cross_entropy_of(Z, Y) * len(Y))),
        WrongVariant("sum_loss_and_grads", "missing_batch_mean",
                     "You used the summed loss and its gradient S - Y; the course's loss is "
                     "the mean, so both carry a 1/N.",
                     _loss_variant(loss=lambda Z, Y, S: _cross_entropy_of(Z, Y) * len(Y),
                                   dlogits=lambda Z, Y, S: S - Y)),
        WrongVariant("double_softmax", None,
                     "You passed probabilities (a softmax of the logits) to the loss. "
                     "cross_entropy and cross_entropy_grad take the logits and apply the "
                     "softmax themselves; a second softmax squashes every probability "
                     "towards 1/K.",
                     _loss_variant(loss=lambda Z, Y, S: _cross_entropy_of(S, Y),
                                   dlogits=lambda Z, Y, S: (_softmax(S) - Y) / len(Y))),
        WrongVariant("missing_one_hot", "missing_one_hot",
                     "Your logits' gradient is S / N: the one-hot target is not subtracted.",
                     _loss_variant(dlogits=lambda Z, Y, S: S / len(Y))),
        WrongVariant("sign", "sign",
                     "Your gradients have the opposite sign: the logits' gradient is "
                     "(S - Y) / N, not (Y - S) / N.",
                     _loss_variant(dlogits=lambda Z, Y, S: (Y - S) / len(Y))),
    ),
    hints=(
        "Four calls, in order: the forward pass, the loss of its logits, the gradient of the "
        "loss with respect to the logits, and the backward pass.",
        "logits, cache = mlp_forward(X, params); loss = cross_entropy(logits, y); "
        "dlogits = cross_entropy_grad(logits, y) (notebook 04, shape (N, K), with the 1/N).",
        "Feed dlogits to mlp_backward(dlogits, cache, params) and return the pair "
        "(loss, grads).",
    ),
))


# ---------------------------------------------------------------------------
# 4. sgd_step(params, grads, lr): update in place
# ---------------------------------------------------------------------------


def _sgd_answer(answer):
    """Call ``answer(params, grads, lr)`` and return the arrays it was given, afterwards.

    The params dict holds fresh copies (so the case's inputs stay pristine); the grader
    looks at those very array objects, not at whatever the dict holds afterwards: an
    update that rebinds the dict entries leaves them unchanged, as it would leave a
    model that shares the arrays. The grads dict lists the layers from the last to the
    first, the order a backward pass produces them, so pairing by position fails.
    """
    def call(W1, b1, W2, b2, dW1, db1, dW2, db2, lr):
        arrays = tuple(a.copy() for a in (W1, b1, W2, b2))
        params = dict(zip(PARAM_NAMES, arrays, strict=True))
        grads = {"W2": dW2, "b2": db2, "W1": dW1, "b1": db1}
        answer(params, grads, lr)
        return arrays
    return call


def _sgd_case(rng, d, h, k, dtype, lr, public=False, label=None):
    W1, b1, W2, b2 = (rng.normal(size=s).astype(dtype) for s in ((d, h), (h,), (h, k), (k,)))
    grads = tuple(rng.normal(size=s).astype(dtype) for s in ((d, h), (h,), (h, k), (k,)))
    label = label or (f"D = {d}, H = {h}, K = {k}, {np.dtype(dtype).name} parameters, "
                      f"lr = {lr}")
    return Case((W1, b1, W2, b2, *grads, lr), label, hidden=not public, dtype=dtype)


def _sgd_public():
    rng = np.random.default_rng(73)
    return [_sgd_case(rng, 3, 3, 3, _F64, 0.5, True,
                      "D = H = K = 3 (every shape equal), lr = 0.5"),
            _sgd_case(rng, 3, 4, 2, _F64, 0.1, True, "D = 3, H = 4, K = 2, lr = 0.1")]


def _sgd_hidden(rng):
    cases = []
    for dtype, lr in ((_F64, 1.0), (_F32, 0.05), (_F64, 1e-3), (_F32, 2.0)):
        d, h, k = random_size(rng, 1, 30), random_size(rng, 1, 40), random_size(rng, 2, 10)
        cases.append(_sgd_case(rng, d, h, k, dtype, lr))
    size = random_size(rng, 2, 8)
    cases.append(_sgd_case(rng, size, size, size, _F64, 0.3))
    return cases


def _sgd_reference(W1, b1, W2, b2, dW1, db1, dW2, db2, lr, *, sign=-1.0, scale=None):
    pairs = ((W1, dW1), (b1, db1), (W2, dW2), (b2, db2))
    step = lr if scale is None else scale
    return tuple(as_float64(p) + sign * step * as_float64(g) for p, g in pairs)


def _sgd_by_position(W1, b1, W2, b2, dW1, db1, dW2, db2, lr):
    """zip(params.values(), grads.values()) with grads listed W2, b2, W1, b1."""
    pairs = ((W1, dW2), (b1, db2), (W2, dW1), (b2, db1))
    return tuple(as_float64(p) - lr * as_float64(g) for p, g in pairs)


def _sgd_probes():
    """Every shape equal, then D, H, K all different; the biases have at least four entries
    (so each is decomposed) and lr is no simple constant such as 1/2."""
    probes = []
    for i, ((d, h, k), lr) in enumerate((((6, 6, 6), 0.1), ((4, 5, 7), 0.3), ((7, 6, 4), 0.7))):
        rng = np.random.default_rng(740 + i)
        shapes = ((d, h), (h,), (h, k), (k,))
        arrays = [_readable(rng, *shape) for shape in shapes + shapes]
        label = (f"D = H = K = {d} (every shape equal), lr = {lr}" if d == h == k
                 else f"D = {d}, H = {h}, K = {k}, lr = {lr}")
        probes.append(probe((*arrays, lr), label))
    return probes


def _sgd_dims(W1, b1, W2, b2, *grads_and_lr):
    return {"D": np.shape(W1)[0], "H": np.shape(W1)[1], "K": np.shape(W2)[1],
            "lr": float(grads_and_lr[-1])}


def _sgd_terms():
    """new p = p - lr * dp for each parameter, and a gradient of another parameter."""
    terms = []
    # The gradient that zip(params.values(), grads.values()) pairs with each parameter
    # (grads lists the last layer first): the same shape only when D = H = K.
    by_position = {"W1": "W2", "b1": "b2", "W2": "W1", "b2": "b1"}
    for i, name in enumerate(PARAM_NAMES):
        j = PARAM_NAMES.index(by_position[name])
        terms += [
            Term(f"{name}_old", f"old {name}", lambda *a, i=i: as_float64(a[i]), "1",
                 output=name, sentence=f"Your new {name} has lost the old values: the step "
                                       f"is {name} - lr * d{name}, added to {name} itself."),
            Term(f"d{name}", f"gradient term d{name}", lambda *a, i=i: as_float64(a[4 + i]),
                 "-lr", output=name,
                 sentence=f"Your {name} did not take its step: {name} -= lr * "
                          f"grads['{name}'] (is {name} missing from your loop, or was a new "
                          "array assigned instead of the old one updated?)."),
            Term(f"d{by_position[name]}_for_{name}", f"gradient d{by_position[name]}",
                 lambda *a, j=j, i=i: _same_shape(as_float64(a[4 + j]), a[i]), output=name,
                 replaces=f"d{name}",
                 sentence=f"Your {name} took the step of d{by_position[name]}: parameters and "
                          "gradients were paired by position (zip(params.values(), "
                          "grads.values())), and a backward pass lists the last layer first. "
                          "Pair them by name: params[name] -= lr * grads[name]."),
        ]
    return tuple(terms)


def _same_shape(a, like):
    if np.shape(a) != np.shape(like):
        raise ValueError("the mistake needs arrays of the same shape")
    return a


register(NumericExercise(
    id="sgd_step", notebook=7, title="One SGD step, in place", points=2.0,
    signature="sgd_step(params, grads, lr)",
    arg_names=("W1", "b1", "W2", "b2", "dW1", "db1", "dW2", "db2", "lr"),
    output_names=PARAM_NAMES,
    reference=_sgd_reference,
    public_cases=_sgd_public, hidden_cases=_sgd_hidden,
    probes=_sgd_probes, terms=_sgd_terms(), dims=_sgd_dims,
    wrap_answer=_sgd_answer,
    allowed_reference=(),
    variants=(
        WrongVariant("not_in_place", None,
                     "Your sgd_step did not change the arrays in params. A line such as "
                     "params[name] = params[name] - lr * grads[name] makes a NEW array and "
                     "rebinds the dict entry (and W = W - lr * dW inside a loop rebinds only "
                     "the loop variable), so anything else holding the old array, such as a "
                     "model that shares it, never sees the step. Update the array itself: "
                     "params[name] -= lr * grads[name].",
                     lambda W1, b1, W2, b2, *rest: tuple(map(as_float64, (W1, b1, W2, b2)))),
        WrongVariant("sign", "sign",
                     "You stepped uphill: params[name] += lr * grads[name]. Gradient descent "
                     "subtracts the gradient.",
                     functools.partial(_sgd_reference, sign=1.0)),
        WrongVariant("no_learning_rate", None,
                     "You subtracted the whole gradient; multiply it by the learning rate lr "
                     "first.", functools.partial(_sgd_reference, scale=1.0)),
        WrongVariant("paired_by_position", None,
                     "You paired parameters and gradients by position (for example "
                     "zip(params.values(), grads.values())). A dict's order is the order its "
                     "entries were added, and a backward pass produces the last layer's "
                     "gradients first. Pair them by name: params[name] -= lr * grads[name].",
                     _sgd_by_position),
    ),
    hints=(
        "For every parameter name, move the parameter a small step against its gradient: "
        "new value = value - lr * gradient.",
        "Loop over the names, `for name in params:`, and look the gradient up by the same "
        "name, grads[name]; the two dicts need not list their entries in the same order.",
        "Change the arrays in place, so that every other holder of them (the model) sees the "
        "step: `params[name] -= lr * grads[name]` (not `params[name] = params[name] - ...`). "
        "Return nothing.",
    ),
))


# ---------------------------------------------------------------------------
# 5. predict_digits: the trained network, scored on the held-out digits
# ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def held_out_digits():
    """The held-out digits of notebook 07: ``(X_test, y_test)``, shapes (449, 64), (449,).

    The test part of ``train_test_split(*load_digits(), **DIGITS_SPLIT)``: images the
    notebook's training never sees. Read-only arrays (cached).
    """
    from backprop_lib.data import load_digits, train_test_split

    X, y = load_digits()
    _, X_test, _, y_test = train_test_split(X, y, **DIGITS_SPLIT)
    X_test.flags.writeable = False
    y_test.flags.writeable = False
    return X_test, y_test


@dataclass
class HeldOutCase(Case):
    """A batch of held-out images; the true labels stay with the grader.

    Attributes
    ----------
    labels : ndarray of int, shape (N,)
        True classes (never passed to the learner's code).
    min_accuracy : float or None
        Accuracy the predictions must reach; None checks only that they are labels.
    """

    labels: np.ndarray = None
    min_accuracy: float | None = None


def _predict_case(X, labels, text, min_accuracy, hidden=True):
    return HeldOutCase((X,), f"{text}: {describe_array('X', X)}", hidden=hidden,
                       dtype=X.dtype, labels=labels, min_accuracy=min_accuracy)


def _predict_public():
    X, y = held_out_digits()
    return [_predict_case(X.copy(), y, f"all {len(y)} held-out digits", MIN_ACCURACY,
                          hidden=False)]


def _predict_hidden(rng):
    X, y = held_out_digits()
    order = rng.permutation(len(y))
    one = int(rng.integers(len(y)))
    two = rng.choice(len(y), size=2, replace=False)
    return [
        _predict_case(np.asfortranarray(X[order].astype(_F32)), y[order],
                      "the held-out digits shuffled, float32", MIN_ACCURACY),
        _predict_case(with_layout(X[::-1], "strided"), y[::-1],
                      "the held-out digits reversed", MIN_ACCURACY),
        _predict_case(X[one:one + 1].copy(), y[one:one + 1], "a single image", None),
        _predict_case(X[two].copy(), y[two], "two images", None),
    ]


class HeldOutAccuracyExercise(NumericExercise):
    """A ``predict(X) -> labels`` exercise scored by the accuracy of its labels.

    The learner's function only sees the images; the grader compares the labels it
    returns with the true ones that the case keeps (:class:`HeldOutCase`), so the
    score cannot come from the learner's side. A case passes when the result is one
    whole-number label in ``[0, K)`` per image and, where the case sets
    ``min_accuracy``, enough of them are right.
    """

    num_classes: int = 10

    def grade(self, answer, *, timeout=None, seed=None, executor=None):
        self._accuracy = None
        result = super().grade(answer, timeout=timeout, seed=seed, executor=executor)
        if result.passed and self._accuracy is not None:
            correct, total = self._accuracy
            result.message += (f" Held-out accuracy: {correct / total:.3f} ({correct} of "
                               f"{total} images right).")
        return result

    def _compare(self, case, value):
        n = case.labels.shape[0]
        if isinstance(value, ConversionProblem):
            return _Problem(reason=value.reason, codes=list(value.codes), expected_shape=(n,))
        labels = np.asarray(value[0])
        problem = self._label_problem(labels, n)
        if problem is not None:
            return problem
        correct = int(np.count_nonzero(labels.astype(np.int64) == case.labels))
        if case.min_accuracy is None:
            return None
        if not case.hidden:
            self._accuracy = (correct, n)
        if correct >= case.min_accuracy * n:
            return None
        return self._accuracy_problem(labels.astype(np.int64), correct, n, case.min_accuracy)

    def _label_problem(self, labels, n):
        """A _Problem if `labels` is not one class label per image, else None."""
        K = self.num_classes
        if labels.shape == (n, K):
            return _Problem(reason=f"your predict returned scores of shape {labels.shape}; it "
                                   "must return one label per image, shape (N,): take "
                                   "np.argmax(logits, axis=1).", codes=["shape"],
                            expected_shape=(n,), got_shape=labels.shape)
        if labels.shape == (K,) and n != K:
            return _Problem(reason=f"your predict returned {K} labels for {n} images: an "
                                   "argmax over axis=0 (the batch) instead of axis=1 (the "
                                   "classes).", codes=["wrong_axis", "shape"],
                            expected_shape=(n,), got_shape=labels.shape)
        if labels.shape != (n,):
            return _Problem(reason=f"your predict returned shape {labels.shape}; expected one "
                                   f"label per image, shape ({n},).", codes=["shape"],
                            expected_shape=(n,), got_shape=labels.shape)
        if labels.dtype.kind == "c" or (labels.dtype.kind == "f" and (
                not np.isfinite(labels).all() or (labels != np.round(labels)).any())):
            return _Problem(reason="your labels are not whole numbers; predict returns class "
                                   "indices, e.g. np.argmax(logits, axis=1).", codes=["dtype"])
        if labels.size and (labels.min() < 0 or labels.max() >= K):
            return _Problem(reason=f"your labels run from {labels.min():g} to "
                                   f"{labels.max():g}; digit classes are 0 to {K - 1}.")
        return None

    def _accuracy_problem(self, labels, correct, n, min_accuracy):
        accuracy = correct / n
        reason = (f"{correct} of {n} held-out images right, accuracy {accuracy:.3f}; at least "
                  f"{min_accuracy:.2f} is needed.")
        counts = np.bincount(np.asarray(labels).astype(np.intp), minlength=self.num_classes)
        notes = []
        if counts.max() > 0.5 * n:
            notes.append(f"Your predict says {int(counts.argmax())} for {counts.max()} of the "
                         f"{n} images. Does it use the trained parameters?")
        if accuracy < 0.3:
            notes.append("That is close to guessing (1 in 10). Check that predict uses the "
                         "trained params, and prepares the images exactly as training did "
                         "(the same standardisation, with the training set's mean and "
                         "standard deviation).")
        else:
            notes.append("The network has learnt something, but not enough. Train for more "
                         "epochs, check the learning rate, and make sure predict standardises "
                         "the images with the training set's mean and standard deviation.")
        return _Problem(reason=reason, notes=notes)

    def _tested(self, public, hidden):
        return [f"public case: {public[0].label} (accuracy >= {MIN_ACCURACY:.2f})",
                f"{len(hidden)} hidden cases: the same images shuffled, reversed and in "
                "float32, a single image and two images"]


register(HeldOutAccuracyExercise(
    id="predict_digits", notebook=7, title="Digits classifier: held-out accuracy", points=3.0,
    signature="predict(X)", arg_names=("X",),
    reference=None,
    public_cases=_predict_public, hidden_cases=_predict_hidden,
    allowed_reference=_NETWORK_PIECES + ("softmax",),
    hints=(
        f"predict(X) receives raw images of shape (N, 64) (values in [0, 1], as load_digits "
        f"returns them) and returns N labels, shape (N,). It passes at a held-out accuracy of "
        f"{MIN_ACCURACY:.2f}.",
        "Prepare X exactly as the training images were prepared (standardise with the "
        "TRAINING mean and standard deviation), run your mlp_forward with the trained params, "
        "and take the arg-max of each row.",
        "`logits, _ = mlp_forward((X - mean) / std, params); return logits.argmax(axis=1)`. "
        "If the accuracy is too low, train longer or check the learning rate.",
    ),
))
