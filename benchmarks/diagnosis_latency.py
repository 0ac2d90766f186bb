"""Benchmark: what the structural diagnosis adds to the time of a failing check.

For every numeric exercise this times ``grade()`` on

- a correct answer (the diagnosis never runs; the baseline a learner sees most),
- a wrong answer that fails on the first public case and needs the probes
  (a mistake that no hand-written variant reproduces on that case),

each twice in the same run: with the exercise as registered (probes, terms)
and with ``probes=None, terms=()`` (variants and transforms only, as before the
structural diagnosis). It prints the median and maximum of each and the
extra time of a failing check. All four are timed in turn within each round,
so a busy machine slows them alike. The executor is check()'s default (a forked
child process on Linux, in-process elsewhere); without probes the diagnosis may
decompose the failing case itself instead, so "extra" can come out negative.

With ``--all-wrong`` it also times every wrong answer of tests/test_grading_heldout.py and
the development set (``DEV``) both ways and prints the median, 90th percentile and maximum
of the extra time, and how many extra calls of the learner's function (probes) a failing
check made.

With ``--notebooks-05-09`` it does the same for the exercises of notebooks 05 to 09 (first
their own table, one correct answer and one wrong answer that needs the probes each, from
the notebooks' test files; then, with ``--all-wrong``, every answer of
tests/test_diagnosis_nb05_09.py). For these "before" also drops ``dims`` and ``normaliser``,
which these modules declared at the same time as their probes and terms.

Usage::

    python benchmarks/diagnosis_latency.py [--rounds 15] [--all-wrong] [--notebooks-05-09]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import numpy as np

from backprop_lib.grading.registry import get_exercise


def _sm(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _numgrad(f, x, h=1e-5):
    grad = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        fp = f(x)
        x[i] = old - h
        fm = f(x)
        x[i] = old
        grad[i] = (fp - fm) / (2 * h)
    return grad


#: exercise id -> (correct answer, wrong answer that makes the diagnosis probe)
ANSWERS = {
    "warmup_row_sums": (lambda A: A.sum(axis=1), lambda A: A.sum(axis=1) * 3),
    "dense_forward": (lambda A, W, b: A @ W + b, lambda A, W, b: W @ A + b),
    "softmax": (_sm, lambda z: np.exp(z) / np.exp(z).sum(axis=-1)),
    "log_softmax": (lambda z: z - z.max(-1, keepdims=True)
                    - np.log(np.exp(z - z.max(-1, keepdims=True)).sum(-1, keepdims=True)),
                    lambda z: z + np.log(np.exp(z).sum(-1, keepdims=True))),
    "softmax_jacobian": (lambda s: np.diag(s) - np.outer(s, s),
                         lambda s: np.diag(s) + np.outer(s, s)),
    "softmax_jacobian_batch": (
        lambda S: S[:, :, None] * np.eye(S.shape[1]) - S[:, :, None] * S[:, None, :],
        lambda S: S[:, :, None] * np.eye(S.shape[1]) + S[:, :, None] * S[:, None, :]),
    "softmax_vjp": (lambda s, g: s * (g - (g * s).sum(-1, keepdims=True)),
                    lambda s, g: s * (g + (g * s).sum(-1, keepdims=True))),
    "cross_entropy": (
        lambda z, y: -(z - z.max(1, keepdims=True) - np.log(np.exp(
            z - z.max(1, keepdims=True)).sum(1, keepdims=True)))[np.arange(len(y)), y].mean(),
        lambda z, y: -(z - np.log(np.exp(z).sum(1, keepdims=True)))[np.arange(len(y)), y].sum()),
    "cross_entropy_grad": (lambda z, y: (_sm(z) - np.eye(z.shape[1])[y]) / len(y),
                           lambda z, y: (_sm(z) + np.eye(z.shape[1])[y]) / len(y)),
    "dense_backward": (lambda dZ, A, W: (dZ @ W.T, A.T @ dZ, dZ.sum(0)),
                       lambda dZ, A, W: (dZ @ W, A.T @ dZ, dZ.sum(0) * 2)),
    "numerical_gradient": (_numgrad, lambda f, x, h=1e-5: _numgrad(f, x, h) * 3),
}


#: Notebooks 05-09: exercise id -> (test module, index into its CORRECT, name of a wrong
#: answer in tests/test_diagnosis_nb05_09.py that no variant names, so the probes run).
LATER_NOTEBOOKS = {
    "block_diagonal_jacobian": ("test_exercises_nb05", 0, "bd_sum_of_jacobians"),
    "batched_vjp": ("test_exercises_nb05", 0, "bv_mean_jacobian"),
    "ce_grad_with_reduction": ("test_exercises_nb05", 0, "cr_plus_one_hot"),
    "softmax_vjp_columns": ("test_exercises_nb05", 0, "vc_plus_inner"),
    "last_layer_grad": ("test_exercises_nb06", 0, "ll_plus_one_hot"),
    "mlp_forward": ("test_exercises_nb07", 0, "fw_minus_b1"),
    "mlp_backward": ("test_exercises_nb07", 0, "bw_inverted_mask"),
    "loss_and_grads": ("test_exercises_nb07", 0, "lg_plus_one_hot"),
    "sgd_step": ("test_exercises_nb07", 0, "sgd_half_step"),
    "fix_softmax_cross_entropy": ("test_exercises_nb08", 0, "fx_plus_one"),
    "label_smoothing_grad": ("test_exercises_nb08", 0, "ls_plus_target"),
    "weighted_cross_entropy_grad": ("test_exercises_nb08", 0, "wce_plus_one_hot"),
    "log_softmax_vjp": ("test_exercises_nb08", 0, "lv_plus"),
    "capstone_softmax_layer": ("test_exercises_nb09", 0, "SmPlusInner"),
    "capstone_log_softmax_layer": ("test_exercises_nb09", 0, "LsPlus"),
    "capstone_smoothed_weighted_ce": ("test_exercises_nb09", 0, "sw_plus_target"),
}


def _tests_importable():
    import pathlib
    import sys

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests"))


def _without_declarations(exercise, later):
    if later:
        return dataclasses.replace(exercise, probes=None, terms=(), dims=None, normaliser="1")
    return dataclasses.replace(exercise, probes=None, terms=())


def later_answers():
    """{exercise id: (correct answer, wrong answer)} for notebooks 05-09."""
    import importlib

    _tests_importable()
    wrong = importlib.import_module("test_diagnosis_nb05_09")
    out = {}
    for exercise_id, (module, index, name) in LATER_NOTEBOOKS.items():
        correct = importlib.import_module(module).CORRECT[exercise_id][index]
        out[exercise_id] = (correct, getattr(wrong, name))
    return out


def _fmt(seconds):
    values = [1000 * t for t in seconds]
    return f"{statistics.median(values):7.1f} /{max(values):7.1f}"


def _time(exercise, answer, seed):
    start = time.perf_counter()
    result = exercise.grade(answer, timeout=3.0, seed=seed)
    return time.perf_counter() - start, result


def main(rounds, answers=None, later=False):
    answers = ANSWERS if answers is None else answers
    print(f"{'exercise':30s} {'correct med/max ms':>19s} {'failing, before':>17s} "
          f"{'failing, now':>15s} {'extra med ms':>12s}  codes now")
    for exercise_id, (right, wrong) in answers.items():
        now = get_exercise(exercise_id)
        before = _without_declarations(now, later)
        times = {"right": [], "before": [], "now": []}
        codes = None
        for r in range(rounds):
            times["right"].append(_time(now, right, r)[0])
            times["before"].append(_time(before, wrong, r)[0])
            elapsed, result = _time(now, wrong, r)
            times["now"].append(elapsed)
            codes = result.diagnosis

        extra = 1000 * (statistics.median(times["now"]) - statistics.median(times["before"]))
        print(f"{exercise_id:30s} {_fmt(times['right']):>19s} {_fmt(times['before']):>17s} "
              f"{_fmt(times['now']):>15s} "
              f"{extra:12.1f}  {codes}")


def all_wrong(later=False):
    """Extra time and executor calls of the diagnosis over every collected wrong answer."""
    from backprop_lib.grading.runner import run_case

    _tests_importable()
    if later:
        import test_diagnosis_nb05_09 as collected

        answers = [(ex, impl) for ex, _code, impl in collected.WRONG + collected.HELD_OUT]
        title = "notebooks 05-09 (tests/test_diagnosis_nb05_09.py: WRONG and HELD_OUT)"
    else:
        import test_grading_exercises as dev
        import test_grading_heldout as heldout

        answers = [(ex, impl) for ex, _code, impl in dev.DEV]
        for name in ("HELDOUT_1", "HELDOUT_2", "HELDOUT_3", "HELDOUT_4"):
            answers += [(ex, impl) for ex, _code, impl in getattr(heldout, name)]
        title = "development set and held-out sets"
    extra, calls, slowest = [], [], []
    for exercise_id, impl in answers:
        now = get_exercise(exercise_id)
        before = _without_declarations(now, later)
        counted = []

        def counting(*args, counted=counted, **kwargs):
            counted.append(1)
            return run_case(*args, **kwargs)

        t_before = min(_time(before, impl, 11)[0] for _ in range(3))
        t_now = []
        for _ in range(3):
            counted.clear()
            start = time.perf_counter()
            now.grade(impl, timeout=3.0, seed=11, executor=counting)
            t_now.append(time.perf_counter() - start)
        made_now = len(counted)
        counted.clear()
        before.grade(impl, timeout=3.0, seed=11, executor=counting)
        extra.append(1000 * (min(t_now) - t_before))
        calls.append(made_now - len(counted))
        slowest.append((1000 * min(t_now), exercise_id, getattr(impl, "__name__", "?")))
    extra.sort()
    print(f"\n{len(answers)} wrong answers ({title}), seed 11, best of 3 each:")
    print(f"  extra time of the diagnosis: median {statistics.median(extra):.1f} ms, "
          f"90th percentile {extra[int(0.9 * len(extra))]:.1f} ms, max {max(extra):.1f} ms")
    print(f"  extra calls of the learner's function (probes): median "
          f"{statistics.median(calls):g}, max {max(calls)}")
    total, exercise_id, name = max(slowest)
    print(f"  slowest failing check now: {total:.1f} ms ({exercise_id}, {name})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--all-wrong", action="store_true")
    parser.add_argument("--notebooks-05-09", action="store_true")
    arguments = parser.parse_args()
    if arguments.notebooks_05_09:
        main(arguments.rounds, later_answers(), later=True)
    else:
        main(arguments.rounds)
    if arguments.all_wrong:
        all_wrong(later=arguments.notebooks_05_09)
