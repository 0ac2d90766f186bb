"""Grade each exercise of a submission from the definitions its cells left in the sandbox.

Numeric exercises (functions, classes, in-place updates) and the capstone's model
exercises are graded by their own ``grade`` method, with cases, references, tolerances
and points from the installed package, and an executor that calls the learner's answer in
the sandbox (:meth:`~backprop_lib.autograde.sandbox.Sandbox.executor`): the feedback is
the very :class:`~backprop_lib.grading.feedback.CheckResult` that ``check()`` shows in the
notebook, with the same named mistakes.

Question exercises are only *collected* here: the learner's answer comes back as plain data
and is scored later, in the batch's main process, against the instructor's answer key
(:mod:`~backprop_lib.autograde.answer_key`), which no process that runs learner code ever
holds.

An answer that is not defined becomes "not attempted", and the feedback says why: the cell
that should define it raised, was never run, or is missing.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from ..grading.feedback import CheckResult
from .code_extraction import defined_names

__all__ = ["PendingAnswer", "grade_exercises", "seed_for", "undefined_answer"]


@dataclass
class PendingAnswer:
    """A question's answer as it came back from the sandbox, to be scored with the key.

    Attributes
    ----------
    exercise_id : str
    kind : str
        The CallOutcome kind (``"ok"``, ``"not_implemented"``, ``"exception"``, ...).
    value : object
        The plain answer when ``kind == "ok"`` (None, a string, a number, a list ...).
    error : str
        What went wrong otherwise.
    """

    exercise_id: str
    kind: str
    value: object = None
    error: str = ""


def seed_for(learner, notebook, exercise_id, batch_seed=0):
    """The hidden cases' seed for one learner's exercise: the same on every re-run."""
    text = f"{batch_seed}\0{learner}\0{notebook}\0{exercise_id}"
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:4], "little")


def undefined_answer(exercise, name, session, state):
    """The "not attempted" result for an answer `name` the notebook does not define.

    Parameters
    ----------
    state : int
        0: the name is not defined; 1: it is None (e.g. ``model = None``, training failed).
    """
    defining = [r for r in session.runs if name in defined_names(session.code_of(r.index))]
    if state == 1:
        why = f"`{name}` is still None"
    elif not defining:
        why = (f"no cell of your notebook defines `{name}` (was its cell deleted, or the "
               "name changed?)")
    else:
        why = f"`{name}` is not defined after your notebook ran"
    failed = [r for r in defining if r.status != "ok"]
    if failed:
        run = failed[-1]
        first = run.error.splitlines()[0] if run.error else run.status
        why += f": {run.label}, which defines it, ended with {first}"
    return CheckResult(exercise_id=exercise.id, status="not attempted", passed=False,
                       score=0.0, points=exercise.points, title=exercise.title,
                       hint_call=f'hint("{exercise.id}")',
                       message=f"Not attempted: {why}.")


def _sandbox_lost(exercise):
    return CheckResult(exercise_id=exercise.id, status="error", passed=False, score=0.0,
                       points=exercise.points, title=exercise.title,
                       message="Not graded: your notebook could not be run again after an "
                               "earlier answer ended its process (see the notes above).")


def _grader_failed(exercise, exc):
    return CheckResult(exercise_id=exercise.id, status="error", passed=False, score=0.0,
                       points=exercise.points, title=exercise.title,
                       message=f"The grader itself failed ({type(exc).__name__}: {exc}). "
                               "This is not the learner's fault.")


def grade_exercises(session, exercises, names, *, timeout, seeds):
    """Grade `exercises` of one submission whose cells `session` has run.

    Parameters
    ----------
    session : NotebookSession
    exercises : list
        Registered exercises of the notebook, in order.
    names : dict
        exercise id -> the name of the learner's answer (:func:`answer_names`).
    timeout : float
        Seconds per call of the learner's code.
    seeds : dict
        exercise id -> seed of its hidden cases.

    Returns
    -------
    results : list of CheckResult or PendingAnswer
        In the order of `exercises`.
    grader_faults : list of str
        Failures of the grader itself (a bug, not the learner's doing).
    """
    results, faults = [], []
    for exercise in exercises:
        name = names[exercise.id]
        start = time.perf_counter()
        try:
            result = _grade_one(session, exercise, name, timeout, seeds[exercise.id])
        except Exception as exc:  # noqa: BLE001 - one exercise's grader bug must not stop the rest
            faults.append(f"{exercise.id}: {type(exc).__name__}: {exc}")
            result = _grader_failed(exercise, exc)
        if isinstance(result, CheckResult):
            result.seconds = time.perf_counter() - start
        results.append(result)
    return results, faults


def _grade_one(session, exercise, name, timeout, seed):
    if not session.ensure_alive():
        return _sandbox_lost(exercise)
    states = session.sandbox.name_states([name], timeout=max(timeout, 5.0))
    if states is None:  # the child died answering a trivial question: start again once
        if not session.ensure_alive():
            return _sandbox_lost(exercise)
        states = session.sandbox.name_states([name], timeout=max(timeout, 5.0)) or {name: 0}
    state = states.get(name, 0)
    is_question = getattr(exercise, "kind", "") == "question"
    if state == 0 or (state == 1 and not is_question):
        return undefined_answer(exercise, name, session, state)
    if is_question:
        outcome = session.sandbox.answer_value(name, timeout=timeout)
        return PendingAnswer(exercise.id, outcome.kind, outcome.value, outcome.error)
    executor = session.sandbox.executor(exercise, name)
    return exercise.grade(name, timeout=timeout, seed=seed, executor=executor)
