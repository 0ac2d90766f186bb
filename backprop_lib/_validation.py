"""Small argument checks shared by the modules of backprop_lib (private)."""

import numbers


def positive_int(value, name):
    """Return `value` as an int, insisting it is a positive integer.

    Raises TypeError for non-integers (booleans included) and ValueError for
    values below 1, naming the argument `name` in the message.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be a positive int, got {value}")
    return int(value)
