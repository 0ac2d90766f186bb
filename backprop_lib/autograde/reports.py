"""Write what the batch found: grades.csv, totals.csv, feedback pages and summary.html.

All of it is built from the stored records (``DIR/results/<learner>/<notebook>.json``), so
a re-run, or records merged from several output folders, gives the same files.

``grades.csv``
    Long format, one row per learner, notebook and exercise: ``learner, notebook,
    exercise_id, title, status, points_earned, points_possible, diagnosis`` (mistake codes
    separated by ``;``), ``message``.
``totals.csv``
    One row per learner: points per notebook (empty if the learner handed nothing in for
    it), ``points_earned``, ``points_possible`` (every notebook of the batch counts) and
    ``percent``.
``feedback/<learner>/<notebook>.html``
    One self-contained page per submission: the same panels and named mistakes as
    ``check()`` shows in the notebook (:func:`~backprop_lib.grading.feedback.render_html`),
    hidden cases described by their shape and kind only, and notes on what happened to the
    notebook (cells that failed, repairs, duplicates).
``summary.html``
    For the instructor: the pass rate of every exercise, the most common named mistakes
    across the class and per exercise (what to teach again), the notebooks that could not be
    graded, and how well the sandbox was isolated.
"""

from __future__ import annotations

import csv
import html
import os
from collections import Counter, defaultdict
from pathlib import Path

from ..grading.feedback import render_html
from ..grading.mistakes import MISTAKES, describe
from ..grading.questions import Question
from ..grading.registry import NOTEBOOK_TITLES, get_exercise
from .answer_key import score_answer
from .submission_grading import check_result_from_dict

__all__ = ["final_results", "write_reports", "GRADE_COLUMNS"]

GRADE_COLUMNS = ("learner", "notebook", "exercise_id", "title", "status", "points_earned",
                 "points_possible", "diagnosis", "message")

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: sans-serif; max-width: 60em; margin: 1.5em auto; padding: 0 1em;
       color: #202124; line-height: 1.45; }}
table {{ border-collapse: collapse; margin: 0.6em 0; }}
th, td {{ border-bottom: 1px solid #ddd; padding: 3px 10px; text-align: left;
         vertical-align: top; }}
th {{ background: #f1f3f4; }}
td.num {{ text-align: right; }}
.note {{ background: #fff8e1; border-left: 6px solid #9a6700; padding: 6px 12px;
         margin: 0.5em 0; }}
.bar {{ display: inline-block; height: 0.8em; background: #1b7f3b; }}
code, pre {{ font-size: 0.92em; }}
pre {{ white-space: pre-wrap; }}
</style></head><body>
{body}
</body></html>
"""


def _e(text):
    return html.escape(str(text))


def _points(x):
    return f"{float(x):g}"


def final_results(record, key):
    """(exercise, CheckResult) for every exercise of a record, questions scored with `key`.

    Questions are left out when there is no key (``key is None``).
    """
    out = []
    for exercise_id, entry in record.get("exercises", {}).items():
        exercise = get_exercise(exercise_id)
        if exercise is None:
            continue
        if "result" in entry:
            out.append((exercise, check_result_from_dict(entry["result"])))
        elif "answer" in entry and isinstance(exercise, Question) and key is not None:
            out.append((exercise, score_answer(exercise, entry["answer"], key)))
    order = {ex_id: i for i, ex_id in enumerate(_registry_order())}
    out.sort(key=lambda pair: order.get(pair[0].id, 10**6))
    return out


def _registry_order():
    from ..grading.registry import exercise_ids

    return exercise_ids()


def _write_atomic(path, text):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8", newline="")
    os.replace(temporary, path)


class _Csv:
    """Collect CSV rows as text (written atomically at the end)."""

    def __init__(self, columns):
        import io

        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, lineterminator="\n")
        self.writer.writerow(columns)

    def row(self, values):
        self.writer.writerow(values)

    def text(self):
        return self.buffer.getvalue()


def write_reports(records, out_dir, key=None):
    """Write every report of the batch into `out_dir` (see the module docstring).

    Parameters
    ----------
    records : list of dict
        One record per submission.
    out_dir : Path
    key : AnswerKey or None

    Returns
    -------
    dict
        Batch figures for the closing line: ``learners``, ``submissions``, ``earned``,
        ``possible``, ``faults``, ``unreadable``.
    """
    out_dir = Path(out_dir)
    records = sorted(records, key=lambda r: (r["learner"], r["notebook"]))
    finals = {(r["learner"], r["notebook"]): final_results(r, key) for r in records}
    grades = _Csv(GRADE_COLUMNS)
    for record in records:
        for exercise, result in finals[(record["learner"], record["notebook"])]:
            grades.row([record["learner"], record["notebook"], exercise.id, exercise.title,
                        result.status, _points(result.score), _points(result.points),
                        ";".join(result.diagnosis), " ".join(result.message.split())])
    _write_atomic(out_dir / "grades.csv", grades.text())
    figures = _write_totals(records, finals, out_dir)
    for record in records:
        page = _feedback_page(record, finals[(record["learner"], record["notebook"])], key)
        _write_atomic(out_dir / "feedback" / record["learner"] / f"{record['notebook']}.html",
                      page)
    _write_atomic(out_dir / "summary.html", _summary_page(records, finals, key))
    figures["faults"] = sum(len(r.get("grader_faults", [])) for r in records)
    figures["unreadable"] = sum(1 for r in records if r.get("read_error"))
    return figures


def _notebook_possible(records, finals):
    """notebook -> points possible (the most any submission of it could earn)."""
    possible = {}
    for record in records:
        total = sum(result.points for _, result in finals[(record["learner"],
                                                             record["notebook"])])
        possible[record["notebook"]] = max(possible.get(record["notebook"], 0.0), total)
    return possible


def _write_totals(records, finals, out_dir):
    possible = _notebook_possible(records, finals)
    notebooks = sorted(n for n, points in possible.items() if points > 0)
    earned = defaultdict(dict)
    for record in records:
        if record["notebook"] not in notebooks:
            earned.setdefault(record["learner"], {})  # nothing gradable, but still a learner
            continue
        earned[record["learner"]][record["notebook"]] = sum(
            result.score for _, result in finals[(record["learner"], record["notebook"])])
    table = _Csv(("learner", *notebooks, "points_earned", "points_possible", "percent"))
    all_possible = sum(possible[n] for n in notebooks)
    class_earned = 0.0
    for learner in sorted(earned):
        scores = earned[learner]
        total = sum(scores.values())
        class_earned += total
        table.row([learner, *(_points(scores[n]) if n in scores else "" for n in notebooks),
                   _points(total), _points(all_possible),
                   f"{100 * total / all_possible:.1f}" if all_possible else "0.0"])
    _write_atomic(out_dir / "totals.csv", table.text())
    return {"learners": len(earned), "submissions": len(records), "earned": class_earned,
            "possible": all_possible * len(earned)}


# -- feedback page ----------------------------------------------------------------------


def _notes(record, key):
    notes = []
    if record.get("read_error"):
        notes.append(f"Your notebook could not be graded: {_e(record['read_error'])}.")
    if record.get("repairs"):
        notes.append("Your notebook file needed repairs before it could be read: "
                     + "; ".join(_e(r) for r in record["repairs"]) + ".")
    for cell in record.get("cells", []):
        if cell["status"] == "ok":
            continue
        first = cell["error"].splitlines()[0] if cell["error"] else cell["status"]
        what = {"error": "raised an exception", "timeout": "did not finish in time",
                "exit": "ended its process", "crashed": "crashed its process",
                "not run": "was not run"}.get(cell["status"], cell["status"])
        notes.append(f"<b>{_e(cell['label'])}</b> {what}: <code>{_e(first)}</code>. The "
                     "cells after it still ran; exercises that need what it should have "
                     "defined fail with it."
                     + (f"<pre>{_e(cell['error'])}</pre>" if "\n" in cell["error"] else ""))
    if record.get("duplicates"):
        notes.append("You handed in more than one copy of this notebook; this one was graded: "
                     f"<code>{_e(Path(record['source']).name)}</code> (not graded: "
                     + ", ".join(f"<code>{_e(Path(d).name)}</code>"
                                 for d in record["duplicates"]) + ").")
    if key is None and any("answer" in e for e in record.get("exercises", {}).values()):
        notes.append("The questions of this notebook were not graded in this run.")
    return notes


def _feedback_page(record, results, key):
    learner, notebook = record["learner"], record["notebook"]
    number = int(notebook[:2]) if notebook[:2].isdigit() else None
    title = NOTEBOOK_TITLES.get(number, notebook)
    earned = sum(r.score for _, r in results)
    possible = sum(r.points for _, r in results)
    rows = "".join(
        f"<tr><td><code>{_e(ex.id)}</code></td><td>{_e(ex.title)}</td>"
        f"<td>{_e(r.status)}</td><td class='num'>{_points(r.score)} / {_points(r.points)}</td>"
        "</tr>" for ex, r in results)
    notes = "".join(f'<div class="note">{n}</div>' for n in _notes(record, key))
    panels = "".join(render_html(r) for _, r in results)
    body = (f"<h1>{_e(notebook)}: {_e(title)}</h1>"
            f"<p>Feedback for <b>{_e(learner)}</b>, graded {_e(record.get('graded_at', ''))}. "
            f"<b>{_points(earned)} of {_points(possible)} points.</b></p>"
            f"{notes}<table><tr><th>exercise</th><th>title</th><th>status</th>"
            f"<th>points</th></tr>{rows}</table>"
            "<p>Each exercise was run on public cases and on hidden random cases (described "
            "by their shapes and kinds, never shown). Run the notebook's own "
            "<code>check(...)</code> cells and <code>hint(...)</code> to work on what "
            "failed.</p>"
            f"{panels}")
    return _PAGE.format(title=_e(f"{learner}: {notebook}"), body=body)


# -- summary page ------------------------------------------------------------------------


def _summary_page(records, finals, key):
    per_exercise = defaultdict(list)
    for record in records:
        for exercise, result in finals[(record["learner"], record["notebook"])]:
            per_exercise[exercise.id].append(result)
    mistakes = Counter()
    mistake_exercises = defaultdict(Counter)
    for exercise_id, results in per_exercise.items():
        for result in results:
            for code in result.diagnosis:
                mistakes[code] += 1
                mistake_exercises[code][exercise_id] += 1
    parts = [f"<h1>Autograder summary</h1><p>{len({r['learner'] for r in records})} learners, "
             f"{len(records)} submissions.</p>"]
    parts.append(_isolation_note(records, key))
    parts.append("<h2>What to teach again: the most common named mistakes</h2>")
    if mistakes:
        rows = []
        for code, count in mistakes.most_common(12):
            title, sentence = describe(code) if code in MISTAKES else (code, "")
            where = ", ".join(f"<code>{_e(e)}</code> ({n})"
                              for e, n in mistake_exercises[code].most_common(4))
            rows.append(f"<tr><td><b>{_e(title)}</b> <code>{_e(code)}</code><br>"
                        f"<small>{_e(sentence)}</small></td><td class='num'>{count}</td>"
                        f"<td>{where}</td></tr>")
        parts.append("<table><tr><th>mistake</th><th>submissions</th><th>in exercises</th></tr>"
                     + "".join(rows) + "</table>")
    else:
        parts.append("<p>No named mistakes.</p>")
    parts.append("<h2>Pass rate per exercise</h2><table><tr><th>exercise</th><th>notebook</th>"
                 "<th>passed</th><th>pass rate</th><th>failed</th><th>not attempted</th>"
                 "<th>error / timeout</th><th>most common mistakes</th></tr>")
    for exercise_id in [i for i in _registry_order() if i in per_exercise]:
        results = per_exercise[exercise_id]
        statuses = Counter(r.status for r in results)
        rate = statuses["passed"] / len(results)
        codes = Counter(code for r in results for code in r.diagnosis)
        common = ", ".join(f"{_e(describe(c)[0] if c in MISTAKES else c)} ({n})"
                           for c, n in codes.most_common(3))
        exercise = get_exercise(exercise_id)
        parts.append(
            f"<tr><td><code>{_e(exercise_id)}</code><br><small>{_e(exercise.title)}</small>"
            f"</td><td>{exercise.notebook:02d}</td>"
            f"<td class='num'>{statuses['passed']} / {len(results)}</td>"
            f"<td><span class='bar' style='width:{rate * 6:.2f}em'></span> {rate:.0%}</td>"
            f"<td class='num'>{statuses['failed']}</td>"
            f"<td class='num'>{statuses['not attempted']}</td>"
            f"<td class='num'>{statuses['error'] + statuses['timeout']}</td>"
            f"<td>{common}</td></tr>")
    parts.append("</table>")
    troubled = [r for r in records if r.get("read_error") or r.get("grader_faults")
                or any(c["status"] in ("timeout", "exit", "crashed") for c in r.get("cells", []))]
    if troubled:
        parts.append("<h2>Notebooks that did not run cleanly</h2><table><tr><th>learner</th>"
                     "<th>notebook</th><th>what happened</th></tr>")
        for record in troubled:
            what = []
            if record.get("read_error"):
                what.append(_e(record["read_error"]))
            what += [f"grader fault: {_e(f)}" for f in record.get("grader_faults", [])]
            what += [f"{_e(c['label'])}: {_e(c['status'])}" for c in record.get("cells", [])
                     if c["status"] in ("timeout", "exit", "crashed")]
            link = f"feedback/{record['learner']}/{record['notebook']}.html"
            parts.append(f"<tr><td>{_e(record['learner'])}</td><td><a href='{_e(link)}'>"
                         f"{_e(record['notebook'])}</a></td><td>{'<br>'.join(what)}</td></tr>")
        parts.append("</table>")
    return _PAGE.format(title="Autograder summary", body="".join(parts))


def _isolation_note(records, key):
    network = Counter(bool(r.get("isolation", {}).get("network")) for r in records
                      if r.get("isolation"))
    filesystem = Counter(r.get("isolation", {}).get("filesystem", "") for r in records
                         if r.get("isolation"))
    lines = []
    if network.get(False):
        lines.append(f"{network[False]} sandbox(es) kept network access: this system does not "
                     "allow a new network namespace here.")
    unrestricted = sum(n for text, n in filesystem.items() if not text.startswith("Landlock"))
    if unrestricted:
        lines.append(f"{unrestricted} sandbox(es) could read files outside their folder "
                     "(no Landlock on this system): run the batch as a user who cannot read "
                     "the answer key or the other submissions.")
    if key is None:
        lines.append("Question exercises were not graded: no answer key was given "
                     "(--answer-key).")
    return "".join(f'<div class="note">{_e(line)}</div>' for line in lines)
