"""Exercises of notebook 08 (Pitfalls and extensions): ``fix_softmax_cross_entropy``,
``label_smoothing_grad``, ``distillation_gradient_power`` (a question),
``weighted_cross_entropy_grad`` and ``log_softmax_vjp``.

Everything about each exercise lives here: public cases, hidden-case generator,
reference, named wrong variants and hints (see CONTRIBUTING.md, "Adding an exercise").

The find-the-bug exercise (``fix_softmax_cross_entropy``) names the bugs the learner
left in place: its variants are the notebook's buggy function with a subset of its four
bugs in one output (loss or gradient), and a variant only counts on a case where each of
its bugs changes that output, so a fixed bug is never blamed. The public cases are
ordered so that each bug shows on one of them: ordinary logits (the axis and the 1/N),
large logits (the max shift), a huge gap (log of 0).
"""

from __future__ import annotations

import itertools

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
    with_layout,
)
from ..decomposition import Term
from ..mistakes import WrongVariant
from ..numeric import NumericExercise
from ..probes import probe, readable_logits
from ..questions import Question
from ..registry import register
from ..wrong_implementations import (
    naive_softmax,
    one_hot_float64,
    softmax_axis0,
    softmax_ce_terms,
    stable_softmax,
)

_F64, _F32 = np.float64, np.float32


def _rows(n):
    return np.arange(n)


# ---------------------------------------------------------------------------
# 1. Find the bugs: softmax cross-entropy, loss and gradient
# ---------------------------------------------------------------------------

#: The four bugs of ``buggy_softmax_cross_entropy`` in the notebook: name -> (code, sentence).
_CE_BUGS = {
    "no_max_shift": ("overflow",
                     "Bug left in place: no max shift. np.exp(logits) overflows for logits "
                     "above about 709 (88 in float32); subtract each row's maximum first."),
    "axis0": ("wrong_axis",
              "Bug left in place: the softmax normalises down the columns (axis=0), over "
              "the batch. Each example's probabilities are one row: use axis=-1 (or 1) "
              "with keepdims=True."),
    "log_of_softmax": ("not_finite",
                       "Bug left in place: the loss takes np.log of the probabilities. A "
                       "probability that underflows to 0 gives log(0) = -inf and an infinite "
                       "loss. Compute log-probabilities directly: (z - m) - log(sum(exp(z - m)))."),
    "no_mean": ("missing_batch_mean",
                "Bug left in place: the gradient is not divided by N. The loss is the batch "
                "mean, so its gradient is (S - Y) / N."),
}


def _buggy_softmax_ce(z, y, bugs):
    """The notebook's buggy function with only the bugs in `bugs` (a set of names)."""
    z = as_float64(z)
    y = np.asarray(y)
    n = z.shape[0]
    axis = 0 if "axis0" in bugs else -1
    shift = 0.0 if "no_max_shift" in bugs else z.max(axis=axis, keepdims=True)
    e = np.exp(z - shift)
    total = e.sum(axis=axis, keepdims=True)
    S = e / total
    logp = np.log(S) if "log_of_softmax" in bugs else (z - shift) - np.log(total)
    loss = -logp[_rows(n), y].mean()
    grad = S.copy()
    grad[_rows(n), y] -= 1.0
    if "no_mean" not in bugs:
        grad /= n
    return loss, grad


#: The bugs that change each output: the loss never sees the 1/N of the gradient, and the
#: gradient never takes a logarithm.
_LOSS_BUGS = ("no_max_shift", "axis0", "log_of_softmax")
_GRAD_BUGS = ("no_max_shift", "axis0", "no_mean")


def _same(a, b):
    return bool(np.allclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True))


def _bug_variant(bugs, output):
    """A variant with only `bugs` in one output (0: loss, 1: dlogits); the other is right.

    The grader names a variant when ONE output of the learner reproduces it, so each
    variant is wrong in one output only, and it raises (is skipped) on a case where

    - one of its bugs does not change that output (the bug would be blamed unseen), or
    - that output is entirely NaN or inf and it has more than one bug: a non-finite
      loss looks the same whichever bugs made it, so only a single bug is named from it
      (the public cases are built so that each bug alone shows on one of them).
    """
    bugs = frozenset(bugs)

    def part(z, y, subset):
        return np.asarray(_buggy_softmax_ce(z, y, subset)[output])

    def compute(z, y):
        with np.errstate(all="ignore"):
            wrong = part(z, y, bugs)
            for bug in bugs:
                if _same(wrong, part(z, y, bugs - {bug})):
                    raise ValueError(f"{bug} does not change this output on this case")
            if len(bugs) > 1 and not np.isfinite(wrong).any():
                raise ValueError("a non-finite output cannot tell several bugs apart")
            right = list(_buggy_softmax_ce(z, y, frozenset()))
        right[output] = wrong
        return tuple(right)

    return compute


def _ce_variants():
    variants = []
    for output, names in ((0, _LOSS_BUGS), (1, _GRAD_BUGS)):
        for size in range(1, len(names) + 1):
            for combo in itertools.combinations(names, size):
                compute = _bug_variant(combo, output)
                label = f"{('loss', 'dlogits')[output]}:{'+'.join(combo)}"
                for bug in combo:  # one entry per bug, so each bug left in is named
                    code, sentence = _CE_BUGS[bug]
                    variants.append(WrongVariant(label, code, sentence, compute))
    variants += [
        WrongVariant("grad_sign", "sign",
                     "Your gradient has the opposite sign: it is (Y - S) / N. The gradient "
                     "points uphill, so the true class gets s_y - 1 < 0.",
                     lambda z, y: (lambda loss, g: (loss, -g))(*_buggy_softmax_ce(z, y, set()))),
        WrongVariant("loss_sum", "missing_batch_mean",
                     "Your loss is the SUM of the per-example losses; the function returns "
                     "their mean.",
                     lambda z, y: (lambda loss, g: (loss * len(y), g))(
                         *_buggy_softmax_ce(z, y, set()))),
        WrongVariant("grad_mean_twice", None,
                     "Your gradient is divided by N twice (it is N times too small): (S - Y) / N "
                     "already carries the one 1/N of the mean.",
                     lambda z, y: (lambda loss, g: (loss, g / len(y)))(
                         *_buggy_softmax_ce(z, y, set()))),
    ]
    return tuple(variants)


def _fix_ce_public():
    z = np.array([[2.0, 1.0, 0.1, -1.0], [0.5, 2.5, 0.3, 0.0], [1.0, -1.0, 3.0, 0.5]])
    y = np.array([0, 1, 2])
    z_big = np.array([[1000.0, 999.0, 998.0], [1.0, 2.0, 0.5]])
    z_gap = np.array([[0.0, -800.0, 5.0], [1.0, 2.0, 0.5]])
    return [Case((z, y), f"logits = {z.tolist()}, y = {y.tolist()}", hidden=False),
            Case((z_big, np.array([0, 1])), f"logits = {z_big.tolist()} (a row of large logits), "
                                            "y = [0, 1]", hidden=False),
            Case((z_gap, np.array([1, 0])), f"logits = {z_gap.tolist()} (the true class of row "
                                            "0 is 805 below the best), y = [1, 0]", hidden=False)]


def _labelled_logit_cases(rng, max_n=64, max_k=300):
    """(z, y, label, dtype) for every recipe of cases.logit_batches."""
    for z, regime, dtype in logit_batches(rng, max_n=max_n, max_k=max_k):
        y = labels(rng, z.shape[0], z.shape[1])
        yield z, y, f"{describe_array('logits', z, regime)}; y ({z.shape[0]},) int", dtype


def _fix_ce_hidden(rng):
    return [Case((z, y), label, dtype=dtype) for z, y, label, dtype in _labelled_logit_cases(rng)]


#: Labels of the probes of the cross-entropy exercises: N != K twice, then N = K. In each,
#: some class is nobody's label and some label repeats (so "1 in the label columns" is
#: neither "1 everywhere" nor the one-hot target).
_PROBE_SHAPES = (((4, 5), [1, 4, 1, 2]), ((6, 4), [2, 0, 3, 3, 0, 2]), ((5, 5), [3, 0, 1, 1, 4]))


def _probe_logits(i, shape):
    return readable_logits(*shape, 80 + i)


def _shape_label(shape, y, extra=""):
    n, k = shape
    return f"logits ({n}, {k}), y = {y}" + (": N = K" if n == k else "") + extra


def _fix_ce_probes():
    """Small ordinary logits (N != K twice, then N = K): the axis and the 1/N show there."""
    return [probe((_probe_logits(i, shape), np.array(y)), _shape_label(shape, y))
            for i, (shape, y) in enumerate(_PROBE_SHAPES)]


def _logits_dims(z, *rest):
    return {"N": np.shape(z)[0], "K": np.shape(z)[1]}


register(NumericExercise(
    id="fix_softmax_cross_entropy", notebook=8,
    title="Find the bugs: softmax cross-entropy and its gradient", points=3.0,
    signature="softmax_cross_entropy(logits, y)", arg_names=("logits", "y"),
    output_names=("loss", "dlogits"),
    reference=lambda z, y: F.softmax_cross_entropy(as_float64(z), np.asarray(y)),
    public_cases=_fix_ce_public, hidden_cases=_fix_ce_hidden,
    # The terms describe dlogits only; the loss is one number, of which only a factor can
    # be named. They never blame a bug the learner fixed: they name what the answer contains.
    probes=_fix_ce_probes, terms=softmax_ce_terms(output="dlogits"), dims=_logits_dims,
    normaliser="1/N",
    variants=_ce_variants(),
    hints=(
        "There are four bugs, and none of them raises an error. Go through the buggy function "
        "line by line and ask of each reduction: which axis, and is every number finite?",
        "Softmax normalises each ROW (one example) and must subtract the row maximum before "
        "np.exp: z - z.max(axis=1, keepdims=True).",
        "Never take np.log of a computed probability: log p = (z - m) - log(sum(exp(z - m))) "
        "stays finite when p underflows to 0.",
        "The loss is a mean over the N examples, so the gradient is (S - Y) / N. Return "
        "(loss, dlogits) with dlogits of shape (N, K).",
    ),
))


# ---------------------------------------------------------------------------
# 2. Label smoothing
# ---------------------------------------------------------------------------

_EPSILONS = (0.05, 0.1, 0.2, 0.3, 0.5)


def _smoothed(y, k, eps):
    """The smoothed targets (1 - eps) * one_hot + eps / K, shape (N, K)."""
    return (1.0 - eps) * one_hot_float64(y, k) + eps / k


def _ls_variant(target_fn, *, softmax=stable_softmax, mean=True, sign=1.0):
    def compute(z, y, eps):
        z = as_float64(z)
        n, k = z.shape
        grad = sign * (softmax(z) - target_fn(np.asarray(y), k, float(eps)))
        return grad / n if mean else grad
    return compute


def _ls_public():
    z = np.array([[2.0, 1.0, 0.1, -1.0], [0.5, 2.5, 0.3, 0.0], [1.0, -1.0, 3.0, 0.5]])
    y = np.array([0, 1, 2])
    return [Case((z, y, 0.1), f"logits = {z.tolist()}, y = {y.tolist()}, eps = 0.1",
                 hidden=False)]


def _ls_hidden(rng):
    cases = []
    for z, y, label, dtype in _labelled_logit_cases(rng):
        eps = float(pick(rng, _EPSILONS))
        cases.append(Case((z, y, eps), f"{label}; eps = {eps}", dtype=dtype))
    return cases


def _ls_probes():
    return [probe((_probe_logits(i, shape), np.array(y), eps), _shape_label(
        shape, y, f", eps = {eps}")) for i, ((shape, y), eps) in enumerate(
            zip(_PROBE_SHAPES, (0.1, 0.3, 0.2), strict=True))]


def _ls_term(name, text, f, coefficient="0", **kw):
    return Term(name, text, lambda z, y, eps: f(as_float64(z), np.asarray(y), float(eps)),
                coefficient, **kw)


def _target_part(wrong_one_hot):
    """(1 - eps) * a one-hot target built wrongly."""
    return lambda z, y, eps: (1.0 - eps) * wrong_one_hot(z, y)


def _label_columns(z, y):
    return np.broadcast_to(np.isin(np.arange(z.shape[1]), y), z.shape).astype(float)


def _label_rows(z, y):
    return np.broadcast_to(np.isin(np.arange(z.shape[0]), y)[:, None], z.shape).astype(float)


# (S - (1 - eps) Y - eps / K) / N: the softmax, the one-hot part (1 - eps) Y and the uniform
# part eps (times 1/(N*K)), and likely mistakes. (1 - eps) Y is one term: eps is a number of
# the case, so Y and eps * Y cannot be told apart within one case.
_LS_TERMS = (
    _ls_term("S", "softmax term softmax(logits)", lambda z, y, eps: stable_softmax(z), "1/N"),
    _ls_term("Yq", "one-hot part (1 - eps) * Y",
             lambda z, y, eps: (1.0 - eps) * one_hot_float64(y, z.shape[1]), "-1/N",
             code="missing_one_hot",
             sentence="Your gradient leaves out the one-hot part of the smoothed target: "
                      "Y_smooth = (1 - eps) * Y + eps / K."),
    _ls_term("uniform", "uniform part eps", lambda z, y, eps: eps * np.ones(z.shape),
             "-1/(N*K)",
             sentence="Your gradient leaves out the uniform part eps / K of the smoothed "
                      "target: Y_smooth = (1 - eps) * Y + eps / K."),
    _ls_term("Yq_columns", "(1 - eps) in every row of the label columns",
             _target_part(_label_columns), code="wrong_index", replaces="Yq",
             sentence="You subtracted 1 - eps from whole columns (p[:, y] -= ...): every row "
                      "lost it in every column that is some example's label. Each example has "
                      "one true class: index with [np.arange(N), y]."),
    _ls_term("Yq_rows", "(1 - eps) in every column of the label rows",
             _target_part(_label_rows), code="wrong_index", replaces="Yq",
             sentence="Your one-hot target has whole ROWS of ones (Y[y] = 1 sets rows y[n]). "
                      "Set Y[np.arange(N), y] = 1."),
    _ls_term("Yq_from_one", "(1 - eps) * one-hot of y - 1",
             _target_part(lambda z, y: one_hot_float64((y - 1) % z.shape[1], z.shape[1])),
             code="wrong_index", replaces="Yq",
             sentence="Your one-hot target marks class y[n] - 1, as if the labels counted from "
                      "1. Class labels are 0, ..., K - 1: use y itself."),
    _ls_term("S_axis0", "softmax down the columns", lambda z, y, eps: stable_softmax(z, axis=0),
             code="wrong_axis", replaces="S",
             sentence="Your softmax normalises down the columns (axis=0), over the batch."),
)


register(NumericExercise(
    id="label_smoothing_grad", notebook=8, title="Gradient of label-smoothed cross-entropy",
    points=2.0, signature="label_smoothing_grad(logits, y, eps)",
    arg_names=("logits", "y", "eps"),
    reference=lambda z, y, eps: F.cross_entropy_grad(as_float64(z), np.asarray(y),
                                                     label_smoothing=float(eps)),
    public_cases=_ls_public, hidden_cases=_ls_hidden,
    probes=_ls_probes, terms=_LS_TERMS, dims=_logits_dims, normaliser="1/N",
    variants=(
        WrongVariant("k_minus_1", None,
                     "You spread eps over the K - 1 wrong classes (eps / (K - 1) each, 1 - eps "
                     "on the true class). That convention exists, but this course, like "
                     "PyTorch's label_smoothing, mixes the one-hot target with the uniform "
                     "distribution over all K classes: eps / K each, 1 - eps + eps / K on the "
                     "true class.",
                     _ls_variant(lambda y, k, eps: (1.0 - eps) * one_hot_float64(y, k)
                                 + eps / (k - 1) * (1.0 - one_hot_float64(y, k)))),
        WrongVariant("no_mean", "missing_batch_mean",
                     "You returned S - Y_smooth without dividing by N; the loss is the batch "
                     "mean.", _ls_variant(_smoothed, mean=False)),
        WrongVariant("unsmoothed", None,
                     "You subtracted the plain one-hot target. With label smoothing the target "
                     "is Y_smooth = (1 - eps) * Y + eps / K, and the gradient is "
                     "(S - Y_smooth) / N.", _ls_variant(lambda y, k, eps: one_hot_float64(y, k))),
        WrongVariant("no_target", "missing_one_hot",
                     "You returned S / N: the smoothed target is not subtracted at all.",
                     _ls_variant(lambda y, k, eps: np.zeros((len(y), k)))),
        WrongVariant("no_uniform_on_true", None,
                     "Your smoothed target puts 1 - eps on the true class and eps / K on the "
                     "others, so it sums to 1 - eps / K. The uniform part eps / K goes to EVERY "
                     "class, the true one included.",
                     _ls_variant(lambda y, k, eps: (1.0 - eps) * one_hot_float64(y, k)
                                 + eps / k * (1.0 - one_hot_float64(y, k)))),
        WrongVariant("swapped", None,
                     "You swapped the weights: eps * Y + (1 - eps) / K. The one-hot target keeps "
                     "the weight 1 - eps.",
                     _ls_variant(lambda y, k, eps: eps * one_hot_float64(y, k) + (1 - eps) / k)),
        WrongVariant("negated", "sign", "Your gradient is (Y_smooth - S) / N: the sign is "
                                        "flipped.", _ls_variant(_smoothed, sign=-1.0)),
        WrongVariant("axis0", "wrong_axis",
                     "Your softmax normalises down the columns (axis=0), over the batch.",
                     _ls_variant(_smoothed, softmax=lambda z: softmax_axis0(z))),
        WrongVariant("no_max_shift", "overflow",
                     "Your softmax has no max shift, so np.exp overflowed on large logits.",
                     _ls_variant(_smoothed, softmax=naive_softmax)),
    ),
    hints=(
        "Label smoothing only changes the target: Y_smooth = (1 - eps) * Y + eps / K, where Y "
        "is the one-hot matrix (N, K). Every row of Y_smooth still sums to 1.",
        "Because Y_smooth sums to 1 in every row, notebook 04's result still applies: the "
        "gradient of the mean loss is (S - Y_smooth) / N.",
        "The uniform part eps / K goes to all K classes, the true one included, so the true "
        "class's target is 1 - eps + eps / K.",
        "S = stable softmax of logits; Y = np.zeros_like(S); Y[np.arange(N), y] = 1; "
        "return (S - ((1 - eps) * Y + eps / K)) / N.",
    ),
))


# ---------------------------------------------------------------------------
# 3. Question: how the distillation gradient scales with T
# ---------------------------------------------------------------------------

register(Question(
    id="distillation_gradient_power", notebook=8,
    title="How the soft-target gradient scales with T", points=1.0,
    prompt="Distillation at temperature T: p = softmax(v / T) from the teacher's logits v, "
           "q = softmax(z / T) from the student's logits z, and L_soft = -sum_k p_k log q_k. "
           "For large T, the gradient dL_soft/dz shrinks like T**a. What is the exponent a? "
           "Answer with a number.",
    answer_kind="number",
    answer_hash="fe35d04459dfa73184b3ce846e2ea4f8acc8fb69e2a6a6de47a7d0ac6e8dd082",
    explanation="dL_soft/dz = (q - p) / T: one factor 1/T from the chain rule through z / T. "
                "And for large T both softmaxes approach the uniform distribution, "
                "q_k - p_k ~ ((z_k - mean z) - (v_k - mean v)) / (K T): a second factor 1/T. "
                "So the gradient scales like 1/T^2, and multiplying L_soft by T^2 keeps its "
                "gradient, and its balance with the hard-label loss, the same size when T "
                "changes.",
    wrong_feedback={
        "800b47fb279b7f38e108f60ba8826d4f9e7757d4a963a0fd9b91d894d0d87932":
            "That counts the 1/T from the chain rule only. The difference q - p shrinks "
            "as T grows, too.",
        "98987e86873d16a217c1cdba98894800e279414f50773e7e18a5456ea53c28c6":
            "T^2 is the factor that distillation code multiplies the loss by, to undo how "
            "the gradient scales. Which way does the gradient itself go as T grows?",
        "eba91b7b42f91cade214128da5329feb581dd3ab37d4a60d0204ae5fecd687d1":
            "Compute the gradient at T = 1, 10 and 100 in a cell: it does change.",
        "b7e2caa280569615200c4906272b965de502e964902bda471eda04ab526ff4ac":
            "The gradient gets smaller as T grows, so the exponent is negative.",
    },
    hints=(
        "Differentiate through z / T first: dL_soft/dz = (q - p) / T.",
        "As T grows, z / T and v / T go to 0, so q and p both approach the uniform 1/K. How "
        "fast does q - p go to 0?",
        "To first order in 1/T, softmax(x / T)_k = 1/K + (x_k - mean(x)) / (K T).",
    ),
))


# ---------------------------------------------------------------------------
# 4. Class weights and an ignored label
# ---------------------------------------------------------------------------

_IGNORE = -100  # PyTorch's default ignore_index


def _wce_parts(z, y, w, ignore_index, softmax=stable_softmax):
    """The pieces of the weighted gradient, in float64.

    Returns ``S`` (softmax, (N, K)), ``D`` (``S - one_hot``, with the one-hot of an
    ignored row at class 0, (N, K)), ``per_example`` (``w[y_n]`` for kept examples,
    0 for ignored ones, (N,)) and ``keep`` (bool, (N,)).
    """
    z, y, w = as_float64(z), np.asarray(y), as_float64(w)
    keep = y != ignore_index
    y_kept = np.where(keep, y, 0)
    S = softmax(z)
    D = S - one_hot_float64(y_kept, z.shape[1])
    per_example = np.where(keep, w[y_kept], 0.0)
    return S, D, per_example, keep


def _wce_reference(z, y, w, ignore_index):
    _, D, per_example, _ = _wce_parts(z, y, w, ignore_index)
    return D * (per_example / per_example.sum())[:, None]


def _wce_variant(fn, softmax=stable_softmax):
    """A wrong variant ``fn(S, D, per_example, keep, y, w, ignore_index)``."""
    def compute(z, y, w, ignore_index):
        S, D, per_example, keep = _wce_parts(z, y, w, ignore_index, softmax)
        return fn(S, D, per_example, keep, np.asarray(y), as_float64(w), ignore_index)
    return compute


def _ignoring_a_class(fn):
    """Wrap a variant that only exists when ignore_index is a real class (e.g. 0)."""
    def variant(S, D, per_example, keep, y, w, ignore_index):
        if not 0 <= ignore_index < w.size:
            raise ValueError("needs an ignore_index that is a class")
        return fn(S, D, per_example, keep, y, w, ignore_index)
    return variant


def _normalised(D, per_example):
    return D * (per_example / per_example.sum())[:, None]


def _wce_case(z, y, w, ignore_index, label, dtype, hidden=True):
    text = (f"{label}; class_weights ({w.size},), ignore_index = {ignore_index} "
            f"({int(np.sum(y == ignore_index))} of {y.size} labels ignored)")
    return Case((z, y, w, ignore_index), text, hidden=hidden, dtype=dtype)


def _wce_public():
    z = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3], [1.0, -1.0, 3.0], [0.0, 0.2, -0.4],
                  [1.5, 0.5, 1.0]])
    y = np.array([0, 2, _IGNORE, 1, 2])
    w = np.array([1.0, 2.0, 0.5])
    y2 = np.array([0, 2, 1, 1, 0])
    ones = np.ones(3)
    return [
        _wce_case(z, y, w, _IGNORE, f"logits = {z.tolist()}, y = {y.tolist()}, class_weights "
                                    f"= {w.tolist()}", _F64, hidden=False),
        _wce_case(z, y2, ones, 1, f"the same logits, y = {y2.tolist()}, class_weights = "
                                  f"{ones.tolist()}, ignoring class 1", _F64, hidden=False),
    ]


def _wce_hidden(rng):
    cases = []
    for z, y, label, dtype in _labelled_logit_cases(rng):
        n, k = z.shape
        w = rng.uniform(0.2, 4.0, size=k).astype(dtype)
        if rng.random() < 0.5:
            ignore_index = _IGNORE
            y = np.where(rng.random(n) < 0.3, _IGNORE, y)
        else:
            ignore_index = int(rng.integers(0, k))
        others = np.flatnonzero(y != ignore_index)
        if others.size == 0:  # keep at least one example, or the mean is 0 / 0
            y[0] = (ignore_index + 1) % k if ignore_index >= 0 else 0
        cases.append(_wce_case(z, y, w, ignore_index, label, dtype))
    return cases


def _wce_probes():
    """Class weights with -100 labels ignored, then with a real class ignored.

    The weights have two decimals, so that their sums are no simple multiples of N or K
    (a wrong normaliser could otherwise match a product of counts by chance).
    """
    weights = (np.array([0.53, 2.17, 1.09, 1.61, 2.93]), np.array([2.31, 0.47, 1.73, 1.19]),
               np.array([1.13, 2.59, 0.61, 2.07, 1.37]))
    ignored = (_IGNORE, 2, 0)
    probes = []
    for i, ((shape, y), w, ignore_index) in enumerate(zip(_PROBE_SHAPES, weights, ignored,
                                                         strict=True)):
        y = np.array(y)
        if ignore_index == _IGNORE:
            y[-1] = _IGNORE  # the kept examples still have two classes of different weights
        text = f"class_weights = {w.tolist()}, ignore_index = {ignore_index}"
        probes.append(probe((_probe_logits(i, shape), y, w, ignore_index),
                            _shape_label(shape, y.tolist(), f", {text}")))
    return probes


def _wce_dims(z, y, w, ignore_index):
    """N, K, W (the total weight of the kept examples) and the sum of the class weights.

    The sum of the class weights is a count a learner may divide by instead of W; it is
    named as the code spells it.
    """
    _, _, per_example, _ = _wce_parts(z, y, w, ignore_index)
    return {"N": np.shape(z)[0], "K": np.shape(z)[1], "W": float(per_example.sum()),
            "class_weights.sum()": float(np.sum(as_float64(w)))}


def _wce_term(name, text, f, coefficient="0", **kw):
    """A term f(S, D, per_example, keep, y_safe, w) of the weighted gradient."""
    def compute(z, y, w, ignore_index):
        S, D, per_example, keep = _wce_parts(z, y, w, ignore_index)
        y_safe = np.where(keep, np.asarray(y), 0)
        return f(S, D, per_example[:, None], keep[:, None], y_safe, as_float64(w))
    return Term(name, text, compute, coefficient, **kw)


# Row n: w[y_n] (S_n - Y_n) / W for the kept examples (W their total weight), 0 for the
# ignored ones; and likely mistakes.
_WCE_TERMS = (
    _wce_term("wS", "weighted softmax w[y] * S", lambda S, D, pe, keep, ys, w: pe * S, "1/W"),
    _wce_term("wY", "weighted one-hot w[y] * Y", lambda S, D, pe, keep, ys, w: pe * (S - D),
              "-1/W", code="missing_one_hot",
              sentence="You scaled the softmax without subtracting the one-hot target: row n "
                       "is w[y_n] (S_n - Y_n) / W."),
    _wce_term("column_wS", "softmax times class_weights[k] per column",
              lambda S, D, pe, keep, ys, w: keep * S * w[None, :], replaces="wS",
              sentence="You multiplied column k by class_weights[k]. The weight belongs to "
                       "each example's TRUE class: row n of S - Y is scaled by w[y[n]]."),
    _wce_term("column_wY", "one-hot times class_weights[k] per column",
              lambda S, D, pe, keep, ys, w: keep * (S - D) * w[None, :], replaces="wY",
              sentence="You multiplied column k by class_weights[k]. The weight belongs to "
                       "each example's TRUE class: row n of S - Y is scaled by w[y[n]]."),
    _wce_term("ignored_S", "softmax of the ignored examples",
              lambda S, D, pe, keep, ys, w: ~keep * S, replaces="wS",
              sentence="The examples whose label equals ignore_index still contribute: their "
                       "rows of the gradient must be 0 (and they do not count in W)."),
)


register(NumericExercise(
    id="weighted_cross_entropy_grad", notebook=8,
    title="Gradient of class-weighted cross-entropy with an ignored label", points=3.0,
    signature="weighted_cross_entropy_grad(logits, y, class_weights, ignore_index)",
    arg_names=("logits", "y", "class_weights", "ignore_index"),
    reference=_wce_reference, public_cases=_wce_public, hidden_cases=_wce_hidden,
    probes=_wce_probes, terms=_WCE_TERMS, dims=_wce_dims, normaliser="1/W",
    variants=(
        WrongVariant("mean_over_N", None,
                     "You divided by N. With class weights the mean divides by the SUM OF THE "
                     "WEIGHTS of the examples that are not ignored, sum_n w[y_n] over kept n.",
                     _wce_variant(lambda S, D, pe, keep, y, w, ig: D * pe[:, None] / len(y))),
        WrongVariant("mean_over_kept", None,
                     "You divided by the number of examples that are not ignored. That is right "
                     "without class weights; with them, divide by the sum of their weights, "
                     "sum_n w[y_n] over kept n.",
                     _wce_variant(lambda S, D, pe, keep, y, w, ig:
                                  D * pe[:, None] / keep.sum())),
        WrongVariant("unweighted", None,
                     "You left out the class weights: row n must be scaled by w[y[n]], and the "
                     "normaliser is the sum of those weights over the kept examples.",
                     _wce_variant(lambda S, D, pe, keep, y, w, ig:
                                  D * keep[:, None] / keep.sum())),
        WrongVariant("normaliser_counts_ignored", None,
                     "Your normaliser still adds the weights of the ignored examples. Ignored "
                     "examples count in neither the numerator nor the denominator.",
                     _wce_variant(_ignoring_a_class(lambda S, D, pe, keep, y, w, ig:
                                                    D * pe[:, None] / w[y].sum()))),
        WrongVariant("ignore_not_applied", None,
                     "The examples whose label equals ignore_index still contribute. Their rows "
                     "of the gradient must be 0, and they must not count in the normaliser.",
                     _wce_variant(_ignoring_a_class(lambda S, D, pe, keep, y, w, ig: _normalised(
                         S - one_hot_float64(y, S.shape[1]), w[y])))),
        WrongVariant("ignored_rows_kept", None,
                     "The examples whose label equals ignore_index still contribute (as if "
                     "they were labelled with a real class). Their rows of the gradient must be "
                     "0, and they must not count in the normaliser.",
                     _wce_variant(lambda S, D, pe, keep, y, w, ig: _normalised(
                         D, w[np.where(keep, y, 0)]))),
        WrongVariant("column_weights", None,
                     "You multiplied column k by w[k]. The weight belongs to each example's "
                     "TRUE class: row n of S - Y is scaled by w[y[n]].",
                     _wce_variant(lambda S, D, pe, keep, y, w, ig:
                                  D * w[None, :] * keep[:, None] / pe.sum())),
        WrongVariant("weighted_sum", "missing_batch_mean",
                     "You returned the gradient of the weighted SUM; the mean divides it by the "
                     "sum of the weights of the kept examples.",
                     _wce_variant(lambda S, D, pe, keep, y, w, ig: D * pe[:, None])),
        WrongVariant("no_one_hot", "missing_one_hot",
                     "You scaled the softmax S without subtracting the one-hot target.",
                     _wce_variant(lambda S, D, pe, keep, y, w, ig: _normalised(S, pe))),
        WrongVariant("negated", "sign", "Your gradient has the opposite sign.",
                     _wce_variant(lambda S, D, pe, keep, y, w, ig: -_normalised(D, pe))),
        WrongVariant("axis0", "wrong_axis",
                     "Your softmax normalises down the columns (axis=0), over the batch.",
                     _wce_variant(lambda S, D, pe, keep, y, w, ig: _normalised(D, pe),
                                  softmax=softmax_axis0)),
        WrongVariant("no_max_shift", "overflow",
                     "Your softmax has no max shift, so np.exp overflowed on large logits.",
                     _wce_variant(lambda S, D, pe, keep, y, w, ig: _normalised(D, pe),
                                  softmax=naive_softmax)),
    ),
    hints=(
        "Per example the loss is l_n = -w[y_n] log s_{n, y_n}, and an example whose label equals "
        "ignore_index has l_n = 0. The mean is sum_n l_n / Omega, with Omega the sum of w[y_n] "
        "over the examples that are NOT ignored.",
        "So row n of the gradient is w[y_n] (s_n - one_hot(y_n)) / Omega for a kept example "
        "and all zeros for an ignored one. Omega depends on the batch, not only on N.",
        "ignore_index may be -100 (not a class at all) or a real class such as 0. Build a mask "
        "keep = (y != ignore_index) first, and only then index with the labels, e.g. with "
        "y_safe = np.where(keep, y, 0).",
        "S = stable softmax; S[np.arange(N), y_safe] -= 1; wn = np.where(keep, "
        "class_weights[y_safe], 0); return S * (wn / wn.sum())[:, None].",
    ),
))


# ---------------------------------------------------------------------------
# 5. The log-softmax vector-Jacobian product
# ---------------------------------------------------------------------------

_VJP_MEMORY_K = 2048


def _lsv_reference(logp, g):
    logp, g = as_float64(logp), as_float64(g)
    return g - np.exp(logp) * g.sum(axis=-1, keepdims=True)


def _lsv_variant(fn):
    def compute(logp, g):
        logp, g = as_float64(logp), as_float64(g)
        return fn(logp, np.exp(logp), g)
    return compute


def _lsv_public():
    z = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]])
    logp = F.log_softmax(z)
    g = np.array([[1.0, 0.0, -2.0], [0.5, -1.0, 2.0]])
    g_ce = -np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    return [Case((logp, g), f"logp = log_softmax({z.tolist()}), g = {g.tolist()}", hidden=False),
            Case((logp, g_ce), f"the same logp, g = {g_ce.tolist()} (the upstream gradient of "
                               "the cross-entropy -sum_k y_k logp_k: g = -y)", hidden=False)]


def _lsv_hidden(rng):
    cases = []
    for z, regime, dtype in logit_batches(rng, max_n=32):
        logp = with_layout(F.log_softmax(as_float64(z)).astype(dtype), pick(rng, ANY_LAYOUT))
        g = with_layout(rng.normal(size=logp.shape).astype(dtype), pick(rng, ANY_LAYOUT))
        label = (f"{describe_array('logp', logp, 'log_softmax of ' + regime + ' logits')}; "
                 f"{describe_array('g', g)}")
        cases.append(Case((logp, g), label, dtype=dtype))
    n, k = 4, _VJP_MEMORY_K
    logp = F.log_softmax(rng.normal(size=(n, k)))
    g = rng.normal(size=(n, k))
    cases.append(Case((logp, g), f"logp and g of shape ({n}, {k}) (a single (K, K) Jacobian "
                                 f"would take {k * k * 8 / 2**20:.0f} MiB)",
                      memory_limit=n * k * k * 8 // (4 * n)))
    return cases


def _lsv_probes():
    rng = np.random.default_rng(88)
    probes = []
    for i, ((n, k), _) in enumerate(_PROBE_SHAPES):
        logp = F.log_softmax(_probe_logits(i, (n, k)))
        g = np.round(rng.uniform(-2.0, 2.0, size=(n, k)), 1) + 0.01 * np.arange(k)
        probes.append(probe((logp, g), f"logp, g of shape ({n}, {k})"
                                       + (": N = K" if n == k else "")))
    return probes


def _lsv_term(name, text, f, coefficient="0", **kw):
    """A term f(s, g) with s = exp(logp)."""
    return Term(name, text, lambda logp, g: f(np.exp(as_float64(logp)), as_float64(g)),
                coefficient, **kw)


def _sum_g(g, axis=-1):
    return g.sum(axis=axis, keepdims=True)


def _square_rows(x):
    if x.ndim != 2 or x.shape[0] != x.shape[1]:
        raise ValueError("this mistake runs only when N = K")
    return x


# g^T J = g - s * sum(g) (J = I - 1 s^T), and likely mistakes.
_LSV_TERMS = (
    _lsv_term("g", "upstream gradient g", lambda s, g: g, "1",
              sentence="Your result leaves out g itself: dz_j = g_j - s_j * sum_i g_i."),
    _lsv_term("s_sum", "term s * sum(g)", lambda s, g: s * _sum_g(g), "-1",
              sentence="Your result leaves out -s * sum(g), the part that comes from the "
                       "log-sum-exp: dz_j = g_j - s_j * sum_i g_i."),
    _lsv_term("inner", "<g, s> in every entry",
              lambda s, g: (g * s).sum(axis=-1, keepdims=True) * np.ones(s.shape),
              code="transposed", replaces="s_sum",
              sentence="You computed J g = g - <g, s> instead of g^T J = g - s * sum(g): the "
                       "log-softmax Jacobian is not symmetric, and the chain rule sums over the "
                       "outputs i, the ROWS of J."),
    _lsv_term("gs", "term g * s", lambda s, g: g * s, code="elementwise_jacobian",
              replaces="s_sum",
              sentence="You used only the diagonal of the Jacobian, g * (1 - s): every output "
                       "log s_i depends on every logit, d log s_i / d z_j = delta_ij - s_j."),
    _lsv_term("s_inner", "term s * <g, s>", lambda s, g: s * (g * s).sum(axis=-1, keepdims=True),
              replaces="s_sum",
              sentence="You multiplied s by <g, s>, the inner product of the SOFTMAX VJP. The "
                       "log-softmax VJP multiplies s by the plain sum of g: g - s * sum(g)."),
    _lsv_term("s_sum_axis0", "term s * (g summed over the batch)",
              lambda s, g: s * _sum_g(g, axis=0), code="wrong_axis", replaces="s_sum",
              sentence="You summed g over the batch (axis=0). sum(g) is per example: "
                       "g.sum(axis=-1, keepdims=True)."),
    _lsv_term("s_total", "term s * (the sum of all of g)", lambda s, g: s * g.sum(),
              code="wrong_axis", replaces="s_sum",
              sentence="You summed all of g into one number. sum(g) is per example: "
                       "g.sum(axis=-1, keepdims=True)."),
    _lsv_term("s_no_keepdims", "term s * g.sum(axis=-1) without keepdims",
              lambda s, g: _square_rows(s) * g.sum(axis=-1), code="wrong_axis",
              replaces="s_sum",
              sentence="You summed g along axis=-1 without keepdims=True: the (N,) sums line up "
                       "with the LAST axis, so column j got example j's sum (it runs only when "
                       "N = K). Use keepdims=True."),
    _lsv_term("logp_sum", "term logp * sum(g)", lambda s, g: np.log(s) * _sum_g(g),
              replaces="s_sum",
              sentence="You used the log-probabilities where the probabilities belong: "
                       "s = np.exp(logp)."),
    _lsv_term("s", "s on its own", lambda s, g: s, replaces="s_sum",
              sentence="Your s is not multiplied by sum(g), one number per example (it is 1 "
                       "only by accident): dz = g - s * g.sum(axis=-1, keepdims=True)."),
)


register(NumericExercise(
    id="log_softmax_vjp", notebook=8, title="Log-softmax vector-Jacobian product", points=3.0,
    signature="log_softmax_vjp(logp, g)", arg_names=("logp", "g"),
    reference=_lsv_reference, public_cases=_lsv_public, hidden_cases=_lsv_hidden,
    probes=_lsv_probes, terms=_LSV_TERMS, dims=_logits_dims,
    memory_message=("Right numbers, but your function allocated {mib:.1f} MiB on this case "
                    "(the limit is {limit:.1f} MiB): it seems to build the (K, K) Jacobian. "
                    "Use g - s * sum(g) per row, which needs only (N, K) arrays."),
    variants=(
        WrongVariant("s_plus_g", None,
                     "You returned s + g: the cross-entropy shortcut s - y with y = -g. It is "
                     "right only when every row of g sums to -1, as -y does for a one-hot y. "
                     "For any other upstream gradient the VJP is g - s * sum(g).",
                     _lsv_variant(lambda logp, s, g: s + g)),
        WrongVariant("s_minus_g", None,
                     "You returned s - g, the shortcut s - y with g in the place of y. The "
                     "upstream gradient is not a target: the VJP is g - s * sum(g).",
                     _lsv_variant(lambda logp, s, g: s - g)),
        WrongVariant("forgot_sum", None,
                     "You returned g - s and dropped the sum: each row needs g - s * sum(g), "
                     "with sum(g) one number per row (it is 1 only by accident).",
                     _lsv_variant(lambda logp, s, g: g - s)),
        WrongVariant("axis0", "wrong_axis",
                     "You summed g over the batch (axis=0). sum(g) is per example: "
                     "g.sum(axis=-1, keepdims=True).",
                     _lsv_variant(lambda logp, s, g: g - s * g.sum(axis=0, keepdims=True))),
        WrongVariant("total_sum", "wrong_axis",
                     "You summed all of g into one number. sum(g) is per example: "
                     "g.sum(axis=-1, keepdims=True).",
                     _lsv_variant(lambda logp, s, g: g - s * g.sum())),
        WrongVariant("logp_as_s", None,
                     "You used the log-probabilities as if they were probabilities. The "
                     "formula needs s = np.exp(logp).",
                     _lsv_variant(lambda logp, s, g: g - logp * g.sum(axis=-1, keepdims=True))),
        WrongVariant("softmax_vjp", None,
                     "That is the SOFTMAX VJP, s * (g - <g, s>). The log-softmax Jacobian is "
                     "I - 1 s^T (d log s_i / d z_j = delta_ij - s_j), and its VJP is "
                     "g - s * sum(g).",
                     _lsv_variant(lambda logp, s, g: s * (g - (g * s).sum(axis=-1,
                                                                          keepdims=True)))),
        WrongVariant("jacobian_times_g", "transposed",
                     "You computed J g = g - <g, s> instead of g^T J = g - s * sum(g). The "
                     "log-softmax Jacobian is not symmetric, so the two products differ: the "
                     "chain rule sums over the outputs i, i.e. over the ROWS of J.",
                     _lsv_variant(lambda logp, s, g: g - (g * s).sum(axis=-1, keepdims=True))),
        WrongVariant("negated", "sign", "Your result is s * sum(g) - g: the sign is flipped.",
                     _lsv_variant(lambda logp, s, g: s * g.sum(axis=-1, keepdims=True) - g)),
        WrongVariant("diagonal_only", "elementwise_jacobian",
                     "You used only the diagonal of the Jacobian, g * (1 - s). Every output "
                     "log s_i depends on every logit: d log s_i / d z_j = delta_ij - s_j.",
                     _lsv_variant(lambda logp, s, g: g * (1 - s))),
    ),
    hints=(
        "For one example, o = log_softmax(z) has d o_i / d z_j = delta_ij - s_j, with "
        "s = softmax(z) = np.exp(o). The result has the shape of z: (N, K).",
        "The chain rule sums over the outputs: dz_j = sum_i g_i (delta_ij - s_j) "
        "= g_j - s_j * sum_i g_i.",
        "sum_i g_i is ONE number per example: g.sum(axis=-1, keepdims=True), shape (N, 1). "
        "Do not build the (K, K) Jacobian.",
        "`return g - np.exp(logp) * g.sum(axis=-1, keepdims=True)`.",
    ),
))
