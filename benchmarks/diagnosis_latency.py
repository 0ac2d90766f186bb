"""Benchmark: what the structural diagnosis adds to the time of a failing check.

For every numeric exercise this times ``grade()`` on

- a correct answer (the diagnosis never runs; the baseline a learner sees most),
- a wrong answer that fails on the first public case and needs the probes
  (a mistake that no hand-written variant reproduces on that case),

each twice in the same run: with the exercise as registered (probes, terms)
and with ``probes=None, terms=()`` (variants and transforms only, as before the
structural diagnosis). It prints the median and maximum of each and the
extra time of a failing check. All four are timed in turn within each round,
so a busy machine slows them alike. The executor is the default in-process
one; a child-process executor adds its own per-call cost to every probe call.

With ``--all-wrong`` it also times every wrong answer of tests/test_grading_heldout.py and
the development set (``DEV``) both ways and prints the median, 90th percentile and maximum
of the extra time, and how many extra calls of the learner's function (probes) a failing
check made.

Usage::

    python benchmarks/diagnosis_latency.py [--rounds 15] [--all-wrong]
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


def _fmt(seconds):
    values = [1000 * t for t in seconds]
    return f"{statistics.median(values):7.1f} /{max(values):7.1f}"


def _time(exercise, answer, seed):
    start = time.perf_counter()
    result = exercise.grade(answer, timeout=3.0, seed=seed)
    return time.perf_counter() - start, result


def main(rounds):
    print(f"{'exercise':24s} {'correct med/max ms':>19s} {'failing, before':>17s} "
          f"{'failing, now':>15s} {'extra med ms':>12s}  codes now")
    for exercise_id, (right, wrong) in ANSWERS.items():
        now = get_exercise(exercise_id)
        before = dataclasses.replace(now, probes=None, terms=())
        times = {"right": [], "before": [], "now": []}
        codes = None
        for r in range(rounds):
            times["right"].append(_time(now, right, r)[0])
            times["before"].append(_time(before, wrong, r)[0])
            elapsed, result = _time(now, wrong, r)
            times["now"].append(elapsed)
            codes = result.diagnosis

        extra = 1000 * (statistics.median(times["now"]) - statistics.median(times["before"]))
        print(f"{exercise_id:24s} {_fmt(times['right']):>19s} {_fmt(times['before']):>17s} "
              f"{_fmt(times['now']):>15s} "
              f"{extra:12.1f}  {codes}")


def all_wrong():
    """Extra time and executor calls of the diagnosis over every collected wrong answer."""
    import pathlib
    import sys

    from backprop_lib.grading.runner import run_case

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests"))
    import test_grading_exercises as dev
    import test_grading_heldout as heldout

    answers = [(ex, impl) for ex, _code, impl in dev.DEV]
    for name in ("HELDOUT_1", "HELDOUT_2", "HELDOUT_3", "HELDOUT_4"):
        answers += [(ex, impl) for ex, _code, impl in getattr(heldout, name)]
    extra, calls = [], []
    for exercise_id, impl in answers:
        now = get_exercise(exercise_id)
        before = dataclasses.replace(now, probes=None, terms=())
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
    extra.sort()
    print(f"\n{len(answers)} wrong answers (development set and held-out sets), seed 11, "
          "best of 3 each:")
    print(f"  extra time of the diagnosis: median {statistics.median(extra):.1f} ms, "
          f"90th percentile {extra[int(0.9 * len(extra))]:.1f} ms, max {max(extra):.1f} ms")
    print(f"  extra calls of the learner's function (probes): median "
          f"{statistics.median(calls):g}, max {max(calls)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--all-wrong", action="store_true")
    arguments = parser.parse_args()
    main(arguments.rounds)
    if arguments.all_wrong:
        all_wrong()
