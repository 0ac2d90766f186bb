"""Matplotlib figures used by the course notebooks.

Every function draws one labelled figure (title, axis labels, legend where it
helps) and returns the :class:`matplotlib.figure.Figure`. Functions that take
an ``ax`` draw into it instead of making a new figure. Figures are made with
``pyplot``, so in a notebook with the inline backend they appear at the end of
the cell; the notebooks end such cells with ``plt.show()``.

The module is organised by notebook; add new figures under a section comment
for the notebook that uses them.

- Notebook 00 (start_here): :func:`pipeline_diagram`
- Notebook 01 (shapes_and_conventions): :func:`shape_diagram`
- Notebook 02 (softmax): :func:`plot_softmax_bars`, :func:`plot_temperatures`,
  :func:`plot_log_softmax_stability`, :func:`plot_softmax_vs_sigmoid`
"""

from __future__ import annotations

import numbers

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import FancyArrowPatch, Rectangle

from backprop_lib.functional import log_softmax, sigmoid, softmax

__all__ = [
    "pipeline_diagram",
    "shape_diagram",
    "plot_softmax_bars",
    "plot_temperatures",
    "plot_log_softmax_stability",
    "plot_softmax_vs_sigmoid",
]

# One colour per dimension name, so that the same dimension (say ``D``) has the
# same colour on every box it appears on: matching colours = matching sizes.
_DIM_PALETTE = (
    "#1f77b4",  # blue
    "#d62728",  # red
    "#2ca02c",  # green
    "#9467bd",  # purple
    "#ff7f0e",  # orange
    "#8c564b",  # brown
    "#e377c2",  # pink
    "#17becf",  # cyan
)
_DEFAULT_DIM_SIZES = {"N": 4.0, "D": 3.0, "D_in": 3.0, "H": 2.0, "D_out": 2.0, "K": 2.5, "1": 0.6}


def _new_axes(ax, figsize):
    """Return (fig, ax): a fresh figure and axes if `ax` is None, else ax's figure."""
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    else:
        fig = ax.figure
    return fig, ax


_FORWARD_COLOURS = {"facecolor": "#dbe9f6", "edgecolor": "#1f77b4"}
_BACKWARD_COLOURS = {"facecolor": "#fbe3d6", "edgecolor": "#d62728"}


def _draw_pass_rows(ax, xs, forward, backward, ops, *, fwd_y, bwd_y, fwd_width,
                    box_height=0.9, bwd_width=1.9, bwd_fontsize=10.5):
    """Draw a computation graph as two rows of boxes: forward on top, backward below.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    xs : sequence of float, length M
        x of each node's centre (forward and backward boxes share it).
    forward : sequence of (symbol, shape, caption), length M
        Forward boxes, left to right; the caption goes above the box.
    backward : sequence of (symbol, shape), length M
        The gradient boxes under them.
    ops : sequence of str, length M - 1
        Labels of the forward arrows between neighbouring boxes.
    fwd_y, bwd_y : float
        y of the two rows.
    fwd_width, box_height, bwd_width : float
        Box sizes; the backward boxes are wider to fit gradient symbols.
    bwd_fontsize : float
        Font size of the gradient symbols.
    """
    half_h = box_height / 2
    for x, (sym, shape, what) in zip(xs, forward, strict=True):
        ax.add_patch(Rectangle((x - fwd_width / 2, fwd_y - half_h), fwd_width, box_height,
                               lw=1.5, **_FORWARD_COLOURS))
        ax.text(x, fwd_y + 0.12, sym, ha="center", va="center", fontsize=14)
        ax.text(x, fwd_y - 0.22, shape, ha="center", va="center", fontsize=10, family="monospace")
        ax.text(x, fwd_y + half_h + 0.15, what, ha="center", va="bottom", fontsize=9,
                color="#444444")
    for x, (sym, shape) in zip(xs, backward, strict=True):
        ax.add_patch(Rectangle((x - bwd_width / 2, bwd_y - half_h), bwd_width, box_height,
                               lw=1.5, **_BACKWARD_COLOURS))
        ax.text(x, bwd_y + 0.14, sym, ha="center", va="center", fontsize=bwd_fontsize)
        ax.text(x, bwd_y - 0.22, shape, ha="center", va="center", fontsize=10, family="monospace")
    fwd_gap, bwd_gap = fwd_width / 2 + 0.05, bwd_width / 2 + 0.05
    for x0, x1, label in zip(xs[:-1], xs[1:], ops, strict=True):
        ax.add_patch(FancyArrowPatch((x0 + fwd_gap, fwd_y), (x1 - fwd_gap, fwd_y),
                                     arrowstyle="-|>", mutation_scale=15, color="#1f77b4"))
        ax.text((x0 + x1) / 2, fwd_y + 0.08, label, ha="center", va="bottom", fontsize=9)
        ax.add_patch(FancyArrowPatch((x1 - bwd_gap, bwd_y), (x0 + bwd_gap, bwd_y),
                                     arrowstyle="-|>", mutation_scale=15, color="#d62728"))
    for y, name, colour in ((fwd_y, "forward", "#1f77b4"), (bwd_y, "backward", "#d62728")):
        ax.text(xs[0] - 1.1, y, name, ha="right", va="center", fontsize=10, color=colour,
                rotation=90)
    ax.set_aspect("equal")
    ax.axis("off")


# ---------------------------------------------------------------------------
# Notebook 00: the pipeline the course is about
# ---------------------------------------------------------------------------


def pipeline_diagram(ax=None):
    """Draw the forward and backward pass of a softmax classifier with shapes.

    Forward (top row, left to right): inputs ``X`` (N, D) -> dense layer ->
    logits ``Z`` (N, K) -> softmax -> probabilities ``S`` (N, K) ->
    cross-entropy -> loss ``L`` (a scalar). Backward (bottom row, right to
    left): the gradient of ``L`` with respect to each of those arrays, which
    always has the same shape as the array itself.

    Parameters
    ----------
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; a new 11 x 3.4 inch figure is made if omitted.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    fig, ax = _new_axes(ax, (11, 3.4))
    nodes = [
        ("$X$", "(N, D)", "inputs"),
        ("$Z$", "(N, K)", "logits"),
        ("$S$", "(N, K)", "probabilities"),
        ("$L$", "()", "mean loss"),
    ]
    ops = ["dense\n$Z = XW + b$", "softmax\n(each row)", "cross-entropy\nwith labels $y$"]
    grads = [
        (r"$\partial L/\partial W$, $\partial L/\partial b$", "(D, K), (K,)"),
        (r"$\partial L/\partial Z$", "(N, K)"),
        (r"$\partial L/\partial S$", "(N, K)"),
        (r"$\partial L/\partial L = 1$", "()"),
    ]
    xs = [0.0, 3.4, 6.8, 10.2]
    fwd_y, bwd_y = 1.0, -0.9
    _draw_pass_rows(ax, xs, nodes, grads, ops, fwd_y=fwd_y, bwd_y=bwd_y, fwd_width=1.4)
    ax.text((xs[1] + xs[2]) / 2, bwd_y + 0.2, "the softmax\nJacobian\nlives here",
            ha="center", va="bottom", fontsize=8.5, color="#d62728")
    ax.set_xlim(-1.7, 11.3)
    ax.set_ylim(-1.6, 2.0)
    ax.set_title("A softmax classifier: forward pass (top) and backward pass (bottom), "
                 "with the shape of every array")
    return fig


# ---------------------------------------------------------------------------
# Notebook 01: shape diagrams
# ---------------------------------------------------------------------------


def _dim_name(d):
    """The display name of one dimension (an int or a string such as 'N')."""
    if isinstance(d, numbers.Integral):
        return str(int(d))
    if isinstance(d, str) and d:
        return d
    raise TypeError(f"a dimension must be an int or a non-empty str, got {d!r}")


def _dim_size(d, sizes):
    """Drawing size (in box units) of one dimension."""
    name = _dim_name(d)
    if name in sizes:
        return float(sizes[name])
    if name in _DEFAULT_DIM_SIZES:
        return _DEFAULT_DIM_SIZES[name]
    if isinstance(d, numbers.Integral):
        # Real sizes: keep small ones honest, squash big ones so the figure fits.
        return float(np.clip(0.6 * np.sqrt(int(d)), 0.6, 5.0))
    return 3.0


def _format_shape(shape):
    names = [_dim_name(d) for d in shape]
    return "(" + names[0] + ",)" if len(names) == 1 else "(" + ", ".join(names) + ")"


def shape_diagram(operands, result=None, ops="@", sizes=None, title=None, ax=None):
    """Draw arrays as labelled boxes to show how their shapes combine.

    Each array is a rectangle whose height follows its number of rows and
    whose width follows its number of columns. Every dimension name gets its
    own colour, used for the edge labels, so a product such as
    ``(N, D) @ (D, H) -> (N, H)`` shows at a glance which sizes must match
    (the two ``D``) and which survive into the result (``N`` and ``H``).
    A 1-D array of shape ``(H,)`` is drawn as a thin dashed row: NumPy treats
    it as a row ``(1, H)`` when broadcasting. A 3-D array ``(B, R, C)`` is
    drawn as a stack of ``(R, C)`` boxes labelled with ``B``.

    Parameters
    ----------
    operands : sequence of (str, tuple)
        ``(label, shape)`` pairs, left to right. A shape holds ints or
        dimension names (strings such as ``"N"``); 1 to 3 dimensions.
    result : (str, tuple), optional
        The result, drawn after an ``=`` sign.
    ops : str or sequence of str, default "@"
        The operator drawn between consecutive operands (one string for all,
        or one per gap), e.g. ``["@", "+"]`` for ``A @ W + b``.
    sizes : dict, optional
        Drawing size for dimension names, e.g. ``{"N": 5, "D": 2}``. Integer
        dimensions default to a size that grows like their square root.
    title : str, optional
        Axes title; by default the shape equation, e.g.
        ``"(N, D) @ (D, H) -> (N, H)"``.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; a new figure is made if omitted.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    operands = list(operands)
    if not operands:
        raise ValueError("operands must hold at least one (label, shape) pair")
    sizes = dict(sizes or {})
    if isinstance(ops, str):
        ops = [ops] * (len(operands) - 1)
    ops = list(ops)
    if len(ops) != len(operands) - 1:
        raise ValueError(
            f"need {len(operands) - 1} operator(s) between the operands, got {len(ops)}"
        )
    items = [(str(lbl), tuple(shp)) for lbl, shp in operands]
    if result is not None:
        items.append((str(result[0]), tuple(result[1])))
    for label, shape in items:
        if not 1 <= len(shape) <= 3:
            raise ValueError(f"{label}: shape must have 1 to 3 dimensions, got {shape}")

    colours = {}
    for _, shape in items:
        for d in shape:
            colours.setdefault(_dim_name(d), _DIM_PALETTE[len(colours) % len(_DIM_PALETTE)])

    fig_needed = ax is None
    fig, ax = _new_axes(ax, (8, 3))
    x = 0.0
    max_h = 1.0
    label_fs = 11
    x_start = 0.0
    for idx, (label, shape) in enumerate(items):
        stack = shape[0] if len(shape) == 3 else None
        core = shape[1:] if len(shape) == 3 else shape
        if len(core) == 1:
            rows, cols = None, core[0]
            h, w = 0.45, _dim_size(cols, sizes)
        else:
            rows, cols = core
            h, w = _dim_size(rows, sizes), _dim_size(cols, sizes)
        # room for the row label on the left of the box
        row_room = 0.2 * len(_dim_name(rows)) + 0.2 if rows is not None else 0.1
        if idx > 0:
            symbol = "=" if (result is not None and idx == len(items) - 1) else ops[idx - 1]
            ax.text(x + 0.55, 0, symbol, ha="center", va="center", fontsize=18)
            x += 1.1
        else:
            x_start = -row_room
        x += row_room
        max_h = max(max_h, h)
        y0 = -h / 2
        if stack is not None:
            for s in (2, 1):
                ax.add_patch(Rectangle((x + 0.18 * s, y0 + 0.18 * s), w, h, facecolor="#eeeeee",
                                       edgecolor="#777777", lw=1))
        ax.add_patch(Rectangle((x, y0), w, h, facecolor="#f3f3f3", edgecolor="black", lw=1.5,
                               linestyle="--" if rows is None else "-"))
        # column dimension on top, row dimension on the left
        top = y0 + h + (0.45 if stack is not None else 0.08)
        cname = _dim_name(cols)
        ax.text(x + w / 2, top, cname, ha="center", va="bottom", fontsize=label_fs,
                color=colours[cname], fontweight="bold")
        if rows is not None:
            rname = _dim_name(rows)
            ax.text(x - 0.08, 0, rname, ha="right", va="center", fontsize=label_fs,
                    color=colours[rname], fontweight="bold")
        if stack is not None:
            sname = _dim_name(stack)
            ax.text(x + w + 0.45, y0 + h + 0.35, sname, ha="left", va="bottom",
                    fontsize=label_fs, color=colours[sname], fontweight="bold")
        shape_text = _format_shape(shape)
        if w >= 0.22 * len(label) + 0.2 and h >= 0.4:
            ax.text(x + w / 2, 0, label, ha="center", va="center", fontsize=13)
        else:  # too narrow for the name: write it under the box, with the shape
            shape_text = label + "\n" + shape_text
        ax.text(x + w / 2, y0 - 0.2, shape_text, ha="center", va="top",
                fontsize=10, family="monospace")
        x += w + (0.5 if stack is not None else 0.0)
    ax.set_xlim(x_start - 0.3, x + 0.4)
    ax.set_ylim(-max_h / 2 - 1.3, max_h / 2 + 1.0)
    ax.set_aspect("equal")
    ax.axis("off")
    if title is None:
        lhs = _format_shape(items[0][1])
        for op, (_, s) in zip(ops, items[1 : len(operands)], strict=True):
            lhs += f" {op} {_format_shape(s)}"
        title = lhs + (f"  ->  {_format_shape(items[-1][1])}" if result is not None else "")
    ax.set_title(title)
    if fig_needed:
        width = min(14.0, max(5.0, 0.9 * (x + 1.2)))
        fig.set_size_inches(width, max(2.4, 0.75 * (max_h + 2.4)))
    return fig


# ---------------------------------------------------------------------------
# Notebook 02: softmax
# ---------------------------------------------------------------------------


def plot_softmax_bars(z, temperature=1.0, ax=None, title=None):
    """Bar chart of ``softmax(z / temperature)``, each bar labelled with its value.

    Parameters
    ----------
    z : array_like, shape (K,)
        One vector of logits.
    temperature : float, default 1.0
        Positive temperature T; the logits are divided by it.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; a new figure is made if omitted.
    title : str, optional
        Axes title; a description with the temperature by default.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    z = np.asarray(z, dtype=float)
    if z.ndim != 1:
        raise ValueError(f"z must have shape (K,), got {z.shape}")
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    fig, ax = _new_axes(ax, (5.5, 3.2))
    s = softmax(z / temperature)
    k = np.arange(z.size)
    bars = ax.bar(k, s, color="#1f77b4")
    for b, p in zip(bars, s, strict=True):
        ax.text(b.get_x() + b.get_width() / 2, p + 0.02, f"{p:.3f}", ha="center", va="bottom",
                fontsize=9)
    ax.set_xticks(k, [f"{i}\nz={v:g}" for i, v in zip(k, z, strict=True)])
    ax.set_ylim(0, 1.1)
    ax.set_xlabel("class $k$ (and its logit $z_k$)")
    ax.set_ylabel("probability $s_k$")
    ax.set_title(title or f"softmax(z / T) with T = {temperature:g}")
    return fig


def plot_temperatures(z, temperatures=(0.25, 1.0, 4.0), t_range=(0.05, 50.0)):
    """Two panels showing how the temperature T reshapes ``softmax(z / T)``.

    Left: grouped bars of the probabilities at a few temperatures. Right: each
    class's probability as a curve over a log-scaled range of T, with the
    uniform level ``1/K`` dashed: small T -> (nearly) one-hot on the largest
    logit, large T -> (nearly) uniform.

    Parameters
    ----------
    z : array_like, shape (K,)
        One vector of logits.
    temperatures : sequence of float, default (0.25, 1.0, 4.0)
        Temperatures for the bar panel (all positive).
    t_range : (float, float), default (0.05, 50.0)
        Smallest and largest temperature for the curve panel.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    z = np.asarray(z, dtype=float)
    if z.ndim != 1:
        raise ValueError(f"z must have shape (K,), got {z.shape}")
    temperatures = [float(t) for t in temperatures]
    if min(temperatures) <= 0 or t_range[0] <= 0:
        raise ValueError("temperatures must be positive")
    K = z.size
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6))
    width = 0.8 / len(temperatures)
    k = np.arange(K)
    for i, t in enumerate(temperatures):
        ax1.bar(k + (i - (len(temperatures) - 1) / 2) * width, softmax(z / t), width,
                label=f"T = {t:g}")
    ax1.set_xticks(k, [f"{i}\nz={v:g}" for i, v in zip(k, z, strict=True)])
    ax1.set_xlabel("class $k$ (and its logit $z_k$)")
    ax1.set_ylabel("probability $s_k$")
    ax1.set_ylim(0, 1.05)
    ax1.set_title("softmax(z / T) at a few temperatures")
    ax1.legend()

    ts = np.geomspace(t_range[0], t_range[1], 200)
    probs = softmax(z[None, :] / ts[:, None])  # (200, K)
    for i in range(K):
        ax2.plot(ts, probs[:, i], label=f"$s_{i}$ (z={z[i]:g})")
    ax2.axhline(1.0 / K, color="gray", linestyle="--", lw=1, label=f"uniform 1/K = {1 / K:.2f}")
    ax2.set_xscale("log")
    ax2.set_xlabel("temperature T (log scale)")
    ax2.set_ylabel("probability $s_k$")
    ax2.set_ylim(0, 1.05)
    ax2.set_title("each probability as T varies")
    ax2.legend(fontsize=8)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.2, top=0.9, wspace=0.22)
    return fig


def plot_log_softmax_stability(max_gap=1000.0, dtype=np.float64, ax=None):
    """Compare ``log(softmax(z))`` with ``log_softmax(z)`` as a logit gap grows.

    For two logits ``z = [0, -g]`` the exact log-probability of the second
    class is ``-g - log(1 + exp(-g))``, roughly ``-g``. Taking the log of an
    already computed probability fails once ``exp(-g)`` underflows to 0 (near
    ``g = 745`` in float64, ``g = 104`` in float32): the result is ``-inf``.
    ``log_softmax`` never forms the tiny probability and stays finite.

    Parameters
    ----------
    max_gap : float, default 1000
        Largest gap g on the x-axis.
    dtype : numpy float dtype, default float64
        Precision of the computation.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; a new figure is made if omitted.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    ax_given = ax
    fig, ax = _new_axes(ax, (7, 3.6))
    gaps = np.linspace(0.0, float(max_gap), 801).astype(dtype)
    z = np.stack([np.zeros_like(gaps), -gaps], axis=-1)  # (801, 2)
    with np.errstate(divide="ignore", under="ignore"):
        naive = np.log(softmax(z))[:, 1]
    stable = log_softmax(z)[:, 1]
    ax.plot(gaps, stable, lw=4, alpha=0.5, color="#2ca02c", label="log_softmax(z)  (stable)")
    ax.plot(gaps, naive, lw=1.5, color="#d62728", label="np.log(softmax(z))  (naive)")
    bad = ~np.isfinite(naive)
    if bad.any():
        g0 = float(gaps[np.argmax(bad)])
        ax.axvline(g0, color="#d62728", linestyle=":", lw=1)
        ax.annotate(f"g = {g0:.0f}: softmax gives 0,\nlog gives -inf", xy=(g0, -g0),
                    xytext=(0.5, 0.75), textcoords="axes fraction", fontsize=9,
                    arrowprops={"arrowstyle": "->", "color": "#d62728"}, color="#d62728")
    ax.set_xlabel("logit gap g, with z = [0, -g]")
    ax.set_ylabel(r"$\log s_1$")
    ax.set_title(f"log-probability of the losing class ({np.dtype(dtype).name})")
    ax.legend(loc="lower left")
    if ax_given is None:
        fig.subplots_adjust(left=0.14, right=0.97, bottom=0.15, top=0.9)
    return fig


def plot_softmax_vs_sigmoid(max_diff=8.0, ax=None):
    """For K = 2, ``softmax([z1, z2])[0]`` is the sigmoid of ``z1 - z2``.

    Plots the first softmax probability of two logits against their difference
    ``d = z1 - z2`` (the curve does not depend on ``z2``, by shift invariance),
    with the logistic sigmoid of ``d`` dashed on top.

    Parameters
    ----------
    max_diff : float, default 8
        The x-axis runs over ``[-max_diff, max_diff]``.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; a new figure is made if omitted.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    ax_given = ax
    fig, ax = _new_axes(ax, (6.5, 3.4))
    d = np.linspace(-float(max_diff), float(max_diff), 161)
    z2 = 3.0  # any value gives the same curve (shift invariance)
    z = np.stack([d + z2, np.full_like(d, z2)], axis=-1)  # (161, 2)
    ax.plot(d, softmax(z)[:, 0], lw=6, alpha=0.4, color="#1f77b4",
            label=f"softmax([z1, z2])[0]  (z2 = {z2:g}; any z2 gives this curve)")
    ax.plot(d, sigmoid(d), "k--", lw=1.5, label="sigmoid(z1 - z2)")
    ax.set_xlabel("logit difference  $z_1 - z_2$")
    ax.set_ylabel("probability of class 1")
    ax.set_title("Two classes: softmax is the sigmoid of the logit difference")
    ax.legend(fontsize=8, loc="upper left")
    if ax_given is None:
        fig.subplots_adjust(left=0.12, right=0.97, bottom=0.16, top=0.9)
    return fig


# ---------------------------------------------------------------------------
# Notebooks 03-04: the softmax Jacobian and the chain rule
# (softmax_jacobian / chain_rule_cross_entropy author's section)
# ---------------------------------------------------------------------------


def plot_jacobian_heatmap(J, ax=None, title=None, annotate=True, vmax=None, output_symbol="s"):
    """Heatmap of a (K, K) Jacobian, rows = outputs ``s_i``, columns = inputs ``z_j``.

    A diverging colour map centred on 0 (red positive, blue negative), a colour
    bar, and each entry written in its cell when ``annotate`` is true and K <= 8.

    Parameters
    ----------
    J : array_like, shape (K, K)
        The Jacobian ``J[i, j] = d s_i / d z_j``.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; a new figure is made if omitted.
    title : str, optional
        Axes title; ``"softmax Jacobian J = diag(s) - s s^T"`` by default.
    annotate : bool, default True
        Write the value of each entry in its cell (only for K <= 8).
    vmax : float, optional
        Colour scale ``[-vmax, vmax]``; ``max |J|`` by default.
    output_symbol : str, default "s"
        Letter for the outputs in the row labels (e.g. ``"a"`` for a sigmoid).

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    J = np.asarray(J, dtype=float)
    if J.ndim != 2 or J.shape[0] != J.shape[1]:
        raise ValueError(f"J must be a square matrix of shape (K, K), got {J.shape}")
    K = J.shape[0]
    fig, ax = _new_axes(ax, (4.6, 3.8))
    if vmax is None:
        vmax = float(np.abs(J).max()) or 1.0
    im = ax.imshow(J, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="value of $J_{ij}$")
    if annotate and K <= 8:
        for i in range(K):
            for j in range(K):
                ax.text(j, i, f"{J[i, j]:+.3f}", ha="center", va="center",
                        fontsize=9 if K <= 4 else 7,
                        color="white" if abs(J[i, j]) > 0.6 * vmax else "black")
    k = np.arange(K)
    if K <= 12:
        ax.set_xticks(k, [f"$z_{j}$" for j in k])
        ax.set_yticks(k, [f"${output_symbol}_{i}$" for i in k])
    ax.set_xlabel("input $j$ (logit $z_j$)")
    ax.set_ylabel(f"output $i$ (${output_symbol}_i$)")
    ax.set_title(title or r"softmax Jacobian $J = \mathrm{diag}(s) - s s^\top$")
    if len(fig.axes) == 2:  # this axes and its colour bar only
        fig.tight_layout()
    return fig


def plot_jacobian_eigenvalues(probabilities, ax=None, title=None):
    """Sorted eigenvalues of ``diag(s) - s s^T`` for several probability vectors.

    One marker per eigenvalue, one column per vector. Every column has exactly
    one eigenvalue at 0 (eigenvector: all ones, the shift direction) and the
    rest strictly positive: the matrix is positive semidefinite with rank K-1.

    Parameters
    ----------
    probabilities : sequence of array_like
        Probability vectors, each of shape (K,) (the K may differ).
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; a new figure is made if omitted.
    title : str, optional
        Axes title.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    probabilities = [np.asarray(s, dtype=float) for s in probabilities]
    if not probabilities or any(s.ndim != 1 for s in probabilities):
        raise ValueError("probabilities must be a non-empty sequence of 1-D arrays")
    fig, ax = _new_axes(ax, (6.4, 3.4))
    for col, s in enumerate(probabilities):
        eig = np.linalg.eigvalsh(np.diag(s) - np.outer(s, s))
        zero = np.abs(eig) < 1e-12
        ax.scatter(np.full(eig.size, col), np.where(zero, 0.0, eig), s=28,
                   c=np.where(zero, "#d62728", "#1f77b4"), zorder=3)
    ax.axhline(0.0, color="gray", lw=1, linestyle="--")
    ax.scatter([], [], c="#d62728", s=28, label="eigenvalue 0 (direction $(1, \\dots, 1)$)")
    ax.scatter([], [], c="#1f77b4", s=28, label="positive eigenvalues")
    ax.set_xticks(range(len(probabilities)), [f"K = {s.size}" for s in probabilities])
    ax.set_xlabel("random logits, one column per vector $s$")
    ax.set_ylabel("eigenvalue of $J$")
    ax.set_title(title or "Spectrum of the softmax Jacobian: PSD, exactly one zero")
    top = max(float(np.max(s)) for s in probabilities)
    ax.set_ylim(-0.03 * top, 1.35 * ax.get_ylim()[1])
    ax.legend(fontsize=8, loc="upper right")
    if len(fig.axes) == 1:
        fig.tight_layout()
    return fig


def plot_gradient_comparison(gradients, ax=None, title=None, ylabel=None):
    """Grouped bar chart comparing several gradient vectors of the same shape (K,).

    Typical use: the correct gradient, a numerical one and a buggy one side by
    side, so agreement (equal bars) and disagreement are visible at once.

    Parameters
    ----------
    gradients : dict of str -> array_like, each of shape (K,)
        Label -> gradient; the order of the dict is the order of the bars.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; a new figure is made if omitted.
    title : str, optional
        Axes title.
    ylabel : str, optional
        y-axis label; ``"dL/dz_j"`` by default.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    items = [(str(k), np.asarray(v, dtype=float)) for k, v in dict(gradients).items()]
    if not items:
        raise ValueError("gradients must hold at least one (label, array) pair")
    K = items[0][1].shape
    if any(v.shape != K or v.ndim != 1 for _, v in items):
        raise ValueError("every gradient must be 1-D and all must have the same shape")
    K = K[0]
    fig, ax = _new_axes(ax, (7.0, 3.6))
    width = 0.8 / len(items)
    k = np.arange(K)
    hatches = ["", "//", "..", "xx", "\\\\"]
    for n, (label, v) in enumerate(items):
        ax.bar(k + (n - (len(items) - 1) / 2) * width, v, width, label=label,
               hatch=hatches[n % len(hatches)], edgecolor="black", lw=0.5)
    ax.axhline(0.0, color="black", lw=0.8)
    ax.set_xticks(k, [f"$z_{j}$" for j in k])
    ax.set_xlabel("component $j$ of the gradient")
    ax.set_ylabel(ylabel or r"$\partial L / \partial z_j$")
    ax.set_title(title or "Gradient with respect to the logits, three ways")
    ax.legend(fontsize=8)
    if len(fig.axes) == 1:
        fig.tight_layout()
    return fig


def chain_rule_diagram(ax=None):
    """Computation graph of one example, ``z -> s -> L``, with the backward pass and shapes.

    Forward (top): logits ``z`` (K,) -> softmax -> ``s`` (K,) -> cross-entropy
    with the target ``y`` -> ``L`` (). Backward (bottom): ``dL/dL = 1`` ->
    ``g = dL/ds`` (K,) -> ``g^T J``: a (1, K) row times a (K, K) matrix -> ``dL/dz``
    (K,). The softmax step is the vector-Jacobian product the course is about.

    Parameters
    ----------
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; a new 10 x 3.6 inch figure is made if omitted.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    fig, ax = _new_axes(ax, (10, 3.6))
    xs = [0.0, 4.0, 8.0]
    fwd = [("$z$", "(K,)", "logits"), ("$s$", "(K,)", "probabilities"), ("$L$", "()", "loss")]
    bwd = [(r"$\partial L/\partial z$", "(K,)"), (r"$g = \partial L/\partial s$", "(K,)"),
           (r"$\partial L/\partial L = 1$", "()")]
    fwd_y, bwd_y = 1.0, -1.0
    ops = ["softmax", "cross-entropy\nwith target $y$"]
    _draw_pass_rows(ax, xs, fwd, bwd, ops, fwd_y=fwd_y, bwd_y=bwd_y, fwd_width=1.5,
                    box_height=0.84, bwd_fontsize=11)
    back_ops = [r"$g^\top J$:  (1, K) @ (K, K) $\to$ (1, K)", r"$g_k = -y_k / s_k$"]
    for x0, x1, label in zip(xs[:-1], xs[1:], back_ops, strict=True):
        ax.text((x0 + x1) / 2, bwd_y - 0.55, label, ha="center", va="top", fontsize=9,
                color="#d62728")
    ax.set_xlim(-1.6, 9.2)
    ax.set_ylim(-2.0, 1.9)
    ax.set_title("One example: every gradient has the shape of the array it belongs to")
    return fig


__all__ += [
    "plot_jacobian_heatmap",
    "plot_jacobian_eigenvalues",
    "plot_gradient_comparison",
    "chain_rule_diagram",
]


# ---------------------------------------------------------------------------
# Notebook 07: train a classifier (train_a_classifier author's section)
# Decision regions of a 2-D classifier, a confusion matrix, misclassified images.
# ---------------------------------------------------------------------------

#: One colour per class (matplotlib's "tab10" colours, red second so that three classes are
#: blue, red, green), used for points and decision regions alike.
CLASS_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
                 "#7f7f7f", "#bcbd22", "#17becf")


def _class_rgb(K):
    """RGB rows of the first K class colours, shape (K, 3), values in [0, 1]."""
    from matplotlib.colors import to_rgb

    if not 1 <= K <= len(CLASS_COLOURS):
        raise ValueError(f"can colour 1 to {len(CLASS_COLOURS)} classes, got K = {K}")
    return np.array([to_rgb(c) for c in CLASS_COLOURS[:K]])


def decision_grid(X, resolution=150, margin=0.1):
    """A regular grid of points covering the bounding box of 2-D data, plus a margin.

    Parameters
    ----------
    X : array_like, shape (N, 2)
        The data the grid should cover.
    resolution : int, default 150
        Grid points along each axis, R.
    margin : float, default 0.1
        Extra room on each side, as a fraction of the data's range.

    Returns
    -------
    points : ndarray, shape (R * R, 2)
        Row-major grid: ``points.reshape(R, R, 2)[i, j]`` is row i (y), column j (x).
    extent : tuple of 4 floats
        ``(x_min, x_max, y_min, y_max)``, for ``imshow(..., extent=extent, origin="lower")``.
    """
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] != 2 or X.shape[0] == 0:
        raise ValueError(f"X must have shape (N, 2) with N >= 1, got {X.shape}")
    if isinstance(resolution, bool) or not isinstance(resolution, numbers.Integral) \
            or resolution < 2:
        raise ValueError(f"resolution must be an int >= 2, got {resolution!r}")
    low, high = X.min(axis=0), X.max(axis=0)
    pad = margin * np.maximum(high - low, 1e-9)
    low, high = low - pad, high + pad
    xs = np.linspace(low[0], high[0], resolution)
    ys = np.linspace(low[1], high[1], resolution)
    gx, gy = np.meshgrid(xs, ys)
    points = np.column_stack([gx.ravel(), gy.ravel()])
    return points, (float(low[0]), float(high[0]), float(low[1]), float(high[1]))


def probability_image(proba, shape):
    """Colour each grid point by its class probabilities: an RGB image.

    Each pixel mixes the class colours weighted by the probabilities, then
    fades towards white, so confident regions show their class colour and
    uncertain ones (near a boundary) look pale and mixed.

    Parameters
    ----------
    proba : array_like, shape (R * C, K)
        Class probabilities of every grid point (rows sum to 1).
    shape : tuple (R, C)
        Grid shape.

    Returns
    -------
    image : ndarray, shape (R, C, 3), values in [0, 1]
    """
    proba = np.asarray(proba, dtype=float)
    if proba.ndim != 2 or proba.shape[0] != int(np.prod(shape)):
        raise ValueError(f"proba must have shape ({int(np.prod(shape))}, K), got {proba.shape}")
    mixed = proba @ _class_rgb(proba.shape[1])
    return (0.45 * mixed + 0.55).reshape(*shape, 3).clip(0.0, 1.0)


def scatter_classes(ax, X, y, size=14):
    """Scatter 2-D points coloured by class, one legend entry per class.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    X : array_like, shape (N, 2)
    y : array_like of int, shape (N,)
    size : float, default 14
        Marker size.
    """
    X, y = np.asarray(X, dtype=float), np.asarray(y)
    for k in np.unique(y):
        pts = X[y == k]
        ax.scatter(pts[:, 0], pts[:, 1], s=size, color=CLASS_COLOURS[int(k)],
                   edgecolors="black", linewidths=0.4, label=f"class {int(k)}")


def plot_decision_boundary(predict_proba, X, y, ax=None, title=None, resolution=150):
    """Decision regions of a 2-D classifier, with the data on top.

    The background colours every grid point by the model's class
    probabilities (see :func:`probability_image`); thin black lines mark
    where the predicted class (the arg-max) changes.

    Parameters
    ----------
    predict_proba : callable
        ``predict_proba(points) -> proba``: points of shape (M, 2) to
        probabilities of shape (M, K).
    X : array_like, shape (N, 2)
    y : array_like of int, shape (N,)
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; a new figure is made if omitted.
    title : str, optional
        Axes title; ``"decision regions"`` by default.
    resolution : int, default 150
        Grid points along each axis.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    points, extent = decision_grid(X, resolution)
    proba = np.asarray(predict_proba(points), dtype=float)
    if proba.ndim != 2 or proba.shape[0] != points.shape[0]:
        raise ValueError(f"predict_proba must return shape ({points.shape[0]}, K), "
                         f"got {proba.shape}")
    fig, ax = _new_axes(ax, (4.4, 4.0))
    shape = (resolution, resolution)
    ax.imshow(probability_image(proba, shape), origin="lower", extent=extent,
              interpolation="bilinear", aspect="auto")
    labels = proba.argmax(axis=1).reshape(shape)
    if len(np.unique(labels)) > 1:
        gx = np.linspace(extent[0], extent[1], resolution)
        gy = np.linspace(extent[2], extent[3], resolution)
        ax.contour(gx, gy, labels, levels=np.arange(proba.shape[1] - 1) + 0.5, colors="black",
                   linewidths=0.7)
    scatter_classes(ax, X, y)
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title(title or "decision regions")
    if len(fig.axes) == 1:
        fig.tight_layout()
    return fig


def confusion_matrix(y_true, y_pred, num_classes=None):
    """Count how often each true class was predicted as each class.

    Parameters
    ----------
    y_true : array_like of int, shape (N,)
    y_pred : array_like of int, shape (N,)
    num_classes : int, optional
        K; by default one more than the largest label seen.

    Returns
    -------
    counts : ndarray of int, shape (K, K)
        ``counts[i, j]`` = number of examples of true class i predicted as j;
        the diagonal holds the correct predictions.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.ndim != 1 or y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same shape (N,), got {y_true.shape} "
                         f"and {y_pred.shape}")
    for name, labels in (("y_true", y_true), ("y_pred", y_pred)):
        if labels.size and (labels.dtype.kind not in "iu" or labels.min() < 0):
            raise ValueError(f"{name} must hold non-negative integer labels")
    if num_classes is None:
        num_classes = int(max(y_true.max(initial=0), y_pred.max(initial=0))) + 1
    if max(y_true.max(initial=0), y_pred.max(initial=0)) >= num_classes:
        raise ValueError(f"labels must be smaller than num_classes={num_classes}")
    flat = np.bincount(num_classes * y_true + y_pred, minlength=num_classes**2)
    return flat.reshape(num_classes, num_classes)


def plot_confusion_matrix(y_true, y_pred, num_classes=None, ax=None, title=None):
    """Heatmap of the confusion matrix, every count written in its cell.

    Parameters
    ----------
    y_true, y_pred : array_like of int, shape (N,)
    num_classes : int, optional
        K (see :func:`confusion_matrix`).
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; a new figure is made if omitted.
    title : str, optional
        Axes title; by default it states the accuracy.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    counts = confusion_matrix(y_true, y_pred, num_classes)
    K = counts.shape[0]
    fig, ax = _new_axes(ax, (5.2, 4.4))
    im = ax.imshow(counts, cmap="Blues")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="number of images")
    top = counts.max() or 1
    for i in range(K):
        for j in range(K):
            if counts[i, j]:
                ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if counts[i, j] > 0.6 * top else "black")
    k = np.arange(K)
    ax.set_xticks(k)
    ax.set_yticks(k)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    correct = int(np.trace(counts))
    total = int(counts.sum())
    ax.set_title(title or f"confusion matrix: {correct} of {total} correct")
    if len(fig.axes) == 2:
        fig.tight_layout()
    return fig


def plot_misclassified(images, y_true, proba, max_images=8, image_shape=(8, 8), title=None):
    """A gallery of misclassified images, each above a bar chart of its probabilities.

    In each bar chart the true class is green and the predicted class red.

    Parameters
    ----------
    images : array_like, shape (N, P)
        Flattened images (``P = prod(image_shape)``).
    y_true : array_like of int, shape (N,)
    proba : array_like, shape (N, K)
        The model's class probabilities.
    max_images : int, default 8
        Show at most this many (the most confidently wrong first).
    image_shape : tuple, default (8, 8)
    title : str, optional
        Figure title; by default it says how many were misclassified.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    images = np.asarray(images, dtype=float)
    y_true, proba = np.asarray(y_true), np.asarray(proba, dtype=float)
    n = y_true.shape[0]
    if images.shape[0] != n or proba.shape[0] != n or proba.ndim != 2:
        raise ValueError(f"need images (N, P), y_true (N,), proba (N, K); got {images.shape}, "
                         f"{y_true.shape}, {proba.shape}")
    pred = proba.argmax(axis=1)
    wrong = np.flatnonzero(pred != y_true)
    wrong = wrong[np.argsort(-proba[wrong, pred[wrong]], kind="stable")][:max_images]
    title = title or f"{np.count_nonzero(pred != y_true)} of {n} images misclassified"
    cols = max(len(wrong), 1)
    fig, axes = plt.subplots(2, cols, figsize=(1.55 * cols + 0.4, 3.6), squeeze=False,
                             gridspec_kw={"height_ratios": [1.25, 1.0]})
    K = proba.shape[1]
    for c in range(cols):
        ax_img, ax_bar = axes[0, c], axes[1, c]
        if c >= len(wrong):
            ax_img.axis("off")
            ax_bar.axis("off")
            ax_img.text(0.5, 0.5, "none", ha="center", va="center", transform=ax_img.transAxes)
            continue
        i = wrong[c]
        ax_img.imshow(images[i].reshape(image_shape), cmap="gray_r")
        ax_img.set_xticks([])
        ax_img.set_yticks([])
        ax_img.set_title(f"true {y_true[i]}, said {pred[i]}", fontsize=8)
        colours = ["#bbbbbb"] * K
        colours[pred[i]] = "#d62728"
        colours[y_true[i]] = "#2ca02c"
        ax_bar.bar(np.arange(K), proba[i], color=colours)
        ax_bar.set_ylim(0, 1)
        ax_bar.set_xticks(np.arange(K), [str(k) for k in range(K)], fontsize=6)
        ax_bar.tick_params(axis="y", labelsize=6)
        ax_bar.set_xlabel("class", fontsize=7)
        if c == 0:
            ax_bar.set_ylabel("probability", fontsize=7)
    fig.suptitle(title, fontsize=10)
    # Fixed margins: tight_layout would measure every one of the 2 * cols axes (slow).
    fig.subplots_adjust(left=0.5 / fig.get_figwidth(), right=1 - 0.1 / fig.get_figwidth(),
                        top=0.83, bottom=0.12, wspace=0.35, hspace=0.35)
    return fig


__all__ += [
    "CLASS_COLOURS",
    "decision_grid",
    "probability_image",
    "scatter_classes",
    "plot_decision_boundary",
    "confusion_matrix",
    "plot_confusion_matrix",
    "plot_misclassified",
]
