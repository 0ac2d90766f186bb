"""Exercises of notebook 05 (Batches and cost), in the notebook's order:
``block_diagonal_jacobian``, ``batched_vjp``, ``ce_grad_with_reduction``, the question
``jacobian_memory_gib`` and ``softmax_vjp_columns``.

Everything about each exercise lives here: public cases, hidden-case generator,
reference, named wrong variants and hints (see CONTRIBUTING.md, "Adding an exercise").

The Jacobians of the ``block_diagonal_jacobian`` and ``batched_vjp`` cases are mostly
random, NOT softmax Jacobians: a softmax Jacobian is symmetric, so ``J g`` and ``g^T J``
would agree and an order mistake could not show.
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
from ..mistakes import WrongVariant
from ..numeric import NumericExercise
from ..questions import Question
from ..registry import register
from ..wrong_implementations import one_hot_float64, stable_softmax

_F64, _F32 = np.float64, np.float32


# ---------------------------------------------------------------------------
# block_diagonal_jacobian: J (N, K, K) -> (N*K, N*K)
# ---------------------------------------------------------------------------


def _block_diagonal_reference(J):
    J = as_float64(J)
    n, k, _ = J.shape
    big = np.zeros((n * k, n * k))
    for m in range(n):
        big[m * k:(m + 1) * k, m * k:(m + 1) * k] = J[m]
    return big


def _block_diagonal_public():
    J = np.array([[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.0]],
                  [[9.0, 10.0], [11.0, 12.0]]])
    return [Case((J,), "J = [[[1, 2], [3, 4]], [[5, 6], [7, 8]], [[9, 10], [11, 12]]] "
                       "(N = 3, K = 2)", hidden=False)]


def _block_diagonal_hidden(rng):
    cases = []
    for n, k, dtype, layout in ((1, 3, _F64, "C"), ("n", "k", _F64, "F"),
                                ("n", "k", _F32, "strided"), ("sq", "sq", _F64, "reversed"),
                                ("n", 1, _F64, "C"), (2, "k", _F32, "C")):
        if n == "sq":
            n = k = random_size(rng, 3, 7)
        n = random_size(rng, 2, 8) if n == "n" else n
        k = random_size(rng, 2, 9) if k == "k" else k
        J = with_layout(rng.normal(size=(n, k, k)).astype(dtype), layout)
        cases.append(Case((J,), describe_array("J", J) + " (random, not symmetric)",
                          dtype=dtype))
    J = F.softmax_jacobian(probabilities(rng, (random_size(rng, 2, 6), 4), _F64, "normal"))
    cases.append(Case((J,), describe_array("J", J) + " (softmax Jacobians)"))
    return cases


def _interleaved(J):
    """Entry (n, i) placed at i*N + n: Z flattened column by column."""
    J = as_float64(J)
    n, k, _ = J.shape
    if n == 1 or k == 1:
        raise ValueError("the two orders coincide")
    big = _block_diagonal_reference(J).reshape(n, k, n, k)
    return big.transpose(1, 0, 3, 2).reshape(n * k, n * k)


def _tiled(J):
    """Every block of row n filled with J[n]: the off-diagonal blocks are not zero."""
    J = as_float64(J)
    n, k, _ = J.shape
    return np.tile(J.reshape(n * k, k), (1, n))


def _first_block_everywhere(J):
    J = as_float64(J)
    if J.shape[0] == 1:
        raise ValueError("one block only")
    return np.kron(np.eye(J.shape[0]), J[0])


register(NumericExercise(
    id="block_diagonal_jacobian", notebook=5, title="The batch Jacobian as one matrix",
    points=2.0, signature="block_diagonal_jacobian(J)", arg_names=("J",),
    reference=_block_diagonal_reference,
    public_cases=_block_diagonal_public, hidden_cases=_block_diagonal_hidden,
    variants=(
        WrongVariant("blocks_transposed", "transposed",
                     "Every block is transposed: block n must be J[n] itself, row i = output "
                     "S[n, i], column j = logit Z[n, j].",
                     lambda J: _block_diagonal_reference(np.swapaxes(as_float64(J), 1, 2))),
        WrongVariant("reshaped", "shape",
                     "You reshaped J to (N*K, K): the blocks are stacked on top of each other, "
                     "but the batch Jacobian also has one COLUMN per logit, N*K of them. "
                     "Block n sits in rows AND columns n*K to n*K + K - 1; the rest is zeros.",
                     lambda J: as_float64(J).reshape(-1, np.shape(J)[-1])),
        WrongVariant("four_axes", "shape",
                     "You returned an array of shape (N, K, N, K) (from an einsum with an "
                     "identity matrix, for example). The entries are right: reshape it to "
                     "(N*K, N*K).",
                     lambda J: _block_diagonal_reference(J).reshape(np.shape(J)[0],
                                                                    np.shape(J)[1],
                                                                    np.shape(J)[0],
                                                                    np.shape(J)[1])),
        WrongVariant("interleaved", None,
                     "You put entry (n, i) at position i*N + n, which is the order of Z "
                     "flattened column by column (Z.T.reshape(-1), or order='F'). Z.reshape(-1) "
                     "lists example 0's K logits first, so position n*K + i is example n, "
                     "class i.", _interleaved),
        WrongVariant("off_diagonal_filled", None,
                     "Your off-diagonal blocks are not zero. Block (n, m) holds dS[n]/dZ[m], "
                     "and example n's softmax never sees the logits of example m != n.",
                     _tiled),
        WrongVariant("first_block_everywhere", None,
                     "You placed J[0] on every diagonal block (for example np.kron(np.eye(N), "
                     "J[0])). Block n is example n's own Jacobian J[n].",
                     _first_block_everywhere),
    ),
    hints=(
        "The result has one row per entry of S and one column per entry of Z, both flattened "
        "row by row (Z.reshape(-1)): position n*K + i, counting from 0, is example n, class i.",
        "Entry [n*K + i, m*K + j] is dS[n, i]/dZ[m, j]: J[n, i, j] when m == n, and 0 when "
        "m != n, because example n's softmax never sees example m's logits.",
        "Start from np.zeros((N*K, N*K)) and copy J[n] into the slice "
        "[n*K:(n+1)*K, n*K:(n+1)*K] for every n.",
        "`big = np.zeros((N*K, N*K)); for n in range(N): big[n*K:(n+1)*K, n*K:(n+1)*K] = "
        "J[n]; return big`.",
    ),
))


# ---------------------------------------------------------------------------
# batched_vjp: (G (N, K), J (N, K, K)) -> (N, K), row n = G[n]^T J[n]
# ---------------------------------------------------------------------------


def _batched_vjp_reference(G, J):
    return np.einsum("nk,nkj->nj", as_float64(G), as_float64(J))


def _describe_pair(G, J, what="random, not symmetric"):
    return f"{describe_array('G', G)}; {describe_array('J', J)} ({what})"


def _batched_vjp_public():
    G = np.array([[1.0, 0.0, 0.0], [0.5, -1.0, 2.0]])
    J = np.array([[[1.0, 2.0, 3.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
                  [[0.0, 1.0, 0.0], [2.0, 0.0, 1.0], [1.0, 1.0, 1.0]]])
    G_sq = np.array([[1.0, 2.0], [0.0, -1.0]])
    J_sq = np.array([[[0.0, 1.0], [3.0, 0.0]], [[1.0, 1.0], [0.0, 2.0]]])
    # The square case first: there a mixed-up axis gives the right shape and a named
    # mistake instead of a broadcasting error.
    return [Case((G_sq, J_sq), "N = K = 2: G = [[1, 2], [0, -1]], J = [[[0, 1], [3, 0]], "
                               "[[1, 1], [0, 2]]]", hidden=False),
            Case((G, J), f"G = {G.tolist()}, J of shape (2, 3, 3), not symmetric",
                 hidden=False)]


def _batched_vjp_hidden(rng):
    cases = []
    for n, k, dtype, layout in ((1, 2, _F64, "C"), ("n", "k", _F64, "F"),
                                ("n", "k", _F32, "strided"), ("sq", "sq", _F64, "C"),
                                ("sq", "sq", _F32, "reversed"), (3, "big", _F64, "C")):
        if n == "sq":
            n = k = random_size(rng, 3, 10)
        n = random_size(rng, 2, 24) if n == "n" else n
        k = {"k": random_size(rng, 3, 30), "big": random_size(rng, 150, 250)}.get(k, k)
        G = with_layout(rng.normal(size=(n, k)).astype(dtype), layout)
        J = with_layout(rng.normal(size=(n, k, k)).astype(dtype), pick(rng, ANY_LAYOUT))
        cases.append(Case((G, J), _describe_pair(G, J), dtype=dtype))
    # Real softmax Jacobians too: the function must work for the Jacobian it was made for.
    n, k = random_size(rng, 2, 16), random_size(rng, 3, 30)
    J = F.softmax_jacobian(probabilities(rng, (n, k), _F64, "normal"))
    G = rng.normal(size=(n, k))
    cases.append(Case((G, J), _describe_pair(G, J, "softmax Jacobians, symmetric")))
    return cases


def _same_batch(G, J):
    G, J = as_float64(G), as_float64(J)
    if G.shape[0] != J.shape[0] or G.shape[0] == 1:
        raise ValueError("the mistake needs N > 1")
    return G, J


def _g_broadcast_over_batch(G, J):
    """(G * J).sum(axis=1): G (N, K) broadcasts as (1, N, K); runs only when N == K."""
    G, J = as_float64(G), as_float64(J)
    return (G * J).sum(axis=1)


def _first_jacobian_only(G, J):
    G, J = _same_batch(G, J)
    return G @ J[0]


register(NumericExercise(
    id="batched_vjp", notebook=5, title="Vector-Jacobian products for a batch", points=3.0,
    signature="batched_vjp(G, J)", arg_names=("G", "J"),
    reference=_batched_vjp_reference,
    public_cases=_batched_vjp_public, hidden_cases=_batched_vjp_hidden,
    variants=(
        WrongVariant("J_times_g", "transposed",
                     "You computed J g for each example (J @ g, or einsum 'nk,njk->nj'), which "
                     "sums over the COLUMN index of J[n]. The chain rule sums over the output "
                     "(row) index k: result[n, j] = sum_k G[n, k] J[n, k, j], i.e. g^T J. The "
                     "two agree only for a symmetric J, such as the softmax Jacobian.",
                     lambda G, J: np.einsum("nkj,nj->nk", as_float64(J), as_float64(G))),
        WrongVariant("summed_over_columns", "wrong_axis",
                     "You scaled row k of J[n] by G[n, k] (right) and then summed over the "
                     "columns j (axis=2), which gives G[n, k] times a row sum of J[n] (as does "
                     "einsum 'nk,nkj->nk'). Sum over k, axis=1, so that j survives.",
                     lambda G, J: as_float64(G) * as_float64(J).sum(axis=2)),
        WrongVariant("scaled_columns", "wrong_axis",
                     "You lined G up with the LAST axis of J (G[:, None, :] * J scales column "
                     "j by G[n, j]) and then summed the rows, which gives G times the column "
                     "sums of J. Row k must be scaled by G[n, k]: G[:, :, None] * J, then "
                     "sum over axis=1.",
                     lambda G, J: as_float64(G) * as_float64(J).sum(axis=1)),
        WrongVariant("mixed_examples", "wrong_axis",
                     "Your result mixes the examples: it equals G @ J.sum(axis=0), the sum of "
                     "every example's Jacobian (einsum 'nk,mkj->nj', or a tensordot followed "
                     "by a sum). Example n's gradient uses its own J[n] only: the batch index "
                     "must appear in G, in J and in the result.",
                     lambda G, J: (lambda G, J: G @ J.sum(axis=0))(*_same_batch(G, J))),
        WrongVariant("matmul_without_row_axis", "shape",
                     "G @ J with G of shape (N, K) multiplies the whole matrix G by every "
                     "J[m] and returns (N, N, K). Make each row of G a (1, K) row vector first, "
                     "G[:, None, :] @ J of shape (N, 1, K), then drop the middle axis with "
                     "[:, 0].",
                     lambda G, J: as_float64(G) @ as_float64(J)),
        WrongVariant("kept_middle_axis", "shape",
                     "You returned G[:, None, :] @ J, of shape (N, 1, K). Drop the length-1 "
                     "axis with [:, 0] to get (N, K).",
                     lambda G, J: as_float64(G)[:, None, :] @ as_float64(J)),
        WrongVariant("diagonal_only", "elementwise_jacobian",
                     "You multiplied G element-wise by the diagonal of each J[n] and dropped "
                     "the off-diagonal entries. Every J[n, k, j] contributes to result[n, j].",
                     lambda G, J: as_float64(G) * np.diagonal(as_float64(J), axis1=1,
                                                              axis2=2)),
        WrongVariant("g_broadcast_over_batch", None,
                     "You wrote (G * J).sum(axis=1). G of shape (N, K) broadcasts against J "
                     "(N, K, K) as (1, N, K), so the BATCH axis of G meets the row axis of J: "
                     "with N != K that is a broadcasting error, with N == K it silently mixes "
                     "examples. Give G its own axis for j: G[:, :, None] * J.",
                     _g_broadcast_over_batch),
        WrongVariant("first_jacobian_only", None,
                     "You used the first example's Jacobian J[0] for every example. Each "
                     "example n has its own J[n].", _first_jacobian_only),
    ),
    hints=(
        "One vector-Jacobian product per example: row n of the result is the row vector G[n] "
        "times the matrix J[n], result[n, j] = sum_k G[n, k] J[n, k, j]. The sum runs over k, "
        "the FIRST index of J[n].",
        "In einsum, name every index: G is 'nk', J is 'nkj', the result 'nj'. n appears in "
        "all three (each example on its own) and k, missing from the result, is summed.",
        "With @: G[:, None, :] has shape (N, 1, K), and (N, 1, K) @ (N, K, K) -> (N, 1, K) "
        "multiplies example by example. Then drop the middle axis.",
        "`return np.einsum('nk,nkj->nj', G, J)`.",
    ),
))


# ---------------------------------------------------------------------------
# ce_grad_with_reduction: dL/dZ for reduction "mean" ((S - Y)/N) or "sum" (S - Y)
# ---------------------------------------------------------------------------

_REDUCTIONS = ("mean", "sum")


def _reduction_case(z, y, reduction, label, hidden=True, dtype=_F64):
    return Case((z, y, reduction), f"{label}, reduction={reduction!r}", hidden=hidden,
                dtype=dtype)


def _reduction_public():
    z = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]])
    y = np.array([0, 1])
    label = f"logits = {z.tolist()}, y = {y.tolist()}"
    return [_reduction_case(z, y, r, label, hidden=False) for r in _REDUCTIONS]


def _reduction_hidden(rng):
    cases = []
    for i, (z, regime, dtype) in enumerate(logit_batches(rng, max_n=40, max_k=60)):
        y = labels(rng, z.shape[0], z.shape[1])
        label = f"{describe_array('logits', z, regime)}; y ({z.shape[0]},) int"
        cases.append(_reduction_case(z, y, _REDUCTIONS[i % 2], label, dtype=dtype))
    z = rng.normal(size=(random_size(rng, 20, 40), 5))
    y = labels(rng, z.shape[0], 5)
    cases.append(_reduction_case(z, y, "sum", describe_array("logits", z) + "; y int"))
    return cases


def _softmax_minus_one_hot(z, y):
    return stable_softmax(z) - one_hot_float64(y, np.shape(z)[-1])


def _reduction_variant(mean_scale, sum_scale):
    """A gradient (S - Y) * scale(N), the scale depending on the reduction."""
    def compute(z, y, reduction):
        n, k = np.shape(z)
        scale = mean_scale if reduction == "mean" else sum_scale
        return _softmax_minus_one_hot(z, y) * scale(n, k)
    return compute


register(NumericExercise(
    id="ce_grad_with_reduction", notebook=5, title="Mean or sum: the gradient's 1/N",
    points=2.0, signature="ce_grad_with_reduction(logits, y, reduction)",
    arg_names=("logits", "y", "reduction"),
    reference=lambda z, y, r: F.cross_entropy_grad(as_float64(z), np.asarray(y), reduction=r),
    public_cases=_reduction_public, hidden_cases=_reduction_hidden,
    variants=(
        WrongVariant("sum_for_mean", "missing_batch_mean",
                     "With reduction='mean' you returned S - Y. The mean loss is (1/N) times "
                     "the sum, so every entry of its gradient carries 1/N.",
                     _reduction_variant(lambda n, k: 1.0, lambda n, k: 1.0)),
        WrongVariant("mean_for_sum", None,
                     "With reduction='sum' you divided by N. The summed loss has no 1/N, so "
                     "its gradient is S - Y: N times the gradient of the mean.",
                     _reduction_variant(lambda n, k: 1.0 / n, lambda n, k: 1.0 / n)),
        WrongVariant("mean_over_all_entries", None,
                     "You divided by N*K, as np.mean over the whole (N, K) array would. The "
                     "mean runs over the N examples only: each example's loss is already a "
                     "single number.",
                     _reduction_variant(lambda n, k: 1.0 / (n * k), lambda n, k: 1.0)),
        WrongVariant("negated", "sign",
                     "Your gradient has the opposite sign: it is Y - S (over N for 'mean').",
                     _reduction_variant(lambda n, k: -1.0 / n, lambda n, k: -1.0)),
        WrongVariant("no_one_hot", "missing_one_hot",
                     "You forgot to subtract the one-hot target: the gradient is S - Y, not S.",
                     lambda z, y, r: stable_softmax(z) / (np.shape(z)[0] if r == "mean"
                                                          else 1.0)),
        WrongVariant("transposed", "transposed",
                     "You returned the gradient transposed; it has the shape of the logits.",
                     lambda z, y, r: F.cross_entropy_grad(as_float64(z), np.asarray(y),
                                                          reduction=r).T),
    ),
    hints=(
        "'mean': L = (1/N) sum_n L_n, so dL/dZ = (S - Y) / N. 'sum': L = sum_n L_n, so "
        "dL/dZ = S - Y, with no 1/N.",
        "The rest is notebook 04's cross_entropy_grad: a stable softmax along axis=-1, minus "
        "1 at [np.arange(N), y].",
        "Compute S - Y once, then divide by N only when reduction == 'mean'.",
        "`G = softmax(logits); G[np.arange(N), y] -= 1; return G / N if reduction == 'mean' "
        "else G` (with a stable softmax).",
    ),
))


# ---------------------------------------------------------------------------
# jacobian_memory_gib: the batched Jacobian of a language model's softmax
# ---------------------------------------------------------------------------

register(Question(
    id="jacobian_memory_gib", notebook=5, title="Memory of the batched Jacobian", points=1.0,
    prompt="A language model predicts one token out of K = 128,000 at each of N = 8 positions. "
           "Storing every position's softmax Jacobian, an (N, K, K) array of float32 (4 bytes "
           "an entry), would take how many GiB (1 GiB = 2**30 bytes)? Compute it in Python and "
           "return the number without rounding it.",
    answer_kind="number",
    answer_hash="627f0c411624b4545487cb6a40b27663e3f35bc3740f878207fec946e4685b82",
    explanation="N * K * K entries of 4 bytes each, divided by 2**30: hundreds of GiB for "
                "eight positions, while the VJP and the fused (S - Y)/N need only a few (N, K) "
                "arrays of N * K * 4 bytes, about 4 MiB each here.",
    wrong_feedback={
        "33238c5dc6fd327e35e53fc0266a029bbe0b757f121ed50730329ca23442f995":
            "That is float64, 8 bytes an entry. The question says float32.",
        "4ab9935dba2de580cb6db73a19f2b4d96c914b4ace818bee184b3a54b1842d0d":
            "That is in GB (10**9 bytes). A GiB is 2**30 bytes.",
        "33aceec1e379cda8236c53d059fcd926d099da106923fe011f0b58087aca29dc":
            "That is ONE position's (K, K) Jacobian. There are N of them.",
        "a514e8f3453ebe7b7983105aa4fc87758a0f9054b88c017c27162e78b9138aca":
            "That is the number of bytes. Convert to GiB: divide by 2**30.",
        "85c3f5322c5f6301d1055df1c684c97901ec44e49129f420c0aa42ad75af3c12":
            "That is the size of an (N, K) array, such as S or G. A Jacobian has K * K "
            "entries per position.",
        "e0ed2d3ad8a42434c0bb2aee30f556b28d7f8f142c40a2dd6888cd151dcf9030":
            "That is in MiB (2**20 bytes). A GiB is 2**30 bytes.",
    },
    hints=(
        "Count the entries first: an (N, K, K) array has N * K * K of them.",
        "Multiply by the bytes per entry (np.dtype(np.float32).itemsize is 4), then divide "
        "by 2**30 to get GiB.",
        "Write it as one expression in Python, e.g. `return N * K * K * 4 / 2**30` with "
        "N and K set first.",
    ),
))


# ---------------------------------------------------------------------------
# softmax_vjp_columns: the VJP in the column-batch layout, S and G of shape (K, N)
# ---------------------------------------------------------------------------


def _columns_reference(S, G):
    return F.softmax_vjp(as_float64(S).T, as_float64(G).T).T


def _columns_public():
    S = np.array([[0.2, 0.6], [0.3, 0.3], [0.5, 0.1]])
    G = np.array([[1.0, 0.5], [0.0, -1.0], [0.0, 2.0]])
    return [Case((S, G), f"S = {S.tolist()} (K = 3, N = 2: one example per column), "
                         f"G = {G.tolist()}", hidden=False)]


def _columns_hidden(rng):
    cases = []
    for n, k, dtype, layout in ((1, 2, _F64, "C"), ("n", "k", _F64, "F"),
                                ("n", "k", _F32, "strided"), ("sq", "sq", _F64, "C"),
                                ("sq", "sq", _F32, "reversed"), ("n", "big", _F64, "C")):
        if n == "sq":
            n = k = random_size(rng, 3, 12)
        n = random_size(rng, 2, 32) if n == "n" else n
        k = {"k": random_size(rng, 3, 40), "big": random_size(rng, 150, 300)}.get(k, k)
        regime = pick(rng, ("normal", "mixed_scales"))
        S = with_layout(probabilities(rng, (n, k), dtype, regime).T, layout)
        G = with_layout(rng.normal(size=(k, n)).astype(dtype), pick(rng, ANY_LAYOUT))
        label = (f"{describe_array('S', S, 'one softmax per column')}; "
                 f"{describe_array('G', G)}")
        cases.append(Case((S, G), label, dtype=dtype))
    return cases


def _columns_with_inner(S, G, inner):
    return as_float64(S) * (as_float64(G) - inner)


register(NumericExercise(
    id="softmax_vjp_columns", notebook=5, title="The softmax VJP in the column layout",
    points=2.0, signature="softmax_vjp_columns(S, G)", arg_names=("S", "G"),
    reference=_columns_reference,
    public_cases=_columns_public, hidden_cases=_columns_hidden,
    variants=(
        WrongVariant("row_layout_sum", "wrong_axis",
                     "You summed G * S along axis=-1, across the examples. In the column "
                     "layout one example is one COLUMN, so the inner product <g, s> of each "
                     "example is a sum down axis 0: (G * S).sum(axis=0, keepdims=True).",
                     lambda S, G: _columns_with_inner(S, G, (as_float64(G) * as_float64(S)).sum(
                         axis=-1, keepdims=True))),
        WrongVariant("row_layout_result", "transposed",
                     "Your result is in the row layout, (N, K). In the column layout it has "
                     "the shape of S, (K, N).",
                     lambda S, G: F.softmax_vjp(as_float64(S).T, as_float64(G).T)),
        WrongVariant("total_sum", "wrong_axis",
                     "You summed G * S over the whole array into one number. The inner "
                     "product is per example, one number per column.",
                     lambda S, G: _columns_with_inner(S, G, (as_float64(G) * as_float64(S))
                                                      .sum())),
        WrongVariant("elementwise", "elementwise_jacobian",
                     "You multiplied G element-wise by S * (1 - S), the diagonal of the "
                     "Jacobian only. Every output of an example's softmax depends on every "
                     "logit of that example.",
                     lambda S, G: as_float64(G) * as_float64(S) * (1 - as_float64(S))),
        WrongVariant("negated", "sign",
                     "Your result has the opposite sign: it is S * (<g, s> - G).",
                     lambda S, G: -_columns_reference(S, G)),
    ),
    hints=(
        "In the column layout, column n holds one example: S[:, n] and G[:, n] have shape "
        "(K,). The VJP of that example is s * (g - <g, s>), the same formula as in notebook 04.",
        "The inner product <g, s> of every example at once is a sum of G * S over the classes, "
        "which are now axis 0. Keep that axis (keepdims=True) for the broadcast: shape (1, N).",
        "Only the axis of the sum flips: axis=-1 in the row layout becomes axis=0 here. The "
        "result has the shape of S, (K, N).",
        "`return S * (G - (G * S).sum(axis=0, keepdims=True))`.",
    ),
))
