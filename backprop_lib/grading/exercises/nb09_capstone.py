"""Exercises of notebook 09 (Capstone), graded on hidden tests only.

The capstone asks for four pieces with little code given, and grades five things:

=================================  =====================================================  ======
id                                 the learner hands in                                   points
=================================  =====================================================  ======
``capstone_softmax_layer``         the class ``SoftmaxLayer`` (forward / backward)         4
``capstone_log_softmax_layer``     the class ``LogSoftmax`` (forward / backward)           3
``capstone_smoothed_weighted_ce``  ``smoothed_weighted_ce(logits, y, class_weights,        4
                                   smoothing) -> (loss, dlogits)``
``capstone_classifier_gradcheck``  the trained model: every layer, the loss and the        3
                                   whole model pass a random-upstream gradient check
``capstone_digits_exam``           the trained model: accuracy on exam digits it never     4
                                   saw
=================================  =====================================================  ======

Every test is hidden: there are no public cases, each panel lists what is tested in words
(``tests_in_words``), and a failing case is named by a description, never by its data.

How the answers travel. The grader may run the learner's code in another process, so
everything a test needs goes in through the case's arguments and comes back as the return
value (plain arrays):

- the two layer exercises are :class:`~backprop_lib.grading.numeric.NumericExercise` with a
  ``wrap_answer`` that turns the learner's class into a function of ``(z, g, z_prev,
  z_other)``: it makes two instances, runs an earlier batch ``z_prev`` and then ``z`` through
  the first, ``z_other`` through the second, and returns the first one's output and
  ``backward(g)``;
- the two model exercises (:class:`ModelExercise`) send a *probe* to where the learner's code
  runs. The probe runs the model (gradient checks, or ``predict`` on the exam digits) and
  returns arrays; the grader judges them on its side, and the exam labels never leave it.

The exam digits are 360 of the 1,797 shipped digits, the same on every run;
:func:`training_digits` returns the others, with digits 3 and 8 cut to a quarter so that
class weights have a job to do.
"""

from __future__ import annotations

import copy
import functools
import html
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ... import functional as F
from ...data import load_digits, train_test_split
from ..cases import Case, as_float64, layout_of, logit_batches, logits, random_size, with_layout
from ..conversion import ConversionProblem, describe_type
from ..decomposition import Term
from ..feedback import CheckResult, explanations_for
from ..mistakes import WrongVariant
from ..numeric import TOLERANCES, NumericExercise
from ..probes import probe, readable_logits
from ..reference_calls import RELOADED, describe_reference_use
from ..registry import Exercise, get_exercise, register
from ..runner import how_it_exited, resolve_timeout, run_case
from ..wrong_implementations import naive_softmax, one_hot_float64, stable_softmax

__all__ = ["training_digits", "hidden_tests", "HiddenTests", "ModelExercise",
           "EXAM_SIZE", "PASS_MARK", "RARE_DIGITS", "GRADCHECK_TOL"]

_F64, _F32 = np.float64, np.float32

#: Plumbing of backprop_lib.layers.Layer that a learner's layer class may inherit and call.
LAYER_PLUMBING = ("one_hot", "__init__", "__call__", "_cached", "_check_dout", "name")

#: Functions of backprop_lib that would do the capstone's work; calling them fails a check.
SOFTMAX_FAMILY = ("softmax", "log_softmax", "logsumexp", "softmax_jacobian", "softmax_vjp",
                  "cross_entropy", "cross_entropy_grad", "softmax_cross_entropy")


# ---------------------------------------------------------------------------
# Hidden tests only: what the panels say
# ---------------------------------------------------------------------------


#: A dimension of the failing hidden case quoted in a sentence of the structural diagnosis
#: ("K = 7", "N*K = 42", "W = 13.2", "class_weights.sum() = 9.1"): the name is kept, the
#: value is not shown.
_DIM = r"(?:N|K|W|class_weights\.sum\(\))(?:\*\*\d+)?"
_QUOTED_DIM = re.compile(
    rf"(?<![\w.])((?:\d+\*)?{_DIM}(?:\*{_DIM})*) = -?\d+(?:\.\d+)?(?:e[-+]?\d+)?")
_TIMES = re.compile(r"it is [\d.]+ times too (large|small)")
#: A concrete array shape such as "(16, 7)" or "(16,)" (NumPy's error messages quote them).
_SHAPE = re.compile(r"\(\d+(?:\s*,\s*\d+)*\s*,?\s*\)")


def _without_case_numbers(text):
    """`text` without the sizes, shapes and sums of the failing hidden case."""
    text = _TIMES.sub(r"it is too \1", _QUOTED_DIM.sub(r"\1", text))
    return _SHAPE.sub("(...)", text)


def _in_words(result, words, n_hidden=None):
    """Make a CheckResult of a hidden-only exercise speak about tests, not cases.

    The diagnosis' sentences keep their words but lose the numbers of the hidden case
    ("divided by K; the formula divides by N"); what probes showed stays (probes are not
    tests, and their labels describe them in words and shapes).
    """
    kept = [line for line in result.tested
            if not line.startswith("public case") and "for example:" not in line]
    result.tested = [] if result.status == "not attempted" else list(words) + kept
    result.explanations = [(title, _without_case_numbers(text))
                           for title, text in result.explanations]
    result.message = _without_case_numbers(result.message)
    result.error = _without_case_numbers(result.error)
    # The shapes and the first mismatching entry of a hidden case would show its inputs.
    result.expected_shape = result.got_shape = None
    result.mismatch = ""
    if result.passed:
        count = f"all {n_hidden} " if n_hidden else "all the "
        result.message = (f"Passed {count}hidden tests (new random inputs on every run).")
    return result


@dataclass
class _HiddenNumericExercise(NumericExercise):
    """A NumericExercise with no public cases whose panels describe the tests in words.

    Attributes
    ----------
    tests_in_words : tuple of str
        What the hidden tests check, one line each, shown in every panel.
    """

    tests_in_words: tuple = ()

    def grade(self, answer, *, timeout=None, seed=None, executor=None):
        """Grade as :meth:`NumericExercise.grade`, then describe the tests in words."""
        result = super().grade(answer, timeout=timeout, seed=seed, executor=executor)
        n_hidden = None
        if result.passed and result.seed is not None:
            n_hidden = len(self.hidden_cases(np.random.default_rng(result.seed)))
        return _in_words(result, self.tests_in_words, n_hidden)


class HiddenTests:
    """What an exercise's hidden tests check, for display in a notebook (HTML or text)."""

    def __init__(self, exercise):
        self.exercise = exercise

    @property
    def lines(self):
        return list(getattr(self.exercise, "tests_in_words", ()))

    def __str__(self):
        ex = self.exercise
        head = f"{ex.id} ({ex.title}, {ex.points:g} points): the hidden tests check"
        return "\n".join([head] + [f"  - {line}" for line in self.lines])

    __repr__ = __str__

    def _repr_html_(self):
        ex = self.exercise
        items = "".join(f"<li>{html.escape(line)}</li>" for line in self.lines)
        return ('<div class="backprop-hidden-tests" style="border-left:6px solid #5f6368;'
                'background:#f8f9fa;padding:6px 12px;margin:4px 0;font-family:sans-serif;'
                f'color:#202124"><b>{html.escape(ex.id)}</b> &mdash; {html.escape(ex.title)}'
                f' ({ex.points:g} points). The hidden tests check:<ul style="margin:4px 0">'
                f"{items}</ul></div>")


def hidden_tests(exercise_id):
    """Describe, in words, what the hidden tests of a capstone exercise check.

    Parameters
    ----------
    exercise_id : str
        E.g. ``"capstone_softmax_layer"``.

    Returns
    -------
    HiddenTests
        Renders as a small box in Jupyter, as text elsewhere.
    """
    exercise = get_exercise(exercise_id)
    if exercise is None or not getattr(exercise, "tests_in_words", ()):
        raise ValueError(f"{exercise_id!r} is not an exercise with hidden tests")
    return HiddenTests(exercise)


# ---------------------------------------------------------------------------
# The digits: what the learner may train on, and the exam kept aside
# ---------------------------------------------------------------------------

#: Digits held out by the grader (stratified: 35 to 37 of each class), the same on every run.
EXAM_SIZE = 360
EXAM_SEED = 909
#: Digits of which the training set keeps only a quarter.
RARE_DIGITS = (3, 8)
RARE_KEEP = 0.25
#: Exam accuracy needed to pass.
PASS_MARK = 0.95


@functools.lru_cache(maxsize=1)
def _digits_split():
    """(X_train, y_train, X_exam, y_exam), read-only arrays."""
    X, y = load_digits()
    X_rest, X_exam, y_rest, y_exam = train_test_split(X, y, test_size=EXAM_SIZE,
                                                      seed=EXAM_SEED, stratify=True)
    rng = np.random.default_rng(EXAM_SEED)
    keep = np.ones(len(y_rest), dtype=bool)
    for digit in RARE_DIGITS:
        rows = rng.permutation(np.flatnonzero(y_rest == digit))
        keep[rows[int(round(RARE_KEEP * len(rows))):]] = False
    parts = (X_rest[keep], y_rest[keep], X_exam, y_exam)
    for part in parts:
        part.setflags(write=False)
    return parts


def training_digits():
    """The digits the capstone classifier may be trained on.

    These are the shipped UCI digits (see :func:`backprop_lib.data.load_digits`) minus the
    360 exam digits that ``check("capstone_digits_exam", model)`` scores the model on, with
    the digits 3 and 8 cut to a quarter of their examples (an imbalanced training set; the
    exam is balanced, 35 to 37 of each digit).

    Returns
    -------
    X : ndarray, shape (N, 64), float64
        One 8x8 image per row, pixel values in ``[0, 1]``.
    y : ndarray, shape (N,), int64
        The digit shown, 0 to 9.
    """
    X, y, _, _ = _digits_split()
    return X.copy(), y.copy()


# ---------------------------------------------------------------------------
# Parts 1 and 2: a layer class, run through two instances
# ---------------------------------------------------------------------------


def _layer_factory(answer, name):
    """A function making fresh layers from what the learner handed in."""
    if isinstance(answer, type):
        return answer
    if hasattr(answer, "forward") and hasattr(answer, "backward"):
        return lambda: copy.deepcopy(answer)
    raise TypeError(f"check() expects your class itself, for example check(..., {name}) "
                    f"without parentheses; got {describe_type(answer)}")


def _run_layer(answer, name):
    """The function the grader calls on each case: ``(z, g, z_prev, z_other) -> (out, dz)``.

    Two instances, as in a network with two such layers: the first sees an earlier batch
    ``z_prev``, then ``z``; the second sees ``z_other``; then the first runs backward on ``g``.
    """
    make = _layer_factory(answer, name)

    def run(z, g, z_prev, z_other):
        layer, other = make(), make()
        layer.forward(z_prev)
        out = layer.forward(z)
        other.forward(z_other)
        if out is None:
            raise TypeError(f"{name}.forward returned None; return the layer's output")
        dz = layer.backward(g)
        if dz is None:
            raise TypeError(f"{name}.backward returned None; return dL/dz")
        return out, dz

    return run


#: (shape kind, dtype, logit regime, layout, words) of the hidden layer cases.
_LAYER_RECIPES = (
    ("vector", _F64, "normal", "C", "a single vector of logits (K,)"),
    ("batch", _F64, "normal", "F", "a batch (N, K) with N != K, in Fortran order"),
    ("square", _F64, "normal", "C", "a square batch (N = K), where an axis mix-up cannot hide "
                                    "behind a shape error"),
    ("batch", _F32, "extreme", "C", "a float32 batch with logits up to 1e4"),
    ("two", _F32, "tied", "reversed", "two classes, rows of equal logits, float32, a reversed "
                                      "view"),
    ("stack", _F64, "mixed_scales", "C", "a stack (B, T, K) of attention scores, rows of very "
                                         "different scales"),
    ("wide", _F64, "large_positive", "strided", "K in the hundreds, logits around 1000, a "
                                                "strided view"),
    ("one", _F32, "normal", "C", "a batch of one example, float32"),
    ("stack", _F32, "normal", "F", "a float32 stack (B, T, K) in Fortran order"),
)


def _layer_shape(rng, kind):
    if kind == "vector":
        return (random_size(rng, 3, 12),)
    if kind == "square":
        n = random_size(rng, 3, 12)
        return (n, n)
    if kind == "two":
        return (random_size(rng, 2, 16), 2)
    if kind == "stack":
        return (random_size(rng, 2, 4), random_size(rng, 2, 6), random_size(rng, 3, 9))
    if kind == "wide":
        return (random_size(rng, 2, 8), random_size(rng, 100, 300))
    if kind == "one":
        return (1, random_size(rng, 3, 20))
    n, k = random_size(rng, 2, 24), random_size(rng, 3, 20)
    return (n + 1, n) if n == k else (n, k)


def _upstream(rng, shape, dtype):
    """A random upstream gradient: mixed signs, one random scale per row, no structure."""
    scale = 10.0 ** rng.uniform(-1, 1, size=shape[:-1] + (1,))
    return (rng.normal(size=shape) * scale).astype(dtype)


def _layer_cases(rng):
    """Hidden cases ``(z, g, z_prev, z_other)`` for the two layer exercises."""
    cases = []
    for kind, dtype, regime, layout, words in _LAYER_RECIPES:
        shape = _layer_shape(rng, kind)
        z = with_layout(logits(rng, shape, dtype, regime), layout)
        g = with_layout(_upstream(rng, shape, dtype), layout)
        z_prev = logits(rng, shape, dtype, "normal")
        z_other = logits(rng, shape, dtype, "normal")
        cases.append(Case((z, g, z_prev, z_other), f"{words}; a random upstream gradient g",
                          dtype=dtype))
    return cases


def _layer_tolerance(case):
    """(rtol, atol) for a layer case: the engine's, plus the rounding a correct layer incurs.

    A correct float32 layer rounds its output s by about eps * max|z| (forming the
    log-sum-exp of logits near 1e4, for instance), and backward multiplies such errors by
    the upstream gradient, where ``g - <g, s>`` may cancel. So atol grows with
    ``eps * max(1, max|z|) * max|g|``: negligible in float64, a few 1e-4 for ordinary
    float32 cases, loose only for float32 logits of 1e4, where NaN still fails.
    """
    z, g = (np.asarray(a) for a in case.args[:2])
    dtype = np.dtype(case.dtype)
    rtol, atol = TOLERANCES.get(dtype, TOLERANCES[np.dtype(np.float64)])
    eps = float(np.finfo(dtype).eps)
    size_z = max(1.0, float(np.max(np.abs(z), initial=0.0)))
    size_g = max(1.0, float(np.max(np.abs(g), initial=0.0)))
    return max(rtol, 2 * eps * size_z), atol + 8 * eps * size_z * size_g


def _layer_words(name, output, extra=()):
    return (
        f"{name}.forward(z) on a single vector (K,), on batches (N, K) with N != K and with "
        f"N = K, and on stacks (B, T, K): {output} along the last axis",
        "float64 and float32; logits up to 1e4, around 1000, of very different scales and all "
        "equal; K = 2 and K in the hundreds; arrays that are not C-contiguous",
        f"{name}.backward(g) with random upstream gradients of mixed sign and scale and no "
        "structure (g is not -Y/s and sums to nothing in particular)",
        *extra,
        "each instance keeps its own cache: two instances of your class run on different "
        "inputs in turn, and an instance that saw an earlier batch uses its latest forward",
        "your layer leaves the arrays it is given unchanged and uses NumPy only (no "
        "backprop_lib.functional)",
    )


def _stable_log_softmax(z):
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _softmax_vjp(s, g):
    return s * (g - (g * s).sum(axis=-1, keepdims=True))


def _layer_variant(forward, backward):
    """A wrong layer as a variant: ``forward(z) -> out``, ``backward(out, g, z, z_prev,
    z_other) -> dz`` (all float64); None keeps the correct piece (given as defaults)."""

    def compute(z, g, z_prev, z_other):
        z, g, z_prev, z_other = (as_float64(a) for a in (z, g, z_prev, z_other))
        out = forward(z)
        return out, backward(out, g, z, z_prev, z_other)

    return compute


# -- the diagnosis of the two layers: probes and formula terms --------------------


def _layer_probes():
    """Small logits in (z, g, z_prev, z_other): N = K, then N != K twice; g readable too.

    These are not tests (nothing is graded on them): after a failure the grader runs the
    learner's class on them too, through the same two-instance wrapper, to name the mistake.
    """
    rng = np.random.default_rng(90)
    probes = []
    for i, (n, k) in enumerate(((5, 5), (4, 6), (6, 4))):
        g = np.round(rng.uniform(-2.0, 2.0, size=(n, k)), 1) + 0.01 * np.arange(k)
        probes.append(probe((readable_logits(n, k, 91 + i), g, readable_logits(n, k, 94 + i),
                             readable_logits(n, k, 97 + i)),
                            f"small logits z and upstream gradient g of shape ({n}, {k})"
                            + (": N = K" if n == k else "")))
    return probes


def _layer_dims(z, *rest):
    shape = np.shape(z)
    return {"N": int(np.prod(shape[:-1], dtype=int)), "K": shape[-1]}


def _row_sum(x, axis=-1):
    return x.sum(axis=axis, keepdims=True)


def _square_rows(x):
    if x.ndim != 2 or x.shape[0] != x.shape[1]:
        raise ValueError("this mistake runs only when N = K")
    return x


def _layer_term(output, name, text, f, coefficient="0", **kw):
    """A term f(s, g, z, log_s) of a layer's output (float64, s = softmax(z))."""
    def compute(z, g, z_prev, z_other):
        z = as_float64(z)
        log_s = _stable_log_softmax(z)
        return f(np.exp(log_s), as_float64(g), z, log_s)
    return Term(name, text, compute, coefficient, output=output, **kw)


def _softmax_layer_terms():
    """s = softmax(z); dz = s * g - s * <g, s>; and likely mistakes of forward and backward."""
    def inner(s, g, axis=-1):
        return _row_sum(g * s, axis)

    def t(name, text, f, coefficient="0", **kw):
        return _layer_term("dz", name, text, f, coefficient, **kw)

    return (
        _layer_term("s", "softmax", "softmax softmax(z)", lambda s, g, z, ls: s, "1"),
        _layer_term("s", "softmax_axis0", "softmax along axis 0",
                    lambda s, g, z, ls: stable_softmax(z, axis=0), code="wrong_axis",
                    replaces="softmax",
                    sentence="Your forward normalised along the first axis (axis=0). The "
                             "softmax acts on the last axis: axis=-1."),
        t("sg", "term s * g", lambda s, g, z, ls: s * g, "1",
          sentence="Your backward leaves out s * g, which comes from diag(s) in "
                   "J = diag(s) - s s^T."),
        t("s_inner", "term s * <g, s>", lambda s, g, z, ls: s * inner(s, g), "-1",
          sentence="Your backward leaves out -s * <g, s>, which comes from -s s^T in "
                   "J = diag(s) - s s^T: each dL/dz_j collects g_i ds_i/dz_j from EVERY output "
                   "i."),
        t("s2g", "term s * s * g", lambda s, g, z, ls: s * s * g, code="elementwise_jacobian",
          replaces="s_inner",
          sentence="Your backward multiplied g element-wise by s * (1 - s), the diagonal of the "
                   "Jacobian only: dL/dz = s * (g - <g, s>)."),
        t("s_inner_axis0", "term s * <g, s> summed along axis 0",
          lambda s, g, z, ls: s * inner(s, g, axis=0), code="wrong_axis", replaces="s_inner",
          sentence="Your backward summed g * s along the first axis. <g, s> is one number per "
                   "row: (g * s).sum(axis=-1, keepdims=True)."),
        t("s_inner_total", "term s * (the sum of every g * s)",
          lambda s, g, z, ls: s * (g * s).sum(), code="wrong_axis", replaces="s_inner",
          sentence="Your backward summed g * s over the whole array into one number; <g, s> is "
                   "one number per row (axis=-1, keepdims=True)."),
        t("s_inner_no_keepdims", "term s * <g, s> without keepdims",
          lambda s, g, z, ls: _square_rows(s) * (g * s).sum(axis=-1), code="wrong_axis",
          replaces="s_inner",
          sentence="Your backward summed g * s along the last axis without keepdims=True, so "
                   "the per-row sums broadcast along the wrong axis (it runs only when N = K)."),
        t("g", "upstream gradient g", lambda s, g, z, ls: g, code="missing_term", replaces="sg",
          sentence="Your backward forgot the factor s in front of g: dL/dz = s * (g - <g, s>), "
                   "not g - s * <g, s>."),
        t("inner", "<g, s> on its own", lambda s, g, z, ls: inner(s, g) * np.ones(s.shape),
          code="missing_term", replaces="s_inner",
          sentence="Your backward's <g, s> is not multiplied by s: dL/dz = s * g - s * <g, s>."),
        t("s_sum_g", "term s * sum(g)", lambda s, g, z, ls: s * _row_sum(g),
          code="missing_term", replaces="s_inner",
          sentence="Your backward used sum(g) where <g, s> = sum(g * s) belongs: the sum weights "
                   "each g_i by s_i."),
    )


def _log_softmax_layer_terms():
    """log_s = z - logsumexp(z); dz = g - s * sum(g); and likely mistakes."""
    def lse(z, axis=-1):
        m = z.max(axis=axis, keepdims=True)
        return m + np.log(np.exp(z - m).sum(axis=axis, keepdims=True))

    def t(name, text, f, coefficient="0", **kw):
        return _layer_term("dz", name, text, f, coefficient, **kw)

    return (
        _layer_term("log_s", "z", "logits z", lambda s, g, z, ls: z, "1"),
        _layer_term("log_s", "lse", "log-sum-exp of each row", lambda s, g, z, ls: lse(z), "-1",
                    sentence="Your forward leaves out the log-sum-exp: log s = z - "
                             "log(sum(exp(z)))."),
        _layer_term("log_s", "row_max", "row maximum m", lambda s, g, z, ls: z.max(
            axis=-1, keepdims=True) * np.ones(z.shape), code="missing_term",
                    sentence="Your forward subtracted the row maximum m inside the log-sum-exp "
                             "but did not add it back: log(sum(exp(z))) = m + "
                             "log(sum(exp(z - m)))."),
        _layer_term("log_s", "lse_axis0", "log-sum-exp along axis 0",
                    lambda s, g, z, ls: lse(z, axis=0), code="wrong_axis", replaces="lse",
                    sentence="Your forward normalised along the first axis (axis=0). Use the "
                             "last axis: axis=-1, keepdims=True."),
        t("g", "upstream gradient g", lambda s, g, z, ls: g, "1",
          sentence="Your backward leaves out g itself: dz_j = g_j - s_j * sum_i g_i."),
        t("s_sum", "term s * sum(g)", lambda s, g, z, ls: s * _row_sum(g), "-1",
          sentence="Your backward leaves out -s * sum(g), the part that comes from the "
                   "log-sum-exp: dz_j = g_j - s_j * sum_i g_i."),
        t("inner", "<g, s> in every entry", lambda s, g, z, ls: _row_sum(g * s) * np.ones(s.shape),
          code="transposed", replaces="s_sum",
          sentence="Your backward computed J g = g - <g, s>, the Jacobian applied from the wrong "
                   "side. The log-softmax Jacobian is not symmetric: the chain rule sums over "
                   "the OUTPUT index i, dz_j = g_j - s_j * sum_i g_i."),
        t("gs", "term g * s", lambda s, g, z, ls: g * s, code="elementwise_jacobian",
          replaces="s_sum",
          sentence="Your backward used only the diagonal of the Jacobian, g * (1 - s): each log "
                   "s_i depends on every logit through the log-sum-exp."),
        t("s_inner", "term s * <g, s>", lambda s, g, z, ls: s * _row_sum(g * s), replaces="s_sum",
          sentence="Your backward multiplied s by <g, s>, the inner product of the SOFTMAX VJP. "
                   "The log-softmax VJP multiplies s by the plain sum of g: g - s * sum(g)."),
        t("s_sum_axis0", "term s * (g summed along axis 0)",
          lambda s, g, z, ls: s * _row_sum(g, axis=0), code="wrong_axis", replaces="s_sum",
          sentence="Your backward summed g along the first axis. sum_i g_i is one number per "
                   "row: axis=-1, keepdims=True."),
        t("s_total", "term s * (the sum of all of g)", lambda s, g, z, ls: s * g.sum(),
          code="wrong_axis", replaces="s_sum",
          sentence="Your backward summed all of g into one number; the sum is per row "
                   "(axis=-1, keepdims=True)."),
        t("log_s_sum", "term log_s * sum(g)", lambda s, g, z, ls: ls * _row_sum(g),
          replaces="s_sum",
          sentence="Your backward used the log-probabilities where the probabilities belong: "
                   "s = exp(log s)."),
        t("s_alone", "s on its own", lambda s, g, z, ls: s, replaces="s_sum",
          sentence="Your backward's s is not multiplied by sum(g), one number per row (it is 1 "
                   "only by accident): dz = g - s * g.sum(axis=-1, keepdims=True)."),
    )


# -- part 1: SoftmaxLayer ----------------------------------------------------


def _softmax_layer_reference(z, g, z_prev, z_other):
    s = F.softmax(as_float64(z))
    return s, F.softmax_vjp(s, as_float64(g))


def _sm_variant(forward=None, backward=None):
    return _layer_variant(forward or stable_softmax,
                          backward or (lambda s, g, *_: _softmax_vjp(s, g)))


register(_HiddenNumericExercise(
    id="capstone_softmax_layer", notebook=9, title="A softmax layer for the middle of a network",
    points=4.0, signature="SoftmaxLayer", arg_names=("z", "g", "z_prev", "z_other"),
    output_names=("s", "dz"),
    reference=_softmax_layer_reference,
    public_cases=list, hidden_cases=_layer_cases,
    probes=_layer_probes, terms=_softmax_layer_terms(), dims=_layer_dims,
    wrap_answer=lambda answer: _run_layer(answer, "SoftmaxLayer"),
    allowed_reference=LAYER_PLUMBING,
    tolerance=_layer_tolerance,
    tests_in_words=_layer_words("SoftmaxLayer", "softmax"),
    variants=(
        WrongVariant("fused_shortcut", None,
                     "Your backward returned s - g: the softmax + cross-entropy shortcut s - y "
                     "with the upstream gradient in the place of the target. That formula is "
                     "the result of the whole vector-Jacobian product for one particular loss; "
                     "in the middle of a network g can be anything, and only s * (g - <g, s>) "
                     "is right.",
                     _sm_variant(backward=lambda s, g, *_: s - g)),
        WrongVariant("pass_through", None,
                     "Your backward returned g unchanged, as if the softmax's derivative had "
                     "already been folded into the loss. That is true of a fused softmax + "
                     "cross-entropy layer, not of a softmax on its own.",
                     _sm_variant(backward=lambda s, g, *_: g)),
        WrongVariant("diagonal_only", "elementwise_jacobian",
                     "Your backward multiplied g element-wise by s * (1 - s), the diagonal of "
                     "the Jacobian only. Every output s_i depends on every logit z_j.",
                     _sm_variant(backward=lambda s, g, *_: g * s * (1 - s))),
        WrongVariant("forward_axis0", "wrong_axis",
                     "Your forward normalised along the first axis (axis=0). The softmax acts "
                     "on the last axis, whatever the number of dimensions: axis=-1.",
                     _sm_variant(forward=lambda z: stable_softmax(z, axis=0))),
        WrongVariant("inner_axis0", "wrong_axis",
                     "Your backward summed g * s along the first axis. The inner product "
                     "<g, s> is one number per row: sum along axis=-1 with keepdims=True.",
                     _sm_variant(backward=lambda s, g, *_: s * (
                         g - (g * s).sum(axis=0, keepdims=True)))),
        WrongVariant("inner_total", "wrong_axis",
                     "Your backward summed g * s over the whole array into one number. The "
                     "inner product <g, s> is one number per row (axis=-1, keepdims=True).",
                     _sm_variant(backward=lambda s, g, *_: s * (g - (g * s).sum()))),
        WrongVariant("no_keepdims", "wrong_axis",
                     "Your backward summed g * s along the last axis without keepdims=True, so "
                     "the per-row sums broadcast along the wrong axis (this only runs at all "
                     "when the shapes happen to line up).",
                     _sm_variant(backward=lambda s, g, *_: s * (g - (g * s).sum(axis=-1)))),
        WrongVariant("jacobian_at_z", None,
                     "Your backward used the logits z where the probabilities s belong: "
                     "z * (g - <g, z>). The Jacobian diag(s) - s s^T is a function of the "
                     "layer's OUTPUT.",
                     _sm_variant(backward=lambda s, g, z, *_: z * (
                         g - (g * z).sum(axis=-1, keepdims=True)))),
        WrongVariant("softmax_of_g", None,
                     "Your backward recomputed the softmax from its own argument g instead of "
                     "using what forward cached. backward(g) must use the s of the last "
                     "forward(z).",
                     _sm_variant(backward=lambda s, g, *_: _softmax_vjp(stable_softmax(g), g))),
        WrongVariant("stale_cache", None,
                     "Your backward used the probabilities of an EARLIER forward call on the "
                     "same layer. Store the cache on every forward, replacing the old one.",
                     _sm_variant(backward=lambda s, g, z, z_prev, z_other: _softmax_vjp(
                         stable_softmax(z_prev), g))),
        WrongVariant("shared_cache", None,
                     "Your backward used the probabilities computed by ANOTHER instance of "
                     "your class: the cache is shared (a class attribute, a global, or a "
                     "mutable default argument). Store it on self, in forward.",
                     _sm_variant(backward=lambda s, g, z, z_prev, z_other: _softmax_vjp(
                         stable_softmax(z_other), g))),
        WrongVariant("no_max_shift", "overflow",
                     "Your forward exponentiated the logits without subtracting each row's "
                     "maximum, so np.exp overflowed and inf / inf gave NaN.",
                     _sm_variant(forward=naive_softmax)),
        WrongVariant("negated", "sign",
                     "Your backward has the opposite sign: it returns s * (<g, s> - g).",
                     _sm_variant(backward=lambda s, g, *_: -_softmax_vjp(s, g))),
    ),
    hints=(
        "The contract: forward(z) returns s = softmax(z) along the last axis and stores on "
        "self what backward will need; backward(g) returns dL/dz, shaped like z, for whatever "
        "upstream gradient g arrives. Nothing may assume that g came from a cross-entropy loss.",
        "Notebook 04, section 5: the softmax VJP is s * (g - <g, s>), without building J. "
        "<g, s> is one number per row: sum along axis=-1 with keepdims=True, which works for "
        "(K,), (N, K) and (B, T, K) alike.",
        "Cache on the instance (self.s = ... inside forward), never on the class or in a "
        "global, and subtract each row's maximum before np.exp (notebook 02).",
        "forward: e = np.exp(z - z.max(axis=-1, keepdims=True)); self.s = e / e.sum(axis=-1, "
        "keepdims=True); return self.s. backward: return self.s * (g - (g * self.s).sum("
        "axis=-1, keepdims=True)).",
    ),
))


# -- part 2: LogSoftmax --------------------------------------------------------


def _log_softmax_layer_reference(z, g, z_prev, z_other):
    z, g = as_float64(z), as_float64(g)
    return F.log_softmax(z), g - F.softmax(z) * g.sum(axis=-1, keepdims=True)


def _ls_correct_backward(log_s, g, *_):
    return g - np.exp(log_s) * g.sum(axis=-1, keepdims=True)


def _ls_variant(forward=None, backward=None):
    """A wrong LogSoftmax; `backward(s, g, z, z_prev, z_other)` gets s = exp(log_s)."""
    wrong_backward = None
    if backward is not None:
        def wrong_backward(log_s, g, z, z_prev, z_other):
            return backward(np.exp(log_s), g, z, z_prev, z_other)
    return _layer_variant(forward or _stable_log_softmax, wrong_backward or _ls_correct_backward)


register(_HiddenNumericExercise(
    id="capstone_log_softmax_layer", notebook=9, title="A log-softmax layer and its VJP",
    points=3.0, signature="LogSoftmax", arg_names=("z", "g", "z_prev", "z_other"),
    output_names=("log_s", "dz"),
    reference=_log_softmax_layer_reference,
    public_cases=list, hidden_cases=_layer_cases,
    probes=_layer_probes, terms=_log_softmax_layer_terms(), dims=_layer_dims,
    wrap_answer=lambda answer: _run_layer(answer, "LogSoftmax"),
    allowed_reference=LAYER_PLUMBING,
    tolerance=_layer_tolerance,
    tests_in_words=_layer_words(
        "LogSoftmax", "log-softmax",
        extra=("the log-softmax Jacobian is NOT symmetric, so g^T J and J g differ: the "
               "tests tell them apart",
               "log-probabilities must stay finite where a probability underflows to 0")),
    variants=(
        WrongVariant("transposed_jacobian", "transposed",
                     "Your backward computed J g = g - <g, s>, the Jacobian applied from the "
                     "wrong side. The log-softmax Jacobian is not symmetric: the chain rule "
                     "sums g_i * d(log s_i)/dz_j over the OUTPUT index i.",
                     _ls_variant(backward=lambda s, g, *_: g - (g * s).sum(axis=-1,
                                                                           keepdims=True))),
        WrongVariant("diagonal_only", "elementwise_jacobian",
                     "Your backward multiplied g element-wise by 1 - s, the diagonal of the "
                     "log-softmax Jacobian only. Each log s_i depends on every logit through "
                     "the log-sum-exp.",
                     _ls_variant(backward=lambda s, g, *_: g * (1 - s))),
        WrongVariant("nll_shortcut", None,
                     "Your backward returned g + s, which assumes that the entries of g add up "
                     "to -1 (true for the upstream gradient of a plain NLL loss on one example "
                     "with a one-hot target). In the middle of a network, and under a weighted "
                     "or smoothed loss, they add up to anything.",
                     _ls_variant(backward=lambda s, g, *_: g + s)),
        WrongVariant("forgot_sum", None,
                     "Your backward returned g - s: it dropped the factor sum_i g_i, one "
                     "number per row, that multiplies s.",
                     _ls_variant(backward=lambda s, g, *_: g - s)),
        WrongVariant("log_probs_for_s", None,
                     "Your backward used the log-probabilities where the probabilities belong: "
                     "s = exp(log s).",
                     _layer_variant(_stable_log_softmax, lambda log_s, g, *_: g - log_s * g.sum(
                         axis=-1, keepdims=True))),
        WrongVariant("softmax_vjp_instead", None,
                     "Your backward is the SOFTMAX VJP, s * (g - <g, s>). Differentiate log s "
                     "instead: d log s_i / d z_j = delta_ij - s_j.",
                     _ls_variant(backward=lambda s, g, *_: _softmax_vjp(s, g))),
        WrongVariant("forward_axis0", "wrong_axis",
                     "Your forward normalised along the first axis (axis=0). Use the last "
                     "axis: axis=-1, keepdims=True.",
                     _ls_variant(forward=lambda z: np.log(stable_softmax(z, axis=0)))),
        WrongVariant("sum_axis0", "wrong_axis",
                     "Your backward summed g along the first axis. sum_i g_i is one number per "
                     "row: axis=-1, keepdims=True.",
                     _ls_variant(backward=lambda s, g, *_: g - s * g.sum(axis=0, keepdims=True))),
        WrongVariant("total_sum", "wrong_axis",
                     "Your backward summed all of g into one number; the sum is per row "
                     "(axis=-1, keepdims=True).",
                     _ls_variant(backward=lambda s, g, *_: g - s * g.sum())),
        WrongVariant("log_of_softmax", "not_finite",
                     "Your forward took np.log(softmax(z)), which is -inf wherever a "
                     "probability underflows to 0. Compute (z - m) - log(sum(exp(z - m))) "
                     "with m the row maximum (notebook 02).",
                     _ls_variant(forward=lambda z: np.log(stable_softmax(z)))),
        WrongVariant("no_max_shift", "overflow",
                     "Your forward computed log(sum(exp(z))) without subtracting the row "
                     "maximum, so np.exp overflowed on large logits.",
                     _ls_variant(forward=lambda z: z - np.log(np.exp(z).sum(axis=-1,
                                                                            keepdims=True)))),
        WrongVariant("stale_cache", None,
                     "Your backward used the cache of an EARLIER forward call on the same "
                     "layer. Store the cache on every forward, replacing the old one.",
                     _ls_variant(backward=lambda s, g, z, z_prev, z_other: g - stable_softmax(
                         z_prev) * g.sum(axis=-1, keepdims=True))),
        WrongVariant("shared_cache", None,
                     "Your backward used the cache of ANOTHER instance of your class: the "
                     "cache is shared (a class attribute, a global, or a mutable default "
                     "argument). Store it on self, in forward.",
                     _ls_variant(backward=lambda s, g, z, z_prev, z_other: g - stable_softmax(
                         z_other) * g.sum(axis=-1, keepdims=True))),
        WrongVariant("negated", "sign",
                     "Your backward has the opposite sign: it returns s * sum(g) - g.",
                     _ls_variant(backward=lambda s, g, *_: s * g.sum(axis=-1, keepdims=True)
                                 - g)),
    ),
    hints=(
        "log s_i = z_i - logsumexp(z), so d log s_i / d z_j = delta_ij - s_j. Write that "
        "matrix out for K = 3: it is not symmetric, so be careful which index the chain rule "
        "sums over.",
        "The chain rule sums over the OUTPUT index i: dL/dz_j = sum_i g_i (delta_ij - s_j) = "
        "g_j - s_j * sum_i g_i. You need s = exp(log s) and one number per row, the sum of g.",
        "Forward as in notebook 02: subtract the row maximum, then the log of the sum of "
        "exponentials; cache s = np.exp(log_s) (or log_s itself) on self.",
        "backward: return g - self.s * g.sum(axis=-1, keepdims=True).",
    ),
))


# ---------------------------------------------------------------------------
# Part 3: label-smoothed, class-weighted cross-entropy
# ---------------------------------------------------------------------------


def _swce(z, y, w, eps, *, log_probs=None, q=None, omega=None, norm=None, grad_q=None,
          grad_omega=None, grad_norm=None, s=None):
    """(loss, dlogits) of the smoothed, weighted cross-entropy, any ingredient replaced.

    Defaults are the exercise's convention: ``q = (1 - eps) onehot + eps / K``, example
    weights ``omega_n = w[y_n]`` (as an (N, 1) column), normaliser ``sum_n omega_n``;
    the ``grad_*`` ingredients default to the loss's own.
    """
    z, w = as_float64(z), as_float64(w)
    y = np.asarray(y)
    k = z.shape[1]
    Y = one_hot_float64(y, k)
    log_p = _stable_log_softmax(z) if log_probs is None else log_probs
    s = np.exp(log_p) if s is None else s
    q = (1 - eps) * Y + eps / k if q is None else q
    omega = w[y][:, None] if omega is None else omega
    norm = float(np.sum(w[y])) if norm is None else norm
    loss = -np.sum(omega * q * log_p) / norm
    grad_q = q if grad_q is None else grad_q
    grad_omega = omega if grad_omega is None else grad_omega
    grad_norm = norm if grad_norm is None else grad_norm
    return loss, grad_omega * (s - grad_q) / grad_norm


def _swce_reference(z, y, w, eps):
    z, w = as_float64(z), as_float64(w)
    y = np.asarray(y)
    k = z.shape[1]
    log_p = F.log_softmax(z)
    q = (1 - eps) * F.one_hot(y, k) + eps / k
    omega = w[y]
    total = omega.sum()
    loss = -np.sum(omega * np.sum(q * log_p, axis=1)) / total
    return loss, omega[:, None] * (np.exp(log_p) - q) / total


def _sw(**parts):
    """A variant: `parts` map ingredient names to functions of (z, y, w, eps)."""
    def compute(z, y, w, eps):
        return _swce(z, y, w, eps, **{k: f(z, y, w, eps) for k, f in parts.items()})
    return compute


def _smoothed_off_true(z, y, w, eps):
    k = np.shape(z)[1]
    Y = one_hot_float64(y, k)
    return (1 - eps) * Y + eps / (k - 1) * (1 - Y)


def _onehot(z, y, w, eps):
    return one_hot_float64(y, np.shape(z)[1])


def _n_rows(z, y, w, eps):
    return float(np.shape(z)[0])


def _ones_column(z, y, w, eps):
    return np.ones((np.shape(z)[0], 1))


_WEIGHT_KINDS = {
    "ones": "every class weight 1",
    "constant": "every class weight equal to one number other than 1 (the weighted mean must "
                "not change)",
    "random": "random positive class weights",
    "some_zero": "some class weights 0 (those examples drop out of the loss and of the "
                 "normaliser)",
}
_EPS_KINDS = {"zero": "no smoothing (eps = 0)", "small": "a small smoothing eps",
              "large": "a large smoothing eps", "random": "a random smoothing eps"}
_REGIME_WORDS = {"normal": "ordinary logits", "extreme": "logits up to 1e4",
                 "mixed_scales": "rows of very different scales",
                 "large_positive": "logits around 1000", "tied": "rows of equal logits"}
#: (class-weight kind, smoothing kind) for the recipes of cases.LOGIT_RECIPES, in turn.
_CE_SCHEDULE = (("ones", "zero"), ("constant", "small"), ("random", "small"),
                ("some_zero", "large"), ("constant", "large"), ("random", "random"),
                ("some_zero", "small"), ("constant", "random"), ("ones", "small"),
                ("random", "zero"))


def _class_weights(rng, kind, y, k):
    if kind == "ones":
        return np.ones(k)
    if kind == "constant":
        return np.full(k, rng.choice([rng.uniform(0.2, 0.8), rng.uniform(1.5, 4.0)]))
    w = rng.uniform(0.2, 3.0, size=k)
    if kind == "some_zero":
        w[rng.random(k) < 0.4] = 0.0
        w[y[0]] = max(w[y[0]], 0.5)  # at least one example keeps a weight
    return w


def _smoothing(rng, kind):
    return {"zero": 0.0, "small": 0.1, "large": float(rng.uniform(0.5, 0.9)),
            "random": float(rng.uniform(0.01, 0.4))}[kind]


def _ce_cases(rng):
    cases = []
    for i, (z, regime, dtype) in enumerate(logit_batches(rng)):
        weight_kind, eps_kind = _CE_SCHEDULE[i % len(_CE_SCHEDULE)]
        n, k = z.shape
        y = rng.integers(0, k, size=n).astype(np.int64)
        w = _class_weights(rng, weight_kind, y, k)
        eps = _smoothing(rng, eps_kind)
        shape = "one example" if n == 1 else ("N = K" if n == k else "a batch")
        words = (f"{shape}, K = 2" if k == 2 else shape) + (
            f", {np.dtype(dtype).name}, {_REGIME_WORDS.get(regime, regime)}")
        if layout_of(z) != "C":
            words += " (not C-contiguous)"
        label = f"{words}; {_WEIGHT_KINDS[weight_kind]}; {_EPS_KINDS[eps_kind]}"
        cases.append(Case((z, y, w, eps), label, dtype=dtype))
    return cases



def _ce_probes():
    """Small batches with class weights of two decimals and eps > 0: N != K twice, N = K.

    In each, some class is nobody's label and some label repeats (see nb06's probes)."""
    probes = []
    for i, ((n, k), y, w, eps) in enumerate((
            ((4, 5), [1, 4, 1, 2], [0.53, 2.17, 1.09, 1.61, 2.93], 0.1),
            ((6, 4), [2, 0, 3, 3, 0, 2], [2.31, 0.47, 1.73, 1.19], 0.3),
            ((5, 5), [3, 0, 1, 1, 4], [1.13, 2.59, 0.61, 2.07, 1.37], 0.2))):
        probes.append(probe((readable_logits(n, k, 900 + i), np.array(y), np.array(w), eps),
                            f"small logits ({n}, {k})" + (": N = K" if n == k else "")
                            + f", class weights with two decimals, eps = {eps}"))
    return probes


def _ce_dims(z, y, w, eps):
    """N, K, W (the batch's total weight sum_n w[y_n]) and the sum of the class weights."""
    w = as_float64(w)
    return {"N": np.shape(z)[0], "K": np.shape(z)[1], "W": float(w[np.asarray(y)].sum()),
            "class_weights.sum()": float(w.sum())}


def _ce_term(name, text, f, coefficient="0", **kw):
    """A dlogits term f(S, Y, omega (N, 1), eps) of the smoothed, weighted gradient."""
    def compute(z, y, w, eps):
        z = as_float64(z)
        Y = one_hot_float64(y, z.shape[1])
        return f(stable_softmax(z), Y, as_float64(w)[np.asarray(y)][:, None], float(eps))
    return Term(name, text, compute, coefficient, output="dlogits", **kw)


# dlogits = omega (S - (1 - eps) Y - eps / K) / W with omega_n = w[y_n], W = sum omega: the
# weighted softmax, one-hot and uniform parts, and the same parts without the weights.
_CE_TERMS = (
    _ce_term("wS", "weighted softmax omega * S", lambda S, Y, om, eps: om * S, "1/W"),
    _ce_term("wY", "weighted one-hot part omega * (1 - eps) * Y",
             lambda S, Y, om, eps: om * (1 - eps) * Y, "-1/W", code="missing_one_hot",
             sentence="Your gradient leaves out the one-hot part of the smoothed target q = "
                      "(1 - eps) * one_hot + eps / K."),
    _ce_term("wU", "weighted uniform part omega * eps", lambda S, Y, om, eps: om * eps
             * np.ones(S.shape), "-1/(K*W)",
             sentence="Your gradient leaves out the uniform part eps / K of the smoothed target "
                      "q = (1 - eps) * one_hot + eps / K."),
    _ce_term("S", "unweighted softmax S", lambda S, Y, om, eps: S, replaces="wS",
             sentence="Your gradient's softmax part is not weighted: every part of row n is "
                      "multiplied by omega_n = class_weights[y_n]."),
    _ce_term("Y", "unweighted one-hot part (1 - eps) * Y", lambda S, Y, om, eps: (1 - eps) * Y,
             replaces="wY",
             sentence="Your gradient's target part is not weighted: every part of row n is "
                      "multiplied by omega_n = class_weights[y_n]."),
    _ce_term("U", "unweighted uniform part eps", lambda S, Y, om, eps: eps * np.ones(S.shape),
             replaces="wU",
             sentence="Your gradient's target part is not weighted: every part of row n is "
                      "multiplied by omega_n = class_weights[y_n]."),
)


register(_HiddenNumericExercise(
    id="capstone_smoothed_weighted_ce", notebook=9,
    title="Label-smoothed, class-weighted cross-entropy and its gradient", points=4.0,
    signature="smoothed_weighted_ce(logits, y, class_weights, smoothing)",
    arg_names=("logits", "y", "class_weights", "smoothing"), output_names=("loss", "dlogits"),
    reference=_swce_reference, public_cases=list, hidden_cases=_ce_cases,
    probes=_ce_probes, terms=_CE_TERMS, dims=_ce_dims, normaliser="1/W",
    tests_in_words=(
        "batches with K = 2 up to K in the hundreds, N = 1 and N = K, float32 and float64; "
        "logits up to 1e4 (smoothing puts every class's log-probability into the loss, so "
        "none may become -inf)",
        "smoothing eps = 0 (plain cross-entropy), small, large and random eps",
        "class weights all 1, all equal to another number (the weighted mean must not "
        "change), random positive weights, and weights 0 for some classes",
        "both results: the loss (a scalar) and its gradient with respect to the logits, "
        "shape (N, K)",
        "your function leaves its inputs unchanged and uses NumPy only (no "
        "backprop_lib.functional)",
    ),
    variants=(
        WrongVariant("normalise_by_n", None,
                     "You divided by N, the number of examples. The weighted mean divides by "
                     "the total weight of the batch, sum_n class_weights[y_n]: with every "
                     "weight equal to c your loss is c times too large, and examples of a "
                     "weight-0 class still count in the denominator.",
                     _sw(norm=_n_rows)),
        WrongVariant("no_normaliser", "missing_batch_mean",
                     "You summed the weighted per-example losses and did not divide by the "
                     "total weight sum_n class_weights[y_n].",
                     _sw(norm=lambda *a: 1.0)),
        WrongVariant("unweighted", None,
                     "Your result ignores the class weights: it is the plain (smoothed) mean "
                     "over the batch.",
                     _sw(omega=_ones_column, norm=_n_rows)),
        WrongVariant("weights_by_column", None,
                     "You multiplied column k by class_weights[k]. The weight of an example is "
                     "the weight of ITS TRUE CLASS, class_weights[y_n]: one number per row, "
                     "applied to the whole row.",
                     _sw(omega=lambda z, y, w, eps: as_float64(w)[None, :])),
        WrongVariant("smoothing_off_true", None,
                     "You spread eps over the K - 1 wrong classes (eps / (K - 1) each). This "
                     "exercise spreads it over ALL K classes: q = (1 - eps) * one_hot + eps / K, "
                     "so the true class gets 1 - eps + eps / K.",
                     _sw(q=_smoothed_off_true)),
        WrongVariant("smoothing_no_rescale", None,
                     "You added eps / K to the one-hot target without scaling it by (1 - eps), "
                     "so the smoothed target no longer sums to 1.",
                     _sw(q=lambda z, y, w, eps: _onehot(z, y, w, eps) + eps / np.shape(z)[1])),
        WrongVariant("smoothing_eps_not_over_k", None,
                     "You added eps, not eps / K, to every class.",
                     _sw(q=lambda z, y, w, eps: (1 - eps) * _onehot(z, y, w, eps) + eps)),
        WrongVariant("grad_unsmoothed", None,
                     "Your loss uses the smoothed target q but your gradient subtracts the "
                     "one-hot target: differentiate the loss you actually compute.",
                     _sw(grad_q=_onehot)),
        WrongVariant("no_smoothing", None,
                     "Your result ignores the smoothing: it uses the one-hot target, "
                     "q = one_hot(y), instead of (1 - eps) * one_hot + eps / K.",
                     _sw(q=_onehot)),
        WrongVariant("grad_unweighted", None,
                     "Your loss is weighted but your gradient is not. The weights and the "
                     "normaliser are constants in the loss, and constants stay in its "
                     "gradient.",
                     _sw(grad_omega=_ones_column, grad_norm=_n_rows)),
        WrongVariant("missing_one_hot", "missing_one_hot",
                     "Your gradient leaves the target out: nothing is subtracted from the "
                     "probabilities.",
                     _sw(grad_q=lambda z, y, w, eps: np.zeros(np.shape(z)))),
        WrongVariant("negated", "sign",
                     "Your loss and gradient have the opposite sign (the loss is never "
                     "negative: it is minus a weighted mean of log-probabilities).",
                     lambda z, y, w, eps: tuple(-x for x in _swce(z, y, w, eps))),
        WrongVariant("no_max_shift", "overflow",
                     "Your softmax has no max shift, so np.exp overflowed on large logits.",
                     _sw(log_probs=lambda z, y, w, eps: np.log(naive_softmax(as_float64(z))),
                         s=lambda z, y, w, eps: naive_softmax(as_float64(z)))),
        WrongVariant("log_of_softmax", "not_finite",
                     "You took np.log(softmax(logits)). With smoothing, EVERY class's "
                     "log-probability enters the loss, and one that underflows to 0 makes the "
                     "loss infinite. Use log-softmax (notebook 02).",
                     _sw(log_probs=lambda z, y, w, eps: np.log(stable_softmax(z)))),
        WrongVariant("axis0", "wrong_axis",
                     "Your softmax normalises down the columns (axis=0) instead of along each "
                     "row.",
                     _sw(log_probs=lambda z, y, w, eps: np.log(stable_softmax(z, axis=0)))),
    ),
    hints=(
        "Build three ingredients first: stable log-probabilities (notebook 02), the smoothed "
        "targets q = (1 - eps) * one_hot(y) + eps / K (every row sums to 1), and one weight "
        "per example, omega = class_weights[y], shape (N,).",
        "The loss is a weighted mean: sum_n omega_n * (-sum_k q_nk log s_nk), divided by "
        "sum_n omega_n, not by N.",
        "For the gradient, redo notebook 04's derivation with q in place of the one-hot target: "
        "q still sums to 1, so row n collapses to s_n - q_n, multiplied by the constant "
        "omega_n / sum(omega).",
        "loss = -(omega * (q * log_p).sum(axis=1)).sum() / omega.sum(); "
        "dlogits = omega[:, None] * (np.exp(log_p) - q) / omega.sum().",
    ),
))


# ---------------------------------------------------------------------------
# Part 4: the trained model, probed where the learner's code runs
# ---------------------------------------------------------------------------


@dataclass
class Verdict:
    """The grader's judgement of what a probe returned (internal to model exercises).

    Attributes
    ----------
    passed : bool
    message : str
        One sentence for the panel.
    codes : list of str
        Mistake codes.
    sentences : dict
        code -> specific sentence.
    notes : list of str
        What probably happened, for mistakes without a code.
    mismatch : str
        A short quantitative line (e.g. a relative error).
    lines : list of str
        Extra "what was tested" lines (measurements).
    """

    passed: bool
    message: str
    codes: list = field(default_factory=list)
    sentences: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    mismatch: str = ""
    lines: list = field(default_factory=list)


@dataclass
class ModelExercise(Exercise):
    """An exercise whose answer is the learner's trained model.

    The grader draws the test's inputs (``make_args``), sends a ``probe`` to wherever the
    learner's code runs (the executor, as for numeric exercises), gets plain arrays back and
    judges them on its own side (``judge``); what it judges against (the exam labels, the
    tolerance) never travels to the learner's code.

    Attributes
    ----------
    signature : str
        What the learner hands in, for messages.
    output_names : tuple of str
        Names of the arrays the probe returns.
    make_args : callable
        ``(rng) -> (args, label)``: the probe's inputs and a description in words.
    probe : callable
        ``(answer, *args) -> tuple of arrays``; runs where the learner's code runs.
    judge : callable
        ``(values: dict of arrays, args) -> Verdict``; runs in the grader.
    tests_in_words : tuple of str
        What is tested, shown in every panel.
    forbidden_reference : tuple of str
        backprop_lib functions the learner's code may not call.
    """

    signature: str = ""
    output_names: tuple = ()
    make_args: Callable = None
    probe: Callable = None
    judge: Callable = None
    tests_in_words: tuple = ()
    forbidden_reference: tuple = SOFTMAX_FAMILY

    kind = "model"

    def grade(self, answer, *, timeout=None, seed=None, executor=None):
        """Probe the learner's model and judge what comes back; never raises for its behaviour.

        Parameters
        ----------
        answer : object
            The learner's trained model (None: not attempted yet).
        timeout : float, optional
            Seconds the probe may take.
        seed : int, optional
            Seed of the test's inputs (random when None).
        executor : callable, optional
            As for :meth:`NumericExercise.grade`; default
            :func:`~backprop_lib.grading.runner.run_case`.

        Returns
        -------
        CheckResult
        """
        seed = secrets.randbits(32) if seed is None else int(seed)
        base = dict(exercise_id=self.id, points=self.points, title=self.title,
                    hint_call=f'hint("{self.id}")', seed=seed, tested=list(self.tests_in_words))
        if answer is None:
            return CheckResult(status="not attempted", passed=False, score=0.0, message=(
                f"Not attempted yet: {self.signature} has not produced a trained model. "
                "Finish it, run its cell, then run this cell again."), **{**base, "tested": []})
        args, label = self.make_args(np.random.default_rng(seed))
        probe = self.probe

        def call(*case_args):
            return probe(answer, *case_args)

        call.__name__ = getattr(probe, "__name__", "probe")
        outcome = (executor or run_case)(call, args, timeout=resolve_timeout(timeout),
                                         output_names=self.output_names, measure_memory=False)
        common = dict(case=f"hidden test: {label}", output=outcome.output, **base)
        if outcome.kind == "not_implemented":
            return CheckResult(status="not attempted", passed=False, score=0.0, message=(
                "Not attempted yet: part of your model still raises NotImplementedError. "
                "Finish every piece, retrain, then run this cell again."),
                **{**common, "tested": [], "case": ""})
        if outcome.kind != "ok":
            return _model_unfinished(outcome, common)
        used = [name for name in outcome.reference_calls
                if name in self.forbidden_reference or name.startswith(RELOADED)]
        if used:
            return self._result(Verdict(False, f"{describe_reference_use(used, 'your model')}. "
                                               "Its softmax pieces must be yours.",
                                        codes=["uses_reference"]), common)
        if isinstance(outcome.value, ConversionProblem):
            return self._result(Verdict(False, outcome.value.reason,
                                        codes=list(outcome.value.codes)), common)
        values = dict(zip(self.output_names, outcome.value, strict=True))
        return self._result(self.judge(values, args), common)

    def _result(self, verdict, common):
        common = dict(common)
        common["tested"] = common["tested"] + list(verdict.lines)
        if verdict.passed:
            common.pop("case")
            return CheckResult(status="passed", passed=True, score=self.points,
                               message=verdict.message, **common)
        explanations = explanations_for(verdict.codes, verdict.sentences)
        explanations += [("What probably happened", note) for note in verdict.notes]
        return CheckResult(status="failed", passed=False, score=0.0,
                           message=f"Failed: {verdict.message}", diagnosis=list(verdict.codes),
                           explanations=explanations, mismatch=verdict.mismatch, **common)


def _model_unfinished(outcome, common):
    """The CheckResult when the probe timed out, exited or raised in the learner's code."""
    if outcome.kind == "timeout":
        return CheckResult(status="timeout", passed=False, score=0.0, message=(
            f"Your model did not finish within the time limit ({outcome.error}). Look for a "
            "loop that never ends, or pass a larger timeout=... to check()."), **common)
    if outcome.kind == "exit":
        return CheckResult(status="error", passed=False, score=0.0, error=outcome.error,
                           message=f"Your model {how_it_exited(outcome)}.", **common)
    first_line = outcome.error.splitlines()[0] if outcome.error else "an error"
    return CheckResult(status="error", passed=False, score=0.0, error=outcome.error,
                       message=f"Your model raised {first_line}.", **common)


# -- what the probes send back -------------------------------------------------


def _encode(info):
    """A JSON-able dict as plain data (uint8 bytes) that can travel back from the probe."""
    return np.frombuffer(json.dumps(info).encode("utf-8"), dtype=np.uint8).copy()


def _decode(array):
    try:
        info = json.loads(np.asarray(array, dtype=np.uint8).tobytes().decode("utf-8", "replace"))
    except ValueError:
        return {}
    return info if isinstance(info, dict) else {}


#: backprop_lib layers a capstone model may use: none of them touches the softmax.
_ALLOWED_LIBRARY_LAYERS = ("Dense", "ReLU", "Sigmoid", "Tanh")


def _structure(model):
    """Class name and module of every layer and of the loss layer (probe side)."""
    parts = []
    for i, layer in enumerate(list(getattr(model, "layers", None) or [])):
        parts.append({"where": f"layers[{i}]", "class": type(layer).__name__,
                      "module": type(layer).__module__})
    loss = getattr(model, "loss_layer", None)
    if loss is not None:
        parts.append({"where": "loss_layer", "class": type(loss).__name__,
                      "module": type(loss).__module__})
    return parts


def _library_pieces(structure):
    """Verdict if the model uses backprop_lib's own softmax or loss layers, else None."""
    for part in structure if isinstance(structure, list) else []:
        if not isinstance(part, dict):
            continue
        module, name = str(part.get("module", "")), str(part.get("class", ""))
        if module.split(".")[0] == "backprop_lib" and name not in _ALLOWED_LIBRARY_LAYERS:
            where = str(part.get("where", "a layer"))[:40]
            return Verdict(False, f"{where} is backprop_lib's own {name[:40]}. Dense, ReLU, "
                                  "Sigmoid and Tanh may come from backprop_lib.layers; the "
                                  "softmax pieces and the loss must be yours.",
                           codes=["uses_reference"])
    return None


def _required(model, names, what):
    missing = [n for n in names if not hasattr(model, n)]
    if missing:
        raise TypeError(f"{what} needs {', '.join(missing)}: hand in your trained model, an "
                        "object like backprop_lib.model.Sequential with layers, loss_layer, "
                        "loss(X, y), backward() and predict(X)")


# -- the gradient check of every layer -------------------------------------------

#: Relative error (of each checked array, in float64) a gradient check must stay under.
GRADCHECK_TOL = 1e-6
_STEP = 1e-5
_ENTRIES = 8
_MODEL_ENTRIES = 6
_PROBE_ROWS = 5


def _sample(shape, count, rng):
    """Up to `count` distinct random multi-indices of an array of `shape`."""
    size = int(np.prod(shape))
    flat = rng.choice(size, size=min(count, size), replace=False) if size else []
    return [np.unravel_index(int(i), shape) for i in flat]


def _central(f, x, indices):
    """Central differences of f() at the entries `indices` of `x` (restored exactly)."""
    out = np.empty(len(indices))
    for n, i in enumerate(indices):
        original = x[i]
        try:
            x[i] = original + _STEP
            plus = f()
            x[i] = original - _STEP
            minus = f()
        finally:
            x[i] = original
        out[n] = (plus - minus) / (2 * _STEP)
    return out


class _Recorder:
    """Collects (analytic, numeric) entries per checked array, and contract problems."""

    def __init__(self):
        self.analytic, self.numeric, self.owner = [], [], []
        self.records, self.problems = [], []

    def add(self, where, array, full, indices, numeric, dtype):
        """Record the entries `indices` of backward's gradient `full` and their numeric values.

        The scale of the comparison is the largest entry of the whole gradient `full`, so a
        sample that happens to hold only tiny entries is not swamped by rounding noise.
        """
        analytic = [full[j] for j in indices]
        scale = float(np.max(np.abs(full), initial=0.0)) if np.isfinite(full).all() else 0.0
        self.records.append({"where": where, "array": array, "dtype": str(dtype),
                             "scale": scale})
        self.analytic.extend(float(a) for a in analytic)
        self.numeric.extend(float(n) for n in numeric)
        self.owner.extend([len(self.records) - 1] * len(numeric))

    def problem(self, text, code=None):
        self.problems.append({"text": text, "code": code})

    def result(self, structure):
        info = {"records": self.records, "problems": self.problems, "structure": structure}
        return (np.array(self.analytic, dtype=float), np.array(self.numeric, dtype=float),
                np.array(self.owner, dtype=np.int64), _encode(info))


def _as_gradient(value, expected_shape, where, what, rec):
    """`value` as a float array of `expected_shape`, or None after recording the problem."""
    if value is None:
        rec.problem(f"{where}: {what} is None -- did a backward forget `return`?")
        return None
    arr = np.array(value, dtype=float)  # a copy: later forward calls may reuse its buffer
    if arr.shape != tuple(expected_shape):
        rec.problem(f"{where}: {what} has shape {arr.shape}, expected {tuple(expected_shape)} "
                    "(a gradient has the shape of the array it belongs to).", "shape")
        return None
    return arr


def _check_layer(i, layer, x, rng, rec):
    """Gradient-check one layer on input `x` with a random upstream gradient; its output."""
    where = f"layers[{i}] ({type(layer).__name__})"
    out = np.asarray(layer.forward(x.copy()))
    g = rng.standard_normal(out.shape)
    dx = _as_gradient(layer.backward(g.copy()), x.shape, where, "backward(g)", rec)
    params = dict(getattr(layer, "params", None) or {})
    grads = dict(getattr(layer, "grads", None) or {})
    if dx is None:
        return None
    x_var = x.copy()

    def objective():
        return float(np.sum(np.asarray(layer.forward(x_var), dtype=np.float64) * g))

    indices = _sample(x.shape, _ENTRIES, rng)
    rec.add(where, "x", dx, indices, _central(objective, x_var, indices), out.dtype)
    for name, param in params.items():
        if name not in grads:
            rec.problem(f"{where}: grads has no entry {name!r} after backward (params has it).")
            return None
        grad = _as_gradient(grads[name], np.shape(param), where, f"grads[{name!r}]", rec)
        if grad is None:
            return None
        if not isinstance(param, np.ndarray) or not param.flags.writeable:
            rec.problem(f"{where}: params[{name!r}] must be a writeable NumPy array.")
            return None
        indices = _sample(param.shape, _ENTRIES, rng)
        rec.add(where, name, grad, indices, _central(objective, param, indices), out.dtype)
    return np.array(out, dtype=np.float64)


def _check_loss(loss_layer, out, y, rng, rec):
    where = f"loss_layer ({type(loss_layer).__name__})"
    loss = loss_layer.forward(out.copy(), y)
    if np.size(loss) != 1:
        rec.problem(f"{where}: forward must return one number (the loss), got shape "
                    f"{np.shape(loss)}.", "shape")
        return
    d_out = _as_gradient(loss_layer.backward(), out.shape, where, "backward()", rec)
    if d_out is None:
        return
    out_var = out.copy()
    indices = _sample(out.shape, _ENTRIES, rng)
    numeric = _central(lambda: float(loss_layer.forward(out_var, y)), out_var, indices)
    rec.add(where, "input", d_out, indices, numeric, np.asarray(loss).dtype)


def _check_whole_model(model, X, y, rng, rec):
    loss = model.loss(X, y)
    model.backward()
    for i, layer in enumerate(model.layers):
        grads = dict(getattr(layer, "grads", None) or {})
        for name, param in dict(getattr(layer, "params", None) or {}).items():
            grad = _as_gradient(grads.get(name), np.shape(param), f"model, layers[{i}]",
                                f"grads[{name!r}]", rec)
            if grad is None:
                return
            indices = _sample(param.shape, _MODEL_ENTRIES, rng)
            numeric = _central(lambda: float(model.loss(X, y)), param, indices)
            rec.add("the whole model", f"layers[{i}].{name}", grad, indices, numeric,
                    np.asarray(loss).dtype)


def _probe_gradients(model, X, y, seed):
    """Probe (learner side): gradient-check every layer, the loss and the whole model.

    Returns
    -------
    analytic, numeric : ndarray, shape (M,)
        Sampled entries of backward's gradients and the central differences there.
    owner : ndarray of int, shape (M,)
        Which checked array each entry belongs to (an index into the records).
    info : ndarray of uint8
        JSON: the records, contract problems found, and the model's structure.
    """
    _required(model, ("layers", "loss_layer", "loss", "backward"), "the gradient check")
    rng = np.random.default_rng(seed)
    rec = _Recorder()
    layers = list(model.layers)
    if not layers:
        rec.problem("model.layers is empty.")
    x = np.array(X, dtype=np.float64)
    for i, layer in enumerate(layers):
        x = _check_layer(i, layer, x, rng, rec)
        if x is None:
            return rec.result(_structure(model))
    _check_loss(model.loss_layer, x, y, rng, rec)
    if not rec.problems:
        _check_whole_model(model, np.array(X, dtype=np.float64), y, rng, rec)
    return rec.result(_structure(model))


def _gradcheck_args(rng):
    X, _, _, _ = _digits_split()
    rows = rng.choice(len(X), size=_PROBE_ROWS, replace=False)
    y = rng.integers(0, 10, size=_PROBE_ROWS).astype(np.int64)
    return ((np.array(X[rows]), y, int(rng.integers(2**31))),
            f"your model on {_PROBE_ROWS} training digits with random labels, a random upstream "
            "gradient for every layer")


def _relative_error(a, n, scale=0.0):
    """max |a - n| / (max(scale, max |a|) + max |n|): 0 when everything is zero.

    `scale` is the largest entry of the whole gradient the sample `a` was drawn from.
    """
    scale = max(float(scale), float(np.max(np.abs(a), initial=0.0)))
    scale += float(np.max(np.abs(n), initial=0.0))
    if scale == 0.0:
        return 0.0
    return float(np.max(np.abs(a - n))) / scale


def _close(a, b):
    return bool(np.allclose(a, b, rtol=1e-4, atol=1e-7 * max(1.0, np.max(np.abs(b),
                                                                            initial=0.0))))


def _why_gradients_differ(a, n, batch, dtype):
    """(codes, sentences, notes) for one failing array."""
    codes, sentences, notes = [], {}, []
    if not (np.isfinite(a).all() and np.isfinite(n).all()):
        codes.append("not_finite")
    elif not np.any(a) and np.any(n):
        notes.append("backward left this gradient at zero, although the output depends on "
                     "it.")
    elif np.any(a) and not np.any(n):
        notes.append("changing these entries did not change the output at all: params must "
                     "hold the very arrays forward computes with (not copies), and forward "
                     "must use its argument.")
    elif _close(a, -n):
        codes.append("sign")
    elif batch > 1 and _close(a, batch * n):
        codes.append("missing_batch_mean")
        sentences["missing_batch_mean"] = (
            f"backward's gradient is N = {batch} times the true one: a 1/N is missing.")
    elif batch > 1 and _close(batch * a, n):
        notes.append(f"backward's gradient is 1/N = 1/{batch} of the true one: it divides by "
                     "N once too often (the 1/N of the mean loss enters only once, in the "
                     "loss).")
    else:
        ratio = a / np.where(n == 0, np.nan, n)
        finite = ratio[np.isfinite(ratio)]
        if finite.size and np.allclose(finite, finite[0], rtol=1e-4):
            notes.append(f"backward's gradient is the true one times {finite[0]:.4g}: a "
                         "constant factor is off.")
    if "float32" in dtype or "float16" in dtype:
        notes.append(f"this part computes in {dtype}: central differences need float64 "
                     "(notebook 08). Build the model in float64 for the check.")
    return codes, sentences, notes


def _judge_gradients(values, args):
    info = _decode(values["info"])
    library = _library_pieces(info.get("structure"))
    if library is not None:
        return library
    problems = [p for p in info.get("problems", []) if isinstance(p, dict)]
    if problems:
        text = str(problems[0].get("text", "a layer broke the layer contract"))[:300]
        code = problems[0].get("code")
        return Verdict(False, text, codes=[code] if code in ("shape",) else [])
    records = [r for r in info.get("records", []) if isinstance(r, dict)]
    owner = np.asarray(values["owner"]).astype(np.int64)
    analytic, numeric = np.asarray(values["analytic"]), np.asarray(values["numeric"])
    if not records or owner.shape != analytic.shape or analytic.shape != numeric.shape:
        return Verdict(False, "the gradient check found nothing to check in your model.")
    rows, worst, lines = [], None, []
    for r, record in enumerate(records):
        a, n = analytic[owner == r], numeric[owner == r]
        try:
            scale = float(record.get("scale", 0.0))
        except (TypeError, ValueError):
            scale = 0.0
        finite = np.isfinite(a).all() and np.isfinite(n).all()
        err = _relative_error(a, n, scale) if finite else np.inf
        where, array = str(record.get("where", "?"))[:60], str(record.get("array", "?"))[:40]
        rows.append((where, array, err))
        if err > GRADCHECK_TOL and worst is None:
            worst = (where, array, err, a, n, str(record.get("dtype", "")))
    for where in dict.fromkeys(w for w, _, _ in rows):
        parts = ", ".join(f"{array} {err:.1e}" for w, array, err in rows if w == where)
        lines.append(f"relative errors, {where}: {parts}")
    if worst is None:
        largest = max(err for _, _, err in rows)
        return Verdict(True, f"Every layer, the loss and the whole model agree with central "
                             f"differences: largest relative error {largest:.1e} (tolerance "
                             f"{GRADCHECK_TOL:.0e}).", lines=lines)
    where, array, err, a, n, dtype = worst
    codes, sentences, notes = _why_gradients_differ(a, n, _PROBE_ROWS, dtype)
    subject = f"the gradient of {array}" if where == "the whole model" else (
        "backward's dL/dx" if array == "x" else "backward's dL/d(input)" if array == "input"
        else f"grads[{array!r}]")
    return Verdict(False, f"{where}: {subject} disagrees with central differences (relative "
                          f"error {err:.2g}, tolerance {GRADCHECK_TOL:.0e}).",
                   codes=codes, sentences=sentences, notes=notes,
                   mismatch=f"{where}, {array}: relative error {err:.2g}", lines=lines)


register(ModelExercise(
    id="capstone_classifier_gradcheck", notebook=9,
    title="Every layer of your classifier passes a gradient check", points=3.0,
    signature="build_and_train(...)", output_names=("analytic", "numeric", "owner", "info"),
    make_args=_gradcheck_args, probe=_probe_gradients, judge=_judge_gradients,
    tests_in_words=(
        "every layer in model.layers on its own: forward on the activations it sees in your "
        "model (a few training digits), backward with a random upstream gradient g; central "
        "differences of sum(forward(x) * g) at sampled entries of x and of every array in "
        "layer.params must match backward's result and layer.grads",
        "model.loss_layer: backward() against central differences of forward(input, y)",
        "the whole model: model.loss(X, y), then model.backward(), against central "
        "differences of model.loss at sampled entries of every parameter (with random labels, "
        "so the gradient is far from zero)",
        f"in float64, relative error at most {GRADCHECK_TOL:.0e} for every checked array; "
        "your parameters are restored exactly afterwards",
        "the softmax pieces and the loss are yours (Dense, ReLU, Sigmoid, Tanh may come from "
        "backprop_lib.layers)",
    ),
    hints=(
        "Check each layer yourself first: backprop_lib.gradcheck.check_layer_gradients(layer, "
        "x) uses a random upstream gradient by default. Give each layer the input it sees in "
        "your model, in float64.",
        "A layer's params must be the very arrays forward uses (not copies), and backward must "
        "fill grads with the same keys and shapes. Layers without parameters have empty dicts.",
        "If only the loss or the whole-model check fails, look at the loss layer's backward "
        "(does it carry the 1/sum(weights)?) and at how model.backward() passes each layer's "
        "result to the layer before it.",
        "The failing panel names the layer and the array; run check_layer_gradients on that "
        "layer alone and compare backward's numbers with the numerical ones.",
    ),
))


# -- the exam ------------------------------------------------------------------


def _probe_exam(model, X):
    """Probe (learner side): the model's labels for the exam digits, and its structure."""
    predict = getattr(model, "predict", None)
    if predict is None and callable(model):
        predict = model
    if predict is None:
        _required(model, ("predict",), "the exam")
    labels = predict(X)
    if labels is None:
        raise TypeError("predict(X) returned None; return one label per row")
    return labels, _encode({"structure": _structure(model)})


def _exam_args(rng):
    _, _, X_exam, _ = _digits_split()
    return (np.array(X_exam),), f"model.predict on the {EXAM_SIZE} exam digits"


def _judge_exam(values, args):
    library = _library_pieces(_decode(values["info"]).get("structure"))
    if library is not None:
        return library
    _, _, _, y_exam = _digits_split()
    pred = np.asarray(values["predictions"])
    n = len(y_exam)
    if pred.ndim == 2 and pred.shape[0] == n:
        return Verdict(False, f"predict returned an array of shape {pred.shape}: scores, not "
                              "labels.", codes=["shape"], sentences={"shape": (
                                  "predict(X) returns one integer label per row, shape (N,): "
                                  "take np.argmax(scores, axis=-1).")})
    if pred.shape != (n,):
        return Verdict(False, f"predict returned shape {pred.shape}; expected ({n},), one "
                              "label per exam digit.", codes=["shape"])
    if pred.dtype.kind not in "iuf" or not np.all(np.isfinite(pred)) or not np.all(
            pred == np.round(pred)):
        return Verdict(False, "predict must return whole-number class labels 0 to 9.",
                       codes=["dtype"])
    correct = pred.astype(np.int64) == y_exam
    accuracy = float(correct.mean())
    recall = {d: float(correct[y_exam == d].mean()) for d in range(10)}
    weakest = min(recall, key=recall.get)
    lines = [f"exam accuracy {accuracy:.1%}; the rare digits 3 and 8: {recall[3]:.0%} and "
             f"{recall[8]:.0%} right; weakest digit {weakest} ({recall[weakest]:.0%})"]
    summary = f"{accuracy:.1%} of the {n} exam digits right (pass mark {PASS_MARK:.0%})"
    if accuracy >= PASS_MARK:
        return Verdict(True, f"{summary}, digits your model never saw in training.",
                       lines=lines)
    notes = []
    if len(np.unique(pred)) == 1:
        notes.append(f"your model predicts {int(pred[0])} for every digit.")
    elif accuracy < 0.2:
        notes.append("that is about chance (10%): is the model trained? Hand in the model "
                     "you trained, not a fresh one.")
    else:
        notes.append(f"your weakest digit is {weakest} ({recall[weakest]:.0%} right). "
                     "Train longer, or check the class weights and the learning rate on "
                     "your own validation split.")
    return Verdict(False, summary + ".", notes=notes, mismatch=f"accuracy {accuracy:.1%}",
                   lines=lines)


register(ModelExercise(
    id="capstone_digits_exam", notebook=9, title="Your classifier on digits it never saw",
    points=4.0, signature="build_and_train(...)", output_names=("predictions", "info"),
    make_args=_exam_args, probe=_probe_exam, judge=_judge_exam,
    tests_in_words=(
        f"model.predict(X) on {EXAM_SIZE} exam digits, 35 to 37 of each, that training_digits() "
        "never returns (the same digits on every run)",
        "predict returns one integer label per row, shape (N,)",
        f"pass mark: {PASS_MARK:.0%} of the exam digits right",
        "the softmax pieces and the loss are yours (Dense, ReLU, Sigmoid, Tanh may come from "
        "backprop_lib.layers)",
    ),
    hints=(
        "Train on training_digits() only, and keep part of it aside (train_test_split, "
        "stratified) to measure accuracy before you hand the model in.",
        "A 64 -> 64 -> 10 network with ReLU, trained with Adam (learning rate around 1e-2) "
        "for 20 to 30 epochs, gets about 97% of held-out digits right.",
        "Digits 3 and 8 have a quarter of the others' examples. Class weights inversely "
        "proportional to the class counts make their errors count as much as the others'.",
        "predict(X) must return one integer label per row: np.argmax(model.forward(X), "
        "axis=-1), which is what Sequential.predict does.",
    ),
))
