"""What the batch's forkserver loads before it forks the workers.

Importing this module loads what the course's notebooks import (NumPy, matplotlib with
the Agg backend, IPython's input transformer, ipywidgets, every backprop_lib module), so
that the forkserver holds them once and each sandbox child, forked from a worker, starts
its cells without paying for those imports again. Nothing of a learner's is loaded here.
"""

from __future__ import annotations

import contextlib
import importlib
import os

os.environ.setdefault("MPLBACKEND", "Agg")

_WARM_MODULES = (
    "numpy", "matplotlib", "matplotlib.pyplot", "ipywidgets", "sympy",
    "IPython.core.inputtransformer2",
    "backprop_lib.functional", "backprop_lib.layers", "backprop_lib.model",
    "backprop_lib.optim", "backprop_lib.gradcheck", "backprop_lib.data",
    "backprop_lib.shapes", "backprop_lib.symbolic", "backprop_lib.plots",
    "backprop_lib.widgets", "backprop_lib.grading",
    "backprop_lib.autograde.submission_grading",
)


def _warm():
    for name in _WARM_MODULES:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    with contextlib.suppress(Exception):
        from backprop_lib.data import load_digits

        load_digits()


_warm()
