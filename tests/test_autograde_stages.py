"""The autograder's stages one by one: discovery, reading, extraction, sandbox, key, store."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from backprop_lib.autograde import code_extraction, discovery, notebook_reading
from backprop_lib.autograde.answer_key import AnswerKey, AnswerKeyError, score_answer
from backprop_lib.autograde.child_side import REFERENCE_TAG, resolve_reference
from backprop_lib.autograde.exercise_grading import PendingAnswer, seed_for
from backprop_lib.autograde.filesystem_lockdown import landlock_abi
from backprop_lib.autograde.results_store import is_current, load_records, merge_into, save_record
from backprop_lib.autograde.sandbox import Sandbox, SandboxLimits, transportable_args
from backprop_lib.grading.registry import all_exercises, get_exercise

ROOT = Path(__file__).resolve().parents[1]


def _nb(path, cells=("x = 1",)):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"cells": [{"cell_type": "code", "source": c} for c in cells]}))
    return path


# -- discovery ------------------------------------------------------------------------


def test_learner_is_the_folder_name_in_every_layout(tmp_path):
    _nb(tmp_path / "subs" / "alice" / "02_softmax.ipynb")
    _nb(tmp_path / "subs" / "bob" / "hw" / "03_softmax_jacobian.ipynb")
    _nb(tmp_path / "nbg" / "submitted" / "carol" / "ps1" / "02_softmax.ipynb")
    _nb(tmp_path / "nbg" / "submitted" / "dan" / "02_softmax" / "02_softmax.ipynb")
    _nb(tmp_path / "subs" / "alice" / ".ipynb_checkpoints" / "02_softmax-checkpoint.ipynb")
    found, missing = discovery.find_submissions([tmp_path / "subs", tmp_path / "nbg",
                                                 tmp_path / "nowhere"])
    assert missing == [str(tmp_path / "nowhere")]
    assert [(s.learner, s.notebook) for s in found] == [
        ("alice", "02_softmax"), ("bob", "03_softmax_jacobian"), ("carol", "02_softmax"),
        ("dan", "02_softmax")]


def test_a_single_learner_folder_or_file_belongs_to_that_folder(tmp_path):
    path = _nb(tmp_path / "erin" / "02_softmax (1).ipynb")
    for given in (tmp_path / "erin", path):
        (sub,), _ = discovery.find_submissions([given])
        assert (sub.learner, sub.notebook) == ("erin", "02_softmax")


def test_duplicates_keep_the_release_name_and_are_reported(tmp_path):
    copy = _nb(tmp_path / "s" / "fay" / "02_softmax-Copy1.ipynb")
    exact = _nb(tmp_path / "s" / "fay" / "02_softmax.ipynb")
    os.utime(copy, (2e9, 2e9))  # the copy is newer, but the exact name wins
    (sub,), _ = discovery.find_submissions([tmp_path / "s"])
    assert sub.path == exact and sub.duplicates == [copy]


def test_which_notebook_from_the_name_or_the_checks_in_it():
    assert discovery.notebook_from_name("02_softmax-Copy1.ipynb") == "02_softmax"
    assert discovery.notebook_from_name("homework.ipynb") is None
    assert discovery.notebook_from_content(["softmax", "log_softmax", "cross_entropy"]) \
        == "02_softmax"
    assert discovery.notebook_from_content(["not_an_exercise"]) is None


# -- reading --------------------------------------------------------------------------


def test_reading_repairs_what_it_can():
    text = json.dumps({"cells": [
        {"cell_type": "code", "id": "a", "source": ["x = ", "1\n"]},
        {"source": "y = 2", "outputs": []},
        "garbage",
        {"cell_type": "markdown", "id": "a", "source": "# title"}]})
    read = notebook_reading.parse_notebook(b"\xef\xbb\xbf" + text.encode() + b"\n}}junk")
    assert read.error is None
    assert [(c.cell_type, c.source) for c in read.cells] == [
        ("code", "x = 1\n"), ("code", "y = 2"), ("markdown", "# title")]
    joined = " ".join(read.repairs)
    for word in ("byte-order mark", "after the notebook", "cell_type", "not JSON objects",
                 "no id", "more than once"):
        assert word in joined


def test_reading_an_nbformat3_notebook():
    text = json.dumps({"nbformat": 3, "worksheets": [{"cells": [
        {"cell_type": "code", "input": ["a = 1"]}]}]})
    read = notebook_reading.parse_notebook(text)
    assert [c.source for c in read.cells] == ["a = 1"]


@pytest.mark.parametrize("data, words", [
    (b"{\"cells\": [", "JSON is invalid"),
    (b"[1, 2]", "not a notebook"),
    (b"{\"metadata\": {}}", "no list of cells"),
])
def test_unreadable_files_say_why(data, words):
    read = notebook_reading.parse_notebook(data)
    assert read.cells == [] and words in read.error


# -- extraction -----------------------------------------------------------------------


def test_magics_and_shell_commands_call_the_stand_in():
    code = code_extraction.cell_code("%matplotlib inline\n!pip install x\nimport numpy as np")
    assert "get_ipython" not in code
    assert "_autograde_magics.run_line_magic('matplotlib', 'inline')" in code
    assert "_autograde_magics.system('pip install x')" in code


def test_defined_names():
    code = "import numpy as np\nfrom a import b as c\ndef f(): pass\nclass K: pass\nx, y = 1, 2"
    assert code_extraction.defined_names(code) == {"np", "c", "f", "K", "x", "y"}
    assert code_extraction.defined_names("def (:") == set()


def test_answer_names_from_the_release_agree_with_the_convention():
    for exercise in all_exercises():
        stem = discovery.course_notebooks()[exercise.notebook]
        from_release = code_extraction._release_check_names(ROOT / "notebooks" / f"{stem}.ipynb")
        assert from_release.get(exercise.id) == code_extraction.conventional_name(exercise), \
            exercise.id


def test_every_case_of_every_exercise_can_travel_to_the_sandbox():
    for exercise in all_exercises():
        if exercise.kind == "function":
            cases = list(exercise.public_cases()) + list(
                exercise.hidden_cases(np.random.default_rng(0)))
            for case in cases:
                sent = transportable_args(case.args, exercise)
                for original, value in zip(case.args, sent, strict=True):
                    assert resolve_reference(value) is original or value is original
        elif exercise.kind == "model":
            args, _ = exercise.make_args(np.random.default_rng(0))
            transportable_args(args, exercise)


def test_references_name_only_backprop_lib_objects():
    with pytest.raises(ValueError):
        resolve_reference((REFERENCE_TAG, "os", "system", -1))


def test_seeds_are_stable_and_differ_between_learners():
    assert seed_for("a", "02_softmax", "softmax") == seed_for("a", "02_softmax", "softmax")
    assert seed_for("a", "02_softmax", "softmax") != seed_for("b", "02_softmax", "softmax")


# -- the sandbox ----------------------------------------------------------------------


@pytest.fixture
def sandbox(tmp_path):
    box = Sandbox(SandboxLimits(workdir=str(tmp_path), memory_bytes=512 * 2**20,
                                output_chars=200))
    assert box.start().kind == "ok"
    yield box
    box.close()


def _value(box, code):
    assert box.run_cell(f"_result = {code}", timeout=10).kind == "ok"
    return box.answer_value("_result", timeout=10).value


def test_the_sandbox_environment_is_scrubbed(sandbox, tmp_path, monkeypatch):
    assert _value(sandbox, "__import__('os').getcwd()") == str(tmp_path)
    names = _value(sandbox, "sorted(__import__('os').environ)")
    assert "OPENBLAS_NUM_THREADS" in names and not any("TOKEN" in n or "SSH" in n
                                                       for n in names)
    assert _value(sandbox, "__import__('os').environ['HOME']") == str(tmp_path)


def test_the_sandbox_neutralises_check_and_caps_output(sandbox):
    assert sandbox.run_cell("from backprop_lib.grading import check\n"
                            "r = check('softmax', print)", timeout=10).kind == "ok"
    assert _value(sandbox, "r.status") == "not attempted"
    outcome = sandbox.run_cell("print('x' * 100000)", timeout=10)
    assert len(outcome.output) < 400


def test_the_sandbox_limits_memory(sandbox):
    outcome = sandbox.run_cell("b = bytearray(2 * 2**30)", timeout=10)
    assert outcome.kind == "exception" and "MemoryError" in outcome.error
    assert sandbox.alive


def test_the_sandbox_has_no_network(sandbox):
    if not sandbox.network_isolated and landlock_abi() < 4:
        pytest.skip("this system allows neither a network namespace nor Landlock TCP rules")
    outcome = sandbox.run_cell("import socket\nsocket.create_connection(('127.0.0.1', 9), 2)",
                               timeout=10)
    assert outcome.kind == "exception"
    assert "OSError" in outcome.error or "Error" in outcome.error.split(":")[0]


@pytest.mark.skipif(landlock_abi() < 1, reason="no Landlock on this system")
def test_landlock_keeps_the_sandbox_out_of_other_folders(sandbox, tmp_path_factory):
    secret = tmp_path_factory.mktemp("instructor") / "answer_key.json"
    secret.write_text("{}")
    outcome = sandbox.run_cell(f"open({str(secret)!r}).read()", timeout=10)
    assert outcome.kind == "exception" and "PermissionError" in outcome.error
    assert sandbox.run_cell("import backprop_lib.plots, numpy", timeout=30).kind == "ok"


def test_a_killed_sandbox_reports_it(sandbox):
    outcome = sandbox.run_cell("import os\nos._exit(4)", timeout=10)
    assert outcome.kind == "exit" and "4" in outcome.error
    assert not sandbox.alive
    assert sandbox.run_cell("x = 1", timeout=5).kind == "crashed"


# -- the answer key -------------------------------------------------------------------


def test_the_key_is_checked_against_the_package():
    with pytest.raises(AnswerKeyError, match="not a question"):
        AnswerKey({"softmax": "a"})
    with pytest.raises(AnswerKeyError, match="cannot be read"):
        AnswerKey({"shape_of_dW": "not a shape"})
    wrong = next(letter for letter in "abcd" if not _is_right("softmax_shift", letter))
    with pytest.raises(AnswerKeyError, match="does not match"):
        AnswerKey({"softmax_shift": wrong})


def _is_right(question_id, answer):
    from backprop_lib.grading.questions import answer_hash

    question = get_exercise(question_id)
    return answer_hash(question.id, question.answer_kind, answer) == question.answer_hash


def test_student_stubs_give_no_key():
    from backprop_lib.autograde.answer_key import build_answer_key

    answers, problems = build_answer_key([ROOT / "notebooks" / "02_softmax.ipynb"])
    assert answers == {} and len(problems) == 3


@pytest.fixture(scope="module")
def real_key(tmp_path_factory):
    from autograde_corpus import solutions_notebook

    from backprop_lib.autograde.answer_key import build_answer_key

    folder = tmp_path_factory.mktemp("solutions")
    (folder / "01_shapes_and_conventions.ipynb").write_text(
        json.dumps(solutions_notebook("01_shapes_and_conventions")))
    answers, problems = build_answer_key([folder])
    assert not problems and set(answers) == {"shape_of_Z_column", "shape_of_dW",
                                             "shape_broadcast_trap"}
    return AnswerKey(answers), answers


def test_scoring_against_the_key(real_key):
    key, answers = real_key
    question = get_exercise("shape_of_dW")
    right = tuple(answers["shape_of_dW"])

    def score(kind, value=None):
        return score_answer(question, PendingAnswer(question.id, kind, value), key)

    assert score("ok", list(right)).status == "passed"
    transposed = score("ok", right[::-1])
    assert transposed.status == "failed" and "transposed" in transposed.diagnosis
    assert score("ok", None).status == "not attempted"
    assert score("not_implemented").status == "not attempted"
    assert score("timeout").status == "timeout"
    assert score("exception").status == "error"
    assert score("ok", "not a shape").status == "failed"
    other = get_exercise("softmax_shift")
    assert score_answer(other, PendingAnswer(other.id, "ok", "b"), key).status == "error"


# -- the store ------------------------------------------------------------------------


def test_records_are_current_until_file_grader_or_options_change():
    record = {"sha256": "s", "fingerprint": "f", "options": {"t": 1}, "grader_faults": [],
              "exercises": {"softmax": {}}}
    same = dict(sha256="s", fingerprint="f", options={"t": 1}, wanted=["softmax"])
    assert is_current(record, **same)
    for change in ({"sha256": "x"}, {"fingerprint": "x"}, {"options": {"t": 2}},
                   {"wanted": ["softmax", "log_softmax"]}):
        assert not is_current(record, **{**same, **change})
    assert not is_current({**record, "grader_faults": ["bug"]}, **same)


def test_merging_keeps_the_newest_record(tmp_path):
    old = {"learner": "a", "notebook": "02_softmax", "exercises": {}, "graded_at": "2024-01-01"}
    new = {**old, "graded_at": "2025-01-01"}
    save_record(tmp_path / "one", old)
    save_record(tmp_path / "two", new)
    save_record(tmp_path / "all", new)
    assert merge_into(tmp_path / "all", [tmp_path / "one"]) == 0
    assert load_records(tmp_path / "all")[0]["graded_at"] == "2025-01-01"


def test_memory_limited_cases_are_measured_by_the_parent(sandbox):
    exercise = get_exercise("softmax_vjp")
    sandbox.run_cell("import numpy as np\n"
                     "def with_j(s, g):\n"
                     "    J = s[..., :, None] * (np.eye(s.shape[-1]) - s[..., None, :])\n"
                     "    return np.einsum('...k,...kj->...j', g, J)\n"
                     "def vjp(s, g):\n"
                     "    return s * (g - (g * s).sum(axis=-1, keepdims=True))\n", timeout=10)
    honest = exercise.grade("vjp", timeout=5, seed=1, executor=sandbox.executor(exercise, "vjp"))
    assert honest.status == "passed", honest.message
    wasteful = exercise.grade("with_j", timeout=5, seed=1,
                              executor=sandbox.executor(exercise, "with_j"))
    assert wasteful.status == "failed" and "MiB" in wasteful.message, wasteful.message


def test_the_worker_preload_holds_everything_a_worker_imports():
    import subprocess
    import sys

    code = ("import sys, backprop_lib.autograde.worker, backprop_lib.autograde.batch\n"
            "before = set(sys.modules)\n"
            "from backprop_lib.autograde.submission_grading import grade_submission\n"
            "print(sorted(set(sys.modules) - before), 'jupytext' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert run.stdout.split() == ["[]", "False"]
