"""Trace the shape and dtype of every array in a forward and backward pass.

:func:`trace_shapes` runs one real training pass of a model (``model.loss``
then ``model.backward``) while watching each layer's ``forward`` and
``backward`` calls, and records every array it sees: inputs, parameters,
outputs, the loss, and every gradient. Because it observes the pass instead of
predicting it, the table is always truthful, even for a layer you wrote
yourself or one with a bug.

Names follow the course's notation. Layers with parameters are numbered
``1, 2, ...``; the dense layer ``l`` maps ``A{l-1}`` to ``Z{l} = A{l-1} @ W{l} + b{l}``
and the activation after it gives ``A{l}``; ``X`` is the input. Every gradient
is named after its array with a ``d`` in front (``dZ2``, ``dW1``, ``dX``).
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np

__all__ = ["TracedArray", "ShapeTrace", "trace_shapes"]


@dataclass(frozen=True)
class TracedArray:
    """One array seen during a traced pass.

    Attributes
    ----------
    phase : {"forward", "backward"}
        Which pass produced or used the array.
    layer : str
        Where it lives, e.g. ``"layer1.Dense"`` or ``"loss.SoftmaxCrossEntropy"``.
    name : str
        Short name in course notation, e.g. ``"W1"``, ``"Z1"``, ``"dW1"``.
    role : str
        ``"input"``, ``"labels"``, ``"parameter"``, ``"output"``, ``"loss"``
        or ``"gradient"``.
    shape : tuple of int
    dtype : str
        NumPy dtype name, e.g. ``"float64"``.
    note : str
        Extra meaning, e.g. ``"logits"`` or ``"dL/dlogits"``; may be empty.
    """

    phase: str
    layer: str
    name: str
    role: str
    shape: tuple
    dtype: str
    note: str = ""

    @property
    def qualname(self):
        """str: ``layer.name``, e.g. ``"layer1.Dense.W1"``."""
        return f"{self.layer}.{self.name}"


class ShapeTrace:
    """The arrays of one forward and backward pass, in the order they appeared.

    Shows itself as a table: HTML in Jupyter, plain text elsewhere. Look up
    an entry by name with ``trace["dW1"]``; iterate over it for every
    :class:`TracedArray`.

    Parameters
    ----------
    entries : list of TracedArray
    """

    COLUMNS = ("phase", "layer", "name", "shape", "dtype", "note")

    def __init__(self, entries):
        self.entries = list(entries)

    @property
    def names(self):
        """list of str: every entry's name, in order."""
        return [entry.name for entry in self.entries]

    def __len__(self):
        return len(self.entries)

    def __iter__(self):
        return iter(self.entries)

    def __getitem__(self, name):
        for entry in self.entries:
            if entry.name == name:
                return entry
        raise KeyError(f"no array named {name!r} in this trace; names are {self.names}")

    def forward(self):
        """list of TracedArray: the forward-pass entries."""
        return [e for e in self.entries if e.phase == "forward"]

    def backward(self):
        """list of TracedArray: the backward-pass entries."""
        return [e for e in self.entries if e.phase == "backward"]

    def _rows(self):
        return [
            (e.phase, e.layer, e.name, _format_shape(e.shape), e.dtype, e.note)
            for e in self.entries
        ]

    def __str__(self):
        rows = [self.COLUMNS, *self._rows()]
        widths = [max(len(row[i]) for row in rows) for i in range(len(self.COLUMNS))]

        def line(row):
            return "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()

        rule = "  ".join("-" * w for w in widths)
        return "\n".join([line(rows[0]), rule, *(line(row) for row in rows[1:])])

    __repr__ = __str__

    def _repr_html_(self):
        head = "".join(f"<th style='text-align:left'>{c}</th>" for c in self.COLUMNS)
        body = []
        for row, entry in zip(self._rows(), self.entries, strict=True):
            colour = "#eef5ff" if entry.phase == "forward" else "#fff4e8"
            cells = "".join(
                f"<td style='text-align:left'><code>{html.escape(cell)}</code></td>"
                if i in (2, 3) else f"<td style='text-align:left'>{html.escape(cell)}</td>"
                for i, cell in enumerate(row)
            )
            body.append(f"<tr style='background:{colour}'>{cells}</tr>")
        return (
            "<table class='backprop-shape-trace'>"
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        )


def trace_shapes(model, X, y):
    """Run one forward and backward pass of `model` and record every array.

    The model's parameters are not changed (no optimiser step is taken), but
    its layers' caches and ``grads`` are those of this pass afterwards.

    Parameters
    ----------
    model : Sequential
        Has a list ``layers``, a ``loss_layer``, ``loss(X, y)`` and ``backward()``.
    X : array_like, shape (N, D)
        An input batch.
    y : array_like of int, shape (N,)
        Its labels.

    Returns
    -------
    ShapeTrace
        Forward entries (``X``, then per layer its parameters and output, then
        ``y`` and ``loss``) followed by backward entries (``dlogits``, then per
        layer, last to first, its parameter gradients and input gradient).
    """
    names = _array_names(model.layers)
    recorder = _Recorder()
    originals = []
    try:
        for index, layer in enumerate(model.layers):
            originals.append((layer, _wrap_layer(layer, index, names, recorder)))
        originals.append((model.loss_layer, _wrap_loss(model.loss_layer, names, recorder)))
        model.loss(X, y)
        model.backward()
    finally:
        for layer, had_own in originals:
            # Drop our instance attributes so the class methods show through again.
            for method in ("forward", "backward"):
                if method in had_own:
                    setattr(layer, method, had_own[method])
                else:
                    vars(layer).pop(method, None)
    return ShapeTrace(recorder.entries)


# ---------------------------------------------------------------------------
# Implementation (private)
# ---------------------------------------------------------------------------


class _Recorder:
    def __init__(self):
        self.entries = []

    def add(self, phase, layer, name, role, array, note=""):
        array = np.asarray(array)
        self.entries.append(
            TracedArray(phase, layer, name, role, tuple(array.shape), array.dtype.name, note)
        )


@dataclass
class _Names:
    """Course-notation names for every layer's input, output and parameters."""

    layer_labels: list     # "layer1.Dense", ...
    inputs: list           # name of each layer's input: "X", "Z1", "A1", ...
    outputs: list          # name of each layer's output
    param_suffix: list     # "1", "2", ... appended to parameter keys ("" if none)


def _array_names(layers):
    """Name the arrays flowing between `layers`: X, Z1, A1, Z2, ... (unique)."""
    labels, inputs, outputs, suffixes = [], [], [], []
    used = {"X"}
    current = "X"
    number = 0
    for index, layer in enumerate(layers):
        has_params = bool(getattr(layer, "params", None))
        if has_params:
            number += 1
        base = f"Z{number}" if has_params else f"A{number}"
        name = base
        while name in used:       # e.g. two activations in a row
            name += "'"
        used.add(name)
        labels.append(f"layer{index + 1}.{type(layer).__name__}")
        inputs.append(current)
        outputs.append(name)
        suffixes.append(str(number) if has_params else "")
        current = name
    return _Names(labels, inputs, outputs, suffixes)


def _own_methods(layer):
    """The layer's instance-level forward/backward overrides, if any (to restore)."""
    return {m: vars(layer)[m] for m in ("forward", "backward") if m in vars(layer)}


def _wrap_layer(layer, index, names, recorder):
    """Shadow `layer.forward`/`backward` with recording versions; return what to restore."""
    had_own = _own_methods(layer)
    forward, backward = layer.forward, layer.backward
    label = names.layer_labels[index]
    is_last = index == len(names.outputs) - 1
    suffix = names.param_suffix[index]

    def traced_forward(x):
        out = forward(x)
        if index == 0:
            recorder.add("forward", "input", "X", "input", x)
        for key, value in layer.params.items():
            recorder.add("forward", label, f"{key}{suffix}", "parameter", value)
        recorder.add("forward", label, names.outputs[index], "output", out,
                     "logits" if is_last else "")
        return out

    def traced_backward(dout):
        din = backward(dout)
        for key, grad in layer.grads.items():
            recorder.add("backward", label, f"d{key}{suffix}", "gradient", grad)
        recorder.add("backward", label, "d" + names.inputs[index], "gradient", din)
        return din

    layer.forward, layer.backward = traced_forward, traced_backward
    return had_own


def _wrap_loss(loss_layer, names, recorder):
    """Record the labels and loss (forward) and dL/dlogits (backward) of the loss layer."""
    had_own = _own_methods(loss_layer)
    forward, backward = loss_layer.forward, loss_layer.backward
    label = f"loss.{type(loss_layer).__name__}"
    logits_name = names.outputs[-1]

    def traced_forward(logits, y):
        loss = forward(logits, y)
        recorder.add("forward", label, "y", "labels", y)
        recorder.add("forward", label, "loss", "loss", loss, "mean over the batch")
        return loss

    def traced_backward():
        dlogits = backward()
        recorder.add("backward", label, "d" + logits_name, "gradient", dlogits, "dL/dlogits")
        return dlogits

    loss_layer.forward, loss_layer.backward = traced_forward, traced_backward
    return had_own


def _format_shape(shape):
    """``(64, 10)`` -> ``"(64, 10)"``; ``()`` -> ``"() scalar"``."""
    if shape == ():
        return "() scalar"
    return str(tuple(shape)) if len(shape) != 1 else f"({shape[0]},)"
