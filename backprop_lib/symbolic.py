"""SymPy derivations used by the notebooks (03 softmax Jacobian, 04 chain rule, 06 dense layer).

Every function returns SymPy objects (or a small named tuple of them) so that a
notebook can display each step. Nothing here is needed at training time; this
module exists so that the formulas the course uses are *derived* by a computer
algebra system rather than asserted.

Conventions
-----------
- Classes are numbered ``0..K-1`` in the symbols (``z0, z1, z2``, ``s0, s1, s2``),
  exactly like the NumPy indices the notebooks print next to them.
- ``s`` always means the softmax OUTPUT and ``Z`` its denominator
  ``sum_k exp(z_k)``.
- ``J[i, j] = d s_i / d z_j`` (numerator layout), as in
  :func:`backprop_lib.functional.softmax_jacobian`.

Every derivation finishes in well under 5 seconds on a laptop (measured in
``tests/test_symbolic.py``).
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import sympy as sp

__all__ = [
    "logit_symbols",
    "prob_symbols",
    "target_symbols",
    "softmax_matrix",
    "softmax_jacobian_raw",
    "softmax_jacobian_symbolic",
    "softmax_jacobian_formula",
    "GeneralDerivation",
    "softmax_jacobian_general",
    "instantiate_general",
    "jacobian_properties",
    "one_hot_covariance",
    "sigmoid_jacobian_symbolic",
    "cross_entropy_gradient",
    "two_wrongs_gradient",
    "dense_layer_gradient",
    "lambdify_softmax_jacobian",
    "numerical_jacobian",
]


# ---------------------------------------------------------------------------
# Symbols
# ---------------------------------------------------------------------------


def _check_K(K):
    if isinstance(K, bool) or not isinstance(K, (int, np.integer)) or K < 2:
        raise ValueError(f"K must be an integer >= 2, got {K!r}")
    return int(K)


def logit_symbols(K=3):
    """Logit symbols ``z0..z{K-1}`` as a column Matrix of shape (K, 1).

    Parameters
    ----------
    K : int, default 3
        Number of classes (>= 2).

    Returns
    -------
    z : sympy.Matrix, shape (K, 1)
        Real symbols.
    """
    K = _check_K(K)
    return sp.Matrix(sp.symbols(f"z0:{K}", real=True))


def prob_symbols(K=3):
    """Softmax-output symbols ``s0..s{K-1}`` (positive) as a column Matrix of shape (K, 1)."""
    K = _check_K(K)
    return sp.Matrix(sp.symbols(f"s0:{K}", positive=True))


def target_symbols(K=3):
    """Target symbols ``Y0..Y{K-1}`` (non-negative) as a column Matrix of shape (K, 1).

    The course writes targets with a capital ``Y`` (one-hot or probability vectors) and keeps
    the small ``y`` for integer class labels.
    """
    K = _check_K(K)
    return sp.Matrix(sp.symbols(f"Y0:{K}", nonnegative=True))


_Z = sp.Symbol("Z", positive=True)


def softmax_matrix(K=3):
    """The softmax of the logit symbols, written with exponentials.

    Returns
    -------
    s_of_z : sympy.Matrix, shape (K, 1)
        ``exp(z_i) / (exp(z_0) + ... + exp(z_{K-1}))``.
    """
    z = logit_symbols(K)
    e = z.applyfunc(sp.exp)
    return e / sum(e)


def _exp_to_s(expr, K):
    """Rewrite an expression in ``exp(z_i)`` and the sum of them in terms of ``s_i``.

    Two substitutions: the denominator ``sum_k exp(z_k)`` becomes a symbol ``Z``,
    then ``exp(z_i)`` becomes ``s_i Z`` (the definition of the softmax read
    backwards). Every ``Z`` then cancels.
    """
    z, s = logit_symbols(K), prob_symbols(K)
    total = sum(z.applyfunc(sp.exp))
    expr = expr.subs(total, _Z)
    expr = expr.subs({sp.exp(z[m]): s[m] * _Z for m in range(K)})
    if isinstance(expr, sp.MatrixBase):
        return expr.applyfunc(sp.factor)
    return sp.factor(expr)


def _tidy_rows(M, s):
    """Write entry (i, j) of `M` as ``s_i * (...)`` so diagonals read ``s_i (1 - s_i)``."""
    return sp.Matrix(
        M.rows, M.cols, lambda i, j: s[i] * sp.expand(sp.cancel(M[i, j] / s[i]))
    )


def softmax_jacobian_raw(K=3):
    """``Matrix.jacobian`` of the softmax, straight out of SymPy (exponential form).

    Returns
    -------
    J : sympy.Matrix, shape (K, K)
        ``J[i, j] = d s_i / d z_j`` in terms of ``exp(z_k)``; correct but hard to read.
    """
    return softmax_matrix(K).jacobian(logit_symbols(K))


def softmax_jacobian_symbolic(K=3):
    """The softmax Jacobian for a concrete K, rewritten in the outputs ``s_i``.

    Starts from :func:`softmax_jacobian_raw`, names the denominator ``Z`` and
    replaces ``exp(z_i)`` by ``s_i Z``; every entry factors to
    ``s_i (delta_ij - s_j)``.

    Returns
    -------
    J : sympy.Matrix, shape (K, K)
        Diagonal entries ``s_i (1 - s_i)``, off-diagonal entries ``-s_i s_j``.
    """
    return _tidy_rows(_exp_to_s(softmax_jacobian_raw(K), K), prob_symbols(K))


def softmax_jacobian_formula(K=3):
    """The closed form ``diag(s) - s s^T`` built directly from the symbols ``s_i``.

    Returns
    -------
    J : sympy.Matrix, shape (K, K)
    """
    s = prob_symbols(K)
    return sp.diag(*s) - s * s.T


# ---------------------------------------------------------------------------
# General K: index notation
# ---------------------------------------------------------------------------

GeneralDerivation = namedtuple(
    "GeneralDerivation",
    [
        "softmax",       # s_i = exp(z_i) / Sum_k exp(z_k)
        "derivative",    # d s_i / d z_j straight from sympy.diff (contains Sums)
        "after_doit",    # .doit() evaluates the Sum over the KroneckerDelta -> Piecewise
        "in_range",      # Piecewise replaced by its branch for 0 <= j <= K-1
        "with_Z",        # the denominator Sum named Z
        "in_s",          # exp(z_i) -> s_i Z, exp(z_j) -> s_j Z
        "result",        # factored: s_i (delta_ij - s_j)
        "symbols",       # dict: z, s (IndexedBase), i, j, k, K, Z
    ],
)
GeneralDerivation.__doc__ = """Every step of the general-K softmax derivative, as SymPy expressions.

Fields: ``softmax``, ``derivative``, ``after_doit``, ``in_range``, ``with_Z``,
``in_s``, ``result`` and ``symbols`` (a dict with ``z``, ``s``, ``i``, ``j``,
``k``, ``K``, ``Z``).
"""


def softmax_jacobian_general():
    """Derive ``d s_i / d z_j = s_i (delta_ij - s_j)`` for a symbolic number of classes K.

    ``sympy.simplify`` cannot be applied to the raw derivative (in SymPy 1.12-1.14 it
    raises ``StopIteration`` inside its Sum handling), so the derivation takes
    small explicit steps instead:

    1. ``diff``: differentiating ``exp(z[i]) / Sum(exp(z[k]), (k, 0, K - 1))`` with
       respect to ``z[j]`` gives ``KroneckerDelta(i, j)`` from the numerator and a
       ``Sum(exp(z[k]) * KroneckerDelta(j, k), ...)`` from the denominator.
    2. ``.doit()``: the Sum over a KroneckerDelta picks out the single term ``k = j``;
       SymPy wraps it in a Piecewise because it does not know that ``0 <= j <= K - 1``.
    3. keep the branch for ``0 <= j <= K - 1`` (``j`` is a class index, so it is in range).
    4. name the denominator ``Z``.
    5. replace ``exp(z[i])`` by ``s[i] Z`` and ``exp(z[j])`` by ``s[j] Z``.
    6. ``factor``: every ``Z`` cancels, leaving ``s[i] (KroneckerDelta(i, j) - s[j])``.

    Returns
    -------
    GeneralDerivation
        A named tuple holding the expression after every step.
    """
    z, s = sp.IndexedBase("z"), sp.IndexedBase("s")
    i, j, k = sp.symbols("i j k", integer=True)
    K = sp.Symbol("K", integer=True, positive=True)
    Z = sp.Symbol("Z", positive=True)
    denominator = sp.Sum(sp.exp(z[k]), (k, 0, K - 1))
    s_i = sp.exp(z[i]) / denominator

    derivative = sp.diff(s_i, z[j])
    after_doit = derivative.doit()
    in_range = after_doit.replace(
        lambda e: isinstance(e, sp.Piecewise), lambda e: e.args[0].expr
    )
    with_Z = in_range.subs(denominator, Z)
    in_s = sp.expand(with_Z.subs({sp.exp(z[i]): s[i] * Z, sp.exp(z[j]): s[j] * Z}))
    result = sp.factor(in_s)
    symbols = {"z": z, "s": s, "i": i, "j": j, "k": k, "K": K, "Z": Z}
    return GeneralDerivation(
        s_i, derivative, after_doit, in_range, with_Z, in_s, result, symbols
    )


def instantiate_general(expr, K=3, symbols=None):
    """Fill in a general-K entry formula for every ``(i, j)`` of a concrete K.

    Parameters
    ----------
    expr : sympy.Expr
        An expression in the index symbols ``i``, ``j`` and ``s[i]``, ``s[j]``
        (for example ``softmax_jacobian_general().result``).
    K : int, default 3
    symbols : dict, optional
        The ``symbols`` field of :func:`softmax_jacobian_general`; built if omitted.

    Returns
    -------
    J : sympy.Matrix, shape (K, K)
        In the plain symbols ``s0..s{K-1}``, comparable with
        :func:`softmax_jacobian_formula`.
    """
    K = _check_K(K)
    if symbols is None:
        symbols = softmax_jacobian_general().symbols
    i, j, s_idx = symbols["i"], symbols["j"], symbols["s"]
    s = prob_symbols(K)
    plain = {s_idx[m]: s[m] for m in range(K)}

    def entry(a, b):
        return expr.subs({i: a, j: b}).subs(plain)

    return sp.Matrix(K, K, entry)


# ---------------------------------------------------------------------------
# Properties of J
# ---------------------------------------------------------------------------


def jacobian_properties(K=3):
    """Symbolic evidence for the four properties of ``J = diag(s) - s s^T``.

    The constraint ``s_0 + ... + s_{K-1} = 1`` is imposed by substituting
    ``s_{K-1} = 1 - s_0 - ... - s_{K-2}``.

    Returns
    -------
    dict of SymPy objects
        ``"J"``: the (K, K) Matrix; ``"J_minus_JT"``: ``J - J^T`` (zero matrix);
        ``"row_sums"``: ``J @ ones`` before the constraint, shape (K, 1);
        ``"row_sums_constrained"``: the same after it (zeros);
        ``"det"``: ``det(J)`` after the constraint (0, so rank < K);
        ``"leading_minor"``: determinant of the top-left (K-1, K-1) block after the
        constraint (nonzero, so rank = K-1);
        ``"quadratic_form"``: ``v^T J v`` expanded, for symbols ``v0..v{K-1}``;
        ``"variance_form"``: ``sum_i s_i (v_i - vbar)^2`` with ``vbar = sum_i s_i v_i``;
        ``"psd_gap"``: quadratic form minus variance form after the constraint (0).
    """
    K = _check_K(K)
    s = prob_symbols(K)
    J = softmax_jacobian_formula(K)
    constraint = {s[K - 1]: 1 - sum(s[:K - 1])}
    Jc = J.subs(constraint)
    row_sums = (J * sp.ones(K, 1)).applyfunc(sp.factor)
    v = sp.Matrix(sp.symbols(f"v0:{K}", real=True))
    quad = sp.expand((v.T * J * v)[0, 0])
    vbar = sum(s[m] * v[m] for m in range(K))
    variance = sum(s[m] * (v[m] - vbar) ** 2 for m in range(K))
    return {
        "J": J,
        "J_minus_JT": J - J.T,
        "row_sums": row_sums,
        "row_sums_constrained": row_sums.subs(constraint).applyfunc(sp.expand),
        "det": sp.expand(Jc.det()),
        "leading_minor": sp.factor(Jc[: K - 1, : K - 1].det()),
        "quadratic_form": quad,
        "variance_form": variance,
        "psd_gap": sp.expand((quad - variance).subs(constraint)),
    }


def one_hot_covariance(K=3):
    """Mean and covariance of a one-hot vector ``Y ~ Categorical(s)``, symbolically.

    ``Y`` equals the basis vector ``e_c`` with probability ``s_c``, so expectations
    are sums over the K outcomes: ``E[Y] = sum_c s_c e_c = s`` and
    ``E[Y Y^T] = sum_c s_c e_c e_c^T = diag(s)`` (because ``Y_i Y_j = 0`` for
    ``i != j`` and ``Y_i^2 = Y_i``). Hence ``Cov[Y] = diag(s) - s s^T``: the softmax
    Jacobian is a covariance matrix, so it is symmetric positive semidefinite.

    Returns
    -------
    mean : sympy.Matrix, shape (K, 1)
        ``E[Y]``, equal to ``s``.
    second_moment : sympy.Matrix, shape (K, K)
        ``E[Y Y^T]``, equal to ``diag(s)``.
    cov : sympy.Matrix, shape (K, K)
        ``E[Y Y^T] - E[Y] E[Y]^T``.
    """
    K = _check_K(K)
    s = prob_symbols(K)
    eye = sp.eye(K)
    mean = sp.zeros(K, 1)
    second_moment = sp.zeros(K, K)
    for c in range(K):
        e_c = eye[:, c]
        mean += s[c] * e_c
        second_moment += s[c] * e_c * e_c.T
    cov = second_moment - mean * mean.T
    return mean, second_moment, _tidy_rows(cov, s)


def sigmoid_jacobian_symbolic(K=3):
    """Jacobian of the element-wise sigmoid ``sigma(z_i) = 1 / (1 + exp(-z_i))``.

    Returns
    -------
    J_raw : sympy.Matrix, shape (K, K)
        Straight from ``Matrix.jacobian`` (exponential form).
    J : sympy.Matrix, shape (K, K)
        Rewritten with ``a_i = sigma(z_i)``: ``diag(a_i (1 - a_i))``, zero off the
        diagonal, because output ``i`` depends on input ``i`` only.
    """
    K = _check_K(K)
    z = logit_symbols(K)
    a = sp.Matrix(sp.symbols(f"a0:{K}", positive=True))
    sig = z.applyfunc(lambda t: 1 / (1 + sp.exp(-t)))
    J_raw = sig.jacobian(z)
    # exp(-z_i) = (1 - a_i) / a_i  because  a_i = 1 / (1 + exp(-z_i))
    J = J_raw.subs({sp.exp(-z[m]): (1 - a[m]) / a[m] for m in range(K)})
    return J_raw, _tidy_rows(J.applyfunc(sp.factor), a)


# ---------------------------------------------------------------------------
# Cross-entropy
# ---------------------------------------------------------------------------


def cross_entropy_gradient(K=3, targets="probability"):
    """Gradient of ``L = -sum_k y_k log s_k(z)`` with respect to the logits.

    Parameters
    ----------
    K : int, default 3
    targets : {"probability", "one-hot"} or int
        ``"probability"``: symbolic targets ``y0..y{K-1}`` with ``sum y = 1``. An
        int ``c`` (or ``"one-hot"``, meaning ``c = 0``) uses the one-hot target
        ``e_c`` (0-based ``c``).
        ``sum y = 1`` is used by collecting ``s_j (y_0 + ... + y_{K-1})`` and setting
        the bracket to 1.

    Returns
    -------
    dict of SymPy objects
        ``"loss"``: L in the logits; ``"dL_ds"``: ``-y_k / s_k``, shape (K, 1);
        ``"grad_raw"``: ``dL/dz`` from ``diff`` in exponential form, shape (K, 1);
        ``"grad_in_s"``: the same rewritten in ``s`` before using ``sum y = 1``;
        ``"grad"``: after the constraint, shape (K, 1); ``"vjp_raw"``: the chain-rule
        route ``(dL/ds)^T J`` transposed to (K, 1), before the constraint;
        ``"vjp"``: the same after it;
        ``"s"``, ``"y"``: the symbol matrices; ``"minus_s_minus_y"``:
        ``grad - (s - y)`` (zero).
    """
    K = _check_K(K)
    z, s = logit_symbols(K), prob_symbols(K)
    if targets == "one-hot":
        targets = 0
    if targets == "probability":
        y = target_symbols(K)
    elif isinstance(targets, (int, np.integer)) and not isinstance(targets, bool):
        if not 0 <= targets < K:
            raise ValueError(f"targets class index must be in [0, {K - 1}], got {targets}")
        y = sp.eye(K)[:, int(targets)]
    else:
        raise ValueError(f"targets must be 'probability', 'one-hot' or an int, got {targets!r}")

    s_of_z = softmax_matrix(K)
    loss = -sum(y[m] * sp.log(s_of_z[m]) for m in range(K))
    grad_raw = sp.Matrix([sp.diff(loss, z[m]) for m in range(K)])
    grad_in_s = _exp_to_s(grad_raw, K).applyfunc(sp.expand)
    total_y = sum(y)

    def use_sum_y(e, m):
        # s_j y_0 + ... + s_j y_{K-1} - y_j  ->  s_j (y_0 + ... + y_{K-1}) - y_j  ->  s_j - y_j
        return sp.expand(sp.collect(sp.expand(e), s[m]).subs(total_y, 1))

    grad = sp.Matrix([use_sum_y(grad_in_s[m], m) for m in range(K)])
    dL_ds = sp.Matrix([-y[m] / s[m] for m in range(K)])
    J = softmax_jacobian_formula(K)
    # Chain-rule route: component j is -y_j + s_j (sum of all y_k); sum y = 1 finishes it.
    vjp_raw = (dL_ds.T * J).T.applyfunc(sp.expand)
    vjp = sp.Matrix([use_sum_y(vjp_raw[m], m) for m in range(K)])
    return {
        "loss": loss,
        "dL_ds": dL_ds,
        "grad_raw": grad_raw,
        "grad_in_s": grad_in_s,
        "grad": grad,
        "vjp_raw": vjp_raw,
        "vjp": vjp,
        "s": s,
        "y": y,
        "minus_s_minus_y": (grad - (s - y)).applyfunc(sp.expand),
    }


def two_wrongs_gradient(K=3):
    """The "two wrongs make a right" trap, symbolically.

    Wrong 1: treat the softmax derivative as diagonal, ``ds_k/dz_k = s_k (1 - s_k)``.
    Wrong 2: use a per-class binary cross-entropy gradient
    ``dL/ds_k = -y_k / s_k + (1 - y_k) / (1 - s_k)``.
    Multiplying them element-wise gives exactly ``s_k - y_k``: the same answer as the
    correct softmax + cross-entropy gradient, although both pieces are wrong.

    Returns
    -------
    wrong_local : sympy.Matrix, shape (K, 1)
        ``s_k (1 - s_k)``.
    wrong_upstream : sympy.Matrix, shape (K, 1)
        The binary cross-entropy gradient.
    product : sympy.Matrix, shape (K, 1)
        Their element-wise product, simplified (``s_k - y_k``).
    """
    K = _check_K(K)
    s, y = prob_symbols(K), target_symbols(K)
    wrong_local = sp.Matrix([s[m] * (1 - s[m]) for m in range(K)])
    wrong_upstream = sp.Matrix([-y[m] / s[m] + (1 - y[m]) / (1 - s[m]) for m in range(K)])
    product = sp.matrix_multiply_elementwise(wrong_local, wrong_upstream).applyfunc(sp.cancel)
    return wrong_local, wrong_upstream, product


# ---------------------------------------------------------------------------
# Dense layer (notebook 06)
# ---------------------------------------------------------------------------


def dense_layer_gradient(D_in=2, D_out=3):
    """Gradients of a dense layer ``z = a W + b`` (row convention), componentwise.

    With the upstream gradient ``g = dC/dz`` (symbols ``g0..g{D_out-1}``), the chain
    rule gives ``dC/dW_ij = sum_k g_k dz_k/dW_ij``; SymPy computes every
    ``dz_k/dW_ij`` and the sums.

    Parameters
    ----------
    D_in, D_out : int
        Layer sizes (>= 1).

    Returns
    -------
    dict of SymPy objects
        ``"a"`` (1, D_in), ``"W"`` (D_in, D_out), ``"b"`` (1, D_out), ``"g"`` (1, D_out),
        ``"z"`` (1, D_out), ``"dW"`` (D_in, D_out), ``"db"`` (1, D_out),
        ``"da"`` (1, D_in), and the matrix forms ``"dW_outer"`` = ``a^T g``,
        ``"da_matrix"`` = ``g W^T``.
    """
    for name, v in (("D_in", D_in), ("D_out", D_out)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    a = sp.Matrix(1, D_in, sp.symbols(f"a0:{D_in}", real=True))
    g = sp.Matrix(1, D_out, sp.symbols(f"g0:{D_out}", real=True))
    b = sp.Matrix(1, D_out, sp.symbols(f"b0:{D_out}", real=True))
    W = sp.Matrix(D_in, D_out, lambda i, j: sp.Symbol(f"W{i}{j}", real=True))
    z = a * W + b

    def chain(var):
        return sum(g[k] * sp.diff(z[k], var) for k in range(D_out))

    dW = W.applyfunc(chain)
    db = b.applyfunc(chain)
    da = a.applyfunc(chain)
    return {
        "a": a, "W": W, "b": b, "g": g, "z": z,
        "dW": dW, "db": db, "da": da,
        "dW_outer": a.T * g, "da_matrix": g * W.T,
    }


# ---------------------------------------------------------------------------
# Numerics: lambdify and finite differences
# ---------------------------------------------------------------------------


def lambdify_softmax_jacobian(K=3, form="raw"):
    """Turn the symbolic softmax Jacobian into a NumPy function of the logits.

    Parameters
    ----------
    K : int, default 3
    form : {"raw", "s"}
        ``"raw"`` lambdifies :func:`softmax_jacobian_raw` (a function of the logits
        ``z``; exponentials may overflow for logits above ~700). ``"s"`` lambdifies
        :func:`softmax_jacobian_formula` and returns a function of the softmax
        OUTPUT ``s``.

    Returns
    -------
    f : callable
        ``f(x)`` with ``x`` of shape (K,) returns an ndarray of shape (K, K).
    """
    K = _check_K(K)
    if form == "raw":
        expr, args = softmax_jacobian_raw(K), list(logit_symbols(K))
    elif form == "s":
        expr, args = softmax_jacobian_formula(K), list(prob_symbols(K))
    else:
        raise ValueError(f"form must be 'raw' or 's', got {form!r}")
    f_flat = sp.lambdify(args, expr, modules="numpy")

    def f(x):
        x = np.asarray(x, dtype=float)
        if x.shape != (K,):
            raise ValueError(f"expected an array of shape ({K},), got {x.shape}")
        return np.asarray(f_flat(*x), dtype=float).reshape(K, K)

    f.__doc__ = f"Symbolic softmax Jacobian (form={form!r}) as NumPy: ({K},) -> ({K}, {K})."
    return f


def numerical_jacobian(f, x, h=1e-6):
    """Central-difference Jacobian of a vector function.

    Parameters
    ----------
    f : callable
        Maps an array of shape (n,) to an array of shape (m,).
    x : array_like, shape (n,)
        Point at which to differentiate (not modified).
    h : float, default 1e-6
        Step size.

    Returns
    -------
    J : ndarray, shape (m, n)
        ``J[i, j] ~ (f(x + h e_j)_i - f(x - h e_j)_i) / (2 h)``.
    """
    x = np.array(x, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"x must have shape (n,), got {x.shape}")
    columns = []
    for j in range(x.size):
        step = np.zeros_like(x)
        step[j] = h
        fp = np.asarray(f(x + step), dtype=float)
        fm = np.asarray(f(x - step), dtype=float)
        columns.append((fp - fm) / (2 * h))
    return np.stack(columns, axis=-1)


# ---------------------------------------------------------------------------
# Notebook 04: the batch gradient (S - Y) / N, componentwise
# (chain_rule_cross_entropy author's section)
# ---------------------------------------------------------------------------

__all__ += ["cross_entropy_batch_gradient"]


def _batch_symbols(name, N, K, **assumptions):
    """A Matrix (N, K) of symbols ``name_{nk}`` (0-based n and k, like NumPy)."""
    return sp.Matrix(N, K, lambda n, k: sp.Symbol(f"{name}_{{{n}{k}}}", **assumptions))


def cross_entropy_batch_gradient(N=2, K=3, labels=None):
    """Gradient of the MEAN cross-entropy of a batch with respect to every logit.

    ``L = (1/N) sum_n L_n`` with ``L_n = -sum_k Y[n, k] log S[n, k]`` and
    ``S[n, :] = softmax(Z[n, :])``. SymPy differentiates ``L`` with respect to each of the
    ``N K`` logits ``Z[n, j]``; the result, rewritten in the probabilities, is ``(S - Y) / N``.

    Parameters
    ----------
    N : int, default 2
        Batch size (>= 1).
    K : int, default 3
        Number of classes (>= 2).
    labels : sequence of int, optional
        Integer labels ``y`` of shape (N,), 0-based: the targets are then one-hot rows.
        By default the targets are symbols ``Y_{nk}`` whose rows sum to one (probability
        targets), a fact the derivation uses in its last step.

    Returns
    -------
    dict of SymPy objects
        ``"Z"``, ``"S"``, ``"Y"``: Matrices of shape (N, K); ``"loss"``: L in the logits;
        ``"grad_raw"``: ``dL/dZ`` from ``diff``, shape (N, K), in exponential form;
        ``"grad_in_S"``: the same rewritten in ``S`` before using that each row of ``Y``
        sums to one; ``"grad"``: after using it, shape (N, K); ``"minus_target"``:
        ``grad - (S - Y) / N`` (the zero matrix); ``"cross_terms"``: the derivative of
        ``L_n`` with respect to the logits of every OTHER example ``m != n`` (all zero).
    """
    K = _check_K(K)
    if isinstance(N, bool) or not isinstance(N, (int, np.integer)) or N < 1:
        raise ValueError(f"N must be an integer >= 1, got {N!r}")
    N = int(N)
    Z = _batch_symbols("Z", N, K, real=True)
    S = _batch_symbols("S", N, K, positive=True)
    if labels is None:
        Y = _batch_symbols("Y", N, K, nonnegative=True)
    else:
        labels = [int(c) for c in labels]
        if len(labels) != N or not all(0 <= c < K for c in labels):
            raise ValueError(f"labels must be {N} integers in [0, {K - 1}], got {labels!r}")
        Y = sp.Matrix(N, K, lambda n, k: sp.Integer(int(k == labels[n])))
    denominators = [sum(sp.exp(Z[n, k]) for k in range(K)) for n in range(N)]
    per_example = [-sum(Y[n, k] * (Z[n, k] - sp.log(denominators[n])) for k in range(K))
                   for n in range(N)]
    loss = sp.Rational(1, N) * sum(per_example)
    grad_raw = sp.Matrix(N, K, lambda n, j: sp.diff(loss, Z[n, j]))
    q = [sp.Symbol(f"q_{n}", positive=True) for n in range(N)]  # each row's normalising sum

    def in_S(expr):
        for n in range(N):
            expr = expr.subs(denominators[n], q[n])
            expr = expr.subs({sp.exp(Z[n, k]): S[n, k] * q[n] for k in range(K)})
        return sp.expand(sp.cancel(expr))

    grad_in_S = grad_raw.applyfunc(in_S)

    def use_row_sums(n, j):
        # N dL/dZ_nj = S_nj (Y_n0 + ... + Y_n,K-1) - Y_nj  ->  S_nj - Y_nj
        row_total = sum(Y[n, k] for k in range(K))
        collected = sp.collect(sp.expand(N * grad_in_S[n, j]), S[n, j])
        return sp.expand(collected.subs(row_total, 1)) / N

    grad = sp.Matrix(N, K, use_row_sums)
    cross_terms = sp.Matrix([sp.diff(per_example[n], Z[m, j]) for n in range(N)
                             for m in range(N) if m != n for j in range(K)])
    return {
        "Z": Z, "S": S, "Y": Y, "loss": loss, "grad_raw": grad_raw, "grad_in_S": grad_in_S,
        "grad": grad, "minus_target": (grad - (S - Y) / N).applyfunc(sp.expand),
        "cross_terms": cross_terms,
    }


# ---------------------------------------------------------------------------
# Notebook 06 (dense_layer_backprop): the last layer in the column convention,
# with an arbitrary cost of the softmax output
# ---------------------------------------------------------------------------


def _check_size(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _cost_derivatives_as_g(expr, g):
    """Replace SymPy's ``Subs(Derivative(C(..., xi, ...), xi), xi, ...)`` by ``g[position]``.

    Differentiating ``C(s_0(W), ..., s_{K-1}(W))`` for an undefined function ``C`` gives one
    such ``Subs`` per argument of ``C``: the partial derivative of ``C`` in that slot,
    evaluated at the softmax. Its slot number says which ``dC/ds_k`` it is.
    """
    replacements = {}
    for sub in expr.atoms(sp.Subs):
        (slot_variable,) = sub.variables
        replacements[sub] = g[sub.expr.expr.args.index(slot_variable)]
    return expr.xreplace(replacements)


def _softmax_exp_in_s(expr, z, s):
    """Rewrite ``exp(n z_m)`` as ``(s_m Z)**n`` and the softmax denominator as ``Z``.

    ``z`` holds the logits as expressions (``W a + b``), so SymPy has already merged
    ``exp(z_m)**2`` into ``exp(2 z_m)``: each exponent is matched as an integer multiple
    of one logit.
    """
    K = len(z)
    expr = expr.subs(sum(sp.exp(z[m]) for m in range(K)), _Z)

    def in_s(exponent):
        for m in range(K):
            n = sp.cancel(exponent / z[m])
            if n.is_Integer:
                return (s[m] * _Z) ** n
        return sp.exp(exponent)

    expr = expr.replace(lambda e: isinstance(e, sp.exp), lambda e: in_s(e.args[0]))
    return sp.expand(expr)


def last_layer_gradient(K=3, D=2):
    """The last layer ``z = W a + b``, ``s = softmax(z)``, cost ``C(s)``, differentiated two ways.

    Column convention, one example: ``a`` (D, 1), ``W`` (K, D), ``b`` (K, 1), every entry
    its own symbol. The cost ``C`` is an undefined SymPy function of the K softmax outputs,
    so the result holds for ANY cost; its partial derivatives ``g_k = dC/ds_k`` stay
    symbolic (``Derivative(C(s0, ..), s_k)``).

    *Direct route*: ``sympy.diff`` of the whole composite ``C(softmax(W a + b))`` with
    respect to every ``W_ij``, ``b_i`` and ``a_j``, rewritten in the outputs ``s_k``.

    *Chain-rule route* (the componentwise formula of notebook 06)::

        dC/dW_ij = sum_k sum_m g_k J_km dz_m/dW_ij,   dz_m/dW_ij = delta_mi a_j,

    which collapses to ``dz_i a_j`` with ``dz = J^T g``: the outer product ``dz a^T``;
    likewise ``dC/db = dz`` and ``dC/da = W^T dz``.

    Parameters
    ----------
    K : int, default 3
        Number of classes (outputs of the layer), >= 2.
    D : int, default 2
        Number of inputs of the layer, >= 1.

    Returns
    -------
    dict of SymPy objects
        ``"a"`` (D, 1), ``"W"`` (K, D), ``"b"`` (K, 1): the symbols;
        ``"z"`` (K, 1): ``W a + b``; ``"s"`` (K, 1): output symbols ``s0..``;
        ``"cost"``: ``C(softmax(W a + b))``; ``"g"`` (K, 1): ``dC/ds_k``;
        ``"J"`` (K, K): ``diag(s) - s s^T``;
        ``"dz_dW"``: Array of shape (K, K, D), ``[m, i, j] = dz_m/dW_ij`` from ``diff``;
        ``"dz_dW_minus_delta"``: ``dz_dW`` minus ``KroneckerDelta(m, i) a_j`` (zeros);
        ``"double_sum"`` (K, D): ``sum_k sum_m g_k J_km dz_m/dW_ij``, expanded;
        ``"dz"`` (K, 1): ``J^T g``; ``"dW_outer"`` (K, D): ``dz a^T``;
        ``"dW"`` (K, D), ``"db"`` (K, 1), ``"da"`` (D, 1): the direct route, in ``s`` and
        ``g``; ``"dW_minus_outer"``, ``"double_sum_minus_outer"``, ``"db_minus_dz"``,
        ``"da_minus_WT_dz"``: the differences between the routes (zero matrices).
    """
    K, D = _check_K(K), _check_size(D, "D")
    a = sp.Matrix(sp.symbols(f"a0:{D}", real=True))
    W = sp.Matrix(K, D, lambda i, j: sp.Symbol(f"W{i}{j}", real=True))
    b = sp.Matrix(sp.symbols(f"b0:{K}", real=True))
    s = prob_symbols(K)
    z = W * a + b
    e = z.applyfunc(sp.exp)
    C = sp.Function("C")
    cost = C(*(e / sum(e)))
    g = sp.Matrix([sp.Derivative(C(*s), s[k]) for k in range(K)])

    def direct(variable):
        return _softmax_exp_in_s(_cost_derivatives_as_g(sp.diff(cost, variable), g), z, s)

    J = softmax_jacobian_formula(K)
    dz_dW = sp.Array([[[sp.diff(z[m], W[i, j]) for j in range(D)] for i in range(K)]
                      for m in range(K)])
    delta = sp.Array([[[sp.KroneckerDelta(m, i) * a[j] for j in range(D)] for i in range(K)]
                      for m in range(K)])
    double_sum = sp.Matrix(K, D, lambda i, j: sp.expand(sum(
        g[k] * J[k, m] * dz_dW[m, i, j] for k in range(K) for m in range(K))))
    dz = J.T * g
    dW_outer = dz * a.T
    dW, db, da = W.applyfunc(direct), b.applyfunc(direct), a.applyfunc(direct)

    def zero(M):
        return M.applyfunc(sp.expand)

    return {
        "a": a, "W": W, "b": b, "z": z, "s": s, "cost": cost, "g": g, "J": J,
        "dz_dW": dz_dW, "dz_dW_minus_delta": (dz_dW - delta).applyfunc(sp.simplify),
        "double_sum": double_sum, "dz": dz, "dW_outer": dW_outer,
        "dW": dW, "db": db, "da": da,
        "dW_minus_outer": zero(dW - dW_outer),
        "double_sum_minus_outer": zero(double_sum - dW_outer),
        "db_minus_dz": zero(db - dz),
        "da_minus_WT_dz": zero(da - W.T * dz),
    }


__all__ += ["last_layer_gradient"]


# ===========================================================================
# notebook 08 (pitfalls_and_extensions): saturation, distillation, the Hessian
# of cross-entropy, and the log-softmax Jacobian. Everything below this line
# belongs to notebook 08.
# ===========================================================================


def saturation_gradients():
    """Gradient of one sigmoid output with target 1: squared error versus cross-entropy.

    With ``p = sigma(z)`` and target 1, squared error ``L = (p - 1)^2 / 2`` has
    ``dL/dz = -p (1 - p)^2``, which tends to 0 as ``p -> 0`` (a confidently wrong
    output stops learning); cross-entropy ``L = -log p`` has ``dL/dz = p - 1``,
    which tends to -1. The derivatives come from ``diff`` in exponential form and
    are rewritten with ``exp(-z) = (1 - p) / p``.

    Returns
    -------
    dict of SymPy objects
        ``"z"``, ``"p"`` (symbols); ``"mse_loss"``, ``"ce_loss"`` (in z);
        ``"mse_grad_raw"``, ``"ce_grad_raw"`` (dL/dz in exponential form);
        ``"mse_grad"``, ``"ce_grad"`` (in p, factored);
        ``"mse_limit"``, ``"ce_limit"`` (limits as ``p -> 0+``: 0 and -1).
    """
    z = sp.Symbol("z", real=True)
    p = sp.Symbol("p", positive=True)
    sig = 1 / (1 + sp.exp(-z))
    mse_loss = (sig - 1) ** 2 / 2
    ce_loss = -sp.log(sig)
    mse_raw, ce_raw = sp.diff(mse_loss, z), sp.diff(ce_loss, z)

    def in_p(expr):
        return sp.factor(sp.cancel(expr.subs(sp.exp(-z), (1 - p) / p)))

    mse, ce = in_p(mse_raw), in_p(ce_raw)
    return {
        "z": z, "p": p, "mse_loss": mse_loss, "ce_loss": ce_loss,
        "mse_grad_raw": mse_raw, "ce_grad_raw": ce_raw,
        "mse_grad": mse, "ce_grad": ce,
        "mse_limit": sp.limit(mse, p, 0, "+"), "ce_limit": sp.limit(ce, p, 0, "+"),
    }


def distillation_gradient(K=3):
    """The soft-target (distillation) loss at temperature ``T = 1/t``, differentiated.

    Teacher logits ``v``, student logits ``z``; ``p = softmax(v t)`` and
    ``q = softmax(z t)``. The loss ``L = -sum_k p_k log q_k`` has gradient
    ``dL/dz = t (q - p) = (q - p) / T``: the 1/T comes from the chain rule
    through ``z t``. For large T (small t), ``q - p = t c + O(t^2)`` with
    ``c_k = ((z_k - mean(z)) - (v_k - mean(v))) / K``, so the gradient is
    ``t^2 c + O(t^3)``: it shrinks like ``1/T^2``, which is why distillation
    losses are multiplied by ``T^2``.

    The gradient is rewritten in ``q`` and ``p`` (naming each softmax
    denominator and replacing ``exp(t z_m)`` by ``q_m`` times it), then
    ``sum_k p_k = 1`` is used by substituting ``p_{K-1} = 1 - p_0 - ... - p_{K-2}``.

    Parameters
    ----------
    K : int, default 3

    Returns
    -------
    dict of SymPy objects
        ``"t"``, ``"z"``, ``"v"`` (K, 1), ``"q"``, ``"p"`` (K, 1) symbols for the two
        softmax outputs; ``"loss"`` (in z, v, t); ``"grad"``: dL/dz in q, p and t
        before using ``sum p = 1``, shape (K, 1); ``"grad_minus_formula"``:
        ``grad - t (q - p)`` after using it (zero);
        ``"leading"``: ``d(q - p)/dt`` at ``t = 0``, shape (K, 1);
        ``"leading_formula"``: ``c`` above; ``"leading_minus_formula"`` (zero);
        ``"at_t0"``: ``q - p`` at ``t = 0`` (zero: both are uniform).
    """
    K = _check_K(K)
    z = logit_symbols(K)
    v = sp.Matrix(sp.symbols(f"v0:{K}", real=True))
    t = sp.Symbol("t", positive=True)
    q_sym = sp.Matrix(sp.symbols(f"q0:{K}", positive=True))
    p_sym = sp.Matrix(sp.symbols(f"p0:{K}", positive=True))
    Zq, Zp = sp.symbols("Z_q Z_p", positive=True)
    eq, ep = (z * t).applyfunc(sp.exp), (v * t).applyfunc(sp.exp)
    q, p = eq / sum(eq), ep / sum(ep)
    loss = -sum(p[m] * sp.log(q[m]) for m in range(K))
    grad_raw = sp.Matrix([sp.diff(loss, z[m]) for m in range(K)])

    def in_q_p(expr):
        expr = expr.subs(sum(eq), Zq).subs(sum(ep), Zp)
        expr = expr.subs({eq[m]: q_sym[m] * Zq for m in range(K)})
        expr = expr.subs({ep[m]: p_sym[m] * Zp for m in range(K)})
        return sp.expand(sp.cancel(expr))

    def use_sum_p(expr):
        return sp.expand(expr.subs(p_sym[K - 1], 1 - sum(p_sym[:K - 1])))

    grad = grad_raw.applyfunc(in_q_p)
    # t * (q_k * (p_0 + ... + p_{K-1}) - p_k): readable before sum p = 1 is used
    grad_display = sp.Matrix([t * sp.collect(sp.expand(grad[m] / t), q_sym[m])
                              for m in range(K)])
    target = (t * (q_sym - p_sym)).applyfunc(use_sum_p)
    leading = (q - p).diff(t).subs(t, 0).applyfunc(sp.cancel)
    z_bar, v_bar = sum(z) / K, sum(v) / K
    leading_formula = sp.Matrix([((z[m] - z_bar) - (v[m] - v_bar)) / K for m in range(K)])
    return {
        "t": t, "z": z, "v": v, "q": q_sym, "p": p_sym, "loss": loss, "grad": grad_display,
        "grad_minus_formula": (grad.applyfunc(use_sum_p) - target).applyfunc(sp.expand),
        "leading": leading, "leading_formula": leading_formula,
        "leading_minus_formula": (leading - leading_formula).applyfunc(sp.expand),
        "at_t0": (q - p).subs(t, 0).applyfunc(sp.simplify),
    }


def cross_entropy_hessian(K=3):
    """Hessian of ``L = -sum_k y_k log softmax(z)_k`` with respect to the logits.

    ``sympy.hessian`` of the loss written in the logits, rewritten in ``s`` (as
    for the Jacobian). Before using ``sum_k y_k = 1`` every entry is
    ``(y_0 + ... + y_{K-1}) * J_ij``; after it, the Hessian is exactly
    ``J = diag(s) - s s^T``, the softmax Jacobian, and no longer depends on y.

    Parameters
    ----------
    K : int, default 3

    Returns
    -------
    dict of SymPy objects
        ``"loss"``; ``"hessian_raw"`` (K, K), exponential form; ``"hessian_in_s"``
        before ``sum y = 1``; ``"in_s_minus_sum_y_J"``: ``hessian_in_s - (sum y) J``
        (zero); ``"hessian"`` after ``sum y = 1`` (substituting
        ``y_{K-1} = 1 - y_0 - ... - y_{K-2}``); ``"minus_J"``: ``hessian - J`` (zero);
        ``"s"``, ``"y"``: the symbol matrices.
    """
    K = _check_K(K)
    z, s, y = logit_symbols(K), prob_symbols(K), target_symbols(K)
    s_of_z = softmax_matrix(K)
    loss = -sum(y[m] * sp.log(s_of_z[m]) for m in range(K))
    H_raw = sp.hessian(loss, list(z))
    H_s = _exp_to_s(H_raw, K).applyfunc(sp.expand)
    J = softmax_jacobian_formula(K)
    H = H_s.subs(y[K - 1], 1 - sum(y[:K - 1])).applyfunc(sp.expand)
    return {
        "loss": loss, "hessian_raw": H_raw, "hessian_in_s": H_s.applyfunc(sp.factor),
        "in_s_minus_sum_y_J": (H_s - sum(y) * J).applyfunc(sp.expand),
        "hessian": _tidy_rows(H, s), "minus_J": (H - J).applyfunc(sp.expand),
        "s": s, "y": y,
    }


def log_softmax_jacobian_symbolic(K=3):
    """Jacobian and vector-Jacobian product of ``log_softmax(z)``.

    ``d log s_i / d z_j = delta_ij - s_j``: the Jacobian is ``I - 1 s^T`` (every row
    is ``e_i - s``), which is NOT symmetric. Its VJP with an upstream gradient
    ``g`` is ``g^T J = g - s * sum(g)``; the other product, ``J g = g - <g, s> 1``,
    is a different vector.

    Parameters
    ----------
    K : int, default 3

    Returns
    -------
    dict of SymPy objects
        ``"J_raw"`` (K, K), exponential form; ``"J"``: in s; ``"J_formula"``:
        ``I - 1 s^T``; ``"J_minus_formula"`` (zero); ``"g"``: symbols ``g0..``
        (K, 1); ``"vjp"``: ``(g^T J)^T`` (K, 1); ``"vjp_formula"``: ``g - s sum(g)``;
        ``"vjp_minus_formula"`` (zero); ``"Jg"``: ``J g`` (K, 1), for contrast;
        ``"s"``: the symbol matrix.
    """
    K = _check_K(K)
    z, s = logit_symbols(K), prob_symbols(K)
    J_raw = softmax_matrix(K).applyfunc(sp.log).jacobian(z)
    J = _exp_to_s(J_raw, K).applyfunc(lambda e: sp.expand(sp.cancel(e)))
    J_formula = sp.eye(K) - sp.ones(K, 1) * s.T
    g = sp.Matrix(sp.symbols(f"g0:{K}", real=True))
    vjp = (g.T * J).T.applyfunc(sp.expand)
    vjp_formula = g - s * sum(g)
    return {
        "J_raw": J_raw, "J": J, "J_formula": J_formula,
        "J_minus_formula": (J - J_formula).applyfunc(sp.expand),
        "g": g, "vjp": vjp, "vjp_formula": vjp_formula,
        "vjp_minus_formula": (vjp - vjp_formula).applyfunc(sp.expand),
        "Jg": (J * g).applyfunc(sp.expand), "s": s,
    }


__all__ += [
    "saturation_gradients",
    "distillation_gradient",
    "cross_entropy_hessian",
    "log_softmax_jacobian_symbolic",
]
