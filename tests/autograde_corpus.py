"""The hostile corpus: one submission of notebook 02 per honest, cheating and hostile route.

Built from the release builds of ``course/02_softmax.md`` (the student notebook in
``notebooks/`` and the solutions built here, so a fresh clone needs no ``make notebooks``).
Each entry is a learner id, the notebook (JSON object, or raw bytes for a broken file) and
what the autograder must make of it: ``points`` (of 7) and the expected status of each
exercise that is not simply "passed".

Used by ``tests/test_autograde_corpus.py`` and ``benchmarks/autograde.py``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from backprop_lib.grading import release

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "02_softmax"
POINTS = 7.0
EXERCISES = ("softmax_shift", "softmax_temperature_limit", "softmax", "logsumexp_equal_logits",
             "log_softmax")


def solutions_notebook(stem=NOTEBOOK):
    """The solutions build of course/<stem>.md, as a JSON object."""
    built = release.build_source(ROOT / "course" / f"{stem}.md")
    return json.loads(built.solutions)


def student_notebook(stem=NOTEBOOK):
    return json.loads((ROOT / "notebooks" / f"{stem}.ipynb").read_text(encoding="utf-8"))


def code_cell(source, cell_id=None):
    cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
            "source": source}
    if cell_id:
        cell["id"] = cell_id
    return cell


def _index_defining(nb, text):
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code" and text in "".join(cell["source"]):
            return i
    raise KeyError(text)


def insert_after(nb, text, source):
    nb = copy.deepcopy(nb)
    i = _index_defining(nb, text)
    nb["cells"].insert(i + 1, code_cell(source, f"hostile{i}"))
    return nb


def replace_cell(nb, text, source):
    nb = copy.deepcopy(nb)
    i = _index_defining(nb, text)
    nb["cells"][i]["source"] = source
    return nb


def append_cell(nb, source, first=False):
    nb = copy.deepcopy(nb)
    cell = code_cell(source, "hostileend" if not first else "hostilestart")
    nb["cells"].insert(0 if first else len(nb["cells"]), cell)
    return nb


NAIVE_SOFTMAX = '''def softmax(z):
    """No max shift: overflows for large logits."""
    e = np.exp(np.asarray(z))
    return e / e.sum(axis=-1, keepdims=True)
'''

# Finds the batch's command line (the process with --answer-key / --out) by walking up
# the process tree, as a determined cheater would.
FIND_BATCH = '''import os
def _batch_argument(flag):
    pid = os.getpid()
    for _ in range(8):
        try:
            with open(f"/proc/{pid}/stat") as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().decode().split("\\0")
        except (OSError, ValueError, IndexError):
            return None
        if flag in args:
            return args[args.index(flag) + 1]
    return None
'''

STEAL_KEY = FIND_BATCH + '''
import json
def _stolen(question):
    try:
        with open(_batch_argument("--answer-key")) as f:
            return json.load(f)["answers"][question]["answer"]
    except Exception:
        return "z"
def answer_softmax_shift():
    return _stolen("softmax_shift")
def answer_softmax_temperature_limit():
    return _stolen("softmax_temperature_limit")
def answer_logsumexp_equal_logits():
    value = _stolen("logsumexp_equal_logits")
    return value if not isinstance(value, str) else 0.0
'''

FORGE_RESULTS = FIND_BATCH + '''
import pathlib
try:
    out = pathlib.Path(_batch_argument("--out"))
    (out / "results" / "zz_forged").mkdir(parents=True, exist_ok=True)
    (out / "grades.csv").write_text("learner,notebook,exercise_id,status\\nforged,x,y,passed\\n")
except Exception as exc:
    print("could not forge:", exc)
'''

FAKE_PROGRESS = '''import json, os, pathlib
fake = {"version": 1, "exercises": {e: {"status": "passed", "score": 2.0, "points": 2.0}
        for e in ("softmax", "log_softmax", "softmax_shift")}}
for where in (os.environ.get("BACKPROP_PROGRESS_FILE"), ".backprop_progress.json"):
    if where:
        pathlib.Path(where).write_text(json.dumps(fake))
'''

PATCH_GRADER = '''import numpy as np
import backprop_lib.grading.numeric as numeric
numeric._compare_arrays = lambda *a, **k: None
numeric.NumericExercise._compare = lambda self, case, value: None
numeric.NumericExercise.grade = lambda self, *a, **k: None
np.allclose = lambda *a, **k: True
np.isclose = lambda a, b, *r, **k: np.ones(np.shape(a), dtype=bool)
import backprop_lib.grading as grading
grading.check = lambda *a, **k: None
'''


def _fake_outputs(nb):
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and "check(" in "".join(cell["source"]):
            cell["outputs"] = [{"output_type": "execute_result", "execution_count": 1,
                                "metadata": {}, "data": {"text/plain": "softmax: passed -- 2 / 2"}}]
            cell["metadata"].setdefault("nbgrader", {})["points"] = 100
    nb["metadata"]["backprop_grades"] = {"softmax": "passed"}
    return nb


def _every_cell_twice(nb):
    nb = copy.deepcopy(nb)
    nb["cells"] = [copy.deepcopy(c) for c in nb["cells"] for _ in range(2)]
    return nb


def _reversed(nb):
    nb = copy.deepcopy(nb)
    nb["cells"] = nb["cells"][::-1]
    return nb


def _without_ids_and_metadata(nb):
    nb = copy.deepcopy(nb)
    nb["nbformat_minor"] = 4
    nb.pop("metadata", None)
    for cell in nb["cells"]:
        cell.pop("id", None)
        cell.pop("metadata", None)
        if cell["cell_type"] == "code":
            cell.pop("outputs", None)
            cell["source"] = "".join(cell["source"]).splitlines(True)
    return nb


def _without(nb, text):
    nb = copy.deepcopy(nb)
    del nb["cells"][_index_defining(nb, text)]
    return nb


def corpus(landlock_abi):
    """[(learner, notebook JSON object or bytes, expectation dict)].

    Expectation keys: ``points`` (total earned of 7), ``statuses`` (exercise -> status for
    the exercises that do not pass), ``diagnosis`` (exercise -> a code that must be named),
    ``cell_status`` (a cell status the feedback must report).
    """
    sol, stu = solutions_notebook(), student_notebook()
    all_not_attempted = {e: "not attempted" for e in EXERCISES}
    entries = [
        ("honest", sol, {"points": 7}),
        ("empty", stu, {"points": 0, "statuses": all_not_attempted}),
        ("check_lambda", append_cell(replace_cell(sol, "def softmax(", NAIVE_SOFTMAX),
                                     "check = lambda *a, **k: None", first=True),
         {"points": 5, "statuses": {"softmax": "failed"}, "diagnosis": {"softmax": "overflow"}}),
        ("patched_grader", append_cell(replace_cell(sol, "def softmax(", NAIVE_SOFTMAX),
                                       PATCH_GRADER, first=True),
         {"points": 5, "statuses": {"softmax": "failed"}}),
        ("fake_progress", append_cell(_fake_outputs(stu), FAKE_PROGRESS),
         {"points": 0, "statuses": all_not_attempted}),
        ("uses_reference", replace_cell(sol, "def softmax(", "softmax = reference_softmax\n"),
         {"points": 5, "statuses": {"softmax": "failed"},
          "diagnosis": {"softmax": "uses_reference"}}),
        ("reloads_reference", replace_cell(sol, "def softmax(", (
            "import importlib\nimport backprop_lib.functional as F\nimportlib.reload(F)\n"
            "softmax = F.softmax\n")),
         {"points": 5, "statuses": {"softmax": "failed"},
          "diagnosis": {"softmax": "uses_reference"}}),
        ("reloads_reference_in_answer", replace_cell(sol, "def softmax(", (
            "import importlib\nimport backprop_lib.functional as F\n"
            "def softmax(z):\n    return importlib.reload(F).softmax(z)\n")),
         {"points": 5, "statuses": {"softmax": "failed"},
          "diagnosis": {"softmax": "uses_reference"}}),
        ("top_level_loop", insert_after(sol, "def softmax(", "while True:\n    pass\n"),
         {"points": 7, "cell_status": "timeout"}),
        ("swallows_base_exception", insert_after(sol, "def softmax(", (
            "while True:\n    try:\n        while True:\n            pass\n"
            "    except BaseException:\n        pass\n")),
         {"points": 7, "cell_status": "timeout"}),
        ("os_exit", insert_after(sol, "def softmax(", "import os\nos._exit(3)\n"),
         {"points": 7, "cell_status": "exit"}),
        ("sys_exit", insert_after(sol, "def softmax(", "import sys\nsys.exit('bye')\n"),
         {"points": 7, "cell_status": "exit"}),
        ("memory_bomb", insert_after(sol, "def softmax(", (
            "def bomb():\n    hog = []\n    while True:\n        hog.append(bytearray(2**28))\n"
            "\nbomb()\n")),
         # MemoryError at the limit; on a very busy machine filling the memory may take
         # longer than the cell's time limit instead
         {"points": 7, "cell_status": ("error", "timeout")}),
        ("sleep_forever", insert_after(sol, "def log_softmax(",
                                       "import time\ntime.sleep(10**9)\n"),
         {"points": 7, "cell_status": "timeout"}),
        ("raising_cell", replace_cell(sol, "def log_softmax(", "undefined_helper()\n" + "".join(
            sol["cells"][_index_defining(sol, "def log_softmax(")]["source"])),
         {"points": 5, "statuses": {"log_softmax": "not attempted"}, "cell_status": "error"}),
        ("invalid_json", json.dumps(sol).encode()[:5000],
         {"points": 0, "statuses": {e: "error" for e in EXERCISES}}),
        ("deleted_cell", _without(sol, "def softmax("),
         {"points": 5, "statuses": {"softmax": "not attempted"}}),
        ("duplicated_cells", _every_cell_twice(sol), {"points": 7}),
        ("reordered_cells", _reversed(sol), {"points": 7}),
        ("no_ids_no_metadata", _without_ids_and_metadata(sol), {"points": 7}),
        ("function_loops", replace_cell(sol, "def softmax(",
                                        "def softmax(z):\n    while True:\n        pass\n"),
         {"points": 5, "statuses": {"softmax": "timeout"}}),
        ("function_exits", replace_cell(sol, "def log_softmax(",
                                        "import os\ndef log_softmax(z):\n    os._exit(1)\n"),
         {"points": 5, "statuses": {"log_softmax": "error"}}),
        ("function_memory_bomb", replace_cell(
            sol, "def softmax(", "def softmax(z):\n    return np.ones((2**20, 2**20))\n"),
         {"points": 5, "statuses": {"softmax": "error"}}),
    ]
    if landlock_abi >= 1:
        entries.append(("steal_key", append_cell(sol, STEAL_KEY),
                        {"points": 4, "statuses": {"softmax_shift": "failed",
                                                   "softmax_temperature_limit": "failed",
                                                   "logsumexp_equal_logits": "failed"}}))
        entries.append(("forge_results", append_cell(sol, FORGE_RESULTS), {"points": 7}))
    if landlock_abi >= 6:
        entries.append(("kill_grader", insert_after(sol, "def softmax(", (
            "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n")),
            {"points": 7, "cell_status": "error"}))
    return entries


def write_corpus(folder, landlock_abi):
    """Write the corpus under `folder`/subs/<learner>/02_softmax.ipynb; returns it."""
    entries = corpus(landlock_abi)
    for learner, notebook, _ in entries:
        path = Path(folder) / "subs" / learner / f"{NOTEBOOK}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        data = notebook if isinstance(notebook, bytes) else json.dumps(notebook, indent=1)
        if isinstance(data, str):
            path.write_text(data, encoding="utf-8")
        else:
            path.write_bytes(data)
    return entries
