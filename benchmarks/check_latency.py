"""check() latency per exercise: the in-process runner and the child-process runner side by side.

For every numeric exercise of the course, the model answer is taken from the course
sources themselves (``course/NN_*.md``, whose code cells hold the solutions): the code
cells run in a fresh namespace in which ``check`` only records what it is handed. Then
each answer is checked ``--repeats`` times with each runner, alternating
(``BACKPROP_CHECK_ISOLATION=inprocess`` / ``process``), and the script prints the
median and maximum wall-clock time of ``check()`` per exercise and the ratio of the
medians. Progress goes to a temporary file.

    python benchmarks/check_latency.py [--repeats 15] [--only softmax,softmax_vjp]

Timings depend on the load of the machine; run it a few times.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import jupytext  # noqa: E402 - after choosing the matplotlib backend
import matplotlib.pyplot as plt  # noqa: E402

from backprop_lib.grading import check  # noqa: E402
from backprop_lib.grading.registry import get_exercise  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def model_answers(course_dir):
    """exercise id -> the answer the solved course notebooks hand to ``check``."""
    answers = {}

    def recording_check(exercise_id, answer, **kwargs):
        answers[exercise_id] = answer

    for path in sorted(Path(course_dir).glob("[0-9][0-9]_*.md")):
        notebook = jupytext.read(path, fmt="md:myst")
        namespace = {"__name__": "__main__"}
        for cell in notebook.cells:
            if cell.cell_type != "code":
                continue
            source = "\n".join(line for line in cell.source.splitlines()
                               if not line.lstrip().startswith(("%", "!")))
            namespace.update(check=recording_check, hint=lambda *a, **k: None,
                             progress=lambda *a, **k: None)
            try:
                with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    exec(compile(source, f"{path.name}", "exec"), namespace)  # noqa: S102
            except Exception as exc:  # noqa: BLE001 - report and go on with the next cell
                print(f"  ({path.name}: a cell raised {type(exc).__name__}: {exc})",
                      file=sys.stderr)
            namespace.update(check=recording_check)
            plt.close("all")
    return {ex_id: answer for ex_id, answer in answers.items()
            if getattr(get_exercise(ex_id), "kind", None) == "function"}


def time_check(exercise_id, answer, isolation):
    os.environ["BACKPROP_CHECK_ISOLATION"] = isolation
    start = time.perf_counter()
    result = check(exercise_id, answer)
    return time.perf_counter() - start, result.status


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--only", default="", help="comma-separated exercise ids")
    parser.add_argument("--course", default=str(ROOT / "course"))
    args = parser.parse_args(argv)

    answers = model_answers(args.course)
    if args.only:
        wanted = {x.strip() for x in args.only.split(",")}
        answers = {k: v for k, v in answers.items() if k in wanted}
    runners = ("inprocess", "process")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["BACKPROP_PROGRESS_FILE"] = str(Path(tmp) / "progress.json")
        rows = []
        for exercise_id, answer in answers.items():
            times = {runner: [] for runner in runners}
            statuses = set()
            for runner in runners:  # warm-up: imports, caches, first fork
                statuses.add(time_check(exercise_id, answer, runner)[1])
            for _ in range(args.repeats):
                for runner in runners:
                    seconds, status = time_check(exercise_id, answer, runner)
                    times[runner].append(seconds)
                    statuses.add(status)
            rows.append((exercise_id, times, statuses))

    print(f"check() latency for the model answer, {args.repeats} runs per runner "
          f"(Python {sys.version.split()[0]}, {os.cpu_count()} CPUs)")
    header = (f"{'exercise':<26} {'in-process median':>17} {'max':>7}   "
              f"{'child process median':>20} {'max':>7}   {'ratio':>5}  status")
    print(header)
    print("-" * len(header))
    medians = {runner: [] for runner in runners}
    for exercise_id, times, statuses in rows:
        cells = []
        for runner in runners:
            median = statistics.median(times[runner])
            medians[runner].append(median)
            cells.append((median, max(times[runner])))
        (m_in, x_in), (m_ch, x_ch) = cells
        print(f"{exercise_id:<26} {m_in * 1000:>15.1f}ms {x_in * 1000:>5.0f}ms   "
              f"{m_ch * 1000:>18.1f}ms {x_ch * 1000:>5.0f}ms   {m_ch / m_in:>5.2f}  "
              f"{'/'.join(sorted(statuses))}")
    if rows:
        m_in = statistics.median(medians["inprocess"])
        m_ch = statistics.median(medians["process"])
        print("-" * len(header))
        print(f"{'median over exercises':<26} {m_in * 1000:>15.1f}ms {'':>7}   "
              f"{m_ch * 1000:>18.1f}ms {'':>7}   {m_ch / m_in:>5.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
