"""Find the submissions: which files, whose, and which course notebook each one is.

A SUBMISSION on the command line is an ``.ipynb`` file or a folder searched (recursively)
for them. Hidden folders and ``.ipynb_checkpoints`` are skipped.

Who the learner is
    The folder name. Relative to a SUBMISSION folder, the learner is the first folder of the
    notebook's path (``subs/`` + ``alice/02_softmax.ipynb`` -> ``alice``); in nbgrader's
    layout, the folder right after ``submitted`` or ``autograded``
    (``submitted/alice/ps1/02_softmax.ipynb`` -> ``alice``). A notebook directly inside the
    SUBMISSION folder, or a SUBMISSION file, belongs to the folder it is in. A folder named
    like a course notebook (``02_softmax``, an nbgrader assignment folder) is never taken for
    a learner: the folder above it is.

Which notebook it is
    From the file name when it starts with a course notebook's number and slug
    (``02_softmax.ipynb``, ``02_softmax-Copy1.ipynb``, ``02_softmax (1).ipynb``), else from
    the name of its folder (an nbgrader assignment named ``02_softmax``), else from its
    content (:func:`notebook_from_content`, done after reading it).

Two files of one learner for one notebook: the one whose name is exactly the release
name wins, else the most recently modified; the others are reported as duplicates.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Submission", "course_notebooks", "find_submissions", "notebook_from_name",
           "notebook_from_content", "NBGRADER_FOLDERS"]

#: Folders after which nbgrader puts the learner's folder.
NBGRADER_FOLDERS = ("submitted", "autograded")

_SAFE_ID = re.compile(r"[^A-Za-z0-9._@+-]+")


@dataclass
class Submission:
    """One notebook handed in by one learner.

    Attributes
    ----------
    learner : str
        The learner's id (a folder name), safe to use as a folder name.
    path : Path
        The ``.ipynb`` file.
    notebook : str or None
        The course notebook's stem, e.g. ``"02_softmax"``; None until known (see
        :func:`notebook_from_content`).
    duplicates : list of Path
        Other files of the same learner for the same notebook, not graded.
    """

    learner: str
    path: Path
    notebook: str | None = None
    duplicates: list = field(default_factory=list)

    @property
    def key(self):
        """``learner/notebook``: where its results and feedback go."""
        return f"{self.learner}/{self.notebook or self.path.stem}"


def course_notebooks():
    """Stems of the course notebooks that have exercises, by number: ``{2: "02_softmax"}``.

    Taken from the exercise modules of the installed package (``nb02_softmax`` ->
    ``02_softmax``), so it needs no notebook files.
    """
    from ..grading.exercises import MODULES

    stems = {}
    for module in MODULES:
        number, slug = module[2:4], module[5:]
        stems[int(number)] = f"{number}_{slug}"
    return stems


def notebook_from_name(name, stems=None):
    """The course notebook a file or folder `name` is named after, or None.

    Parameters
    ----------
    name : str
        E.g. ``"02_softmax-Copy1.ipynb"`` or ``"02_softmax"``.
    stems : dict, optional
        :func:`course_notebooks`.

    Returns
    -------
    str or None
        E.g. ``"02_softmax"``.
    """
    stems = course_notebooks() if stems is None else stems
    text = Path(str(name)).name.lower()
    for stem in stems.values():
        if text.startswith(stem):
            return stem
    return None


def notebook_from_content(exercise_ids_in_cells, stems=None):
    """The course notebook whose exercises a notebook's cells name most often, or None.

    Parameters
    ----------
    exercise_ids_in_cells : iterable of str
        Exercise ids found in ``check("...")`` calls of the notebook.
    stems : dict, optional
        :func:`course_notebooks`.
    """
    from ..grading.registry import get_exercise

    stems = course_notebooks() if stems is None else stems
    votes = {}
    for exercise_id in exercise_ids_in_cells:
        exercise = get_exercise(exercise_id)
        if exercise is not None and exercise.notebook in stems:
            votes[exercise.notebook] = votes.get(exercise.notebook, 0) + 1
    if not votes:
        return None
    return stems[max(sorted(votes), key=votes.get)]


def _safe(name):
    """A learner id usable as a folder name."""
    text = _SAFE_ID.sub("_", str(name)).strip("._") or "unknown"
    return text[:100]


def _learner_of(path, root, stems):
    """The learner id of notebook `path` found under SUBMISSION `root` (a folder or the file)."""
    parts = list(path.parent.resolve().parts)
    lowered = [p.lower() for p in parts]
    for marker in NBGRADER_FOLDERS:
        if marker in lowered:
            index = len(lowered) - 1 - lowered[::-1].index(marker)
            if index + 1 < len(parts):
                return _safe(parts[index + 1])
    root_parts = list(root.resolve().parts) if root.is_dir() else list(
        root.resolve().parent.parts)
    below = parts[len(root_parts):] if parts[:len(root_parts)] == root_parts else []
    candidates = [p for p in below if notebook_from_name(p, stems) is None]
    if candidates:
        return _safe(candidates[0])
    for part in reversed(parts):  # the folder itself, skipping assignment folders
        if notebook_from_name(part, stems) is None:
            return _safe(part)
    return "unknown"


def _notebook_files(root):
    if root.is_file():
        return [root] if root.suffix.lower() == ".ipynb" else []
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
        found += [Path(folder) / f for f in sorted(files)
                  if f.lower().endswith(".ipynb") and not f.startswith(".")]
    return found


def find_submissions(paths, stems=None):
    """Every submission under `paths`, one per learner and notebook.

    Parameters
    ----------
    paths : list of str or Path
        ``.ipynb`` files and folders.
    stems : dict, optional
        :func:`course_notebooks`.

    Returns
    -------
    submissions : list of Submission
        Sorted by learner, then notebook. Those whose notebook could not be told from the
        name have ``notebook=None``.
    missing : list of str
        Paths that do not exist.

    """
    stems = course_notebooks() if stems is None else stems
    submissions, missing, seen = [], [], set()
    for given in paths:
        root = Path(given)
        if not root.exists():
            missing.append(str(given))
            continue
        for path in _notebook_files(root):
            resolved = path.resolve()
            if resolved in seen:
                continue
            seen.add(resolved)
            notebook = notebook_from_name(path.name, stems) or notebook_from_name(
                path.parent.name, stems)
            submissions.append(Submission(_learner_of(path, root, stems), path, notebook))
    return _one_per_notebook(submissions), missing


def _one_per_notebook(submissions):
    """Keep one file per (learner, notebook); the others become its duplicates."""
    groups = {}
    for sub in submissions:
        key = (sub.learner, sub.notebook) if sub.notebook else (sub.learner, str(sub.path))
        groups.setdefault(key, []).append(sub)
    kept = []
    for group in groups.values():
        def rank(sub):
            exact = sub.notebook is not None and sub.path.stem == sub.notebook
            return (exact, sub.path.stat().st_mtime, str(sub.path))
        group.sort(key=rank, reverse=True)
        best = group[0]
        best.duplicates = [s.path for s in group[1:]]
        kept.append(best)
    kept.sort(key=lambda s: (s.learner, s.notebook or "", str(s.path)))
    return kept
