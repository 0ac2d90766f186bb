"""Exercises of notebook 03 (The softmax Jacobian): ``softmax_jacobian``,
``softmax_jacobian_batch`` and three questions (the Jacobian's shape, its value at a one-hot
output, its largest entry).

Everything about each exercise lives here: public cases, hidden-case generator,
reference, named wrong variants and hints (see CONTRIBUTING.md, "Adding an exercise").
"""

from __future__ import annotations

import numpy as np

from ... import functional as F
from ..cases import (
    Case,
    as_float64,
    describe_array,
    probabilities,
    random_size,
    with_layout,
)
from ..decomposition import Term
from ..mistakes import WrongVariant
from ..numeric import NumericExercise
from ..probes import probe, readable_probabilities
from ..questions import Question
from ..registry import register

_F64, _F32 = np.float64, np.float32


register(Question(
    id="jacobian_shape", notebook=3, title="Shape of the softmax Jacobian", points=1.0,
    prompt="Softmax over K = 5 classes maps 5 logits z to 5 probabilities s. What is the "
           "shape of its Jacobian ds/dz for one example?",
    answer_kind="shape",
    answer_hash="b0f6ba427a84ce519996f87ae4a0d481cc712f485a8a92544c4a1c67175b7050",
    explanation="There is one partial derivative ds_i/dz_j for every pair (i, j): K rows "
                "(outputs) by K columns (logits). Each probability depends on every logit, so "
                "the off-diagonal entries are not zero.",
    wrong_feedback={
        "e5f6f788f1618a13ab95db41f041da1beacb02d313120a083ebe353c63a7e253":
            "That is the shape of s (or z). The Jacobian holds the derivative of EVERY "
            "output with respect to EVERY input.",
    },
    hints=(
        "A Jacobian has one row per output and one column per input.",
        "How many outputs s_i, and how many inputs z_j?",
        "Count the pairs (i, j).",
    ),
))


def _jacobian_public():
    s1 = np.array([0.2, 0.3, 0.5])
    s2 = F.softmax(np.array([1.0, 0.0]))
    return [Case((s1,), f"s = {s1.tolist()}", hidden=False),
            Case((s2,), "s = softmax([1, 0]) (K = 2)", hidden=False)]


def _jacobian_hidden(rng):
    cases = []
    for k, dtype, regime, layout in ((2, _F64, "normal", "C"), ("k", _F32, "normal", "strided"),
                                     ("k", _F64, "extreme", "reversed"),
                                     ("k", _F64, "tied", "C"), ("big", _F32, "normal", "C")):
        k = {"k": random_size(rng, 3, 60), "big": random_size(rng, 150, 300)}.get(k, k)
        s = with_layout(probabilities(rng, (k,), dtype, regime), layout)
        cases.append(Case((s,), describe_array("s", s, "softmax of " + regime + " logits"),
                          dtype=dtype))
    return cases


def _jacobian_variants(batched):
    def diag_of(v):
        v = np.asarray(v)
        return v[..., :, None] * np.eye(v.shape[-1])

    def outer(s):
        return s[..., :, None] * s[..., None, :]

    sub = "each (K, K) block of " if batched else ""
    variants = [
        WrongVariant("diagonal_only", "elementwise_jacobian",
                     f"You put only s_i (1 - s_i) on the diagonal of {sub}J and zeros elsewhere. "
                     "The off-diagonal entries are -s_i s_j: every output depends on every logit.",
                     lambda s: diag_of(np.asarray(s) * (1 - np.asarray(s)))),
        WrongVariant("elementwise_vector", "elementwise_jacobian",
                     "You returned the vector s * (1 - s), the derivative of a sigmoid-like "
                     "element-wise function. Softmax's derivative is a full (K, K) matrix.",
                     lambda s: np.asarray(s) * (1 - np.asarray(s))),
        WrongVariant("negated", "sign",
                     "Your Jacobian is s s^T - diag(s): the sign is flipped. Diagonal entries "
                     "s_i (1 - s_i) are positive.",
                     lambda s: outer(np.asarray(s)) - diag_of(s)),
        WrongVariant("no_diagonal", None,
                     "You returned -s s^T and forgot the diag(s) term (the Kronecker delta "
                     "delta_ij in s_i (delta_ij - s_j)).",
                     lambda s: -outer(np.asarray(s))),
        WrongVariant("softmax_of_s", None,
                     "You applied softmax to s again. The function receives the softmax OUTPUT "
                     "s; use it directly.",
                     lambda s: F.softmax_jacobian(F.softmax(as_float64(s)))),
    ]
    variants = [v if v.name != "no_diagonal" else WrongVariant(
        v.name, "missing_term", v.sentence, v.compute) for v in variants]
    variants = [v if v.name != "softmax_of_s" else WrongVariant(
        v.name, "double_softmax", v.sentence, v.compute) for v in variants]
    if batched:
        variants.append(WrongVariant(
            "summed_over_batch", "wrong_axis",
            "You combined the examples of the batch into a single (K, K) matrix. Each example "
            "has its own Jacobian: the result is (N, K, K).",
            lambda S: np.diag(np.asarray(S).sum(0)) - np.asarray(S).T @ np.asarray(S)))
    return tuple(variants)


def _f64(s):
    return np.asarray(s, dtype=np.float64)


def _eye_like(s):
    """The identity (K, K), broadcastable against a batch of Jacobians."""
    return np.eye(np.shape(s)[-1])


def _no_batch():
    raise ValueError("not a batch")


def _jacobian_terms():
    """J = 1 * diag(s) - 1 * s s^T, and the terms of likely mistakes."""
    def diag(v):
        return _f64(v)[..., :, None] * _eye_like(v)

    def outer(s):
        s = _f64(s)
        return s[..., :, None] * s[..., None, :]

    def ones(s):
        return np.ones(np.shape(s) + (np.shape(s)[-1],))

    return (
        Term("diag", "diagonal term diag(s)", diag, "1",
             sentence="You left out the diagonal term diag(s) (the Kronecker delta part of "
                      "s_i (delta_ij - s_j)): the diagonal must be s_i (1 - s_i)."),
        Term("outer", "outer-product term s s^T", outer, "-1",
             sentence="You left out the outer-product term -s s^T: the off-diagonal entries "
                      "are -s_i s_j, because every output depends on every logit."),
        Term("diag_sq", "diagonal of s s^T", lambda s: diag(_f64(s) ** 2),
             code="elementwise_jacobian",
             sentence="You kept only the diagonal s_i (1 - s_i) and put zeros off the "
                      "diagonal, as if each output depended on its own logit only. The "
                      "off-diagonal entries are -s_i s_j.", replaces="outer"),
        Term("identity", "identity matrix", lambda s: _eye_like(s) * np.ones(
            np.shape(s)[:-1] + (1, 1)), code="missing_term",
             sentence="Your diagonal term is the identity (delta_ij) where s_i delta_ij "
                      "belongs: ds_i/dz_j = s_i (delta_ij - s_j), so the diagonal term is "
                      "diag(s), not I.", replaces="diag"),
        Term("s_rows", "s_i in every column", lambda s: _f64(s)[..., :, None] * ones(s),
             code="missing_term",
             sentence="You computed s_i (1 - s_j) for every entry: the Kronecker delta is "
                      "missing, so s_i appears off the diagonal too. Only the diagonal gets "
                      "s_i: J = diag(s) - s s^T.", replaces="diag"),
        Term("s_cols", "s_j in every row", lambda s: _f64(s)[..., None, :] * ones(s),
             code="missing_term",
             sentence="You computed s_j (1 - s_i) for every entry: the Kronecker delta is "
                      "missing, so s_j appears off the diagonal too. Only the diagonal gets "
                      "s_i: J = diag(s) - s s^T.", replaces="diag"),
        Term("outer_summed", "outer products summed over the batch",
             lambda S: np.broadcast_to(np.einsum("ni,nj->ij", _f64(S), _f64(S)),
                                       np.shape(S) + (np.shape(S)[-1],)) if np.ndim(S) == 2
             else _no_batch(), code="wrong_axis",
             sentence="Your outer-product term sums S[n, i] S[n, j] over the batch (an einsum "
                      "such as 'ni,nj->ij' drops the n): every example gets the same (K, K) "
                      "matrix. Keep n in the output: 'ni,nj->nij'.", replaces="outer"),
        Term("inner", "inner product s . s in every entry",
             lambda s: (_f64(s) ** 2).sum(axis=-1)[..., None, None] * ones(s),
             code="inner_product",
             sentence="You subtracted the number s . s from every entry: for a 1-D array "
                      "s @ s.T is the inner product (.T does nothing to a 1-D array). The "
                      "outer product is np.outer(s, s), or s[:, None] * s[None, :].",
             replaces="outer"),
    )


def _jacobian_probes():
    return [probe((readable_probabilities(1, 4, 30)[0],), "s of length K = 4"),
            probe((readable_probabilities(1, 5, 31)[0],), "s of length K = 5")]


def _jacobian_batch_probes():
    return [probe((readable_probabilities(3, 3, 32),), "S of shape (3, 3): N = K"),
            probe((readable_probabilities(2, 4, 33),), "S of shape (2, 4)"),
            probe((readable_probabilities(4, 5, 34),), "S of shape (4, 5)")]


def _jacobian_columns(S):
    """One Jacobian per COLUMN of S (a loop over S.T): (K, N, N)."""
    return np.stack([np.diag(c) - np.outer(c, c) for c in as_float64(S).T])


register(NumericExercise(
    id="softmax_jacobian", notebook=3, title="Softmax Jacobian (one example)", points=2.0,
    signature="softmax_jacobian(s)", arg_names=("s",),
    reference=lambda s: F.softmax_jacobian(as_float64(s)),
    public_cases=_jacobian_public, hidden_cases=_jacobian_hidden,
    variants=_jacobian_variants(batched=False),
    probes=_jacobian_probes, terms=_jacobian_terms(), dims=lambda s: {"K": np.shape(s)[-1]},
    hints=(
        "The input is the softmax OUTPUT s, shape (K,). The result J has J[i, j] = ds_i/dz_j, "
        "shape (K, K).",
        "Componentwise: ds_i/dz_j = s_i (delta_ij - s_j), where delta_ij is 1 if i == j "
        "else 0. So the diagonal is s_i (1 - s_i) and the off-diagonal entries are -s_i s_j.",
        "In matrix form J = diag(s) - s s^T. NumPy: np.diag(s) builds the first term, "
        "np.outer(s, s) the second.",
        "`return np.diag(s) - np.outer(s, s)`.",
    ),
))


def _jacobian_batch_public():
    S = np.array([[0.2, 0.3, 0.5], [0.7, 0.2, 0.1]])
    return [Case((S,), f"S = {S.tolist()}", hidden=False),
            Case((S[:1],), "a batch of one example, S of shape (1, 3)", hidden=False)]


def _jacobian_batch_hidden(rng):
    cases = []
    for n, k, dtype, regime, layout in ((1, 2, _F64, "normal", "C"),
                                        ("n", "k", _F32, "normal", "F"),
                                        ("n", "k", _F64, "extreme", "strided"),
                                        ("n", "k", _F64, "mixed_scales", "reversed"),
                                        (2, "big", _F32, "normal", "C"),
                                        ("sq", "sq", _F64, "normal", "C")):
        if n == "sq":
            n = k = random_size(rng, 3, 8)
        n = random_size(rng, 2, 32) if n == "n" else n
        k = {"k": random_size(rng, 3, 40), "big": random_size(rng, 150, 300)}.get(k, k)
        S = with_layout(probabilities(rng, (n, k), dtype, regime), layout)
        cases.append(Case((S,), describe_array("S", S, "softmax of " + regime + " logits"),
                          dtype=dtype))
    return cases


register(NumericExercise(
    id="softmax_jacobian_batch", notebook=3, title="Softmax Jacobians for a batch", points=2.0,
    signature="softmax_jacobian_batch(S)", arg_names=("S",),
    reference=lambda S: F.softmax_jacobian(as_float64(S)),
    public_cases=_jacobian_batch_public, hidden_cases=_jacobian_batch_hidden,
    variants=_jacobian_variants(batched=True) + (
        WrongVariant("per_column", "wrong_axis",
                     "You built one Jacobian per COLUMN of S (a loop over S.T, or the batch "
                     "axis mixed up with the class axis). Each ROW S[n] is one example: "
                     "result[n] = diag(S[n]) - outer(S[n], S[n]).", _jacobian_columns),),
    probes=_jacobian_batch_probes, terms=_jacobian_terms(),
    dims=lambda S: {"N": np.shape(S)[0], "K": np.shape(S)[-1]},
    hints=(
        "One Jacobian per example: S is (N, K), the result is (N, K, K) and "
        "result[n] = diag(S[n]) - outer(S[n], S[n]).",
        "A Python loop over n that fills np.empty((N, K, K)) is a correct first version. Then "
        "try to remove the loop.",
        "The batched outer product is S[:, :, None] * S[:, None, :] (or "
        "np.einsum('ni,nj->nij', S, S)). For the diagonal part, multiply S[:, :, None] by "
        "np.eye(K).",
        "`return S[:, :, None] * np.eye(S.shape[1]) - S[:, :, None] * S[:, None, :]`.",
    ),
))


register(Question(
    id="jacobian_one_hot", notebook=3, title="The Jacobian at a one-hot output", points=1.0,
    prompt="In floating point a softmax output can be exactly one-hot: in float64, "
           "softmax((0, 800, 0)) is exactly s = (0, 1, 0), because e^(-800) underflows to 0. "
           "What is the Jacobian J = diag(s) - s s^T at s = (0, 1, 0)?",
    answer_kind="choice",
    options={
        "a": "diag(0, 1, 0): only the middle probability responds, to its own logit.",
        "b": "The zero matrix: no probability responds to any logit.",
        "c": "(1/3) I - (1/9) 1 1^T: one value on the diagonal and another off it.",
        "d": "-s s^T: -1 in the middle and 0 everywhere else.",
    },
    answer_hash="42e743465d4e53da51d8da75cddd465fd9b8683e5a93d42cb847af239137deaf",
    explanation="Every entry s_i (delta_ij - s_j) is zero: on the diagonal s_i (1 - s_i) "
                "vanishes when s_i is 0 or 1, and off the diagonal s_i s_j vanishes because at "
                "most one probability is non-zero. A saturated softmax passes no gradient "
                "through its Jacobian at all; its rank has dropped from K - 1 to 0, which is "
                "why section 8 needs every s_i to be positive. Notebook 04 shows how "
                "cross-entropy, whose 1/s_y cancels the vanishing s_y, keeps learning anyway.",
    wrong_feedback={
        "1f5ed59fef892f2ac4438095539629415426c948ec75fe82a324d413e228a139":
            "diag(s) is diag(0, 1, 0), but s s^T has its single 1 in the same place, and J "
            "subtracts it.",
        "a1aabdfdb33351975e678bbc3ba42ed6a1ead885ee9e86cb888bd7d0fa0570f3":
            "That is J at EQUAL logits, s = (1/3, 1/3, 1/3): the opposite extreme.",
        "fc4b86db37e21719c5768a927c86c090ccb3e13a0d621f0dd79d72ad7ec3777a":
            "That drops the diag(s) term. J = diag(s) - s s^T, and both terms have their 1 "
            "in the same place.",
    },
    hints=(
        "Write out diag(s) and s s^T for s = (0, 1, 0).",
        "Both matrices have exactly one non-zero entry. Where is it in each?",
        "Entry by entry: s_i (1 - s_i) on the diagonal and -s_i s_j off it, with every s_i "
        "equal to 0 or 1.",
    ),
))


register(Question(
    id="jacobian_max_entry", notebook=3, title="The largest entry of the softmax Jacobian",
    points=1.0,
    prompt="Over every number of classes K >= 2 and every choice of logits, what is the "
           "largest value that an entry of the softmax Jacobian J can take? Answer with a "
           "number.",
    answer_kind="number",
    answer_hash="1c81b201c855663894d60108de4cf65d0cebfe68124e44b7054636031d62e5ff",
    explanation="Off the diagonal the entries are -s_i s_j, never positive. On the diagonal "
                "s_i (1 - s_i) is a downward parabola in s_i with its top, 1/4, at s_i = 1/2, "
                "which softmax reaches (K = 2 with equal logits, for example). In the "
                "covariance view of section 8.4 the diagonal entries are the variances of "
                "yes/no outcomes, and such a variance is at most 1/4. In size the off-diagonal "
                "entries obey the same bound: s_i s_j is at most 1/4 because s_i + s_j is at "
                "most 1.",
    wrong_feedback={
        "db3a079431afeedcf114d9179e51e43a5f54c24258eeb5758406b295d086be86":
            "A probability can be 1, but every entry of J is a product: s_i (1 - s_i) on the "
            "diagonal, and at s_i = 1 that is 0.",
        "ceb909339476ac3022485861a821a11258e88f9e604c900a8bb68a18145c1158":
            "s_i = 1/2 is WHERE the largest entry occurs. What is s_i (1 - s_i) there?",
        "d0edf4fff80213805c0b7a5b961a145783aaffa2b51e93f4ace208d48f805a5d":
            "0 is every entry at a one-hot s, but away from it the diagonal entries are "
            "positive.",
        "036ffbbf09a66c4d5280c7ab3c18385737c4914c3a0c5d0b3f986e3a86b82c9d":
            "That is the diagonal entry at equal logits for K = 3. Can a single s_i get "
            "closer to the top of s_i (1 - s_i)?",
        "bdd7b583b6f87b8a1beb359e9cccfc0c0ba8e4e34f0702bf65912821cdd17eac":
            "Negative entries sit off the diagonal. The question asks for the largest value, "
            "and the diagonal entries are positive.",
    },
    hints=(
        "Which entries of J can be positive at all?",
        "A diagonal entry is s_i (1 - s_i) with s_i between 0 and 1. Where does that "
        "function of s_i peak?",
        "Can softmax produce s_i = 1/2? Try K = 2 with equal logits.",
    ),
))
