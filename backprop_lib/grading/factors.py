"""Scale factors made of the case's dimensions: ``1/N``, ``K``, ``-1/(N*K)``, ``2``.

A wrong normaliser is the most common way for a formula to be right "up to a
factor": dividing by the number of classes ``K`` instead of the batch size
``N``, forgetting the ``1/N`` of a mean, dividing by ``h`` instead of ``2h``.
This module represents such a factor as a :class:`Monomial` (a constant times
a product of dimensions raised to small powers), finds the one that explains
a measured ratio on every case (:func:`match_ratio`), and says in words how
the learner's factor differs from the formula's (:func:`describe_change`).

Dimensions are named as in the course (``N`` batch size, ``K`` classes, ``D``
input features, ``H`` output units); an exercise's ``dims`` function maps its
arguments to their values, e.g. ``{"N": 5, "K": 7}``.
"""

from __future__ import annotations

import ast
import itertools
from dataclasses import dataclass, field
from fractions import Fraction

__all__ = ["Monomial", "parse", "match_ratio", "is_ambiguous", "describe_change",
           "DIM_MEANINGS", "normaliser_code"]

#: What each conventional dimension name means, for messages.
DIM_MEANINGS = {
    "N": "the batch size",
    "K": "the number of classes",
    "D": "the number of input features",
    "H": "the number of output units",
    "M": "the number of outputs",
    "h": "the finite-difference step",
}

#: Constants a factor may carry besides dimensions (e.g. 2 for h versus 2h).
_CONSTANTS = (Fraction(1), Fraction(2), Fraction(1, 2))
_EXPONENTS = (-2, -1, 0, 1, 2)
_MAX_DEGREE = 2


def _dim_order(name):
    """Sort key: the course's usual order N, D, H, K, M, then any other name."""
    order = "NDHKMh"
    return (order.index(name) if name in order else len(order), name)


@dataclass(frozen=True)
class Monomial:
    """``const * prod(dim ** power)``, e.g. ``-1/N`` is ``Monomial(-1, {"N": -1})``.

    Attributes
    ----------
    const : Fraction
    powers : dict of str to int
        Only non-zero powers.
    """

    const: Fraction = Fraction(1)
    powers: dict = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "powers", {k: int(v) for k, v in sorted(
            self.powers.items(), key=lambda item: _dim_order(item[0])) if v})

    def __mul__(self, other):
        powers = dict(self.powers)
        for name, power in other.powers.items():
            powers[name] = powers.get(name, 0) + power
        return Monomial(self.const * other.const, powers)

    def __truediv__(self, other):
        return self * Monomial(1 / other.const, {k: -v for k, v in other.powers.items()})

    def __neg__(self):
        return Monomial(-self.const, self.powers)

    def __eq__(self, other):
        return (isinstance(other, Monomial) and self.const == other.const
                and self.powers == other.powers)

    def __hash__(self):
        return hash((self.const, tuple(self.powers.items())))

    @property
    def is_zero(self):
        return self.const == 0

    def value(self, dims):
        """The number this factor is for the dimensions `dims` (a dict)."""
        out = float(self.const)
        for name, power in self.powers.items():
            out *= float(dims[name]) ** power
        return out

    def without_sign(self):
        return Monomial(abs(self.const), self.powers)

    def text(self):
        """E.g. ``"1/N"``, ``"-2/(N*K)"``, ``"K/N"``, ``"1"``."""
        num = [n if p == 1 else f"{n}**{p}" for n, p in self.powers.items() if p > 0]
        den = [n if p == -1 else f"{n}**{-p}" for n, p in self.powers.items() if p < 0]
        c = abs(self.const)
        top = [str(c.numerator)] if c.numerator != 1 or not num else []
        top = "*".join(top + num)
        bottom = [str(c.denominator)] if c.denominator != 1 else []
        bottom += den
        sign = "-" if self.const < 0 else ""
        if not bottom:
            return sign + top
        below = bottom[0] if len(bottom) == 1 else "(" + "*".join(bottom) + ")"
        return f"{sign}{top}/{below}"


def parse(expression):
    """Parse ``"1/N"``, ``"-1"``, ``"1/(N*K)"``, ``"0"`` into a :class:`Monomial`.

    Only numbers, dimension names, ``*``, ``/``, ``**`` with an integer power and a
    leading minus are allowed (a monomial, never a sum).
    """
    if isinstance(expression, Monomial):
        return expression
    if isinstance(expression, (int, float, Fraction)):
        return Monomial(Fraction(expression).limit_denominator(1000))
    return _monomial(ast.parse(str(expression), mode="eval").body, expression)


def _monomial(node, source):
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return Monomial(Fraction(node.value).limit_denominator(1000))
    if isinstance(node, ast.Name):
        return Monomial(Fraction(1), {node.id: 1})
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_monomial(node.operand, source)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        return _monomial(node.left, source) * _monomial(node.right, source)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        return _monomial(node.left, source) / _monomial(node.right, source)
    if (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow)
            and isinstance(node.right, ast.Constant) and isinstance(node.right.value, int)):
        base = _monomial(node.left, source)
        power = node.right.value
        return Monomial(base.const ** power, {k: v * power for k, v in base.powers.items()})
    raise ValueError(f"not a monomial factor: {source!r} (use numbers, names, *, / and **)")


def _candidates(names):
    """``(complexity, Monomial)`` ratio candidates, simplest first.

    A dimension counts 1 and a constant 2 or 1/2 counts 1.5, so a factor equal to
    both ``N`` and ``2`` (a batch of two) reads as ``N``: forgetting a mean is far
    more common than a stray factor 2.
    """
    out = []
    for powers in itertools.product(_EXPONENTS, repeat=len(names)):
        degree = sum(abs(p) for p in powers)
        if degree > _MAX_DEGREE:
            continue
        for const in _CONSTANTS:
            for sign in (1, -1):
                out.append((degree + 1.5 * (const != 1), sign < 0,
                            Monomial(sign * const, dict(zip(names, powers, strict=True)))))
    out.sort(key=lambda item: (item[0], item[1]))
    return [(c, m) for c, _, m in out]


def _matches(ratios, dims_list, rtol):
    names = sorted(set().union(*[set(d) for d in dims_list])) if dims_list else []
    names = [n for n in names if all(n in d for d in dims_list)]
    for complexity, candidate in _candidates(names):
        if all(abs(r - candidate.value(d)) <= rtol * abs(candidate.value(d))
               for r, d in zip(ratios, dims_list, strict=True)):
            yield complexity, candidate


def is_ambiguous(ratios, dims_list, rtol=2e-3):
    """True if another factor almost as simple as the best one also explains `ratios`.

    "Almost as simple" is at most half a step more complex: ``N`` and ``K`` when
    ``N == K``, or ``N`` and the constant ``2`` when ``N == 2``.
    """
    best = None
    for complexity, _candidate in _matches(ratios, dims_list, rtol):
        if best is None:
            best = complexity
        else:
            return complexity <= best + 0.5
    return False


def match_ratio(ratios, dims_list, rtol=2e-3):
    """The simplest factor whose value is each measured ratio, or None.

    Parameters
    ----------
    ratios : sequence of float
        Measured ratio (learner / formula) on each case.
    dims_list : sequence of dict
        The dimensions of each case (same order).
    rtol : float
        Relative tolerance of the match.

    Returns
    -------
    Monomial or None
        ``Monomial(1)`` when every ratio is 1.
    """
    if not ratios:
        return None
    for _complexity, candidate in _matches(ratios, dims_list, rtol):
        return candidate
    return None


def _factor_words(monomial, dims):
    """``"divided by K = 7 (the number of classes)"`` and the like."""
    num = Monomial(Fraction(abs(monomial.const).numerator),
                   {k: v for k, v in monomial.powers.items() if v > 0})
    den = Monomial(Fraction(abs(monomial.const).denominator),
                   {k: -v for k, v in monomial.powers.items() if v < 0})

    def named(m):
        text = m.text()
        value = m.value(dims)
        if not m.powers:
            return text
        meaning = ""
        if len(m.powers) == 1 and list(m.powers.values()) == [1] and m.const == 1:
            meaning = DIM_MEANINGS.get(next(iter(m.powers)), "")
        value_text = f"{value:g}"
        return f"{text} = {value_text}" + (f" ({meaning})" if meaning else "")

    parts = []
    if den.powers or den.const != 1:
        parts.append(f"divided by {named(den)}")
    if num.powers or num.const != 1:
        parts.append(f"multiplied by {named(num)}")
    return " and ".join(parts) if parts else "not scaled"


def describe_change(expected, observed, dims, what="your result"):
    """A sentence saying how `observed` differs from the formula's `expected` factor.

    Parameters
    ----------
    expected, observed : Monomial
    dims : dict
        Dimensions of the case the sentence talks about.
    what : str
        What is scaled, e.g. ``"your result"`` or ``"the one-hot term Y"``.

    Returns
    -------
    str
        E.g. "your result is divided by K = 7 (the number of classes); the formula
        divides by N = 5 (the batch size)."
    """
    sign_flip = (expected.const < 0) != (observed.const < 0)
    exp_words = _factor_words(expected, dims)
    obs_words = _factor_words(observed, dims)
    if exp_words == obs_words:
        body = f"{what} has the opposite sign" if sign_flip else f"{what} is right"
        return body + "."
    sign = ", and its sign is flipped" if sign_flip else ""
    size = _size_words(expected, observed, dims)
    if obs_words == "not scaled":
        return f"{what} is not {exp_words} as in the formula, so it is {size}{sign}."
    if exp_words == "not scaled":
        return f"{what} is {obs_words}, but the formula has no such factor{sign}."
    formula = exp_words.replace("divided by", "divides by").replace("multiplied by",
                                                                     "multiplies by")
    return f"{what} is {obs_words}; the formula {formula}{sign}."


def _size_words(expected, observed, dims):
    """``"5 times too large"`` or ``"3 times too small"``."""
    ratio = abs(observed.value(dims) / expected.value(dims))
    if ratio >= 1:
        return f"{ratio:.4g} times too large"
    return f"{1 / ratio:.4g} times too small"


def normaliser_code(expected, observed, batch="N"):
    """The mistake codes for a factor `observed` where the formula has `expected`.

    Returns
    -------
    list of str
        ``["sign"]`` for a flipped sign only; ``["missing_batch_mean"]`` when only the
        formula's ``1/N`` is missing; otherwise ``["wrong_normaliser"]`` (plus
        ``"sign"`` if the sign is flipped too). Empty when they are equal.
    """
    codes = []
    if (expected.const < 0) != (observed.const < 0):
        codes.append("sign")
    ratio = observed.without_sign() / expected.without_sign()
    if ratio == Monomial(1):
        return codes
    if ratio == Monomial(1, {batch: 1}) and expected.powers.get(batch, 0) < 0:
        return ["missing_batch_mean"] + codes
    return ["wrong_normaliser"] + codes
