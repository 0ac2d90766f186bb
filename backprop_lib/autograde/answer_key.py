"""The instructor's answer key for question exercises, and scoring answers against it.

Why a key: the package stores each question's answer only as a salted SHA-256 hash, which
serves a learner studying alone. A class grade must not rest on it: the answers are a
letter, a short shape or a number, so anyone can recover them offline by hashing every
candidate. The autograder therefore scores questions against a key that no learner's code
can read:

- the instructor makes it from the solution notebooks (``make notebooks`` writes them to
  ``build/solutions/``)::

      python -m backprop_lib.autograde.answer_key build/solutions -o ~/grading/answer_key.json

  which runs each solution notebook in the same sandbox as a submission, collects every
  question's answer, and checks each against the package's hash (so a key never disagrees
  with the course);
- the batch is given it with ``--answer-key FILE``. It is read only by the batch's main
  process, which never runs learner code and never forks a process that does: the worker
  processes that fork the sandboxes never see it (a sandbox could otherwise find it in
  its memory), and Landlock keeps the sandboxes out of every folder but Python's own,
  the package's and their throwaway one, so the key file cannot be opened from there
  either. Keep it outside the submissions folder (it is not secret from the instructor's
  own account; on a system without Landlock, run the batch as a user who cannot read it).

Without ``--answer-key`` the batch does not grade questions at all (it says so), rather
than grade them on the public hashes.

The key file is JSON::

    {"format": "backprop_lib answer key", "version": 1,
     "answers": {"softmax_shift": {"kind": "choice", "answer": "b"}, ...}}
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from ..grading.feedback import CheckResult
from ..grading.questions import AnswerFormatError, Question, answer_hash, normalise
from ..grading.registry import all_exercises, get_exercise

__all__ = ["AnswerKey", "AnswerKeyError", "build_answer_key", "score_answer", "KEY_FORMAT"]

KEY_FORMAT = "backprop_lib answer key"
KEY_VERSION = 1


class AnswerKeyError(ValueError):
    """The answer key file is missing, malformed, or disagrees with the installed package."""


def _questions():
    return {ex.id: ex for ex in all_exercises() if isinstance(ex, Question)}


class AnswerKey:
    """Normalised correct answers by question id, checked against the package's hashes.

    Parameters
    ----------
    answers : dict
        question id -> the correct answer (any form :func:`normalise` reads).
    source : str
        Where the key came from, for messages.

    Raises
    ------
    AnswerKeyError
        If an id is not a registered question, or an answer does not match its hash.
    """

    def __init__(self, answers, source="answer key"):
        questions = _questions()
        self.source = source
        self._normalised = {}
        for question_id, answer in answers.items():
            question = questions.get(question_id)
            if question is None:
                raise AnswerKeyError(f"{source}: {question_id!r} is not a question of this "
                                     "version of backprop_lib")
            try:
                matches = answer_hash(question.id, question.answer_kind, answer) \
                    == question.answer_hash
                text = normalise(question.answer_kind, answer)
            except AnswerFormatError as exc:
                raise AnswerKeyError(f"{source}: the answer to {question_id!r} cannot be read "
                                     f"({exc})") from exc
            if not matches:
                raise AnswerKeyError(
                    f"{source}: the answer to {question_id!r} does not match the installed "
                    "package's question (a key made for another version of the course?). "
                    "Make the key again from the solution notebooks.")
            self._normalised[question_id] = text

    @classmethod
    def load(cls, path):
        """Read a key file written by :func:`build_answer_key`."""
        try:
            document = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise AnswerKeyError(f"cannot read the answer key {path}: {exc}") from exc
        if not isinstance(document, dict) or document.get("format") != KEY_FORMAT:
            raise AnswerKeyError(f"{path} is not a backprop_lib answer key")
        answers = document.get("answers")
        if not isinstance(answers, dict):
            raise AnswerKeyError(f"{path} has no answers")
        plain = {}
        for question_id, entry in answers.items():
            if not isinstance(entry, dict) or "answer" not in entry:
                raise AnswerKeyError(f"{path}: the entry for {question_id!r} has no answer")
            plain[str(question_id)] = entry["answer"]
        return cls(plain, source=str(path))

    def __contains__(self, question_id):
        return question_id in self._normalised

    def __len__(self):
        return len(self._normalised)

    def ids(self):
        return sorted(self._normalised)

    def is_correct(self, question, answer):
        """True if `answer` is the key's answer to `question` (AnswerFormatError if unreadable)."""
        return normalise(question.answer_kind, answer) == self._normalised[question.id]

    def transposed(self, question, answer):
        """For shape questions: True if `answer` is the right shape in reverse order."""
        if question.answer_kind != "shape":
            return False
        dims = normalise("shape", answer).split(":")[1].split(",")
        return len(dims) > 1 and f"shape:{','.join(dims[::-1])}" == self._normalised[
            question.id]


def score_answer(question, pending, key):
    """The CheckResult of a question answer collected from the sandbox, scored with `key`.

    Parameters
    ----------
    question : Question
    pending : PendingAnswer or dict
        With ``kind``, ``value`` and ``error``.
    key : AnswerKey

    Returns
    -------
    CheckResult
        Passed or failed by the key alone; the feedback for a wrong answer (a transposed
        shape, the question's notes on likely wrong answers) is the notebook's.
    """
    kind = pending["kind"] if isinstance(pending, dict) else pending.kind
    value = pending["value"] if isinstance(pending, dict) else pending.value
    error = pending["error"] if isinstance(pending, dict) else pending.error
    base = dict(exercise_id=question.id, points=question.points, title=question.title,
                hint_call=f'hint("{question.id}")')
    if question.id not in key:
        return CheckResult(status="error", passed=False, score=0.0, message=(
            "Not graded: the instructor's answer key has no answer to this question."), **base)
    if kind == "not_implemented" or (kind == "ok" and (value is None or value is Ellipsis)):
        return CheckResult(status="not attempted", passed=False, score=0.0, message=(
            "Not attempted yet: replace the placeholder with your answer."), **base)
    if kind != "ok":
        return CheckResult(status="timeout" if kind == "timeout" else "error", passed=False,
                           score=0.0, error=str(error),
                           message="Your answer function did not return an answer.", **base)
    if isinstance(value, dict) and "reason" in value:
        return CheckResult(status="failed", passed=False, score=0.0,
                           message=f"Your answer could not be read: {value['reason']}", **base)
    try:
        correct = key.is_correct(question, value)
        if question.answer_kind == "choice" and question.options:
            letter = normalise("choice", value).split(":")[1]
            if letter not in question.options:
                raise AnswerFormatError(f"choose one of {', '.join(question.options)} "
                                        f"(got {letter!r})")
    except AnswerFormatError as exc:
        return CheckResult(status="failed", passed=False, score=0.0,
                           message=f"Your answer could not be read: {exc}.", **base)
    if correct:
        return CheckResult(status="passed", passed=True, score=question.points,
                           message="Correct.", explanation=question.explanation, **base)
    codes, sentences = [], []
    if question.answer_kind == "shape":
        codes.append("shape")
        if key.transposed(question, value):
            codes.insert(0, "transposed")
            sentences.append(("Transposed", "You have the right numbers in the opposite "
                              "order: check which axis is which."))
    specific = question.wrong_feedback.get(answer_hash(question.id, question.answer_kind,
                                                       value))
    if specific:
        sentences.append(("About your answer", specific))
    return CheckResult(status="failed", passed=False, score=0.0, diagnosis=codes,
                       explanations=sentences,
                       message="Not quite. Think it through again, or ask for a hint.", **base)


# ---------------------------------------------------------------------------
# Making the key from the solution notebooks
# ---------------------------------------------------------------------------


def build_answer_key(solution_paths, *, notebook_timeout=600.0, cell_timeout=300.0):
    """Run solution notebooks in the sandbox and collect every question's answer.

    Parameters
    ----------
    solution_paths : list of Path
        Solution notebooks (``build/solutions/NN_slug.ipynb``) or folders of them.

    Returns
    -------
    answers : dict
        question id -> plain answer, each checked against the package's hash.
    problems : list of str
        Questions whose answer could not be collected or does not match.
    """
    from .code_extraction import answer_names
    from .discovery import find_submissions
    from .execution import NotebookSession
    from .exercise_grading import PendingAnswer, grade_exercises
    from .notebook_reading import read_notebook
    from .sandbox import Sandbox, SandboxLimits

    submissions, missing = find_submissions(solution_paths)
    problems = [f"{path}: no such file or folder" for path in missing]
    answers = {}
    for sub in submissions:
        if sub.notebook is None:
            continue
        notebook_number = int(sub.notebook[:2])
        questions = [q for q in _questions().values() if q.notebook == notebook_number]
        if not questions:
            continue
        read = read_notebook(sub.path)
        with tempfile.TemporaryDirectory(prefix="backprop-key-") as workdir:
            session = NotebookSession(Sandbox(SandboxLimits(workdir=workdir, lockdown=False)),
                                      read.cells, notebook_timeout=notebook_timeout,
                                      cell_timeout=cell_timeout)
            try:
                session.run()
                names = answer_names(sub.notebook, questions)
                results, faults = grade_exercises(session, questions, names, timeout=30.0,
                                                  seeds={q.id: 0 for q in questions})
            finally:
                session.close()
        problems += faults
        for question, result in zip(questions, results, strict=True):
            if not isinstance(result, PendingAnswer) or result.kind != "ok" \
                    or result.value is None:
                problems.append(f"{sub.path.name}: no answer for {question.id!r}")
                continue
            try:
                ok = answer_hash(question.id, question.answer_kind, result.value) \
                    == question.answer_hash
            except AnswerFormatError:
                ok = False
            if not ok:
                problems.append(f"{sub.path.name}: the answer to {question.id!r} does not "
                                "match the package's hash")
                continue
            value = result.value
            answers[question.id] = list(value) if isinstance(value, tuple) else value
    return answers, problems


def main(argv=None):
    """``python -m backprop_lib.autograde.answer_key SOLUTIONS... -o FILE``."""
    parser = argparse.ArgumentParser(
        prog="python -m backprop_lib.autograde.answer_key",
        description="Make the instructor's answer key for question exercises from the "
                    "solution notebooks (see `make notebooks`).")
    parser.add_argument("solutions", nargs="*", default=["build/solutions"],
                        help="solution notebooks or folders (default: build/solutions)")
    parser.add_argument("-o", "--output", required=True, help="the key file to write")
    args = parser.parse_args(argv)
    answers, problems = build_answer_key(args.solutions)
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    wanted = {q.id for q in _questions().values()}
    missing = sorted(wanted - set(answers))
    document = {"format": KEY_FORMAT, "version": KEY_VERSION,
                "answers": {qid: {"kind": get_exercise(qid).answer_kind, "answer": answers[qid]}
                            for qid in sorted(answers)}}
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    output.chmod(0o600)
    print(f"wrote {len(answers)} answers to {output}"
          + (f"; no answer for {len(missing)}: {', '.join(missing)}" if missing else ""))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
