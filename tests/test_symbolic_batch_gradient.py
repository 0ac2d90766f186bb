"""symbolic.cross_entropy_batch_gradient: SymPy derives dL/dZ = (S - Y) / N for a batch (04 §8)."""

from __future__ import annotations

import time

import numpy as np
import pytest
import sympy as sp

from backprop_lib import functional as F
from backprop_lib import symbolic as S


@pytest.mark.parametrize("N, K, labels", [(2, 3, None), (3, 2, None), (1, 4, None),
                                          (2, 3, [1, 2]), (3, 3, [0, 0, 2])])
def test_batch_gradient_is_S_minus_Y_over_N(N, K, labels):
    start = time.perf_counter()
    r = S.cross_entropy_batch_gradient(N, K, labels)
    assert time.perf_counter() - start < 5.0
    assert r["grad"].shape == r["S"].shape == r["Y"].shape == (N, K)
    assert r["minus_target"].is_zero_matrix
    assert r["cross_terms"].is_zero_matrix  # an example's loss ignores other examples' logits
    assert (r["grad"] - (r["S"] - r["Y"]) / N).applyfunc(sp.expand).is_zero_matrix


def test_the_raw_gradient_matches_the_library_numerically():
    N, K, labels = 2, 3, [2, 0]
    r = S.cross_entropy_batch_gradient(N, K, labels)
    Z = np.array([[0.3, -1.2, 2.0], [1.5, 0.1, -0.4]])
    values = {r["Z"][n, k]: Z[n, k] for n in range(N) for k in range(K)}
    grad = np.array(r["grad_raw"].subs(values).evalf(), dtype=float)
    assert np.allclose(grad, F.cross_entropy_grad(Z, np.array(labels)), atol=1e-12)


def test_before_the_row_sums_are_used_the_targets_still_appear_summed():
    r = S.cross_entropy_batch_gradient(2, 3)
    entry = sp.expand(2 * r["grad_in_S"][0, 1])
    Y = r["Y"]
    assert sp.expand(entry - (r["S"][0, 1] * (Y[0, 0] + Y[0, 1] + Y[0, 2]) - Y[0, 1])) == 0


@pytest.mark.parametrize("bad", [dict(N=0), dict(N=2.5), dict(K=1), dict(N=2, labels=[0]),
                                 dict(N=2, K=3, labels=[0, 3])])
def test_bad_arguments_raise(bad):
    with pytest.raises(ValueError):
        S.cross_entropy_batch_gradient(**bad)
