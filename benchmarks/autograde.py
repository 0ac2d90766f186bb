"""Throughput of the batch autograder: submissions of notebook 02 graded per minute.

Makes a class of COUNT submissions of ``02_softmax`` (by default 100: six in ten solved,
two in ten with the classic no-max-shift softmax, two in ten untouched), grades it with
``python -m backprop_lib.autograde`` at ``--jobs 1`` and ``--jobs 2`` side by side in one
run (each from scratch, with the instructor's answer key), and prints the wall time,
submissions per minute, and the speed-up. The issue's target: 100 submissions of one
notebook in under 5 minutes on a 2-core machine.

    python benchmarks/autograde.py              # 100 submissions, jobs 1 and 2
    python benchmarks/autograde.py --count 20 --jobs 1 2

Timings are wall-clock times of the whole command (start-up included) and are noisy on a
shared machine: run it when the machine is otherwise idle, and report the load average
printed at the end with the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from autograde_corpus import (  # noqa: E402
    NAIVE_SOFTMAX,
    NOTEBOOK,
    replace_cell,
    solutions_notebook,
    student_notebook,
)

from backprop_lib.autograde.answer_key import KEY_FORMAT, build_answer_key  # noqa: E402


def make_class(folder, count):
    solved, untouched = solutions_notebook(), student_notebook()
    wrong = replace_cell(solved, "def softmax(", NAIVE_SOFTMAX)
    kinds = [solved] * 6 + [wrong] * 2 + [untouched] * 2
    for i in range(count):
        path = Path(folder) / "subs" / f"learner{i:03d}" / f"{NOTEBOOK}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(kinds[i % len(kinds)]), encoding="utf-8")
    key_dir = Path(folder) / "instructor"
    key_dir.mkdir()
    (key_dir / f"{NOTEBOOK}.ipynb").write_text(json.dumps(solved), encoding="utf-8")
    answers, problems = build_answer_key([key_dir / f"{NOTEBOOK}.ipynb"])
    assert not problems, problems
    key = key_dir / "answer_key.json"
    key.write_text(json.dumps({"format": KEY_FORMAT, "version": 1,
                               "answers": {k: {"answer": v} for k, v in answers.items()}}))
    return Path(folder) / "subs", key


def grade(subs, key, out, jobs):
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "backprop_lib.autograde", str(subs), "--out",
                          str(out), "--answer-key", str(key), "--jobs", str(jobs), "--quiet"],
                         capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if run.returncode != 0:
        raise SystemExit(f"autograde failed ({run.returncode}):\n{run.stdout}{run.stderr}")
    return seconds, run.stdout.strip()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="autograde-bench-") as folder:
        subs, key = make_class(folder, args.count)
        print(f"{args.count} submissions of {NOTEBOOK}, {os.cpu_count()} CPU(s)")
        times = {}
        for jobs in args.jobs:
            seconds, line = grade(subs, key, Path(folder) / f"out-jobs{jobs}", jobs)
            times[jobs] = seconds
            print(f"--jobs {jobs}: {seconds:6.1f} s, {60 * args.count / seconds:6.1f} "
                  f"submissions per minute  ({line.split(';')[0]})")
        if len(times) > 1:
            first = args.jobs[0]
            for jobs in args.jobs[1:]:
                print(f"speed-up --jobs {jobs} vs --jobs {first}: "
                      f"{times[first] / times[jobs]:.2f}x")
        best = min(times.values()) * 100 / args.count
        print(f"100 submissions would take about {best / 60:.1f} min at the best --jobs "
              f"(target: under 5 min); load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
