"""A batch worker: grade one submission and send its record back as JSON bytes.

Importing this module loads what the course's notebooks import (NumPy, matplotlib with
the Agg backend, IPython's input transformer, ipywidgets, every backprop_lib module), so
that the forkserver holds them once and each sandbox child, forked from a worker, starts
its cells without paying for those imports again. Nothing of a learner's is loaded here.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import json
import os
import sys

os.environ.setdefault("MPLBACKEND", "Agg")

_WARM_MODULES = (
    "numpy", "matplotlib", "matplotlib.pyplot", "ipywidgets", "sympy",
    "IPython.core.inputtransformer2",
    "backprop_lib.functional", "backprop_lib.layers", "backprop_lib.model",
    "backprop_lib.optim", "backprop_lib.gradcheck", "backprop_lib.data",
    "backprop_lib.shapes", "backprop_lib.symbolic", "backprop_lib.plots",
    "backprop_lib.widgets", "backprop_lib.grading",
)


def _warm():
    for name in _WARM_MODULES:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    with contextlib.suppress(Exception):
        from backprop_lib.data import load_digits

        load_digits()


_warm()

from .submission_grading import grade_submission, unreadable_record  # noqa: E402


def _not_dumpable():
    """Other processes of this user may not read or trace this one (Linux)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0


def work(connection, task_json):
    """Worker entry point: grade the task, send the record, exit."""
    _not_dumpable()
    task = json.loads(task_json)
    try:
        record = grade_submission(task)
    except Exception as exc:  # noqa: BLE001 - a grader bug on one notebook must not stop the batch
        record = unreadable_record(task, f"the grader failed on this notebook "
                                         f"({type(exc).__name__}: {exc})", grader_fault=True)
    connection.send_bytes(json.dumps(record).encode("utf-8"))
    connection.close()
