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


def _format_shape(shape, labels=None):
    labels = labels or {}
    names = [labels.get(_dim_name(d), _dim_name(d)) for d in shape]
    return "(" + names[0] + ",)" if len(names) == 1 else "(" + ", ".join(names) + ")"


def shape_diagram(operands, result=None, ops="@", sizes=None, title=None, ax=None,
                  labels=None, legend=None):
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
    labels : dict, optional
        Text drawn for a dimension name instead of the name itself. Two dimensions of the
        same size that play different roles can so keep their own colours: e.g.
        ``{"K_sum": "K (k)", "K_out": "K (j)"}`` for the summed and the surviving ``K`` of
        ``(1, K) @ (K, K)``.
    legend : dict, optional
        Dimension name -> what it does (e.g. ``"summed over"``), drawn under the boxes
        as a legend in that dimension's colour.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    operands = list(operands)
    labels = dict(labels or {})
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
        row_room = 0.2 * len(labels.get(_dim_name(rows), _dim_name(rows))) + 0.2 \
            if rows is not None else 0.1
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
        ax.text(x + w / 2, top, labels.get(cname, cname), ha="center", va="bottom",
                fontsize=label_fs, color=colours[cname], fontweight="bold")
        if rows is not None:
            rname = _dim_name(rows)
            ax.text(x - 0.08, 0, labels.get(rname, rname), ha="right", va="center",
                    fontsize=label_fs, color=colours[rname], fontweight="bold")
        if stack is not None:
            sname = _dim_name(stack)
            ax.text(x + w + 0.45, y0 + h + 0.35, labels.get(sname, sname), ha="left",
                    va="bottom", fontsize=label_fs, color=colours[sname], fontweight="bold")
        shape_text = _format_shape(shape, labels)
        if w >= 0.22 * len(label) + 0.2 and h >= 0.4:
            ax.text(x + w / 2, 0, label, ha="center", va="center", fontsize=13)
        else:  # too narrow for the name: write it under the box, with the shape
            shape_text = label + "\n" + shape_text
        ax.text(x + w / 2, y0 - 0.2, shape_text, ha="center", va="top",
                fontsize=10, family="monospace")
        x += w + (0.5 if stack is not None else 0.0)
    legend = dict(legend or {})
    for row, (name, text) in enumerate(legend.items()):
        if name not in colours:
            raise ValueError(f"legend names a dimension {name!r} that no array has")
        ax.text(x_start, -max_h / 2 - 1.25 - 0.5 * row,
                f"{labels.get(name, name)}: {text}", ha="left", va="top", fontsize=10,
                color=colours[name], fontweight="bold")
    ax.set_xlim(x_start - 0.3, x + 0.4)
    ax.set_ylim(-max_h / 2 - 1.3 - 0.5 * len(legend), max_h / 2 + 1.0)
    ax.set_aspect("equal")
    ax.axis("off")
    if title is None:
        lhs = _format_shape(items[0][1], labels)
        for op, (_, s) in zip(ops, items[1 : len(operands)], strict=True):
            lhs += f" {op} {_format_shape(s, labels)}"
        title = lhs + (f"  ->  {_format_shape(items[-1][1], labels)}"
                       if result is not None else "")
    ax.set_title(title)
    if fig_needed:
        width = min(14.0, max(5.0, 0.9 * (x + 1.2)))
        fig.set_size_inches(width, max(2.4, 0.75 * (max_h + 2.4 + 0.5 * len(legend))))
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

    For two logits ``z = [0, -d]`` the exact log-probability of the second
    class (``s_2`` in the formulas, index 1 in NumPy) is ``-d - log(1 + exp(-d))``,
    roughly ``-d``. Taking the log of an already computed probability fails once
    ``exp(-d)`` underflows to 0 (near ``d = 745`` in float64, ``d = 104`` in
    float32): the result is ``-inf``. ``log_softmax`` never forms the tiny
    probability and stays finite.

    Parameters
    ----------
    max_gap : float, default 1000
        Largest gap d on the x-axis.
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
        d0 = float(gaps[np.argmax(bad)])
        ax.axvline(d0, color="#d62728", linestyle=":", lw=1)
        ax.annotate(f"d = {d0:.0f}: softmax gives 0,\nlog gives -inf", xy=(d0, -d0),
                    xytext=(0.5, 0.75), textcoords="axes fraction", fontsize=9,
                    arrowprops={"arrowstyle": "->", "color": "#d62728"}, color="#d62728")
    ax.set_xlabel("logit gap d, with z = [0, -d]")
    ax.set_ylabel(r"$\log s_2$, the second class")
    ax.set_title(f"log-probability of the losing class ({np.dtype(dtype).name})")
    ax.legend(loc="lower left")
    if ax_given is None:
        fig.subplots_adjust(left=0.14, right=0.97, bottom=0.15, top=0.9)
    return fig


def plot_softmax_vs_sigmoid(max_diff=8.0, ax=None):
    """For K = 2, the first softmax output ``s_1`` is the sigmoid of ``z_1 - z_2``.

    Plots ``s_1 = e^{z_1} / (e^{z_1} + e^{z_2})`` (``softmax(z)[0]`` in NumPy, which counts
    from 0) against the logit difference ``d = z_1 - z_2`` (the curve does not depend on
    ``z_2``, by shift invariance), with the logistic sigmoid of ``d`` dashed on top. Classes
    are numbered from 1, as in the formulas.

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
            label=f"$s_1$, the probability of class 1  ($z_2$ = {z2:g}; any $z_2$ gives "
                  "this curve)")
    ax.plot(d, sigmoid(d), "k--", lw=1.5, label=r"$\sigma(z_1 - z_2)$")
    ax.set_xlabel("logit difference  $z_1 - z_2$")
    ax.set_ylabel("$s_1$, probability of class 1")
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
    with the one-hot target ``Y`` -> ``L`` (). Backward (bottom): ``dL/dL = 1`` ->
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
    ops = ["softmax", "cross-entropy\nwith target $Y$"]
    _draw_pass_rows(ax, xs, fwd, bwd, ops, fwd_y=fwd_y, bwd_y=bwd_y, fwd_width=1.5,
                    box_height=0.84, bwd_fontsize=11)
    back_ops = [r"$g^\top J$:  (1, K) @ (K, K) $\to$ (1, K)", r"$g_k = -Y_k / s_k$"]
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
# notebook 06 (dense_layer_backprop): outer products and gradient checking
# ---------------------------------------------------------------------------


def _as_vector(x, name):
    x = np.asarray(x, dtype=float)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {x.shape}")
    return x


def _annotated_heatmap(ax, M, vmax, fmt="{:+.2f}", aspect="equal"):
    """Draw `M` (2-D) with a diverging colour map on [-vmax, vmax], each entry written in."""
    im = ax.imshow(M, cmap="RdBu_r", vmin=-vmax, vmax=vmax, aspect=aspect)
    if M.size <= 64:
        for (r, c), v in np.ndenumerate(M):
            ax.text(c, r, fmt.format(v), ha="center", va="center", fontsize=8,
                    color="white" if abs(v) > 0.6 * vmax else "black")
    ax.set_xticks([])
    ax.set_yticks([])
    return im


def plot_outer_product(dz, a, title=None):
    """The gradient of one weight matrix, ``dW = dz a^T``, drawn as a multiplication table.

    Column convention, one example: the error signal ``dz = dC/dz`` (K,) runs down the
    left, the layer's input ``a`` (D,) along the top, and entry ``(i, j)`` of the
    (K, D) matrix is the product of the two numbers in its row and column,
    ``dC/dW_ij = dz_i a_j``. One colour scale for all three panels.

    Parameters
    ----------
    dz : array_like, shape (K,)
        ``dC/dz``, the gradient with respect to the layer's output.
    a : array_like, shape (D,)
        The layer's input.
    title : str, optional
        Figure title; ``"dC/dW = dz a^T: entry (i, j) is dz_i a_j"`` by default.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    dz, a = _as_vector(dz, "dz"), _as_vector(a, "a")
    dW = np.outer(dz, a)
    K, D = dW.shape
    vmax = max(float(np.abs(np.concatenate([dz, a, dW.ravel()])).max()), 1e-12)
    fig = plt.figure(figsize=(2.6 + 0.8 * (D + 1), 1.6 + 0.7 * (K + 1)), layout="constrained")
    grid = fig.add_gridspec(2, 2, width_ratios=[1, D], height_ratios=[1, K])
    ax_a = fig.add_subplot(grid[0, 1])
    ax_dz = fig.add_subplot(grid[1, 0])
    ax_dW = fig.add_subplot(grid[1, 1])
    _annotated_heatmap(ax_a, a[None, :], vmax, aspect="auto")
    _annotated_heatmap(ax_dz, dz[:, None], vmax, aspect="auto")
    im = _annotated_heatmap(ax_dW, dW, vmax, aspect="auto")
    ax_a.set_title(f"input $a^\\top$, (1, {D})", fontsize=10)
    ax_dz.set_ylabel(f"$dz = \\partial C/\\partial z$, ({K}, 1)")
    ax_dW.set_xticks(range(D), [f"$a_{j}$" for j in range(D)])
    ax_dW.xaxis.set_ticks_position("bottom")
    ax_dW.set_yticks(range(K), [f"$dz_{i}$" for i in range(K)])
    ax_dW.yaxis.set_ticks_position("right")
    ax_dW.set_xlabel(f"$dW = dz\\,a^\\top$, ({K}, {D}): the shape of $W$")
    fig.colorbar(im, ax=[ax_a, ax_dz, ax_dW], fraction=0.05, pad=0.04, label="value")
    fig.suptitle(title or r"$\partial C/\partial W = dz\, a^\top$: entry $(i, j)$ is "
                 r"$dz_i\, a_j$", fontsize=11)
    return fig


def plot_sum_of_outer_products(A, dZ, title=None):
    """``dW = A^T dZ`` as the sum of one outer product per example (row convention).

    One panel per example ``n``, the (D, H) matrix ``A[n]^T dZ[n]`` (the single-example
    gradient), then their sum, which is ``A.T @ dZ``. The weights are shared by every
    example, so their gradient adds up every example's contribution. One colour scale
    for the per-example panels, its own for the sum.

    Parameters
    ----------
    A : array_like, shape (N, D)
        The layer's inputs, one row per example; N from 1 to 6.
    dZ : array_like, shape (N, H)
        ``dL/dZ``, one row per example.
    title : str, optional
        Figure title.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    A, dZ = np.asarray(A, dtype=float), np.asarray(dZ, dtype=float)
    if A.ndim != 2 or dZ.ndim != 2 or A.shape[0] != dZ.shape[0]:
        raise ValueError(f"A must be (N, D) and dZ (N, H) with the same N, got {A.shape} "
                         f"and {dZ.shape}")
    N = A.shape[0]
    if not 1 <= N <= 6:
        raise ValueError(f"draw between 1 and 6 examples, got N = {N}")
    terms = [np.outer(A[n], dZ[n]) for n in range(N)]
    total = A.T @ dZ
    vmax_terms = max(float(np.abs(np.array(terms)).max()), 1e-12)
    vmax_total = max(float(np.abs(total).max()), 1e-12)
    fig, axes = plt.subplots(1, N + 1, figsize=(2.0 * (N + 1) + 0.6, 2.9))
    axes = np.atleast_1d(axes)
    for n, (ax, term) in enumerate(zip(axes[:-1], terms, strict=True)):
        _annotated_heatmap(ax, term, vmax_terms)
        ax.set_title(f"example {n}:\n$A[{n}]^\\top dZ[{n}]$", fontsize=9)
        ax.text(1.08 if n < N - 1 else 1.1, 0.5, "+" if n < N - 1 else "=",
                transform=ax.transAxes, ha="center", va="center", fontsize=16)
    _annotated_heatmap(axes[-1], total, vmax_total)
    axes[-1].set_title(f"$dW = A^\\top dZ$\n{total.shape}", fontsize=9)
    axes[0].set_ylabel(f"input feature $d$ (D = {A.shape[1]})")
    for ax in axes:
        ax.set_xlabel(f"unit $h$ (H = {dZ.shape[1]})", fontsize=8)
    fig.suptitle(title or "The weights are shared by every example, so their gradient is a "
                 "sum over the batch", fontsize=10)
    fig.tight_layout()
    return fig


def plot_step_size_tradeoff(h, errors, thresholds=(1e-7, 1e-2), ax=None, title=None):
    """Relative error of finite-difference derivatives against the step size, log-log.

    One line per method (e.g. forward and central differences, float64 and float32),
    the best step of each marked with a star, dashed guides proportional to ``h`` and
    ``h**2`` (the truncation error of forward and central differences), and dotted
    horizontal lines at the `thresholds` of a gradient check. Errors of exactly 0 are
    drawn at 1e-17 so that they stay on the log scale.

    Parameters
    ----------
    h : array_like, shape (M,)
        Step sizes, positive.
    errors : dict of str -> array_like, each of shape (M,)
        Label -> relative error at each step size.
    thresholds : sequence of float, default (1e-7, 1e-2)
        Levels to draw: below the first a float64 check is clean, above the last the
        gradient is wrong.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; a new figure is made if omitted.
    title : str, optional
        Axes title.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    h = np.asarray(h, dtype=float)
    if h.ndim != 1 or h.size < 2 or np.any(h <= 0):
        raise ValueError("h must be a 1-D array of at least two positive step sizes")
    items = [(str(k), np.asarray(v, dtype=float)) for k, v in dict(errors).items()]
    if not items or any(v.shape != h.shape for _, v in items):
        raise ValueError(f"errors must map labels to arrays of shape {h.shape}")
    fig, ax = _new_axes(ax, (7.4, 4.4))
    floor = 1e-17
    for label, err in items:
        err = np.maximum(err, floor)
        (line,) = ax.loglog(h, err, marker="o", ms=3, lw=1.4, label=label)
        best = int(np.argmin(err))
        ax.loglog(h[best], err[best], marker="*", ms=13, color=line.get_color(),
                  markeredgecolor="black", zorder=4)
    top = max(float(np.maximum(err, floor).max()) for _, err in items)
    bottom = min(float(np.maximum(err, floor).min()) for _, err in items)
    at_largest_h = max(float(np.maximum(err[np.argmax(h)], floor)) for _, err in items)
    for power, text in ((1, r"$\propto h$"), (2, r"$\propto h^2$")):
        guide = 2 * at_largest_h * (h / h.max()) ** power
        ax.loglog(h, guide, color="gray", lw=1, linestyle="--")
        shown = np.flatnonzero(guide > bottom)
        where = shown[len(shown) // 3] if shown.size else int(np.argmax(h))
        ax.text(h[where], guide[where], text, color="gray", fontsize=9, ha="right",
                va="bottom")
    for level in thresholds:
        ax.axhline(level, color="black", lw=0.8, linestyle=":")
        ax.text(h.min(), level, f" {level:.0e}", va="bottom", ha="left", fontsize=8)
    ax.set_ylim(bottom / 10, 10 * top)
    ax.set_xlabel("step size $h$")
    ax.set_ylabel("relative error of the numerical derivative")
    ax.set_title(title or "Truncation error (right) against round-off error (left)")
    ax.legend(fontsize=8, loc="lower right")
    if len(fig.axes) == 1:
        fig.tight_layout()
    return fig


__all__ += [
    "plot_outer_product",
    "plot_sum_of_outer_products",
    "plot_step_size_tradeoff",
]


# ---------------------------------------------------------------------------
# notebook 05: batches and cost
# (batches_and_cost author's section)
# ---------------------------------------------------------------------------

_ROUTE_MARKERS = ("o", "s", "^", "D", "v")


def plot_block_jacobian(big, N, K, ax=None, title=None):
    """Image of the ``(N*K, N*K)`` Jacobian of a whole batch, with its blocks outlined.

    Rows are the outputs ``S[n, i]`` and columns the logits ``Z[m, j]``, both
    flattened row by row (position ``n*K + i``, counting from 0). Block ``(n, m)``
    is ``dS[n] / dZ[m]``; the off-diagonal blocks (``n != m``) are marked with a
    ``0`` when ``N <= 8``.

    Parameters
    ----------
    big : array_like, shape (N*K, N*K)
        The batch Jacobian.
    N : int
        Batch size (number of blocks along each side).
    K : int
        Classes (size of each block).
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; a new figure is made if omitted.
    title : str, optional
        Axes title.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    big = np.asarray(big, dtype=float)
    if not (isinstance(N, numbers.Integral) and isinstance(K, numbers.Integral)) \
            or N < 1 or K < 1:
        raise ValueError(f"N and K must be positive integers, got N={N!r}, K={K!r}")
    if big.shape != (N * K, N * K):
        raise ValueError(f"big must have shape (N*K, N*K) = ({N * K}, {N * K}), "
                         f"got {big.shape}")
    fig, ax = _new_axes(ax, (5.6, 4.8))
    vmax = float(np.abs(big).max()) or 1.0
    im = ax.imshow(big, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="dS[n, i] / dZ[m, j]")
    for edge in range(1, N):
        ax.axhline(edge * K - 0.5, color="black", lw=1)
        ax.axvline(edge * K - 0.5, color="black", lw=1)
    if N <= 8:
        for n in range(N):
            for m in range(N):
                if n != m:
                    ax.text(m * K + (K - 1) / 2, n * K + (K - 1) / 2, "0", ha="center",
                            va="center", fontsize=12, color="gray")
    centres = [n * K + (K - 1) / 2 for n in range(N)]
    ax.set_xticks(centres, [f"$Z_{{{m}}}$" for m in range(N)])
    ax.set_yticks(centres, [f"$S_{{{n}}}$" for n in range(N)])
    ax.set_xlabel(f"logits of example m (columns m*K to m*K + {K - 1})")
    ax.set_ylabel(f"outputs of example n (rows n*K to n*K + {K - 1})")
    ax.set_title(title or f"Jacobian of the whole batch, ({N * K}, {N * K}): "
                          f"{N} blocks of ({K}, {K})")
    if len(fig.axes) == 2:
        fig.tight_layout()
    return fig


def _check_series(series, name):
    """{label: (x, y)} -> list of (label, x, y) float arrays, validated."""
    items = []
    for label, (x, y) in dict(series).items():
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        if x.ndim != 1 or x.shape != y.shape or x.size < 2:
            raise ValueError(f"{name}[{label!r}] needs two 1-D arrays of the same length >= 2")
        if (x <= 0).any() or (y <= 0).any():
            raise ValueError(f"{name}[{label!r}] must be positive for a log-log plot")
        items.append((str(label), x, y))
    if not items:
        raise ValueError(f"{name} must hold at least one series")
    return items


_SUPERSCRIPTS = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def _power_text(symbol, power):
    """``"K²"`` for ``("K", 2)``, ``"K"`` for power 1 (plain text: no mathtext to parse)."""
    return symbol if power == 1 else symbol + f"{power:g}".translate(_SUPERSCRIPTS)


#: Reference lines sit this factor below the points they are anchored at, so as not to hide them.
_REFERENCE_OFFSET = 0.4


def _loglog_panel(ax, items, *, xlabel, ylabel, title, references, symbol):
    """Draw (label, x, y) series on log-log axes with dashed power-law reference lines.

    ``references`` maps a slope p to the label of the series the line ``~ x**p`` follows:
    it has that slope, passes :data:`_REFERENCE_OFFSET` times below the centre (in log
    space) of the series' four largest-x points, and spans the series' x range.
    """
    by_label = {label: (x, y) for label, x, y in items}
    for i, (label, x, y) in enumerate(items):
        ax.loglog(x, y, marker=_ROUTE_MARKERS[i % len(_ROUTE_MARKERS)], lw=1.6, label=label)
    styles = ("--", ":", "-.")
    for i, (slope, anchor) in enumerate(dict(references).items()):
        if anchor not in by_label:
            raise ValueError(f"reference line anchored at unknown series {anchor!r}")
        x, y = by_label[anchor]
        top = np.argsort(x)[-4:]
        log_x0, log_y0 = np.log(x[top]).mean(), np.log(y[top]).mean()
        line = _REFERENCE_OFFSET * np.exp(log_y0 + slope * (np.log(x) - log_x0))
        ax.loglog(x, line, color="gray", lw=1.2, linestyle=styles[i % len(styles)],
                  label=f"reference ∝ {_power_text(symbol, slope)}")
    ax.minorticks_off()  # a log axis over many decades draws hundreds of minor ticks: slow
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)


def plot_cost_scaling(sweep_K, sweep_N=None, n_fixed=None, k_fixed=None, references=None):
    """Log-log plots of time and peak memory of several backward routes.

    Panels: time against K, peak memory against K and, when `sweep_N` is given,
    time against N. Gray reference lines ``~ K**2`` and ``~ K`` (``~ N`` in the
    third panel) run parallel to, and a little below, the largest-K points of the
    routes named in `references`.

    Parameters
    ----------
    sweep_K : dict of str -> dict
        Route name -> ``{"size": K values (M,), "seconds": (M,), "bytes": (M,)}``;
        the routes may use different K values.
    sweep_N : dict of str -> dict, optional
        The same with batch sizes N as ``"size"`` (``"bytes"`` is not needed).
    n_fixed, k_fixed : int, optional
        The N of the K sweep and the K of the N sweep, for the titles.
    references : dict of float -> str, optional
        Slope -> route whose largest-K points anchor the reference line. By
        default slope 2 at the first route and slope 1 at the last one.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    routes = list(dict(sweep_K))
    if not routes:
        raise ValueError("sweep_K must hold at least one route")
    references = dict(references or {2: routes[0], 1: routes[-1]})
    n_panels = 3 if sweep_N else 2
    fig, axes = plt.subplots(1, n_panels, figsize=(4.6 * n_panels, 4.0))
    at_n = f" (N = {n_fixed})" if n_fixed is not None else ""
    time_k = _check_series({r: (d["size"], d["seconds"]) for r, d in sweep_K.items()}, "sweep_K")
    memory_k = _check_series({r: (d["size"], np.asarray(d["bytes"], dtype=float) / 2**20)
                              for r, d in sweep_K.items()}, "sweep_K")
    _loglog_panel(axes[0], time_k, xlabel="classes K", ylabel="seconds per backward pass",
                  title=f"Time against K{at_n}", references=references, symbol="K")
    _loglog_panel(axes[1], memory_k, xlabel="classes K", ylabel="peak memory (MiB)",
                  title=f"Peak memory against K{at_n}", references=references, symbol="K")
    if sweep_N:
        at_k = f" (K = {k_fixed})" if k_fixed is not None else ""
        time_n = _check_series({r: (d["size"], d["seconds"]) for r, d in sweep_N.items()},
                               "sweep_N")
        _loglog_panel(axes[2], time_n, xlabel="batch size N",
                      ylabel="seconds per backward pass", title=f"Time against N{at_k}",
                      references={1: time_n[0][0]}, symbol="N")
    fig.suptitle("Cost of the backward pass through softmax + cross-entropy, measured here")
    fig.tight_layout()
    return fig


def plot_gradient_size_vs_batch(N_values, norms, ax=None, title=None):
    """How the size of a weight gradient changes with the batch size, per loss reduction.

    Parameters
    ----------
    N_values : array_like, shape (M,)
        Batch sizes.
    norms : dict of str -> array_like, shape (M,)
        Label (e.g. ``'reduction="mean"'``) -> gradient norm at each batch size.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; a new figure is made if omitted.
    title : str, optional
        Axes title.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    N_values = np.asarray(N_values, dtype=float)
    items = _check_series({label: (N_values, v) for label, v in dict(norms).items()}, "norms")
    fig, ax = _new_axes(ax, (5.6, 4.0))
    _loglog_panel(ax, items, xlabel="batch size N", ylabel="norm of the weight gradient",
                  title=title or "Gradient size against batch size",
                  references={1: items[-1][0]}, symbol="N")
    if len(fig.axes) == 1:
        fig.tight_layout()
    return fig


_BYTE_UNITS = ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB"), (1, "B"))


def _bytes_text(b):
    """E.g. ``'9.3 GiB'`` for ``1e10``."""
    for size, unit in _BYTE_UNITS:
        if b >= size:
            value = b / size
            return f"{value:.3g} {unit}" if value < 1000 else f"{value:,.0f} {unit}"
    return f"{b:.3g} B"


def plot_jacobian_memory(vocab_sizes, itemsize=4, budgets=None, ax=None, title=None):
    """Horizontal bars: bytes of one example's (K, K) Jacobian and of its (K,) vector.

    Parameters
    ----------
    vocab_sizes : dict of str -> int
        Label -> number of classes K, drawn top to bottom.
    itemsize : int, default 4
        Bytes per entry (4 for float32, 8 for float64).
    budgets : dict of str -> float, optional
        Label -> bytes, drawn as vertical dashed lines (e.g. a laptop's memory).
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; a new figure is made if omitted.
    title : str, optional
        Axes title.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    items = [(str(label), int(k)) for label, k in dict(vocab_sizes).items()]
    if not items or any(k < 1 for _, k in items):
        raise ValueError("vocab_sizes must map labels to positive class counts")
    if not isinstance(itemsize, numbers.Integral) or itemsize < 1:
        raise ValueError(f"itemsize must be a positive integer, got {itemsize!r}")
    fig, ax = _new_axes(ax, (7.6, 0.6 * len(items) + 2.4))
    rows = np.arange(len(items))[::-1]
    jac = np.array([float(k) ** 2 * itemsize for _, k in items])
    vec = np.array([float(k) * itemsize for _, k in items])
    ax.barh(rows + 0.2, jac, height=0.38, color="#d62728", label="one example's J, (K, K)")
    ax.barh(rows - 0.2, vec, height=0.38, color="#1f77b4",
            label="one example's s, g or dL/dz, (K,)")
    for r, b in zip(rows, jac, strict=True):
        ax.text(b * 1.3, r + 0.2, _bytes_text(b), va="center", fontsize=8)
    for r, b in zip(rows, vec, strict=True):
        ax.text(b * 1.3, r - 0.2, _bytes_text(b), va="center", fontsize=8)
    budgets = {str(label): float(b) for label, b in dict(budgets or {}).items()}
    for i, (label, b) in enumerate(budgets.items()):
        ax.axvline(b, color="gray", linestyle=("--", ":", "-.")[i % 3], lw=1.2,
                   label=f"{label} ({_bytes_text(b)})")
    ax.set_xscale("log")
    ticks = [2.0**p for p in range(0, 50, 10)]
    ax.set_xticks(ticks, ["1 B", "1 KiB", "1 MiB", "1 GiB", "1 TiB"])
    ax.set_xlim(min(vec.min(), 1.0) / 2, max([jac.max(), *budgets.values()]) * 40)
    ax.set_yticks(rows, [f"{label}\nK = {k:,}" for label, k in items])
    ax.set_xlabel(f"bytes ({itemsize}-byte entries), log scale")
    ax.set_title(title or "Memory per example: the Jacobian against the vectors")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    if len(fig.axes) == 1:
        fig.tight_layout()
    return fig


__all__ += [
    "plot_block_jacobian",
    "plot_cost_scaling",
    "plot_gradient_size_vs_batch",
    "plot_jacobian_memory",
]


# ===========================================================================
# notebook 08 (pitfalls_and_extensions). Everything below this line belongs
# to notebook 08.
# ===========================================================================


# Fixed margins instead of tight_layout, which measures every tick label (slow with log
# axes); Jupyter's inline backend crops the saved image to its contents anyway.
_ONE_PANEL = {"left": 0.12, "right": 0.97, "bottom": 0.15, "top": 0.9}


def _as_curve(y, n, label):
    y = np.asarray(y, dtype=float)
    if y.shape != (n,):
        raise ValueError(f"curve {label!r} must have shape ({n},) like x, got {y.shape}")
    return y


def plot_curves(x, curves, *, xlabel, ylabel, title, references=None, marks=None,
                logx=False, logy=False, ax=None):
    """Labelled line plot of several curves over one x-axis, with dashed reference levels.

    Parameters
    ----------
    x : array_like, shape (M,)
        Shared x values.
    curves : dict of str -> array_like, each of shape (M,)
        Legend label -> y values, drawn in the dict's order.
    xlabel, ylabel, title : str
        Axis labels and title (required: every figure of the course is labelled).
    references : dict of str -> float, optional
        Legend label -> a y level drawn as a dashed horizontal line.
    marks : dict of str -> float, optional
        Legend label -> an x position drawn as a dotted vertical line.
    logx, logy : bool, default False
        Logarithmic axes. On a log y-axis, entries <= 0 are not drawn.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; a new figure is made if omitted.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 1 or not curves:
        raise ValueError("x must be 1-D and curves must hold at least one (label, y) pair")
    ax_given = ax
    fig, ax = _new_axes(ax, (7.0, 3.6))
    for label, y in curves.items():
        y = _as_curve(y, x.size, label)
        ax.plot(x, np.where(y > 0, y, np.nan) if logy else y, lw=2, label=label)
    for n, (label, level) in enumerate((references or {}).items()):
        ax.axhline(float(level), color=("gray", "black", "#8c564b")[n % 3], lw=1,
                   linestyle="--", label=label)
    for n, (label, position) in enumerate((marks or {}).items()):
        ax.axvline(float(position), color=("#d62728", "#9467bd", "#17becf")[n % 3], lw=1.2,
                   linestyle=":", label=label)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    if ax_given is None:
        fig.subplots_adjust(**_ONE_PANEL)
    return fig


def _loss_name(label):
    """``"sigmoid + squared error"`` -> ``"squared error"`` (the text after the first +)."""
    return label.split("+", 1)[-1].strip().split(" (")[0]


def plot_saturation(p, gradients, steps=None, trajectories=None):
    """Why sigmoid + squared error stalls when confidently wrong, and cross-entropy does not.

    Left: the size of the gradient with respect to the true class's logit against
    the predicted probability ``p`` of the true class (log scale, so the
    confidently wrong region ``p -> 0`` is visible). Right (optional): ``p`` over
    gradient-descent steps, starting confidently wrong.

    Parameters
    ----------
    p : array_like, shape (M,)
        Predicted probabilities of the true class, in (0, 1).
    gradients : dict of str -> array_like, each of shape (M,)
        Label -> ``|dL/dz|`` of the true class's logit at each ``p``.
    steps : array_like, shape (T,), optional
        Step numbers for the right panel.
    trajectories : dict of str -> array_like, each of shape (T,), optional
        Label -> ``p`` after each step. A trajectory is drawn in the colour of the
        left-panel curve with the same loss (the text after the first ``+`` of the label).

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    p = np.asarray(p, dtype=float)
    two = trajectories is not None
    fig, axes = plt.subplots(1, 2 if two else 1, figsize=(11.5 if two else 6.5, 3.8))
    ax = axes[0] if two else axes
    colour_of_loss = {}
    for label, g in gradients.items():
        (line,) = ax.plot(p, _as_curve(g, p.size, label), lw=2, label=label)
        colour_of_loss.setdefault(_loss_name(label), line.get_color())
    ax.axvspan(p.min(), 0.05, color="#d62728", alpha=0.08)
    ax.text(p.min() * 1.5, 0.6, "confidently\nwrong", transform=ax.get_xaxis_transform(),
            fontsize=9, color="#d62728", va="center")
    ax.set_xscale("log")
    ax.set_xlabel("predicted probability of the true class  $p$ (log scale)")
    ax.set_ylabel(r"$|\partial L / \partial z_{\mathrm{true}}|$")
    ax.set_title("Gradient size on the true class's logit")
    ax.legend(fontsize=8, loc="center right")
    if two:
        steps = np.asarray(steps, dtype=float)
        ax2 = axes[1]
        for label, traj in trajectories.items():
            ax2.plot(steps, _as_curve(traj, steps.size, label), lw=2, label=label,
                     color=colour_of_loss.get(_loss_name(label)))
        ax2.axhline(0.5, color="gray", lw=1, linestyle="--", label="p = 0.5")
        ax2.set_xscale("log")
        ax2.set_xlabel("gradient-descent step (log scale)")
        ax2.set_ylabel("$p$ after the step")
        ax2.set_title("Starting confidently wrong: who recovers?")
        ax2.legend(fontsize=8, loc="upper left")
        fig.subplots_adjust(left=0.07, right=0.98, bottom=0.15, top=0.9, wspace=0.22)
    else:
        fig.subplots_adjust(**_ONE_PANEL)
    return fig


def plot_gradient_check_vs_step(steps, errors, threshold=1e-7, ax=None, title=None):
    """Relative error of a gradient check against the finite-difference step ``h``, log-log.

    Each curve falls while truncation error (~h^2) dominates and rises again once
    rounding error (~eps/h) takes over; its lowest point is marked with a star and
    given in the legend.

    Parameters
    ----------
    steps : array_like, shape (M,)
        Step sizes h.
    errors : dict of str -> array_like, each of shape (M,)
        Label -> relative error at each h.
    threshold : float or None, default 1e-7
        Pass threshold, drawn as a dashed line.
    ax : matplotlib.axes.Axes, optional
    title : str, optional

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    steps = np.asarray(steps, dtype=float)
    ax_given = ax
    fig, ax = _new_axes(ax, (7.0, 3.8))
    for label, err in errors.items():
        err = np.maximum(_as_curve(err, steps.size, label), 1e-17)
        best = int(np.argmin(err))
        (line,) = ax.plot(steps, err, "o-", ms=3, lw=1.5,
                          label=f"{label} (best h = {steps[best]:.0e}: error {err[best]:.0e})")
        ax.plot(steps[best], err[best], "*", ms=13, color=line.get_color())
    if threshold is not None:
        ax.axhline(threshold, color="gray", lw=1, linestyle="--",
                   label=f"pass threshold {threshold:g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("finite-difference step $h$")
    ax.set_ylabel("relative error (analytic vs numerical)")
    ax.set_title(title or "A correct gradient, checked with central differences")
    ax.legend(fontsize=8, loc="lower left")
    if ax_given is None:
        fig.subplots_adjust(**_ONE_PANEL)
    return fig


def plot_matrices(matrices, title=None, vmax=None, row_label="logit $z_i$",
                  col_label="logit $z_j$"):
    """A row of heatmaps on one shared, zero-centred colour scale.

    Parameters
    ----------
    matrices : dict of str -> array_like, each of shape (K, K)
        Panel title -> matrix, in display order.
    title : str, optional
        Figure title.
    vmax : float, optional
        Colour scale ``[-vmax, vmax]``; the largest ``|entry|`` by default.
    row_label, col_label : str
        Axis labels of every panel.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    items = [(str(k), np.asarray(v, dtype=float)) for k, v in dict(matrices).items()]
    if not items or any(m.ndim != 2 or m.shape[0] != m.shape[1] for _, m in items):
        raise ValueError("matrices must hold at least one square matrix")
    vmax = vmax or max(float(np.abs(m).max()) for _, m in items) or 1.0
    fig, axes = plt.subplots(1, len(items), figsize=(3.9 * len(items), 3.7), squeeze=False)
    for ax, (name, M) in zip(axes[0], items, strict=True):
        im = ax.imshow(M, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        K = M.shape[0]
        if K <= 6:
            for i in range(K):
                for j in range(K):
                    ax.text(j, i, f"{M[i, j]:+.3f}", ha="center", va="center", fontsize=8,
                            color="white" if abs(M[i, j]) > 0.6 * vmax else "black")
        ax.set_xticks(range(K))
        ax.set_yticks(range(K))
        ax.set_xlabel(col_label)
        ax.set_ylabel(row_label)
        ax.set_title(name, fontsize=10)
    fig.colorbar(im, ax=list(axes[0]), fraction=0.025, pad=0.02, label="entry value")
    if title:
        fig.suptitle(title)
    return fig


def plot_example_weights(weights, ignored=None, ax=None, title=None):
    """Grouped bars: how much each example counts in the batch gradient, per normaliser.

    Parameters
    ----------
    weights : dict of str -> array_like, each of shape (N,)
        Label (a normalisation rule) -> the factor that multiplies row n of
        ``softmax - one_hot`` in the gradient.
    ignored : array_like of bool, shape (N,), optional
        Examples whose label is ignored; their tick labels are marked.
    ax : matplotlib.axes.Axes, optional
    title : str, optional

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    items = [(str(k), np.asarray(v, dtype=float)) for k, v in dict(weights).items()]
    if not items:
        raise ValueError("weights must hold at least one (label, array) pair")
    n = items[0][1].size
    if any(v.shape != (n,) for _, v in items):
        raise ValueError("every weight array must have the same shape (N,)")
    ignored = np.zeros(n, bool) if ignored is None else np.asarray(ignored, bool)
    ax_given = ax
    fig, ax = _new_axes(ax, (7.5, 3.6))
    width = 0.8 / len(items)
    k = np.arange(n)
    for i, (label, v) in enumerate(items):
        ax.bar(k + (i - (len(items) - 1) / 2) * width, v, width, label=label)
    ax.set_xticks(k, [f"{j}\n(ignored)" if ignored[j] else f"{j}" for j in k])
    ax.set_xlabel("example $n$ in the batch")
    ax.set_ylabel("factor on row $n$ of $S - Y$")
    ax.set_title(title or "How much each example counts in the gradient")
    ax.legend(fontsize=8)
    if ax_given is None:
        fig.subplots_adjust(**_ONE_PANEL)
    return fig


__all__ += [
    "plot_curves",
    "plot_saturation",
    "plot_gradient_check_vs_step",
    "plot_matrices",
    "plot_example_weights",
]


# ---------------------------------------------------------------------------
# Notebook 09 (capstone): softmax mid-network, smoothed targets, gradient checks
# ---------------------------------------------------------------------------


def midnetwork_softmax_diagram(ax=None):
    """Draw a softmax in the middle of a network (attention pooling), forward and backward.

    Forward (top): scores ``z`` (N, T) -> softmax over the T positions -> weights ``a``
    (N, T) -> weighted sum of value vectors ``o = sum_t a_t v_t`` (N, D) -> rest of the
    network and the loss -> ``L`` (). Backward (bottom): the upstream gradient reaching
    the softmax, ``g = dL/da`` with ``g_t = <dL/do, v_t>``, is whatever the layers above
    make it, and the softmax turns it into ``dL/dz`` with its vector-Jacobian product.

    Parameters
    ----------
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; a new 11 x 3.8 inch figure is made if omitted.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    fig, ax = _new_axes(ax, (11, 3.8))
    xs = [0.0, 3.6, 7.2, 10.8]
    fwd = [("$z$", "(N, T)", "scores"), ("$a$", "(N, T)", "attention weights"),
           ("$o$", "(N, D)", "pooled vector"), ("$L$", "()", "loss")]
    bwd = [(r"$\partial L/\partial z$", "(N, T)"), (r"$g = \partial L/\partial a$", "(N, T)"),
           (r"$\partial L/\partial o$", "(N, D)"), (r"$\partial L/\partial L = 1$", "()")]
    ops = ["softmax\n(over T)", r"$o = \sum_t a_t v_t$", "rest of the\nnetwork + loss"]
    fwd_y, bwd_y = 1.0, -1.0
    _draw_pass_rows(ax, xs, fwd, bwd, ops, fwd_y=fwd_y, bwd_y=bwd_y, fwd_width=1.5,
                    box_height=0.84, bwd_fontsize=11)
    back_ops = [r"$a \odot (g - \langle g, a\rangle)$", r"$g_t = \langle \partial L/\partial o,"
                r" v_t\rangle$", "backprop through\nthe layers above"]
    for x0, x1, label in zip(xs[:-1], xs[1:], back_ops, strict=True):
        ax.text((x0 + x1) / 2, bwd_y - 0.55, label, ha="center", va="top", fontsize=9,
                color="#d62728")
    ax.set_xlim(-1.6, 12.0)
    ax.set_ylim(-2.1, 1.9)
    ax.set_title("Softmax in the middle of a network: the upstream gradient g is not -y/s")
    return fig


def plot_smoothed_targets(k, label, smoothing, ax=None):
    """Bar chart of a one-hot target and its label-smoothed version, side by side.

    The smoothed target is ``q = (1 - smoothing) * one_hot(label) + smoothing / k``: the true
    class keeps ``1 - smoothing + smoothing / k`` and every class gets ``smoothing / k``.

    Parameters
    ----------
    k : int
        Number of classes K (>= 2).
    label : int
        The true class, in ``[0, k)``.
    smoothing : float in [0, 1)
        The smoothing eps.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; a new figure is made if omitted.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    if not (isinstance(k, numbers.Integral) and k >= 2):
        raise ValueError(f"k must be an int >= 2, got {k!r}")
    if not (isinstance(label, numbers.Integral) and 0 <= label < k):
        raise ValueError(f"label must be an int in [0, {k}), got {label!r}")
    if not (isinstance(smoothing, numbers.Real) and 0 <= smoothing < 1):
        raise ValueError(f"smoothing must be in [0, 1), got {smoothing!r}")
    one_hot = np.eye(k)[label]
    q = (1 - smoothing) * one_hot + smoothing / k
    fig, ax = _new_axes(ax, (7.0, 3.4))
    classes = np.arange(k)
    ax.bar(classes - 0.2, one_hot, 0.4, label="one-hot target $y$", color="#9e9e9e",
           edgecolor="black", lw=0.5)
    ax.bar(classes + 0.2, q, 0.4, label=rf"smoothed target $q$ ($\varepsilon$ = {smoothing:g})",
           color="#1f77b4", edgecolor="black", lw=0.5)
    ax.axhline(smoothing / k, color="#1f77b4", ls=":", lw=1.0)
    ax.text(k - 0.5, smoothing / k, rf"$\varepsilon / K$ = {smoothing / k:.3g}", ha="right",
            va="bottom", fontsize=8, color="#1f77b4")
    ax.text(label + 0.2, q[label] + 0.02, rf"$1 - \varepsilon + \varepsilon / K$ = {q[label]:.3g}",
            ha="left", va="bottom", fontsize=8, color="#1f77b4")
    ax.set_xticks(classes)
    ax.set_xlabel("class $k$")
    ax.set_ylabel("target probability")
    ax.set_ylim(0, 1.1)
    ax.set_title(f"Label smoothing, K = {k}, true class {label}: both targets sum to 1")
    ax.legend(fontsize=8, loc="upper right")
    if len(fig.axes) == 1:
        fig.tight_layout()
    return fig


def plot_gradcheck_errors(errors, tol, ax=None, title=None):
    """Horizontal bar chart of gradient-check relative errors on a log scale, with the tolerance.

    Parameters
    ----------
    errors : dict of str -> float
        Checked array (e.g. ``"layers[0] Dense: W"``) -> relative error, in display order.
    tol : float
        The tolerance, drawn as a vertical line; bars beyond it are red.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; a new figure is made if omitted.
    title : str, optional
        Axes title.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    items = [(str(name), float(err)) for name, err in dict(errors).items()]
    if not items:
        raise ValueError("errors must hold at least one (name, error) pair")
    if not (np.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a positive number, got {tol!r}")
    names = [name for name, _ in items]
    # Exact agreement (0) cannot sit on a log axis: draw it at a floor far below the tolerance.
    floor = tol * 1e-6
    values = np.array([max(err, floor) if np.isfinite(err) else 1.0 for _, err in items])
    fig, ax = _new_axes(ax, (7.5, 0.35 * len(items) + 1.4))
    rows = np.arange(len(items))[::-1]
    colours = ["#d62728" if v > tol else "#2ca02c" for v in values]
    ax.barh(rows, values, color=colours, edgecolor="black", lw=0.5, left=floor / 10)
    ax.axvline(tol, color="black", ls="--", lw=1.0, label=f"tolerance {tol:.0e}")
    ax.set_xscale("log")
    ax.set_yticks(rows, names, fontsize=8)
    ax.set_xlabel("relative error, analytic vs central differences (log scale)")
    ax.set_title(title or "Gradient check of every layer (green: passes)")
    ax.legend(fontsize=8, loc="lower right")
    if len(fig.axes) == 1:
        fig.tight_layout()
    return fig


__all__ += ["midnetwork_softmax_diagram", "plot_smoothed_targets", "plot_gradcheck_errors"]


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
