"""An independent measurement of how well the grader NAMES mistakes it has never seen.

Written by the ``heldout`` helper, who did not read the grader's diagnosis code, the exercise
modules' wrong variants / terms / probes, or the other wrong-answer test files before this set
was written, labelled and committed (see the history of this file: the labels were committed
before the set's first run). The exercises were learnt from the notebooks (``course/NN_*.md``)
and the library's reference behaviour, as a learner would.

The set
-------
* ``WRONG``: realistic wrong implementations of the numeric exercises of notebooks 00-09 (the
  class exercises of 09 through the class the learner hands in), each labelled, before its first
  run, with the mistake code of :data:`backprop_lib.grading.mistakes.MISTAKES` that a good tutor
  would name, or ``"unnamed"`` when no code names its cause. ``accept`` lists other codes that
  would also name the cause; ``true`` lists codes that are true observations about the answer
  (its shape is wrong, it holds NaN) without naming the cause. Any other code the grader reports
  is a *false finding*: a name that would mislead the learner.
* ``CORRECT``: correct alternatives (loops, einsum, other formulas, lists where natural, other
  internal precisions) that must all pass.

Label ``"shape"`` is used only when the shape itself is the mistake (an extra axis of length 1,
a ``keepdims`` too many); a mistake whose *symptom* is a wrong shape but whose cause has no
code (``g @ J`` on a batch, returning logits instead of labels) is ``"unnamed"`` with
``true=("shape",)``.

How it is measured
------------------
Every answer is graded with ``get_exercise(id).grade(answer, seed=s)`` for the fixed seeds
``SEEDS`` and once through ``check(id, answer)`` (random seed, default executor). A wrong answer
counts as *named* when, under both fixed seeds, the diagnosis contains its label (or an
``accept`` code); the naming rate is named / nameable (labels other than "unnamed"). A *false
finding* is a run whose diagnosis holds a code outside label + accept + true.

First run (the figures the tests below hold the grader to)
----------------------------------------------------------
Measured on commit b24ac2f (the set as committed, grader of a2f5b9f), with
``python tests/test_grading_independent.py out.json``; every run of every answer, and the
reviewer's verdict on each wrong answer's feedback, are in
``tests/fixtures/grading_independent_first_run.json``. The default executor was the
in-process one (this branch predates the forked-child runner).

* Named: **173 / 191 = 90.6 %** of the nameable wrong answers, the same under ``check()``
  (random seed) as under both fixed seeds. 244 of the 250 wrong answers were rejected; over the
  185 nameable ones that were rejected, 173 / 185 = 93.5 %.
* False findings (a code outside label + accept + true, fixed seeds): **14 / 250 = 5.6 %**;
  on review 7 of them are misleading and 7 defensible (listed below). ``check()`` added none.
* Correct alternatives rejected: **1 / 85** (``mlpf_ok__where``, a grader bug, below).
* Wrong answers accepted: 6 / 250 (below).
* The feedback of the 250 wrong answers, read one by one (verdicts in the JSON file): 207
  state the cause specifically and correctly (165 of the 173 named, 7 of the 12 rejected
  misses in words without a code, 35 of the 59 unnamed), 6 only generically, 15 contain a
  false statement (6 among the named), 16 say nothing beyond the mismatch, 6 passed.

::

    exercise                          named/nameable  wrong  false  accepted  ok rejected
    warmup_row_sums                              5/5      6      0         0            0
    dense_forward                                6/7      8      0         1            0
    softmax                                      8/9     11      2         1            0
    log_softmax                                  8/8      9      0         0            0
    softmax_jacobian                             7/7      9      0         0            0
    softmax_jacobian_batch                       4/5      8      1         1            0
    cross_entropy                               9/10     11      3         0            0
    jacobian_vjp                                 4/4      7      0         0            0
    softmax_vjp                                  7/7     11      1         0            0
    cross_entropy_grad                          9/11     12      1         1            0
    block_diagonal_jacobian                      2/4      7      1         0            0
    batched_vjp                                  5/5      7      1         0            0
    ce_grad_with_reduction                       9/9      9      0         0            0
    softmax_vjp_columns                          7/7      8      1         0            0
    dense_backward                             10/10     10      0         0            0
    numerical_gradient                           5/5      7      0         0            0
    last_layer_grad                            10/11     11      0         0            0
    mlp_forward                                  4/5      8      0         1            1
    mlp_backward                                 4/4      8      0         0            0
    loss_and_grads                               4/6      6      0         0            0
    sgd_step                                     1/3      7      0         1            0
    predict_digits                               1/1      5      0         0            0
    fix_softmax_cross_entropy                    8/8      8      0         0            0
    label_smoothing_grad                         5/8      9      0         0            0
    weighted_cross_entropy_grad                  6/6      8      0         0            0
    log_softmax_vjp                              5/5      9      0         0            0
    capstone_softmax_layer                       7/7     11      0         0            0
    capstone_log_softmax_layer                   6/6      9      1         0            0
    capstone_smoothed_weighted_ce                7/8     11      2         0            0
    overall                                  173/191    250     14         6            1

The 18 misses, by kind:

* accepted as correct (6): a float32 result for float64 inputs, or float64 for float32 inputs,
  passes by design (``NumericExercise._precision``), although the course contract says results
  keep the input's dtype (``dense_forward__float32_buffer``, ``softmax__float64_buffer``,
  ``sjb__eye_float64``, ``ceg__eye_float64``, ``mlpf__float64_relu``); ``backprop_lib.optim`` is
  not a watched reference module, so ``sgd__library`` (the notebook's own ``library_sgd_step``)
  passes ``sgd_step``, which allows no library call;
* named in words, with no code (7): ``bdj__same_block``, ``llg__no_bias_forward``,
  ``lag__double_softmax`` (although ``double_softmax`` exists), ``sgd__no_lr``,
  ``lsg__ignores_eps``, ``lsg__assign_not_add``, ``cap3__grad_no_smoothing``;
* named wrongly, because the first public case cannot tell the two apart (2):
  ``ce__all_entries`` (y = [0, 1] with N = 2 makes p[y] equal to p: named ``wrong_index``),
  ``ceg__n_minus_1`` (N = 2 makes N - 1 = 1: named ``missing_batch_mean``);
* a vague and backwards sentence, no code (1): ``lsg__no_one_minus_eps``;
* nothing named (2): ``bdj__column_offset`` (no finding at all), ``lag__order`` (the wrapper's
  TypeError, shown as "Your function raised TypeError").

The 14 false findings: misleading, ``ce__log_of_softmax`` (seed 1: overflow, "without
subtracting the row maximum"), ``ce__all_entries``, ``ce__epsilon_hack`` (``not_finite`` for a
finite result, right sentence), ``ceg__n_minus_1``, ``LogSoftmax__no_shift`` (seed 1:
``wrong_axis`` and two false backward findings, for a correct backward), ``cap3__k_minus_1``
(``dtype``, "precision of float16"), ``cap3__grad_unweighted`` ("divided by W**2 and
multiplied by N"); defensible on review (the grader's code fits and my ``accept`` was too
narrow), ``softmax__global_sum`` and ``softmax__denominator_unshifted`` (``wrong_normaliser``),
``sjb__batch_summed_outer``, ``bvjp__mixes_examples`` and ``bdj__kron_mean`` (``wrong_axis``;
the last one's sentence says SUM for a mean), ``svjp__unweighted_sum`` and
``svjpc__unweighted_sum`` (``missing_term``, with an exact sentence).

Grader bugs found (reproducers: the named answers below, through ``check``):

1. ``mlpf_ok__where``: a correct ``mlp_forward`` whose cache is the list ``[X, Z1, A1]`` is
   rejected with status "error" ("Your function raised TypeError: the cache must be the
   tuple ..."); the learner's function raised nothing, and ``mlp_backward`` unpacks a list
   the same way. ``lag__order`` shows the same "Your function raised" wording.
2. Notebook 09 reveals a hidden case's sizes: ``SoftmaxLayer__no_keepdims`` and
   ``LogSoftmax__no_keepdims`` get "operands could not be broadcast together with shapes
   (16,7) (16,) on hidden case 2 of 9" and "An array of shape (16,) cannot line up with one of
   shape (16, 7)" (N and K change with the seed).
   ``test_capstone_panels_do_not_show_the_hidden_case_sizes`` holds this (strict xfail).
3. ``sgd__library`` passes (``backprop_lib.optim`` missing from ``runner.REFERENCE_MODULES``).
4. False sentences next to a right code: ``ce__no_shift`` and ``cap3__no_shift`` ("You took
   np.log(softmax(logits))"), ``mlpf__cache_order`` ("Z1 was overwritten"),
   ``LogSoftmax__no_shift`` (backward findings), ``wce__omega_all`` ("you divided by N"),
   ``sgd__weights_only`` ("did not change the arrays in params").
5. Cosmetic: ``ng__library`` is told it "called backprop_lib's own <module>(),
   numerical_gradient()"; ``db__library_dense`` "called ... __init__(), backward(), forward()";
   every broadcasting error gets the keepdims tip, also ``W @ A + b``.
"""

from __future__ import annotations

import math
import os
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pytest

from backprop_lib import functional as F
from backprop_lib.grading import check
from backprop_lib.grading.mistakes import MISTAKES
from backprop_lib.grading.registry import get_exercise
from backprop_lib.layers import Layer

SEEDS = (0, 1)


@dataclass(frozen=True)
class Answer:
    """One answer of the set: the learner's function or class and, if wrong, its labels."""

    exercise: str
    name: str
    answer: object
    label: str | None = None          # None: a correct alternative
    accept: tuple = ()
    true: tuple = ()
    why: str = ""

    @property
    def nameable(self):
        return self.label not in (None, "unnamed")

    @property
    def allowed(self):
        """Codes that are not a false finding for this answer."""
        return {self.label, *self.accept, *self.true} - {None, "unnamed"}


WRONG: list[Answer] = []
CORRECT: list[Answer] = []


def wrong(exercise, label, *, accept=(), true=(), why=""):
    """Register a wrong answer with the code a tutor would name (decorator)."""
    for code in (label, *accept, *true):
        assert code == "unnamed" or code in MISTAKES, code

    def register(answer):
        WRONG.append(Answer(exercise, answer.__name__, answer, label, tuple(accept),
                            tuple(true), why))
        return answer
    return register


def correct(exercise, why=""):
    """Register a correct alternative, which must pass (decorator)."""
    def register(answer):
        CORRECT.append(Answer(exercise, answer.__name__, answer, why=why))
        return answer
    return register


# ====================================================================================
# 00 · warm-up: row_sums(A), (N, D) -> (N,)
# ====================================================================================

@wrong("warmup_row_sums", "shape", why="kept the summed axis: (N, 1)")
def row_sums__keepdims(A):
    return np.sum(A, axis=1, keepdims=True)


@wrong("warmup_row_sums", "wrong_normaliser", why="mean instead of sum (divides by D)")
def row_sums__mean(A):
    return np.mean(A, axis=1)


@wrong("warmup_row_sums", "wrong_axis", true=("shape",), why="no axis: sums everything")
def row_sums__no_axis(A):
    return np.sum(A)


@wrong("warmup_row_sums", "dtype", why="cast to int")
def row_sums__int(A):
    return np.sum(A, axis=1).astype(int)


@wrong("warmup_row_sums", "unnamed", why="loop misses the last row (range(N - 1))")
def row_sums__loop_off_by_one(A):
    out = np.zeros(A.shape[0], dtype=A.dtype)
    for n in range(A.shape[0] - 1):
        out[n] = A[n].sum()
    return out


@wrong("warmup_row_sums", "dtype", why="the 'clever' FFT route: complex result")
def row_sums__fft(A):
    return np.fft.fft(A, axis=1)[:, 0]


@correct("warmup_row_sums", "a Python loop over rows")
def row_sums_ok__loop(A):
    return np.array([sum(row) for row in A], dtype=A.dtype)


@correct("warmup_row_sums", "a matrix-vector product with ones")
def row_sums_ok__ones(A):
    return A @ np.ones(A.shape[1], dtype=A.dtype)


@correct("warmup_row_sums", "einsum")
def row_sums_ok__einsum(A):
    return np.einsum("nd->n", A)


@correct("warmup_row_sums", "a list")
def row_sums_ok__list(A):
    return A.sum(axis=1).tolist()


# ====================================================================================
# 01 · dense_forward(A, W, b): (N, D), (D, H), (H,) -> (N, H)
# ====================================================================================

@wrong("dense_forward", "operand_order", true=("shape",), why="column convention W a")
def dense_forward__column_order(A, W, b):
    return W @ A + b


@wrong("dense_forward", "transposed", accept=("operand_order",), true=("shape",),
       why="treats W as (H, D)")
def dense_forward__W_transposed(A, W, b):
    return A @ W.T + b


@wrong("dense_forward", "bias_wrong_axis", true=("shape",), why="b as a column")
def dense_forward__bias_column(A, W, b):
    return A @ W + b[:, None]


@wrong("dense_forward", "missing_term", why="forgot the bias")
def dense_forward__no_bias(A, W, b):
    return A @ W


@wrong("dense_forward", "sign", why="sign of one term")
def dense_forward__minus_bias(A, W, b):
    return A @ W - b


@wrong("dense_forward", "transposed", true=("shape",), why="returns Z.T")
def dense_forward__returns_transpose(A, W, b):
    return (A @ W + b).T


@wrong("dense_forward", "dtype", why="float32 buffer for every input")
def dense_forward__float32_buffer(A, W, b):
    Z = np.zeros((A.shape[0], W.shape[1]), dtype=np.float32)
    Z[:] = A @ W + b
    return Z


@wrong("dense_forward", "unnamed", true=("shape",), why="loop overwrites Z: last row only")
def dense_forward__loop_overwrites(A, W, b):
    for n in range(A.shape[0]):
        Z = A[n] @ W + b
    return Z


@correct("dense_forward", "einsum")
def dense_forward_ok__einsum(A, W, b):
    return np.einsum("nd,dh->nh", A, W) + b


@correct("dense_forward", "column convention, transposed back")
def dense_forward_ok__columns(A, W, b):
    return (W.T @ A.T).T + b[None, :]


@correct("dense_forward", "triple loop")
def dense_forward_ok__loops(A, W, b):
    N, D = A.shape
    H = W.shape[1]
    Z = np.zeros((N, H), dtype=np.result_type(A, W, b))
    for n in range(N):
        for h in range(H):
            Z[n, h] = b[h] + sum(A[n, d] * W[d, h] for d in range(D))
    return Z


# ====================================================================================
# 02 · softmax(z), (..., K) -> (..., K)
# ====================================================================================

def _stable_softmax(z):
    z = np.asarray(z)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@wrong("softmax", "overflow", true=("not_finite",), why="no max shift")
def softmax__no_shift(z):
    z = np.asarray(z)
    e = np.exp(z)
    return e / np.sum(e, axis=-1, keepdims=True)


@wrong("softmax", "wrong_axis", why="axis=0")
def softmax__axis0(z):
    z = np.asarray(z)
    e = np.exp(z - np.max(z, axis=0, keepdims=True))
    return e / np.sum(e, axis=0, keepdims=True)


@wrong("softmax", "wrong_axis", true=("shape",), why="no keepdims on the sum")
def softmax__no_keepdims(z):
    z = np.asarray(z)
    e = np.exp(z - np.max(z, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1)


@wrong("softmax", "wrong_axis", true=("not_finite",), why="max of the whole array")
def softmax__global_max(z):
    z = np.asarray(z)
    e = np.exp(z - np.max(z))
    return e / np.sum(e, axis=-1, keepdims=True)


@wrong("softmax", "wrong_axis", why="sum of the whole array")
def softmax__global_sum(z):
    z = np.asarray(z)
    e = np.exp(z - np.max(z, axis=-1, keepdims=True))
    return e / np.sum(e)


@wrong("softmax", "overflow", true=("not_finite",), why="shift by the min")
def softmax__min_shift(z):
    z = np.asarray(z)
    e = np.exp(z - np.min(z, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


@wrong("softmax", "mutates_input", why="z -= max in place")
def softmax__inplace(z):
    z = np.asarray(z)
    z -= np.max(z, axis=-1, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=-1, keepdims=True)


@wrong("softmax", "uses_reference", why="calls the library")
def softmax__library(z):
    return F.softmax(z)


@wrong("softmax", "dtype", why="float64 buffer, float32 inputs come back float64")
def softmax__float64_buffer(z):
    z = np.asarray(z)
    out = np.zeros(z.shape)
    for idx in np.ndindex(z.shape[:-1]):
        e = np.exp(z[idx] - z[idx].max())
        out[idx] = e / e.sum()
    return out


@wrong("softmax", "unnamed", why="return inside the loop: only the first row")
def softmax__return_in_loop(z):
    z = np.asarray(z)
    rows = z.reshape(-1, z.shape[-1])
    out = np.zeros_like(rows)
    for i in range(rows.shape[0]):
        e = np.exp(rows[i] - rows[i].max())
        out[i] = e / e.sum()
        return out.reshape(z.shape)


@wrong("softmax", "unnamed", accept=("overflow",), why="denominator not shifted")
def softmax__denominator_unshifted(z):
    z = np.asarray(z)
    m = np.max(z, axis=-1, keepdims=True)
    return np.exp(z - m) / np.sum(np.exp(z), axis=-1, keepdims=True)


@correct("softmax", "exp of z - logsumexp")
def softmax_ok__logsumexp(z):
    z = np.asarray(z)
    m = np.max(z, axis=-1, keepdims=True)
    lse = m + np.log(np.sum(np.exp(z - m), axis=-1, keepdims=True))
    return np.exp(z - lse)


@correct("softmax", "loop over the leading axes")
def softmax_ok__loop(z):
    z = np.asarray(z)
    out = np.empty_like(z)
    for idx in np.ndindex(z.shape[:-1]):
        e = np.exp(z[idx] - z[idx].max())
        out[idx] = e / e.sum()
    return out


@correct("softmax", "float64 internals, cast back")
def softmax_ok__float64_internal(z):
    z = np.asarray(z)
    w = z.astype(np.float64)
    e = np.exp(w - w.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(z.dtype)


@correct("softmax", "[..., None] instead of keepdims")
def softmax_ok__newaxis(z):
    z = np.asarray(z)
    e = np.exp(z - z.max(axis=-1)[..., None])
    return e / e.sum(axis=-1)[..., None]


# ====================================================================================
# 02 · log_softmax(z), (..., K) -> (..., K)
# ====================================================================================

@wrong("log_softmax", "not_finite", why="log of the (stable) softmax")
def log_softmax__log_of_softmax(z):
    return np.log(_stable_softmax(z))


@wrong("log_softmax", "overflow", true=("not_finite",), why="no max shift")
def log_softmax__no_shift(z):
    z = np.asarray(z)
    return z - np.log(np.sum(np.exp(z), axis=-1, keepdims=True))


@wrong("log_softmax", "wrong_axis", true=("shape",), why="no keepdims")
def log_softmax__no_keepdims(z):
    z = np.asarray(z)
    shifted = z - np.max(z, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1))


@wrong("log_softmax", "sign", why="subtraction the wrong way round")
def log_softmax__flipped(z):
    z = np.asarray(z)
    shifted = z - np.max(z, axis=-1, keepdims=True)
    return np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True)) - shifted


@wrong("log_softmax", "missing_term", why="LSE without its + m")
def log_softmax__lse_without_max(z):
    z = np.asarray(z)
    m = np.max(z, axis=-1, keepdims=True)
    return z - np.log(np.sum(np.exp(z - m), axis=-1, keepdims=True))


@wrong("log_softmax", "wrong_axis", why="axis=0")
def log_softmax__axis0(z):
    z = np.asarray(z)
    shifted = z - np.max(z, axis=0, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=0, keepdims=True))


@wrong("log_softmax", "mutates_input", why="z -= max in place")
def log_softmax__inplace(z):
    z = np.asarray(z)
    z -= np.max(z, axis=-1, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=-1, keepdims=True))


@wrong("log_softmax", "uses_reference", why="library logsumexp")
def log_softmax__library_logsumexp(z):
    z = np.asarray(z)
    return z - F.logsumexp(z, keepdims=True)


@wrong("log_softmax", "unnamed", why="log(s + 1e-12): finite but wrong for large gaps")
def log_softmax__epsilon_hack(z):
    return np.log(_stable_softmax(z) + 1e-12)


@correct("log_softmax", "logaddexp.reduce")
def log_softmax_ok__logaddexp(z):
    z = np.asarray(z)
    return z - np.logaddexp.reduce(z, axis=-1, keepdims=True)


@correct("log_softmax", "z - (m + log sum)")
def log_softmax_ok__lse_form(z):
    z = np.asarray(z)
    m = np.max(z, axis=-1, keepdims=True)
    return z - (m + np.log(np.sum(np.exp(z - m), axis=-1, keepdims=True)))


@correct("log_softmax", "loop over the leading axes")
def log_softmax_ok__loop(z):
    z = np.asarray(z)
    out = np.empty_like(z)
    for idx in np.ndindex(z.shape[:-1]):
        row = z[idx] - z[idx].max()
        out[idx] = row - np.log(np.exp(row).sum())
    return out


# ====================================================================================
# 03 · softmax_jacobian(s), (K,) -> (K, K)
# ====================================================================================

@wrong("softmax_jacobian", "elementwise_jacobian", why="diagonal only")
def sj__diag_only(s):
    s = np.asarray(s)
    return np.diag(s * (1 - s))


@wrong("softmax_jacobian", "inner_product", why="s @ s.T is a number for a 1-D s")
def sj__inner(s):
    s = np.asarray(s)
    return np.diag(s) - s @ s.T


@wrong("softmax_jacobian", "sign", why="outer - diag")
def sj__whole_sign(s):
    s = np.asarray(s)
    return np.outer(s, s) - np.diag(s)


@wrong("softmax_jacobian", "sign", why="+ on the outer-product term")
def sj__plus_outer(s):
    s = np.asarray(s)
    return np.diag(s) + np.outer(s, s)


@wrong("softmax_jacobian", "double_softmax", why="softmax of s first")
def sj__softmax_again(s):
    s = _stable_softmax(s)
    return np.diag(s) - np.outer(s, s)


@wrong("softmax_jacobian", "dtype", why="integer buffer")
def sj__int_buffer(s):
    s = np.asarray(s)
    K = len(s)
    J = np.zeros((K, K), dtype=int)
    for i in range(K):
        for j in range(K):
            J[i, j] = s[i] * ((i == j) - s[j])
    return J


@wrong("softmax_jacobian", "uses_reference", why="calls the library")
def sj__library(s):
    return F.softmax_jacobian(s)


@wrong("softmax_jacobian", "unnamed", why="loop misses the last column")
def sj__loop_off_by_one(s):
    s = np.asarray(s)
    K = len(s)
    J = np.zeros((K, K), dtype=s.dtype)
    for i in range(K):
        for j in range(K - 1):
            J[i, j] = s[i] * ((i == j) - s[j])
    return J


@wrong("softmax_jacobian", "unnamed", accept=("wrong_index",), why="s_i where s_j belongs")
def sj__s_i_twice(s):
    s = np.asarray(s)
    return s[:, None] * (np.eye(len(s), dtype=s.dtype) - s[:, None])


@correct("softmax_jacobian", "double loop with a Kronecker delta")
def sj_ok__loop(s):
    s = np.asarray(s)
    K = len(s)
    J = np.empty((K, K), dtype=s.dtype)
    for i in range(K):
        for j in range(K):
            J[i, j] = s[i] * ((1.0 if i == j else 0.0) - s[j])
    return J


@correct("softmax_jacobian", "broadcast s_i (delta_ij - s_j)")
def sj_ok__broadcast(s):
    s = np.asarray(s)
    return s[:, None] * (np.eye(len(s), dtype=s.dtype) - s[None, :])


@correct("softmax_jacobian", "einsum outer, diagflat")
def sj_ok__einsum(s):
    s = np.asarray(s)
    return np.diagflat(s) - np.einsum("i,j->ij", s, s)


# ====================================================================================
# 03 · softmax_jacobian_batch(S), (N, K) -> (N, K, K)
# ====================================================================================

@wrong("softmax_jacobian_batch", "unnamed", true=("shape",),
       why="one-example formula on the batch (np.diag, np.outer)")
def sjb__single_formula(S):
    S = np.asarray(S)
    return np.diag(S) - np.outer(S, S)


@wrong("softmax_jacobian_batch", "elementwise_jacobian", why="diagonal only")
def sjb__diag_only(S):
    S = np.asarray(S)
    eye = np.eye(S.shape[-1], dtype=S.dtype)
    return S[:, :, None] * (1 - S[:, :, None]) * eye


@wrong("softmax_jacobian_batch", "sign", why="outer - diag")
def sjb__sign(S):
    S = np.asarray(S)
    eye = np.eye(S.shape[-1], dtype=S.dtype)
    return S[:, :, None] * S[:, None, :] - S[:, :, None] * eye


@wrong("softmax_jacobian_batch", "unnamed", why="S.T @ S sums the outer products over the batch")
def sjb__batch_summed_outer(S):
    S = np.asarray(S)
    eye = np.eye(S.shape[-1], dtype=S.dtype)
    return S[:, :, None] * eye - S.T @ S


@wrong("softmax_jacobian_batch", "dtype", why="np.eye(K) without dtype")
def sjb__eye_float64(S):
    S = np.asarray(S)
    eye = np.eye(S.shape[-1])
    return S[:, :, None] * eye - S[:, :, None] * S[:, None, :]


@wrong("softmax_jacobian_batch", "double_softmax", why="softmax of S first")
def sjb__double_softmax(S):
    S = _stable_softmax(S)
    eye = np.eye(S.shape[-1], dtype=S.dtype)
    return S[:, :, None] * eye - S[:, :, None] * S[:, None, :]


@wrong("softmax_jacobian_batch", "uses_reference", why="calls the library")
def sjb__library(S):
    return F.softmax_jacobian(S)


@wrong("softmax_jacobian_batch", "unnamed", why="return inside the loop: first example only")
def sjb__return_in_loop(S):
    S = np.asarray(S)
    N, K = S.shape
    J = np.zeros((N, K, K), dtype=S.dtype)
    for n in range(N):
        J[n] = np.diag(S[n]) - np.outer(S[n], S[n])
        return J


@correct("softmax_jacobian_batch", "stack of per-example Jacobians")
def sjb_ok__stack(S):
    S = np.asarray(S)
    return np.stack([np.diag(s) - np.outer(s, s) for s in S])


@correct("softmax_jacobian_batch", "einsum")
def sjb_ok__einsum(S):
    S = np.asarray(S)
    eye = np.eye(S.shape[-1], dtype=S.dtype)
    return np.einsum("ni,ij->nij", S, eye) - np.einsum("ni,nj->nij", S, S)


@correct("softmax_jacobian_batch", "outer products with @")
def sjb_ok__matmul(S):
    S = np.asarray(S)
    eye = np.eye(S.shape[-1], dtype=S.dtype)
    return S[:, :, None] * eye - S[:, :, None] @ S[:, None, :]


@correct("softmax_jacobian_batch", "a list of (K, K) arrays")
def sjb_ok__list(S):
    S = np.asarray(S)
    return [np.diag(s) - np.outer(s, s) for s in S]


# ====================================================================================
# 04 · cross_entropy(logits, y) -> scalar mean
# ====================================================================================

def _log_softmax_rows(logits):
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


@wrong("cross_entropy", "missing_batch_mean", why="sum instead of mean")
def ce__sum(logits, y):
    logits, y = np.asarray(logits), np.asarray(y)
    return -_log_softmax_rows(logits)[np.arange(len(y)), y].sum()


@wrong("cross_entropy", "wrong_index", why="p[:, y] picks an (N, N) block")
def ce__index_block(logits, y):
    logits, y = np.asarray(logits), np.asarray(y)
    return -_log_softmax_rows(logits)[:, y].mean()


@wrong("cross_entropy", "overflow", true=("not_finite",), why="no max shift")
def ce__no_shift(logits, y):
    logits, y = np.asarray(logits), np.asarray(y)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(y)), y].mean()


@wrong("cross_entropy", "not_finite", why="log of the (stable) softmax")
def ce__log_of_softmax(logits, y):
    logits, y = np.asarray(logits), np.asarray(y)
    S = _stable_softmax(logits)
    return -np.log(S[np.arange(len(y)), y]).mean()


@wrong("cross_entropy", "sign", why="forgot the minus")
def ce__sign(logits, y):
    logits, y = np.asarray(logits), np.asarray(y)
    return _log_softmax_rows(logits)[np.arange(len(y)), y].mean()


@wrong("cross_entropy", "missing_one_hot", why="mean of every log-probability")
def ce__all_entries(logits, y):
    logits = np.asarray(logits)
    return -_log_softmax_rows(logits).mean()


@wrong("cross_entropy", "wrong_normaliser", why="divides by K")
def ce__div_K(logits, y):
    logits, y = np.asarray(logits), np.asarray(y)
    return -_log_softmax_rows(logits)[np.arange(len(y)), y].sum() / logits.shape[1]


@wrong("cross_entropy", "uses_reference", why="calls the library")
def ce__library(logits, y):
    return F.cross_entropy(logits, y)


@wrong("cross_entropy", "shape", why="per-example losses, no mean")
def ce__per_example(logits, y):
    logits, y = np.asarray(logits), np.asarray(y)
    return -_log_softmax_rows(logits)[np.arange(len(y)), y]


@wrong("cross_entropy", "mutates_input", why="logits -= max in place")
def ce__inplace(logits, y):
    logits, y = np.asarray(logits), np.asarray(y)
    logits -= logits.max(axis=1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(y)), y].mean()


@wrong("cross_entropy", "unnamed", why="-log(p + 1e-12)")
def ce__epsilon_hack(logits, y):
    logits, y = np.asarray(logits), np.asarray(y)
    S = _stable_softmax(logits)
    return -np.log(S[np.arange(len(y)), y] + 1e-12).mean()


@correct("cross_entropy", "a Python float")
def ce_ok__float(logits, y):
    logits, y = np.asarray(logits), np.asarray(y)
    return float(-_log_softmax_rows(logits)[np.arange(len(y)), y].mean())


@correct("cross_entropy", "take_along_axis")
def ce_ok__take_along_axis(logits, y):
    logits, y = np.asarray(logits), np.asarray(y)
    picked = np.take_along_axis(_log_softmax_rows(logits), y[:, None], axis=1)
    return -picked.mean()


@correct("cross_entropy", "one-hot times log-probabilities")
def ce_ok__one_hot(logits, y):
    logits, y = np.asarray(logits), np.asarray(y)
    N, K = logits.shape
    Y = np.eye(K, dtype=logits.dtype)[y]
    return -(Y * _log_softmax_rows(logits)).sum() / N


@correct("cross_entropy", "loop with logaddexp")
def ce_ok__loop(logits, y):
    logits, y = np.asarray(logits), np.asarray(y)
    total = 0.0
    for row, label in zip(logits, y, strict=True):
        total += np.logaddexp.reduce(row) - row[label]
    return total / len(y)


# ====================================================================================
# 04 · jacobian_vjp(g, J): (..., M), (..., M, K) -> (..., K)
# ====================================================================================

@wrong("jacobian_vjp", "operand_order", accept=("transposed",), true=("shape",),
       why="J @ g: the column-convention product")
def jvjp__J_at_g(g, J):
    return J @ g


@wrong("jacobian_vjp", "unnamed", true=("shape",),
       why="g @ J on a batch pairs every g with every J")
def jvjp__matmul_batch(g, J):
    return g @ J


@wrong("jacobian_vjp", "transposed", accept=("operand_order",), true=("shape",),
       why="einsum sums over the input index")
def jvjp__einsum_wrong_index(g, J):
    return np.einsum("...m,...km->...k", g, J)


@wrong("jacobian_vjp", "wrong_axis", true=("shape",), why="broadcast product summed over K")
def jvjp__sum_wrong_axis(g, J):
    return (g[..., :, None] * J).sum(axis=-1)


@wrong("jacobian_vjp", "unnamed", why="loop over the first axis only")
def jvjp__loop_first_axis(g, J):
    return np.stack([g[n] @ J[n] for n in range(len(g))])


@wrong("jacobian_vjp", "unnamed", why="einsum for exactly one batch axis")
def jvjp__einsum_2d_only(g, J):
    return np.einsum("nm,nmk->nk", g, J)


@wrong("jacobian_vjp", "elementwise_jacobian", true=("shape",), why="g times the diagonal of J")
def jvjp__diagonal(g, J):
    return g * np.diagonal(J, axis1=-2, axis2=-1)


@correct("jacobian_vjp", "matmul with a new axis")
def jvjp_ok__matmul(g, J):
    return (np.asarray(g)[..., None, :] @ np.asarray(J))[..., 0, :]


@correct("jacobian_vjp", "broadcast product summed over M")
def jvjp_ok__broadcast(g, J):
    return (np.asarray(g)[..., :, None] * np.asarray(J)).sum(axis=-2)


@correct("jacobian_vjp", "loop over np.ndindex")
def jvjp_ok__loop(g, J):
    g, J = np.asarray(g), np.asarray(J)
    out = np.zeros(g.shape[:-1] + J.shape[-1:], dtype=np.result_type(g, J))
    for idx in np.ndindex(g.shape[:-1]):
        out[idx] = g[idx] @ J[idx]
    return out


@correct("jacobian_vjp", "J^T g with swapaxes")
def jvjp_ok__swapaxes(g, J):
    g, J = np.asarray(g), np.asarray(J)
    return (np.swapaxes(J, -1, -2) @ g[..., None])[..., 0]


# ====================================================================================
# 04 · softmax_vjp(s, g): (N, K), (N, K) -> (N, K)
# ====================================================================================

@wrong("softmax_vjp", "elementwise_jacobian", why="g * s * (1 - s)")
def svjp__elementwise(s, g):
    s, g = np.asarray(s), np.asarray(g)
    return g * s * (1 - s)


@wrong("softmax_vjp", "wrong_axis", true=("shape",), why="no keepdims")
def svjp__no_keepdims(s, g):
    s, g = np.asarray(s), np.asarray(g)
    return s * (g - np.sum(g * s, axis=-1))


@wrong("softmax_vjp", "wrong_axis", why="inner product over the whole batch")
def svjp__global_inner(s, g):
    s, g = np.asarray(s), np.asarray(g)
    return s * (g - np.sum(g * s))


@wrong("softmax_vjp", "sign", why="subtraction the wrong way round")
def svjp__sign(s, g):
    s, g = np.asarray(s), np.asarray(g)
    return s * (np.sum(g * s, axis=-1, keepdims=True) - g)


@wrong("softmax_vjp", "unnamed", why="builds the (N, K, K) Jacobians (memory limit)")
def svjp__builds_jacobian(s, g):
    s, g = np.asarray(s), np.asarray(g)
    eye = np.eye(s.shape[-1], dtype=s.dtype)
    J = s[:, :, None] * eye - s[:, :, None] * s[:, None, :]
    return np.einsum("nk,nkj->nj", g, J)


@wrong("softmax_vjp", "unnamed", why="sum of g, not <g, s>")
def svjp__unweighted_sum(s, g):
    s, g = np.asarray(s), np.asarray(g)
    return s * (g - np.sum(g, axis=-1, keepdims=True))


@wrong("softmax_vjp", "mutates_input", why="g -= inner in place")
def svjp__inplace_g(s, g):
    s, g = np.asarray(s), np.asarray(g)
    g -= np.sum(g * s, axis=-1, keepdims=True)
    return s * g


@wrong("softmax_vjp", "uses_reference", why="calls the library")
def svjp__library(s, g):
    return F.softmax_vjp(s, g)


@wrong("softmax_vjp", "wrong_axis", why="axis=0 with keepdims")
def svjp__axis0(s, g):
    s, g = np.asarray(s), np.asarray(g)
    return s * (g - np.sum(g * s, axis=0, keepdims=True))


@wrong("softmax_vjp", "unnamed", why="return inside the loop: first row only")
def svjp__return_in_loop(s, g):
    s, g = np.asarray(s), np.asarray(g)
    out = np.zeros_like(s)
    for n in range(s.shape[0]):
        out[n] = s[n] * (g[n] - np.dot(g[n], s[n]))
        return out


@wrong("softmax_vjp", "unnamed", accept=("missing_term",), why="<g, s> not multiplied by s")
def svjp__missing_s_factor(s, g):
    s, g = np.asarray(s), np.asarray(g)
    return s * g - np.sum(g * s, axis=-1, keepdims=True)


@correct("softmax_vjp", "expanded s*g - s*<g, s>")
def svjp_ok__expanded(s, g):
    s, g = np.asarray(s), np.asarray(g)
    return s * g - s * (s * g).sum(axis=-1, keepdims=True)


@correct("softmax_vjp", "einsum for the inner product")
def svjp_ok__einsum(s, g):
    s, g = np.asarray(s), np.asarray(g)
    return s * (g - np.einsum("nk,nk->n", g, s)[:, None])


@correct("softmax_vjp", "loop over rows")
def svjp_ok__loop(s, g):
    s, g = np.asarray(s), np.asarray(g)
    out = np.empty_like(s)
    for n in range(s.shape[0]):
        out[n] = s[n] * (g[n] - np.dot(g[n], s[n]))
    return out


@correct("softmax_vjp", "inner product by batched matmul")
def svjp_ok__matmul(s, g):
    s, g = np.asarray(s), np.asarray(g)
    inner = (g[:, None, :] @ s[:, :, None])[:, 0]          # (N, 1)
    return s * (g - inner)


# ====================================================================================
# 04 · cross_entropy_grad(logits, y) -> (N, K) = (S - Y) / N
# ====================================================================================

@wrong("cross_entropy_grad", "missing_batch_mean", why="no 1/N")
def ceg__no_mean(logits, y):
    logits, y = np.asarray(logits), np.asarray(y)
    S = _stable_softmax(logits)
    S[np.arange(len(y)), y] -= 1
    return S


@wrong("cross_entropy_grad", "missing_one_hot", why="S / N")
def ceg__no_onehot(logits, y):
    logits = np.asarray(logits)
    return _stable_softmax(logits) / logits.shape[0]


@wrong("cross_entropy_grad", "sign", why="(Y - S) / N")
def ceg__sign(logits, y):
    logits, y = np.asarray(logits), np.asarray(y)
    N, K = logits.shape
    return (np.eye(K, dtype=logits.dtype)[y] - _stable_softmax(logits)) / N


@wrong("cross_entropy_grad", "wrong_index", why="S[:, y] -= 1")
def ceg__index_block(logits, y):
    logits, y = np.asarray(logits), np.asarray(y)
    S = _stable_softmax(logits)
    S[:, y] -= 1
    return S / logits.shape[0]


@wrong("cross_entropy_grad", "overflow", true=("not_finite",), why="no max shift")
def ceg__no_shift(logits, y):
    logits, y = np.asarray(logits), np.asarray(y)
    e = np.exp(logits)
    S = e / e.sum(axis=1, keepdims=True)
    S[np.arange(len(y)), y] -= 1
    return S / len(y)


@wrong("cross_entropy_grad", "wrong_normaliser", why="divides by K")
def ceg__div_K(logits, y):
    logits, y = np.asarray(logits), np.asarray(y)
    S = _stable_softmax(logits)
    S[np.arange(len(y)), y] -= 1
    return S / logits.shape[1]


@wrong("cross_entropy_grad", "mutates_input", why="logits -= max in place")
def ceg__inplace(logits, y):
    logits, y = np.asarray(logits), np.asarray(y)
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    S = e / e.sum(axis=1, keepdims=True)
    S[np.arange(len(y)), y] -= 1
    return S / len(y)


@wrong("cross_entropy_grad", "not_finite", why="unfused: G = -Y / (N S), then the softmax VJP")
def ceg__unfused(logits, y):
    logits, y = np.asarray(logits), np.asarray(y)
    N, K = logits.shape
    S = _stable_softmax(logits)
    Y = np.eye(K, dtype=S.dtype)[y]
    G = -Y / (N * S)
    return S * (G - np.sum(G * S, axis=1, keepdims=True))


@wrong("cross_entropy_grad", "uses_reference", why="calls the library")
def ceg__library(logits, y):
    return F.cross_entropy_grad(logits, y)


@wrong("cross_entropy_grad", "dtype", why="np.eye(K)[y] upcasts float32 to float64")
def ceg__eye_float64(logits, y):
    logits, y = np.asarray(logits), np.asarray(y)
    N, K = logits.shape
    return (_stable_softmax(logits) - np.eye(K)[y]) / N


@wrong("cross_entropy_grad", "unnamed", why="return inside the loop: first row only")
def ceg__return_in_loop(logits, y):
    logits, y = np.asarray(logits), np.asarray(y)
    N = logits.shape[0]
    grad = np.zeros_like(logits)
    for n in range(N):
        e = np.exp(logits[n] - logits[n].max())
        grad[n] = e / e.sum()
        grad[n, y[n]] -= 1
        return grad / N


@wrong("cross_entropy_grad", "wrong_normaliser", true=("not_finite",), why="divides by N - 1")
def ceg__n_minus_1(logits, y):
    logits, y = np.asarray(logits), np.asarray(y)
    S = _stable_softmax(logits)
    S[np.arange(len(y)), y] -= 1
    return S / (len(y) - 1)


@correct("cross_entropy_grad", "one-hot in the input's dtype")
def ceg_ok__one_hot(logits, y):
    logits, y = np.asarray(logits), np.asarray(y)
    N, K = logits.shape
    return (_stable_softmax(logits) - np.eye(K, dtype=logits.dtype)[y]) / N


@correct("cross_entropy_grad", "boolean one-hot")
def ceg_ok__bool(logits, y):
    logits, y = np.asarray(logits), np.asarray(y)
    N, K = logits.shape
    return (_stable_softmax(logits) - (np.arange(K) == y[:, None])) / N


@correct("cross_entropy_grad", "the library's one_hot (allowed)")
def ceg_ok__F_one_hot(logits, y):
    logits, y = np.asarray(logits), np.asarray(y)
    N, K = logits.shape
    return (_stable_softmax(logits) - F.one_hot(y, K, dtype=logits.dtype)) / N


@correct("cross_entropy_grad", "exp of the log-softmax, loop")
def ceg_ok__loop(logits, y):
    logits, y = np.asarray(logits), np.asarray(y)
    N = logits.shape[0]
    grad = np.exp(_log_softmax_rows(logits))
    for n in range(N):
        grad[n, y[n]] -= 1
    return grad / N


# ====================================================================================
# 05 · block_diagonal_jacobian(J): (N, K, K) -> (N K, N K)
# ====================================================================================

@wrong("block_diagonal_jacobian", "transposed", why="J[n].T in the blocks")
def bdj__transposed_blocks(J):
    J = np.asarray(J)
    N, K, _ = J.shape
    big = np.zeros((N * K, N * K), dtype=J.dtype)
    for n in range(N):
        big[n * K:(n + 1) * K, n * K:(n + 1) * K] = J[n].T
    return big


@wrong("block_diagonal_jacobian", "unnamed", why="range(N - 1): last block missing")
def bdj__last_block_missing(J):
    J = np.asarray(J)
    N, K, _ = J.shape
    big = np.zeros((N * K, N * K), dtype=J.dtype)
    for n in range(N - 1):
        big[n * K:(n + 1) * K, n * K:(n + 1) * K] = J[n]
    return big


@wrong("block_diagonal_jacobian", "wrong_index", why="column offset n instead of n*K")
def bdj__column_offset(J):
    J = np.asarray(J)
    N, K, _ = J.shape
    big = np.zeros((N * K, N * K), dtype=J.dtype)
    for n in range(N):
        big[n * K:(n + 1) * K, n:n + K] = J[n]
    return big


@wrong("block_diagonal_jacobian", "wrong_index", why="J[0] pasted into every block")
def bdj__same_block(J):
    J = np.asarray(J)
    N, K, _ = J.shape
    big = np.zeros((N * K, N * K), dtype=J.dtype)
    for n in range(N):
        big[n * K:(n + 1) * K, n * K:(n + 1) * K] = J[0]
    return big


@wrong("block_diagonal_jacobian", "dtype", why="float16 'to save memory'")
def bdj__float16(J):
    J = np.asarray(J)
    N, K, _ = J.shape
    big = np.zeros((N * K, N * K), dtype=np.float16)
    for n in range(N):
        big[n * K:(n + 1) * K, n * K:(n + 1) * K] = J[n]
    return big


@wrong("block_diagonal_jacobian", "unnamed", why="kron with the mean block: mixes examples")
def bdj__kron_mean(J):
    J = np.asarray(J)
    return np.kron(np.eye(J.shape[0], dtype=J.dtype), J.mean(axis=0))


@wrong("block_diagonal_jacobian", "unnamed", true=("shape",), why="reshape stacks the blocks")
def bdj__reshape(J):
    J = np.asarray(J)
    N, K, _ = J.shape
    return J.reshape(N * K, K)


@correct("block_diagonal_jacobian", "einsum with an identity, reshaped")
def bdj_ok__einsum(J):
    J = np.asarray(J)
    N, K, _ = J.shape
    return np.einsum("nm,nij->nimj", np.eye(N, dtype=J.dtype), J).reshape(N * K, N * K)


@correct("block_diagonal_jacobian", "chained slices")
def bdj_ok__chained(J):
    J = np.asarray(J)
    N, K, _ = J.shape
    big = np.zeros((N * K, N * K), dtype=J.dtype)
    for n in range(N):
        big[n * K:(n + 1) * K, :][:, n * K:(n + 1) * K] = J[n]
    return big


@correct("block_diagonal_jacobian", "np.block")
def bdj_ok__np_block(J):
    J = np.asarray(J)
    N, K, _ = J.shape
    zero = np.zeros((K, K), dtype=J.dtype)
    return np.block([[J[n] if m == n else zero for m in range(N)] for n in range(N)])


# ====================================================================================
# 05 · batched_vjp(G, J): (N, K), (N, K, K) -> (N, K)
# ====================================================================================

@wrong("batched_vjp", "transposed", accept=("operand_order",), why="einsum J g")
def bvjp__J_times_g(G, J):
    return np.einsum("nk,njk->nj", G, J)


@wrong("batched_vjp", "unnamed", true=("shape",), why="G @ J: every G row with every J")
def bvjp__matmul_2d_3d(G, J):
    return G @ J


@wrong("batched_vjp", "shape", why="forgot [:, 0]: (N, 1, K)")
def bvjp__missing_squeeze(G, J):
    return np.asarray(G)[:, None, :] @ np.asarray(J)


@wrong("batched_vjp", "transposed", accept=("operand_order",), why="J @ g as columns")
def bvjp__J_at_column(G, J):
    return (np.asarray(J) @ np.asarray(G)[:, :, None])[:, :, 0]


@wrong("batched_vjp", "elementwise_jacobian", why="G times the diagonals")
def bvjp__diag_only(G, J):
    return np.asarray(G) * np.diagonal(np.asarray(J), axis1=1, axis2=2)


@wrong("batched_vjp", "unnamed", why="einsum with two batch letters: mixes examples")
def bvjp__mixes_examples(G, J):
    return np.einsum("nk,mkj->nj", G, J)


@wrong("batched_vjp", "wrong_axis", why="broadcast product summed over j")
def bvjp__sum_wrong_axis(G, J):
    return (np.asarray(G)[:, :, None] * np.asarray(J)).sum(axis=2)


@correct("batched_vjp", "batched matmul")
def bvjp_ok__matmul(G, J):
    return (np.asarray(G)[:, None, :] @ np.asarray(J))[:, 0]


@correct("batched_vjp", "broadcast product summed over k")
def bvjp_ok__broadcast(G, J):
    return (np.asarray(G)[:, :, None] * np.asarray(J)).sum(axis=1)


@correct("batched_vjp", "loop with np.dot")
def bvjp_ok__loop(G, J):
    G, J = np.asarray(G), np.asarray(J)
    return np.array([np.dot(G[n], J[n]) for n in range(G.shape[0])])


# ====================================================================================
# 05 · ce_grad_with_reduction(logits, y, reduction)
# ====================================================================================

def _s_minus_y(logits, y):
    S = _stable_softmax(logits)
    S[np.arange(len(y)), y] -= 1
    return S


@wrong("ce_grad_with_reduction", "wrong_normaliser", why="always divides by N")
def cegr__always_mean(logits, y, reduction):
    logits, y = np.asarray(logits), np.asarray(y)
    return _s_minus_y(logits, y) / logits.shape[0]


@wrong("ce_grad_with_reduction", "wrong_normaliser", accept=("missing_batch_mean",),
       why="mean and sum swapped")
def cegr__swapped(logits, y, reduction):
    logits, y = np.asarray(logits), np.asarray(y)
    grad = _s_minus_y(logits, y)
    return grad / logits.shape[0] if reduction == "sum" else grad


@wrong("ce_grad_with_reduction", "wrong_normaliser", why="mean divides by K")
def cegr__div_K(logits, y, reduction):
    logits, y = np.asarray(logits), np.asarray(y)
    grad = _s_minus_y(logits, y)
    return grad / logits.shape[1] if reduction == "mean" else grad


@wrong("ce_grad_with_reduction", "sign", why="Y - S")
def cegr__sign(logits, y, reduction):
    logits, y = np.asarray(logits), np.asarray(y)
    grad = -_s_minus_y(logits, y)
    return grad / logits.shape[0] if reduction == "mean" else grad


@wrong("ce_grad_with_reduction", "overflow", true=("not_finite",), why="no max shift")
def cegr__no_shift(logits, y, reduction):
    logits, y = np.asarray(logits), np.asarray(y)
    e = np.exp(logits)
    grad = e / e.sum(axis=1, keepdims=True)
    grad[np.arange(len(y)), y] -= 1
    return grad / len(y) if reduction == "mean" else grad


@wrong("ce_grad_with_reduction", "mutates_input", why="logits -= max in place")
def cegr__inplace(logits, y, reduction):
    logits, y = np.asarray(logits), np.asarray(y)
    logits -= logits.max(axis=1, keepdims=True)
    grad = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    grad[np.arange(len(y)), y] -= 1
    return grad / len(y) if reduction == "mean" else grad


@wrong("ce_grad_with_reduction", "uses_reference", why="calls the library")
def cegr__library(logits, y, reduction):
    return F.cross_entropy_grad(logits, y, reduction=reduction)


@wrong("ce_grad_with_reduction", "missing_one_hot", why="S only")
def cegr__no_onehot(logits, y, reduction):
    logits = np.asarray(logits)
    grad = _stable_softmax(logits)
    return grad / logits.shape[0] if reduction == "mean" else grad


@wrong("ce_grad_with_reduction", "missing_batch_mean", why="never divides")
def cegr__never_divides(logits, y, reduction):
    logits, y = np.asarray(logits), np.asarray(y)
    return _s_minus_y(logits, y)


@correct("ce_grad_with_reduction", "a scale from a dict")
def cegr_ok__dict(logits, y, reduction):
    logits, y = np.asarray(logits), np.asarray(y)
    scale = {"mean": 1.0 / logits.shape[0], "sum": 1.0}[reduction]
    return _s_minus_y(logits, y) * scale


@correct("ce_grad_with_reduction", "one-hot in the input's dtype, if/else")
def cegr_ok__one_hot(logits, y, reduction):
    logits, y = np.asarray(logits), np.asarray(y)
    N, K = logits.shape
    grad = _stable_softmax(logits) - np.eye(K, dtype=logits.dtype)[y]
    if reduction == "mean":
        grad = grad / N
    return grad


# ====================================================================================
# 05 · softmax_vjp_columns(S, G): (K, N), (K, N) -> (K, N)
# ====================================================================================

@wrong("softmax_vjp_columns", "wrong_axis", why="row-layout habit: axis=-1")
def svjpc__row_axis(S, G):
    S, G = np.asarray(S), np.asarray(G)
    return S * (G - (G * S).sum(axis=-1, keepdims=True))


@wrong("softmax_vjp_columns", "elementwise_jacobian", why="G * S * (1 - S)")
def svjpc__elementwise(S, G):
    S, G = np.asarray(S), np.asarray(G)
    return G * S * (1 - S)


@wrong("softmax_vjp_columns", "transposed", true=("shape",), why="row-layout result, not .T back")
def svjpc__row_layout_result(S, G):
    S, G = np.asarray(S).T, np.asarray(G).T
    return S * (G - (G * S).sum(axis=-1, keepdims=True))


@wrong("softmax_vjp_columns", "sign", why="subtraction the wrong way round")
def svjpc__sign(S, G):
    S, G = np.asarray(S), np.asarray(G)
    return S * ((G * S).sum(axis=0, keepdims=True) - G)


@wrong("softmax_vjp_columns", "wrong_axis", why="inner product over the whole batch")
def svjpc__global_sum(S, G):
    S, G = np.asarray(S), np.asarray(G)
    return S * (G - (G * S).sum())


@wrong("softmax_vjp_columns", "unnamed", why="sum of G, not <G, S>")
def svjpc__unweighted_sum(S, G):
    S, G = np.asarray(S), np.asarray(G)
    return S * (G - G.sum(axis=0, keepdims=True))


@wrong("softmax_vjp_columns", "uses_reference", why="library on the transposes")
def svjpc__library(S, G):
    return F.softmax_vjp(np.asarray(S).T, np.asarray(G).T).T


@wrong("softmax_vjp_columns", "dtype", why="float16 'to save memory'")
def svjpc__float16(S, G):
    S, G = np.asarray(S, dtype=np.float16), np.asarray(G, dtype=np.float16)
    return S * (G - (G * S).sum(axis=0, keepdims=True))


@correct("softmax_vjp_columns", "no keepdims (harmless in this layout)")
def svjpc_ok__no_keepdims(S, G):
    S, G = np.asarray(S), np.asarray(G)
    return S * (G - (G * S).sum(axis=0))


@correct("softmax_vjp_columns", "through the row layout")
def svjpc_ok__transposes(S, G):
    S, G = np.asarray(S).T, np.asarray(G).T
    return (S * (G - (G * S).sum(axis=1, keepdims=True))).T


@correct("softmax_vjp_columns", "einsum inner product")
def svjpc_ok__einsum(S, G):
    S, G = np.asarray(S), np.asarray(G)
    return S * (G - np.einsum("kn,kn->n", G, S))


@correct("softmax_vjp_columns", "loop over columns")
def svjpc_ok__loop(S, G):
    S, G = np.asarray(S), np.asarray(G)
    out = np.empty_like(S)
    for n in range(S.shape[1]):
        out[:, n] = S[:, n] * (G[:, n] - G[:, n] @ S[:, n])
    return out


# ====================================================================================
# 06 · dense_backward(dZ, A, W) -> (dA, dW, db)
# ====================================================================================

@wrong("dense_backward", "transposed", true=("shape",), why="dW = dZ.T @ A")
def db__dW_transposed(dZ, A, W):
    return dZ @ W.T, dZ.T @ A, dZ.sum(axis=0)


@wrong("dense_backward", "bias_wrong_axis", true=("shape",), why="db over axis 1")
def db__db_axis1(dZ, A, W):
    return dZ @ W.T, A.T @ dZ, dZ.sum(axis=1)


@wrong("dense_backward", "output_order", true=("shape",), why="(dW, dA, db)")
def db__order_dW_dA(dZ, A, W):
    return A.T @ dZ, dZ @ W.T, dZ.sum(axis=0)


@wrong("dense_backward", "transposed", accept=("operand_order",), true=("shape",),
       why="dA = dZ @ W, forgot the transpose")
def db__dA_no_transpose(dZ, A, W):
    return dZ @ W, A.T @ dZ, dZ.sum(axis=0)


@wrong("dense_backward", "transposed", accept=("operand_order",), true=("shape",),
       why="dA in the column convention, W @ dZ.T")
def db__dA_columns(dZ, A, W):
    return W @ dZ.T, A.T @ dZ, dZ.sum(axis=0)


@wrong("dense_backward", "wrong_normaliser", why="db as a mean")
def db__db_mean(dZ, A, W):
    return dZ @ W.T, A.T @ dZ, dZ.mean(axis=0)


@wrong("dense_backward", "wrong_normaliser", why="dW divided by N (N already in dZ)")
def db__dW_over_N(dZ, A, W):
    return dZ @ W.T, A.T @ dZ / A.shape[0], dZ.sum(axis=0)


@wrong("dense_backward", "shape", accept=("bias_wrong_axis",), why="db keepdims: (1, H)")
def db__db_keepdims(dZ, A, W):
    return dZ @ W.T, A.T @ dZ, dZ.sum(axis=0, keepdims=True)


@wrong("dense_backward", "uses_reference", why="the library's Dense layer")
def db__library_dense(dZ, A, W):
    from backprop_lib.layers import Dense

    layer = Dense(W.shape[0], W.shape[1])
    layer.params["W"][...] = W
    layer.forward(A)
    dA = layer.backward(dZ)
    return dA, layer.grads["W"], layer.grads["b"]


@wrong("dense_backward", "output_order", true=("shape",), why="(db, dW, dA)")
def db__reversed(dZ, A, W):
    return dZ.sum(axis=0), A.T @ dZ, dZ @ W.T


@correct("dense_backward", "a list")
def db_ok__list(dZ, A, W):
    return [dZ @ W.T, A.T @ dZ, dZ.sum(axis=0)]


@correct("dense_backward", "einsum")
def db_ok__einsum(dZ, A, W):
    return (np.einsum("nh,dh->nd", dZ, W), np.einsum("nd,nh->dh", A, dZ),
            np.einsum("nh->h", dZ))


@correct("dense_backward", "sum of per-example outer products, ones @ dZ")
def db_ok__loop(dZ, A, W):
    dW = np.zeros_like(W)
    for n in range(A.shape[0]):
        dW += np.outer(A[n], dZ[n])
    return np.dot(dZ, W.T), dW, np.ones(dZ.shape[0], dtype=dZ.dtype) @ dZ


# ====================================================================================
# 06 · numerical_gradient(f, x, h=1e-5)
# ====================================================================================

@wrong("numerical_gradient", "forward_difference", why="(f(x + h) - f(x)) / h")
def ng__forward_diff(f, x, h=1e-5):
    grad = np.zeros(x.shape)
    f0 = f(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        grad[i] = (f(x) - f0) / h
        x[i] = old
    return grad


@wrong("numerical_gradient", "mutates_input", why="never restores x")
def ng__not_restored(f, x, h=1e-5):
    grad = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        x[i] += h
        f_plus = f(x)
        x[i] -= 2 * h
        f_minus = f(x)
        grad[i] = (f_plus - f_minus) / (2 * h)
    return grad


@wrong("numerical_gradient", "wrong_normaliser", why="divides by h, not 2h")
def ng__divide_by_h(f, x, h=1e-5):
    grad = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        f_plus = f(x)
        x[i] = old - h
        f_minus = f(x)
        x[i] = old
        grad[i] = (f_plus - f_minus) / h
    return grad


@wrong("numerical_gradient", "sign", why="f(x - h) - f(x + h)")
def ng__sign(f, x, h=1e-5):
    grad = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        f_plus = f(x)
        x[i] = old - h
        f_minus = f(x)
        x[i] = old
        grad[i] = (f_minus - f_plus) / (2 * h)
    return grad


@wrong("numerical_gradient", "unnamed", why="loops over rows, perturbs a whole row at once")
def ng__rows_only(f, x, h=1e-5):
    grad = np.zeros(x.shape)
    for i in range(len(x)):
        old = x[i].copy()
        x[i] = old + h
        f_plus = f(x)
        x[i] = old - h
        f_minus = f(x)
        x[i] = old
        grad[i] = (f_plus - f_minus) / (2 * h)
    return grad


@wrong("numerical_gradient", "unnamed", why="x + h moves every entry, not e_i")
def ng__all_entries_at_once(f, x, h=1e-5):
    grad = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        grad[i] = (f(x + h) - f(x - h)) / (2 * h)
    return grad


@wrong("numerical_gradient", "uses_reference", why="calls the library")
def ng__library(f, x, h=1e-5):
    from backprop_lib.gradcheck import numerical_gradient

    return numerical_gradient(f, x, h)


@correct("numerical_gradient", "perturbed copies, x never touched")
def ng_ok__copies(f, x, h=1e-5):
    grad = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[i] += h
        minus[i] -= h
        grad[i] = (f(plus) - f(minus)) / (2 * h)
    return grad


@correct("numerical_gradient", "nditer with multi_index")
def ng_ok__nditer(f, x, h=1e-5):
    grad = np.zeros_like(x, dtype=float)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i].copy()
        x[i] = old + h
        f_plus = f(x)
        x[i] = old - h
        f_minus = f(x)
        x[i] = old
        grad[i] = (f_plus - f_minus) / (2 * h)
    return grad


@correct("numerical_gradient", "a flat float copy, reshaped for f")
def ng_ok__flat_copy(f, x, h=1e-5):
    flat = np.array(x, dtype=float).ravel()
    grad = np.zeros_like(flat)
    for k in range(flat.size):
        old = flat[k]
        flat[k] = old + h
        f_plus = f(flat.reshape(x.shape).astype(x.dtype))
        flat[k] = old - h
        f_minus = f(flat.reshape(x.shape).astype(x.dtype))
        flat[k] = old
        grad[k] = (f_plus - f_minus) / (2 * h)
    return grad.reshape(x.shape)


# ====================================================================================
# 06 · last_layer_grad(A, W, b, y) -> (dW, db)
# ====================================================================================

def _dZ_last(A, W, b, y):
    dZ = F.softmax(A @ W + b)
    dZ[np.arange(len(y)), y] -= 1
    return dZ / len(y)


@wrong("last_layer_grad", "missing_batch_mean", why="no 1/N")
def llg__no_mean(A, W, b, y):
    dZ = F.softmax(A @ W + b)
    dZ[np.arange(len(y)), y] -= 1
    return A.T @ dZ, dZ.sum(axis=0)


@wrong("last_layer_grad", "bias_wrong_axis", true=("shape",), why="db over axis 1")
def llg__db_axis1(A, W, b, y):
    dZ = _dZ_last(A, W, b, y)
    return A.T @ dZ, dZ.sum(axis=1)


@wrong("last_layer_grad", "transposed", true=("shape",), why="dW = dZ.T @ A")
def llg__dW_transposed(A, W, b, y):
    dZ = _dZ_last(A, W, b, y)
    return dZ.T @ A, dZ.sum(axis=0)


@wrong("last_layer_grad", "missing_one_hot", why="S / N")
def llg__no_onehot(A, W, b, y):
    dZ = F.softmax(A @ W + b) / len(y)
    return A.T @ dZ, dZ.sum(axis=0)


@wrong("last_layer_grad", "output_order", true=("shape",), why="(db, dW)")
def llg__order(A, W, b, y):
    dZ = _dZ_last(A, W, b, y)
    return dZ.sum(axis=0), A.T @ dZ


@wrong("last_layer_grad", "overflow", true=("not_finite",), why="own softmax without the shift")
def llg__own_softmax_no_shift(A, W, b, y):
    e = np.exp(A @ W + b)
    dZ = e / e.sum(axis=1, keepdims=True)
    dZ[np.arange(len(y)), y] -= 1
    dZ /= len(y)
    return A.T @ dZ, dZ.sum(axis=0)


@wrong("last_layer_grad", "sign", why="(Y - S) / N")
def llg__sign(A, W, b, y):
    dZ = -_dZ_last(A, W, b, y)
    return A.T @ dZ, dZ.sum(axis=0)


@wrong("last_layer_grad", "wrong_index", why="dZ[:, y] -= 1")
def llg__index_block(A, W, b, y):
    dZ = F.softmax(A @ W + b)
    dZ[:, y] -= 1
    dZ /= len(y)
    return A.T @ dZ, dZ.sum(axis=0)


@wrong("last_layer_grad", "wrong_normaliser", why="N twice")
def llg__N_twice(A, W, b, y):
    dZ = _dZ_last(A, W, b, y)
    return A.T @ dZ / len(y), dZ.sum(axis=0) / len(y)


@wrong("last_layer_grad", "missing_term", why="logits without the bias")
def llg__no_bias_forward(A, W, b, y):
    dZ = F.softmax(A @ W)
    dZ[np.arange(len(y)), y] -= 1
    dZ /= len(y)
    return A.T @ dZ, dZ.sum(axis=0)


@wrong("last_layer_grad", "uses_reference", why="the library's cross_entropy_grad")
def llg__library_ce_grad(A, W, b, y):
    dZ = F.cross_entropy_grad(A @ W + b, y)
    return A.T @ dZ, dZ.sum(axis=0)


@correct("last_layer_grad", "own stable softmax and F.one_hot")
def llg_ok__own_softmax(A, W, b, y):
    Z = A @ W + b
    S = _stable_softmax(Z)
    dZ = (S - F.one_hot(y, W.shape[1], dtype=S.dtype)) / len(y)
    return A.T @ dZ, dZ.sum(axis=0)


@correct("last_layer_grad", "einsum")
def llg_ok__einsum(A, W, b, y):
    dZ = _dZ_last(A, W, b, y)
    return np.einsum("nd,nk->dk", A, dZ), np.einsum("nk->k", dZ)


@correct("last_layer_grad", "per-example outer products")
def llg_ok__loop(A, W, b, y):
    dZ = _dZ_last(A, W, b, y)
    dW = np.zeros(W.shape, dtype=dZ.dtype)
    db = np.zeros(W.shape[1], dtype=dZ.dtype)
    for n in range(A.shape[0]):
        dW += np.outer(A[n], dZ[n])
        db += dZ[n]
    return dW, db


# ====================================================================================
# 07 · the learner's earlier pieces (correct), reused by the MLP exercises
# ====================================================================================

def _dense_forward(A, W, b):
    return A @ W + b


def _dense_backward(dZ, A, W):
    return dZ @ W.T, A.T @ dZ, dZ.sum(axis=0)


def _cross_entropy(logits, y):
    return -_log_softmax_rows(logits)[np.arange(len(y)), y].mean()


def _cross_entropy_grad(logits, y):
    return _s_minus_y(logits, y) / len(y)


def _mlp_forward(X, params):
    Z1 = _dense_forward(X, params["W1"], params["b1"])
    A1 = np.maximum(Z1, 0)
    return _dense_forward(A1, params["W2"], params["b2"]), (X, Z1, A1)


def _mlp_backward(dlogits, cache, params):
    X, Z1, A1 = cache
    dA1, dW2, db2 = _dense_backward(dlogits, A1, params["W2"])
    _, dW1, db1 = _dense_backward(dA1 * (Z1 > 0), X, params["W1"])
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


# ====================================================================================
# 07 · mlp_forward(X, params) -> (logits, (X, Z1, A1))
# ====================================================================================

@wrong("mlp_forward", "unnamed", why="A1 = Z1; A1[A1 < 0] = 0 also clips Z1")
def mlpf__relu_alias(X, params):
    Z1 = _dense_forward(X, params["W1"], params["b1"])
    A1 = Z1
    A1[A1 < 0] = 0
    return _dense_forward(A1, params["W2"], params["b2"]), (X, Z1, A1)


@wrong("mlp_forward", "unnamed", why="a ReLU after the last layer too")
def mlpf__relu_on_logits(X, params):
    Z1 = _dense_forward(X, params["W1"], params["b1"])
    A1 = np.maximum(Z1, 0)
    return np.maximum(_dense_forward(A1, params["W2"], params["b2"]), 0), (X, Z1, A1)


@wrong("mlp_forward", "output_order", why="cache (X, A1, Z1)")
def mlpf__cache_order(X, params):
    Z1 = _dense_forward(X, params["W1"], params["b1"])
    A1 = np.maximum(Z1, 0)
    return _dense_forward(A1, params["W2"], params["b2"]), (X, A1, Z1)


@wrong("mlp_forward", "transposed", accept=("operand_order",), true=("shape",),
       why="X @ W1.T")
def mlpf__W1_transposed(X, params):
    Z1 = X @ params["W1"].T + params["b1"]
    A1 = np.maximum(Z1, 0)
    return _dense_forward(A1, params["W2"], params["b2"]), (X, Z1, A1)


@wrong("mlp_forward", "missing_term", why="no b2")
def mlpf__no_b2(X, params):
    Z1 = _dense_forward(X, params["W1"], params["b1"])
    A1 = np.maximum(Z1, 0)
    return A1 @ params["W2"], (X, Z1, A1)


@wrong("mlp_forward", "unnamed", why="softmax on the logits")
def mlpf__softmax_logits(X, params):
    Z1 = _dense_forward(X, params["W1"], params["b1"])
    A1 = np.maximum(Z1, 0)
    return _stable_softmax(_dense_forward(A1, params["W2"], params["b2"])), (X, Z1, A1)


@wrong("mlp_forward", "dtype", why="float64 ReLU buffer")
def mlpf__float64_relu(X, params):
    Z1 = _dense_forward(X, params["W1"], params["b1"])
    A1 = np.zeros(Z1.shape)
    A1[Z1 > 0] = Z1[Z1 > 0]
    return _dense_forward(A1, params["W2"], params["b2"]), (X, Z1, A1)


@wrong("mlp_forward", "bias_wrong_axis", true=("shape",), why="b1 as a column")
def mlpf__bias_column(X, params):
    Z1 = X @ params["W1"] + params["b1"][:, None]
    A1 = np.maximum(Z1, 0)
    return _dense_forward(A1, params["W2"], params["b2"]), (X, Z1, A1)


@correct("mlp_forward", "np.where, cache as a list")
def mlpf_ok__where(X, params):
    Z1 = X @ params["W1"] + params["b1"]
    A1 = np.where(Z1 > 0, Z1, 0)
    return A1 @ params["W2"] + params["b2"], [X, Z1, A1]


@correct("mlp_forward", "mask product")
def mlpf_ok__mask(X, params):
    Z1 = _dense_forward(X, params["W1"], params["b1"])
    A1 = Z1 * (Z1 > 0)
    return _dense_forward(A1, params["W2"], params["b2"]), (X, Z1, A1)


@correct("mlp_forward", "the library's relu (allowed)")
def mlpf_ok__library_relu(X, params):
    Z1 = np.einsum("nd,dh->nh", X, params["W1"]) + params["b1"]
    A1 = F.relu(Z1)
    return np.einsum("nh,hk->nk", A1, params["W2"]) + params["b2"], (X, Z1, A1)


# ====================================================================================
# 07 · mlp_backward(dlogits, cache, params) -> dict of gradients
# ====================================================================================

@wrong("mlp_backward", "unnamed", why="ReLU mask from dA1 > 0")
def mlpb__mask_from_dA1(dlogits, cache, params):
    X, Z1, A1 = cache
    dA1, dW2, db2 = _dense_backward(dlogits, A1, params["W2"])
    _, dW1, db1 = _dense_backward(dA1 * (dA1 > 0), X, params["W1"])
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


@wrong("mlp_backward", "unnamed", accept=("missing_term",), why="skips the ReLU's backward")
def mlpb__no_mask(dlogits, cache, params):
    X, Z1, A1 = cache
    dA1, dW2, db2 = _dense_backward(dlogits, A1, params["W2"])
    _, dW1, db1 = _dense_backward(dA1, X, params["W1"])
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


@wrong("mlp_backward", "transposed", true=("shape",), why="dW2 = dlogits.T @ A1")
def mlpb__dW2_transposed(dlogits, cache, params):
    grads = _mlp_backward(dlogits, cache, params)
    grads["W2"] = dlogits.T @ cache[2]
    return grads


@wrong("mlp_backward", "bias_wrong_axis", true=("shape",), why="db1 over axis 1")
def mlpb__db1_axis1(dlogits, cache, params):
    X, Z1, A1 = cache
    dA1, dW2, db2 = _dense_backward(dlogits, A1, params["W2"])
    dZ1 = dA1 * (Z1 > 0)
    return {"W1": X.T @ dZ1, "b1": dZ1.sum(axis=1), "W2": dW2, "b2": db2}


@wrong("mlp_backward", "unnamed", why="keys dW1, db1, ... instead of the params' keys")
def mlpb__bad_keys(dlogits, cache, params):
    grads = _mlp_backward(dlogits, cache, params)
    return {"d" + name: value for name, value in grads.items()}


@wrong("mlp_backward", "output_order", true=("shape",), why="W1 and W2 gradients swapped")
def mlpb__swapped_W(dlogits, cache, params):
    grads = _mlp_backward(dlogits, cache, params)
    return {"W1": grads["W2"], "b1": grads["b1"], "W2": grads["W1"], "b2": grads["b2"]}


@wrong("mlp_backward", "wrong_normaliser", why="divides by N again")
def mlpb__divides_by_N(dlogits, cache, params):
    grads = _mlp_backward(dlogits, cache, params)
    return {name: value / dlogits.shape[0] for name, value in grads.items()}


@wrong("mlp_backward", "unnamed", true=("shape",), why="dW1 from A1 instead of X")
def mlpb__dW1_from_A1(dlogits, cache, params):
    X, Z1, A1 = cache
    grads = _mlp_backward(dlogits, cache, params)
    dA1 = dlogits @ params["W2"].T
    grads["W1"] = A1.T @ (dA1 * (Z1 > 0))
    return grads


@correct("mlp_backward", "mask from A1 > 0")
def mlpb_ok__mask_A1(dlogits, cache, params):
    X, Z1, A1 = cache
    dA1 = dlogits @ params["W2"].T
    dZ1 = dA1 * (A1 > 0)
    return {"W1": X.T @ dZ1, "b1": dZ1.sum(axis=0), "W2": A1.T @ dlogits,
            "b2": dlogits.sum(axis=0)}


@correct("mlp_backward", "np.where and einsum")
def mlpb_ok__einsum(dlogits, cache, params):
    X, Z1, A1 = cache
    dZ1 = np.where(Z1 > 0, np.einsum("nk,hk->nh", dlogits, params["W2"]), 0)
    return {"W2": np.einsum("nh,nk->hk", A1, dlogits), "b2": dlogits.sum(axis=0),
            "W1": np.einsum("nd,nh->dh", X, dZ1), "b1": dZ1.sum(axis=0)}


# ====================================================================================
# 07 · loss_and_grads(X, y, params) -> (loss, grads)
# ====================================================================================

@wrong("loss_and_grads", "missing_batch_mean", why="gradient without 1/N")
def lag__grad_no_mean(X, y, params):
    logits, cache = _mlp_forward(X, params)
    return _cross_entropy(logits, y), _mlp_backward(_s_minus_y(logits, y), cache, params)


@wrong("loss_and_grads", "missing_batch_mean", why="loss summed")
def lag__loss_sum(X, y, params):
    logits, cache = _mlp_forward(X, params)
    loss = -_log_softmax_rows(logits)[np.arange(len(y)), y].sum()
    return loss, _mlp_backward(_cross_entropy_grad(logits, y), cache, params)


@wrong("loss_and_grads", "output_order", why="(grads, loss)")
def lag__order(X, y, params):
    logits, cache = _mlp_forward(X, params)
    return _mlp_backward(_cross_entropy_grad(logits, y), cache, params), _cross_entropy(logits, y)


@wrong("loss_and_grads", "double_softmax", why="softmax before the loss, which applies it again")
def lag__double_softmax(X, y, params):
    logits, cache = _mlp_forward(X, params)
    probs = _stable_softmax(logits)
    return _cross_entropy(probs, y), _mlp_backward(_cross_entropy_grad(probs, y), cache, params)


@wrong("loss_and_grads", "missing_one_hot", why="gradient S / N")
def lag__no_onehot(X, y, params):
    logits, cache = _mlp_forward(X, params)
    dlogits = _stable_softmax(logits) / len(y)
    return _cross_entropy(logits, y), _mlp_backward(dlogits, cache, params)


@wrong("loss_and_grads", "sign", why="gradient (Y - S) / N")
def lag__sign(X, y, params):
    logits, cache = _mlp_forward(X, params)
    return _cross_entropy(logits, y), _mlp_backward(-_cross_entropy_grad(logits, y), cache,
                                                    params)


@correct("loss_and_grads", "the library's loss functions (allowed here)")
def lag_ok__library_loss(X, y, params):
    logits, cache = _mlp_forward(X, params)
    return F.cross_entropy(logits, y), _mlp_backward(F.cross_entropy_grad(logits, y), cache,
                                                     params)


@correct("loss_and_grads", "own pieces, loss as a Python float")
def lag_ok__own(X, y, params):
    logits, cache = _mlp_forward(X, params)
    return float(_cross_entropy(logits, y)), _mlp_backward(_cross_entropy_grad(logits, y),
                                                           cache, params)


# ====================================================================================
# 07 · sgd_step(params, grads, lr): in place, returns None
# ====================================================================================

@wrong("sgd_step", "sign", why="+= instead of -=")
def sgd__plus(params, grads, lr):
    for name in params:
        params[name] += lr * grads[name]


@wrong("sgd_step", "unnamed", why="pairs params and grads by position")
def sgd__zip_values(params, grads, lr):
    for p, g in zip(params.values(), grads.values(), strict=True):
        p -= lr * g


@wrong("sgd_step", "wrong_normaliser", why="forgot the learning rate")
def sgd__no_lr(params, grads, lr):
    for name in params:
        params[name] -= grads[name]


@wrong("sgd_step", "unnamed", why="rebinds the dict entries instead of updating in place")
def sgd__rebind(params, grads, lr):
    for name in params:
        params[name] = params[name] - lr * grads[name]


@wrong("sgd_step", "uses_reference", why="the library's SGD")
def sgd__library(params, grads, lr):
    from backprop_lib.optim import SGD, Parameter

    SGD(lr=lr).step([Parameter(name, params[name], grads[name]) for name in params])


@wrong("sgd_step", "unnamed", accept=("missing_term",), why="updates the weights only")
def sgd__weights_only(params, grads, lr):
    for name in ("W1", "W2"):
        params[name] -= lr * grads[name]


@wrong("sgd_step", "unnamed", why="returns a new dict, changes nothing")
def sgd__new_dict(params, grads, lr):
    return {name: params[name] - lr * grads[name] for name in params}


@correct("sgd_step", "np.subtract with out=")
def sgd_ok__out(params, grads, lr):
    for name, value in params.items():
        np.subtract(value, lr * grads[name], out=value)


@correct("sgd_step", "slice assignment, looping over grads")
def sgd_ok__slice(params, grads, lr):
    for name in grads:
        params[name][...] = params[name] - grads[name] * lr


# ====================================================================================
# 07 · predict(X): raw digit images (N, 64) -> labels (N,), from a trained network
# ====================================================================================

@lru_cache(maxsize=1)
def _digits_net():
    """The notebook's recipe in short: training-set statistics and a trained 64-64-10 MLP."""
    from backprop_lib.data import load_digits, train_test_split
    from backprop_lib.model import MLP
    from backprop_lib.optim import Adam

    X_all, y_all = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(X_all, y_all, test_size=0.25, seed=0)
    mean, std = X_train.mean(axis=0), X_train.std(axis=0) + 0.01
    model = MLP([64, 64, 10], seed=0)
    model.fit((X_train - mean) / std, y_train, optimizer=Adam(lr=1e-2), epochs=20,
              batch_size=32, seed=0, progress=False)
    params = {p.name: p.value.copy() for p in model.parameters()}
    accuracy = np.mean(_mlp_forward((X_test - mean) / std, params)[0].argmax(axis=1) == y_test)
    return mean, std, params, accuracy


def _digit_logits(X):
    mean, std, params, _ = _digits_net()
    return _mlp_forward((np.asarray(X) - mean) / std, params)[0]


@wrong("predict_digits", "unnamed", why="forgot to standardise")
def pred__no_standardise(X):
    _, _, params, _ = _digits_net()
    return _mlp_forward(np.asarray(X), params)[0].argmax(axis=1)


@wrong("predict_digits", "wrong_axis", true=("shape",), why="argmax over axis 0")
def pred__argmax_axis0(X):
    return _digit_logits(X).argmax(axis=0)


@wrong("predict_digits", "unnamed", true=("shape",), why="returns the logits")
def pred__returns_logits(X):
    return _digit_logits(X)


@wrong("predict_digits", "unnamed", true=("not_finite",),
       why="standardises with the batch's own statistics")
def pred__batch_statistics(X):
    _, _, params, _ = _digits_net()
    X = np.asarray(X, dtype=float)
    return _mlp_forward((X - X.mean(axis=0)) / X.std(axis=0), params)[0].argmax(axis=1)


@wrong("predict_digits", "unnamed", why="labels 1..10 (argmax + 1)")
def pred__plus_one(X):
    return _digit_logits(X).argmax(axis=1) + 1


@correct("predict_digits", "argmax of the softmax (allowed)")
def pred_ok__softmax(X):
    return F.softmax(_digit_logits(X)).argmax(axis=1)


@correct("predict_digits", "a list, one image at a time")
def pred_ok__loop(X):
    return [int(_digit_logits(row[None, :]).argmax()) for row in np.asarray(X)]


# ====================================================================================
# 08 · softmax_cross_entropy(logits, y) -> (loss, dlogits): fix the four bugs
# ====================================================================================

def _fixed_sce(logits, y):
    N = logits.shape[0]
    logp = _log_softmax_rows(logits)
    dlogits = np.exp(logp)
    dlogits[np.arange(N), y] -= 1.0
    return -logp[np.arange(N), y].mean(), dlogits / N


@wrong("fix_softmax_cross_entropy", "missing_batch_mean", why="1/N bug left in the gradient")
def fix__no_mean(logits, y):
    logits, y = np.asarray(logits), np.asarray(y)
    loss, dlogits = _fixed_sce(logits, y)
    return loss, dlogits * logits.shape[0]


@wrong("fix_softmax_cross_entropy", "wrong_axis", why="axis=0 bug left")
def fix__axis0(logits, y):
    logits, y = np.asarray(logits), np.asarray(y)
    N = logits.shape[0]
    shifted = logits - logits.max(axis=0, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=0, keepdims=True))
    dlogits = np.exp(logp)
    dlogits[np.arange(N), y] -= 1.0
    return -logp[np.arange(N), y].mean(), dlogits / N


@wrong("fix_softmax_cross_entropy", "overflow", true=("not_finite",), why="max shift left out")
def fix__no_shift(logits, y):
    logits, y = np.asarray(logits), np.asarray(y)
    N = logits.shape[0]
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    dlogits = np.exp(logp)
    dlogits[np.arange(N), y] -= 1.0
    return -logp[np.arange(N), y].mean(), dlogits / N


@wrong("fix_softmax_cross_entropy", "not_finite", why="log of the softmax left in")
def fix__log_of_softmax(logits, y):
    logits, y = np.asarray(logits), np.asarray(y)
    N = logits.shape[0]
    S = _stable_softmax(logits)
    loss = -np.log(S[np.arange(N), y]).mean()
    dlogits = S.copy()
    dlogits[np.arange(N), y] -= 1.0
    return loss, dlogits / N


@wrong("fix_softmax_cross_entropy", "mutates_input", why="logits -= max in place")
def fix__inplace(logits, y):
    logits, y = np.asarray(logits), np.asarray(y)
    logits -= logits.max(axis=1, keepdims=True)
    return _fixed_sce(logits, y)


@wrong("fix_softmax_cross_entropy", "output_order", true=("shape",), why="(dlogits, loss)")
def fix__order(logits, y):
    loss, dlogits = _fixed_sce(np.asarray(logits), np.asarray(y))
    return dlogits, loss


@wrong("fix_softmax_cross_entropy", "wrong_normaliser", why="gradient divided by N twice")
def fix__grad_N_twice(logits, y):
    logits, y = np.asarray(logits), np.asarray(y)
    loss, dlogits = _fixed_sce(logits, y)
    return loss, dlogits / logits.shape[0]


@wrong("fix_softmax_cross_entropy", "missing_batch_mean", why="loss summed")
def fix__loss_sum(logits, y):
    logits, y = np.asarray(logits), np.asarray(y)
    loss, dlogits = _fixed_sce(logits, y)
    return loss * logits.shape[0], dlogits


@correct("fix_softmax_cross_entropy", "logaddexp, a Python float, a list")
def fix_ok__logaddexp(logits, y):
    logits, y = np.asarray(logits), np.asarray(y)
    N, K = logits.shape
    logp = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
    dlogits = (np.exp(logp) - np.eye(K, dtype=logits.dtype)[y]) / N
    return [float(-logp[np.arange(N), y].mean()), dlogits]


@correct("fix_softmax_cross_entropy", "loop over examples")
def fix_ok__loop(logits, y):
    logits, y = np.asarray(logits), np.asarray(y)
    N = logits.shape[0]
    loss = 0.0
    dlogits = np.empty_like(logits)
    for n in range(N):
        row = logits[n] - logits[n].max()
        lse = np.log(np.exp(row).sum())
        loss -= row[y[n]] - lse
        dlogits[n] = np.exp(row - lse)
        dlogits[n, y[n]] -= 1
    return loss / N, dlogits / N


# ====================================================================================
# 08 · label_smoothing_grad(logits, y, eps) -> (S - Y_eps) / N
# ====================================================================================

@wrong("label_smoothing_grad", "unnamed", why="the eps/(K-1) convention")
def lsg__k_minus_1(logits, y, eps):
    logits, y = np.asarray(logits), np.asarray(y)
    N, K = logits.shape
    target = np.full((N, K), eps / (K - 1), dtype=logits.dtype)
    target[np.arange(N), y] = 1 - eps
    return (_stable_softmax(logits) - target) / N


@wrong("label_smoothing_grad", "missing_batch_mean", why="no 1/N")
def lsg__no_mean(logits, y, eps):
    logits, y = np.asarray(logits), np.asarray(y)
    N, K = logits.shape
    target = (1 - eps) * np.eye(K, dtype=logits.dtype)[y] + eps / K
    return _stable_softmax(logits) - target


@wrong("label_smoothing_grad", "wrong_normaliser", why="eps not divided by K")
def lsg__eps_not_over_K(logits, y, eps):
    logits, y = np.asarray(logits), np.asarray(y)
    N, K = logits.shape
    target = (1 - eps) * np.eye(K, dtype=logits.dtype)[y] + eps
    return (_stable_softmax(logits) - target) / N


@wrong("label_smoothing_grad", "missing_term", why="Y + eps/K: forgot the (1 - eps)")
def lsg__no_one_minus_eps(logits, y, eps):
    logits, y = np.asarray(logits), np.asarray(y)
    N, K = logits.shape
    target = np.eye(K, dtype=logits.dtype)[y] + eps / K
    return (_stable_softmax(logits) - target) / N


@wrong("label_smoothing_grad", "sign", why="(Y_eps - S) / N")
def lsg__sign(logits, y, eps):
    logits, y = np.asarray(logits), np.asarray(y)
    N, K = logits.shape
    target = (1 - eps) * np.eye(K, dtype=logits.dtype)[y] + eps / K
    return (target - _stable_softmax(logits)) / N


@wrong("label_smoothing_grad", "overflow", true=("not_finite",), why="no max shift")
def lsg__no_shift(logits, y, eps):
    logits, y = np.asarray(logits), np.asarray(y)
    N, K = logits.shape
    e = np.exp(logits)
    target = (1 - eps) * np.eye(K, dtype=logits.dtype)[y] + eps / K
    return (e / e.sum(axis=1, keepdims=True) - target) / N


@wrong("label_smoothing_grad", "missing_term", why="ignores eps: (S - Y) / N")
def lsg__ignores_eps(logits, y, eps):
    logits, y = np.asarray(logits), np.asarray(y)
    return _s_minus_y(logits, y) / logits.shape[0]


@wrong("label_smoothing_grad", "missing_term", why="target[n, y] = 1 - eps (= instead of +=)")
def lsg__assign_not_add(logits, y, eps):
    logits, y = np.asarray(logits), np.asarray(y)
    N, K = logits.shape
    target = np.full((N, K), eps / K, dtype=logits.dtype)
    target[np.arange(N), y] = 1 - eps
    return (_stable_softmax(logits) - target) / N


@wrong("label_smoothing_grad", "mutates_input", why="logits -= max in place")
def lsg__inplace(logits, y, eps):
    logits, y = np.asarray(logits), np.asarray(y)
    N, K = logits.shape
    logits -= logits.max(axis=1, keepdims=True)
    S = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    target = (1 - eps) * np.eye(K, dtype=logits.dtype)[y] + eps / K
    return (S - target) / N


@correct("label_smoothing_grad", "mixture of two gradients")
def lsg_ok__mixture(logits, y, eps):
    logits, y = np.asarray(logits), np.asarray(y)
    N, K = logits.shape
    S = _stable_softmax(logits)
    Y = F.one_hot(y, K, dtype=S.dtype)
    return ((1 - eps) * (S - Y) + eps * (S - 1 / K)) / N


@correct("label_smoothing_grad", "loop over examples")
def lsg_ok__loop(logits, y, eps):
    logits, y = np.asarray(logits), np.asarray(y)
    N, K = logits.shape
    out = np.empty_like(logits)
    for n in range(N):
        e = np.exp(logits[n] - logits[n].max())
        out[n] = e / e.sum() - eps / K
        out[n, y[n]] -= 1 - eps
    return out / N


# ====================================================================================
# 08 · weighted_cross_entropy_grad(logits, y, class_weights, ignore_index)
# ====================================================================================

def _weighted_parts(logits, y, class_weights, ignore_index):
    keep = y != ignore_index
    y_safe = np.where(keep, y, 0)
    grad = _stable_softmax(logits)
    grad[np.arange(len(y)), y_safe] -= 1.0
    w = np.where(keep, class_weights[y_safe], 0.0)
    return keep, y_safe, grad, w


@wrong("weighted_cross_entropy_grad", "wrong_normaliser", why="divides by N, not the weight sum")
def wce__div_N(logits, y, class_weights, ignore_index):
    logits, y, class_weights = map(np.asarray, (logits, y, class_weights))
    _, _, grad, w = _weighted_parts(logits, y, class_weights, ignore_index)
    return grad * (w / len(y))[:, None]


@wrong("weighted_cross_entropy_grad", "unnamed", why="forgets ignore_index")
def wce__ignore_forgotten(logits, y, class_weights, ignore_index):
    logits, y, class_weights = map(np.asarray, (logits, y, class_weights))
    grad = _s_minus_y(logits, y)
    w = class_weights[y]
    return grad * (w / w.sum())[:, None]


@wrong("weighted_cross_entropy_grad", "wrong_normaliser",
       why="ignored rows zeroed, but their weights stay in the sum")
def wce__omega_all(logits, y, class_weights, ignore_index):
    logits, y, class_weights = map(np.asarray, (logits, y, class_weights))
    keep, y_safe, grad, w = _weighted_parts(logits, y, class_weights, ignore_index)
    return grad * (w / class_weights[y_safe].sum())[:, None]


@wrong("weighted_cross_entropy_grad", "unnamed", accept=("wrong_axis",),
       why="weights per column k, not per row y_n")
def wce__weights_columns(logits, y, class_weights, ignore_index):
    logits, y, class_weights = map(np.asarray, (logits, y, class_weights))
    keep, _, grad, w = _weighted_parts(logits, y, class_weights, ignore_index)
    return grad * keep[:, None] * class_weights[None, :] / w.sum()


@wrong("weighted_cross_entropy_grad", "sign", why="(Y - S)")
def wce__sign(logits, y, class_weights, ignore_index):
    logits, y, class_weights = map(np.asarray, (logits, y, class_weights))
    _, _, grad, w = _weighted_parts(logits, y, class_weights, ignore_index)
    return -grad * (w / w.sum())[:, None]


@wrong("weighted_cross_entropy_grad", "overflow", true=("not_finite",), why="no max shift")
def wce__no_shift(logits, y, class_weights, ignore_index):
    logits, y, class_weights = map(np.asarray, (logits, y, class_weights))
    keep = y != ignore_index
    y_safe = np.where(keep, y, 0)
    e = np.exp(logits)
    grad = e / e.sum(axis=1, keepdims=True)
    grad[np.arange(len(y)), y_safe] -= 1.0
    w = np.where(keep, class_weights[y_safe], 0.0)
    return grad * (w / w.sum())[:, None]


@wrong("weighted_cross_entropy_grad", "missing_one_hot", why="S only")
def wce__no_onehot(logits, y, class_weights, ignore_index):
    logits, y, class_weights = map(np.asarray, (logits, y, class_weights))
    keep = y != ignore_index
    w = np.where(keep, class_weights[np.where(keep, y, 0)], 0.0)
    return _stable_softmax(logits) * (w / w.sum())[:, None]


@wrong("weighted_cross_entropy_grad", "wrong_normaliser", why="Omega = sum of class_weights")
def wce__omega_classes(logits, y, class_weights, ignore_index):
    logits, y, class_weights = map(np.asarray, (logits, y, class_weights))
    _, _, grad, w = _weighted_parts(logits, y, class_weights, ignore_index)
    return grad * (w / class_weights.sum())[:, None]


@correct("weighted_cross_entropy_grad", "kept rows only, scattered back")
def wce_ok__scatter(logits, y, class_weights, ignore_index):
    logits, y, class_weights = map(np.asarray, (logits, y, class_weights))
    keep = y != ignore_index
    out = np.zeros_like(logits)
    S = _stable_softmax(logits[keep])
    S[np.arange(keep.sum()), y[keep]] -= 1
    w = class_weights[y[keep]]
    out[keep] = S * (w / w.sum())[:, None]
    return out


@correct("weighted_cross_entropy_grad", "loop over examples")
def wce_ok__loop(logits, y, class_weights, ignore_index):
    logits, y, class_weights = map(np.asarray, (logits, y, class_weights))
    out = np.zeros_like(logits)
    total = sum(class_weights[label] for label in y if label != ignore_index)
    for n, label in enumerate(y):
        if label == ignore_index:
            continue
        e = np.exp(logits[n] - logits[n].max())
        out[n] = e / e.sum()
        out[n, label] -= 1
        out[n] *= class_weights[label] / total
    return out


# ====================================================================================
# 08 · log_softmax_vjp(logp, g) -> g - s * sum(g)
# ====================================================================================

@wrong("log_softmax_vjp", "transposed", why="J g = g - <g, s>")
def lsv__J_g(logp, g):
    logp, g = np.asarray(logp), np.asarray(g)
    return g - np.sum(g * np.exp(logp), axis=-1, keepdims=True)


@wrong("log_softmax_vjp", "unnamed", why="the s - Y shortcut with Y = -g")
def lsv__shortcut(logp, g):
    return np.exp(np.asarray(logp)) + np.asarray(g)


@wrong("log_softmax_vjp", "wrong_axis", true=("shape",), why="no keepdims")
def lsv__no_keepdims(logp, g):
    logp, g = np.asarray(logp), np.asarray(g)
    return g - np.exp(logp) * g.sum(axis=-1)


@wrong("log_softmax_vjp", "sign", why="s * sum(g) - g")
def lsv__sign(logp, g):
    logp, g = np.asarray(logp), np.asarray(g)
    return np.exp(logp) * g.sum(axis=-1, keepdims=True) - g


@wrong("log_softmax_vjp", "unnamed", why="logp used as s (forgot exp)")
def lsv__logp_as_s(logp, g):
    logp, g = np.asarray(logp), np.asarray(g)
    return g - logp * g.sum(axis=-1, keepdims=True)


@wrong("log_softmax_vjp", "mutates_input", why="g -= ... in place")
def lsv__inplace_g(logp, g):
    logp, g = np.asarray(logp), np.asarray(g)
    g -= np.exp(logp) * g.sum(axis=-1, keepdims=True)
    return g


@wrong("log_softmax_vjp", "unnamed", why="builds the Jacobians I - 1 s^T (memory limit)")
def lsv__builds_jacobian(logp, g):
    logp, g = np.asarray(logp), np.asarray(g)
    s = np.exp(logp)
    J = np.eye(s.shape[-1], dtype=s.dtype) - s[:, None, :]
    return np.einsum("ni,nij->nj", g, J)


@wrong("log_softmax_vjp", "unnamed", why="the softmax VJP formula")
def lsv__softmax_formula(logp, g):
    logp, g = np.asarray(logp), np.asarray(g)
    s = np.exp(logp)
    return s * (g - np.sum(g * s, axis=-1, keepdims=True))


@wrong("log_softmax_vjp", "wrong_axis", why="sum over axis 0")
def lsv__axis0(logp, g):
    logp, g = np.asarray(logp), np.asarray(g)
    return g - np.exp(logp) * g.sum(axis=0, keepdims=True)


@correct("log_softmax_vjp", "[:, None]")
def lsv_ok__newaxis(logp, g):
    logp, g = np.asarray(logp), np.asarray(g)
    return g - np.exp(logp) * g.sum(axis=-1)[:, None]


@correct("log_softmax_vjp", "einsum sum, expanded")
def lsv_ok__einsum(logp, g):
    logp, g = np.asarray(logp), np.asarray(g)
    return g - np.einsum("nk,n->nk", np.exp(logp), np.einsum("nk->n", g))


@correct("log_softmax_vjp", "loop over rows")
def lsv_ok__loop(logp, g):
    logp, g = np.asarray(logp), np.asarray(g)
    out = np.empty_like(g)
    for n in range(g.shape[0]):
        out[n] = g[n] - np.exp(logp[n]) * g[n].sum()
    return out


# ====================================================================================
# 09 · capstone part 1: class SoftmaxLayer (forward(z), backward(g))
# ====================================================================================

class _SoftmaxBase:
    """The forward pass most learners write; subclasses change one thing."""

    def __init__(self):
        self.params, self.grads = {}, {}

    def forward(self, z):
        self.s = _stable_softmax(z)
        return self.s

    def backward(self, g):
        s = self.s
        return s * (g - np.sum(g * s, axis=-1, keepdims=True))


@wrong("capstone_softmax_layer", "elementwise_jacobian", why="g * s * (1 - s)")
class SoftmaxLayer__elementwise(_SoftmaxBase):
    def backward(self, g):
        return g * self.s * (1 - self.s)


@wrong("capstone_softmax_layer", "overflow", true=("not_finite",), why="no max shift")
class SoftmaxLayer__no_shift(_SoftmaxBase):
    def forward(self, z):
        e = np.exp(np.asarray(z))
        self.s = e / e.sum(axis=-1, keepdims=True)
        return self.s


_SHARED_CACHE = {}


@wrong("capstone_softmax_layer", "unnamed", why="cache in a module-level dict, shared by instances")
class SoftmaxLayer__shared_cache(_SoftmaxBase):
    def forward(self, z):
        _SHARED_CACHE["s"] = _stable_softmax(z)
        return _SHARED_CACHE["s"]

    def backward(self, g):
        s = _SHARED_CACHE["s"]
        return s * (g - np.sum(g * s, axis=-1, keepdims=True))


@wrong("capstone_softmax_layer", "unnamed", why="caches only the first forward")
class SoftmaxLayer__first_forward_only(_SoftmaxBase):
    def forward(self, z):
        s = _stable_softmax(z)
        if getattr(self, "s", None) is None:
            self.s = s
        return s


@wrong("capstone_softmax_layer", "wrong_axis", true=("shape",), why="no keepdims in backward")
class SoftmaxLayer__no_keepdims(_SoftmaxBase):
    def backward(self, g):
        return self.s * (g - np.sum(g * self.s, axis=-1))


@wrong("capstone_softmax_layer", "unnamed", why="backward returns s - g (the loss shortcut)")
class SoftmaxLayer__shortcut(_SoftmaxBase):
    def backward(self, g):
        return self.s - g


@wrong("capstone_softmax_layer", "uses_reference", why="the library's softmax and VJP")
class SoftmaxLayer__library(_SoftmaxBase):
    def forward(self, z):
        self.s = F.softmax(z)
        return self.s

    def backward(self, g):
        return F.softmax_vjp(self.s, g)


@wrong("capstone_softmax_layer", "mutates_input", why="z -= max in place")
class SoftmaxLayer__inplace(_SoftmaxBase):
    def forward(self, z):
        z = np.asarray(z)
        z -= z.max(axis=-1, keepdims=True)
        e = np.exp(z)
        self.s = e / e.sum(axis=-1, keepdims=True)
        return self.s


@wrong("capstone_softmax_layer", "sign", why="<g, s> - g")
class SoftmaxLayer__sign(_SoftmaxBase):
    def backward(self, g):
        return self.s * (np.sum(g * self.s, axis=-1, keepdims=True) - g)


@wrong("capstone_softmax_layer", "wrong_axis", why="axis=1, written for (N, K) batches only")
class SoftmaxLayer__axis1(_SoftmaxBase):
    def forward(self, z):
        z = np.asarray(z)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        self.s = e / e.sum(axis=1, keepdims=True)
        return self.s

    def backward(self, g):
        return self.s * (g - np.sum(g * self.s, axis=1, keepdims=True))


@wrong("capstone_softmax_layer", "unnamed", why="per-row Jacobians by einsum, (N, K) only")
class SoftmaxLayer__jacobian_2d(_SoftmaxBase):
    def backward(self, g):
        s = self.s
        eye = np.eye(s.shape[-1], dtype=s.dtype)
        J = np.einsum("ni,ij->nij", s, eye) - np.einsum("ni,nj->nij", s, s)
        return np.einsum("ni,nij->nj", g, J)


@correct("capstone_softmax_layer", "caches z, recomputes s in backward")
class SoftmaxLayer_ok__cache_z:
    def __init__(self):
        self.params, self.grads = {}, {}

    def forward(self, z):
        self.z = np.array(z, copy=True)
        return _stable_softmax(self.z)

    def backward(self, g):
        s = _stable_softmax(self.z)
        return s * g - s * np.einsum("...k,...k->...", g, s)[..., None]


@correct("capstone_softmax_layer", "subclass of backprop_lib.layers.Layer, float64 inside")
class SoftmaxLayer_ok__layer_subclass(Layer):
    def forward(self, z):
        z = np.asarray(z)
        w = z.astype(np.float64)
        e = np.exp(w - w.max(axis=-1, keepdims=True))
        s = e / e.sum(axis=-1, keepdims=True)
        self._cache = (s, z.dtype)
        return s.astype(z.dtype)

    def backward(self, dout):
        s, dtype = self._cached()
        dout = np.asarray(dout, dtype=np.float64)
        return (s * (dout - (dout * s).sum(axis=-1, keepdims=True))).astype(dtype)


@correct("capstone_softmax_layer", "flattened to rows and back")
class SoftmaxLayer_ok__rows:
    def __init__(self):
        self.params, self.grads = {}, {}

    def forward(self, z):
        z = np.asarray(z)
        rows = z.reshape(-1, z.shape[-1])
        e = np.exp(rows - rows.max(axis=1, keepdims=True))
        self.s = (e / e.sum(axis=1, keepdims=True)).reshape(z.shape)
        return self.s

    def backward(self, g):
        g = np.asarray(g)
        s = self.s.reshape(-1, self.s.shape[-1])
        gr = g.reshape(s.shape)
        return (s * (gr - (gr * s).sum(axis=1, keepdims=True))).reshape(g.shape)


# ====================================================================================
# 09 · capstone part 2: class LogSoftmax
# ====================================================================================

class _LogSoftmaxBase:
    def __init__(self):
        self.params, self.grads = {}, {}

    def forward(self, z):
        z = np.asarray(z)
        shifted = z - z.max(axis=-1, keepdims=True)
        log_s = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        self.s = np.exp(log_s)
        self.log_s = log_s
        return log_s

    def backward(self, g):
        return g - self.s * np.sum(g, axis=-1, keepdims=True)


@wrong("capstone_log_softmax_layer", "transposed", why="J g = g - <g, s>")
class LogSoftmax__J_g(_LogSoftmaxBase):
    def backward(self, g):
        return g - np.sum(g * self.s, axis=-1, keepdims=True)


@wrong("capstone_log_softmax_layer", "not_finite", why="log of the softmax")
class LogSoftmax__log_of_softmax(_LogSoftmaxBase):
    def forward(self, z):
        self.s = _stable_softmax(z)
        return np.log(self.s)


@wrong("capstone_log_softmax_layer", "wrong_axis", true=("shape",), why="no keepdims in backward")
class LogSoftmax__no_keepdims(_LogSoftmaxBase):
    def backward(self, g):
        return g - self.s * np.sum(g, axis=-1)


@wrong("capstone_log_softmax_layer", "unnamed", why="the softmax VJP in backward")
class LogSoftmax__softmax_vjp(_LogSoftmaxBase):
    def backward(self, g):
        return self.s * (g - np.sum(g * self.s, axis=-1, keepdims=True))


@wrong("capstone_log_softmax_layer", "unnamed", why="cache in a class attribute")
class LogSoftmax__class_cache(_LogSoftmaxBase):
    def forward(self, z):
        log_s = super().forward(z)
        type(self).shared_s = self.s
        return log_s

    def backward(self, g):
        return g - type(self).shared_s * np.sum(g, axis=-1, keepdims=True)


@wrong("capstone_log_softmax_layer", "overflow", true=("not_finite",), why="no max shift")
class LogSoftmax__no_shift(_LogSoftmaxBase):
    def forward(self, z):
        z = np.asarray(z)
        log_s = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
        self.s = np.exp(log_s)
        return log_s


@wrong("capstone_log_softmax_layer", "sign", why="s * sum(g) - g")
class LogSoftmax__sign(_LogSoftmaxBase):
    def backward(self, g):
        return self.s * np.sum(g, axis=-1, keepdims=True) - g


@wrong("capstone_log_softmax_layer", "unnamed", why="log_s used as s in backward")
class LogSoftmax__log_s_as_s(_LogSoftmaxBase):
    def backward(self, g):
        return g - self.log_s * np.sum(g, axis=-1, keepdims=True)


@wrong("capstone_log_softmax_layer", "uses_reference", why="the library's log_softmax")
class LogSoftmax__library(_LogSoftmaxBase):
    def forward(self, z):
        log_s = F.log_softmax(z)
        self.s = np.exp(log_s)
        return log_s


@correct("capstone_log_softmax_layer", "logaddexp, exp in backward")
class LogSoftmax_ok__logaddexp:
    def __init__(self):
        self.params, self.grads = {}, {}

    def forward(self, z):
        z = np.asarray(z)
        self.log_s = z - np.logaddexp.reduce(z, axis=-1, keepdims=True)
        return self.log_s

    def backward(self, g):
        g = np.asarray(g)
        return g - np.exp(self.log_s) * g.sum(axis=-1, keepdims=True)


@correct("capstone_log_softmax_layer", "einsum sums")
class LogSoftmax_ok__einsum(_LogSoftmaxBase):
    def backward(self, g):
        return g - self.s * np.einsum("...k->...", g)[..., None]


# ====================================================================================
# 09 · capstone part 3: smoothed_weighted_ce(logits, y, class_weights, smoothing)
# ====================================================================================

def _swce_parts(logits, y, class_weights, smoothing):
    logits, y = np.asarray(logits), np.asarray(y)
    N, K = logits.shape
    log_p = _log_softmax_rows(logits)
    q = np.full((N, K), smoothing / K, dtype=logits.dtype)
    q[np.arange(N), y] += 1 - smoothing
    omega = np.asarray(class_weights)[y]
    return log_p, q, omega


def _swce_loss(log_p, q, omega):
    return -np.sum(omega * np.sum(q * log_p, axis=1)) / omega.sum()


@wrong("capstone_smoothed_weighted_ce", "wrong_normaliser", why="divides by N")
def cap3__div_N(logits, y, class_weights, smoothing):
    log_p, q, omega = _swce_parts(logits, y, class_weights, smoothing)
    N = len(omega)
    loss = -np.sum(omega * np.sum(q * log_p, axis=1)) / N
    return loss, omega[:, None] * (np.exp(log_p) - q) / N


@wrong("capstone_smoothed_weighted_ce", "unnamed", why="eps/(K-1) convention")
def cap3__k_minus_1(logits, y, class_weights, smoothing):
    logits, y = np.asarray(logits), np.asarray(y)
    N, K = logits.shape
    log_p = _log_softmax_rows(logits)
    q = np.full((N, K), smoothing / (K - 1) if K > 1 else 0.0, dtype=logits.dtype)
    q[np.arange(N), y] = 1 - smoothing if K > 1 else 1.0
    omega = np.asarray(class_weights)[y]
    return _swce_loss(log_p, q, omega), omega[:, None] * (np.exp(log_p) - q) / omega.sum()


@wrong("capstone_smoothed_weighted_ce", "not_finite", why="log of the softmax")
def cap3__log_of_softmax(logits, y, class_weights, smoothing):
    _, q, omega = _swce_parts(logits, y, class_weights, smoothing)
    S = _stable_softmax(logits)
    return _swce_loss(np.log(S), q, omega), omega[:, None] * (S - q) / omega.sum()


@wrong("capstone_smoothed_weighted_ce", "unnamed", why="gradient without the example weights")
def cap3__grad_unweighted(logits, y, class_weights, smoothing):
    log_p, q, omega = _swce_parts(logits, y, class_weights, smoothing)
    return _swce_loss(log_p, q, omega), (np.exp(log_p) - q) / omega.sum()


@wrong("capstone_smoothed_weighted_ce", "missing_term", why="gradient against one-hot, not q")
def cap3__grad_no_smoothing(logits, y, class_weights, smoothing):
    log_p, q, omega = _swce_parts(logits, y, class_weights, smoothing)
    Y = np.eye(log_p.shape[1], dtype=log_p.dtype)[np.asarray(y)]
    return _swce_loss(log_p, q, omega), omega[:, None] * (np.exp(log_p) - Y) / omega.sum()


@wrong("capstone_smoothed_weighted_ce", "sign", why="gradient q - S")
def cap3__grad_sign(logits, y, class_weights, smoothing):
    log_p, q, omega = _swce_parts(logits, y, class_weights, smoothing)
    return _swce_loss(log_p, q, omega), omega[:, None] * (q - np.exp(log_p)) / omega.sum()


@wrong("capstone_smoothed_weighted_ce", "output_order", true=("shape",), why="(dlogits, loss)")
def cap3__order(logits, y, class_weights, smoothing):
    log_p, q, omega = _swce_parts(logits, y, class_weights, smoothing)
    return omega[:, None] * (np.exp(log_p) - q) / omega.sum(), _swce_loss(log_p, q, omega)


@wrong("capstone_smoothed_weighted_ce", "unnamed", accept=("wrong_axis",),
       why="weights per column k, not per example")
def cap3__weights_columns(logits, y, class_weights, smoothing):
    log_p, q, omega = _swce_parts(logits, y, class_weights, smoothing)
    w = np.asarray(class_weights)[None, :]
    return _swce_loss(log_p, q, omega), w * (np.exp(log_p) - q) / omega.sum()


@wrong("capstone_smoothed_weighted_ce", "overflow", true=("not_finite",), why="no max shift")
def cap3__no_shift(logits, y, class_weights, smoothing):
    _, q, omega = _swce_parts(logits, y, class_weights, smoothing)
    logits = np.asarray(logits)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return _swce_loss(log_p, q, omega), omega[:, None] * (np.exp(log_p) - q) / omega.sum()


@wrong("capstone_smoothed_weighted_ce", "wrong_normaliser", accept=("missing_batch_mean",),
       why="gradient not divided by the total weight")
def cap3__grad_no_normaliser(logits, y, class_weights, smoothing):
    log_p, q, omega = _swce_parts(logits, y, class_weights, smoothing)
    return _swce_loss(log_p, q, omega), omega[:, None] * (np.exp(log_p) - q)


@wrong("capstone_smoothed_weighted_ce", "mutates_input", why="logits -= max in place")
def cap3__inplace(logits, y, class_weights, smoothing):
    logits = np.asarray(logits)
    logits -= logits.max(axis=1, keepdims=True)
    log_p, q, omega = _swce_parts(logits, y, class_weights, smoothing)
    return _swce_loss(log_p, q, omega), omega[:, None] * (np.exp(log_p) - q) / omega.sum()


@correct("capstone_smoothed_weighted_ce", "mixture form, a list, Python float")
def cap3_ok__mixture(logits, y, class_weights, smoothing):
    logits, y = np.asarray(logits), np.asarray(y)
    N, K = logits.shape
    log_p = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
    omega = np.asarray(class_weights, dtype=logits.dtype)[y]
    w = omega / omega.sum()
    nll = -log_p[np.arange(N), y]
    smooth = -log_p.mean(axis=1)
    loss = float(np.sum(w * ((1 - smoothing) * nll + smoothing * smooth)))
    S = np.exp(log_p)
    Y = np.eye(K, dtype=logits.dtype)[y]
    return [loss, w[:, None] * ((1 - smoothing) * (S - Y) + smoothing * (S - 1 / K))]


@correct("capstone_smoothed_weighted_ce", "loop over examples")
def cap3_ok__loop(logits, y, class_weights, smoothing):
    logits, y = np.asarray(logits), np.asarray(y)
    N, K = logits.shape
    total = sum(class_weights[label] for label in y)
    loss = 0.0
    grad = np.zeros_like(logits)
    for n in range(N):
        row = logits[n] - logits[n].max()
        log_p = row - np.log(np.exp(row).sum())
        q = np.full(K, smoothing / K)
        q[y[n]] += 1 - smoothing
        loss -= class_weights[y[n]] * np.dot(q, log_p)
        grad[n] = class_weights[y[n]] * (np.exp(log_p) - q)
    return float(loss / total), grad / total


# ====================================================================================
# The measurement
# ====================================================================================

@dataclass
class Run:
    """One grading of one answer."""

    how: str
    status: str
    codes: tuple
    message: str
    sentences: tuple
    case: str
    mismatch: str


@dataclass
class Measured:
    entry: Answer
    runs: list = field(default_factory=list)

    @property
    def fixed(self):
        return [run for run in self.runs if run.how.startswith("seed")]

    @property
    def named(self):
        wanted = {self.entry.label, *self.entry.accept}
        return all(wanted & set(run.codes) for run in self.fixed)

    @property
    def named_by_check(self):
        wanted = {self.entry.label, *self.entry.accept}
        return all(wanted & set(run.codes) for run in self.runs if run.how == "check")

    @property
    def false_codes(self):
        """Codes outside label + accept + true, under the fixed seeds."""
        return sorted({code for run in self.fixed for code in run.codes} - self.entry.allowed)

    @property
    def false_codes_by_check(self):
        return sorted({code for run in self.runs if run.how == "check" for code in run.codes}
                      - self.entry.allowed)

    @property
    def passed_any(self):
        return any(run.status == "passed" for run in self.runs)

    @property
    def rejected_any(self):
        return any(run.status != "passed" for run in self.runs)


def _run(result, how):
    return Run(how=how, status=result.status, codes=tuple(result.diagnosis),
               message=result.message, sentences=tuple(s for _, s in result.explanations),
               case=result.case, mismatch=result.mismatch)


def measure(entry):
    """Grade one answer under the fixed seeds and once through check()."""
    exercise = get_exercise(entry.exercise)
    measured = Measured(entry)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for seed in SEEDS:
            measured.runs.append(_run(exercise.grade(entry.answer, seed=seed), f"seed {seed}"))
        measured.runs.append(_run(check(entry.exercise, entry.answer), "check"))
    return measured


def summarise(wrong_results, correct_results):
    """The figures of one run: rates overall and per exercise."""
    nameable = [m for m in wrong_results if m.entry.nameable]
    named = [m for m in nameable if m.named]
    per_exercise = defaultdict(lambda: [0, 0, 0, 0, 0, 0])   # named, nameable, wrong, false,
    for m in wrong_results:                                   # accepted, correct rejected
        row = per_exercise[m.entry.exercise]
        row[2] += 1
        row[0] += m.entry.nameable and m.named
        row[1] += m.entry.nameable
        row[3] += bool(m.false_codes)
        row[4] += m.passed_any
    for m in correct_results:
        per_exercise[m.entry.exercise][5] += m.rejected_any
    return {
        "wrong": len(wrong_results),
        "nameable": len(nameable),
        "named": len(named),
        "named_by_check": sum(m.named_by_check for m in nameable),
        "false": sum(bool(m.false_codes) for m in wrong_results),
        "false_by_check": sum(bool(m.false_codes_by_check) for m in wrong_results),
        "wrong_accepted": sum(m.passed_any for m in wrong_results),
        "correct": len(correct_results),
        "correct_rejected": sum(m.rejected_any for m in correct_results),
        "per_exercise": dict(per_exercise),
    }


def table(summary):
    """The per-exercise table, as text."""
    lines = [f"{'exercise':32} {'named/nameable':>15} {'wrong':>6} {'false':>6} "
             f"{'accepted':>9} {'ok rejected':>12}"]
    for exercise, (named, nameable, n_wrong, false, accepted, rejected) in \
            summary["per_exercise"].items():
        lines.append(f"{exercise:32} {f'{named}/{nameable}':>15} {n_wrong:>6} {false:>6} "
                     f"{accepted:>9} {rejected:>12}")
    fraction = f"{summary['named']}/{summary['nameable']}"
    lines.append(f"{'overall':32} {fraction:>15} {summary['wrong']:>6} {summary['false']:>6} "
                 f"{summary['wrong_accepted']:>9} {summary['correct_rejected']:>12}")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def measurements(tmp_path_factory):
    """Every answer of the set, graded (a few minutes: about 200 answers, three gradings each)."""
    previous = os.environ.get("BACKPROP_PROGRESS_FILE")
    os.environ["BACKPROP_PROGRESS_FILE"] = str(tmp_path_factory.mktemp("progress") / "p.json")
    try:
        _digits_net()                      # train once, before any executor forks
        wrong_results = [measure(entry) for entry in WRONG]
        correct_results = [measure(entry) for entry in CORRECT]
    finally:
        if previous is None:
            os.environ.pop("BACKPROP_PROGRESS_FILE", None)
        else:
            os.environ["BACKPROP_PROGRESS_FILE"] = previous
    summary = summarise(wrong_results, correct_results)
    print("\n" + table(summary))
    return wrong_results, correct_results, summary


# The first run's figures (commit b24ac2f, before any change): held from now on.
FIRST_RUN = {"wrong": 250, "nameable": 191, "named": 173, "false": 14, "wrong_accepted": 6,
             "correct": 85, "correct_rejected": 1}

#: Wrong answers the grader accepted on the first run (see the module docstring).
ACCEPTED_ON_FIRST_RUN = {
    "dense_forward__float32_buffer", "softmax__float64_buffer", "sjb__eye_float64",
    "ceg__eye_float64", "mlpf__float64_relu", "sgd__library",
}

#: Correct alternatives the grader rejected on the first run, and why (a grader bug each).
#: ``mlpf_ok__where`` (its cache a list [X, Z1, A1], refused by mlp_forward's wrapper) was
#: the one on the first run; the wrapper accepts a list since, so the set is empty now.
KNOWN_REJECTED = {}

#: Wrong answers accepted on the first run that the grader has rejected since (bug fixed):
#: ``sgd__library`` calls backprop_lib.optim.SGD, a watched reference module since.
REJECTED_SINCE = {"sgd__library"}


def test_the_set_is_what_it_says():
    """At least 120 wrong answers (3 per numeric exercise) and 40 correct alternatives."""
    from backprop_lib.grading import exercises

    numeric = [i for i in exercises() if get_exercise(i).kind == "function"]
    per_exercise = defaultdict(int)
    for entry in WRONG:
        per_exercise[entry.exercise] += 1
    assert len(WRONG) >= 120 and len(CORRECT) >= 40
    assert {e for e in per_exercise if per_exercise[e] >= 3} == set(numeric)
    assert len({(e.exercise, e.name) for e in WRONG + CORRECT}) == len(WRONG + CORRECT)


def test_the_digits_network_is_good_enough():
    """The network the predict answers use reaches the notebook's accuracy."""
    assert _digits_net()[3] >= 0.96


@pytest.mark.parametrize(
    "entry",
    [pytest.param(e, id=f"{e.exercise}/{e.name}",
                  marks=[pytest.mark.xfail(strict=True, reason=KNOWN_REJECTED[e.name])]
                  if e.name in KNOWN_REJECTED else [])
     for e in CORRECT])
def test_correct_alternative_passes(measurements, entry):
    _, correct_results, _ = measurements
    measured = next(m for m in correct_results if m.entry is entry)
    assert not measured.rejected_any, [(r.how, r.status, r.message) for r in measured.runs]


def test_naming_rate_and_false_findings_hold(measurements, capsys):
    """Named / nameable >= the first run's rate (rounded down to the percent); false findings
    <= the first run's rate (rounded up); no wrong answer passes that failed on the first run."""
    wrong_results, _, summary = measurements
    with capsys.disabled():
        print("\n" + table(summary))
    rate = summary["named"] / summary["nameable"]
    assert summary["nameable"] == FIRST_RUN["nameable"], "the set changed: re-measure"
    assert rate >= math.floor(100 * FIRST_RUN["named"] / FIRST_RUN["nameable"]) / 100, \
        table(summary)
    false_rate = summary["false"] / summary["wrong"]
    assert false_rate <= math.ceil(100 * FIRST_RUN["false"] / FIRST_RUN["wrong"]) / 100, \
        table(summary)
    accepted = {m.entry.name for m in wrong_results if m.passed_any}
    assert accepted <= ACCEPTED_ON_FIRST_RUN - REJECTED_SINCE, accepted - (
        ACCEPTED_ON_FIRST_RUN - REJECTED_SINCE)


def _hidden_sizes(exercise_id, seed, case_text):
    """The array shapes of the hidden case a run failed on, as the panel would print them."""
    import re

    found = re.match(r"hidden case (\d+) of", case_text)
    if not found:
        return set()
    exercise = get_exercise(exercise_id)
    public = len(list(exercise.public_cases()))
    cases = list(exercise.public_cases()) + list(
        exercise.hidden_cases(np.random.default_rng(seed)))
    case = cases[public + int(found.group(1)) - 1]
    shapes = {np.shape(arg) for arg in case.args if np.ndim(arg) >= 1}
    return {text for shape in shapes if max(shape) > 2     # sizes the case label does not give
            for text in (str(shape), str(shape).replace(" ", ""), f"({shape[0]},)")}


def test_capstone_panels_do_not_show_the_hidden_case_sizes(measurements):
    """Notebook 09 promises feedback that names the mistake 'but not the inputs it found it
    with'. The sizes of the hidden case that failed must not appear in the panel."""
    wrong_results, _, _ = measurements
    leaks = []
    for m in wrong_results:
        if not m.entry.exercise.startswith("capstone_"):
            continue
        for seed, run in zip(SEEDS, m.fixed, strict=True):
            text = " ".join((run.message, *run.sentences))
            shown = {s for s in _hidden_sizes(m.entry.exercise, seed, run.case) if s in text}
            if shown:
                leaks.append((m.entry.name, run.how, sorted(shown)))
    assert not leaks, leaks


def _record(measured):
    entry = measured.entry
    return {"exercise": entry.exercise, "name": entry.name, "label": entry.label,
            "accept": list(entry.accept), "true": list(entry.true), "why": entry.why,
            "named": measured.named if entry.label else None,
            "named_by_check": measured.named_by_check if entry.label else None,
            "false_codes": measured.false_codes if entry.label else [],
            "false_codes_by_check": measured.false_codes_by_check if entry.label else [],
            "runs": [vars(run) | {"codes": list(run.codes), "sentences": list(run.sentences)}
                     for run in measured.runs]}


def main(argv=None):
    """Grade the whole set once and write every run to a JSON file.

    ``python tests/test_grading_independent.py out.json`` (the first run was made this way).
    """
    import json
    import sys
    import tempfile

    argv = sys.argv[1:] if argv is None else argv
    os.environ.setdefault("BACKPROP_PROGRESS_FILE",
                          os.path.join(tempfile.mkdtemp(), "progress.json"))
    _digits_net()
    wrong_results = [measure(entry) for entry in WRONG]
    correct_results = [measure(entry) for entry in CORRECT]
    summary = summarise(wrong_results, correct_results)
    print(table(summary))
    print({k: v for k, v in summary.items() if k != "per_exercise"})
    if argv:
        with open(argv[0], "w", encoding="utf-8") as out:
            json.dump({"summary": summary, "digits_accuracy": _digits_net()[3],
                       "wrong": [_record(m) for m in wrong_results],
                       "correct": [_record(m) for m in correct_results]}, out, indent=1)


if __name__ == "__main__":
    main()
