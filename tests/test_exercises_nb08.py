"""Notebook 08's exercises: correct alternatives pass, stubs are "not attempted", and
realistic wrong answers fail with the mistake each must be named as.

The find-the-bug exercise is also tested with the notebook's own buggy function and with
every partial fix of it: each bug left in place must be named, and no bug that was fixed.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

import backprop_lib.grading.exercises.nb08_pitfalls_and_extensions as nb08
from backprop_lib import functional as F
from backprop_lib.grading import check, exercises
from backprop_lib.grading.mistakes import MISTAKES
from backprop_lib.grading.questions import answer_hash, normalise
from backprop_lib.grading.registry import get_exercise

SEEDS = (0, 1)
NUMERIC = ("fix_softmax_cross_entropy", "label_smoothing_grad", "weighted_cross_entropy_grad",
           "log_softmax_vjp")


@pytest.fixture(autouse=True)
def _private_progress(tmp_path, monkeypatch):
    monkeypatch.setenv("BACKPROP_PROGRESS_FILE", str(tmp_path / "progress.json"))


def grade(exercise_id, answer, seed=0, timeout=5.0):
    return get_exercise(exercise_id).grade(answer, timeout=timeout, seed=seed)


def _feedback_text(result):
    return " ".join([result.message] + [text for _, text in result.explanations])


# ---------------------------------------------------------------------------
# Helpers a learner might write
# ---------------------------------------------------------------------------


def _softmax(z, axis=-1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _log_softmax(z):
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _one_hot(y, k):
    return np.eye(k)[y]


# ---------------------------------------------------------------------------
# Correct solutions: at least two different routes per numeric exercise
# ---------------------------------------------------------------------------


def _ce_vectorised(logits, y):
    n = logits.shape[0]
    logp = _log_softmax(logits)
    grad = np.exp(logp)
    grad[np.arange(n), y] -= 1.0
    return -logp[np.arange(n), y].mean(), grad / n


def _ce_loop(logits, y):
    n, k = logits.shape
    loss, grad = 0.0, np.zeros((n, k))
    for i in range(n):
        row = logits[i].astype(float)
        m = row.max()
        lse = m + np.log(np.sum(np.exp(row - m)))
        loss += (lse - row[y[i]]) / n
        grad[i] = np.exp(row - lse)
        grad[i, y[i]] -= 1.0
    return loss, grad / n


def _ce_one_hot_einsum(logits, y):
    n, k = logits.shape
    Y = _one_hot(y, k)
    logp = _log_softmax(logits.astype(np.float64))
    return -np.einsum("nk,nk->", Y, logp) / n, (_softmax(logits) - Y) / n


def _ls_formula(logits, y, eps):
    n, k = logits.shape
    return (_softmax(logits) - ((1 - eps) * _one_hot(y, k) + eps / k)) / n


def _ls_two_steps(logits, y, eps):
    n, k = logits.shape
    grad = _softmax(logits) - eps / k
    grad[np.arange(n), y] -= 1 - eps
    return grad / n


def _ls_loop(logits, y, eps):
    n, k = logits.shape
    out = np.empty((n, k))
    for i in range(n):
        target = np.full(k, eps / k)
        target[y[i]] += 1 - eps
        out[i] = (_softmax(logits[i]) - target) / n
    return out


def _wce_vectorised(logits, y, class_weights, ignore_index):
    keep = y != ignore_index
    y_safe = np.where(keep, y, 0)
    S = _softmax(logits)
    S[np.arange(len(y)), y_safe] -= 1.0
    wn = np.where(keep, class_weights[y_safe], 0.0)
    return S * (wn / wn.sum())[:, None]


def _wce_loop(logits, y, class_weights, ignore_index):
    n, k = logits.shape
    grad = np.zeros((n, k))
    total = 0.0
    for i in range(n):
        if y[i] == ignore_index:
            continue
        w = float(class_weights[y[i]])
        total += w
        grad[i] = w * (_softmax(logits[i].astype(float)) - _one_hot(y[i], k))
    return grad / total


def _wce_masked_rows(logits, y, class_weights, ignore_index):
    n, k = logits.shape
    rows = np.flatnonzero(y != ignore_index)
    grad = np.zeros((n, k))
    w = class_weights[y[rows]].astype(np.float64)
    grad[rows] = w[:, None] * (_softmax(logits[rows]) - _one_hot(y[rows], k))
    return grad / w.sum()


def _lsv_exp(logp, g):
    return g - np.exp(logp) * g.sum(axis=-1, keepdims=True)


def _lsv_softmax_of_logp(logp, g):
    return g - _softmax(logp) * np.sum(g, axis=1, keepdims=True)  # softmax(log s) = s


def _lsv_loop(logp, g):
    out = np.empty(g.shape)
    for i in range(g.shape[0]):
        out[i] = g[i] - np.exp(logp[i]) * np.dot(np.ones(g.shape[1]), g[i])
    return out


CORRECT = {
    "fix_softmax_cross_entropy": [_ce_vectorised, _ce_loop, _ce_one_hot_einsum],
    "label_smoothing_grad": [_ls_formula, _ls_two_steps, _ls_loop],
    "weighted_cross_entropy_grad": [_wce_vectorised, _wce_loop, _wce_masked_rows],
    "log_softmax_vjp": [_lsv_exp, _lsv_softmax_of_logp, _lsv_loop],
}


def test_every_numeric_exercise_of_notebook_08_is_covered():
    numeric = {e for e in exercises(8) if get_exercise(e).kind == "function"}
    assert numeric == set(NUMERIC) == set(CORRECT)
    assert exercises(8) == ["fix_softmax_cross_entropy", "label_smoothing_grad",
                            "distillation_gradient_power", "weighted_cross_entropy_grad",
                            "log_softmax_vjp"]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("exercise_id, index", [
    (ex, i) for ex, impls in CORRECT.items() for i in range(len(impls))])
def test_correct_solutions_pass(exercise_id, index, seed):
    result = grade(exercise_id, CORRECT[exercise_id][index], seed=seed)
    assert result.status == "passed", str(result)
    assert result.score == result.points > 0 and result.diagnosis == []


@pytest.mark.parametrize("exercise_id", NUMERIC)
def test_reference_passes_its_own_cases(exercise_id):
    exercise = get_exercise(exercise_id)
    result = exercise.grade(lambda *args: exercise.reference(*args), timeout=5, seed=3)
    # Two references call backprop_lib.functional, which the grader flags as uses_reference.
    assert result.status == "passed" or result.diagnosis == ["uses_reference"], str(result)


@pytest.mark.parametrize("exercise_id", NUMERIC)
def test_stub_is_not_attempted(exercise_id):
    def stub(*args):
        raise NotImplementedError()

    result = grade(exercise_id, stub)
    assert result.status == "not attempted" and result.score == 0


def test_float32_answers_are_accepted():
    def in_float32(logp, g):
        return _lsv_exp(logp, g).astype(np.float32)

    assert grade("log_softmax_vjp", in_float32).passed


# ---------------------------------------------------------------------------
# Find the bugs: the notebook's buggy function and every partial fix
# ---------------------------------------------------------------------------


def notebook_buggy_softmax_cross_entropy(logits, y):
    """Copied from course/08_pitfalls_and_extensions.md (the function the learner fixes)."""
    N = logits.shape[0]
    e = np.exp(logits)
    S = e / e.sum(axis=0, keepdims=True)
    loss = -np.log(S[np.arange(N), y]).mean()
    dlogits = S.copy()
    dlogits[np.arange(N), y] -= 1.0
    return loss, dlogits


def test_the_notebook_source_has_this_buggy_function():
    source = (Path(__file__).resolve().parents[1] / "course"
              / "08_pitfalls_and_extensions.md").read_text()
    for line in ("e = np.exp(logits)", "S = e / e.sum(axis=0, keepdims=True)",
                 "loss = -np.log(S[np.arange(N), y]).mean()", "return loss, dlogits"):
        assert line in source


def _partial_fix(bugs):
    """The buggy function with only `bugs` left in, written as a learner would."""
    def fixed(logits, y):
        n = logits.shape[0]
        axis = 0 if "axis0" in bugs else 1
        shifted = logits if "no_max_shift" in bugs else logits - logits.max(axis=axis,
                                                                           keepdims=True)
        e = np.exp(shifted)
        total = e.sum(axis=axis, keepdims=True)
        S = e / total
        logp = np.log(S) if "log_of_softmax" in bugs else shifted - np.log(total)
        loss = -logp[np.arange(n), y].mean()
        dlogits = S.copy()
        dlogits[np.arange(n), y] -= 1.0
        return loss, (dlogits if "no_mean" in bugs else dlogits / n)
    return fixed


def test_buggy_function_fails_and_two_bugs_show_on_the_first_case():
    with np.errstate(all="ignore"):
        result = grade("fix_softmax_cross_entropy", notebook_buggy_softmax_cross_entropy)
    assert result.status == "failed"
    assert "public case 1" in result.message
    assert set(result.diagnosis) == {"wrong_axis", "missing_batch_mean"}, str(result)
    assert _named_bugs(result) == {"axis0", "no_mean"}


BUG_SENTENCES = {name: sentence for name, (_, sentence) in nb08._CE_BUGS.items()}


def _named_bugs(result):
    text = _feedback_text(result)
    return {name for name, sentence in BUG_SENTENCES.items() if sentence in text}


@pytest.mark.parametrize("bugs", [set(c) for n in range(1, 5) for c in
                                  itertools.combinations(BUG_SENTENCES, n)],
                         ids=lambda b: "+".join(sorted(b)))
def test_following_the_diagnosis_fixes_every_bug_and_blames_none_that_was_fixed(bugs):
    """Fix what the grader names, check again, repeat: it must end in a pass."""
    left = set(bugs)
    while left:
        with np.errstate(all="ignore"):
            result = grade("fix_softmax_cross_entropy", _partial_fix(left))
        assert result.status == "failed", str(result)
        named = _named_bugs(result)
        assert named, f"no bug named while {left} are left:\n{result}"
        assert named <= left, f"blamed a fixed bug: {named - left}\n{result}"
        left -= named
    assert grade("fix_softmax_cross_entropy", _partial_fix(left)).passed


@pytest.mark.parametrize("bug, case", [("axis0", 1), ("no_mean", 1), ("no_max_shift", 2),
                                       ("log_of_softmax", 3)])
def test_each_bug_alone_is_named_with_its_code_on_its_public_case(bug, case):
    with np.errstate(all="ignore"):
        result = grade("fix_softmax_cross_entropy", _partial_fix({bug}))
    assert f"public case {case} of 3" in result.message, str(result)
    assert _named_bugs(result) == {bug}
    assert nb08._CE_BUGS[bug][0] in result.diagnosis


def test_all_bugs_fixed_passes():
    assert grade("fix_softmax_cross_entropy", _partial_fix(set())).passed


# ---------------------------------------------------------------------------
# Realistic wrong answers and the mistake each must be named as
# ---------------------------------------------------------------------------


def _ls_k_minus_1(logits, y, eps):
    n, k = logits.shape
    Y = _one_hot(y, k)
    return (_softmax(logits) - ((1 - eps) * Y + eps / (k - 1) * (1 - Y))) / n


def _wce_kept_count(logits, y, class_weights, ignore_index):
    keep = y != ignore_index
    y_safe = np.where(keep, y, 0)
    S = _softmax(logits)
    S[np.arange(len(y)), y_safe] -= 1.0
    return S * np.where(keep, class_weights[y_safe], 0.0)[:, None] / keep.sum()


def _wce_over_n(logits, y, class_weights, ignore_index):
    keep = y != ignore_index
    y_safe = np.where(keep, y, 0)
    S = _softmax(logits)
    S[np.arange(len(y)), y_safe] -= 1.0
    return S * np.where(keep, class_weights[y_safe], 0.0)[:, None] / len(y)


def _wce_ignoring_nothing(logits, y, class_weights, ignore_index):
    # forgets ignore_index; clipping keeps -100 from raising an IndexError
    y_safe = np.clip(y, 0, logits.shape[1] - 1)
    S = _softmax(logits)
    S[np.arange(len(y)), y_safe] -= 1.0
    w = class_weights[y_safe]
    return S * (w / w.sum())[:, None]


def _wce_column_weights(logits, y, class_weights, ignore_index):
    keep = y != ignore_index
    y_safe = np.where(keep, y, 0)
    S = _softmax(logits)
    S[np.arange(len(y)), y_safe] -= 1.0
    return S * class_weights[None, :] * keep[:, None] / np.where(keep, class_weights[y_safe],
                                                                 0.0).sum()


WRONG = [
    # label smoothing
    ("label_smoothing_grad", None, "K - 1", _ls_k_minus_1),
    ("label_smoothing_grad", "missing_batch_mean", "batch mean",
     lambda z, y, eps: _ls_formula(z, y, eps) * z.shape[0]),
    ("label_smoothing_grad", None, "plain one-hot",
     lambda z, y, eps: (_softmax(z) - _one_hot(y, z.shape[1])) / z.shape[0]),
    ("label_smoothing_grad", "missing_one_hot", "not subtracted",
     lambda z, y, eps: _softmax(z) / z.shape[0]),
    ("label_smoothing_grad", None, "true one included",
     lambda z, y, eps: (_softmax(z) - ((1 - eps) * _one_hot(y, z.shape[1])
                                       + eps / z.shape[1] * (1 - _one_hot(y, z.shape[1]))))
     / z.shape[0]),
    ("label_smoothing_grad", "sign", "flipped", lambda z, y, eps: -_ls_formula(z, y, eps)),
    ("label_smoothing_grad", "wrong_axis", "axis=0",
     lambda z, y, eps: (_softmax(z, axis=0) - ((1 - eps) * _one_hot(y, z.shape[1])
                                               + eps / z.shape[1])) / z.shape[0]),
    # class weights and ignore_index
    ("weighted_cross_entropy_grad", None, "number of examples that are not ignored",
     _wce_kept_count),
    ("weighted_cross_entropy_grad", None, "divided by N", _wce_over_n),
    ("weighted_cross_entropy_grad", None, "still contribute", _wce_ignoring_nothing),
    ("weighted_cross_entropy_grad", None, "TRUE class", _wce_column_weights),
    ("weighted_cross_entropy_grad", "missing_one_hot", "without subtracting",
     lambda z, y, w, ig: _wce_vectorised(z, y, w, ig) + _wce_one_hot_part(z, y, w, ig)),
    ("weighted_cross_entropy_grad", "sign", "opposite sign",
     lambda z, y, w, ig: -_wce_vectorised(z, y, w, ig)),
    ("weighted_cross_entropy_grad", "missing_batch_mean", "weighted SUM",
     lambda z, y, w, ig: _wce_vectorised(z, y, w, ig) * np.where(
         y != ig, w[np.where(y != ig, y, 0)], 0.0).sum()),
    # log-softmax VJP
    ("log_softmax_vjp", None, "shortcut s - y", lambda logp, g: np.exp(logp) + g),
    ("log_softmax_vjp", None, "dropped the sum", lambda logp, g: g - np.exp(logp)),
    ("log_softmax_vjp", "wrong_axis", "per example",
     lambda logp, g: g - np.exp(logp) * g.sum(axis=0, keepdims=True)),
    ("log_softmax_vjp", None, "s = np.exp(logp)",
     lambda logp, g: g - logp * g.sum(axis=-1, keepdims=True)),
    ("log_softmax_vjp", None, "SOFTMAX VJP",
     lambda logp, g: np.exp(logp) * (g - (g * np.exp(logp)).sum(axis=-1, keepdims=True))),
    ("log_softmax_vjp", "transposed", "not symmetric",
     lambda logp, g: g - (g * np.exp(logp)).sum(axis=-1, keepdims=True)),
    ("log_softmax_vjp", "sign", "flipped",
     lambda logp, g: np.exp(logp) * g.sum(axis=-1, keepdims=True) - g),
    ("log_softmax_vjp", "elementwise_jacobian", "diagonal",
     lambda logp, g: g * (1 - np.exp(logp))),
    ("log_softmax_vjp", "uses_reference", "backprop_lib",
     lambda logp, g: g - F.softmax(logp) * g.sum(axis=-1, keepdims=True)),
    # find the bugs, beyond the four bugs of the buggy function
    ("fix_softmax_cross_entropy", "sign", "opposite sign",
     lambda z, y: (lambda loss, g: (loss, -g))(*_ce_vectorised(z, y))),
    ("fix_softmax_cross_entropy", "missing_batch_mean", "SUM",
     lambda z, y: (lambda loss, g: (loss * len(y), g))(*_ce_vectorised(z, y))),
    ("fix_softmax_cross_entropy", None, "twice",
     lambda z, y: (lambda loss, g: (loss, g / len(y)))(*_ce_vectorised(z, y))),
]


def _wce_one_hot_part(z, y, w, ig):
    """The one-hot part that a learner who forgets to subtract it leaves out."""
    keep = y != ig
    y_safe = np.where(keep, y, 0)
    wn = np.where(keep, w[y_safe], 0.0)
    return _one_hot(y_safe, z.shape[1]) * (wn / wn.sum())[:, None]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("exercise_id, code, text, impl", WRONG,
                         ids=[f"{w[0]}-{w[1]}-{i}" for i, w in enumerate(WRONG)])
def test_wrong_implementation_is_named(exercise_id, code, text, impl, seed):
    with np.errstate(all="ignore"):
        result = grade(exercise_id, impl, seed=seed)
    assert result.status == "failed", str(result)
    if code is not None:
        assert code in result.diagnosis, str(result)
    assert text in _feedback_text(result), str(result)


def test_each_numeric_exercise_names_at_least_four_mistakes():
    for exercise_id in NUMERIC:
        variants = get_exercise(exercise_id).variants
        assert len({v.name for v in variants}) >= 4, exercise_id
        assert all(v.code is None or v.code in MISTAKES for v in variants)
        assert len(get_exercise(exercise_id).hints) >= 3


def test_inputs_are_not_mutated_silently():
    def in_place(logp, g):
        g -= np.exp(logp) * g.sum(axis=-1, keepdims=True)
        return g

    result = grade("log_softmax_vjp", in_place)
    assert "mutates_input" in result.diagnosis


def test_log_softmax_vjp_must_not_build_the_jacobian():
    def with_jacobian(logp, g):
        s = np.exp(logp)
        K = s.shape[-1]
        J = np.eye(K) - s[:, None, :]  # (N, K, K): rows e_i - s
        return np.einsum("ni,nij->nj", g, J)

    result = grade("log_softmax_vjp", with_jacobian)
    assert result.status == "failed" and "Jacobian" in result.message, str(result)


def test_weighted_cases_cover_both_kinds_of_ignore_index():
    cases = get_exercise("weighted_cross_entropy_grad").hidden_cases(np.random.default_rng(0))
    cases += get_exercise("weighted_cross_entropy_grad").public_cases()
    kinds = {case.args[3] < 0 for case in cases}
    assert kinds == {True, False}
    for case in cases:
        z, y, w, ig = case.args
        assert np.any(y != ig), case.label  # never all ignored (0 / 0)
        assert np.all((y == ig) | ((y >= 0) & (y < z.shape[1])))


# ---------------------------------------------------------------------------
# The question
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", [-2, -2.0, "-2", " -2 ", np.int64(-2)])
def test_distillation_question_accepts_the_answer(spelling):
    result = check("distillation_gradient_power", spelling)
    assert result.passed and "T^2" in result.explanation


@pytest.mark.parametrize("wrong, fragment", [(-1, "chain rule only"), (2, "multiplies the loss"),
                                             (0, "does change"), (1, "negative")])
def test_distillation_question_explains_likely_wrong_answers(wrong, fragment):
    result = check("distillation_gradient_power", wrong)
    assert result.status == "failed"
    assert fragment in _feedback_text(result)


def test_distillation_question_answer_is_hashed_not_written():
    q = get_exercise("distillation_gradient_power")
    assert q.answer_hash == answer_hash(q.id, "number", -2)
    source = Path(nb08.__file__).read_text()
    assert normalise("number", -2) not in source
    assert len(q.hints) >= 3


def test_distillation_question_stub_is_not_attempted():
    def stub():
        raise NotImplementedError()

    assert check("distillation_gradient_power", stub).status == "not attempted"
