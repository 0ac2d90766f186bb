"""``python -m backprop_lib.autograde``: see :mod:`backprop_lib.autograde.cli`."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
