"""The sandbox: one submission's code in a child process with limits, answering plain data.

This is the autograder's one small interface to the child-process machinery of
:mod:`backprop_lib.grading.child_process` (``ChildProcess``, ``ChildLimits``). A
:class:`Sandbox` forks a child (from the grading worker, which has nothing of the learner's
in it), applies the limits, runs :func:`~backprop_lib.autograde.child_side.prepare` as the
child's first code, then runs the submission's cells and answers the grader's calls. All
that comes back is a :class:`~backprop_lib.grading.runner.CallOutcome` holding plain data
(numbers, text, numeric arrays), never a pickled object.

Limits (:class:`SandboxLimits`)
    CPU time for the child's whole life, an address-space limit, a scrubbed environment
    (``PATH``, ``HOME`` and ``TMPDIR`` pointing into the throwaway working directory,
    matplotlib's Agg backend, one BLAS thread), that throwaway working directory, capped
    output, a new network namespace where the system allows it, and the Landlock
    restrictions of :mod:`~backprop_lib.autograde.filesystem_lockdown`.

After a timeout, an exit or a crash the child is gone: :attr:`Sandbox.alive` is False and
the caller starts a new one (:mod:`~backprop_lib.autograde.execution` replays the cells).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from ..grading.runner import CallOutcome
from .child_side import REFERENCE_TAG

__all__ = ["SandboxLimits", "Sandbox", "scrubbed_environment", "transportable_args",
           "BLAS_VARIABLES"]

#: Environment variables that set the number of BLAS / OpenMP threads.
BLAS_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                  "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")

_PRELUDE = """\
from backprop_lib.autograde.child_side import prepare as _autograde_prepare
_autograde_lockdown = _autograde_prepare(globals(), {workdir!r}, lockdown={lockdown!r})
del _autograde_prepare
"""


def scrubbed_environment(workdir):
    """The child's whole environment: nothing of the instructor's, all paths in `workdir`."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(workdir),
           "TMPDIR": str(workdir), "MPLBACKEND": "Agg", "MPLCONFIGDIR": str(workdir),
           "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONHASHSEED": "0",
           "BACKPROP_PROGRESS_FILE": str(workdir) + "/.backprop_progress.json"}
    env.update({name: "1" for name in BLAS_VARIABLES})
    return env


@dataclass
class SandboxLimits:
    """Limits of one submission's child process.

    Attributes
    ----------
    workdir : str
        The throwaway working directory (the child's cwd, HOME and TMPDIR).
    memory_bytes : int or None
        Address space the child may add to what it starts with.
    cpu_seconds : float or None
        CPU time for the child's whole life.
    output_chars : int
        Characters of output kept per request.
    no_network : bool
        Unshare the network namespace where the system allows it.
    lockdown : bool
        Apply the Landlock filesystem restrictions where the kernel has them.
    """

    workdir: str
    memory_bytes: int | None = 2 * 2**30
    cpu_seconds: float | None = 600.0
    output_chars: int = 4000
    no_network: bool = True
    lockdown: bool = True


def _is_plain(value, depth=0):
    if value is None or isinstance(value, (bool, numbers.Number, str)):
        return True
    if isinstance(value, np.ndarray):
        return value.dtype.kind in "biufc"
    if isinstance(value, np.generic):
        return value.dtype.kind in "biufc"
    if isinstance(value, (tuple, list)) and depth < 4:
        return all(_is_plain(v, depth + 1) for v in value)
    return False


def _reference_to(value, exercise):
    """A plain tuple naming `value` among the globals of `exercise`'s module, or None."""
    import sys

    candidates = [type(exercise).__module__]
    for attribute in ("reference", "probe", "wrap_answer", "hidden_cases", "make_args"):
        function = getattr(exercise, attribute, None)
        module = getattr(function, "__module__", None)
        if module and module not in candidates:
            candidates.append(module)
    for module_name in candidates:
        module = sys.modules.get(module_name)
        if module is None or not module_name.startswith("backprop_lib."):
            continue
        for name, obj in vars(module).items():
            if obj is value:
                return (REFERENCE_TAG, module_name, name, -1)
            if isinstance(obj, (tuple, list)):
                for index, item in enumerate(obj):
                    if item is value:
                        return (REFERENCE_TAG, module_name, name, index)
    return None


def transportable_args(args, exercise):
    """`args` with every argument that is not plain data replaced by a reference.

    Raises
    ------
    TypeError
        If an argument is neither plain data nor an object of the exercise's module (a
        grader bug: the exercise cannot be graded out of process).
    """
    out = []
    for value in args:
        if _is_plain(value):
            out.append(value)
            continue
        reference = _reference_to(value, exercise)
        if reference is None:
            raise TypeError(f"exercise {exercise.id!r}: a case argument of type "
                            f"{type(value).__name__} is neither plain data nor a global of "
                            "its module, so it cannot be sent to the sandbox")
        out.append(reference)
    return tuple(out)


def _child_process_api():
    """(ChildProcess, ChildLimits): the grader's child-process machinery."""
    from ..grading.child_process import ChildLimits, ChildProcess

    return ChildProcess, ChildLimits


class Sandbox:
    """One submission's child process (see the module docstring).

    Parameters
    ----------
    limits : SandboxLimits
    """

    def __init__(self, limits):
        self.limits = limits
        self.lockdown = ""
        self.network_isolated = False
        self._child = None

    # -- life -----------------------------------------------------------

    def start(self, timeout=30.0):
        """Fork the child and run the prelude; a CallOutcome (``"ok"`` if it is ready)."""
        self.close()
        child_process, child_limits = _child_process_api()
        limits = child_limits(memory_bytes=self.limits.memory_bytes,
                              cpu_seconds=self.limits.cpu_seconds,
                              output_chars=self.limits.output_chars,
                              env=scrubbed_environment(self.limits.workdir),
                              cwd=str(self.limits.workdir), blas_threads=1,
                              no_network=self.limits.no_network)
        self._child = child_process({"__name__": "__main__"}, limits)
        outcome = self._child.run_code(_PRELUDE.format(workdir=str(self.limits.workdir),
                                                       lockdown=self.limits.lockdown),
                                       timeout=timeout, filename="<autograde prelude>")
        if outcome.kind == "ok":
            self.network_isolated = bool(self._child.network_isolated)
            lockdown = self._child.call("_autograde_value", ("_autograde_lockdown",),
                                        timeout=timeout, conversion="answer")
            self.lockdown = str(lockdown.value) if lockdown.kind == "ok" else "unknown"
        return outcome

    @property
    def alive(self):
        return self._child is not None and self._child.alive

    def close(self):
        if self._child is not None:
            self._child.close()
        self._child = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # -- requests -------------------------------------------------------

    def _dead(self):
        return CallOutcome(kind="crashed", error="the sandbox process is not running")

    def run_cell(self, code, *, timeout, filename="<cell>"):
        """Run one cell's code in the learner's namespace."""
        if not self.alive:
            return self._dead()
        return self._child.run_code(code, timeout=timeout, filename=filename)

    def name_states(self, names, *, timeout):
        """{name: 0 undefined, 1 None, 2 defined} for `names`; None if the child failed."""
        if not self.alive or not names:
            return None if not self.alive else {}
        outcome = self._child.call("_autograde_names", tuple(names), timeout=timeout,
                                   conversion="answer")
        value = outcome.value if outcome.kind == "ok" else None
        if not isinstance(value, (tuple, list)) or len(value) != len(names):
            return None
        return {name: int(state) if isinstance(state, int) and state in (0, 1, 2) else 0
                for name, state in zip(names, value, strict=True)}

    def answer_value(self, name, *, timeout):
        """A question's answer (the value, or what the answer function returns), plain."""
        if not self.alive:
            return self._dead()
        return self._child.call("_autograde_value", (str(name),), timeout=timeout,
                                conversion="answer")

    def executor(self, exercise, name):
        """An executor for ``exercise.grade(..., executor=...)`` calling the answer `name`.

        The exercise's ``wrap_answer`` (classes, in-place functions) or ``probe`` (trained
        models) is applied in the child; case arguments that are not plain data travel as
        references to the package's objects.
        """
        if getattr(exercise, "kind", "") == "model":
            mode = "probe"
        elif getattr(exercise, "wrap_answer", None) is not None:
            mode = "wrap"
        else:
            mode = "plain"
        selected = []

        def run(fn, args, *, timeout, output_names=None, measure_memory=False):
            if not self.alive:
                return self._dead()
            if not selected:
                chosen = self._child.call("_autograde_select", (str(name), exercise.id, mode),
                                          timeout=timeout, conversion="none")
                if chosen.kind != "ok":
                    return chosen
                selected.append(True)
            sent = transportable_args(args, exercise)
            if not measure_memory:
                return self._child.call("_autograde_call", sent, timeout=timeout,
                                        output_names=output_names)
            before = _reset_peak_rss(self._child.pid)
            outcome = self._child.call("_autograde_call", sent, timeout=timeout,
                                       output_names=output_names)
            peak = _peak_rss(self._child.pid) if before is not None and self.alive else None
            outcome.peak_bytes = None if peak is None else max(0, peak - before)
            return outcome

        return run


def _status_bytes(pid, field):
    """A ``VmRSS``/``VmHWM`` line of ``/proc/<pid>/status`` in bytes (Linux), or None."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _reset_peak_rss(pid):
    """Reset the child's peak resident memory (the kernel's record); its RSS now, or None.

    The parent measures, so nothing in the child can change the figure: the memory a call
    needs is the peak resident memory during the call minus the resident memory before it.
    """
    try:
        with open(f"/proc/{pid}/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
    except OSError:
        return None
    return _status_bytes(pid, "VmRSS")


def _peak_rss(pid):
    return _status_bytes(pid, "VmHWM")
