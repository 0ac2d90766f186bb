"""Exercises of notebook 02 (Softmax): ``softmax``, ``log_softmax`` and three questions.

Everything about each exercise lives here: public cases, hidden-case generator,
reference, named wrong variants and hints (see CONTRIBUTING.md, "Adding an exercise").
"""

from __future__ import annotations

import numpy as np

from ... import functional as F
from ..cases import (
    Case,
    as_float64,
    logit_cases,
)
from ..decomposition import Term
from ..mistakes import WrongVariant
from ..numeric import NumericExercise
from ..probes import probe, readable_logits
from ..questions import Question
from ..registry import register
from ..wrong_implementations import (
    naive_softmax,
    softmax_axis0,
    softmax_row_shift_column_sum,
    stable_softmax,
    swap_last_axes,
)

_F64, _F32 = np.float64, np.float32


register(Question(
    id="softmax_shift", notebook=2, title="What changes softmax?", points=1.0,
    prompt="Which ONE of these operations on the logits z changes the output of softmax(z)?",
    answer_kind="choice",
    options={
        "a": "Adding 5 to every logit.",
        "b": "Multiplying every logit by 5.",
        "c": "Subtracting max(z) from every logit.",
        "d": "None of them: softmax only depends on the order of the logits.",
    },
    answer_hash="67ef2f8324b01abc1e9b418cc1511e7e552eeade0655d1ffd07a2beeab5c63f8",
    explanation="Adding a constant c multiplies the numerator and every term of the "
                "denominator by e^c, which cancels: softmax is shift invariant, and subtracting "
                "max(z) is such a shift. Multiplying by 5 multiplies every difference z_i - z_j "
                "by 5 and sharpens the distribution: it is a temperature T = 1/5.",
    wrong_feedback={
        "069818fbe7475db32a2934cd4d961c9958c10870264316ec579ecb6e113053b8":
            "e^(z_k + 5) = e^5 e^(z_k); the factor e^5 appears in every term and cancels.",
        "c6a02d21e3b6dc57892a5d5488282101f60316647ce39999b97c98d27be3a1ba":
            "Subtracting max(z) is a shift by the constant c = -max(z), which is exactly why "
            "the numerically stable softmax gives the same answer as the formula.",
        "29b137110bbb8770820a171f69deb5d96f376b874cece174c812125c614781ae":
            "Compare softmax(z) and softmax(5 * z) in a cell: the order is the same, the "
            "probabilities are not.",
    },
    hints=(
        "Write e^(z_k + c) as a product and see what cancels between numerator and "
        "denominator.",
        "Subtracting max(z) is adding the constant c = -max(z).",
        "Softmax depends on the differences z_i - z_j. Which operation changes them?",
    ),
))


register(Question(
    id="softmax_temperature_limit", notebook=2, title="Softmax at low temperature",
    points=1.0,
    prompt="z = (1.0, 3.0, 2.0). As the temperature T decreases towards 0 (from above), "
           "what does softmax(z / T) approach?",
    answer_kind="choice",
    options={
        "a": "(1/3, 1/3, 1/3)",
        "b": "(0, 1, 0)",
        "c": "(0.090, 0.665, 0.245), the same as at T = 1",
        "d": "(0, 0.5, 0.5)",
    },
    answer_hash="1fee52818a71ece65d988579355f9361de84605d89c5d274f149cfaec9341673",
    explanation="Divide numerator and denominator by e^(m/T) with m = max(z) = 3: "
                "s_k = e^((z_k - m)/T) / sum_j e^((z_j - m)/T). Every exponent with z_j < m "
                "goes to minus infinity as T -> 0, so those terms vanish and the class with the "
                "largest logit gets probability 1: the one-hot arg-max (0, 1, 0).",
    wrong_feedback={
        "c30a95eb1c2ada6a1b7b248df0b141a5f0c00ce44ee5168ccb6e95cefd0ab04a":
            "That is the limit of a HIGH temperature, where z / T goes to 0 for every class.",
        "56e7c6dc9b30ca32d1d923d8925b9fad8acc6c68c49ae4ae8663ee446e491405":
            "Dividing by T changes the differences z_i - z_j, so the probabilities change "
            "with T.",
        "86471869a7ec75e6d24d28390a2ac92ec25a55afb00e1a98a3dec2e366015fba":
            "Only TIED maxima share the mass. Here 3.0 is larger than 2.0.",
    },
    hints=(
        "A small T makes the differences (z_i - z_j) / T very large.",
        "Divide the numerator and the denominator by e^(max(z) / T).",
        "What happens to e^(-1/T) as T -> 0?",
    ),
))


def _softmax_global_max(z):
    z = np.asarray(z)
    e = np.exp(z - z.max())
    return e / e.sum(axis=-1, keepdims=True)


def _softmax_global_sum(z):
    z = np.asarray(z)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum()


def _softmax_whole_array(z):
    """One softmax over every entry of z (max and sum over the whole array)."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max())
    return e / e.sum()


def _softmax_no_keepdims(shift):
    """e / e.sum(axis=-1) without keepdims: only runs (wrongly) when N == K."""
    def wrong(z):
        z = np.asarray(z, dtype=np.float64)
        if z.ndim != 2 or z.shape[0] != z.shape[1]:
            raise ValueError("only a square batch broadcasts")
        e = np.exp(z - z.max(axis=-1, keepdims=True) if shift else z)
        return e / e.sum(axis=-1)
    return wrong


_NO_KEEPDIMS = ("You divided by e.sum(axis=-1) without keepdims=True. That sum has shape (N,), "
                "which broadcasting lines up with the LAST axis, so each column was divided by "
                "some row's sum (and shapes other than N = K raise an error). Use "
                "e.sum(axis=-1, keepdims=True), shape (N, 1).")


def _z_probes():
    return [probe((readable_logits(4, 4, 20),), "z of shape (4, 4): N = K"),
            probe((readable_logits(3, 5, 21),), "z of shape (3, 5)"),
            probe((readable_logits(2, 3, 22),), "z of shape (2, 3)")]


def _z_dims(z):
    shape = np.shape(z)
    return {"N": int(np.prod(shape[:-1], dtype=int)), "K": shape[-1]}


def _z_public():
    z1 = np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]])
    z2 = np.array([0.5, -1.0, 2.0, 0.0])
    z3 = np.arange(12, dtype=float).reshape(2, 2, 3) / 4
    return [Case((z1,), f"z = {z1.tolist()}", hidden=False),
            Case((z2,), f"a single vector z = {z2.tolist()} (shape (4,))", hidden=False),
            Case((z3,), "z of shape (2, 2, 3): softmax over the last axis", hidden=False)]


register(NumericExercise(
    id="softmax", notebook=2, title="Softmax", points=2.0,
    signature="softmax(z)", arg_names=("z",),
    reference=lambda z: F.softmax(as_float64(z)),
    public_cases=_z_public, hidden_cases=logit_cases,
    variants=(
        WrongVariant("no_max_shift", "overflow",
                     "You exponentiated the logits without subtracting each row's maximum, so "
                     "np.exp overflowed to inf on large logits and inf / inf gave NaN.",
                     naive_softmax),
        WrongVariant("axis0", "wrong_axis",
                     "You normalised down the columns (axis=0), over the examples of the batch. "
                     "Normalise along the last axis: axis=-1, keepdims=True.", softmax_axis0),
        WrongVariant("global_sum", "wrong_axis",
                     "You divided by the sum over the WHOLE array instead of each row's sum, "
                     "so the rows do not each add up to 1.", _softmax_global_sum),
        WrongVariant("row_shift_column_sum", "wrong_axis",
                     "You subtracted each row's maximum but divided by the column sums "
                     "(axis=0). Both the max and the sum run along each row: axis=-1, "
                     "keepdims=True.", softmax_row_shift_column_sum),
        WrongVariant("whole_array", "wrong_axis",
                     "You took one softmax over the WHOLE array (z.max() and e.sum() without "
                     "an axis), so all entries together add up to 1 instead of each row. Use "
                     "axis=-1, keepdims=True for both.", _softmax_whole_array),
        WrongVariant("global_max", "wrong_axis",
                     "You subtracted the maximum of the whole array (z.max()) instead of each "
                     "row's maximum. A row whose logits are much smaller than the global "
                     "maximum then underflows to 0 / 0 = NaN. Use z.max(axis=-1, keepdims=True).",
                     _softmax_global_max),
        WrongVariant("negated", "sign",
                     "You exponentiated -z instead of z; the largest logit must get the "
                     "largest probability.",
                     lambda z: F.softmax(-as_float64(z))),
        WrongVariant("transposed", "transposed",
                     "You returned the result transposed.",
                     lambda z: swap_last_axes(F.softmax(as_float64(z)))),
        WrongVariant("no_keepdims", "wrong_axis", _NO_KEEPDIMS, _softmax_no_keepdims(True)),
        WrongVariant("no_keepdims_no_shift", "wrong_axis", _NO_KEEPDIMS,
                     _softmax_no_keepdims(False)),
        WrongVariant("double_softmax", "double_softmax",
                     "You applied softmax twice (softmax of the probabilities).",
                     lambda z: stable_softmax(stable_softmax(z))),
    ),
    probes=_z_probes, dims=_z_dims,
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


register(Question(
    id="logsumexp_equal_logits", notebook=2, title="logsumexp of equal logits", points=1.0,
    prompt="K = 4 logits are all equal to 10. What is logsumexp(z) = log(e^z_1 + ... + e^z_4)? "
           "Answer with a number (6 decimals are compared; you may compute it with np.log).",
    answer_kind="number",
    answer_hash="3f767a3ef7726f206a861115b8f30ff017324657ad59c023eb3621a72862e7c1",
    explanation="With m = max(z) = 10, LSE(z) = m + log(sum_j e^(z_j - m)) = 10 + log(4 e^0) "
                "= 10 + log 4 = 11.386294. Equal logits are the case where LSE is furthest from "
                "the maximum: max(z) <= LSE(z) <= max(z) + log K.",
    wrong_feedback={
        "4e7c7ddb9c2f06c10f14558084b539b641ad4078060cefc19cafe832e375413f":
            "That is max(z). logsumexp is a SMOOTH maximum: it adds log of the sum of "
            "e^(z_j - max), which is not 0 here.",
        "aad5f5bb8c2ac4d88a9cd2042908bd255110530605a336e0d39b576534c53aee":
            "That is logsumexp of four zeros. Shifting every logit by c shifts LSE by c.",
        "390ad4a7064fb521c12b9dc18fbc45a4e79c92928f881d972597544542ddf14c":
            "That is the sum of the logits; logsumexp sums their exponentials, then takes "
            "the log.",
    },
    hints=(
        "Factor e^max(z) out of the sum.",
        "LSE(z) = m + log(sum_j e^(z_j - m)) with m = max(z). What is each e^(z_j - m) here?",
        "Four terms equal to e^0 = 1.",
    ),
))


def _f64(z):
    return np.asarray(z, dtype=np.float64)


def _row_max(z):
    return _f64(z).max(axis=-1, keepdims=True)


def _log_sum_exp_shifted(z, axis=-1):
    """log(sum(exp(z - m), axis)), m the row maximum, keepdims."""
    return np.log(np.exp(_f64(z) - _row_max(z)).sum(axis=axis, keepdims=True))


def _lse_columns(z):
    z = _f64(z)
    m = z.max(axis=0, keepdims=True)
    return m + np.log(np.exp(z - m).sum(axis=0, keepdims=True))


def _lse_whole_array(z):
    z = _f64(z)
    return z.max() + np.log(np.exp(z - z.max()).sum())


def _lse_no_keepdims(z):
    z = _f64(z)
    if z.ndim != 2 or z.shape[0] != z.shape[1]:
        raise ValueError("only a square batch broadcasts")
    return _log_sum_exp_shifted(z)[:, 0]


def _lse(z):
    return _row_max(z) + _log_sum_exp_shifted(z)


_LSE_MISTAKES = (
    Term("lse_axis0", "log-sum-exp down the columns", _lse_columns, code="wrong_axis",
         sentence="You took log(sum(exp(z))) down the columns (axis=0), over the batch. "
                  "Normalise each row: axis=-1, keepdims=True.", replaces="lse"),
    Term("lse_total", "log-sum-exp of the whole array", _lse_whole_array, code="wrong_axis",
         sentence="You took log(sum(exp(z))) over the WHOLE array, one number for all rows. "
                  "Normalise each row: axis=-1, keepdims=True.", replaces="lse"),
)

# log_softmax(z) written two ways, and the terms of likely mistakes in each: the shifted
# form (z - m) - log(sum(exp(z - m))), m the row maximum, as stable implementations write
# it, and the plain form z - LSE(z). The diagnosis uses the one that explains an answer
# with the fewest changes (a sign slip in either form is one change in its own form).
_LOG_SOFTMAX_TERMS = (
    (
        Term("shifted", "shifted logits z - m", lambda z: _f64(z) - _row_max(z), "1"),
        Term("log_sum", "normaliser log(sum(exp(z - m)))", _log_sum_exp_shifted, "-1",
             sentence="You subtracted the row maximum m but not log(sum(exp(z - m))): the "
                      "shift only keeps exp from overflowing; the normaliser is still "
                      "needed."),
        Term("row_max", "row maximum m", _row_max, code="missing_term",
             sentence="You subtracted log(sum(exp(z - m))) from z itself. Subtract it from "
                      "the shifted logits z - m (log-softmax is z - m - log(sum(exp(z - m)))), "
                      "or subtract m + log(sum(exp(z - m))) from z."),
        Term("log_sum_axis0", "normaliser summed down the columns",
             lambda z: _log_sum_exp_shifted(z, axis=0), code="wrong_axis",
             sentence="You summed exp(z - m) down the columns (axis=0), over the batch. The "
                      "normaliser is per row: axis=-1, keepdims=True.", replaces="log_sum"),
        Term("log_sum_no_keepdims", "normaliser without keepdims", _lse_no_keepdims,
             code="wrong_axis",
             sentence="You subtracted log(sum(exp(z - m), axis=-1)) without keepdims=True: "
                      "that (N,) vector lines up with the LAST axis, so each column got some "
                      "row's normaliser (other shapes raise an error). Use keepdims=True.",
             replaces="log_sum"),
    ),
    (
        Term("z", "logits z", _f64, "1"),
        Term("lse", "normaliser log(sum(exp(z)))", _lse, "-1"),
        Term("row_max", "row maximum m", _row_max, code="missing_term",
             sentence="You subtracted only the row maximum m. The normaliser is "
                      "log(sum(exp(z))) = m + log(sum(exp(z - m))).", replaces="lse"),
    ) + _LSE_MISTAKES,
)


register(NumericExercise(
    id="log_softmax", notebook=2, title="Log-softmax", points=2.0,
    signature="log_softmax(z)", arg_names=("z",),
    reference=lambda z: F.log_softmax(as_float64(z)),
    public_cases=_z_public, hidden_cases=logit_cases,
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
                     lambda z: np.log(softmax_axis0(z))),
        WrongVariant("negated", "sign",
                     "Your result has the opposite sign: log-probabilities are all <= 0.",
                     lambda z: -F.log_softmax(as_float64(z))),
        WrongVariant("global_max", "wrong_axis",
                     "You shifted by the maximum of the whole array (z.max()) instead of each "
                     "row's maximum. In a row far below the global maximum every exp(z - max) "
                     "underflows to 0 and log(0) = -inf. Use z.max(axis=-1, keepdims=True).",
                     lambda z: _f64(z) - _f64(z).max() - np.log(np.exp(
                         _f64(z) - _f64(z).max()).sum(axis=-1, keepdims=True))),
        WrongVariant("log_of_mean", "wrong_normaliser",
                     "You took the log of the MEAN of exp(z - m) instead of its sum: "
                     "log(mean) = log(sum) - log K, so every entry is off by log K. The "
                     "normaliser is log(sum(exp(z - m))).",
                     lambda z: _f64(z) - _row_max(z) - np.log(np.exp(_f64(z) - _row_max(z))
                                                              .mean(axis=-1, keepdims=True))),
        WrongVariant("normaliser_whole_array", "wrong_axis",
                     "You summed exp(z - m) over the WHOLE array, one normaliser for all rows. "
                     "Sum each row: axis=-1, keepdims=True.",
                     lambda z: _f64(z) - _row_max(z) - np.log(np.exp(_f64(z) - _row_max(z))
                                                              .sum())),
        WrongVariant("no_normaliser", "missing_term",
                     "You returned the shifted logits z - max(z) without subtracting "
                     "log(sum(exp(z - max(z)))).",
                     lambda z: as_float64(z) - as_float64(z).max(axis=-1, keepdims=True)),
        WrongVariant("transposed", "transposed", "You returned the result transposed.",
                     lambda z: swap_last_axes(F.log_softmax(as_float64(z)))),
    ),
    probes=_z_probes, terms=_LOG_SOFTMAX_TERMS, dims=_z_dims,
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
