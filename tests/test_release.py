"""The course/ -> notebooks/ (student) and build/solutions/ release build."""

import json
import textwrap
from pathlib import Path

import nbformat
import pytest

from backprop_lib.grading import release
from backprop_lib.grading.release import ReleaseError, build_source, strip_solutions

ROOT = Path(__file__).resolve().parents[1]
COURSE = ROOT / "course"
NOTEBOOKS = ROOT / "notebooks"
FIXTURE_COURSE = ROOT / "tests" / "fixtures" / "course"

# Every real course source plus the fixture, so the build is tested before the course exists.
SOURCES = release.course_sources(COURSE) + release.course_sources(FIXTURE_COURSE)

HEADER = textwrap.dedent(
    """\
    ---
    jupytext:
      text_representation:
        extension: .md
        format_name: myst
    kernelspec:
      display_name: Python 3 (ipykernel)
      language: python
      name: python3
    ---
    """
)


def write_source(folder: Path, name: str, *cells: str) -> Path:
    """A MyST source with a markdown title followed by the given code cells."""
    fence = "\n```{{code-cell}} ipython3\n{}\n```\n"
    body = "".join(fence.format(textwrap.dedent(cell).strip()) for cell in cells)
    path = folder / name
    path.write_text(HEADER + "\n# Title\n" + body, encoding="utf-8")
    return path


def code_cells(text: str):
    return [c for c in nbformat.reads(text, as_version=4).cells if c.cell_type == "code"]


@pytest.fixture(scope="module")
def built():
    return {path: build_source(path) for path in SOURCES}


# --------------------------------------------------------------------------- solution stubs


def test_stub_replaces_region_at_the_indentation_of_begin():
    source = textwrap.dedent(
        """\
        def f(x):
            y = x + 1
            ### BEGIN SOLUTION
            return y * 2
            ### END SOLUTION

        class A:
            def g(self):
                    ### BEGIN SOLUTION
                    if True:
                        return 3
                    ### END SOLUTION
        ### BEGIN SOLUTION
        top = 1
        ### END SOLUTION
        print(f(1))"""
    )
    assert strip_solutions(source) == textwrap.dedent(
        """\
        def f(x):
            y = x + 1
            # YOUR CODE HERE
            raise NotImplementedError()

        class A:
            def g(self):
                    # YOUR CODE HERE
                    raise NotImplementedError()
        # YOUR CODE HERE
        raise NotImplementedError()
        print(f(1))"""
    )


def test_source_without_markers_is_unchanged():
    source = "x = 1\n# ### BEGIN SOLUTION is only a marker on a line of its own\nprint(x)\n"
    assert strip_solutions(source) == source


@pytest.mark.parametrize(
    "source, complaint",
    [
        ("a = 1\n### BEGIN SOLUTION\nb = 2\n", "region opened on line 2 is never closed"),
        ("a = 1\n### END SOLUTION\n", "line 2 has '### END SOLUTION' without a matching"),
        (
            "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n",
            "line 2 opens a solution region, but the one opened on line 1 is not closed",
        ),
    ],
)
def test_unbalanced_markers_raise(source, complaint):
    with pytest.raises(ReleaseError) as info:
        strip_solutions(source, where="course/x.md, cell 3")
    assert str(info.value).startswith("course/x.md, cell 3: ")
    assert complaint in str(info.value)


def test_unbalanced_marker_error_names_file_and_cell(tmp_path, capsys):
    good = "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION"
    bad = "def g():\n    ### BEGIN SOLUTION\n    return 2"
    path = write_source(tmp_path, "07_broken.md", good, bad)
    with pytest.raises(ReleaseError, match=r"07_broken\.md, cell 3 \('def g\(\):'\)"):
        build_source(path, points={})

    # The command line reports it as an error and exits non-zero, writing nothing.
    args = ["--course", str(tmp_path), "--student-dir", str(tmp_path / "nb")]
    assert release.main([*args, "--solutions-dir", str(tmp_path / "sol")]) != 0
    assert "07_broken.md, cell 3" in capsys.readouterr().err
    assert not (tmp_path / "nb").exists()


def test_marker_in_markdown_cell_is_an_error(tmp_path):
    path = tmp_path / "08_md.md"
    path.write_text(HEADER + "\n### BEGIN SOLUTION\n\ntext\n", encoding="utf-8")
    with pytest.raises(ReleaseError, match=r"08_md\.md, cell 1: .*only allowed in code cells"):
        build_source(path, points={})


def test_check_calls_are_found_but_not_in_comments_or_other_functions():
    source = 'check("softmax", f)\n# check("ignored", f)\nrecheck("no", f)\ncheck(\'vjp\', g)'
    assert release.checked_exercises(source) == ["softmax", "vjp"]


# --------------------------------------------------------------------------- builds


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_student_build_has_stubs_and_no_solutions(built, source):
    student, solutions = built[source].student, built[source].solutions
    assert release.BEGIN_SOLUTION not in student
    for s_cell, t_cell in zip(code_cells(solutions), code_cells(student), strict=True):
        if release.has_solution(s_cell.source):
            assert "raise NotImplementedError()" in t_cell.source
            assert t_cell.source == strip_solutions(s_cell.source)
        else:
            assert t_cell.source == s_cell.source


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_build_is_clean_and_deterministic(built, source, tmp_path):
    again = build_source(source)
    assert again == built[source]
    for text in (again.student, again.solutions):
        assert text.endswith("}\n")
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
        assert (nb.nbformat, nb.nbformat_minor) == (4, 5)
        assert nb.metadata.kernelspec.name == "python3"
        assert set(nb.metadata) == {"kernelspec", "language_info"}
        ids = [cell.id for cell in nb.cells]
        assert len(set(ids)) == len(ids)
        # Keys are sorted at every level, as nbformat writes them.
        canonical = json.dumps(json.loads(text), indent=1, sort_keys=True, ensure_ascii=False)
        assert text == canonical + "\n"

    # Writing twice leaves the files byte-for-byte (and timestamp) unchanged.
    release.build_all([source], tmp_path / "nb", tmp_path / "sol")
    files = sorted((tmp_path).rglob("*.ipynb"))
    before = {f: (f.read_bytes(), f.stat().st_mtime_ns) for f in files}
    release.build_all([source], tmp_path / "nb", tmp_path / "sol")
    assert {f: (f.read_bytes(), f.stat().st_mtime_ns) for f in files} == before


def test_cell_ids_depend_on_name_and_position_only(tmp_path):
    def cell_ids(path):
        return [c.id for c in nbformat.reads(build_source(path, points={}).student, 4).cells]

    one = write_source(tmp_path, "05_a.md", "x = 1", "y = 2")
    ids = cell_ids(one)
    write_source(tmp_path, "05_a.md", "x = 100", "y = 2")
    assert cell_ids(one) == ids
    other = write_source(tmp_path, "06_b.md", "x = 1", "y = 2")
    assert not set(ids) & set(cell_ids(other))


def test_nbgrader_metadata_roles(tmp_path):
    answer = "def f(z):\n    ### BEGIN SOLUTION\n    return z\n    ### END SOLUTION"
    path = write_source(
        tmp_path,
        "03_roles.md",
        "import numpy as np",
        'check("softmax", lambda z: z)  # a wrong answer shown failing first',
        answer,
        'check("softmax", f)\ncheck("log_softmax", f)',
        answer + "\ncheck('log_softmax', f)",
    )
    nb = nbformat.reads(build_source(path, points={"softmax": 2, "log_softmax": 3}).student, 4)
    plain, demo, answer, grader, combined = (c.metadata.get("nbgrader") for c in nb.cells[1:])
    assert plain is None
    assert demo is None and "editable" not in nb.cells[2].metadata
    assert answer == {
        "grade": False, "solution": True, "locked": False,
        "grade_id": "softmax-answer", "schema_version": 3,
    }
    # The last check of softmax; log_softmax is checked again later, so only softmax counts.
    assert grader == {
        "grade": True, "solution": False, "locked": True, "points": 2.0,
        "grade_id": "softmax-check", "schema_version": 3,
    }
    assert nb.cells[4].metadata["editable"] is False
    # A cell holding both the answer and its check is an answer cell, with a unique grade_id.
    assert combined["solution"] is True and combined["grade"] is False
    assert combined["grade_id"] == "log_softmax-answer"


def test_unknown_exercise_id_is_an_error(tmp_path):
    path = write_source(tmp_path, "04_typo.md", 'check("sofmtax", f)')
    with pytest.raises(ReleaseError, match=r"04_typo\.md, cell 2: check\(\) names .*'sofmtax'"):
        build_source(path, points={"softmax": 1.0})


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_nbgrader_accepts_the_builds(built, source):
    """nbgrader validates our metadata and its own ClearSolutions gives our student notebook."""
    from nbgrader.nbgraderformat import MetadataValidator
    from nbgrader.preprocessors import ClearSolutions

    solutions = nbformat.reads(built[source].solutions, as_version=4)
    student = nbformat.reads(built[source].student, as_version=4)
    MetadataValidator().validate_nb(solutions)
    MetadataValidator().validate_nb(student)
    cleared, _ = ClearSolutions().preprocess(solutions, {})
    assert [c.source for c in cleared.cells] == [c.source for c in student.cells]
    graded = [c for c in solutions.cells if c.metadata.get("nbgrader", {}).get("grade")]
    answers = [c for c in solutions.cells if c.metadata.get("nbgrader", {}).get("solution")]
    if any(release.checked_exercises(c.source) for c in solutions.cells if c.cell_type == "code"):
        assert graded and answers, f"{source.name} calls check() but has no nbgrader cells"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_check_cells_are_worth_the_registered_points(built, source):
    points = release._registry_points()
    assert points is not None, "backprop_lib.grading should expose its exercise registry"
    nb = nbformat.reads(built[source].student, as_version=4)
    grading_cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    graded = [ex for c in grading_cells for ex in release.checked_exercises(c.source)]
    # Every checked exercise is graded exactly once (in its last check cell) ...
    checked = {ex for c in nb.cells if c.cell_type == "code"
               for ex in release.checked_exercises(c.source)}
    assert sorted(graded) == sorted(checked)
    # ... and the notebook is worth the registered points of its exercises.
    total = sum(c.metadata["nbgrader"]["points"] for c in grading_cells)
    assert total == sum(points[ex] for ex in graded) > 0


# --------------------------------------------------------------------------- committed notebooks


def test_committed_notebooks_equal_a_fresh_build():
    problems = release.out_of_date(COURSE, NOTEBOOKS)
    assert not problems, "\n".join(problems) + "\nRun `make notebooks`."


def test_notebooks_carry_no_outputs_or_state(built):
    """Committed notebooks (and fresh builds, so this holds before any are committed)."""
    texts = {p.name: p.read_text(encoding="utf-8") for p in NOTEBOOKS.glob("*.ipynb")}
    texts.update({f"fresh {nb.filename}": nb.student for nb in built.values()})
    for name, text in texts.items():
        nb = nbformat.reads(text, as_version=4)
        assert "widgets" not in nb.metadata, name
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [], f"{name}: cell {cell.id} has outputs"
                assert cell.execution_count is None, f"{name}: cell {cell.id} was executed"
            assert "BEGIN SOLUTION" not in cell.source, f"{name}: cell {cell.id} has a solution"


def test_check_mode_detects_stale_missing_and_orphaned_notebooks(tmp_path, capsys):
    course, student = tmp_path / "course", tmp_path / "nb"
    course.mkdir()
    source = write_source(course, "01_one.md", "x = 1")
    args = ["--course", str(course), "--student-dir", str(student)]

    assert release.main([*args, "--check"]) == 1  # missing
    assert release.main([*args, "--solutions-dir", str(tmp_path / "sol")]) == 0
    assert (tmp_path / "sol" / "01_one.ipynb").exists()
    assert release.main([*args, "--check"]) == 0

    write_source(course, source.name, "x = 2")
    assert release.main([*args, "--check"]) == 1  # stale
    assert "01_one.ipynb differs from a fresh build" in capsys.readouterr().err

    release.main([*args, "--solutions-dir", str(tmp_path / "sol")])
    (student / "02_gone.ipynb").write_text("{}", encoding="utf-8")
    assert release.main([*args, "--check"]) == 1  # orphan
    assert "02_gone.ipynb has no source" in capsys.readouterr().err
