"""Decompose a wrong answer on the terms of the correct formula, and name the bad term.

Most wrong answers to a formula exercise are the right formula with one thing
changed: a term with the wrong sign, a term left out, a wrong normaliser, a
term computed along the wrong axis. Such an answer is still a linear
combination of a few arrays the grader can compute itself. An exercise
declares them as :class:`Term` objects:

- the terms of the correct formula, each with its coefficient (``"1"``,
  ``"-1"``, ``"1/N"``), e.g. ``J = 1 * diag(s) + (-1) * s s^T``;
- terms of likely mistakes (coefficient ``"0"`` in the correct formula), each
  with the mistake code and sentence reported when the answer contains it,
  e.g. ``s * <g, s>`` summed over the batch axis instead of each row.

After a failure, :func:`decompose` fits the learner's output on those terms by
least squares over all entries of each probe case separately (so a
coefficient may depend on the case's dimensions, like ``1/N``). If the fit is
exact, the answer *is* such a combination and every coefficient that differs
from the formula's is named, with numbers: "your outer-product term s s^T has
a + sign where - belongs", "your result is divided by K = 7 (the number of
classes); the formula divides by N = 5 (the batch size)". If the fit is not
exact, the answer is something else and nothing is claimed.

A term's ``compute`` takes the exercise's arguments and returns an array that
broadcasts to the output's shape; it may raise where it does not apply (the
term is then left out of that case's fit). Terms that are linearly dependent
on earlier ones in a case are dropped for that case, so list the formula's
terms first (each formula term's transpose is added as a likely mistake, after the
declared ones), and give probes enough entries: a case is fitted only when it has at
least ``SPARE_ENTRIES`` more entries than terms (twice as many for up to four terms).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .factors import Monomial, describe_change, match_ratio, normaliser_code, parse
from .mistakes import MISTAKES, Finding

__all__ = ["Term", "decompose", "FIT_RTOL"]

#: Relative residual below which a fit counts as exact (probes are float64; a learner
#: computing in float32 still fits to about 1e-7).
FIT_RTOL = 1e-5
#: A term whose contribution is below this fraction of the answer's norm is absent.
PRESENCE_RTOL = 1e-4
#: Columns whose part independent of the earlier ones is below this fraction are dropped.
DEPENDENCE_RTOL = 1e-7
#: A case is fitted only if it has this many more entries than fitted terms (or twice as
#: many entries as terms, for one to three terms): an exact fit must mean something.
SPARE_ENTRIES = 4
#: Relative tolerance when a fitted coefficient is matched with a factor such as 1/N.
RATIO_RTOL = 2e-3


@dataclass(frozen=True)
class Term:
    """One array of a formula (or of a likely mistake), for :func:`decompose`.

    Attributes
    ----------
    name : str
        Short identifier, unique within the exercise, e.g. ``"outer"``.
    text : str
        A noun phrase for messages, e.g. ``"outer-product term s s^T"`` (shown as
        "your outer-product term s s^T has ...").
    compute : callable
        ``compute(*args) -> array`` broadcastable to the output's shape (float64).
    coefficient : str
        The term's coefficient in the correct formula, a monomial in the exercise's
        dimensions: ``"1"``, ``"-1"``, ``"1/N"``. ``"0"`` marks the term of a
        likely mistake.
    code : str or None
        For a formula term: the code when it is missing (default ``"missing_term"``).
        For a mistake term: the code when the answer contains it.
    sentence : str
        For a mistake term: what the learner did. For a formula term (optional): what
        leaving it out means.
    replaces : str or None
        For a mistake term: the name of the formula term it stands in for (softmax
        along axis 0 replaces softmax along the rows). When the answer has the
        mistake term instead of that one (which is then absent), only the mistake
        is named.
    output : str or None
        For functions returning several arrays: the output name (``"dW"``).
    """

    name: str
    text: str
    compute: Callable
    coefficient: str = "0"
    code: str | None = None
    sentence: str = ""
    replaces: str | None = None
    output: str | None = None

    def __post_init__(self):
        if self.code is not None and self.code not in MISTAKES:
            raise ValueError(f"unknown mistake code {self.code!r}")
        parse(self.coefficient)  # fail early on a coefficient that is not a monomial

    @property
    def expected(self):
        return parse(self.coefficient)

    @property
    def is_mistake(self):
        return self.expected.is_zero


@dataclass
class _CaseFit:
    """Coefficients of one case's fit (None for a term left out of it)."""

    betas: dict
    contributions: dict
    dims: dict
    exact: bool
    ratio_rtol: float = 2e-3


def _column(term, args, shape):
    """The term's array, broadcast to `shape` and flattened, or None if it does not apply."""
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = np.asarray(term.compute(*args), dtype=np.float64)
        value = np.broadcast_to(value, shape)
    except Exception:  # noqa: BLE001 - a term may not apply to these shapes
        return None
    if not np.isfinite(value).all():
        return None
    return value.ravel()


def _fit_case(terms, args, y, dims, fit_rtol=FIT_RTOL):
    """Least-squares coefficients of `y` on the independent terms of one case."""
    y = np.asarray(y, dtype=np.float64)
    shape = y.shape
    y = y.ravel()
    kept, columns = [], []
    basis = np.zeros((y.size, 0))
    for term in terms:
        col = _column(term, args, shape)
        if col is None or not np.any(col):
            continue
        residual = col - basis @ (basis.T @ col) if basis.shape[1] else col
        if np.linalg.norm(residual) <= DEPENDENCE_RTOL * np.linalg.norm(col):
            continue
        kept.append(term)
        columns.append(col)
        basis = np.column_stack([basis, residual / np.linalg.norm(residual)])
    norm_y = np.linalg.norm(y)
    if not kept or norm_y == 0 or y.size < len(kept) + min(len(kept), SPARE_ENTRIES):
        return None  # too few entries: any answer would fit exactly
    X = np.column_stack(columns)
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    exact = np.linalg.norm(X @ beta - y) <= fit_rtol * norm_y
    betas = {t.name: float(b) for t, b in zip(kept, beta, strict=True)}
    contributions = {t.name: abs(float(b)) * np.linalg.norm(c) / norm_y
                     for t, b, c in zip(kept, beta, columns, strict=True)}
    return _CaseFit(betas, contributions, dims, bool(exact), max(fit_rtol, RATIO_RTOL))


def _observed(term, fits):
    """The term's factor in the answer: Monomial, Monomial(0) if absent, None if odd."""
    relevant = [f for f in fits if term.name in f.betas]
    if not relevant:
        return None
    if all(f.contributions[term.name] < PRESENCE_RTOL for f in relevant):
        return Monomial(0)
    if term.is_mistake:
        expected = [Monomial(1)] * len(relevant)
    else:
        expected = [term.expected] * len(relevant)
    ratios = [f.betas[term.name] / e.value(f.dims) for f, e in zip(relevant, expected,
                                                                    strict=True)]
    ratio = match_ratio(ratios, [f.dims for f in relevant],
                        rtol=max(f.ratio_rtol for f in relevant))
    if ratio is None:
        return None
    return ratio if term.is_mistake else term.expected * ratio


def _sign_sentence(term):
    right = "-" if term.expected.const < 0 else "+"
    wrong = "+" if right == "-" else "-"
    return (f"Your {term.text} has a {wrong} sign where {right} belongs (the formula has "
            f"{term.expected.text()} times it).")


def _term_findings(term, observed, dims, output_index):
    """Findings for one formula term whose factor is `observed` (not the formula's)."""
    outputs = () if output_index is None else (output_index,)
    if observed is None:
        return [Finding(None, f"Your {term.text} has a coefficient that is not the "
                              f"formula's {term.expected.text()}.", outputs)]
    if observed.is_zero:
        sentence = term.sentence or (f"Your result leaves out the {term.text} (the formula "
                                     f"has {term.expected.text()} times it).")
        return [Finding(term.code or "missing_term", sentence, outputs)]
    if observed == -term.expected:
        return [Finding("sign", _sign_sentence(term), outputs)]
    codes = normaliser_code(term.expected, observed)
    sentence = describe_change(term.expected, observed, dims, what=f"your {term.text}")
    sentence = sentence[0].upper() + sentence[1:]
    return [Finding(code, sentence, outputs) for code in codes]


def _cost(findings):
    """How much a set of findings claims: one without a code (or weak) counts double."""
    return sum(1 if f.code is not None and not f.weak else 2 for f in findings)


def decompose(terms, cases, *, normaliser="1", output_names=None, dims_of=None,
              text_dims=None):
    """Name the terms whose coefficients in the answer differ from the formula's.

    Parameters
    ----------
    terms : sequence of Term, or sequence of sequences of Term
        The exercise's formula terms and mistake terms. Several sequences are
        alternative ways to write the same formula (log-softmax as ``z - LSE(z)``
        or as ``(z - m) - log(sum(exp(z - m)))``): each is tried and the one that
        explains the answer with the fewest findings is used (the first on a tie).
    cases : sequence of (args, got) or (args, got, fit_rtol)
        The inputs of each case and the learner's outputs there (a list of float
        arrays, one per output, already checked to have the right shapes; an entry
        may be None where that output has the wrong shape), and optionally the
        relative residual that still counts as an exact fit (wider for an answer
        returned in float16 or float32).
    normaliser : str
        How the whole correct result scales with the dimensions (``"1/N"`` for a
        batch mean); used when every term is off by the same factor.
    output_names : tuple of str or None
        Output names, to match ``Term.output``.
    dims_of : callable or None
        ``dims_of(*args) -> dict`` of the case's dimensions.
    text_dims : dict or None
        The dimensions the sentences quote (those of the failing case the learner sees);
        default: the first fitted case's.

    Returns
    -------
    findings : list of Finding
    verdict : str
        ``"right"`` (the answer is the formula on these cases), ``"named"`` (findings
        explain it), or ``"unexplained"`` (no exact fit, or no terms).
    """
    if terms and not isinstance(terms[0], Term):
        best = None
        for alternative in terms:
            found = decompose(alternative, cases, normaliser=normaliser,
                              output_names=output_names, dims_of=dims_of, text_dims=text_dims)
            if found[1] == "right":
                return found
            if found[1] == "named" and (best is None or _cost(found[0]) < _cost(best[0])):
                best = found
        return best or ([], "unexplained")
    findings, verdicts = [], []
    outputs = list(output_names) if output_names else [None]
    terms = with_transposes(terms)
    for index, name in enumerate(outputs):
        own = [t for t in terms if t.output == name]
        if not own:
            continue
        fits = []
        for case in cases:
            args, got = case[0], case[1]
            fit_rtol = case[2] if len(case) > 2 else FIT_RTOL
            if got is None or index >= len(got) or got[index] is None:
                continue
            dims = dims_of(*args) if dims_of else {}
            fit = _fit_case(own, args, got[index], dims, fit_rtol)
            if fit is not None and fit.exact:
                fits.append(fit)
        if not fits:
            verdicts.append("unexplained")
            continue
        found, verdict = _interpret(own, fits, parse(normaliser),
                                    None if name is None else index, name, text_dims)
        findings += found
        verdicts.append(verdict)
    if not verdicts:
        return [], "unexplained"
    if "named" in verdicts or findings:
        return findings, "named"
    if all(v == "right" for v in verdicts):
        return [], "right"
    return [], "unexplained"


def _transposed(term):
    """The mistake term "`term` with its last two axes swapped" (only differs when square)."""
    def compute(*args):
        value = np.asarray(term.compute(*args), dtype=np.float64)
        if value.ndim < 2:
            raise ValueError("nothing to transpose")
        return np.swapaxes(value, -1, -2)

    return Term(f"{term.name}^T", f"transposed {term.text}", compute, code="transposed",
                sentence=f"Your {term.text} is transposed (rows and columns swapped): check "
                         "which axis is which before multiplying or subtracting.",
                replaces=term.name, output=term.output)


def with_transposes(terms):
    """`terms` plus, for each formula term, its transpose as a likely mistake (appended)."""
    return tuple(terms) + tuple(_transposed(t) for t in terms if not t.is_mistake)


def _interpret(terms, fits, normaliser, output_index, output_name=None, text_dims=None):
    """Findings of one output's exact fits (see :func:`decompose`)."""
    dims = text_dims if text_dims and all(n in text_dims for n in fits[0].dims) else \
        fits[0].dims
    outputs = () if output_index is None else (output_index,)
    formula = [t for t in terms if not t.is_mistake]
    observed = {t.name: _observed(t, fits) for t in terms}
    fitted = {n for f in fits for n in f.betas}
    # A mistake term with a coefficient that is no simple factor is there, but is not the
    # explanation (a coincidence of the fit): noted weakly, so the answer is not "right".
    odd = [Finding(None, f"Your result contains the {t.text} with an unexpected "
                         "coefficient.", outputs, weak=True)
           for t in terms if t.is_mistake and t.name in fitted and observed[t.name] is None]
    present = [t for t in terms if t.is_mistake and observed[t.name] is not None
               and not observed[t.name].is_zero]
    # A mistake term stands in for the formula term it replaces only when that term is
    # absent; if both are there, each is named.
    replaced = {t.replaces for t in present if t.replaces
                and observed.get(t.replaces) is not None and observed[t.replaces].is_zero}
    findings = [Finding(t.code, t.sentence, outputs) for t in present] + odd
    # Ratios of the formula's terms; one common factor is reported once, as a whole.
    ratios = {t.name: observed[t.name] / t.expected for t in formula
              if observed[t.name] is not None and not observed[t.name].is_zero}
    common = set(ratios.values())
    if (not present and not odd and len(ratios) == len(formula) and len(common) == 1
            and common != {Monomial(1)}):
        ratio = common.pop()
        base = formula[0].expected.without_sign() if len(formula) == 1 else normaliser
        whole = base * ratio
        what = "your result" if output_name is None else f"your {output_name}"
        codes = normaliser_code(base, whole)
        if codes == ["sign"]:
            sentence = (f"{what[0].upper() + what[1:]} has the opposite sign: every term of "
                        "the formula is negated.")
        else:
            sentence = describe_change(normaliser, whole, dims, what=what)
            sentence = sentence[0].upper() + sentence[1:]
        return [Finding(code, sentence, outputs) for code in codes], "named"
    for term in formula:
        if term.name in replaced:
            continue
        if observed[term.name] is not None and observed[term.name] == term.expected:
            continue
        if term.name not in fitted:
            continue  # dependent on other terms in every case: nothing to say
        findings += _term_findings(term, observed[term.name], dims, output_index)
    return findings, ("named" if findings else "right")
