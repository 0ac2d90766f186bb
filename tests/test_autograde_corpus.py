"""The batch autograder on the hostile corpus: each submission gets what it should.

One run of ``python -m backprop_lib.autograde`` (a real subprocess, as an instructor runs it)
over every submission of ``tests/autograde_corpus.py``, the nbgrader layout, a notebook
that is no course notebook, and the capstone (model exercises); then the tests read
grades.csv, totals.csv, the feedback pages and summary.html.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from autograde_corpus import EXERCISES, NOTEBOOK, corpus, solutions_notebook, write_corpus

from backprop_lib.autograde.answer_key import KEY_FORMAT, build_answer_key
from backprop_lib.autograde.filesystem_lockdown import landlock_abi

ABI = landlock_abi()
LEARNERS = [learner for learner, _, _ in corpus(ABI)]
LIMITS = ("--timeout", "2", "--cell-timeout", "4", "--notebook-timeout", "90", "--memory", "1024")


def _autograde(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "backprop_lib.autograde", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("autograde")
    entries = write_corpus(root, ABI)
    sol_dir = root / "instructor" / "solutions"
    sol_dir.mkdir(parents=True)
    (sol_dir / f"{NOTEBOOK}.ipynb").write_text(json.dumps(solutions_notebook()))
    answers, problems = build_answer_key([sol_dir])
    assert not problems
    key = root / "instructor" / "answer_key.json"
    key.write_text(json.dumps({"format": KEY_FORMAT, "version": 1, "answers": {
        qid: {"answer": value} for qid, value in answers.items()}}))
    nbgrader = root / "nbgrader" / "submitted" / "carol" / "ps1" / f"{NOTEBOOK}.ipynb"
    nbgrader.parent.mkdir(parents=True)
    nbgrader.write_text(json.dumps(solutions_notebook()))
    stray = root / "subs" / "dave" / "my_notes.ipynb"
    stray.parent.mkdir(parents=True)
    stray.write_text(json.dumps({"cells": [{"cell_type": "code", "source": "print(1)"}]}))
    out = root / "out"
    run = _autograde(root / "subs", root / "nbgrader" / "submitted", "--out", out,
                     "--answer-key", key, "--jobs", "2", *LIMITS, "--quiet")
    grades = defaultdict(dict)
    with open(out / "grades.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            grades[(row["learner"], row["notebook"])][row["exercise_id"]] = row
    return {"root": root, "out": out, "run": run, "entries": entries, "grades": grades,
            "key": key}


def test_the_batch_finishes_with_exit_status_zero(batch):
    run = batch["run"]
    assert run.returncode == 0, run.stdout + run.stderr
    assert "graded" in run.stdout and "summary.html" in run.stdout


def test_grades_csv_has_the_promised_columns(batch):
    with open(batch["out"] / "grades.csv", newline="") as handle:
        columns = next(csv.reader(handle))
    for column in ("learner", "notebook", "exercise_id", "status", "points_earned",
                   "points_possible", "diagnosis"):
        assert column in columns


@pytest.mark.parametrize("learner", LEARNERS)
def test_each_corpus_submission_gets_what_it_should(batch, learner):
    expected = next(e for name, _, e in batch["entries"] if name == learner)
    rows = batch["grades"][(learner, NOTEBOOK)]
    assert set(rows) == set(EXERCISES), learner
    earned = sum(float(r["points_earned"]) for r in rows.values())
    statuses = {e: r["status"] for e, r in rows.items()}
    wanted = {e: "passed" for e in EXERCISES} | expected.get("statuses", {})
    assert statuses == wanted, (learner, {e: rows[e]["message"] for e in rows})
    assert earned == expected["points"], learner
    for exercise, code in expected.get("diagnosis", {}).items():
        assert code in rows[exercise]["diagnosis"].split(";"), (learner, rows[exercise])
    record = json.loads((batch["out"] / "results" / learner / f"{NOTEBOOK}.json").read_text())
    if "cell_status" in expected:
        wanted_cells = expected["cell_status"]
        wanted_cells = (wanted_cells,) if isinstance(wanted_cells, str) else wanted_cells
        assert set(wanted_cells) & {c["status"] for c in record["cells"]}, learner


def test_nbgrader_layout_names_the_learner(batch):
    rows = batch["grades"][("carol", NOTEBOOK)]
    assert {r["status"] for r in rows.values()} == {"passed"}


def test_capstone_model_exercises_are_graded_out_of_process(tmp_path):
    # Its own run: training the capstone's classifier needs more than the corpus' 4-second
    # cells on a busy machine.
    capstone = tmp_path / "subs" / "erin" / "09_capstone.ipynb"
    capstone.parent.mkdir(parents=True)
    capstone.write_text(json.dumps(solutions_notebook("09_capstone")))
    untrained = tmp_path / "subs" / "finn" / "09_capstone.ipynb"
    untrained.parent.mkdir(parents=True)
    untrained.write_text((Path(__file__).resolve().parents[1] / "notebooks"
                          / "09_capstone.ipynb").read_text())
    run = _autograde(tmp_path / "subs", "--out", tmp_path / "out", "--jobs", "2", "--quiet")
    assert run.returncode == 0, run.stdout + run.stderr
    rows = defaultdict(dict)
    for row in csv.DictReader(open(tmp_path / "out" / "grades.csv", newline="")):
        rows[row["learner"]][row["exercise_id"]] = row
    assert {"capstone_classifier_gradcheck", "capstone_digits_exam"} <= set(rows["erin"])
    assert {r["status"] for r in rows["erin"].values()} == {"passed"}, {
        e: r["message"] for e, r in rows["erin"].items()}
    assert {r["status"] for r in rows["finn"].values()} == {"not attempted"}


def test_a_notebook_that_is_not_a_course_notebook_is_reported_not_graded(batch):
    assert not any(learner == "dave" for learner, _ in batch["grades"])
    summary = (batch["out"] / "summary.html").read_text()
    assert "dave" in summary and "not one of the course" in summary


def test_forged_output_never_reaches_the_reports(batch):
    grades = (batch["out"] / "grades.csv").read_text()
    assert "forged" not in grades
    assert not (batch["out"] / "results" / "zz_forged").exists()


def test_totals_count_every_notebook_of_the_batch(batch):
    with open(batch["out"] / "totals.csv", newline="") as handle:
        totals = {row["learner"]: row for row in csv.DictReader(handle)}
    assert float(totals["honest"]["points_earned"]) == float(totals["honest"]["points_possible"])
    assert float(totals["empty"]["points_earned"]) == 0
    assert float(totals["carol"]["points_possible"]) == float(totals["honest"]["points_possible"])


def test_feedback_pages_show_the_notebook_panels_without_hidden_data(batch):
    page = (batch["out"] / "feedback" / "check_lambda" / f"{NOTEBOOK}.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "backprop-check" in page
    assert "No max shift" in page or "overflow" in page.lower()
    assert "<script" not in page and "src=" not in page  # self-contained
    loop = (batch["out"] / "feedback" / "top_level_loop" / f"{NOTEBOOK}.html").read_text()
    assert "did not finish in time" in loop


def test_summary_names_the_class_mistakes_and_pass_rates(batch):
    summary = (batch["out"] / "summary.html").read_text()
    assert "Pass rate per exercise" in summary
    assert "overflow" in summary and "uses_reference" in summary


def test_a_rerun_skips_what_is_graded_and_keeps_the_grades(batch):
    before = (batch["out"] / "grades.csv").read_text()
    run = _autograde(batch["root"] / "subs" / "honest", "--out", batch["out"], "--answer-key",
                     batch["key"], *LIMITS, "--quiet")
    assert run.returncode == 0, run.stderr
    assert "graded 0 notebook(s)" in run.stdout and "already graded" in run.stdout
    assert (batch["out"] / "grades.csv").read_text() == before


def test_force_with_only_regrades_one_exercise(batch, tmp_path):
    out = tmp_path / "again"
    run = _autograde(batch["root"] / "subs" / "check_lambda", "--out", out, "--only", "softmax",
                     "--force", "--quiet")
    assert run.returncode == 0, run.stderr
    rows = list(csv.DictReader(open(out / "grades.csv", newline="")))
    assert [(r["exercise_id"], r["status"]) for r in rows] == [("softmax", "failed")]


def test_usage_errors_exit_two(tmp_path):
    assert _autograde(tmp_path, "--out", tmp_path / "o", "--only", "no_such").returncode == 2
    bad_key = tmp_path / "key.json"
    bad_key.write_text(json.dumps({"format": KEY_FORMAT, "answers": {
        "softmax_shift": {"answer": "z"}}}))
    run = _autograde(tmp_path, "--out", tmp_path / "o", "--answer-key", bad_key)
    assert run.returncode == 2 and "does not match" in run.stderr


def test_merging_output_folders(batch, tmp_path):
    merged = tmp_path / "merged"
    run = _autograde("--merge", batch["out"], "--out", merged, "--answer-key", batch["key"],
                     "--quiet")
    assert run.returncode == 0, run.stderr
    assert (merged / "grades.csv").read_text() == (batch["out"] / "grades.csv").read_text()
    assert Path(merged / "summary.html").is_file()
