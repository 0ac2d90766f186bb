"""Diagnostic probes: small inputs on which common mistakes give comparable values.

A failing case often hides the mistake behind it: ``W @ A`` raises when the
shapes differ, an axis mix-up cannot be seen when ``N == K``, and extreme or
float32 inputs blur a coefficient. After a failure the grader therefore runs
the learner's function once more on a few *probes*, declared by the exercise
(``NumericExercise.probes``): tiny, hand-readable float64 inputs, typically

- one where every dimension is equal (``N = D = H = 3``), so that operands in
  the wrong order or the wrong orientation still multiply and give values to
  compare with the wrong variants;
- one or two where all dimensions differ (``N = 2, K = 3``; ``N = 4, K = 5``),
  so that an axis mix-up changes the shape or the values, and a coefficient
  such as ``1/N`` can be told apart from ``1/K``.

Every probe call goes through the same *executor* as the graded cases (so it
works in a child process and in the batch autograder), with a short time limit,
and only while the diagnosis budget lasts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .cases import Case

__all__ = ["ProbeRun", "run_probes", "probe", "readable_logits", "readable_probabilities",
           "PROBE_TIMEOUT", "DIAGNOSIS_BUDGET"]

#: Seconds one probe call may take (probes are tiny; a correct-shaped answer needs ~1 ms).
PROBE_TIMEOUT = 0.5
#: Seconds all probe calls of one failed check may take together.
DIAGNOSIS_BUDGET = 1.0


@dataclass
class ProbeRun:
    """The learner's function on one probe.

    Attributes
    ----------
    case : Case
        The probe.
    kind : str
        The executor's outcome kind (``"ok"``, ``"exception"``, ``"timeout"``, ...),
        or ``"skipped"`` when the budget ran out before it.
    value : list of ndarray or ConversionProblem or None
        The plain output when ``kind == "ok"``.
    error : str
        The exception summary otherwise.
    """

    case: Case
    kind: str
    value: object = None
    error: str = ""


def probe(args, label):
    """A probe case: `args` (float64 arrays and other inputs) described by `label`.

    Parameters
    ----------
    args : tuple
    label : str
        Shown to the learner, e.g. ``"A, W of shape (3, 3): every dimension equal"``.

    Returns
    -------
    Case
    """
    return Case(tuple(args), label, hidden=False, dtype=np.float64)


def readable_logits(n, k, seed):
    """Logits of shape ``(n, k)`` with one decimal, distinct in every row.

    Parameters
    ----------
    n, k : int
    seed : int

    Returns
    -------
    ndarray, shape (n, k), float64
    """
    rng = np.random.default_rng(seed)
    z = np.round(rng.uniform(-2.0, 2.0, size=(n, k)), 1)
    z += np.arange(k) * 0.01  # no ties, so no term degenerates
    return z


def readable_probabilities(n, k, seed):
    """Softmax rows of :func:`readable_logits` (shape ``(n, k)``, each row sums to 1)."""
    z = readable_logits(n, k, seed)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def run_probes(cases, answer, executor, *, output_names=None, budget=DIAGNOSIS_BUDGET,
               deadline=None):
    """Run `answer` on every probe through `executor`, within the time budget.

    Parameters
    ----------
    cases : list of Case
    answer : object
        What the executor calls (the learner's function, wrapped as for the graded cases).
    executor : callable
        ``executor(answer, args, *, timeout, output_names, measure_memory) -> CallOutcome``.
    output_names : tuple of str or None
    budget : float
        Seconds for all probes together.
    deadline : float or None
        ``time.perf_counter()`` value after which no probe starts (the check's own
        deadline).

    Returns
    -------
    list of ProbeRun
    """
    stop = time.perf_counter() + budget
    if deadline is not None:
        stop = min(stop, deadline)
    runs = []
    for case in cases:
        left = stop - time.perf_counter()
        if left <= 0.01:
            runs.append(ProbeRun(case, "skipped"))
            continue
        try:
            outcome = executor(answer, case.args, timeout=min(PROBE_TIMEOUT, left),
                               output_names=output_names, measure_memory=False)
        except Exception as exc:  # noqa: BLE001 - a probe must never break the check
            runs.append(ProbeRun(case, "exception", error=f"{type(exc).__name__}: {exc}"))
            continue
        runs.append(ProbeRun(case, outcome.kind, outcome.value if outcome.kind == "ok" else None,
                             outcome.error))
    return runs
