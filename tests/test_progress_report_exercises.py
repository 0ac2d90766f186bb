"""progress() lists the notebooks in course order, each with its own exercises."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from backprop_lib.grading import check, exercises, progress


@pytest.fixture(autouse=True)
def _private_progress(tmp_path, monkeypatch):
    monkeypatch.setenv("BACKPROP_PROGRESS_FILE", str(tmp_path / "progress.json"))


def test_rows_are_in_course_order_and_hold_their_exercises_in_notebook_order():
    report = progress()
    numbers = [row.notebook for row in report.rows]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    for row in report.rows:
        assert row.exercise_ids == exercises(row.notebook)
        assert row.total == len(row.exercise_ids)
    assert [ex for row in report.rows for ex in row.exercise_ids] == exercises()


def test_text_and_html_show_each_notebooks_exercises_with_a_mark_for_passes():
    check("shape_of_dW", (64, 10))
    report = progress()
    lines = str(report).splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("01 "))
    assert "\u2713 shape_of_dW" in lines[header + 1]
    assert "\u00b7 dense_forward" in lines[header + 1]
    assert lines[header + 1].index("shape_of_Z_column") < lines[header + 1].index("dense_forward")
    html = report._repr_html_()
    assert "<code>shape_of_dW</code>" in html and "Exercises" in html
    assert "\u2713&nbsp;<code>shape_of_dW</code>" in html


def test_notebook_04_lists_jacobian_vjp_between_dL_ds_shape_and_softmax_vjp():
    ids = exercises(4)
    assert ids.index("dL_ds_shape") < ids.index("jacobian_vjp") < ids.index("softmax_vjp")


def _check_ids_in(source):
    """Exercise ids in the order a notebook source first checks them."""
    ids = []
    for match in re.finditer(r'check\("([A-Za-z0-9_]+)"', source):
        if match.group(1) not in ids:
            ids.append(match.group(1))
    return ids


@pytest.mark.parametrize("source", sorted(
    (Path(__file__).resolve().parents[1] / "course").glob("[0-9][0-9]_*.md")), ids=lambda p: p.stem)
def test_registry_order_is_the_order_the_notebook_asks(source):
    """progress() lists a notebook's exercises as the notebook asks them, and all of them."""
    registered = exercises(int(source.name[:2]))
    asked = [ex_id for ex_id in _check_ids_in(source.read_text(encoding="utf-8"))
             if ex_id in registered]
    assert asked == registered
