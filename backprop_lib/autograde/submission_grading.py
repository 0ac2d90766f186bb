"""Grade one submission end to end (what a batch worker process does for each notebook).

:func:`grade_submission` reads the notebook (:mod:`.notebook_reading`), starts the sandbox
in a throwaway folder (:mod:`.sandbox`), runs the cells (:mod:`.execution`), grades each
exercise (:mod:`.exercise_grading`) and returns a plain, JSON-able *record*: what ran, what
was repaired, each exercise's CheckResult (as a dict) or, for questions, the collected
answer (scored later with the key, in the main process; see :mod:`.answer_key`).

:func:`check_result_to_dict` and :func:`check_result_from_dict` carry CheckResults through
JSON.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from ..grading.feedback import CheckResult
from ..grading.registry import get_exercise
from .code_extraction import answer_names
from .execution import NotebookSession
from .exercise_grading import PendingAnswer, grade_exercises, seed_for
from .notebook_reading import read_notebook
from .sandbox import Sandbox, SandboxLimits

__all__ = ["grade_submission", "check_result_to_dict", "check_result_from_dict",
           "unreadable_record", "RECORD_SCHEMA", "file_sha256"]

RECORD_SCHEMA = 1
_KEPT_OUTPUT = 1500


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_result_to_dict(result):
    """A CheckResult as a JSON-able dict."""
    data = dataclasses.asdict(result)
    for key in ("expected_shape", "got_shape"):
        if data[key] is not None:
            data[key] = [int(n) for n in data[key]]
    data["explanations"] = [list(pair) for pair in data["explanations"]]
    return data


def check_result_from_dict(data):
    """The CheckResult of :func:`check_result_to_dict`."""
    fields = {f.name for f in dataclasses.fields(CheckResult)}
    data = {k: v for k, v in data.items() if k in fields}
    for key in ("expected_shape", "got_shape"):
        if data.get(key) is not None:
            data[key] = tuple(data[key])
    data["explanations"] = [tuple(pair) for pair in data.get("explanations", [])]
    return CheckResult(**data)


def _json_plain(value, depth=0):
    """A plain answer from the sandbox, made JSON-able (tuples become lists)."""
    if depth > 5:
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if value is Ellipsis:
        return None
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, list)):
        return [_json_plain(v, depth + 1) for v in value]
    reason = getattr(value, "reason", None)
    if isinstance(reason, str):
        return {"reason": reason}
    return {"reason": f"a {type(value).__name__} is not a plain answer"}


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _base_record(task):
    path = Path(task["path"])
    return {"schema": RECORD_SCHEMA, "learner": task["learner"], "notebook": task["notebook"],
            "source": str(path), "sha256": task.get("sha256") or file_sha256(path),
            "fingerprint": task.get("fingerprint", ""), "batch_seed": task.get("batch_seed", 0),
            "graded_at": _now(), "seconds": 0.0, "duplicates": task.get("duplicates", []),
            "repairs": [], "read_error": None, "cells": [], "restarts": 0,
            "isolation": {}, "exercises": {}, "grader_faults": []}


def unreadable_record(task, why, *, grader_fault=False):
    """The record of a submission none of whose code could run: every exercise an error."""
    record = _base_record(task)
    record["read_error"] = why
    for exercise_id in task["exercise_ids"]:
        exercise = get_exercise(exercise_id)
        message = (f"Not graded: {why}." if grader_fault else
                   f"Not graded: your notebook could not be read: {why}.")
        result = CheckResult(exercise_id=exercise.id, status="error", passed=False, score=0.0,
                             points=exercise.points, title=exercise.title, message=message)
        record["exercises"][exercise.id] = {"result": check_result_to_dict(result)}
    if grader_fault:
        record["grader_faults"].append(why)
    return record


def _cell_entry(run):
    data = dataclasses.asdict(run)
    data["output"] = data["output"][:_KEPT_OUTPUT]
    data["error"] = data["error"][:4000]
    return data


def grade_submission(task):
    """Grade one submission; see the module docstring.

    Parameters
    ----------
    task : dict
        ``learner``, ``notebook`` (stem), ``path``, ``exercise_ids`` (to grade),
        ``timeout`` (per call), ``notebook_timeout``, ``cell_timeout``, ``memory_bytes``,
        ``batch_seed``, ``release_dir`` (or None), ``lockdown`` (bool), and optionally
        ``sha256``, ``fingerprint``, ``duplicates``.

    Returns
    -------
    dict
        The JSON-able record.
    """
    start = time.perf_counter()
    read = read_notebook(task["path"])
    if read.error:
        record = unreadable_record(task, read.error)
        record["repairs"] = read.repairs
        return record
    record = _base_record(task)
    record["repairs"] = read.repairs
    exercises = [get_exercise(i) for i in task["exercise_ids"]]
    names = answer_names(task["notebook"], exercises, task.get("release_dir"))
    seeds = {ex.id: seed_for(task["learner"], task["notebook"], ex.id, task.get("batch_seed", 0))
             for ex in exercises}
    workdir = tempfile.mkdtemp(prefix="backprop-autograde-")
    try:
        limits = SandboxLimits(workdir=workdir, memory_bytes=task.get("memory_bytes"),
                               cpu_seconds=2 * task["notebook_timeout"]
                               + 8 * task["timeout"] * max(1, len(exercises)) + 30,
                               lockdown=task.get("lockdown", True))
        session = NotebookSession(Sandbox(limits), read.cells,
                                  notebook_timeout=task["notebook_timeout"],
                                  cell_timeout=task["cell_timeout"])
        try:
            session.run()
            record["isolation"] = {"network": session.sandbox.network_isolated,
                                   "filesystem": session.sandbox.lockdown}
            results, faults = grade_exercises(session, exercises, names,
                                              timeout=task["timeout"], seeds=seeds)
        finally:
            session.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    record["grader_faults"] += faults
    record["cells"] = [_cell_entry(run) for run in session.runs]
    record["restarts"] = session.restarts
    for exercise, result in zip(exercises, results, strict=True):
        if isinstance(result, PendingAnswer):
            record["exercises"][exercise.id] = {"answer": {
                "kind": result.kind, "value": _json_plain(result.value),
                "error": result.error[:2000]}}
        else:
            record["exercises"][exercise.id] = {"result": check_result_to_dict(result),
                                                "seed": seeds[exercise.id]}
    record["seconds"] = time.perf_counter() - start
    return record
