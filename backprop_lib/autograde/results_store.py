"""The batch's stored records: ``DIR/results/<learner>/<notebook>.json``, one per submission.

A record is kept until the submission file, the grader (its source code) or the options
that change a grade (time limits, memory, seed) change; a re-run skips what is already
graded unless ``--force``. With ``--only``, the exercises graded now replace those of the
stored record and the others are kept. Records written by separate runs (array jobs on a
cluster, one output folder each) are merged by copying them into one output folder
(``--merge``), newest grading first.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

__all__ = ["record_path", "load_records", "load_record", "save_record", "grader_fingerprint",
           "is_current", "merge_into", "RESULTS_FOLDER"]

RESULTS_FOLDER = "results"


def record_path(out_dir, learner, notebook):
    return Path(out_dir) / RESULTS_FOLDER / learner / f"{notebook}.json"


def grader_fingerprint():
    """A hash of the grading and autograding source code of the installed package."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for folder in ("grading", "autograde"):
        for path in sorted((root / folder).rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def load_record(path):
    """The record at `path`, or None if it is missing or unreadable."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not {"learner", "notebook", "exercises"} <= set(record):
        return None
    return record


def load_records(out_dir):
    """Every record stored under `out_dir`."""
    folder = Path(out_dir) / RESULTS_FOLDER
    records = []
    for path in sorted(folder.glob("*/*.json")):
        record = load_record(path)
        if record is not None:
            records.append(record)
    return records


def save_record(out_dir, record):
    path = record_path(out_dir, record["learner"], record["notebook"])
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(temporary, path)
    return path


def is_current(record, *, sha256, fingerprint, options, wanted):
    """True if `record` already grades every exercise in `wanted` for this file and grader."""
    if record is None or record.get("sha256") != sha256:
        return False
    if record.get("fingerprint") != fingerprint or record.get("options") != options:
        return False
    if record.get("grader_faults"):
        return False
    return set(wanted) <= set(record.get("exercises", {}))


def merge_into(out_dir, sources):
    """Copy the records of other output folders into `out_dir` (the newest of each wins).

    Returns
    -------
    int
        Records copied.
    """
    copied = 0
    for source in sources:
        for record in load_records(source):
            current = load_record(record_path(out_dir, record["learner"], record["notebook"]))
            if current is not None and current.get("graded_at", "") > record.get("graded_at", ""):
                continue
            save_record(out_dir, record)
            copied += 1
    return copied
