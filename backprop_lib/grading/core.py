"""The core numeric exercises of the course, one registration each.

Each exercise states: the learner's signature, the reference (from
:mod:`backprop_lib.functional`, computed in float64 for an accurate target, or a
one-line formula for the dense layer), public cases, a generator of hidden
cases, the known wrong variants, and three or more progressive hints.

Adding an exercise: write its reference, cases and variants next to the
others and call :func:`~backprop_lib.grading.registry.register` with a
:class:`~backprop_lib.grading.numeric.NumericExercise`.
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from .cases import Case, describe_array, labels, logits, pick, with_layout
from .mistakes import WrongVariant
from .numeric import NumericExercise
from .registry import register

_F64, _F32 = np.float64, np.float32
_ANY_LAYOUT = ("C", "F", "strided", "reversed")


def _f64(a):
    return np.asarray(a, dtype=np.float64)


def _size(rng, low, high):
    return int(rng.integers(low, high + 1))


# ---------------------------------------------------------------------------
# Wrong implementations shared by several exercises
# ---------------------------------------------------------------------------


def _naive_softmax(z, axis=-1):
    e = np.exp(np.asarray(z))
    return e / e.sum(axis=axis, keepdims=True)


def _softmax_axis0(z):
    z = np.asarray(z)
    e = np.exp(z - z.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def _softmax_global_max(z):
    z = np.asarray(z)
    e = np.exp(z - z.max())
    return e / e.sum(axis=-1, keepdims=True)


def _softmax_global_sum(z):
    z = np.asarray(z)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum()


def _swap_last(x):
    x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError("nothing to transpose")
    return np.swapaxes(x, -1, -2)


def _onehot(y, k):
    return F.one_hot(np.asarray(y), k)


# ---------------------------------------------------------------------------
# Case generators
# ---------------------------------------------------------------------------

#: (batch, K, dtype, regime, layout) recipes for hidden logit cases; "n"/"k" = random size.
_LOGIT_RECIPES = (
    (1, 2, _F64, "normal", "C"),
    ("n", "k", _F64, "normal", "F"),
    (1, "k", _F32, "extreme", "C"),
    ("n", "k", _F64, "extreme", "strided"),
    ("n", 2, _F32, "tied", "reversed"),
    ("n", "k", _F64, "mixed_scales", "C"),
    ("n", "k", _F32, "mixed_scales", "F"),
    ("n", "k", _F64, "large_positive", "reversed"),
    ("n", "k", _F32, "normal", "strided"),
    ("square", "square", _F64, "normal", "C"),
)


def _recipe_shape(rng, n, k, max_n=64, max_k=300):
    if n == "square":
        n = k = _size(rng, 3, 12)
        return n, k
    n = _size(rng, 2, max_n) if n == "n" else n
    k = _size(rng, 3, max_k) if k == "k" else k
    return n, k


def _logit_batches(rng, max_n=64, max_k=300):
    """Yield (z, regime, dtype) for every recipe in :data:`_LOGIT_RECIPES`."""
    for n, k, dtype, regime, layout in _LOGIT_RECIPES:
        n, k = _recipe_shape(rng, n, k, max_n, max_k)
        yield with_layout(logits(rng, (n, k), dtype, regime), layout), regime, dtype


def _z_cases(rng):
    return [Case((z,), describe_array("z", z, regime), dtype=dtype)
            for z, regime, dtype in _logit_batches(rng)]


def _z_public():
    z1 = np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]])
    z2 = np.array([0.5, -1.0, 2.0, 0.0])
    z3 = np.arange(12, dtype=float).reshape(2, 2, 3) / 4
    return [Case((z1,), f"z = {z1.tolist()}", hidden=False),
            Case((z2,), f"a single vector z = {z2.tolist()} (shape (4,))", hidden=False),
            Case((z3,), "z of shape (2, 2, 3): softmax over the last axis", hidden=False)]


def _probabilities(rng, shape, dtype, regime):
    return F.softmax(logits(rng, shape, np.float64, regime)).astype(dtype)


# ---------------------------------------------------------------------------
# 00 warm-up: row sums
# ---------------------------------------------------------------------------


def _row_sums_public():
    a1 = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    a2 = np.array([[1.0, -1.0, 0.5], [2.0, 0.0, 0.0], [0.0, 3.0, 1.0]])
    return [Case((a1,), f"A = {a1.tolist()}", hidden=False),
            Case((a2,), f"A = {a2.tolist()}", hidden=False)]


def _row_sums_hidden(rng):
    cases = []
    for n, d, dtype, layout in ((1, 1, _F64, "C"), (1, "d", _F32, "C"), ("n", "d", _F64, "F"),
                                ("n", "d", _F32, "strided"), ("n", 1, _F64, "reversed"),
                                ("sq", "sq", _F64, "C")):
        if n == "sq":
            n = d = _size(rng, 3, 9)
        n = _size(rng, 2, 50) if n == "n" else n
        d = _size(rng, 2, 50) if d == "d" else d
        scales = 10.0 ** rng.uniform(-2, 3, size=(n, 1))
        a = with_layout((rng.normal(size=(n, d)) * scales).astype(dtype), layout)
        cases.append(Case((a,), describe_array("A", a), dtype=dtype))
    return cases


register(NumericExercise(
    id="warmup_row_sums", notebook=0, title="Warm-up: row sums", points=1.0,
    signature="row_sums(A)", arg_names=("A",),
    reference=lambda A: _f64(A).sum(axis=1),
    public_cases=_row_sums_public, hidden_cases=_row_sums_hidden,
    variants=(
        WrongVariant("column_sums", "wrong_axis",
                     "You summed each column (axis=0); each row is summed along axis=1.",
                     lambda A: np.asarray(A).sum(axis=0)),
        WrongVariant("total", "wrong_axis",
                     "You added up every entry of A into one number; sum each row separately "
                     "with axis=1.", lambda A: np.asarray(A).sum()),
        WrongVariant("keepdims", "shape",
                     "You kept the summed axis (keepdims=True), giving shape (N, 1); the "
                     "exercise wants a flat (N,) vector.",
                     lambda A: np.asarray(A).sum(axis=1, keepdims=True)),
        WrongVariant("row_means", None,
                     "You computed the mean of each row; the exercise wants the sum.",
                     lambda A: np.asarray(A).mean(axis=1)),
    ),
    hints=(
        "A has one row per example: shape (N, D). The answer has one number per row: shape (N,).",
        "NumPy reductions take an axis argument: A.sum(axis=k) adds up along axis k and removes "
        "it. Which axis runs along a row?",
        "Axis 0 runs down the columns, axis 1 runs along each row: `return A.sum(axis=1)`.",
    ),
))


# ---------------------------------------------------------------------------
# 01 dense forward
# ---------------------------------------------------------------------------


def _dense_public():
    rng = np.random.default_rng(1)
    square = (rng.normal(size=(3, 4)), rng.normal(size=(4, 3)), rng.normal(size=3))
    wide = (np.arange(6.0).reshape(2, 3), np.ones((3, 4)), np.array([0.0, 1.0, 2.0, 3.0]))
    return [Case(square, "A (3, 4), W (4, 3), b (3,)", hidden=False),
            Case(wide, "A = [[0, 1, 2], [3, 4, 5]], W = ones((3, 4)), b = [0, 1, 2, 3]",
                 hidden=False)]


def _dense_hidden(rng):
    cases = []
    for n, dtype, layout in ((1, _F64, "C"), ("n", _F32, "F"), ("n", _F64, "strided"),
                             ("n", _F64, "reversed"), ("n", _F32, "C")):
        n = _size(rng, 2, 64) if n == "n" else n
        d, h = _size(rng, 1, 40), _size(rng, 1, 40)
        scales = 10.0 ** rng.uniform(-2, 2, size=(n, 1))
        A = with_layout((rng.normal(size=(n, d)) * scales).astype(dtype), layout)
        W = with_layout(rng.normal(size=(d, h)).astype(dtype), pick(rng, _ANY_LAYOUT))
        b = rng.normal(size=h).astype(dtype)
        label = ", ".join([describe_array("A", A), describe_array("W", W), f"b {b.shape}"])
        cases.append(Case((A, W, b), label, dtype=dtype))
    return cases


register(NumericExercise(
    id="dense_forward", notebook=1, title="Dense layer forward pass", points=1.0,
    signature="dense_forward(A, W, b)", arg_names=("A", "W", "b"),
    reference=lambda A, W, b: _f64(A) @ _f64(W) + _f64(b),
    public_cases=_dense_public, hidden_cases=_dense_hidden,
    variants=(
        WrongVariant("column_convention", "transposed",
                     "You returned Z transposed, shape (H, N), as in the column convention "
                     "z = W a + b. In the row convention each ROW of Z is one example.",
                     lambda A, W, b: (np.asarray(A) @ W + b).T),
        WrongVariant("bias_as_column", "bias_wrong_axis",
                     "You added b down the columns (b[:, None] or b.reshape(-1, 1)). b has one "
                     "entry per output unit and is added to every row: A @ W + b.",
                     lambda A, W, b: np.asarray(A) @ W + np.asarray(b)[:, None]),
        WrongVariant("no_bias", None, "You left out the bias b.",
                     lambda A, W, b: np.asarray(A) @ W),
        WrongVariant("first_row_only", "shape",
                     "You computed the output of a single example (one row) instead of the "
                     "whole batch.", lambda A, W, b: np.asarray(A)[0] @ W + b),
    ),
    hints=(
        "Write down the shapes: A is (N, D), W is (D, H), b is (H,). The result Z must be "
        "(N, H): one row of H outputs per example.",
        "Matrix product first: A @ W has shape (N, H). Then add the bias; NumPy broadcasting "
        "adds the (H,) vector b to every row.",
        "The whole layer is one line: `return A @ W + b`.",
    ),
))


# ---------------------------------------------------------------------------
# 02 softmax and log-softmax
# ---------------------------------------------------------------------------


register(NumericExercise(
    id="softmax", notebook=2, title="Softmax", points=2.0,
    signature="softmax(z)", arg_names=("z",),
    reference=lambda z: F.softmax(_f64(z)),
    public_cases=_z_public, hidden_cases=_z_cases,
    variants=(
        WrongVariant("no_max_shift", "overflow",
                     "You exponentiated the logits without subtracting each row's maximum, so "
                     "np.exp overflowed to inf on large logits and inf / inf gave NaN.",
                     _naive_softmax),
        WrongVariant("axis0", "wrong_axis",
                     "You normalised down the columns (axis=0), over the examples of the batch. "
                     "Normalise along the last axis: axis=-1, keepdims=True.", _softmax_axis0),
        WrongVariant("global_sum", "wrong_axis",
                     "You divided by the sum over the WHOLE array instead of each row's sum, "
                     "so the rows do not each add up to 1.", _softmax_global_sum),
        WrongVariant("global_max", "wrong_axis",
                     "You subtracted the maximum of the whole array (z.max()) instead of each "
                     "row's maximum. A row whose logits are much smaller than the global "
                     "maximum then underflows to 0 / 0 = NaN. Use z.max(axis=-1, keepdims=True).",
                     _softmax_global_max),
        WrongVariant("negated", "sign",
                     "You exponentiated -z instead of z; the largest logit must get the "
                     "largest probability.",
                     lambda z: F.softmax(-_f64(z))),
        WrongVariant("transposed", "transposed",
                     "You returned the result transposed.",
                     lambda z: _swap_last(F.softmax(_f64(z)))),
    ),
    hints=(
        "softmax(z)_k = exp(z_k) / sum_j exp(z_j), computed separately for every row (the "
        "last axis). Each output row is positive and sums to 1.",
        "Reductions must keep the axis so they broadcast back: e.sum(axis=-1, keepdims=True) "
        "has shape (N, 1) for z of shape (N, K), and also works for a single vector.",
        "np.exp(1000.0) is inf. Softmax does not change when you subtract the same number from "
        "every logit in a row, so subtract the row maximum z.max(axis=-1, keepdims=True) first.",
        "Put together: shift = z - z.max(axis=-1, keepdims=True); e = np.exp(shift); "
        "return e / e.sum(axis=-1, keepdims=True).",
    ),
))


register(NumericExercise(
    id="log_softmax", notebook=2, title="Log-softmax", points=2.0,
    signature="log_softmax(z)", arg_names=("z",),
    reference=lambda z: F.log_softmax(_f64(z)),
    public_cases=_z_public, hidden_cases=_z_cases,
    variants=(
        WrongVariant("no_max_shift", "overflow",
                     "You computed log(sum(exp(z))) without subtracting the row maximum, so exp "
                     "overflowed to inf on large logits.",
                     lambda z: np.asarray(z) - np.log(np.exp(np.asarray(z)).sum(
                         axis=-1, keepdims=True))),
        WrongVariant("log_of_softmax", "not_finite",
                     "You took np.log(softmax(z)). When a probability underflows to exactly 0 "
                     "(logits far below the row maximum), its log is -inf, although the true "
                     "log-probability is an ordinary number. Compute "
                     "(z - m) - log(sum(exp(z - m))) directly, with m the row maximum.",
                     lambda z: np.log(F.softmax(np.asarray(z)))),
        WrongVariant("axis0", "wrong_axis",
                     "You normalised down the columns (axis=0). Use axis=-1, keepdims=True.",
                     lambda z: np.log(_softmax_axis0(z))),
        WrongVariant("negated", "sign",
                     "Your result has the opposite sign: log-probabilities are all <= 0.",
                     lambda z: -F.log_softmax(_f64(z))),
        WrongVariant("no_normaliser", None,
                     "You returned the shifted logits z - max(z) without subtracting "
                     "log(sum(exp(z - max(z)))).",
                     lambda z: _f64(z) - _f64(z).max(axis=-1, keepdims=True)),
        WrongVariant("transposed", "transposed", "You returned the result transposed.",
                     lambda z: _swap_last(F.log_softmax(_f64(z)))),
    ),
    hints=(
        "log softmax(z)_k = z_k - log(sum_j exp(z_j)): the logits minus one number per row, "
        "the log-sum-exp of that row.",
        "Do not write np.log(softmax(z)): tiny probabilities round to 0 and log(0) = -inf. "
        "Work with logs all the way instead.",
        "log-sum-exp overflows like softmax does. With m = z.max(axis=-1, keepdims=True): "
        "log(sum(exp(z))) = m + log(sum(exp(z - m))).",
        "Put together: shift = z - z.max(axis=-1, keepdims=True); "
        "return shift - np.log(np.exp(shift).sum(axis=-1, keepdims=True)).",
    ),
))


# ---------------------------------------------------------------------------
# 03 softmax Jacobian, single and batched
# ---------------------------------------------------------------------------


def _jacobian_public():
    s1 = np.array([0.2, 0.3, 0.5])
    s2 = F.softmax(np.array([1.0, 0.0]))
    return [Case((s1,), f"s = {s1.tolist()}", hidden=False),
            Case((s2,), "s = softmax([1, 0]) (K = 2)", hidden=False)]


def _jacobian_hidden(rng):
    cases = []
    for k, dtype, regime, layout in ((2, _F64, "normal", "C"), ("k", _F32, "normal", "strided"),
                                     ("k", _F64, "extreme", "reversed"),
                                     ("k", _F64, "tied", "C"), ("big", _F32, "normal", "C")):
        k = {"k": _size(rng, 3, 60), "big": _size(rng, 150, 300)}.get(k, k)
        s = with_layout(_probabilities(rng, (k,), dtype, regime), layout)
        cases.append(Case((s,), describe_array("s", s, "softmax of " + regime + " logits"),
                          dtype=dtype))
    return cases


def _jacobian_variants(batched):
    def diag_of(v):
        v = np.asarray(v)
        return v[..., :, None] * np.eye(v.shape[-1])

    def outer(s):
        return s[..., :, None] * s[..., None, :]

    sub = "each (K, K) block of " if batched else ""
    variants = [
        WrongVariant("diagonal_only", "elementwise_jacobian",
                     f"You put only s_i (1 - s_i) on the diagonal of {sub}J and zeros elsewhere. "
                     "The off-diagonal entries are -s_i s_j: every output depends on every logit.",
                     lambda s: diag_of(np.asarray(s) * (1 - np.asarray(s)))),
        WrongVariant("elementwise_vector", "elementwise_jacobian",
                     "You returned the vector s * (1 - s), the derivative of a sigmoid-like "
                     "element-wise function. Softmax's derivative is a full (K, K) matrix.",
                     lambda s: np.asarray(s) * (1 - np.asarray(s))),
        WrongVariant("negated", "sign",
                     "Your Jacobian is s s^T - diag(s): the sign is flipped. Diagonal entries "
                     "s_i (1 - s_i) are positive.",
                     lambda s: outer(np.asarray(s)) - diag_of(s)),
        WrongVariant("no_diagonal", None,
                     "You returned -s s^T and forgot the diag(s) term (the Kronecker delta "
                     "delta_ij in s_i (delta_ij - s_j)).",
                     lambda s: -outer(np.asarray(s))),
        WrongVariant("softmax_of_s", None,
                     "You applied softmax to s again. The function receives the softmax OUTPUT "
                     "s; use it directly.",
                     lambda s: F.softmax_jacobian(F.softmax(_f64(s)))),
    ]
    if batched:
        variants.append(WrongVariant(
            "summed_over_batch", "wrong_axis",
            "You combined the examples of the batch into a single (K, K) matrix. Each example "
            "has its own Jacobian: the result is (N, K, K).",
            lambda S: np.diag(np.asarray(S).sum(0)) - np.asarray(S).T @ np.asarray(S)))
    return tuple(variants)


register(NumericExercise(
    id="softmax_jacobian", notebook=3, title="Softmax Jacobian (one example)", points=2.0,
    signature="softmax_jacobian(s)", arg_names=("s",),
    reference=lambda s: F.softmax_jacobian(_f64(s)),
    public_cases=_jacobian_public, hidden_cases=_jacobian_hidden,
    variants=_jacobian_variants(batched=False),
    hints=(
        "The input is the softmax OUTPUT s, shape (K,). The result J has J[i, j] = ds_i/dz_j, "
        "shape (K, K).",
        "Componentwise: ds_i/dz_j = s_i (delta_ij - s_j), where delta_ij is 1 if i == j "
        "else 0. So the diagonal is s_i (1 - s_i) and the off-diagonal entries are -s_i s_j.",
        "In matrix form J = diag(s) - s s^T. NumPy: np.diag(s) builds the first term, "
        "np.outer(s, s) the second.",
        "`return np.diag(s) - np.outer(s, s)`.",
    ),
))


def _jacobian_batch_public():
    S = np.array([[0.2, 0.3, 0.5], [0.7, 0.2, 0.1]])
    return [Case((S,), f"S = {S.tolist()}", hidden=False),
            Case((S[:1],), "a batch of one example, S of shape (1, 3)", hidden=False)]


def _jacobian_batch_hidden(rng):
    cases = []
    for n, k, dtype, regime, layout in ((1, 2, _F64, "normal", "C"),
                                        ("n", "k", _F32, "normal", "F"),
                                        ("n", "k", _F64, "extreme", "strided"),
                                        ("n", "k", _F64, "mixed_scales", "reversed"),
                                        (2, "big", _F32, "normal", "C"),
                                        ("sq", "sq", _F64, "normal", "C")):
        if n == "sq":
            n = k = _size(rng, 3, 8)
        n = _size(rng, 2, 32) if n == "n" else n
        k = {"k": _size(rng, 3, 40), "big": _size(rng, 150, 300)}.get(k, k)
        S = with_layout(_probabilities(rng, (n, k), dtype, regime), layout)
        cases.append(Case((S,), describe_array("S", S, "softmax of " + regime + " logits"),
                          dtype=dtype))
    return cases


register(NumericExercise(
    id="softmax_jacobian_batch", notebook=3, title="Softmax Jacobians for a batch", points=2.0,
    signature="softmax_jacobian_batch(S)", arg_names=("S",),
    reference=lambda S: F.softmax_jacobian(_f64(S)),
    public_cases=_jacobian_batch_public, hidden_cases=_jacobian_batch_hidden,
    variants=_jacobian_variants(batched=True),
    hints=(
        "One Jacobian per example: S is (N, K), the result is (N, K, K) and "
        "result[n] = diag(S[n]) - outer(S[n], S[n]).",
        "A Python loop over n that fills np.empty((N, K, K)) is a correct first version. Then "
        "try to remove the loop.",
        "The batched outer product is S[:, :, None] * S[:, None, :] (or "
        "np.einsum('ni,nj->nij', S, S)). For the diagonal part, multiply S[:, :, None] by "
        "np.eye(K).",
        "`return S[:, :, None] * np.eye(S.shape[1]) - S[:, :, None] * S[:, None, :]`.",
    ),
))


# ---------------------------------------------------------------------------
# 04 vector-Jacobian product and cross-entropy
# ---------------------------------------------------------------------------

_VJP_MEMORY_K = 1024


def _vjp_public():
    s = np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    g = np.array([[1.0, 0.0, 0.0], [0.5, -1.0, 2.0]])
    return [Case((s, g), f"s = {s.tolist()}, g = {g.tolist()}", hidden=False)]


def _vjp_hidden(rng):
    cases = []
    for z, regime, dtype in _logit_batches(rng, max_n=32):
        s = with_layout(F.softmax(_f64(z)).astype(dtype), "C")
        g = with_layout(rng.normal(size=s.shape).astype(dtype), pick(rng, _ANY_LAYOUT))
        s = with_layout(s, pick(rng, _ANY_LAYOUT))
        label = f"{describe_array('s', s, 'softmax of ' + regime + ' logits')}; " \
                f"{describe_array('g', g)}"
        cases.append(Case((s, g), label, dtype=dtype))
    n, k = 4, _VJP_MEMORY_K
    s = F.softmax(rng.normal(size=(n, k)))
    g = rng.normal(size=(n, k))
    full_j = n * k * k * 8
    cases.append(Case((s, g), f"s and g of shape ({n}, {k}) (a single (K, K) Jacobian would "
                              f"take {k * k * 8 / 2**20:.0f} MiB)",
                      memory_limit=full_j // (4 * n)))
    return cases


register(NumericExercise(
    id="softmax_vjp", notebook=4, title="Softmax vector-Jacobian product", points=3.0,
    signature="softmax_vjp(s, g)", arg_names=("s", "g"),
    reference=lambda s, g: F.softmax_vjp(_f64(s), _f64(g)),
    public_cases=_vjp_public, hidden_cases=_vjp_hidden,
    memory_message=("Right numbers, but your function allocated {mib:.1f} MiB on this case "
                    "(the limit is {limit:.1f} MiB): it seems to build the (K, K) Jacobian. "
                    "Use g^T J = s * (g - sum(g * s)) per row, which needs only (N, K) arrays."),
    variants=(
        WrongVariant("elementwise", "elementwise_jacobian",
                     "You multiplied g element-wise by s * (1 - s), the diagonal of the "
                     "Jacobian only. Each dL/dz_j collects g_i * ds_i/dz_j from EVERY output i.",
                     lambda s, g: np.asarray(g) * np.asarray(s) * (1 - np.asarray(s))),
        WrongVariant("negated", "sign",
                     "Your result has the opposite sign: it is s * (<g, s> - g).",
                     lambda s, g: -F.softmax_vjp(_f64(s), _f64(g))),
        WrongVariant("axis0", "wrong_axis",
                     "You summed g * s over the batch (axis=0). The inner product <g, s> is "
                     "per example: sum over axis=-1 with keepdims=True.",
                     lambda s, g: _f64(s) * (_f64(g) - (_f64(g) * _f64(s)).sum(
                         axis=0, keepdims=True))),
        WrongVariant("total_sum", "wrong_axis",
                     "You summed g * s over the whole batch into one number. The inner product "
                     "is per example: sum over axis=-1 with keepdims=True.",
                     lambda s, g: _f64(s) * (_f64(g) - (_f64(g) * _f64(s)).sum())),
        WrongVariant("no_diagonal", None,
                     "You returned -s * <g, s> and dropped the diagonal term s * g.",
                     lambda s, g: -_f64(s) * (_f64(g) * _f64(s)).sum(axis=-1, keepdims=True)),
    ),
    hints=(
        "For one example the chain rule gives dL/dz_j = sum_i g_i * ds_i/dz_j, i.e. the row "
        "vector g^T J with J = diag(s) - s s^T. The result has the shape of s.",
        "Multiply out without building J: g^T diag(s) = g * s, and g^T s s^T = (g . s) s, "
        "where g . s is ONE number per example.",
        "Per example: dz = s * (g - (g * s).sum()). For a batch the sum must be per row: "
        "(g * s).sum(axis=-1, keepdims=True).",
        "`return s * (g - (g * s).sum(axis=-1, keepdims=True))`.",
    ),
))


def _ce_public():
    z = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]])
    y = np.array([0, 1])
    z2 = np.array([[0.0, 0.0], [1.0, -1.0], [3.0, 3.0]])
    y2 = np.array([1, 0, 0])
    return [Case((z, y), f"logits = {z.tolist()}, y = {y.tolist()}", hidden=False),
            Case((z2, y2), f"logits = {z2.tolist()}, y = {y2.tolist()}", hidden=False)]


def _ce_hidden(rng):
    cases = []
    for z, regime, dtype in _logit_batches(rng):
        y = labels(rng, z.shape[0], z.shape[1])
        label = f"{describe_array('logits', z, regime)}; y ({z.shape[0]},) int"
        cases.append(Case((z, y), label, dtype=dtype))
    return cases


def _ce_per_example(z, y):
    return -F.log_softmax(_f64(z))[np.arange(len(y)), np.asarray(y)]


register(NumericExercise(
    id="cross_entropy", notebook=4, title="Cross-entropy loss (batch mean)", points=2.0,
    signature="cross_entropy(logits, y)", arg_names=("logits", "y"),
    reference=lambda z, y: F.cross_entropy(_f64(z), np.asarray(y)),
    public_cases=_ce_public, hidden_cases=_ce_hidden,
    variants=(
        WrongVariant("sum", "missing_batch_mean",
                     "You summed the per-example losses; the loss is their MEAN "
                     "(divide by N, or use .mean()).",
                     lambda z, y: _ce_per_example(z, y).sum()),
        WrongVariant("negated", "sign",
                     "Your loss is negative: you forgot the minus in -log p[y]. The "
                     "cross-entropy is always >= 0.",
                     lambda z, y: -_ce_per_example(z, y).mean()),
        WrongVariant("no_max_shift", "overflow",
                     "You computed softmax without subtracting the row maximum, so exp "
                     "overflowed on large logits.",
                     lambda z, y: -np.log(_naive_softmax(z)[np.arange(len(y)), y]).mean()),
        WrongVariant("log_of_softmax", "not_finite",
                     "You took np.log(softmax(logits)). When the true class's probability "
                     "underflows to 0, its log is -inf and the loss becomes inf. Use "
                     "log-softmax (z - m - log(sum(exp(z - m)))) instead.",
                     lambda z, y: -np.log(F.softmax(np.asarray(z))[np.arange(len(y)), y]).mean()),
        WrongVariant("all_classes", "missing_one_hot",
                     "You added up -log p over ALL classes of each example. The loss only uses "
                     "the probability of the true class y[n] (the one-hot target picks it).",
                     lambda z, y: -F.log_softmax(_f64(z)).sum(axis=1).mean()),
        WrongVariant("wrong_index", None,
                     "You indexed with [:, y], which picks an (N, N) block of entries. Use "
                     "[np.arange(N), y] to pick one entry per example.",
                     lambda z, y: -F.log_softmax(_f64(z))[:, np.asarray(y)].mean()),
        WrongVariant("axis0", "wrong_axis",
                     "You normalised the softmax down the columns (axis=0).",
                     lambda z, y: -np.log(_softmax_axis0(_f64(z)))[np.arange(len(y)), y].mean()),
        WrongVariant("per_example", None,
                     "You returned one loss per example; the exercise wants their mean, a "
                     "single number.", _ce_per_example),
    ),
    hints=(
        "For one example, L = -log p_y where p = softmax(logits) and y is the true class. The "
        "batch loss is the mean over the N examples: a single number.",
        "Use log-softmax, not log(softmax): log p = z - m - log(sum(exp(z - m))) with m the row "
        "maximum, which stays finite even for logits of 1e4.",
        "Pick one entry per row with integer-array indexing: logp[np.arange(N), y] has shape (N,).",
        "logp = z - z.max(1, keepdims=True); logp = logp - np.log(np.exp(logp).sum(1, "
        "keepdims=True)); return -logp[np.arange(len(y)), y].mean().",
    ),
))


register(NumericExercise(
    id="cross_entropy_grad", notebook=4, title="Gradient of cross-entropy w.r.t. the logits",
    points=3.0, signature="cross_entropy_grad(logits, y)", arg_names=("logits", "y"),
    reference=lambda z, y: F.cross_entropy_grad(_f64(z), np.asarray(y)),
    public_cases=_ce_public, hidden_cases=_ce_hidden,
    variants=(
        WrongVariant("no_mean", "missing_batch_mean",
                     "You returned softmax - one_hot without dividing by N. The loss is the "
                     "batch mean, so every entry of its gradient carries 1/N.",
                     lambda z, y: F.softmax(_f64(z)) - _onehot(y, np.shape(z)[1])),
        WrongVariant("no_one_hot", "missing_one_hot",
                     "You returned softmax / N and forgot to subtract the one-hot target.",
                     lambda z, y: F.softmax(_f64(z)) / len(y)),
        WrongVariant("negated", "sign",
                     "Your gradient is (one_hot - softmax) / N: the sign is flipped. The "
                     "gradient points towards higher loss, so the true class gets p_y - 1 < 0.",
                     lambda z, y: -F.cross_entropy_grad(_f64(z), np.asarray(y))),
        WrongVariant("no_max_shift", "overflow",
                     "Your softmax has no max shift, so exp overflowed on large logits.",
                     lambda z, y: (_naive_softmax(z) - _onehot(y, np.shape(z)[1])) / len(y)),
        WrongVariant("axis0", "wrong_axis",
                     "Your softmax normalises down the columns (axis=0) instead of along each row.",
                     lambda z, y: (_softmax_axis0(_f64(z)) - _onehot(y, np.shape(z)[1])) / len(y)),
        WrongVariant("transposed", "transposed",
                     "You returned the gradient transposed; it has the shape of the logits.",
                     lambda z, y: F.cross_entropy_grad(_f64(z), np.asarray(y)).T),
        WrongVariant("sum_and_no_one_hot", "missing_one_hot",
                     "You returned softmax(logits) alone: no one-hot subtracted and no 1/N.",
                     lambda z, y: F.softmax(_f64(z))),
    ),
    hints=(
        "The result has the shape of the logits, (N, K): entry [n, k] is dL/dz_nk for the "
        "MEAN loss over the batch.",
        "For one example the chain rule through softmax collapses to p - y_onehot, where p is "
        "the softmax of that example's logits.",
        "Build the one-hot target with Y = np.zeros_like(p); Y[np.arange(N), y] = 1. Then "
        "remember the mean: every example contributes 1/N of the loss.",
        "`p = softmax(logits); p[np.arange(N), y] -= 1; return p / N` (with a stable softmax).",
    ),
))


# ---------------------------------------------------------------------------
# 06 dense backward and numerical gradients
# ---------------------------------------------------------------------------


def _dense_backward_reference(dZ, A, W):
    dZ, A, W = _f64(dZ), _f64(A), _f64(W)
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
        n = _size(rng, 2, 64) if n == "n" else n
        cases.append(_dense_backward_case(rng, n, _size(rng, 1, 40), _size(rng, 1, 40),
                                          dtype, layout))
    return cases


def _dense_backward_variant(**wrong):
    def compute(dZ, A, W):
        dA, dW, db = _dense_backward_reference(dZ, A, W)
        parts = {"dA": dA, "dW": dW, "db": db}
        parts.update({k: f(_f64(dZ), _f64(A), _f64(W)) for k, f in wrong.items()})
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


class _KnownFunction:
    """A scalar function of an array with a known gradient (for numerical_gradient)."""

    def __init__(self, text, value, grad):
        self.text, self._value, self.grad = text, value, grad

    def __call__(self, x):
        return float(self._value(np.asarray(x, dtype=np.float64)))

    def __repr__(self):
        return f"f(x) = {self.text}"


# The learner's numerical_gradient calls these test functions while the reference watcher is
# on, so they must not call backprop_lib.functional (that would read as `uses_reference`).
def _logsumexp_rows(x):
    m = x.max(axis=-1, keepdims=True)
    return float((m[..., 0] + np.log(np.exp(x - m).sum(axis=-1))).sum())


def _softmax_rows(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


_B = np.array([[1.0, -2.0], [0.5, 0.0], [-1.0, 3.0], [2.0, 1.0]])
_FUNCTIONS = (
    _KnownFunction("sum(sin(x) * x**2)", lambda x: (np.sin(x) * x**2).sum(),
                   lambda x: np.cos(x) * x**2 + 2 * x * np.sin(x)),
    _KnownFunction("0.5 * sum((x @ B)**2) for a fixed (4, 2) matrix B",
                   lambda x: 0.5 * ((x @ _B) ** 2).sum(), lambda x: x @ _B @ _B.T),
    _KnownFunction("sum over rows of logsumexp(x)", _logsumexp_rows, _softmax_rows),
    _KnownFunction("sum(x**3) / 3 + sum(x)", lambda x: (x**3).sum() / 3 + x.sum(),
                   lambda x: x**2 + 1),
)


def _numgrad_case(f, x, public=False):
    return Case((f, x), f"{f!r}, {describe_array('x', x)}", hidden=not public)


def _numgrad_public():
    sin_f, quad_f = _FUNCTIONS[0], _FUNCTIONS[1]
    return [_numgrad_case(sin_f, np.array([0.5, -1.0, 2.0]), True),
            _numgrad_case(quad_f, np.array([[1.0, 0.5, -0.5, 2.0], [0.0, 1.0, 1.5, -1.0],
                                            [2.0, -1.0, 0.0, 0.5]]), True)]


def _numgrad_hidden(rng):
    sin_f, quad_f, lse_f, cube_f = _FUNCTIONS
    return [
        _numgrad_case(sin_f, rng.uniform(-2, 2, size=1)),
        _numgrad_case(lse_f, rng.normal(0, 2, size=(_size(rng, 2, 4), _size(rng, 2, 5)))),
        _numgrad_case(quad_f, rng.normal(size=(_size(rng, 2, 5), 4))),
        _numgrad_case(cube_f, rng.normal(size=(2, 3, 2))),
        _numgrad_case(sin_f, rng.uniform(-2, 2, size=_size(rng, 5, 20))),
    ]


def _finite_difference(f, x, step):
    """``step(f, x, i)`` per entry, on a float64 copy of x; result shaped like x."""
    x = _f64(x).copy()
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
    reference=lambda f, x: f.grad(_f64(x)),
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
                     lambda f, x: f.grad(_f64(x)).T),
        WrongVariant("flattened", "shape",
                     "You returned a flat vector; reshape the gradient to x's shape.",
                     lambda f, x: f.grad(_f64(x)).ravel()),
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
