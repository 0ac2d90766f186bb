"""ipywidgets explorers used by the course notebooks.

Each explorer is a small class that owns its controls (sliders), a matplotlib
figure and an ``ipywidgets.Image`` that shows the figure rendered to PNG.
Moving a slider recomputes the numbers, updates the figure's artists in place
and re-renders the image. This design needs no interactive matplotlib backend
and no ``Output`` widget, so it behaves the same in JupyterLab, in Voila, in
a headless ``nbclient`` run (where nothing is drawn on screen and nothing
fails) and in tests (set a slider's ``value`` and read the figure's data).

When an explorer is the last expression of a cell it displays itself. Its
display bundle also carries a static PNG of the current figure, so a viewer
without a widget frontend (a rendered notebook on a website) still shows the
picture.

The module is organised by notebook; add new explorers under a section
comment for the notebook that uses them, reusing :class:`FigureExplorer`.

- Shared machinery: :class:`FigureExplorer`, :func:`logit_sliders`,
  :func:`temperature_slider`
- Notebook 02 (softmax): :class:`SoftmaxExplorer`, :func:`softmax_explorer`
"""

from __future__ import annotations

import base64
import io

import ipywidgets as widgets
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from backprop_lib.functional import softmax, softmax_jacobian

__all__ = [
    "FigureExplorer",
    "logit_sliders",
    "temperature_slider",
    "SoftmaxExplorer",
    "softmax_explorer",
]

_SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


# ---------------------------------------------------------------------------
# Shared machinery
# ---------------------------------------------------------------------------


def logit_sliders(values, low=-6.0, high=6.0, step=0.1, prefix="z"):
    """One ``FloatSlider`` per logit, labelled z₀, z₁, ...

    Parameters
    ----------
    values : array_like, shape (K,)
        Initial logits (clipped into ``[low, high]``).
    low, high, step : float
        Slider range and step.
    prefix : str, default "z"
        Letter used in the slider labels.

    Returns
    -------
    sliders : list of ipywidgets.FloatSlider, length K
    """
    values = np.asarray(values, dtype=float).ravel()
    return [
        widgets.FloatSlider(
            value=float(np.clip(v, low, high)), min=low, max=high, step=step,
            description=f"{prefix}{str(k).translate(_SUBSCRIPTS)}",
            continuous_update=True, readout_format=".1f",
            layout=widgets.Layout(width="300px"),
        )
        for k, v in enumerate(values)
    ]


def temperature_slider(value=1.0, low=0.05, high=20.0):
    """A log-scaled ``FloatLogSlider`` for a softmax temperature T > 0.

    Parameters
    ----------
    value : float, default 1.0
        Initial temperature.
    low, high : float
        Smallest and largest temperature (both positive).

    Returns
    -------
    slider : ipywidgets.FloatLogSlider
    """
    if not 0 < low < high:
        raise ValueError(f"need 0 < low < high, got low={low}, high={high}")
    return widgets.FloatLogSlider(
        value=float(np.clip(value, low, high)), base=10, min=np.log10(low), max=np.log10(high),
        step=0.01, description="T", continuous_update=True, readout_format=".2f",
        layout=widgets.Layout(width="300px"),
    )


_EXAMPLE_LOGITS = np.array([2.0, 1.0, 0.1, -1.0, 0.5, -0.5, 1.5, -2.0, 0.0, 3.0])


def _initial_logits(K, logits, k_min, k_max):
    """Validate K and the starting logits of an explorer; return them as floats, shape (K,).

    Without `logits`, the first K of a fixed, readable example are used.
    """
    if isinstance(K, bool) or not isinstance(K, (int, np.integer)) or not k_min <= K <= k_max:
        raise ValueError(f"K must be an int from {k_min} to {k_max}, got {K!r}")
    if logits is None:
        logits = _EXAMPLE_LOGITS[:K]
    logits = np.asarray(logits, dtype=float)
    if logits.shape != (K,):
        raise ValueError(f"logits must have shape ({K},), got {logits.shape}")
    return logits


class FigureExplorer:
    """Base class: controls on the left, a live matplotlib figure on the right.

    Subclasses create their controls and artists in ``__init__`` (after
    calling ``super().__init__(figsize)``), then call :meth:`_finish` with the
    list of controls; they implement :meth:`redraw`, which updates the artists
    of ``self.fig`` from the current control values. Every control change
    calls :meth:`update` (``redraw`` + render to PNG).

    Attributes
    ----------
    fig : matplotlib.figure.Figure
        The figure (not managed by pyplot, so it never pops up on its own).
    image : ipywidgets.Image
        The rendered figure as PNG bytes (``image.value``).
    widget : ipywidgets.Widget
        The complete explorer (controls + image), what is displayed.
    """

    def __init__(self, figsize=(6.0, 3.4), dpi=90):
        self.fig = Figure(figsize=figsize, dpi=dpi)
        FigureCanvasAgg(self.fig)
        self.dpi = dpi
        self.image = widgets.Image(format="png",
                                   layout=widgets.Layout(max_width="100%", height="auto"))
        self.widget = None

    def _finish(self, controls, extra=None):
        """Lay out `controls` (and an optional extra widget below them), wire them up."""
        left = list(controls) + ([extra] if extra is not None else [])
        # Controls left, figure right; on a narrow screen the figure wraps below.
        self.widget = widgets.HBox(
            [widgets.VBox(left, layout=widgets.Layout(min_width="310px")), self.image],
            layout=widgets.Layout(flex_flow="row wrap", align_items="center"),
        )
        for c in controls:
            c.observe(self._on_change, names="value")
        self.update()

    def _on_change(self, _change):
        self.update()

    def redraw(self):  # pragma: no cover - abstract
        """Update the figure's artists from the controls (implemented by subclasses)."""
        raise NotImplementedError

    def update(self):
        """Recompute, redraw and re-render the figure into ``self.image``."""
        self.redraw()
        self.image.value = self.png()

    def png(self):
        """The current figure as PNG bytes."""
        buf = io.BytesIO()
        self.fig.savefig(buf, format="png", dpi=self.dpi)
        return buf.getvalue()

    def _repr_mimebundle_(self, include=None, exclude=None, **kwargs):
        bundle = self.widget._repr_mimebundle_(include=include, exclude=exclude, **kwargs)
        if isinstance(bundle, tuple):  # (data, metadata) in some IPython versions
            bundle = bundle[0]
        bundle = dict(bundle or {})
        # A static fallback for viewers without a widget frontend.
        png = self.image.value or self.png()  # the last rendering, already up to date
        bundle["image/png"] = base64.b64encode(png).decode("ascii")
        bundle["text/plain"] = (
            f"{type(self).__name__}: an interactive explorer; run this cell in JupyterLab "
            "to move the sliders."
        )
        return bundle


# ---------------------------------------------------------------------------
# Notebook 02: softmax explorer (logits, temperature, shift)
# ---------------------------------------------------------------------------


class SoftmaxExplorer(FigureExplorer):
    """Sliders for K logits, a temperature T and a common shift c; a live bar chart.

    The bars show ``softmax((z + c) / T)``. Moving the shift slider ``c``
    changes every logit by the same amount and leaves the bars unchanged
    (shift invariance); a small T sharpens the distribution towards the
    largest logit, a large T flattens it towards uniform.

    Parameters
    ----------
    K : int, default 4
        Number of classes (1 to 10).
    logits : array_like, shape (K,), optional
        Initial logits; a fixed, readable example by default.
    temperature : float, default 1.0
        Initial temperature.

    Attributes
    ----------
    logit_sliders : list of ipywidgets.FloatSlider
    temperature_slider : ipywidgets.FloatLogSlider
    shift_slider : ipywidgets.FloatSlider
    bars : matplotlib.container.BarContainer
    readout : ipywidgets.HTML
        A one-line summary: the shifted logits, the probabilities and their sum.
    """

    def __init__(self, K=4, logits=None, temperature=1.0):
        logits = _initial_logits(K, logits, 1, 10)
        super().__init__(figsize=(5.6, 3.3))
        self.K = int(K)
        self.logit_sliders = logit_sliders(logits)
        self.temperature_slider = temperature_slider(temperature)
        self.shift_slider = widgets.FloatSlider(
            value=0.0, min=-10.0, max=10.0, step=0.5, description="shift c",
            continuous_update=True, readout_format=".1f", layout=widgets.Layout(width="300px"),
        )
        self.readout = widgets.HTML()

        ax = self.ax = self.fig.add_subplot()
        k = np.arange(self.K)
        self.bars = ax.bar(k, np.zeros(self.K), color="#1f77b4")
        self.labels = [ax.text(i, 0.0, "", ha="center", va="bottom", fontsize=9) for i in k]
        ax.axhline(1.0 / self.K, color="gray", linestyle="--", lw=1, label="uniform 1/K")
        ax.set_xticks(k, [f"class {i}" for i in k])
        ax.set_ylim(0, 1.12)
        ax.set_xlabel("class $k$")
        ax.set_ylabel("probability $s_k$")
        ax.legend(loc="upper right", fontsize=8)
        self.fig.subplots_adjust(left=0.12, right=0.97, top=0.88, bottom=0.16)

        controls = [*self.logit_sliders, self.temperature_slider, self.shift_slider]
        self._finish(controls, extra=self.readout)

    @property
    def logits(self):
        """Current logits ``z + c``, shape (K,)."""
        z = np.array([s.value for s in self.logit_sliders], dtype=float)
        return z + self.shift_slider.value

    @property
    def temperature(self):
        """Current temperature T (float > 0)."""
        return float(self.temperature_slider.value)

    @property
    def probabilities(self):
        """``softmax(logits / T)``, shape (K,)."""
        return softmax(self.logits / self.temperature)

    def bar_heights(self):
        """The heights of the plotted bars, shape (K,): what the figure shows."""
        return np.array([b.get_height() for b in self.bars])

    def redraw(self):
        """Set bar heights, value labels, title and the text readout."""
        p = self.probabilities
        for bar, label, v in zip(self.bars, self.labels, p, strict=True):
            bar.set_height(v)
            label.set_position((bar.get_x() + bar.get_width() / 2, v + 0.015))
            label.set_text(f"{v:.3f}")
        self.ax.set_title(f"softmax((z + c) / T),  T = {self.temperature:.2f},  "
                          f"c = {self.shift_slider.value:+.1f}")
        z = ", ".join(f"{v:+.2f}" for v in self.logits)
        s = ", ".join(f"{v:.3f}" for v in p)
        self.readout.value = (
            f"<code>z + c = [{z}]</code><br><code>s = [{s}]</code><br>"
            f"<code>sum(s) = {p.sum():.6f}</code>"
        )


def softmax_explorer(K=4, logits=None, temperature=1.0):
    """Build a :class:`SoftmaxExplorer`; put it last in a cell to display it.

    Parameters
    ----------
    K : int, default 4
        Number of classes (1 to 10).
    logits : array_like, shape (K,), optional
        Initial logits.
    temperature : float, default 1.0
        Initial temperature.

    Returns
    -------
    explorer : SoftmaxExplorer
        ``explorer.widget`` is the ipywidgets layout; ``explorer.probabilities``
        the current softmax output, shape (K,).
    """
    return SoftmaxExplorer(K=K, logits=logits, temperature=temperature)


# ---------------------------------------------------------------------------
# Notebook 03: Jacobian explorer (softmax_jacobian author's section)
# ---------------------------------------------------------------------------


class JacobianExplorer(FigureExplorer):
    """Sliders for K logits; live bars of ``s = softmax(z)`` and a heatmap of its Jacobian.

    The heatmap shows ``J = diag(s) - s s^T`` with every entry written in its
    cell, red for positive and blue for negative, on a colour scale fixed at
    ``[-0.25, 0.25]`` (no entry can leave it: ``s_i (1 - s_i) <= 1/4`` and
    ``s_i s_j <= 1/4``), so colours can be compared as the sliders move. A
    readout reports the row sums (always 0), the symmetry error and the
    eigenvalues (one is 0, the rest >= 0).

    Parameters
    ----------
    K : int, default 3
        Number of classes (2 to 6).
    logits : array_like, shape (K,), optional
        Initial logits; a fixed, readable example by default.

    Attributes
    ----------
    logit_sliders : list of ipywidgets.FloatSlider
    heatmap : matplotlib.image.AxesImage
        Its array (``heatmap.get_array()``) is the Jacobian on display.
    bars : matplotlib.container.BarContainer
    readout : ipywidgets.HTML
    """

    _VMAX = 0.25

    def __init__(self, K=3, logits=None):
        logits = _initial_logits(K, logits, 2, 6)
        super().__init__(figsize=(8.4, 3.6))
        self.K = int(K)
        self.logit_sliders = logit_sliders(logits)
        self.readout = widgets.HTML()

        k = np.arange(self.K)
        ax_s, ax_j = self.ax_s, self.ax_j = self.fig.subplots(
            1, 2, gridspec_kw={"width_ratios": [1.0, 1.25]}
        )
        self.bars = ax_s.bar(k, np.zeros(self.K), color="#1f77b4")
        ax_s.set_xticks(k, [f"{i}" for i in k])
        ax_s.set_ylim(0, 1.05)
        ax_s.set_xlabel("class $k$")
        ax_s.set_ylabel("probability $s_k$")
        ax_s.set_title("$s = \\mathrm{softmax}(z)$")

        self.heatmap = ax_j.imshow(
            np.zeros((self.K, self.K)), cmap="RdBu_r", vmin=-self._VMAX, vmax=self._VMAX
        )
        fontsize = 9 if self.K <= 4 else 7
        self.cell_text = [
            [ax_j.text(j, i, "", ha="center", va="center", fontsize=fontsize) for j in k]
            for i in k
        ]
        ax_j.set_xticks(k, [f"$z_{j}$" for j in k])
        ax_j.set_yticks(k, [f"$s_{i}$" for i in k])
        ax_j.set_xlabel("input $j$ (logit moved)")
        ax_j.set_ylabel("output $i$ (probability)")
        ax_j.set_title("$J_{ij} = \\partial s_i / \\partial z_j$")
        self.fig.colorbar(self.heatmap, ax=ax_j, fraction=0.046, pad=0.04)
        self.fig.subplots_adjust(left=0.08, right=0.9, top=0.88, bottom=0.16, wspace=0.35)
        self._finish(self.logit_sliders, extra=self.readout)

    @property
    def logits(self):
        """Current logits, shape (K,)."""
        return np.array([s.value for s in self.logit_sliders], dtype=float)

    @property
    def probabilities(self):
        """``softmax(logits)``, shape (K,)."""
        return softmax(self.logits)

    @property
    def jacobian(self):
        """``diag(s) - s s^T`` at the current logits, shape (K, K)."""
        return softmax_jacobian(self.probabilities)

    def redraw(self):
        """Update bars, heatmap, cell labels and the readout."""
        s = self.probabilities
        J = self.jacobian
        for bar, v in zip(self.bars, s, strict=True):
            bar.set_height(v)
        self.heatmap.set_data(J)
        for i in range(self.K):
            for j in range(self.K):
                t = self.cell_text[i][j]
                t.set_text(f"{J[i, j]:+.3f}")
                t.set_color("white" if abs(J[i, j]) > 0.6 * self._VMAX else "black")
        eig = np.linalg.eigvalsh(J)
        eig[np.abs(eig) < 1e-12] = 0.0  # show the zero eigenvalue as 0, not -1e-17
        self.readout.value = (
            "<code>row sums = [" + ", ".join(f"{v:+.1e}" for v in J.sum(axis=1)) + "]</code><br>"
            f"<code>max |J - J^T| = {np.abs(J - J.T).max():.1e}</code><br>"
            "<code>eigenvalues = [" + ", ".join(f"{v:.2e}" for v in eig) + "]</code>"
        )


def jacobian_explorer(K=3, logits=None):
    """Build a :class:`JacobianExplorer`; put it last in a cell to display it.

    Parameters
    ----------
    K : int, default 3
        Number of classes (2 to 6).
    logits : array_like, shape (K,), optional
        Initial logits.

    Returns
    -------
    explorer : JacobianExplorer
        ``explorer.jacobian`` is the Jacobian on display, shape (K, K).
    """
    return JacobianExplorer(K=K, logits=logits)


__all__ += ["JacobianExplorer", "jacobian_explorer"]
