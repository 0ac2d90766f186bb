"""``python -m backprop_lib.autograde``: the command line of the batch autograder.

::

    python -m backprop_lib.autograde SUBMISSION [SUBMISSION ...] --out DIR [--jobs N]
        [--timeout SECONDS] [--notebook-timeout SECONDS] [--memory MB]
        [--only EXERCISE_ID] [--force] [--answer-key FILE]

Exit status: 0 when the batch ran (whatever the learners scored), 1 when the grader itself
failed on some notebook (the batch still finished; ``summary.html`` lists them), 2 for a
usage error (bad option, unreadable answer key, no submissions found).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import sys
import time
from pathlib import Path

from .sandbox import BLAS_VARIABLES

__all__ = ["main", "build_parser"]

DEFAULT_TIMEOUT = 5.0
DEFAULT_NOTEBOOK_TIMEOUT = 300.0
DEFAULT_CELL_TIMEOUT = 60.0
DEFAULT_MEMORY_MB = 2048


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m backprop_lib.autograde",
        description="Grade a class's notebooks out of process, with the cases, references "
                    "and answer keys of the installed backprop_lib.")
    parser.add_argument("submissions", nargs="*", metavar="SUBMISSION",
                        help=".ipynb files or folders of them (subs/<learner>/NN_slug.ipynb, "
                             "or nbgrader's submitted/<learner>/<assignment>/*.ipynb)")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR",
                        help="where grades.csv, totals.csv, feedback/ and summary.html go")
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="submissions graded at the same time (default 1)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                        help="time limit per call of a learner's function "
                             f"(default {DEFAULT_TIMEOUT:g})")
    parser.add_argument("--notebook-timeout", type=float, default=DEFAULT_NOTEBOOK_TIMEOUT,
                        metavar="SECONDS", help="time limit for running all cells of a "
                        f"notebook (default {DEFAULT_NOTEBOOK_TIMEOUT:g})")
    parser.add_argument("--cell-timeout", type=float, default=DEFAULT_CELL_TIMEOUT,
                        metavar="SECONDS", help="time limit for one cell "
                        f"(default {DEFAULT_CELL_TIMEOUT:g})")
    parser.add_argument("--memory", type=float, default=DEFAULT_MEMORY_MB, metavar="MB",
                        help="address space a submission's process may add "
                             f"(default {DEFAULT_MEMORY_MB})")
    parser.add_argument("--only", action="append", metavar="EXERCISE_ID",
                        help="grade only this exercise (repeat for several)")
    parser.add_argument("--force", action="store_true",
                        help="grade again what is already graded")
    parser.add_argument("--answer-key", type=Path, metavar="FILE",
                        help="the instructor's answer key for question exercises "
                             "(python -m backprop_lib.autograde.answer_key); without it "
                             "questions are not graded")
    parser.add_argument("--release", type=Path, metavar="DIR",
                        help="the release (student) notebooks, to find each answer's name "
                             "(default: the notebooks/ folder of the installed course)")
    parser.add_argument("--merge", nargs="+", type=Path, metavar="DIR", default=[],
                        help="first copy the results of these output folders into --out "
                             "(array jobs: one output folder each)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the hidden cases (same seed, same cases; default 0)")
    parser.add_argument("--no-lockdown", action="store_true",
                        help="do not restrict the sandbox's filesystem (for debugging)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _protect_this_process():
    """Set up the main process: one BLAS thread for every child, not traceable (Linux)."""
    for name in BLAS_VARIABLES:
        os.environ[name] = "1"
    os.environ["MPLBACKEND"] = "Agg"
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0


def _usage_error(message):
    print(f"error: {message}", file=sys.stderr)
    return 2


def _options(args):
    return {"timeout": args.timeout, "notebook_timeout": args.notebook_timeout,
            "cell_timeout": args.cell_timeout, "memory_mb": args.memory, "seed": args.seed,
            "lockdown": not args.no_lockdown}


def _identify(submissions):
    """Tell the notebook of submissions whose file name did not, from their content."""
    from .code_extraction import exercises_named
    from .discovery import notebook_from_content
    from .notebook_reading import read_notebook

    unknown = []
    for sub in submissions:
        if sub.notebook is None:
            read = read_notebook(sub.path)
            sub.notebook = notebook_from_content(exercises_named(read.cells))
            if sub.notebook is None:
                unknown.append(sub)
    return unknown


def _tasks(submissions, args, fingerprint):
    from ..grading.registry import exercise_ids
    from .discovery import course_notebooks
    from .results_store import is_current, load_record, record_path
    from .submission_grading import file_sha256

    numbers = {stem: number for number, stem in course_notebooks().items()}
    options = _options(args)
    tasks, skipped = [], 0
    for sub in submissions:
        if sub.notebook is None:
            continue
        wanted = [i for i in exercise_ids(numbers[sub.notebook])
                  if not args.only or i in args.only]
        if not wanted:
            continue
        sha = file_sha256(sub.path)
        stored = load_record(record_path(args.out, sub.learner, sub.notebook))
        if not args.force and is_current(stored, sha256=sha, fingerprint=fingerprint,
                                         options=options, wanted=wanted):
            skipped += 1
            continue
        tasks.append({"learner": sub.learner, "notebook": sub.notebook, "path": str(sub.path),
                      "exercise_ids": wanted, "timeout": args.timeout,
                      "notebook_timeout": args.notebook_timeout,
                      "cell_timeout": args.cell_timeout,
                      "memory_bytes": int(args.memory * 2**20) if args.memory > 0 else None,
                      "batch_seed": args.seed,
                      "release_dir": str(args.release) if args.release else None,
                      "lockdown": not args.no_lockdown, "sha256": sha,
                      "fingerprint": fingerprint,
                      "duplicates": [str(d) for d in sub.duplicates]})
    return tasks, skipped


def _keep_other_exercises(record, out_dir):
    """With --only: the stored record's other exercises stay (same file, same grader)."""
    from .results_store import load_record, record_path

    stored = load_record(record_path(out_dir, record["learner"], record["notebook"]))
    if stored is None or stored.get("sha256") != record.get("sha256") \
            or stored.get("fingerprint") != record.get("fingerprint"):
        return record
    merged = dict(stored.get("exercises", {}))
    merged.update(record["exercises"])
    record["exercises"] = merged
    return record


def _unknown_records(unknown, fingerprint):
    from .submission_grading import unreadable_record

    records = []
    for sub in unknown:
        task = {"learner": sub.learner, "notebook": sub.path.stem, "path": str(sub.path),
                "exercise_ids": [], "fingerprint": fingerprint}
        records.append(unreadable_record(task, "it is not one of the course's notebooks "
                                               "(neither its name nor its content says which)"))
    return records


def main(argv=None):
    """Run the batch autograder; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.jobs < 1:
        return _usage_error("--jobs must be at least 1")
    if min(args.timeout, args.notebook_timeout, args.cell_timeout) <= 0:
        return _usage_error("time limits must be positive")
    _protect_this_process()
    from ..grading.registry import close_matches, get_exercise
    from .answer_key import AnswerKey, AnswerKeyError
    from .discovery import find_submissions
    from .reports import write_reports
    from .results_store import grader_fingerprint, load_records, merge_into, save_record

    for exercise_id in args.only or []:
        if get_exercise(exercise_id) is None:
            matches = close_matches(exercise_id)
            return _usage_error(f"--only {exercise_id}: no such exercise"
                                + (f" (did you mean {', '.join(matches)}?)" if matches else ""))
    key = None
    if args.answer_key:
        try:
            key = AnswerKey.load(args.answer_key)
        except AnswerKeyError as exc:
            return _usage_error(str(exc))
    if not args.submissions and not args.merge:
        return _usage_error("give at least one SUBMISSION (or --merge)")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.merge:
        copied = merge_into(args.out, args.merge)
        print(f"merged {copied} records from {len(args.merge)} folder(s)", file=sys.stderr)
    start = time.perf_counter()
    submissions, missing = find_submissions(args.submissions)
    for path in missing:
        print(f"warning: {path} does not exist", file=sys.stderr)
    if args.submissions and not submissions:
        return _usage_error("no .ipynb files found in " + ", ".join(args.submissions))
    unknown = _identify(submissions)
    fingerprint = grader_fingerprint()
    for record in _unknown_records(unknown, fingerprint):
        save_record(args.out, record)
    tasks, skipped = _tasks(submissions, args, fingerprint)
    if key is None:
        print("note: no --answer-key, so question exercises are not graded", file=sys.stderr)
    faults = _run(tasks, args, fingerprint, save_record)
    figures = write_reports(load_records(args.out), args.out, key)
    seconds = time.perf_counter() - start
    print(f"graded {len(tasks)} notebook(s) in {seconds:.0f} s"
          + (f", {skipped} already graded (--force grades them again)" if skipped else "")
          + f"; {figures['learners']} learner(s), {figures['submissions']} submission(s), "
            f"{figures['earned']:g} of {figures['possible']:g} points"
          + (f"; {faults} grader fault(s)" if faults else "")
          + f"; see {args.out / 'summary.html'}")
    return 1 if faults else 0


def _run(tasks, args, fingerprint, save_record):
    """Grade `tasks` with a progress bar; the number of grader faults."""
    from tqdm import tqdm

    from .batch import run_batch

    options = _options(args)
    faults = [0]
    with tqdm(total=len(tasks), unit="notebook", desc="grading", file=sys.stderr,
              disable=args.quiet or not tasks, dynamic_ncols=True) as bar:
        def on_record(task, record):
            record["options"] = options
            record["fingerprint"] = fingerprint
            if args.only:
                record = _keep_other_exercises(record, args.out)
            save_record(args.out, record)
            faults[0] += len(record.get("grader_faults", []))
            bar.set_postfix_str(f"{task['learner']}/{task['notebook']}", refresh=False)
            bar.update(1)

        run_batch(tasks, jobs=args.jobs, on_record=on_record)
    return faults[0]
