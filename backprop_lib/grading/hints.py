"""Progressive hints: each call to ``hint(exercise_id)`` shows the next one.

How far a learner has got is stored with their progress, so it survives a
kernel restart. After the last hint, ``hint`` keeps showing the last one and
says so; ``hint(exercise_id, 1)`` shows a particular hint again (a number that
is not a whole number shows the next one). If the progress file cannot be
read or written, hints still advance within the session.
"""

from __future__ import annotations

import html

from . import progress_store as _progress
from .registry import close_matches, get_exercise

__all__ = ["Hint", "hint"]

#: (progress file, exercise id) -> hints seen in this session, in case the file
#: cannot be written.
_seen_this_session: dict = {}


class Hint(str):
    """A hint: a plain string that also renders as a small HTML box in Jupyter."""

    def __repr__(self):
        return str(self)

    def _repr_html_(self):
        body = html.escape(str(self)).replace("\n", "<br>")
        return ('<div class="backprop-hint" style="border-left:6px solid #1a73e8;'
                'background:#e8f0fe;padding:6px 12px;margin:4px 0;'
                'font-family:sans-serif;color:#202124">'
                f"<b>Hint</b> &middot; {body}</div>")


def hint(exercise_id, number=None):
    """Return the next hint for `exercise_id` (or hint `number`, counting from 1).

    Parameters
    ----------
    exercise_id : str
        The id used with ``check``, e.g. ``"softmax"``.
    number : int, optional
        Show this hint again instead of the next one.

    Returns
    -------
    Hint
        A ``str``; in Jupyter it renders as a highlighted box.
    """
    exercise = get_exercise(exercise_id)
    if exercise is None:
        matches = close_matches(exercise_id)
        also = f" Did you mean {', '.join(repr(m) for m in matches)}?" if matches else ""
        return Hint(f"There is no exercise called {exercise_id!r}.{also}")
    hints = exercise.hints
    try:
        number = None if number is None else int(number)
    except (TypeError, ValueError, OverflowError):
        number = None  # not a hint number: show the next hint
    if number is not None:
        index = min(max(number, 1), len(hints))
    else:
        key = (str(_progress.progress_path()), exercise.id)
        seen = max(_progress.hints_seen(exercise.id), _seen_this_session.get(key, 0))
        index = min(seen + 1, len(hints))
        _seen_this_session[key] = index
        _progress.set_hints_seen(exercise.id, index)
    text = f"Hint {index} of {len(hints)} for {exercise.id!r}: {hints[index - 1]}"
    if index == len(hints):
        text += "\n(That was the last hint.)"
    else:
        text += f'\nRun hint("{exercise.id}") again for the next one.'
    return Hint(text)
