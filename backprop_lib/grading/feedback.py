"""CheckResult: the outcome of ``check``, shown as an HTML panel or as text.

In Jupyter the panel shows the status, the points, what was tested, the
failing case (expected and received shape, first mismatching entry), the
named mistake explained, anything the learner's function printed, and how to
get the next hint. With a widget frontend a "Next hint" button is added; the
plain HTML panel is the fallback every frontend can show. Outside Jupyter the
same content is plain text.

Nothing here ever shows reference code: the panel is built only from the
learner's answer, case descriptions, and hand-written explanations.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

from .mistakes import describe

__all__ = ["CheckResult", "STATUSES"]

STATUSES = ("passed", "failed", "not attempted", "error", "timeout")

_STATUS_STYLE = {
    "passed": ("#1b7f3b", "#e9f7ee", "\u2714"),
    "failed": ("#b3261e", "#fdeceb", "\u2718"),
    "not attempted": ("#5f6368", "#f1f3f4", "\u25cb"),
    "error": ("#b3261e", "#fdeceb", "\u26a0"),
    "timeout": ("#9a6700", "#fff4d6", "\u23f1"),
}


@dataclass
class CheckResult:
    """The result of ``check(exercise_id, answer)``.

    The first seven attributes are the public contract; the rest carry the
    details shown in the feedback panel.

    Attributes
    ----------
    exercise_id : str
    status : str
        One of ``"passed"``, ``"failed"``, ``"not attempted"``, ``"error"``, ``"timeout"``.
    passed : bool
    score : float
        Points earned by this attempt (all or nothing).
    points : float
        Points available.
    diagnosis : list of str
        Mistake codes (see :data:`backprop_lib.grading.mistakes.MISTAKES`).
    message : str
        One-paragraph plain-text summary.
    title : str
        Human title of the exercise.
    tested : list of str
        What was tested, one line each.
    case : str
        Description of the first failing case, if any.
    expected_shape, got_shape : tuple or None
        Shapes in the failing case.
    mismatch : str
        The first mismatching entry, e.g. ``"[0, 2]: expected 0.090, got nan"``.
    explanations : list of (str, str)
        ``(title, sentence)`` for each named mistake.
    error : str
        Exception summary (type, message, the learner's line).
    output : str
        What the learner's function printed (truncated).
    explanation : str
        Shown after a pass (question exercises).
    hint_call : str
        How to ask for the next hint, e.g. ``'hint("softmax")'``.
    seconds : float
        Time spent grading.
    seed : int or None
        Seed of the hidden cases (for bug reports).
    """

    exercise_id: str
    status: str
    passed: bool
    score: float
    points: float
    diagnosis: list = field(default_factory=list)
    message: str = ""
    title: str = ""
    tested: list = field(default_factory=list)
    case: str = ""
    expected_shape: tuple | None = None
    got_shape: tuple | None = None
    mismatch: str = ""
    explanations: list = field(default_factory=list)
    error: str = ""
    output: str = ""
    explanation: str = ""
    hint_call: str = ""
    seconds: float = 0.0
    seed: int | None = None

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")
        self.passed = self.status == "passed"
        self.score = float(self.score)
        self.points = float(self.points)

    def __bool__(self):
        return self.passed

    # -- text -------------------------------------------------------------

    def __str__(self):
        return render_text(self)

    def __repr__(self):
        return render_text(self)

    # -- Jupyter ----------------------------------------------------------

    def _repr_html_(self):
        return render_html(self)

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = {"text/plain": render_text(self), "text/html": render_html(self)}
        widget = _hint_widget(self)
        if widget is not None:
            view = widget._repr_mimebundle_()
            key = "application/vnd.jupyter.widget-view+json"
            if view and key in view:
                bundle[key] = view[key]
        return bundle


def _headline(result):
    title = f" ({result.title})" if result.title and result.title != result.exercise_id else ""
    return (f"{result.exercise_id}{title}: {result.status} -- "
            f"{_fmt_points(result.score)} / {_fmt_points(result.points)} points")


def _fmt_points(x):
    return f"{x:g}"


def _shape_text(shape):
    if shape is None:
        return "unknown"
    return "scalar ()" if tuple(shape) == () else str(tuple(shape))


def render_text(result):
    """The whole feedback as plain text (several lines)."""
    lines = [_headline(result), result.message]
    if result.tested:
        lines.append("What was tested:")
        lines += [f"  - {t}" for t in result.tested]
    if result.case:
        lines.append(f"Failing case: {result.case}")
    if result.expected_shape is not None or result.got_shape is not None:
        lines.append(f"  expected shape {_shape_text(result.expected_shape)}, "
                     f"got {_shape_text(result.got_shape)}")
    if result.mismatch:
        lines.append(f"  first mismatch {result.mismatch}")
    for title, sentence in result.explanations:
        lines.append(f"Likely mistake -- {title}: {sentence}")
    if result.error:
        lines.append("Error from your code:")
        lines += ["  " + ln for ln in result.error.splitlines()]
    if result.output:
        lines.append("Your function printed (or warned):")
        lines += ["  " + ln for ln in result.output.splitlines()[:20]]
    if result.explanation and result.passed:
        lines.append(f"Why: {result.explanation}")
    if result.hint_call and not result.passed:
        lines.append(f"Stuck? Run {result.hint_call} for the next hint.")
    return "\n".join(line for line in lines if line)


def _e(text):
    return html.escape(str(text))


def render_html(result):
    """The feedback panel as a self-contained HTML fragment (inline styles only)."""
    ink, paper, icon = _STATUS_STYLE[result.status]
    parts = [
        f'<div class="backprop-check" style="border-left:6px solid {ink};background:{paper};'
        f'padding:8px 12px;margin:4px 0;font-family:sans-serif;line-height:1.45;color:#202124">',
        f'<div style="font-weight:bold;color:{ink}">{icon} {_e(result.exercise_id)}'
        f'{" &mdash; " + _e(result.title) if result.title else ""}: {_e(result.status)}'
        f'<span style="float:right">{_e(_fmt_points(result.score))} / '
        f'{_e(_fmt_points(result.points))} points</span></div>',
        f"<div>{_e(result.message)}</div>",
    ]
    if result.tested:
        items = "".join(f"<li>{_e(t)}</li>" for t in result.tested)
        parts.append(f"<details><summary>What was tested</summary><ul>{items}</ul></details>")
    rows = []
    if result.case:
        rows.append(("Failing case", result.case))
    if result.expected_shape is not None or result.got_shape is not None:
        rows.append(("Expected shape", _shape_text(result.expected_shape)))
        rows.append(("Your shape", _shape_text(result.got_shape)))
    if result.mismatch:
        rows.append(("First mismatch", result.mismatch))
    if rows:
        cells = "".join(
            f'<tr><th style="text-align:left;padding-right:12px">{_e(k)}</th>'
            f"<td><code>{_e(v)}</code></td></tr>" for k, v in rows)
        parts.append(f'<table style="margin:6px 0">{cells}</table>')
    for title, sentence in result.explanations:
        parts.append(f"<div><b>Likely mistake &mdash; {_e(title)}:</b> {_e(sentence)}</div>")
    if result.error:
        parts.append(f"<div><b>Error from your code:</b></div><pre>{_e(result.error)}</pre>")
    if result.output:
        parts.append("<details><summary>Your function printed (or warned)</summary>"
                     f"<pre>{_e(result.output)}</pre></details>")
    if result.explanation and result.passed:
        parts.append(f"<div><b>Why:</b> {_e(result.explanation)}</div>")
    if result.hint_call and not result.passed:
        parts.append(f"<div>Stuck? Run <code>{_e(result.hint_call)}</code> "
                     "for the next hint.</div>")
    parts.append("</div>")
    return "".join(parts)


def explanations_for(codes, sentences):
    """Pair each code with a title and the most specific sentence available.

    Parameters
    ----------
    codes : list of str
        Mistake codes in report order.
    sentences : dict
        code -> specific sentence from a matching wrong variant (optional).

    Returns
    -------
    list of (str, str)
    """
    out = []
    for code in codes:
        title, general = describe(code)
        out.append((title, sentences.get(code) or general))
    return out


def _hint_widget(result):
    """A panel + "Next hint" button, or None without a live widget frontend."""
    if result.passed or not result.hint_call:
        return None
    try:
        from IPython import get_ipython

        shell = get_ipython()
        if shell is None or getattr(shell, "kernel", None) is None:
            return None
        import ipywidgets as widgets
    except Exception:  # noqa: BLE001 - no IPython / widgets: the HTML panel is enough
        return None
    from .hints import hint

    panel = widgets.HTML(render_html(result))
    button = widgets.Button(description="Next hint", icon="lightbulb",
                            tooltip=f"Same as running {result.hint_call}")
    shown = widgets.HTML()

    def on_click(_button):
        shown.value = hint(result.exercise_id)._repr_html_()

    button.on_click(on_click)
    return widgets.VBox([panel, button, shown])
