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


# ---------------------------------------------------------------------------
# Notebook 07: training explorer (train_a_classifier author's section)
# ---------------------------------------------------------------------------


def _one_blas_thread():
    """A context manager limiting BLAS to one thread while it is open (if threadpoolctl exists).

    The explorer's matrices are tiny (at most 300 x 100), where BLAS threads cost more
    than they save, and on a busy machine they can make a run many times slower. The
    limit is lifted again when the block ends, so the learner's own setting is untouched.
    """
    import contextlib

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


class TrainingExplorer(FigureExplorer):
    """Train a two-layer MLP on the spirals; live decision regions and loss curve.

    Three sliders choose the hidden size H, the learning rate and the number of
    epochs; every change trains a fresh ``Dense(2, H) -> ReLU -> Dense(H, 3)``
    network (``backprop_lib.model.MLP``) with full-batch gradient descent
    (``backprop_lib.optim.SGD``) on 300 spiral points and redraws. The button
    trains again from a new random initialisation and draws the regions as
    they form, a few frames along the way. Left: the decision regions (colour
    mixes the class probabilities) with the data; right: the loss of every
    epoch (log scale).

    Parameters
    ----------
    hidden : int, default 50
        Initial hidden size H (2 to 100).
    lr : float, default 1.0
        Initial learning rate (0.01 to 10).
    epochs : int, default 300
        Initial number of epochs, one gradient step each (10 to 600).
    seed : int, default 0
        Seed of the first initialisation (the data are always ``make_spiral(seed=0)``).
    frames : int, default 4
        Pictures drawn while the button's training runs (the last one included).
    resolution : int, default 90
        Grid points per axis of the decision regions.

    Attributes
    ----------
    hidden_slider, epochs_slider : ipywidgets.IntSlider
    lr_slider : ipywidgets.FloatLogSlider
    train_button : ipywidgets.Button
    readout : ipywidgets.HTML
        Final loss, training accuracy and the time the training took.
    regions : matplotlib.image.AxesImage
        The decision regions on display (``regions.get_array()``).
    loss_line : matplotlib.lines.Line2D
        The loss curve on display (``loss_line.get_ydata()``).
    losses : list of float
        Loss before each epoch's step, of the last training run.
    train_accuracy : float
        Accuracy on the 300 training points after the last run.
    seconds : float
        Wall-clock time of the last training run (training only, no drawing).
    """

    def __init__(self, hidden=50, lr=1.0, epochs=300, seed=0, frames=4, resolution=90):
        from backprop_lib.data import make_spiral
        from backprop_lib.plots import decision_grid, scatter_classes

        super().__init__(figsize=(8.4, 3.7))
        self.X, self.y = make_spiral(100, 3, noise=0.2, seed=0)
        self.seed = int(seed)
        self.frames = max(1, int(frames))
        self.resolution = int(resolution)
        self.grid, extent = decision_grid(self.X, self.resolution)
        self.losses, self.train_accuracy, self.seconds = [], float("nan"), 0.0
        style = {"description_width": "90px"}
        layout = widgets.Layout(width="300px")
        self.hidden_slider = widgets.IntSlider(
            value=int(np.clip(hidden, 2, 100)), min=2, max=100, step=1, description="hidden H",
            continuous_update=False, style=style, layout=layout)
        self.lr_slider = widgets.FloatLogSlider(
            value=float(np.clip(lr, 0.01, 10.0)), base=10, min=-2, max=1, step=0.05,
            description="learning rate", continuous_update=False, readout_format=".3g",
            style=style, layout=layout)
        self.epochs_slider = widgets.IntSlider(
            value=int(np.clip(epochs, 10, 600)), min=10, max=600, step=10,
            description="epochs", continuous_update=False, style=style, layout=layout)
        self.train_button = widgets.Button(description="train again (new start)",
                                           icon="play", layout=widgets.Layout(width="300px"))
        self.readout = widgets.HTML()

        self.ax_r, self.ax_l = self.fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.0, 1.15]})
        blank = np.ones((self.resolution, self.resolution, 3))
        self.regions = self.ax_r.imshow(blank, origin="lower", extent=extent, aspect="auto",
                                        interpolation="bilinear")
        scatter_classes(self.ax_r, self.X, self.y, size=8)
        self.ax_r.set_xlim(extent[0], extent[1])
        self.ax_r.set_ylim(extent[2], extent[3])
        self.ax_r.set_xlabel("$x_1$")
        self.ax_r.set_ylabel("$x_2$")
        (self.loss_line,) = self.ax_l.plot([], [], color="#1f77b4", lw=1.5, label="training loss")
        self.ax_l.axhline(np.log(3), color="gray", lw=1, linestyle="--",
                          label="log K (a uniform guess)")
        self.ax_l.set_yscale("log")
        self.ax_l.set_xlabel("epoch")
        self.ax_l.set_ylabel("mean cross-entropy")
        self.ax_l.legend(loc="lower left", fontsize=8)
        self.fig.subplots_adjust(left=0.09, right=0.98, top=0.88, bottom=0.15, wspace=0.32)

        self.train_button.on_click(self._on_button)
        controls = [self.hidden_slider, self.lr_slider, self.epochs_slider]
        self._finish(controls, extra=widgets.VBox([self.train_button, self.readout]))

    @property
    def settings(self):
        """dict: the current hidden size, learning rate and epochs."""
        return {"hidden": int(self.hidden_slider.value), "lr": float(self.lr_slider.value),
                "epochs": int(self.epochs_slider.value)}

    def _on_button(self, _button):
        self.seed += 1
        self.train(frames=self.frames)

    def redraw(self):
        """Train with the current settings and draw the result (one frame)."""
        self._train(frames=1, render=False)

    def train(self, frames=1):
        """Train a fresh network with the current settings, drawing `frames` pictures.

        Parameters
        ----------
        frames : int, default 1
            Intermediate pictures (evenly spaced over the epochs, the last one
            at the end) rendered into ``self.image`` while training runs.
        """
        self._train(frames=max(1, int(frames)), render=True)

    def _train(self, frames, render):
        import time

        from backprop_lib.model import MLP
        from backprop_lib.optim import SGD

        s = self.settings
        model = MLP([2, s["hidden"], 3], seed=self.seed)
        optimizer = SGD(lr=s["lr"])
        stops = set(np.linspace(0, s["epochs"], frames + 1).round().astype(int)[1:])
        self.losses = []
        diverged_at = None
        seconds = 0.0
        with _one_blas_thread():
            for epoch in range(1, s["epochs"] + 1):
                start = time.perf_counter()
                try:
                    with np.errstate(all="ignore"):
                        loss = model.loss(self.X, self.y)
                        if not np.isfinite(loss):
                            raise FloatingPointError
                        model.backward()
                        optimizer.step(model.parameters())
                except (ValueError, FloatingPointError):  # the logits became inf or NaN
                    diverged_at = epoch
                seconds += time.perf_counter() - start
                if diverged_at is not None:
                    break
                self.losses.append(loss)
                if render and epoch in stops and epoch != s["epochs"]:
                    self._draw(model, epoch, diverged_at)
                    self.image.value = self.png()
        self.seconds = seconds
        self._draw(model, len(self.losses), diverged_at)
        if render:
            self.image.value = self.png()

    def _draw(self, model, epoch, diverged_at):
        from backprop_lib.plots import probability_image

        s = self.settings
        with np.errstate(all="ignore"):
            logits = model.forward(self.grid)
            finite = np.isfinite(logits).all()
            proba = softmax(logits) if finite else np.full((len(self.grid), 3), 1 / 3)
            self.train_accuracy = (float(np.mean(model.predict(self.X) == self.y)) if finite
                                   else float("nan"))
        self.regions.set_data(probability_image(proba, (self.resolution, self.resolution)))
        epochs = np.arange(1, len(self.losses) + 1)
        self.loss_line.set_data(epochs, np.asarray(self.losses, dtype=float))
        self.ax_l.set_xlim(0, s["epochs"])
        # Keep the log-scaled y range finite and readable, whatever a diverging run produced.
        shown = np.clip(np.asarray(self.losses + [np.log(3)], dtype=float), 1e-4, 1e4)
        self.ax_l.set_ylim(shown.min() / 1.5, shown.max() * 1.5)
        self.ax_r.set_title(f"H = {s['hidden']}, after {epoch} epochs", fontsize=10)
        if diverged_at is not None:
            self.ax_l.set_title(f"diverged at epoch {diverged_at}: lower the learning rate",
                                fontsize=10, color="#b3261e")
            self.readout.value = (f"<b>Diverged</b> at epoch {diverged_at} (the logits "
                                  "overflowed): the learning rate is too large.")
            return
        self.ax_l.set_title(f"learning rate {s['lr']:.3g}: loss per epoch", fontsize=10,
                            color="black")
        loss = self.losses[-1] if self.losses else float("nan")
        self.readout.value = (
            f"<code>epoch {epoch}: loss {loss:.4f}, training accuracy "
            f"{self.train_accuracy:.1%}</code><br><code>trained in {self.seconds:.2f} s "
            f"(seed {self.seed})</code>"
        )


def training_explorer(hidden=50, lr=1.0, epochs=300, seed=0):
    """Build a :class:`TrainingExplorer`; put it last in a cell to display it.

    Parameters
    ----------
    hidden : int, default 50
        Initial hidden size (2 to 100).
    lr : float, default 1.0
        Initial learning rate (0.01 to 10).
    epochs : int, default 300
        Initial number of epochs (10 to 600).
    seed : int, default 0
        Seed of the first initialisation.

    Returns
    -------
    explorer : TrainingExplorer
        ``explorer.losses`` is the loss curve on display and
        ``explorer.train_accuracy`` the accuracy reached.
    """
    return TrainingExplorer(hidden=hidden, lr=lr, epochs=epochs, seed=seed)


__all__ += ["TrainingExplorer", "training_explorer"]
