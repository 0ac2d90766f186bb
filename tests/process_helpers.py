"""Helpers for tests that start processes: has a process ended?"""

from __future__ import annotations

import os
import time


def is_gone(pid):
    """True if process `pid` no longer runs (it does not exist, or it is a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        with open(f"/proc/{pid}/status") as handle:
            return "\nState:\tZ" in handle.read()
    except FileNotFoundError:
        return True


def wait_until_gone(pid, seconds=10.0):
    """Wait up to `seconds` for process `pid` to end; True if it did."""
    deadline = time.time() + seconds
    while not is_gone(pid):
        if time.time() > deadline:
            return False
        time.sleep(0.05)
    return True
