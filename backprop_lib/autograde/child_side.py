"""What the sandbox child runs before and around the learner's code (never in the grader).

:func:`prepare` is the first code the child runs, before any cell of the submission:

- ``check``, ``hint``, ``progress`` and ``show_question`` of :mod:`backprop_lib.grading`
  become stand-ins, so ``from backprop_lib.grading import check`` in a submission imports
  a ``check`` that neither grades nor fails (grading happens in the parent, on its own
  cases); whatever a submission does to the grading package stays in this process;
- matplotlib draws nowhere (the Agg backend, ``plt.show`` does nothing); magics and
  shell commands, which :func:`~backprop_lib.autograde.code_extraction.cell_code` turns
  into calls of a stand-in shell, do nothing (``%%time`` and ``%%capture`` still run
  their cell);
- the process is made "dumpable" again (the worker is not), so the parent can reset and
  read its peak resident memory in ``/proc`` for the cases that limit memory;
- the filesystem is restricted where the kernel allows it
  (:mod:`~backprop_lib.autograde.filesystem_lockdown`);
- four helpers are put in the learner's namespace for the parent to call:
  ``_autograde_names`` (which answer names exist), ``_autograde_value`` (a question's
  answer), ``_autograde_select`` and ``_autograde_call`` (call the answer to an exercise
  on a case, through the exercise's ``wrap_answer`` or ``probe``, with case arguments
  that are not plain data rebuilt here from the installed package by reference).

Nothing here is trusted by the parent: whatever these helpers return is the learner's
output, checked in the parent like any other.
"""

from __future__ import annotations

import importlib
import sys

__all__ = ["prepare", "resolve_reference", "REFERENCE_TAG"]

#: First item of a plain tuple standing for a grader object (see :func:`resolve_reference`).
REFERENCE_TAG = "__backprop_ref__"

_NOT_GRADED_HERE = ("Graded by the instructor's autograder from its own cases; this call "
                    "does nothing here.")


def _stand_in_check(exercise_id, answer=None, *args, **kwargs):
    from ..grading.feedback import CheckResult

    return CheckResult(exercise_id=str(exercise_id)[:100], status="not attempted",
                       passed=False, score=0.0, points=0.0, message=_NOT_GRADED_HERE)


def _stand_in(*args, **kwargs):
    return None


class _StandInShell:
    """What magics call in the sandbox: they do nothing (``%%time`` runs its cell)."""

    def __init__(self, namespace):
        self.user_ns = namespace

    def run_line_magic(self, name, line, *args, **kwargs):
        if name in ("time", "timeit") and line.strip():
            return eval(compile(line, "<magic>", "eval"), self.user_ns)  # noqa: S307
        return None

    def run_cell_magic(self, name, line, cell, *args, **kwargs):
        if name in ("time", "timeit", "capture"):
            exec(compile(cell, "<cell magic>", "exec"), self.user_ns)  # noqa: S102
        return None

    def system(self, *args, **kwargs):
        return None

    def getoutput(self, *args, **kwargs):
        return []

    def __getattr__(self, name):
        return _stand_in


def _quiet_grading():
    import backprop_lib.grading as grading

    grading.check = _stand_in_check
    for name in ("hint", "progress", "show_question"):
        setattr(grading, name, _stand_in)
    with_hints = sys.modules.get("backprop_lib.grading.hints")
    if with_hints is not None:
        with_hints.hint = _stand_in


def _quiet_plots():
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        import matplotlib.pyplot as plt

        plt.show = _stand_in
    except Exception:  # noqa: BLE001 - no matplotlib: nothing to quiet
        pass


def _measurable():
    """Let the parent read and reset this process's peak memory in /proc (Linux)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE 1
        except Exception:  # noqa: BLE001 - then memory limits are not measured
            pass


def resolve_reference(value):
    """A plain ``(REFERENCE_TAG, module, name, index)`` tuple -> the package object it names.

    Any other value is returned as it is. `index` is -1 for the attribute itself, else
    the position in the tuple or list the attribute holds.
    """
    if not (isinstance(value, tuple) and len(value) == 4 and value[0] == REFERENCE_TAG):
        return value
    _, module, name, index = value
    if not str(module).startswith("backprop_lib."):
        raise ValueError("only backprop_lib objects can be referenced")
    obj = getattr(importlib.import_module(module), name)
    return obj if index < 0 else obj[index]


class _Helpers:
    """The helpers the parent calls in the learner's namespace."""

    def __init__(self, namespace):
        self.namespace = namespace
        self.target = None

    def names(self, *names):
        """0 for each name that is not defined, 1 if it is None, 2 otherwise."""
        out = []
        for name in names:
            if name not in self.namespace:
                out.append(0)
            else:
                out.append(1 if self.namespace[name] is None else 2)
        return tuple(out)

    def value(self, name):
        """A question's answer: the value, or what the answer function returns."""
        answer = self.namespace[name]
        return answer() if callable(answer) else answer

    def select(self, name, exercise_id, mode):
        """Choose what :meth:`call` calls: the answer `name` of `exercise_id`, as `mode`."""
        self.target = (str(name), str(exercise_id), str(mode))

    def call(self, *args):
        name, exercise_id, mode = self.target
        answer = self.namespace.get(name)
        args = tuple(resolve_reference(a) for a in args)
        if mode == "plain":
            return answer(*args)
        from ..grading.registry import get_exercise

        exercise = get_exercise(exercise_id)
        if mode == "probe":
            if answer is None:
                raise NotImplementedError(f"{name} is None")
            return exercise.probe(answer, *args)
        return exercise.wrap_answer(answer)(*args)


def prepare(namespace, workdir=None, read_dirs=(), lockdown=True):
    """Set up the child before the learner's first cell (see the module docstring).

    Parameters
    ----------
    namespace : dict
        The learner's namespace (the cells' globals).
    workdir : str or None
        The throwaway working directory (the only folder the child may write to).
    read_dirs : sequence of str
        Folders the child may read besides Python's own (the package, the standard
        library, site-packages).
    lockdown : bool
        Restrict the filesystem (where the kernel allows it).

    Returns
    -------
    str
        What the filesystem lockdown did, in a few words.
    """
    _quiet_grading()
    _quiet_plots()
    _measurable()
    from .code_extraction import MAGICS_NAME

    namespace[MAGICS_NAME] = _StandInShell(namespace)
    helpers = _Helpers(namespace)
    namespace.update(_autograde_names=helpers.names, _autograde_value=helpers.value,
                     _autograde_select=helpers.select, _autograde_call=helpers.call)
    if not lockdown:
        return "not restricted (--no-lockdown)"
    from .filesystem_lockdown import lock_down

    return lock_down(workdir, read_dirs)
