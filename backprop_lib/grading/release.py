"""Build the course notebooks from their MyST-Markdown sources.

The sources live in ``course/NN_slug.md``. They are ordinary Jupyter notebooks written as
MyST Markdown (read with jupytext) and contain the solutions, fenced inside code cells by::

    ### BEGIN SOLUTION
    ...
    ### END SOLUTION

This module turns each source into two ``.ipynb`` files:

* the **student** notebook ``notebooks/NN_slug.ipynb`` (committed), in which every solution
  region becomes ``# YOUR CODE HERE`` / ``raise NotImplementedError()`` at the indentation of
  its ``BEGIN`` line;
* the **solutions** notebook ``build/solutions/NN_slug.ipynb`` (git-ignored), which keeps the
  source unchanged, markers included, so it can also serve as an nbgrader source notebook.

Both carry no outputs, no execution counts and no widget state, a python3 kernelspec, stable
cell ids and nbgrader metadata (solution cells and ``check(...)`` cells). The JSON is written
deterministically, so rebuilding an unchanged source changes no byte.

Run it from the repository root::

    python -m backprop_lib.grading.release            # write notebooks/ and build/solutions/
    python -m backprop_lib.grading.release --check    # exit 1 if notebooks/ is out of date
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import jupytext
import nbformat

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
STUB_LINES = ("# YOUR CODE HERE", "raise NotImplementedError()")

#: Source files the build picks up: ``NN_slug.md`` directly inside the course folder.
SOURCE_GLOB = "[0-9][0-9]_*.md"

DEFAULT_COURSE_DIR = Path("course")
DEFAULT_STUDENT_DIR = Path("notebooks")
DEFAULT_SOLUTIONS_DIR = Path("build") / "solutions"

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE_INFO = {
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "name": "python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
}
NBGRADER_SCHEMA_VERSION = 3

# ``check("softmax", ...)`` or ``check('softmax', ...)``, not ``mycheck(`` or ``obj.check(``.
_CHECK_CALL = re.compile(r"""(?<![\w.])check\(\s*(["'])([A-Za-z0-9_\-]+)\1""")


class ReleaseError(ValueError):
    """A course source cannot be built (for example an unbalanced solution marker)."""


@dataclass(frozen=True)
class BuiltNotebook:
    """The two builds of one course source, as JSON text ready to write."""

    source: Path
    student: str
    solutions: str

    @property
    def filename(self) -> str:
        return self.source.with_suffix(".ipynb").name


# --------------------------------------------------------------------------- solution regions


def strip_solutions(source: str, *, where: str = "<cell>") -> str:
    """Replace each solution region of a code cell's source by the student stub.

    Parameters
    ----------
    source : str
        The cell's source text.
    where : str
        Names the cell in error messages, e.g. ``"course/02_softmax.md, cell 7"``.

    Returns
    -------
    str
        The source with every ``BEGIN``/``END SOLUTION`` region (markers included) replaced by
        ``# YOUR CODE HERE`` and ``raise NotImplementedError()``, indented like the ``BEGIN``
        line. Text without markers is returned unchanged.

    Raises
    ------
    ReleaseError
        If a region is opened twice, closed without being opened, or never closed.
    """
    out: list[str] = []
    begin_line: int | None = None
    lines = source.split("\n")
    for number, line in enumerate(lines, start=1):
        marker = line.strip()
        if marker == BEGIN_SOLUTION:
            if begin_line is not None:
                raise ReleaseError(
                    f"{where}: line {number} opens a solution region, but the one opened on "
                    f"line {begin_line} is not closed (missing '{END_SOLUTION}')"
                )
            begin_line = number
            indent = line[: len(line) - len(line.lstrip())]
            out.extend(indent + stub for stub in STUB_LINES)
        elif marker == END_SOLUTION:
            if begin_line is None:
                raise ReleaseError(
                    f"{where}: line {number} has '{END_SOLUTION}' without a matching "
                    f"'{BEGIN_SOLUTION}' before it"
                )
            begin_line = None
        elif begin_line is None:
            out.append(line)
    if begin_line is not None:
        raise ReleaseError(
            f"{where}: the solution region opened on line {begin_line} is never closed "
            f"(missing '{END_SOLUTION}')"
        )
    return "\n".join(out)


def has_solution(source: str) -> bool:
    """Whether a cell's source contains a ``### BEGIN SOLUTION`` line."""
    return any(line.strip() == BEGIN_SOLUTION for line in source.split("\n"))


def checked_exercises(source: str) -> list[str]:
    """Exercise ids passed to ``check("<id>", ...)`` in a cell, in order, without repeats.

    Whole-line comments are ignored, so a commented-out call does not make a grading cell.
    """
    code = "\n".join(line for line in source.split("\n") if not line.lstrip().startswith("#"))
    ids: list[str] = []
    for match in _CHECK_CALL.finditer(code):
        if match.group(2) not in ids:
            ids.append(match.group(2))
    return ids


# --------------------------------------------------------------------------- exercise points


def _registry_points() -> dict[str, float] | None:
    """Points per registered exercise id, or None when the grading registry is not available."""
    try:
        import backprop_lib.grading  # noqa: F401 - importing the package registers the exercises
        from backprop_lib.grading.registry import exercise_ids, get_exercise
    except ImportError:
        return None
    points = {ex_id: float(get_exercise(ex_id).points) for ex_id in exercise_ids()}
    return points or None


# --------------------------------------------------------------------------- notebook building


def _cell_id(notebook_name: str, index: int) -> str:
    """A stable, valid nbformat cell id derived from the notebook's name and the cell index."""
    digest = hashlib.sha1(f"{notebook_name}:{index}".encode()).hexdigest()
    return digest[:12]


def _nbgrader(**fields) -> dict:
    return {**fields, "schema_version": NBGRADER_SCHEMA_VERSION}


def _following_check(cells: Sequence, start: int) -> list[str]:
    """Exercise ids of the first code cell after ``start`` that calls check()."""
    for cell in cells[start + 1 :]:
        if cell.cell_type != "code":
            continue
        ids = checked_exercises(cell.source)
        if ids:
            return ids
        if has_solution(cell.source):
            return []
    return []


def _unique(grade_id: str, taken: set[str]) -> str:
    candidate, n = grade_id, 2
    while candidate in taken:
        candidate, n = f"{grade_id}-{n}", n + 1
    taken.add(candidate)
    return candidate


def _annotate(nb, name: str, where: str, points: dict[str, float] | None) -> None:
    """Give every cell its stable id and the nbgrader metadata of its role, in place.

    * a cell with a solution region is an nbgrader *autograded answer*
      (``solution: true, grade: false, locked: false``);
    * the last cell that calls ``check("<id>", ...)`` for an exercise, holding no solution, is
      an *autograder test* (``grade: true, solution: false, locked: true``) worth the
      registered points of the exercises it is the last check of; like nbgrader, the build
      makes it read-only in JupyterLab. Earlier check() calls of the same exercise (a
      notebook may first show a wrong answer failing) earn nothing and stay editable.

    A cell holding both a solution and its check() call is marked as the answer; put the call
    in a cell of its own when nbgrader should award the points.
    """
    last_check: dict[str, int] = {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            for exercise in checked_exercises(cell.source):
                if points is not None and exercise not in points:
                    raise ReleaseError(
                        f"{where}, cell {index + 1}: check() names exercise {exercise!r}, which "
                        "backprop_lib.grading does not register"
                    )
                last_check[exercise] = index

    taken: set[str] = set()
    for index, cell in enumerate(nb.cells):
        cell.id = _cell_id(name, index)
        cell.metadata.pop("nbgrader", None)
        if cell.cell_type != "code":
            if has_solution(cell.source):
                raise ReleaseError(
                    f"{where}, cell {index + 1}: solution markers are only allowed in code cells"
                )
            continue
        ids = checked_exercises(cell.source)
        graded = [exercise for exercise in ids if last_check[exercise] == index]
        if has_solution(cell.source):
            answer_for = ids or _following_check(nb.cells, index)
            base = f"{answer_for[0]}-answer" if answer_for else f"answer-cell-{index + 1}"
            cell.metadata["nbgrader"] = _nbgrader(
                grade=False, solution=True, locked=False, grade_id=_unique(base, taken)
            )
        elif graded:
            cell.metadata["nbgrader"] = _nbgrader(
                grade=True,
                solution=False,
                locked=True,
                points=sum(points[i] for i in graded) if points is not None else 0.0,
                grade_id=_unique(f"{'-'.join(graded)}-check", taken),
            )
            cell.metadata["editable"] = False
            cell.metadata["deletable"] = False


def _clean(nb) -> None:
    """Drop outputs, execution counts, widget state and authoring-only metadata, in place."""
    nb.nbformat, nb.nbformat_minor = 4, 5
    nb.metadata = nbformat.from_dict(
        {"kernelspec": dict(KERNELSPEC), "language_info": dict(LANGUAGE_INFO)}
    )
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        for key in ("execution", "collapsed", "scrolled", "widgets", "ExecuteTime"):
            cell.metadata.pop(key, None)


def _dumps(nb) -> str:
    """Deterministic JSON text: sorted keys, one-space indent, UTF-8, trailing newline."""
    nbformat.validate(nb)
    text = nbformat.writes(nb, version=4)
    return text if text.endswith("\n") else text + "\n"


def build_source(path: Path, *, points: dict[str, float] | None = None) -> BuiltNotebook:
    """Build the student and solutions notebooks of one course source.

    Parameters
    ----------
    path : Path
        A ``NN_slug.md`` MyST-Markdown notebook.
    points : dict or None
        Points per exercise id (default: read from ``backprop_lib.grading``; when that package
        is not importable every check cell is worth 0).

    Raises
    ------
    ReleaseError
        On an unbalanced solution marker, a marker outside a code cell, or a check() of an
        exercise id the registry does not know, naming the file and the cell.
    """
    path = Path(path)
    if points is None:
        points = _registry_points()
    where = str(path)
    try:
        nb = jupytext.read(path, fmt="md:myst")
    except Exception as exc:  # jupytext raises several types for malformed sources
        raise ReleaseError(f"{where}: cannot read as a MyST notebook: {exc}") from exc

    _clean(nb)
    _annotate(nb, path.stem, where, points)
    solutions = _dumps(nb)

    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            first_line = cell.source.split("\n", 1)[0]
            cell.source = strip_solutions(
                cell.source, where=f"{where}, cell {index + 1} ({first_line!r})"
            )
    student = _dumps(nb)
    return BuiltNotebook(source=path, student=student, solutions=solutions)


def course_sources(course_dir: Path = DEFAULT_COURSE_DIR) -> list[Path]:
    """The ``NN_slug.md`` sources of a course folder, in course order."""
    return sorted(Path(course_dir).glob(SOURCE_GLOB))


def build_all(
    sources: Iterable[Path],
    student_dir: Path | None = DEFAULT_STUDENT_DIR,
    solutions_dir: Path | None = DEFAULT_SOLUTIONS_DIR,
) -> list[BuiltNotebook]:
    """Build every source and write the results (skip a folder by passing None).

    Files whose content is already up to date are not rewritten, so their timestamps stay.
    """
    points = _registry_points()
    built = [build_source(path, points=points) for path in sources]
    for notebook in built:
        if student_dir is not None:
            _write_if_changed(Path(student_dir) / notebook.filename, notebook.student)
        if solutions_dir is not None:
            _write_if_changed(Path(solutions_dir) / notebook.filename, notebook.solutions)
    return built


def _write_if_changed(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8")
    if not path.exists() or path.read_bytes() != data:
        path.write_bytes(data)


def out_of_date(course_dir: Path, student_dir: Path) -> list[str]:
    """Problems that make ``student_dir`` differ from a fresh build of ``course_dir``.

    Returns one human-readable line per stale, missing or orphaned notebook; empty when in sync.
    """
    problems = []
    built = build_all(course_sources(course_dir), student_dir=None, solutions_dir=None)
    expected = {notebook.filename for notebook in built}
    for notebook in built:
        target = Path(student_dir) / notebook.filename
        if not target.exists():
            problems.append(f"{target} is missing (source {notebook.source})")
        elif target.read_bytes() != notebook.student.encode("utf-8"):
            problems.append(f"{target} differs from a fresh build of {notebook.source}")
    problems.extend(
        f"{stray} has no source in {course_dir}/; delete it or add one"
        for stray in _orphans(student_dir, expected)
    )
    return problems


def _orphans(student_dir: Path, expected: set[str]) -> list[Path]:
    """Notebooks in ``student_dir`` that no source builds."""
    return [p for p in sorted(Path(student_dir).glob("*.ipynb")) if p.name not in expected]


# --------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m backprop_lib.grading.release",
        description="Build student notebooks (and solutions) from the course/ sources.",
    )
    parser.add_argument("--course", type=Path, default=DEFAULT_COURSE_DIR,
                        help="folder of NN_slug.md sources (default: %(default)s)")
    parser.add_argument("--student-dir", type=Path, default=DEFAULT_STUDENT_DIR,
                        help="where student notebooks go (default: %(default)s)")
    parser.add_argument("--solutions-dir", type=Path, default=DEFAULT_SOLUTIONS_DIR,
                        help="where solution notebooks go (default: %(default)s)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if the student notebooks are out of date")
    args = parser.parse_args(argv)

    try:
        if args.check:
            problems = out_of_date(args.course, args.student_dir)
            for problem in problems:
                print(problem, file=sys.stderr)
            if problems:
                print("Run `make notebooks` to rebuild them.", file=sys.stderr)
                return 1
            print(f"{args.student_dir}/ is in sync with {args.course}/")
            return 0
        built = build_all(course_sources(args.course), args.student_dir, args.solutions_dir)
    except ReleaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for notebook in built:
        print(f"{notebook.source} -> {args.student_dir / notebook.filename}, "
              f"{args.solutions_dir / notebook.filename}")
    for stray in _orphans(args.student_dir, {notebook.filename for notebook in built}):
        print(f"warning: {stray} has no source in {args.course}/; delete it or add one",
              file=sys.stderr)
    if not built:
        print(f"no sources matching {SOURCE_GLOB} in {args.course}/", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
