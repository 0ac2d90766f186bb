"""What to run and what to grade: the code of a submission, and the learner's answer names.

Code
    Every code cell runs, in the submission's order (:func:`cell_code`). IPython syntax
    (``%matplotlib inline``, ``!pip install``, ``%%time``) is turned into plain Python by
    IPython's own input transformer, calling a stand-in (:data:`MAGICS_NAME`) that ignores
    magics and shell commands (see :mod:`~backprop_lib.autograde.child_side`).
    ``get_ipython()`` itself is left undefined, as in a plain Python process, so libraries
    that ask whether they run in IPython (SymPy's printing) get "no".

Answer names
    Which object in the learner's namespace is the answer to an exercise comes from the
    *release* notebook, never from the submission (whose check cells may be edited): the
    graded check cell the release build marks (nbgrader ``grade: true``), e.g.
    ``check("softmax_shift", answer_softmax_shift)``, names it. Without release notebooks
    the name follows the course's convention (:func:`conventional_name`): the function
    in the exercise's signature, ``answer_<id>`` for questions, ``model`` for the capstone's
    trained model. ``tests/test_autograde_stages.py`` checks that the two agree for every
    exercise of the course.
"""

from __future__ import annotations

import ast
import json
import re
from functools import lru_cache
from pathlib import Path

__all__ = ["cell_code", "defined_names", "exercises_named", "answer_names",
           "conventional_name", "default_release_dir"]

_CHECK_ARGUMENT = re.compile(
    r"""(?<![\w.])check\(\s*(["'])([A-Za-z0-9_\-]+)\1\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*[,)]""")
_MAX_PARSED_CHARS = 200_000

#: The stand-in that magics and shell commands call in the sandbox (see child_side).
MAGICS_NAME = "_autograde_magics"
_MAGIC_CALLS = ("run_line_magic", "run_cell_magic", "system", "getoutput")


@lru_cache(maxsize=1)
def _transformer():
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # pragma: no cover - IPython comes with ipywidgets
        return None
    return TransformerManager()


def cell_code(source):
    """The Python code of a cell's `source`, with IPython syntax made plain Python.

    Parameters
    ----------
    source : str

    Returns
    -------
    str
        Code for ``exec``; magics become ``get_ipython().run_line_magic(...)`` calls. If
        the transformer fails, lines starting with ``%`` or ``!`` are commented out.
    """
    manager = _transformer()
    if manager is not None:
        try:
            code = manager.transform_cell(source)
        except Exception:  # noqa: BLE001 - odd input: fall back to the simple rule below
            pass
        else:
            for call in _MAGIC_CALLS:
                code = code.replace(f"get_ipython().{call}(", f"{MAGICS_NAME}.{call}(")
            return code
    lines = ["# " + line if line.lstrip()[:1] in ("%", "!") else line
             for line in source.split("\n")]
    return "\n".join(lines)


def defined_names(code):
    """Names a cell's code binds at top level (def, class, assignment, import, for, with).

    Returns an empty set if the code does not parse (it then fails in the sandbox too).
    """
    if len(code) > _MAX_PARSED_CHARS:
        return set()
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        else:
            for sub in ast.walk(node):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                    names.add(sub.id)
    return names


def exercises_named(cells):
    """Exercise ids named in ``check("...")`` calls of `cells` (any order, with repeats)."""
    from ..grading.release import checked_exercises  # imports jupytext: only when needed

    ids = []
    for cell in cells:
        if cell.cell_type == "code":
            ids += checked_exercises(cell.source)
    return ids


def conventional_name(exercise):
    """The course's naming convention for the answer to `exercise` (see the module docstring)."""
    kind = getattr(exercise, "kind", "")
    if kind == "question":
        return f"answer_{exercise.id}"
    if kind == "model":
        return "model"
    name = getattr(exercise, "signature", "").split("(")[0].strip()
    return name or exercise.id


def default_release_dir():
    """``notebooks/`` of the repository the package was installed from, or None."""
    folder = Path(__file__).resolve().parents[2] / "notebooks"
    return folder if folder.is_dir() else None


def _release_check_names(path):
    """{exercise id: answer name} from the graded check cells of a release notebook."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    names = {}
    for cell in document.get("cells", []):
        meta = (cell.get("metadata") or {}).get("nbgrader") or {}
        if cell.get("cell_type") != "code" or not meta.get("grade"):
            continue
        source = "".join(cell.get("source") or "")
        for match in _CHECK_ARGUMENT.finditer(source):
            names.setdefault(match.group(2), match.group(3))
    return names


def answer_names(notebook, exercises, release_dir=None):
    """The name of the learner's answer for each of `exercises` of `notebook`.

    Parameters
    ----------
    notebook : str
        The notebook's stem, e.g. ``"02_softmax"``.
    exercises : list
        Registered exercises of that notebook.
    release_dir : Path or None
        Folder of the release (student) notebooks; default :func:`default_release_dir`.

    Returns
    -------
    dict
        exercise id -> name in the learner's namespace.
    """
    folder = Path(release_dir) if release_dir else default_release_dir()
    from_release = {}
    if folder is not None and (folder / f"{notebook}.ipynb").is_file():
        from_release = _release_check_names(folder / f"{notebook}.ipynb")
    return {ex.id: from_release.get(ex.id) or conventional_name(ex) for ex in exercises}
