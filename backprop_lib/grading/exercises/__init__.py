"""Every graded exercise of the course, one module per notebook.

``nbNN_<slug>.py`` holds all exercises of notebook ``NN_<slug>``: numeric
exercises (public cases, hidden-case generator, reference, named wrong
variants, hints) and question exercises (prompt, answer hash, hints), in the
order the notebook asks them. Importing this package imports every such module,
in notebook order, and each registers its exercises; a new notebook's module is
picked up without editing any other file.

This package is also the public function ``backprop_lib.grading.exercises``:
calling it lists the registered ids, ordered by notebook, then as the notebook
asks them::

    exercises()      # every id
    exercises(2)     # the ids of notebook 02
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import sys
import types

from ..registry import exercise_ids

_MODULE_NAME = re.compile(r"nb\d\d_[a-z0-9_]+")

#: Names of the exercise modules, in notebook order (e.g. ``"nb02_softmax"``).
MODULES = tuple(sorted(info.name for info in pkgutil.iter_modules(__path__)
                       if _MODULE_NAME.fullmatch(info.name)))

for _name in MODULES:
    importlib.import_module(f"{__name__}.{_name}")


class _CallableModule(types.ModuleType):
    """The module type of this package: calling it is :func:`exercise_ids`."""

    def __call__(self, notebook=None):
        """Ids of the registered exercises, optionally of one notebook.

        Parameters
        ----------
        notebook : int, optional
            Notebook number, e.g. ``2``.

        Returns
        -------
        list of str
            Ordered by notebook, then as they appear in the notebook.
        """
        return exercise_ids(notebook)


sys.modules[__name__].__class__ = _CallableModule
