"""Graded exercises for the course: ``check``, ``hint``, ``progress``.

In a notebook::

    from backprop_lib.grading import check, hint, progress

    def softmax(z):
        ...

    check("softmax", softmax)      # a panel: passed / failed / ..., and why
    hint("softmax")                # the next hint for that exercise
    progress()                     # scores per notebook and overall

``check`` never raises because of the learner's code: exceptions, endless
loops (stopped after ``timeout`` seconds, default 3 or ``$BACKPROP_CHECK_TIMEOUT``),
stubs and odd return values all become a status. The one exception is
KeyboardInterrupt (Ctrl-C / "interrupt kernel"), which still stops everything.

Autograding: nbgrader awards a test cell's points when the cell runs without
error. So when nbgrader executes a notebook (it sets ``NBGRADER_EXECUTION`` to
``autograde`` or ``validate``), or when ``BACKPROP_CHECK_RAISE=1`` is set,
``check`` raises AssertionError (with the feedback text) for every result that
is not "passed", after saving it to the progress file.

Public API: :func:`check`, :class:`CheckResult`, :func:`hint`, :func:`progress`,
:func:`exercises`, :func:`show_question`.
"""

from __future__ import annotations

import os
import time
import warnings

# The package of exercise modules (importing it registers every exercise) is also the
# public function exercises(notebook=None); see its docstring.
from . import exercises
from .feedback import CheckResult
from .hints import hint
from .progress_store import progress, record_result
from .questions import show_question
from .registry import close_matches, get_exercise

__all__ = ["check", "CheckResult", "hint", "progress", "exercises", "show_question"]


def check(exercise_id, answer, *, timeout=None):
    """Grade the learner's `answer` to exercise `exercise_id`.

    Parameters
    ----------
    exercise_id : str
        E.g. ``"softmax"``; see :func:`exercises`.
    answer : callable or object
        The learner's function (numeric exercises, pass it without calling it)
        or value (questions: a shape, a letter, a number).
    timeout : float, optional
        Seconds allowed per call of the learner's function.

    Returns
    -------
    CheckResult
        ``status`` is one of ``"passed"``, ``"failed"``, ``"not attempted"``,
        ``"error"``, ``"timeout"``. The result of a registered exercise is saved
        to the progress file (best score kept).
    """
    exercise = get_exercise(exercise_id)
    if exercise is None:
        return _unknown_exercise(exercise_id)
    start = time.perf_counter()
    try:
        result = exercise.grade(answer, timeout=timeout, seed=None)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - a grader bug must not look like the learner's
        result = CheckResult(
            exercise_id=exercise.id, status="error", passed=False, score=0.0,
            points=exercise.points, title=exercise.title,
            message=f"The grader itself failed ({type(exc).__name__}: {exc}). This is not "
                    "your fault; please report it to the course maintainers.")
    result.seconds = time.perf_counter() - start
    try:
        record_result(result)
    except Exception as exc:  # noqa: BLE001 - progress is a convenience, never fatal
        warnings.warn(f"Could not record progress: {exc}", RuntimeWarning, stacklevel=2)
    if not result.passed and _autograding():
        raise AssertionError(str(result))
    return result


def _autograding():
    """True under nbgrader (autograde/validate) or with ``BACKPROP_CHECK_RAISE=1``."""
    nbgrader = os.environ.get("NBGRADER_EXECUTION", "").strip().lower()
    forced = os.environ.get("BACKPROP_CHECK_RAISE", "").strip().lower()
    return nbgrader in {"autograde", "validate"} or forced in {"1", "true", "yes"}


def _unknown_exercise(exercise_id):
    matches = close_matches(exercise_id)
    also = f" Did you mean {' or '.join(repr(m) for m in matches)}?" if matches else ""
    result = CheckResult(
        exercise_id=str(exercise_id), status="error", passed=False, score=0.0, points=0.0,
        message=f"There is no exercise called {exercise_id!r}.{also} "
                "backprop_lib.grading.exercises() lists them all.")
    if _autograding():
        raise AssertionError(str(result))
    return result
