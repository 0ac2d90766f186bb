"""Shared pytest fixtures. Keep this small; add only what several test modules need."""

import numpy as np
import pytest
from hypothesis import settings


@pytest.fixture
def rng():
    """A freshly seeded NumPy random generator, so every test is reproducible."""
    return np.random.default_rng(20241129)


# Property tests measure correctness, not speed: a slow first example on a busy CI machine must
# not fail them (hypothesis' default deadline is 200 ms per example).
settings.register_profile("course", deadline=None)
settings.load_profile("course")
