"""Run a submission's cells in the sandbox, in order, and keep going after failures.

Every code cell runs in the submission's order, each under ``cell_timeout`` and all of
them under ``notebook_timeout``:

- a cell that raises is recorded (its error is shown in the feedback) and the next cell
  runs: what the cells before it defined, and what it defined before raising, stay;
- a cell that never ends (an endless loop, one that swallows every exception,
  ``time.sleep`` forever), ends its process (``sys.exit`` at the top level is caught, but
  ``os._exit``, a signal, the CPU limit) or crashes it, kills the child. A new child is
  started and every earlier cell that did not kill its child is replayed, then the run
  goes on after the fatal cell. So an exercise is graded from whatever definitions exist,
  and only exercises that depend on a failing cell fail with it.

:class:`NotebookSession` keeps the cells that may be replayed, so grading can also start
a new child (after an answer times out on a case) and carry on with the next exercise.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .code_extraction import cell_code

__all__ = ["CellRun", "NotebookSession", "FATAL_KINDS", "MAX_RESTARTS"]

#: Outcomes after which the child is gone.
FATAL_KINDS = ("timeout", "exit", "crashed")

#: At most this many new children per notebook (each fatal cell, or answer, costs one).
MAX_RESTARTS = 12

#: All runs and replays of a notebook together take at most this many notebook timeouts.
TOTAL_BUDGET_FACTOR = 3

_STATUS = {"ok": "ok", "exception": "error", "not_implemented": "error", "timeout": "timeout",
           "exit": "exit", "crashed": "crashed"}


@dataclass
class CellRun:
    """How one cell ran.

    Attributes
    ----------
    index : int
        Position of the cell in the submission, from 0.
    label : str
        ``"cell 7 (id ...)"``.
    status : str
        ``"ok"``, ``"error"`` (it raised), ``"timeout"``, ``"exit"``, ``"crashed"``, or
        ``"not run"`` (the notebook ran out of time before it).
    error : str
        The exception (type, message, the learner's lines) or why the process ended.
    output : str
        What it printed (capped).
    seconds : float
    killed : bool
        The cell ended its process (it is not replayed in a new one).
    """

    index: int
    label: str
    status: str
    error: str = ""
    output: str = ""
    seconds: float = 0.0
    killed: bool = False


@dataclass
class NotebookSession:
    """One submission's cells and the sandbox they run in.

    Parameters
    ----------
    sandbox : Sandbox
        Not started yet; :meth:`run` starts it.
    cells : list of Cell
        The submission's cells (only code cells run).
    notebook_timeout : float
        Seconds for running all cells once (a replay gets the same budget).
    cell_timeout : float
        Seconds for one cell.
    """

    sandbox: object
    cells: list
    notebook_timeout: float = 300.0
    cell_timeout: float = 60.0
    runs: list = field(default_factory=list)
    restarts: int = 0
    _code: dict = field(default_factory=dict)
    _hard_deadline: float = float("inf")

    def __post_init__(self):
        self._code = {c.index: cell_code(c.source) for c in self.cells if c.cell_type == "code"}

    def code_of(self, index):
        return self._code[index]

    # -- the first run -------------------------------------------------------

    def run(self):
        """Run every code cell once (see the module docstring); returns :attr:`runs`."""
        now = time.perf_counter()
        deadline = now + self.notebook_timeout
        self._hard_deadline = now + TOTAL_BUDGET_FACTOR * self.notebook_timeout
        self.runs = []
        started = self._start()
        for cell in self.cells:
            if cell.cell_type != "code":
                continue
            left = deadline - time.perf_counter()
            if left <= 0 or not started:
                why = ("the notebook used up its time limit" if started
                       else "the sandbox could not be started again")
                self.runs.append(CellRun(cell.index, cell.label, "not run", error=why))
                continue
            if not self.sandbox.alive:
                started = self._restart(deadline)
                if not started:
                    self.runs.append(CellRun(cell.index, cell.label, "not run",
                                             error="the sandbox could not be started again"))
                    continue
            self.runs.append(self._run_cell(cell, min(self.cell_timeout, left)))
        return self.runs

    def _run_cell(self, cell, timeout):
        outcome = self.sandbox.run_cell(self._code[cell.index], timeout=timeout,
                                        filename=f"<{cell.label}>")
        status = _STATUS.get(outcome.kind, "crashed")
        error = outcome.error
        if status == "timeout":
            error = f"it did not finish within {timeout:.3g} s, so it was stopped"
        return CellRun(cell.index, cell.label, status, error=error, output=outcome.output,
                       seconds=outcome.seconds, killed=not self.sandbox.alive)

    # -- starting again --------------------------------------------------------

    def _start(self):
        outcome = self.sandbox.start()
        if outcome.kind != "ok":
            raise RuntimeError(f"the sandbox's prelude failed: {outcome.kind} {outcome.error}")
        return True

    def replayable(self):
        """Indices of the cells run so far that did not kill their child."""
        return [r.index for r in self.runs if r.status != "not run" and not r.killed]

    def _restart(self, deadline):
        """A new child with every replayable cell run again; False if out of time/restarts."""
        deadline = min(deadline, self._hard_deadline)
        while self.restarts < MAX_RESTARTS and time.perf_counter() < deadline:
            self.restarts += 1
            self._start()
            for index in self.replayable():
                left = deadline - time.perf_counter()
                if left <= 0:
                    return False
                outcome = self.sandbox.run_cell(self._code[index],
                                                timeout=min(self.cell_timeout, left),
                                                filename=f"<cell {index + 1}, replayed>")
                if not self.sandbox.alive:
                    # Not deterministic: it killed the child only this time. Never again.
                    run = next(r for r in self.runs if r.index == index)
                    run.status, run.killed = _STATUS.get(outcome.kind, "crashed"), True
                    run.error = (outcome.error or run.error) + " (when it was run again)"
                    break
            else:
                return True
        return False

    def ensure_alive(self):
        """Make sure a child with the notebook's definitions is running; False if impossible."""
        if self.sandbox.alive:
            return True
        deadline = time.perf_counter() + self.notebook_timeout
        return self._restart(deadline)

    # -- questions about the run ---------------------------------------------------

    def failed_runs(self):
        return [r for r in self.runs if r.status != "ok"]

    def close(self):
        self.sandbox.close()
