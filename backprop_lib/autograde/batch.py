"""Grade many submissions in parallel worker processes, one submission per worker.

Process layout::

    main process (CLI: discovery, answer key, scoring questions, reports)
      └─ forkserver (a fresh interpreter with NumPy, matplotlib and backprop_lib loaded)
           └─ one worker per submission (grade_submission), at most --jobs at a time
                └─ sandbox child (the learner's code), forked by the worker

The main process never runs learner code and never forks a process that does: workers
come from the forkserver (or, where there is none, from ``spawn``), so nothing the main
process holds (the answer key) is in their memory. A worker sends its record back as
JSON bytes. A worker that dies (killed from outside) or overruns its generous deadline
is replaced, and its submission gets a record saying the grader failed on it (a grader
fault: the batch exits non-zero). The batch always goes on with the next submission.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import multiprocessing
import sys
import time
from collections import deque
from multiprocessing.connection import wait

from .execution import TOTAL_BUDGET_FACTOR
from .submission_grading import unreadable_record

__all__ = ["run_batch", "worker_deadline"]

_PRELOAD = "backprop_lib.autograde.worker"


def _context():
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([_PRELOAD])
        return context
    return multiprocessing.get_context("spawn")


def worker_deadline(task):
    """Seconds after which a worker is stopped (its own limits should end it well before)."""
    per_exercise = 4 * task["timeout"] + 10
    return (TOTAL_BUDGET_FACTOR * task["notebook_timeout"]
            + per_exercise * max(1, len(task["exercise_ids"])) + 120)


def run_batch(tasks, *, jobs=1, on_record=None):
    """Grade every task; call ``on_record(task, record)`` as each finishes.

    Parameters
    ----------
    tasks : list of dict
        :func:`~backprop_lib.autograde.submission_grading.grade_submission` tasks.
    jobs : int
        Submissions graded at the same time.
    on_record : callable, optional

    Returns
    -------
    list of dict
        The records, in the order the tasks finished.
    """
    context = _context()
    queue = deque(tasks)
    running = {}  # connection -> (process, task, deadline)
    records = []

    def finish(task, record):
        records.append(record)
        if on_record is not None:
            on_record(task, record)

    while queue or running:
        while queue and len(running) < max(1, int(jobs)):
            task = queue.popleft()
            receiver, sender = context.Pipe(duplex=False)
            process = context.Process(target=_work, args=(sender, json.dumps(task)),
                                      name=f"autograde {task['learner']}/{task['notebook']}",
                                      daemon=True)
            process.start()
            sender.close()
            running[receiver] = (process, task, time.monotonic() + worker_deadline(task))
        soonest = min(deadline for _, _, deadline in running.values())
        ready = wait(list(running), timeout=max(0.05, min(5.0, soonest - time.monotonic())))
        for connection in ready:
            process, task, _ = running.pop(connection)
            record = _receive(connection, task)
            connection.close()
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join()
            finish(task, record)
        now = time.monotonic()
        for connection, (process, task, deadline) in list(running.items()):
            if now > deadline:
                process.kill()
                process.join()
                running.pop(connection)
                connection.close()
                finish(task, unreadable_record(
                    task, f"the grader did not finish this notebook within "
                          f"{worker_deadline(task):.0f} s", grader_fault=True))
    return records


def _not_dumpable():
    """Other processes of this user may not read or trace this one (Linux)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0


def _work(connection, task_json):
    """A worker process: grade one task, send its record back as JSON bytes, exit.

    Runs in a process forked from the forkserver, which has already imported
    :mod:`~backprop_lib.autograde.worker` (so this import costs nothing there).
    """
    _not_dumpable()
    from .submission_grading import grade_submission

    task = json.loads(task_json)
    try:
        record = grade_submission(task)
    except Exception as exc:  # noqa: BLE001 - a grader bug on one notebook must not stop the batch
        record = unreadable_record(task, f"the grader failed on this notebook "
                                         f"({type(exc).__name__}: {exc})", grader_fault=True)
    connection.send_bytes(json.dumps(record).encode("utf-8"))
    connection.close()


def _receive(connection, task):
    try:
        data = connection.recv_bytes()
    except (EOFError, OSError):
        return unreadable_record(task, "the grading process for this notebook died (killed "
                                       "from outside, or out of memory)", grader_fault=True)
    try:
        record = json.loads(data.decode("utf-8"))
    except ValueError:
        return unreadable_record(task, "the grading process sent an unreadable record",
                                 grader_fault=True)
    return record

