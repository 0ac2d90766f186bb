"""Shared pytest fixtures. Keep this small; add only what several test modules need."""

import numpy as np
import pytest


@pytest.fixture
def rng():
    """A freshly seeded NumPy random generator, so every test is reproducible."""
    return np.random.default_rng(20241129)
