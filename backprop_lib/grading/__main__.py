"""Authoring helper: ``python -m backprop_lib.grading hash ID KIND ANSWER``.

Prints the salted hash of ANSWER for the question ID, to paste into a
``register(Question(...))`` block in the notebook's module
``backprop_lib/grading/exercises/nbNN_<slug>.py``.
KIND is ``shape``, ``choice`` or ``number``; ANSWER is written as a learner
would type it, e.g. ``"(64, 10)"``, ``c`` or ``0.5``.
"""

from __future__ import annotations

import sys

from .questions import ANSWER_KINDS, AnswerFormatError, answer_hash

USAGE = ("usage: python -m backprop_lib.grading hash ID KIND ANSWER\n"
         f"KIND is one of {', '.join(ANSWER_KINDS)}")


def main(argv=None):
    """Run the command line; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if len(argv) != 4 or argv[0] != "hash":
        print(USAGE, file=sys.stderr)
        return 2
    try:
        print(answer_hash(argv[1], argv[2], argv[3]))
    except (AnswerFormatError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
