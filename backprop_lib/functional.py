"""Stateless math for softmax, its Jacobian, and the cross-entropy loss.

Every function here is a plain NumPy function: it takes arrays, returns new
arrays, and never changes its inputs. The conventions are the course's:

- Softmax acts on the last axis, so a batch of logits has shape ``(N, K)``.
- Labels are integer class indices of shape ``(N,)``; the losses also accept
  probability targets of shape ``(N, K)`` (for example one-hot rows).
- Losses are the batch mean by default, so their gradients carry the ``1/N``.
- ``softmax_jacobian`` and ``sigmoid_jacobian`` take the activation's OUTPUT.
- Floating inputs keep their dtype (float32 stays float32); integer inputs
  are computed in float64.

Numerics: every exponential is taken of ``z - max(z)``, which is at most 0, so
nothing overflows for any finite logits (the course tests +-1e4 in float32 and
float64). The losses skip the shift in rows whose logits do not need it
(see ``_exp_rows``). Tiny probabilities may underflow to exactly 0; that is
the correct rounding, so NumPy's underflow warning is silenced inside these
functions and no other warning is ever emitted.

Non-finite input: a logit of -inf is allowed (its probability is 0: a mask).
A slice containing NaN or +inf, or made only of -inf, has no softmax and
raises ValueError, as does a loss that would be infinite. In the losses these
checks cost O(N) extra work, not another pass over the N*K logits.
"""

from __future__ import annotations

import concurrent.futures
import functools
import numbers
import os

import numpy as np

__all__ = [
    "softmax",
    "log_softmax",
    "logsumexp",
    "one_hot",
    "softmax_jacobian",
    "softmax_vjp",
    "sigmoid",
    "sigmoid_jacobian",
    "relu",
    "cross_entropy",
    "cross_entropy_grad",
    "softmax_cross_entropy",
]

REDUCTIONS = ("mean", "sum", "none")


# ---------------------------------------------------------------------------
# Input checking (private)
# ---------------------------------------------------------------------------


def _as_float_array(x, name, min_ndim=0):
    """Return `x` as a floating ndarray, keeping float dtypes, ints -> float64.

    Raises TypeError for booleans, complex numbers and non-numeric data, and
    ValueError when `x` has fewer than `min_ndim` dimensions.
    """
    arr = np.asarray(x)
    if arr.dtype == np.bool_:
        raise TypeError(f"{name} must hold numbers, not booleans (got dtype bool)")
    if np.issubdtype(arr.dtype, np.integer):
        arr = arr.astype(np.float64)
    elif not np.issubdtype(arr.dtype, np.floating):
        raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    if arr.ndim < min_ndim:
        raise ValueError(
            f"{name} must have at least {min_ndim} dimension(s), got shape {arr.shape}"
        )
    return arr


def _check_logits(logits):
    """Validate logits for a loss: a float array of shape (N, K) with N, K >= 1.

    Non-finite values are caught, in O(N) extra work, by _exp_rows (NaN, +inf,
    rows of only -inf) and _check_finite_loss (-inf where a target has weight).
    """
    z = _as_float_array(logits, "logits")
    if z.ndim != 2:
        raise ValueError(f"logits must have shape (N, K), got {z.ndim}-D shape {z.shape}")
    if z.shape[0] == 0 or z.shape[1] == 0:
        raise ValueError(f"logits must have at least one row and one column, got {z.shape}")
    return z


def _check_labels(y, n, num_classes):
    """Validate integer labels: shape (n,), values in [0, num_classes)."""
    if y.shape != (n,):
        raise ValueError(
            f"y has {y.shape[0]} labels but logits has {n} rows; they must match"
        )
    if n and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(
            f"y must hold class indices in [0, {num_classes - 1}], "
            f"got values from {y.min()} to {y.max()}"
        )
    return y.astype(np.intp, copy=False)


def _check_probability_targets(t, shape, dtype):
    """Validate probability targets: shape `shape`, finite, >= 0, rows sum to 1."""
    if t.shape != shape:
        raise ValueError(
            f"probability targets y must have the logits' shape {shape}, got {t.shape}"
        )
    t = t.astype(dtype, copy=False)
    if not np.isfinite(t).all():
        raise ValueError("probability targets y contain NaN or infinite values")
    if (t < 0).any():
        raise ValueError("probability targets y must be non-negative")
    tol = max(1e-6, float(np.sqrt(np.finfo(dtype).eps)))
    row_sums = t.sum(axis=-1)
    if not np.allclose(row_sums, 1.0, rtol=0.0, atol=tol):
        worst = row_sums[np.argmax(np.abs(row_sums - 1.0))]
        raise ValueError(
            f"each row of probability targets y must sum to 1 (within {tol:.1e}); "
            f"found a row summing to {worst!r}"
        )
    return t


def _check_targets(y, z):
    """Return (targets, is_index) for labels `y` against logits `z` of shape (N, K).

    Integer `y` of shape (N,) are class indices; floating `y` of shape (N, K)
    are probability targets (cast to the logits' dtype).
    """
    y = np.asarray(y)
    n, k = z.shape
    if y.dtype == np.bool_:
        raise TypeError("y must hold integer labels or probabilities, not booleans")
    if not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating)):
        raise TypeError(f"y must be integer labels or float probabilities, got dtype {y.dtype}")
    if y.ndim == 1:
        if not np.issubdtype(y.dtype, np.integer):
            raise TypeError(
                f"y of shape (N,) must hold integer class labels, got dtype {y.dtype}; "
                "use y.astype(int), or pass probability targets of shape (N, K)"
            )
        return _check_labels(y, n, k), True
    if y.ndim == 2:
        return _check_probability_targets(y, z.shape, z.dtype), False
    raise ValueError(
        f"y must be integer labels of shape (N,) or probabilities of shape (N, K), "
        f"got {y.ndim}-D shape {y.shape}"
    )


def _probability_tolerance(dtype):
    """How far a row of probabilities in `dtype` may be from summing to 1 (or from >= 0).

    ``sqrt(eps)`` (1.5e-8 for float64, 3.5e-4 for float32), at least 1e-6: far above
    the rounding of any softmax output (the row sum of K float32 probabilities is off
    by about log2(K) * 6e-8), far below the gap to typical logits.
    """
    return max(1e-6, float(np.sqrt(np.finfo(dtype).eps)))


def _check_probabilities(s, name="s"):
    """Raise unless every slice of `s` along the last axis is a probability vector.

    A softmax output is finite, non-negative and sums to 1 along its last axis;
    logits (the classic mistake), exponentials ``exp(z)`` or NaN are rejected with
    a message that says so. Costs two passes over `s` (a sum and a minimum).
    """
    if s.size == 0:
        return
    tol = _probability_tolerance(s.dtype)
    with np.errstate(invalid="ignore", over="ignore"):
        sums = np.sum(s, axis=-1, dtype=np.float64)
        lowest = float(np.min(s))
    if not np.isfinite(sums).all() or np.isnan(lowest):
        raise ValueError(
            f"{name} contains NaN or infinite values; it must hold probabilities, the "
            f"softmax output: pass {name} = softmax(z)"
        )
    off = np.abs(sums - 1.0)
    where = np.unravel_index(int(np.argmax(off)), sums.shape) if sums.ndim else ()
    row = f"{name}[{', '.join(map(str, where))}]" if where else name
    if lowest < -tol:
        raise ValueError(
            f"{name} must hold probabilities (the softmax OUTPUT), but it has negative "
            f"entries (the smallest is {lowest:.4g}); this looks like logits; pass "
            f"softmax(z) instead"
        )
    if off.max() > tol:
        raise ValueError(
            f"each row of {name} must sum to 1 (it must hold probabilities, the softmax "
            f"OUTPUT), but {row} sums to {float(sums[where]):.6g}; this looks like logits "
            f"(or exp(z) without the normalisation); pass softmax(z) instead"
        )


def _check_reduction(reduction):
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _check_label_smoothing(label_smoothing):
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, numbers.Real):
        raise TypeError(
            f"label_smoothing must be a real number, got {type(label_smoothing).__name__}"
        )
    eps = float(label_smoothing)
    if not 0.0 <= eps < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")
    return eps


def _check_loss_args(logits, y, reduction, label_smoothing):
    """Validate all loss arguments; return (z, targets, is_index, eps)."""
    _check_reduction(reduction)
    eps = _check_label_smoothing(label_smoothing)
    z = _check_logits(logits)
    targets, is_index = _check_targets(y, z)
    return z, targets, is_index, eps


# ---------------------------------------------------------------------------
# Softmax family
# ---------------------------------------------------------------------------


def _row_max(z, name):
    """Max over the last axis (keepdims), refusing slices whose softmax is undefined."""
    if z.shape[-1] == 0:
        raise ValueError(f"{name} must have at least one entry along its last axis")
    m = np.max(z, axis=-1, keepdims=True)
    if not np.isfinite(m).all():
        raise ValueError(
            f"{name} contains NaN or +inf, or a row that is entirely -inf; "
            "its softmax is undefined"
        )
    return m


def _shifted(z, name="z"):
    """Return ``z - max(z, axis=-1)`` as a new array (every entry <= 0)."""
    return z - _row_max(z, name)


def softmax(z):
    """Softmax along the last axis, computed stably with the max shift.

    Parameters
    ----------
    z : array_like, shape (..., K)
        Logits. Integers are converted to float64; float dtypes are kept.

    Returns
    -------
    s : ndarray, shape (..., K)
        Probabilities: non-negative, each slice along the last axis sums to 1.
    """
    z = _as_float_array(z, "z", min_ndim=1)
    with np.errstate(under="ignore"):
        e = np.exp(_shifted(z))
        e /= e.sum(axis=-1, keepdims=True)
    return e


def logsumexp(z, keepdims=False):
    """``log(sum(exp(z)))`` along the last axis, without overflow.

    Uses ``logsumexp(z) = m + log(sum(exp(z - m)))`` with ``m = max(z)``.

    Parameters
    ----------
    z : array_like, shape (..., K)
        Logits. Integers are converted to float64; float dtypes are kept.
    keepdims : bool, default False
        Keep the reduced last axis with length 1.

    Returns
    -------
    lse : ndarray, shape (...,) or (..., 1) if `keepdims`

    Raises
    ------
    TypeError
        If `keepdims` is not a bool (a string such as ``"no"`` would otherwise be
        taken as True).
    """
    if not isinstance(keepdims, (bool, np.bool_)):
        raise TypeError(f"keepdims must be True or False, got {keepdims!r}")
    z = _as_float_array(z, "z", min_ndim=1)
    m = _row_max(z, "z")
    with np.errstate(under="ignore"):
        lse = m + np.log(np.exp(z - m).sum(axis=-1, keepdims=True))
    return lse if keepdims else lse[..., 0]


def log_softmax(z):
    """Logarithm of the softmax along the last axis, computed stably.

    ``log_softmax(z) = (z - m) - log(sum(exp(z - m)))`` with ``m = max(z)``;
    unlike ``log(softmax(z))`` it stays finite when a probability underflows.

    Parameters
    ----------
    z : array_like, shape (..., K)
        Logits. Integers are converted to float64; float dtypes are kept.

    Returns
    -------
    log_s : ndarray, shape (..., K)
        Log-probabilities (all <= 0).
    """
    z = _as_float_array(z, "z", min_ndim=1)
    shifted = _shifted(z)
    with np.errstate(under="ignore"):
        shifted -= np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return shifted


def one_hot(y, num_classes, dtype=np.float64):
    """Encode integer class labels as one-hot rows.

    Parameters
    ----------
    y : array_like of int, shape (N,)
        Class indices in ``[0, num_classes)``.
    num_classes : int
        Number of classes K (>= 1).
    dtype : data-type, default float64
        dtype of the result.

    Returns
    -------
    Y : ndarray, shape (N, K)
        ``Y[n, k] = 1`` if ``y[n] == k`` else 0.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral):
        raise TypeError(f"num_classes must be an int, got {type(num_classes).__name__}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    y = np.asarray(y)
    if y.dtype == np.bool_ or not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"y must hold integer class labels, got dtype {y.dtype}")
    if y.ndim != 1:
        raise ValueError(f"y must have shape (N,), got {y.ndim}-D shape {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(
            f"y must hold class indices in [0, {num_classes - 1}], "
            f"got values from {y.min()} to {y.max()}"
        )
    Y = np.zeros((y.shape[0], int(num_classes)), dtype=dtype)
    Y[np.arange(y.shape[0]), y] = 1
    return Y


def softmax_jacobian(s):
    """Jacobian of the softmax, ``J = diag(s) - s s^T``, for every leading index.

    ``J[..., i, j] = d s_i / d z_j = s_i (delta_ij - s_j)``.

    Parameters
    ----------
    s : array_like, shape (..., K)
        Softmax OUTPUT (probabilities), not the logits.

    Returns
    -------
    J : ndarray, shape (..., K, K)
        Symmetric; each row and column sums to 0.

    Raises
    ------
    ValueError
        If a slice of `s` along the last axis is not a probability vector (negative
        entries, a sum other than 1, NaN): passing the logits instead of
        ``softmax(z)`` is the classic mistake.
    """
    s = _as_float_array(s, "s", min_ndim=1)
    _check_probabilities(s, "s")
    k = s.shape[-1]
    with np.errstate(under="ignore"):
        J = -s[..., :, None] * s[..., None, :]
    diag = np.arange(k)
    J[..., diag, diag] += s
    return J


def softmax_vjp(s, g):
    """Vector-Jacobian product ``g^T J`` of the softmax, without forming J.

    Because ``J = diag(s) - s s^T``, ``g^T J = s * (g - <g, s>)``: O(K) work
    per row instead of O(K^2).

    Parameters
    ----------
    s : array_like, shape (..., K)
        Softmax OUTPUT.
    g : array_like, shape (..., K)
        Upstream gradient ``dL/ds``.

    Returns
    -------
    dz : ndarray, shape (..., K)
        ``dL/dz``, in the result dtype of `s` and `g`.

    Raises
    ------
    ValueError
        If the shapes differ, or if a slice of `s` is not a probability vector (see
        :func:`softmax_jacobian`).
    """
    s = _as_float_array(s, "s", min_ndim=1)
    g = _as_float_array(g, "g", min_ndim=1)
    if s.shape != g.shape:
        raise ValueError(f"s and g must have the same shape, got {s.shape} and {g.shape}")
    _check_probabilities(s, "s")
    with np.errstate(under="ignore"):
        return s * (g - np.sum(g * s, axis=-1, keepdims=True))


def sigmoid(z):
    """Logistic sigmoid ``1 / (1 + exp(-z))``, element-wise and overflow-free.

    Only ``exp(-|z|)`` (at most 1) is ever computed.

    Parameters
    ----------
    z : array_like, shape (...)
        Any shape; integers become float64.

    Returns
    -------
    s : ndarray, shape (...)
        Values in [0, 1].
    """
    z = _as_float_array(z, "z")
    with np.errstate(under="ignore"):
        e = np.exp(-np.abs(z))
        return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(z.dtype, copy=False)


def sigmoid_jacobian(s):
    """Jacobian of the element-wise sigmoid: diagonal, ``diag(s (1 - s))``.

    Parameters
    ----------
    s : array_like, shape (..., K)
        Sigmoid OUTPUT.

    Returns
    -------
    J : ndarray, shape (..., K, K)
        Zero off the diagonal; ``J[..., i, i] = s_i (1 - s_i)``.
    """
    s = _as_float_array(s, "s", min_ndim=1)
    k = s.shape[-1]
    J = np.zeros(s.shape + (k,), dtype=s.dtype)
    diag = np.arange(k)
    J[..., diag, diag] = s * (1 - s)
    return J


def relu(z):
    """Rectified linear unit ``max(z, 0)``, element-wise.

    Parameters
    ----------
    z : array_like, shape (...)

    Returns
    -------
    a : ndarray, shape (...)
        Same dtype rules as the rest of the module.
    """
    z = _as_float_array(z, "z")
    return np.maximum(z, 0, dtype=z.dtype)


# ---------------------------------------------------------------------------
# Cross-entropy
# ---------------------------------------------------------------------------


def _reduce(per_sample, reduction):
    """Apply `reduction` to per-sample losses of shape (N,)."""
    if reduction == "none":
        return per_sample
    total = per_sample.sum()
    if reduction == "mean":
        total = total / per_sample.shape[0]
    return per_sample.dtype.type(total)


@functools.lru_cache
def _safe_sum_range(dtype):
    """Row sums of ``exp(z)`` inside this range need no max shift (see _exp_rows).

    The bounds are 2**-h and 2**h, h half the largest binary exponent of the
    dtype (64 for float32, 512 for float64): far from overflow, and the largest
    term of such a sum, at least sum / K, is far from underflow.
    """
    half = np.finfo(dtype).maxexp // 2
    return np.ldexp(1.0, -half), np.ldexp(1.0, half)


def _exp_rows(z, out):
    """Write ``exp(z - c)`` into `out`, with a per-row shift c; return the row sums.

    The textbook shift is ``c = max(z)``. It only matters when ``exp(z)``
    would overflow or underflow, so every row is first exponentiated directly
    (c = 0, saving the passes that find and subtract the max), and only rows
    whose sum leaves a safe range are redone with ``c = max(z)``. Those rows
    include any with NaN or +inf, or only -inf, for which _row_max raises.
    Call inside ``np.errstate(all="ignore")``: the first try may overflow.

    Parameters
    ----------
    z : ndarray, shape (N, K)
    out : ndarray, shape (N, K), same dtype as z

    Returns
    -------
    row_sum : ndarray, shape (N,)
        ``sum_k exp(z_k - c)``.
    shift : ndarray, shape (N,)
        The shift c of each row: 0, or the row maximum in the redone rows.
    shifted_rows : ndarray of int, shape (R,)
        Indices of the redone rows.
    """
    np.exp(z, out=out)
    row_sum = out.sum(axis=1)
    shift = np.zeros(z.shape[0], dtype=z.dtype)
    low, high = _safe_sum_range(z.dtype)
    shifted_rows = np.flatnonzero(~((row_sum >= low) & (row_sum <= high)))
    if shifted_rows.size:
        rows = z[shifted_rows]
        m = _row_max(rows, "logits")
        out[shifted_rows] = np.exp(rows - m)
        row_sum[shifted_rows] = out[shifted_rows].sum(axis=1)
        shift[shifted_rows] = m[:, 0]
    return row_sum, shift, shifted_rows


def _target_logit(z, shift, shifted_rows, targets, is_index, eps):
    """``a = sum_k t_k (z_k - c)`` for the smoothed targets t, per row.

    With ``t = (1 - eps) * targets + eps / K`` (rows of t sum to 1), the loss
    of a row is ``log(sum_k exp(z_k - c)) - a`` for any shift c.

    Parameters
    ----------
    z : ndarray, shape (N, K)
    shift : ndarray, shape (N,)
        Per-row shift c (see _exp_rows).
    shifted_rows : ndarray of int, shape (R,)
        Rows with c != 0: their sums are taken after subtracting c.
    targets : ndarray, shape (N,) int or (N, K) float
    is_index : bool
        Whether `targets` are class indices.
    eps : float
        Label smoothing.

    Returns
    -------
    a : ndarray, shape (N,)
    """
    dot = _weighted_logits(z, targets, is_index)
    uniform = z.mean(axis=1) if eps else None
    if shifted_rows.size:
        # Summing huge logits first and subtracting c afterwards would cancel
        # catastrophically, so these rows are summed after the shift.
        z_shifted = z[shifted_rows] - shift[shifted_rows, None]
        dot[shifted_rows] = _weighted_logits(z_shifted, targets[shifted_rows], is_index)
        if eps:
            uniform[shifted_rows] = z_shifted.mean(axis=1)
    dot *= 1.0 - eps
    if eps:
        dot += eps * uniform
    return dot.astype(z.dtype, copy=False)


def _loss_from_sums(row_sum, target_logit):
    """Per-row loss ``log(row_sum) - a``, without cancellation.

    It is computed as ``log(row_sum * exp(-a)) = log(sum_k exp(z_k - c - a))``:
    the argument is at least 1 (the target term alone contributes 1 for a
    class label), so the log is accurate even when the loss is tiny. Where
    ``exp(-a)`` overflows the loss is large and the direct difference is safe.

    Parameters
    ----------
    row_sum : ndarray, shape (N,)
    target_logit : ndarray, shape (N,)

    Returns
    -------
    loss : ndarray, shape (N,)
    """
    anchored = row_sum * np.exp(-target_logit)
    loss = np.log(anchored)
    large = ~np.isfinite(anchored)
    if large.any():
        loss[large] = np.log(row_sum[large]) - target_logit[large]
    return loss


def _weighted_logits(z, targets, is_index):
    """``z[n, y_n]`` for class indices, ``sum_k t_nk z_nk`` for probabilities; shape (N,)."""
    if is_index:
        return z[np.arange(z.shape[0]), targets]
    return np.einsum("nk,nk->n", targets, z)


def _check_finite_loss(per_sample):
    """Raise if a row's loss is not finite (a -inf logit where a target has weight)."""
    bad = ~np.isfinite(per_sample)
    if bad.any():
        raise ValueError(
            f"the cross-entropy of row {int(np.argmax(bad))} is not finite: logits has "
            "-inf (or values too extreme to represent) where the targets need a "
            "finite log-probability"
        )


def _subtract_targets(grad, targets, is_index, eps, scale):
    """In place, ``grad -= scale * smoothed targets``; `grad` (N, K) holds scale * softmax."""
    n, k = grad.shape
    if is_index:
        grad[np.arange(n), targets] -= grad.dtype.type((1.0 - eps) * scale)
    else:
        grad -= grad.dtype.type((1.0 - eps) * scale) * targets
    if eps:
        grad -= grad.dtype.type(eps / k * scale)
    return grad


# Large batches are split into row blocks processed by a small thread pool:
# NumPy releases the GIL inside exp, sum and multiply, so the blocks run on
# separate cores. Below this many logits a single pass is faster.
_PARALLEL_MIN_SIZE = 1 << 20
_WORKERS = min(os.cpu_count() or 1, 8)
_POOL = None


def _thread_pool():
    """A lazily created pool with one worker per core (None on a single core)."""
    global _POOL
    if _WORKERS < 2:
        return None
    if _POOL is None:
        _POOL = concurrent.futures.ThreadPoolExecutor(_WORKERS, thread_name_prefix="backprop_ce")
    return _POOL


def _softmax_ce_rows(z, targets, is_index, eps, scale, out):
    """Per-row cross-entropy of a block of rows; writes ``scale * (softmax - t)`` into `out`.

    Parameters
    ----------
    z : ndarray, shape (B, K)
    targets : ndarray, shape (B,) int or (B, K) float
    is_index : bool
    eps : float
        Label smoothing.
    scale : float or None
        Gradient scale (``1/N`` for the mean); None skips the gradient.
    out : ndarray, shape (B, K)
        Work buffer; holds the gradient on return when `scale` is not None.

    Returns
    -------
    per_sample : ndarray, shape (B,)
    """
    # Silence NumPy here: overflow can only appear in rows that _exp_rows
    # redoes with the shift or in _loss_from_sums' guarded branch, a
    # non-finite loss raises in _check_finite_loss, and underflow to 0 is the
    # correct rounding.
    with np.errstate(all="ignore"):
        row_sum, shift, shifted_rows = _exp_rows(z, out)
        target_logit = _target_logit(z, shift, shifted_rows, targets, is_index, eps)
        per_sample = _loss_from_sums(row_sum, target_logit)
        if scale is not None:
            np.multiply(out, (scale / row_sum)[:, None], out=out)
            _subtract_targets(out, targets, is_index, eps, scale)
    return per_sample


def _softmax_ce(z, targets, is_index, eps, reduction, with_grad=True):
    """Fused cross-entropy on validated input: return (loss, dlogits or None).

    All (N, K) work happens in one buffer: exponentiate the logits into it,
    sum its rows, then scale it into ``softmax / N`` and subtract the targets
    in place. For integer labels without smoothing that is three reads and
    two writes of N*K numbers (exp, sum, scale; no passes that find and
    subtract the max: see _exp_rows), plus O(N) work. Large batches are
    split into row blocks that run in parallel (see _thread_pool).
    """
    n = z.shape[0]
    buf = np.empty_like(z)
    scale = (1.0 / n if reduction == "mean" else 1.0) if with_grad else None
    pool = _thread_pool() if z.size >= _PARALLEL_MIN_SIZE else None
    if pool is None:
        per_sample = _softmax_ce_rows(z, targets, is_index, eps, scale, buf)
    else:
        bounds = np.linspace(0, n, _WORKERS + 1).astype(int)
        blocks = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]
        parts = pool.map(
            lambda rows: _softmax_ce_rows(z[rows], targets[rows], is_index, eps, scale, buf[rows]),
            blocks,
        )
        per_sample = np.concatenate(list(parts))
    _check_finite_loss(per_sample)
    loss = _reduce(per_sample, reduction)
    return loss, (buf if with_grad else None)


def cross_entropy(logits, y, reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy ``-sum_k t_k log softmax(z)_k`` of logits vs targets.

    Parameters
    ----------
    logits : array_like, shape (N, K)
        Logits ``z`` (the softmax is applied inside). An entry may be -inf
        (probability 0) as long as no target puts weight on it.
    y : array_like, shape (N,) int, or shape (N, K) float
        Integer class labels in ``[0, K)``, or probability targets whose
        rows are non-negative and sum to 1.
    reduction : {"mean", "sum", "none"}, default "mean"
        Mean or sum over the batch, or the per-sample losses.
    label_smoothing : float in [0, 1), default 0.0
        ``eps``: the targets become ``(1 - eps) * t + eps / K``.

    Returns
    -------
    loss : ndarray, shape () for "mean"/"sum", shape (N,) for "none"
        In the logits' floating dtype.

    Raises
    ------
    TypeError
        For boolean or non-numeric arrays, float labels of shape (N,), or a
        non-numeric `label_smoothing`.
    ValueError
        For wrong shapes, labels out of range, invalid probability targets,
        an unknown `reduction`, `label_smoothing` outside [0, 1), NaN or +inf
        logits, a row of only -inf, or -inf where a target has weight.
    """
    z, targets, is_index, eps = _check_loss_args(logits, y, reduction, label_smoothing)
    return _softmax_ce(z, targets, is_index, eps, reduction, with_grad=False)[0]


def cross_entropy_grad(logits, y, reduction="mean", label_smoothing=0.0):
    """Gradient of :func:`cross_entropy` with respect to the logits.

    Equals ``(softmax(logits) - targets) / N`` for ``reduction="mean"``, where
    the targets are the one-hot (or probability) rows after label smoothing.
    For "sum" and "none" there is no ``1/N``; for "none", row n is the
    gradient of sample n's own loss.

    Parameters
    ----------
    logits : array_like, shape (N, K)
    y : array_like, shape (N,) int, or shape (N, K) float
    reduction : {"mean", "sum", "none"}, default "mean"
    label_smoothing : float in [0, 1), default 0.0
        See :func:`cross_entropy`.

    Returns
    -------
    dlogits : ndarray, shape (N, K)
        In the logits' floating dtype.
    """
    z, targets, is_index, eps = _check_loss_args(logits, y, reduction, label_smoothing)
    return _softmax_ce(z, targets, is_index, eps, reduction)[1]


def softmax_cross_entropy(logits, y, reduction="mean", label_smoothing=0.0):
    """Cross-entropy and its gradient in one fused, memory-lean pass.

    Same arguments and conventions as :func:`cross_entropy`; use this in a
    training loop where both results are needed.

    Parameters
    ----------
    logits : array_like, shape (N, K)
    y : array_like, shape (N,) int, or shape (N, K) float
    reduction : {"mean", "sum", "none"}, default "mean"
    label_smoothing : float in [0, 1), default 0.0

    Returns
    -------
    loss : ndarray, shape () for "mean"/"sum", shape (N,) for "none"
    dlogits : ndarray, shape (N, K)
        Equal to :func:`cross_entropy_grad` with the same arguments.
    """
    z, targets, is_index, eps = _check_loss_args(logits, y, reduction, label_smoothing)
    return _softmax_ce(z, targets, is_index, eps, reduction)
