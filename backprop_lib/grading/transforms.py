"""Is a wrong answer a simple transform of the right one? Checks every exercise gets.

These checks need nothing from the exercise but its outputs and dimensions,
so every exercise (including new ones that declare no variants) names these
mistakes:

- the results returned in another order (a permutation of the tuple);
- a transposed result (last two axes swapped), possibly also scaled;
- the right numbers in the wrong shape (flattened, an extra axis of length 1);
- the broadcasting trap: an ``(N,)`` array met an ``(N, 1)`` one, giving an
  ``(N, N)`` table whose diagonal is the answer;
- the right result times a factor: ``-1`` (a sign), or a factor made of the
  case's dimensions (a wrong normaliser: see :mod:`~backprop_lib.grading.factors`);
- every row right up to a factor of its own (a wrong per-row normaliser);
- the axes of a 3-D (or larger) result in another order;
- the right numbers to about 3 digits only (float16 somewhere in the computation).
"""

from __future__ import annotations

import itertools

import numpy as np

from .factors import describe_change, is_ambiguous, match_ratio, normaliser_code, parse
from .mistakes import Finding

__all__ = ["transform_findings", "close_enough", "multiple_of"]

#: Relative residual of ``got - r * expected`` below which `got` is a multiple of it.
SCALE_RTOL = 1e-5


def close_enough(a, b, rtol, atol, equal_nan=False):
    """Same shape and allclose, with atol scaled by the largest finite entry of `b`."""
    if a is None or b is None or a.shape != b.shape:
        return False
    finite = np.abs(b[np.isfinite(b)])
    scale = max(1.0, float(finite.max(initial=0.0)))
    return bool(np.allclose(a, b, rtol=rtol, atol=atol * scale, equal_nan=equal_nan))


def _what(names, i):
    return "your result" if names is None else f"your {names[i]}"


def _cap(text):
    return text[0].upper() + text[1:]


def _swap(a):
    return np.swapaxes(a, -1, -2) if a.ndim >= 2 else None


def multiple_of(got, expected):
    """The factor r with ``got == r * expected``, or None."""
    if got.shape != expected.shape or not np.isfinite(got).all():
        return None
    norm_e = float(np.vdot(expected, expected))
    if norm_e == 0:
        return None
    r = float(np.vdot(expected, got)) / norm_e
    if np.linalg.norm(got - r * expected) > SCALE_RTOL * max(np.linalg.norm(got), 1e-300):
        return None
    return r


def _scale_findings(r, what, dims, normaliser, outputs, more_ratios=None, size=2,
                    text_dims=None):
    """Findings for `got` = r * expected (r != 1).

    `more_ratios` (optional) is ``() -> list of (ratio, dims)`` measured on other
    cases (the probes), consulted when this case alone cannot tell two factors
    apart (``N == 2`` looks like a factor 2). `size` is the number of entries: a
    single number is always some multiple of the right one, so only a factor made
    of the dimensions is reported for it.
    """
    if abs(r + 1) < 1e-3:
        return [Finding("sign", f"{_cap(what)} has the opposite sign: every entry is the "
                                "correct one times -1.", outputs)]
    if abs(r) < 1e-12:
        return [Finding(None, f"{_cap(what)} is zero everywhere: was an array allocated "
                              "(np.zeros_like) and never filled in?", outputs, weak=True)]
    ratios, dims_list = [r], [dims]
    if more_ratios is not None and is_ambiguous(ratios, dims_list):
        for other_r, other_dims in more_ratios():
            ratios.append(other_r)
            dims_list.append(other_dims)
    ratio = match_ratio(ratios, dims_list)
    if ratio is None:
        if size < 2:
            return []  # any wrong number is a multiple of the right one
        return [Finding(None, f"{_cap(what)} is the correct result times {r:.4g}.", outputs,
                        weak=True)]
    base = parse(normaliser)
    observed = base * ratio
    sentence = _cap(describe_change(base, observed, text_dims or dims, what=what))
    return [Finding(code, sentence, outputs) for code in normaliser_code(base, observed)]


def _permutation(got, expected, names, rtol, atol):
    """A Finding if the outputs are right but in another order, else None."""
    n = len(expected)
    if names is None or n < 2 or n > 5:
        return None
    for perm in itertools.permutations(range(n)):
        if perm == tuple(range(n)):
            continue
        if all(close_enough(got[i], expected[perm[i]], rtol, atol) for i in range(n)):
            order = ", ".join(names[p] for p in perm)
            return Finding("output_order", f"You returned ({order}); the exercise asks for "
                                           f"({', '.join(names)}) in this order.",
                           tuple(range(n)))
    return None


def _reshaped(g, e, what, outputs):
    """Findings when `g` holds the right numbers in another shape."""
    if g.size != e.size or not np.allclose(g.reshape(e.shape), e, rtol=1e-6, atol=1e-9,
                                           equal_nan=True):
        return None
    if g.shape == e.shape + (1,) or g.shape == e.shape[:-1] + (1,) + e.shape[-1:]:
        tip = (" An extra axis of length 1 usually comes from keepdims=True or [:, None]; "
               "drop it (or index [..., 0]).")
    elif g.ndim < e.ndim:
        tip = f" Reshape it: .reshape({e.shape})."
    else:
        tip = ""
    return [Finding("shape", f"The numbers in {what} are right, but its shape is {g.shape}; "
                             f"the exercise wants {e.shape}.{tip}", outputs)]


def _broadcast_table(g, e, what, outputs):
    """The (N,) - (N, 1) -> (N, N) trap: the diagonal of `g` is the answer."""
    if e.ndim < 1 or g.shape != e.shape + (e.shape[-1],):
        return None
    if not np.allclose(np.diagonal(g, axis1=-2, axis2=-1), e, rtol=1e-6, atol=1e-9):
        return None
    n = e.shape[-1]
    return [Finding("shape", f"{_cap(what)} has shape {g.shape} and its diagonal is the right "
                             f"answer: an array of shape ({n},) met one of shape ({n}, 1) "
                             f"and broadcast to a table of every pair. Make both ({n},) "
                             f"(or both ({n}, 1)) before combining them.", outputs)]


def transform_findings(got, expected, *, names=None, rtol=1e-6, atol=1e-9, dims=None,
                       normaliser="1", more_ratios=None, text_dims=None):
    """Findings for outputs that are simple transforms of the right ones.

    Parameters
    ----------
    got, expected : list of ndarray
        The learner's outputs and the reference's, one per output (float arrays).
    names : tuple of str or None
        Output names for functions returning several arrays.
    rtol, atol : float
        The case's tolerances.
    dims : dict or None
        The case's dimensions (``{"N": 5, "K": 7}``), to name a wrong normaliser.
    normaliser : str
        How the correct result scales with the dimensions (``"1/N"`` for a mean).
    more_ratios : callable or None
        ``more_ratios(i) -> list of (ratio, dims)``: output `i`'s ratio to the right
        answer on other cases, asked for only when this case cannot tell two
        factors apart.
    text_dims : dict or None
        The dimensions the sentences quote (the failing case's, when `got` comes from a
        probe); default `dims`.

    Returns
    -------
    list of Finding
        Each finding's ``outputs`` says which outputs it explains.
    """
    dims = dims or {}
    found = _permutation(got, expected, names, rtol, atol)
    if found is not None:
        return [found]
    findings = []
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        if close_enough(g, e, rtol, atol):
            continue
        what, outputs = _what(names, i), (i,)
        swapped = _swap(g)
        e_symmetric = e.ndim >= 2 and e.shape[-1] == e.shape[-2] and np.allclose(_swap(e), e)
        if swapped is not None and not e_symmetric and swapped.shape == e.shape:
            if close_enough(swapped, e, rtol, atol):
                shape_text = ("its rows and columns are swapped" if g.shape == e.shape
                              else f"it has shape {g.shape} where {e.shape} belongs")
                findings.append(Finding("transposed", f"{_cap(what)} is transposed: "
                                                      f"{shape_text}.", outputs))
                continue
            r = multiple_of(swapped, e)
            if r is not None:
                findings.append(Finding("transposed", f"{_cap(what)} is transposed.", outputs))
                findings += _scale_findings(r, what, dims, normaliser, outputs,
                                            text_dims=text_dims)
                continue
        more = None if more_ratios is None else (lambda i=i: more_ratios(i))
        permuted = _axes_permuted(g, e, rtol, atol, what, outputs)
        if permuted is not None:
            findings.append(permuted)
            continue
        if g.shape != e.shape:
            found = _reshaped(g, e, what, outputs) or _broadcast_table(g, e, what, outputs)
            findings += found or []
            continue
        r = multiple_of(g, e)
        if r is not None and abs(r - 1) > 1e-6:
            findings += _scale_findings(r, what, dims, normaliser, outputs, more, e.size,
                                        text_dims)
            continue
        findings += _precision_loss(g, e, what, outputs) or _per_row_scale(g, e, what, outputs)
    return findings


def _axes_permuted(g, e, rtol, atol, what, outputs):
    """A Finding if `g` is `e` with its axes in another order (3 or more axes)."""
    if e.ndim < 3 or e.ndim > 5 or g.size != e.size:
        return None
    for perm in itertools.permutations(range(e.ndim)):
        if perm == tuple(range(e.ndim)):
            continue
        t = np.transpose(e, perm)
        if t.shape == g.shape and close_enough(g, t, rtol, atol):
            return Finding("transposed", f"{_cap(what)} has the right numbers with its axes in "
                                         f"another order (np.transpose(..., {perm}) of the "
                                         "right one): check which axis is which.", outputs)
    return None


def _per_row_scale(g, e, what, outputs):
    """Each row right up to its own factor (a wrong per-row normaliser), or []."""
    if e.ndim < 2 or not np.isfinite(g).all():
        return []
    rows_g, rows_e = g.reshape(-1, e.shape[-1]), e.reshape(-1, e.shape[-1])
    norms = np.einsum("nk,nk->n", rows_e, rows_e)
    if (norms == 0).any() or len(norms) < 2:
        return []
    factors = np.einsum("nk,nk->n", rows_e, rows_g) / norms
    residual = np.linalg.norm(rows_g - factors[:, None] * rows_e)
    if residual > SCALE_RTOL * max(np.linalg.norm(rows_g), 1e-300):
        return []
    if (np.ptp(factors) <= 1e-3 * max(np.abs(factors).max(), 1e-300) or (factors <= 0).any()
            or np.abs(factors - 1).max() < 1e-2):
        return []  # one common factor (handled elsewhere), or only rounding-sized factors
    return [Finding("wrong_normaliser", (
        f"Each row of {what} is the right row times a factor of its own (from "
        f"{factors.min():.3g} to {factors.max():.3g}): the shape of every row is right but "
        "its normaliser is not. Divide each row by the sum that makes it right (for "
        "softmax: the row's sum of exponentials)."), outputs)]


def _precision_loss(g, e, what, outputs):
    """Right to about 3 significant digits only: half precision somewhere, or []."""
    if not np.isfinite(g).all():
        return []
    # Rounding to float16 moves every entry by at most about 1e-3 of ITSELF (more where
    # several roundings add up); an offset or a formula slip does not scale like that.
    scale = max(float(np.abs(e).max()), 1e-300)
    normal = np.abs(e) >= 1e-3 * scale
    relative = np.abs(g - e)[normal] / np.abs(e)[normal]
    err = float(relative.max(initial=0.0))
    tiny_err = float(np.abs(g - e)[~normal].max(initial=0.0))
    if relative.size < 2 or not 5e-5 <= err <= 5e-3 or tiny_err > 5e-6 * scale:
        return []
    if float(np.median(relative)) < 1e-5:
        return []  # rounding touches most entries; a slip in a few entries is something else
    return [Finding("dtype", (
        f"{_cap(what)} agrees with the right one only to about {-np.log10(err):.0f} "
        "significant digits, the precision of float16 (half precision). Look for a "
        "float16 array or dtype=np.float16 in a step of the computation: compute in the "
        "input's dtype."), outputs)]
