"""Exercises of notebook 04 (Chain rule and cross-entropy): ``cross_entropy``,
``jacobian_vjp``, ``softmax_vjp``, ``cross_entropy_grad`` and three questions.

Everything about each exercise lives here: public cases, hidden-case generator,
reference, named wrong variants and hints (see CONTRIBUTING.md, "Adding an exercise").
"""

from __future__ import annotations

import numpy as np

from ... import functional as F
from ..cases import (
    ANY_LAYOUT,
    Case,
    as_float64,
    describe_array,
    labels,
    logit_batches,
    pick,
    probabilities,
    random_size,
    with_layout,
)
from ..decomposition import Term
from ..mistakes import WrongVariant
from ..numeric import NumericExercise
from ..probes import probe, readable_logits, readable_probabilities
from ..questions import Question
from ..registry import register
from ..wrong_implementations import (
    naive_softmax,
    one_hot_float64,
    softmax_axis0,
    softmax_row_shift_column_sum,
)

_F64, _F32 = np.float64, np.float32


def _ce_public():
    # N = 3, K = 4 and labels that are not 0..N-1: dividing by N - 1, by K or by N*K, and
    # averaging every log-probability instead of picking p[y], all give different numbers.
    z = np.array([[2.0, 1.0, 0.1, -1.0], [0.5, 2.5, 0.3, 0.0], [-0.5, 0.2, 1.5, 0.7]])
    y = np.array([0, 1, 3])
    z2 = np.array([[0.0, 0.0], [1.0, -1.0], [3.0, 3.0]])
    y2 = np.array([1, 0, 0])
    return [Case((z, y), f"logits = {z.tolist()}, y = {y.tolist()}", hidden=False),
            Case((z2, y2), f"logits = {z2.tolist()}, y = {y2.tolist()}", hidden=False)]


def _ce_hidden(rng):
    cases = []
    for z, regime, dtype in logit_batches(rng):
        y = labels(rng, z.shape[0], z.shape[1])
        label = f"{describe_array('logits', z, regime)}; y ({z.shape[0]},) int"
        cases.append(Case((z, y), label, dtype=dtype))
    return cases


def _ce_probes():
    """Logits and labels with N != K (two sizes) and N = K.

    The square probe's one-hot matrix is not symmetric (and has a repeated label), so a
    transposed Y shows.
    """
    return [probe((readable_logits(2, 3, 40), np.array([2, 0])), "logits (2, 3), y = [2, 0]"),
            probe((readable_logits(4, 5, 41), np.array([1, 4, 0, 2])),
                  "logits (4, 5), y = [1, 4, 0, 2]"),
            probe((readable_logits(4, 4, 42), np.array([3, 0, 1, 1])),
                  "logits (4, 4), y = [3, 0, 1, 1]: N = K")]


def _ce_dims(z, y):
    return {"N": np.shape(z)[0], "K": np.shape(z)[1]}


#: The constants learners add inside a log "to avoid log(0)".
_EPSILONS = (1e-7, 1e-8, 1e-9, 1e-10, 1e-12, 1e-15, 1e-16)


def _log_of_softmax_plus(z, y, eps):
    """-mean(log(p[y] + eps))."""
    p = F.softmax(as_float64(z))[np.arange(len(y)), np.asarray(y)]
    return -np.log(p + eps).mean()


def _ce_per_example(z, y):
    return -F.log_softmax(as_float64(z))[np.arange(len(y)), np.asarray(y)]


register(NumericExercise(
    id="cross_entropy", notebook=4, title="Cross-entropy loss (batch mean)", points=2.0,
    signature="cross_entropy(logits, y)", arg_names=("logits", "y"),
    reference=lambda z, y: F.cross_entropy(as_float64(z), np.asarray(y)),
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
                     lambda z, y: -np.log(naive_softmax(z)[np.arange(len(y)), y]).mean()),
        WrongVariant("log_of_softmax", "not_finite",
                     "You took np.log(softmax(logits)). When the true class's probability "
                     "underflows to 0, its log is -inf and the loss becomes inf. Use "
                     "log-softmax (z - m - log(sum(exp(z - m)))) instead.",
                     lambda z, y: -np.log(F.softmax(np.asarray(z))[np.arange(len(y)), y]).mean()),
        WrongVariant("all_classes", "missing_one_hot",
                     "You added up -log p over ALL classes of each example. The loss only uses "
                     "the probability of the true class y[n] (the one-hot target picks it).",
                     lambda z, y: -F.log_softmax(as_float64(z)).sum(axis=1).mean()),
        WrongVariant("mean_of_all_entries", "missing_one_hot",
                     "You averaged -log p over EVERY entry of the (N, K) array, all classes of "
                     "every example. The loss only uses the probability of the true class "
                     "y[n] (the one-hot target picks it), then averages over the N examples.",
                     lambda z, y: -F.log_softmax(as_float64(z)).mean()),
        WrongVariant("wrong_index", "wrong_index",
                     "You indexed with [:, y], which picks an (N, N) block of entries. Use "
                     "[np.arange(N), y] to pick one entry per example.",
                     lambda z, y: -F.log_softmax(as_float64(z))[:, np.asarray(y)].mean()),
        WrongVariant("max_not_added_back", "missing_term",
                     "You subtracted the row maximum m inside the log-sum-exp but did not add "
                     "it back: log(sum(exp(z))) = m + log(sum(exp(z - m))).",
                     lambda z, y: np.mean(np.log(np.exp(as_float64(z) - as_float64(z).max(
                         axis=1, keepdims=True)).sum(axis=1))
                         - as_float64(z)[np.arange(len(y)), np.asarray(y)])),
    ) + tuple(
        WrongVariant(f"epsilon_in_log_{eps:g}", "not_finite",
                     "You computed -log(p + eps): the small constant only hides the problem. "
                     "When the true class's probability underflows, log(p + eps) is "
                     "log(eps), far from the true log-probability. Use log-softmax, "
                     "z - m - log(sum(exp(z - m))), which never underflows.",
                     lambda z, y, eps=eps: _log_of_softmax_plus(z, y, eps))
        for eps in _EPSILONS) + (
        WrongVariant("labels_from_one", "wrong_index",
                     "You indexed with y - 1, as if the labels counted from 1. Class labels "
                     "are 0, ..., K - 1: index with y itself.",
                     lambda z, y: -F.log_softmax(as_float64(z))[np.arange(len(y)),
                                                                np.asarray(y) - 1].mean()),
        WrongVariant("predicted_class", "missing_one_hot",
                     "You took the log-probability of the PREDICTED class (the largest one) "
                     "instead of the true class y[n]. The loss looks at the true label.",
                     lambda z, y: -F.log_softmax(as_float64(z)).max(axis=1).mean()),
        WrongVariant("rows_by_label", "wrong_index",
                     "You indexed with p[y], which picks whole ROWS of p (row y[n] for each "
                     "n). To take each example's probability of its own class, index with "
                     "two arrays: p[np.arange(N), y].",
                     lambda z, y: -np.log(F.softmax(as_float64(z))[np.asarray(y)]).mean()),
        WrongVariant("axis0", "wrong_axis",
                     "You normalised the softmax down the columns (axis=0).",
                     lambda z, y: -np.log(softmax_axis0(z))[np.arange(len(y)), y].mean()),
        WrongVariant("per_example", "shape",
                     "You returned one loss per example; the exercise wants their mean, a "
                     "single number.", _ce_per_example),
    ),
    probes=_ce_probes, dims=_ce_dims, normaliser="1/N",
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


# ---------------------------------------------------------------------------
# jacobian_vjp (04 section 3): g^T J for ANY Jacobian. Tested with rectangular and
# non-symmetric J, because softmax's J is symmetric and square and so hides every
# mistake about which index the chain rule sums over.
# ---------------------------------------------------------------------------


def _jvp_reference(g, J):
    """dL/dz[..., k] = sum_m g[..., m] J[..., m, k], in float64."""
    return np.einsum("...m,...mk->...k", as_float64(g), as_float64(J))


def _jvp_public():
    J_square = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 3.0], [4.0, 0.0, 1.0]])
    g_square = np.array([1.0, 2.0, 3.0])
    J_wide = np.array([[1.0, 0.0, 2.0], [-1.0, 3.0, 0.5]])
    g_wide = np.array([2.0, -1.0])
    J_batch = np.stack([J_wide, J_wide[::-1] * 2.0])
    g_batch = np.array([[2.0, -1.0], [0.5, 1.0]])
    return [
        Case((g_square, J_square), f"g = {g_square.tolist()}, J = {J_square.tolist()} "
             "(square, not symmetric)", hidden=False),
        Case((g_wide, J_wide), f"g = {g_wide.tolist()}, J = {J_wide.tolist()} (M = 2 "
             "outputs, K = 3 inputs)", hidden=False),
        Case((g_batch, J_batch), "a batch: g (2, 2), J (2, 2, 3), one Jacobian per example",
             hidden=False),
    ]


def _jvp_arrays(rng, lead, m, k, dtype, layout):
    """Random g (*lead, m) and a non-symmetric J (*lead, m, k) of mixed magnitudes."""
    scale = 10.0 ** rng.uniform(-1, 1) if dtype == _F64 else 1.0
    J = with_layout((rng.normal(size=(*lead, m, k)) * scale).astype(dtype), layout)
    g = with_layout(rng.normal(size=(*lead, m)).astype(dtype), pick(rng, ANY_LAYOUT))
    return g, J


def _jvp_hidden(rng):
    def size():
        return random_size(rng, 2, 24)

    m, k = size(), size()
    while k == m:
        k = size()
    sq = size()
    cases = []
    for lead, (mm, kk), dtype, layout, what in (
            ((), (m, k), _F64, "C", "one example, rectangular J"),
            ((), (sq, sq), _F32, "F", "one example, square non-symmetric J"),
            ((), (1, k), _F64, "C", "a scalar function: M = 1 output"),
            ((), (m, 1), _F64, "strided", "one input: K = 1"),
            ((size(),), (m, k), _F64, "strided", "a batch of rectangular Jacobians"),
            ((size(),), (sq, sq), _F32, "reversed", "a batch of square non-symmetric J"),
            ((sq,), (sq, sq), _F64, "C", "a batch with N = M = K"),
            ((2, size()), (m, k), _F64, "F", "two leading axes"),
    ):
        g, J = _jvp_arrays(rng, lead, mm, kk, dtype, layout)
        cases.append(Case((g, J), f"{describe_array('g', g)}; {describe_array('J', J, what)}",
                          dtype=dtype))
    n, kk = size(), random_size(rng, 3, 12)
    S = probabilities(rng, (n, kk), _F64, "normal")
    J_soft = F.softmax_jacobian(S)
    g = rng.normal(size=(n, kk))
    cases.append(Case((g, J_soft), f"g ({n}, {kk}); J ({n}, {kk}, {kk}), softmax Jacobians"))
    return cases


def _last_two_swapped(J):
    return np.swapaxes(np.asarray(J), -1, -2)


def _need_square(J):
    J = np.asarray(J)
    if J.shape[-1] != J.shape[-2]:
        raise ValueError("this mistake needs a square J")
    return J


def _need_batch(g):
    g = np.asarray(g)
    if g.ndim < 2:
        raise ValueError("this mistake needs a batch")
    return g


register(NumericExercise(
    id="jacobian_vjp", notebook=4, title="Vector-Jacobian product for any Jacobian",
    points=3.0, signature="jacobian_vjp(g, J)", arg_names=("g", "J"),
    reference=_jvp_reference, public_cases=_jvp_public, hidden_cases=_jvp_hidden,
    variants=(
        WrongVariant("J_times_g", "transposed",
                     "You computed J g (J @ g, or (g * J).sum(axis=-1)): that sums over the "
                     "COLUMNS of J, the inputs. The chain rule sums over the outputs, the ROWS: "
                     "dL/dz_k = sum_m g_m J[m, k], which is g @ J (or J.T @ g). For a symmetric J "
                     "such as softmax's the two agree; for this J they do not.",
                     lambda g, J: np.einsum("...mk,...k->...m", _need_square(J), g)),
        WrongVariant("broadcast_product", "shape",
                     "You returned g * J. Broadcasting lines g up with the LAST axis of J and "
                     "returns a whole (M, K) array (column k scaled by g_k) without any error. "
                     "The chain rule scales ROW m of J by g_m and then adds up the rows.",
                     lambda g, J: np.asarray(g)[..., None, :] * _need_square(J)),
        WrongVariant("rows_scaled_not_summed", "shape",
                     "You scaled row m of J by g_m (g[:, None] * J) but did not add up the rows. "
                     "Sum over the output axis, the one g shares with J: .sum(axis=-2).",
                     lambda g, J: np.asarray(g)[..., :, None] * np.asarray(J)),
        WrongVariant("rows_scaled_summed_along_rows", "wrong_axis",
                     "You scaled row m of J by g_m (right) but then summed along each row "
                     "(axis=-1, over the inputs), which gives g_m times the sum of row m. Sum "
                     "over the rows instead (axis=-2): the output index m is the one the chain "
                     "rule sums over. (For softmax this wrong route gives exactly zeros, because "
                     "the rows of its Jacobian sum to zero.)",
                     lambda g, J: (np.asarray(g)[..., :, None] * np.asarray(J)).sum(axis=-1)),
        WrongVariant("columns_scaled_summed", "wrong_axis",
                     "You computed (g * J).sum(axis=0): g * J scales the COLUMNS of J by g "
                     "(broadcasting lines g up with the last axis), so the sum gives g_k times "
                     "the sum of column k. Scale the rows instead, g[:, None] * J, then sum over "
                     "axis 0. (For softmax this wrong route gives exactly zeros, because the "
                     "columns of its Jacobian sum to zero.)",
                     lambda g, J: (np.asarray(g)[..., None, :] * _need_square(J)).sum(axis=-2)),
        WrongVariant("diagonal_only", "elementwise_jacobian",
                     "You multiplied g by the diagonal of J only (g * diag(J)), as for an "
                     "element-wise activation. That is right only when J is diagonal; in "
                     "general every output m contributes g_m J[m, k] to input k.",
                     lambda g, J: np.asarray(g) * np.diagonal(_need_square(J), axis1=-2,
                                                              axis2=-1)),
        WrongVariant("batch_matmul", "shape",
                     "For a batch, g @ J (or np.dot(g, J)) treats g of shape (N, M) as ONE "
                     "matrix and multiplies it into every J[n]: the result is (N, N, K), every "
                     "example's g against every example's Jacobian. Pair g[n] with J[n]: "
                     "np.einsum('...m,...mk->...k', g, J), or (g[..., None, :] @ J)[..., 0, :].",
                     lambda g, J: _need_batch(g) @ np.asarray(J)),
        WrongVariant("batch_dot", "shape",
                     "For a batch, np.dot(g, J) sums g[i, m] * J[j, m, k] for EVERY pair of "
                     "examples (i, j): the result is (N, N, K). Pair g[n] with J[n]: "
                     "np.einsum('...m,...mk->...k', g, J), or (g[..., None, :] @ J)[..., 0, :].",
                     lambda g, J: np.dot(_need_batch(g), np.asarray(J))),
        WrongVariant("batch_full_transpose", "transposed",
                     "J.T reverses ALL axes of a stack of Jacobians: (N, M, K) becomes "
                     "(K, M, N). For one Jacobian J.T @ g is right; for a batch swap only the "
                     "last two axes, np.swapaxes(J, -1, -2), or use np.einsum.",
                     lambda g, J: np.asarray(J).T @ _need_batch(g)),
        WrongVariant("kept_row_axis", "shape",
                     "You kept the length-1 row axis of g[..., None, :] @ J: the result is "
                     "(..., 1, K). Drop it with [..., 0, :] so that dL/dz has the shape of z.",
                     lambda g, J: np.asarray(g)[..., None, :] @ np.asarray(J)),
    ),
    hints=(
        "Write the chain rule for one input k: dL/dz_k = sum over the outputs m of "
        "g_m * J[m, k]. The sum runs over the FIRST (row) index of J, the one g shares with J.",
        "For one example that is the row vector g times the matrix J: g @ J, "
        "(M,) @ (M, K) -> (K,). With a J that is not square, J @ g would not even run.",
        "For a batch, g @ J does not pair g[n] with J[n]. np.einsum names the indices: "
        "'...m,...mk->...k' keeps the leading axes and sums over m.",
        "`return np.einsum('...m,...mk->...k', g, J)` (or `(g[..., None, :] @ J)[..., 0, :]`).",
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


_VJP_MEMORY_K = 2048


def _vjp_with_inner(s, g, inner):
    """s * (g - inner): the VJP formula with a given (possibly wrongly summed) <g, s>."""
    return as_float64(s) * (as_float64(g) - inner)


def _vjp_probes():
    rng = np.random.default_rng(43)

    def g_of(n, k):
        return np.round(rng.uniform(-2.0, 2.0, size=(n, k)), 1) + np.arange(k) * 0.01

    return [probe((readable_probabilities(5, 5, 45), g_of(5, 5)), "s, g of shape (5, 5): N = K"),
            probe((readable_probabilities(3, 5, 46), g_of(3, 5)), "s, g of shape (3, 5)"),
            probe((readable_probabilities(2, 3, 44), g_of(2, 3)), "s, g of shape (2, 3)")]


def _inner(s, g, axis=-1):
    """<g, s>, summed along `axis` (keepdims)."""
    return (as_float64(g) * as_float64(s)).sum(axis=axis, keepdims=True)


def _square_matmul(a, b):
    """a @ b for square batches only (the mistake raises for N != K)."""
    a, b = as_float64(a), as_float64(b)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError("only a square batch multiplies")
    return a @ b


def _inner_no_keepdims(s, g):
    s = as_float64(s)
    if s.ndim != 2 or s.shape[0] != s.shape[1]:
        raise ValueError("only a square batch broadcasts")
    return s * _inner(s, g)[:, 0]


# g^T J = 1 * s * g - 1 * s * <g, s>, and the terms of likely mistakes.
_VJP_TERMS = (
    Term("sg", "diagonal term s * g", lambda s, g: as_float64(s) * as_float64(g), "1",
         sentence="You left out the term s * g, which comes from diag(s) in "
                  "J = diag(s) - s s^T."),
    Term("s_inner", "term s * <g, s>", lambda s, g: as_float64(s) * _inner(s, g), "-1",
         sentence="You left out the term -s * <g, s>, which comes from -s s^T in "
                  "J = diag(s) - s s^T: each dL/dz_j collects g_i ds_i/dz_j from EVERY "
                  "output i."),
    Term("s2g", "term s * s * g", lambda s, g: as_float64(s) ** 2 * as_float64(g),
         code="elementwise_jacobian",
         sentence="You multiplied g element-wise by s * (1 - s), the diagonal of the Jacobian "
                  "only. The off-diagonal entries -s_i s_j matter: dL/dz = s * (g - <g, s>).",
         replaces="s_inner"),
    Term("s_inner_axis0", "term s * <g, s> summed over the batch",
         lambda s, g: as_float64(s) * _inner(s, g, axis=0), code="wrong_axis",
         sentence="You summed g * s over the batch (axis=0). The inner product <g, s> is per "
                  "example: sum over axis=-1 with keepdims=True.", replaces="s_inner"),
    Term("s_inner_total", "term s * (sum of every g * s)",
         lambda s, g: as_float64(s) * (as_float64(g) * as_float64(s)).sum(), code="wrong_axis",
         sentence="You summed g * s over the whole batch into one number. The inner product "
                  "<g, s> is per example: sum over axis=-1 with keepdims=True.",
         replaces="s_inner"),
    Term("s_inner_no_keepdims", "term s * <g, s> without keepdims", _inner_no_keepdims,
         code="wrong_axis",
         sentence="You summed g * s over axis=-1 without keepdims=True: the (N,) result lines "
                  "up with the LAST axis, so column j got example j's inner product (other "
                  "shapes raise an error). Use keepdims=True.", replaces="s_inner"),
    Term("s_matmul", "term s * (g @ s)", lambda s, g: as_float64(s) * _square_matmul(g, s),
         code="wrong_axis",
         sentence="You wrote g @ s (or np.dot(g, s)) for the inner product: for batches of "
                  "shape (N, K) that is a matrix product mixing examples and classes (it runs "
                  "only when N = K). The inner product of each example is "
                  "(g * s).sum(axis=-1, keepdims=True).", replaces="s_inner"),
    Term("s_pairs", "term s * (g @ s.T)", lambda s, g: as_float64(s) * _square_matmul(
        g, np.swapaxes(as_float64(s), -1, -2)), code="wrong_axis",
         sentence="You wrote g @ s.T for the inner product: that (N, N) table holds the inner "
                  "product of every pair of examples (it lines up with (N, K) only when "
                  "N = K). The inner product of each example is its diagonal, "
                  "(g * s).sum(axis=-1, keepdims=True).", replaces="s_inner"),
    Term("g", "upstream gradient g", lambda s, g: as_float64(g), code="missing_term",
         sentence="You forgot the factor s in front: g^T J = s * (g - <g, s>), not "
                  "g - <g, s> (or only part of it is multiplied by s).", replaces="sg"),
    Term("inner", "inner product <g, s> on its own",
         lambda s, g: _inner(s, g) * np.ones(np.shape(s)), code="missing_term",
         sentence="Your <g, s> term is not multiplied by s: g^T J = s * g - s * <g, s>.",
         replaces="s_inner"),
    Term("s_sum_g", "term s * sum(g)", lambda s, g: as_float64(s) * as_float64(g).sum(
        axis=-1, keepdims=True), code="missing_term",
         sentence="You used sum(g) where the inner product <g, s> = sum(g * s) belongs: the "
                  "sum must weight each g_i by s_i.", replaces="s_inner"),
)


def _vjp_public():
    s = np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    g = np.array([[1.0, 0.0, 0.0], [0.5, -1.0, 2.0]])
    return [Case((s, g), f"s = {s.tolist()}, g = {g.tolist()}", hidden=False)]


def _vjp_hidden(rng):
    cases = []
    for z, regime, dtype in logit_batches(rng, max_n=32):
        s = with_layout(F.softmax(as_float64(z)).astype(dtype), "C")
        g = with_layout(rng.normal(size=s.shape).astype(dtype), pick(rng, ANY_LAYOUT))
        s = with_layout(s, pick(rng, ANY_LAYOUT))
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
    reference=lambda s, g: F.softmax_vjp(as_float64(s), as_float64(g)),
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
                     lambda s, g: -F.softmax_vjp(as_float64(s), as_float64(g))),
        WrongVariant("axis0", "wrong_axis",
                     "You summed g * s over the batch (axis=0). The inner product <g, s> is "
                     "per example: sum over axis=-1 with keepdims=True.",
                     lambda s, g: _vjp_with_inner(s, g, (as_float64(g) * as_float64(s)).sum(
                         axis=0, keepdims=True))),
        WrongVariant("total_sum", "wrong_axis",
                     "You summed g * s over the whole batch into one number. The inner product "
                     "is per example: sum over axis=-1 with keepdims=True.",
                     lambda s, g: _vjp_with_inner(s, g, (as_float64(g) * as_float64(s)).sum())),
        WrongVariant("no_diagonal", "missing_term",
                     "You returned -s * <g, s> and dropped the diagonal term s * g.",
                     lambda s, g: -as_float64(s) * (as_float64(g) * as_float64(s)).sum(
                         axis=-1, keepdims=True)),
    ),
    probes=_vjp_probes, terms=_VJP_TERMS,
    dims=lambda s, g: {"N": int(np.prod(np.shape(s)[:-1], dtype=int)), "K": np.shape(s)[-1]},
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


register(Question(
    id="logit_grad_sum", notebook=4, title="The gradient with respect to the logits sums to",
    points=1.0,
    prompt="For one example, softmax followed by cross-entropy with a one-hot target: what do "
           "the K entries of dL/dz add up to, for any logits? Answer with a number.",
    answer_kind="number",
    answer_hash="6f40bdf0c1dbce6127fc33bb1fe2c99de58e8c24a3f191f05646838c13c43d32",
    explanation="dL/dz = s - Y, and both s and the one-hot Y sum to 1, so the entries sum to "
                "0. More generally, any vector-Jacobian product through softmax sums to 0, because "
                "J (1, ..., 1) = 0: raising every logit together cannot change the loss.",
    wrong_feedback={
        "06dab11745c7fd81e7667e5af08d4e0fcf7ce7276bb218b3add27589ae6bd8f9":
            "The probabilities s sum to 1, but the gradient is s - Y.",
        "e89747f67542e4ecd129f2b6166576ffd197f756c77b1915c74d8e8c79010059":
            "The entry of the true class is s_c - 1, but the other entries are positive.",
    },
    hints=(
        "Write dL/dz in its simplest form.",
        "What does s sum to? And the one-hot Y?",
        "Sum of (s - Y) = sum of s - sum of Y.",
    ),
))


def _one_hot_of(z, y):
    return one_hot_float64(y, np.shape(z)[1])


def _softmax_total(z):
    z = as_float64(z)
    e = np.exp(z - z.max())
    return e / e.sum()


# dL/dz = (1/N) * softmax(z) - (1/N) * Y, and the terms of likely mistakes.
_CE_GRAD_TERMS = (
    Term("S", "softmax term softmax(logits)", lambda z, y: F.softmax(as_float64(z)), "1/N"),
    Term("Y", "one-hot term Y", _one_hot_of, "-1/N", code="missing_one_hot",
         sentence="You forgot to subtract the one-hot target: the gradient is "
                  "(softmax(logits) - Y) / N."),
    Term("ones", "constant 1 in every entry", lambda z, y: np.ones(np.shape(z)),
         code="missing_one_hot",
         sentence="You subtracted 1 from EVERY entry. Only the true class of each example "
                  "gets the -1: subtract the one-hot target Y (Y[n, y[n]] = 1, zeros "
                  "elsewhere).", replaces="Y"),
    Term("Y_columns", "1 in every row of the label columns", lambda z, y: np.broadcast_to(
        np.isin(np.arange(np.shape(z)[1]), y), np.shape(z)).astype(float), code="wrong_index",
         sentence="You subtracted 1 from whole columns (p[:, y] -= 1): every row lost 1 in "
                  "every column that is some example's label. Each example has one true "
                  "class: p[np.arange(N), y] -= 1.", replaces="Y"),
    Term("Y_rows", "1 in every column of the label rows", lambda z, y: np.broadcast_to(
        np.isin(np.arange(np.shape(z)[0]), y)[:, None], np.shape(z)).astype(float),
         code="wrong_index",
         sentence="Your one-hot target has whole ROWS of ones (Y[y] = 1 sets rows y[n], not "
                  "one entry per example). Set Y[np.arange(N), y] = 1.", replaces="Y"),
    Term("S_axis0", "softmax down the columns", lambda z, y: softmax_axis0(z),
         code="wrong_axis",
         sentence="Your softmax normalises down the columns (axis=0) instead of along each "
                  "row.", replaces="S"),
    Term("S_total", "softmax over the whole array", lambda z, y: _softmax_total(z),
         code="wrong_axis",
         sentence="Your softmax divides by the sum over the WHOLE array instead of each "
                  "row's sum.", replaces="S"),
    Term("SY", "term softmax * Y", lambda z, y: F.softmax(as_float64(z)) * _one_hot_of(z, y),
         code="elementwise_jacobian",
         sentence="You chained dL/ds = -Y / s with the element-wise derivative s * (1 - s), "
                  "the diagonal of the softmax Jacobian only, which gives (s * Y - Y) / N. "
                  "With the whole Jacobian the chain rule collapses to (s - Y) / N.",
         replaces="S"),
)


register(NumericExercise(
    id="cross_entropy_grad", notebook=4, title="Gradient of cross-entropy w.r.t. the logits",
    points=3.0, signature="cross_entropy_grad(logits, y)", arg_names=("logits", "y"),
    reference=lambda z, y: F.cross_entropy_grad(as_float64(z), np.asarray(y)),
    public_cases=_ce_public, hidden_cases=_ce_hidden,
    variants=(
        WrongVariant("no_mean", "missing_batch_mean",
                     "You returned softmax - one_hot without dividing by N. The loss is the "
                     "batch mean, so every entry of its gradient carries 1/N.",
                     lambda z, y: F.softmax(as_float64(z)) - one_hot_float64(y, np.shape(z)[1])),
        WrongVariant("no_one_hot", "missing_one_hot",
                     "You returned softmax / N and forgot to subtract the one-hot target.",
                     lambda z, y: F.softmax(as_float64(z)) / len(y)),
        WrongVariant("negated", "sign",
                     "Your gradient is (one_hot - softmax) / N: the sign is flipped. The "
                     "gradient points towards higher loss, so the true class gets p_y - 1 < 0.",
                     lambda z, y: -F.cross_entropy_grad(as_float64(z), np.asarray(y))),
        WrongVariant("no_max_shift", "overflow",
                     "Your softmax has no max shift, so exp overflowed on large logits.",
                     lambda z, y: (naive_softmax(z) - one_hot_float64(y, np.shape(z)[1])) / len(y)),
        WrongVariant("axis0", "wrong_axis",
                     "Your softmax normalises down the columns (axis=0) instead of along each row.",
                     lambda z, y: (softmax_axis0(z) - one_hot_float64(y, np.shape(z)[1]))
                     / len(y)),
        WrongVariant("transposed", "transposed",
                     "You returned the gradient transposed; it has the shape of the logits.",
                     lambda z, y: F.cross_entropy_grad(as_float64(z), np.asarray(y)).T),
        WrongVariant("row_shift_column_sum", "wrong_axis",
                     "Your softmax subtracts each row's maximum but divides by the column sums "
                     "(axis=0). Both the max and the sum run along each row: axis=1, "
                     "keepdims=True.",
                     lambda z, y: (softmax_row_shift_column_sum(z)
                                   - one_hot_float64(y, np.shape(z)[1])) / len(y)),
        WrongVariant("sum_and_no_one_hot", "missing_one_hot",
                     "You returned softmax(logits) alone: no one-hot subtracted and no 1/N.",
                     lambda z, y: F.softmax(as_float64(z))),
    ),
    probes=_ce_probes, terms=_CE_GRAD_TERMS, dims=_ce_dims, normaliser="1/N",
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
