"""Question exercises: answers in many spellings, hashed storage, and display."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import backprop_lib.grading.exercises as exercise_package
from backprop_lib.grading import check, exercises, show_question
from backprop_lib.grading.questions import (
    AnswerFormatError,
    Question,
    answer_hash,
    normalise,
)
from backprop_lib.grading.registry import get_exercise

#: The correct answers, known to the tests only (the package stores hashes).
ANSWERS = {
    "shape_of_dW": (64, 10),
    "shape_broadcast_trap": (5, 5),
    "shape_of_Z_column": (10,),
    "jacobian_shape": (5, 5),
    "jacobian_one_hot": "b",
    "jacobian_max_entry": 0.25,
    "logit_grad_sum": 0,
    "why_elementwise_fails": "c",
    "dL_ds_shape": (4,),
}


@pytest.fixture(autouse=True)
def _private_progress(tmp_path, monkeypatch):
    monkeypatch.setenv("BACKPROP_PROGRESS_FILE", str(tmp_path / "progress.json"))


def _questions():
    return [get_exercise(e) for e in exercises() if isinstance(get_exercise(e), Question)]


@pytest.mark.parametrize("question_id, answer", sorted(ANSWERS.items()))
def test_correct_answer_passes_with_explanation(question_id, answer):
    result = check(question_id, answer)
    assert result.status == "passed" and result.score == result.points
    assert result.explanation and result.explanation in result._repr_html_().replace(
        "&#x27;", "'")


@pytest.mark.parametrize("question_id, answer", sorted(ANSWERS.items()))
def test_answer_given_by_a_function_passes(question_id, answer):
    assert check(question_id, lambda: answer).passed


@pytest.mark.parametrize("question_id", sorted(ANSWERS))
@pytest.mark.parametrize("placeholder", [None, ..., "stub"])
def test_placeholders_are_not_attempted(question_id, placeholder):
    if placeholder == "stub":
        def placeholder():
            raise NotImplementedError()
    result = check(question_id, placeholder)
    assert result.status == "not attempted"


@pytest.mark.parametrize("spelling", [(64, 10), [64, 10], np.array([64, 10]), "64, 10",
                                      "(64,10)", "[64, 10]", "64x10", " 64 x 10 ",
                                      (np.int64(64), 10)])
def test_shape_spellings(spelling):
    assert check("shape_of_dW", spelling).passed


@pytest.mark.parametrize("spelling", [(4,), [4], 4, "4", "(4,)", np.int32(4)])
def test_one_dimensional_shape_spellings(spelling):
    assert check("dL_ds_shape", spelling).passed


@pytest.mark.parametrize("spelling", ["c", "C", " c ", "(c)", "c.", "c)"])
def test_choice_spellings(spelling):
    assert check("why_elementwise_fails", spelling).passed


@pytest.mark.parametrize("spelling", [0, 0.0, -0.0, "0", 1e-9, np.float32(0)])
def test_number_spellings(spelling):
    assert check("logit_grad_sum", spelling).passed


@pytest.mark.parametrize("spelling", [0.25, "0.25", 1 / 4, np.float32(0.25), "  .25 "])
def test_fraction_spellings(spelling):
    assert check("jacobian_max_entry", spelling).passed


def test_transposed_shape_is_named():
    result = check("shape_of_dW", (10, 64))
    assert result.status == "failed"
    assert result.diagnosis == ["transposed", "shape"]


@pytest.mark.parametrize("question_id, wrong, fragment", [
    ("shape_of_dW", (32, 10), "shape of Z"),
    ("shape_broadcast_trap", (5,), "broadcasting"),
    ("shape_of_Z_column", (10, 1), "column"),
    ("jacobian_shape", (5,), "EVERY"),
    ("logit_grad_sum", 1, "gradient is s - Y"),
    ("jacobian_one_hot", "a", "subtracts it"),
    ("jacobian_one_hot", "c", "EQUAL logits"),
    ("jacobian_max_entry", 0.5, "WHERE"),
    ("jacobian_max_entry", 2 / 9, "equal logits for K = 3"),
    ("why_elementwise_fails", "a", "shapes match"),
    ("dL_ds_shape", (4, 4), "Jacobian"),
])
def test_likely_wrong_answers_get_specific_feedback(question_id, wrong, fragment):
    result = check(question_id, wrong)
    assert result.status == "failed" and result.score == 0
    assert any(fragment in sentence for _, sentence in result.explanations), result


@pytest.mark.parametrize("question_id, unreadable", [
    ("shape_of_dW", "sixty-four by ten"),
    ("shape_of_dW", (64.5, 10)),
    ("shape_of_dW", object()),
    ("why_elementwise_fails", "e"),
    ("why_elementwise_fails", "c or d"),
    ("why_elementwise_fails", 3),
    ("logit_grad_sum", "zero-ish"),
    ("jacobian_max_entry", float("nan")),
])
def test_unreadable_answers_fail_with_a_readable_message(question_id, unreadable):
    result = check(question_id, unreadable)
    assert result.status == "failed"
    assert "could not be read" in result.message


def test_answer_function_that_raises_is_an_error():
    assert check("shape_of_dW", lambda: 1 / 0).status == "error"


def test_every_question_is_covered_here_and_well_formed():
    for q in _questions():
        assert q.answer_kind in ("shape", "choice", "number")
        assert len(q.answer_hash) == 64 and len(q.hints) >= 3 and q.points > 0
        assert q.prompt and q.explanation
        if q.answer_kind == "choice":
            assert len(q.options) >= 2
        if q.id in ANSWERS:
            assert answer_hash(q.id, q.answer_kind, ANSWERS[q.id]) == q.answer_hash
    assert set(ANSWERS) <= {q.id for q in _questions()}


def test_answers_are_not_stored_in_plain_text():
    source = "\n".join(path.read_text() for path in
                       Path(exercise_package.__file__).parent.glob("nb*.py"))
    assert "register(Question(" in source
    for question_id, answer in ANSWERS.items():
        q = get_exercise(question_id)
        canonical = normalise(q.answer_kind, answer)
        assert canonical not in source
        for field in (q.prompt, q.explanation, *q.hints):
            if q.answer_kind == "shape":
                assert str(tuple(np.atleast_1d(answer))) not in field, (question_id, field)


def test_hash_depends_on_the_question():
    assert answer_hash("a", "shape", (2, 2)) != answer_hash("b", "shape", (2, 2))
    assert answer_hash("a", "shape", "2x2") == answer_hash("a", "shape", [2, 2])


def test_normalise_rejects_unknown_kinds():
    with pytest.raises(ValueError):
        normalise("colour", "red")
    with pytest.raises(AnswerFormatError):
        normalise("shape", (-1, 2))


def test_show_question_text_and_html():
    view = show_question("why_elementwise_fails")
    text, html = str(view), view._repr_html_()
    q = get_exercise("why_elementwise_fails")
    for letter, option in q.options.items():
        assert f"({letter}) {option}" in text
        assert f"<b>({letter})</b>" in html
    assert "check('why_elementwise_fails'" in text
    with pytest.raises(KeyError, match="softmax"):
        show_question("softmax")


def test_hash_command_line_matches_the_function():
    out = subprocess.run([sys.executable, "-m", "backprop_lib.grading", "hash", "shape_of_dW",
                          "shape", "(64, 10)"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == get_exercise("shape_of_dW").answer_hash
    bad = subprocess.run([sys.executable, "-m", "backprop_lib.grading", "hash"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "usage" in bad.stderr


@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=4))
def test_every_spelling_of_a_shape_normalises_alike(dims):
    expected = normalise("shape", tuple(dims))
    spellings = [list(dims), np.array(dims), ", ".join(map(str, dims)),
                 "x".join(map(str, dims)), str(tuple(dims)), str(list(dims))]
    assert all(normalise("shape", s) == expected for s in spellings)


@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
def test_numbers_normalise_alike_as_float_or_text(x):
    assert normalise("number", x) == normalise("number", repr(x))


def test_passing_an_array_instead_of_its_shape_is_explained():
    result = check("shape_of_dW", np.zeros((64, 10)))
    assert result.status == "failed" and ".shape" in result.message
