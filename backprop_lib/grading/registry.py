"""The exercise registry: every graded exercise of the course, by id.

An exercise is any object with the attributes of :class:`Exercise` and a
``grade(answer, *, timeout, seed)`` method returning a
:class:`~backprop_lib.grading.feedback.CheckResult`. Two kinds exist:

- numeric exercises (:class:`~backprop_lib.grading.numeric.NumericExercise`):
  the learner passes a function, which is run on public and hidden cases;
- question exercises (:class:`~backprop_lib.grading.questions.Question`): the
  learner passes a value (a shape, a letter, a number), compared through a
  salted hash.

Each notebook's exercises live in one module, ``grading/exercises/nbNN_<slug>.py``,
which registers them at import time with :func:`register`.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

__all__ = [
    "NOTEBOOK_TITLES",
    "Exercise",
    "register",
    "get_exercise",
    "exercise_ids",
    "close_matches",
]

#: Notebook number -> title, as in the course syllabus.
NOTEBOOK_TITLES = {
    0: "Start here",
    1: "Shapes and conventions",
    2: "Softmax",
    3: "The softmax Jacobian",
    4: "Chain rule and cross-entropy",
    5: "Batches and cost",
    6: "Dense-layer backprop",
    7: "Train a classifier",
    8: "Pitfalls and extensions",
    9: "Capstone",
}


@dataclass
class Exercise:
    """What every registered exercise has.

    Attributes
    ----------
    id : str
        The id passed to ``check`` and ``hint``, e.g. ``"softmax"``.
    notebook : int
        Number of the notebook the exercise lives in (``0`` to ``9``).
    title : str
        A short human title, shown in feedback and in ``progress()``.
    points : float
        Points for a pass.
    hints : tuple of str
        Progressive hints, from a gentle nudge to almost the answer.
    """

    id: str
    notebook: int
    title: str
    points: float
    hints: tuple[str, ...]

    kind = "exercise"

    def grade(self, answer, *, timeout, seed):  # pragma: no cover - interface
        raise NotImplementedError


_REGISTRY: dict[str, Exercise] = {}


def register(exercise):
    """Add `exercise` to the registry and return it.

    Raises
    ------
    ValueError
        If the id is already taken or the exercise has fewer than three hints.
    """
    if exercise.id in _REGISTRY:
        raise ValueError(f"exercise id {exercise.id!r} is registered twice")
    if len(exercise.hints) < 3:
        raise ValueError(f"exercise {exercise.id!r} needs at least three hints")
    if exercise.notebook not in NOTEBOOK_TITLES:
        raise ValueError(f"exercise {exercise.id!r} has unknown notebook {exercise.notebook!r}")
    _REGISTRY[exercise.id] = exercise
    return exercise


def get_exercise(exercise_id):
    """Return the registered exercise called `exercise_id`, or None."""
    if not isinstance(exercise_id, str):
        return None
    return _REGISTRY.get(exercise_id.strip())


def exercise_ids(notebook=None):
    """Registered ids ordered by notebook, then by registration order.

    Parameters
    ----------
    notebook : int, optional
        Only the exercises of this notebook.

    Returns
    -------
    list of str
    """
    items = [ex for ex in _REGISTRY.values() if notebook is None or ex.notebook == int(notebook)]
    order = {ex_id: i for i, ex_id in enumerate(_REGISTRY)}
    items.sort(key=lambda ex: (ex.notebook, order[ex.id]))
    return [ex.id for ex in items]


def all_exercises():
    """All registered exercises, in the order of :func:`exercise_ids`."""
    return [_REGISTRY[ex_id] for ex_id in exercise_ids()]


def close_matches(name, n=3):
    """Registered ids that look like `name` (for "did you mean ...?")."""
    text = str(name).strip().lower().replace("-", "_").replace(" ", "_")
    return difflib.get_close_matches(text, list(_REGISTRY), n=n, cutoff=0.5)
