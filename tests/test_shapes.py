"""Tests for backprop_lib.shapes: the traced pass is complete, ordered and truthful."""

import numpy as np
import pytest

from backprop_lib.layers import Dense, Layer, Tanh
from backprop_lib.model import MLP, Sequential
from backprop_lib.shapes import ShapeTrace, trace_shapes

N = 32

EXPECTED_64_64_10 = [
    # (phase, name, shape)
    ("forward", "X", (N, 64)),
    ("forward", "W1", (64, 64)),
    ("forward", "b1", (64,)),
    ("forward", "Z1", (N, 64)),
    ("forward", "A1", (N, 64)),
    ("forward", "W2", (64, 10)),
    ("forward", "b2", (10,)),
    ("forward", "Z2", (N, 10)),
    ("forward", "y", (N,)),
    ("forward", "loss", ()),
    ("backward", "dZ2", (N, 10)),
    ("backward", "dW2", (64, 10)),
    ("backward", "db2", (10,)),
    ("backward", "dA1", (N, 64)),
    ("backward", "dZ1", (N, 64)),
    ("backward", "dW1", (64, 64)),
    ("backward", "db1", (64,)),
    ("backward", "dX", (N, 64)),
]


@pytest.fixture
def digits_batch(rng):
    return rng.random((N, 64)), rng.integers(0, 10, size=N)


def test_trace_of_64_64_10_mlp_lists_every_array_in_order(digits_batch):
    trace = trace_shapes(MLP([64, 64, 10], seed=0), *digits_batch)
    assert isinstance(trace, ShapeTrace)
    assert [(e.phase, e.name, e.shape) for e in trace] == EXPECTED_64_64_10
    assert trace["Z2"].note == "logits" and trace["dZ2"].note == "dL/dlogits"
    assert trace["W1"].layer == "layer1.Dense" and trace["A1"].layer == "layer2.ReLU"
    assert trace["W1"].qualname == "layer1.Dense.W1"
    assert {e.dtype for e in trace if e.name != "y"} == {"float64"}
    assert trace["y"].dtype == "int64"


def test_every_gradient_has_the_shape_of_its_array(digits_batch):
    trace = trace_shapes(MLP([64, 32, 16, 10], seed=0), *digits_batch)
    for entry in trace.backward():
        assert entry.shape == trace[entry.name[1:]].shape, entry.name
    assert len(trace.forward()) + len(trace.backward()) == len(trace)


def test_trace_reports_float32_when_the_model_runs_in_float32(digits_batch):
    X, y = digits_batch
    trace = trace_shapes(MLP([64, 16, 10], seed=0, dtype=np.float32), X.astype(np.float32), y)
    for name in ("W1", "Z1", "A1", "Z2", "dZ2", "dW1", "dX"):
        assert trace[name].dtype == "float32", name


def test_trace_leaves_model_working_and_its_gradients_filled(digits_batch):
    X, y = digits_batch
    model = MLP([64, 8, 10], seed=0)
    trace_shapes(model, X, y)
    grads_after_trace = [p.grad.copy() for p in model.parameters()]
    for layer in [*model.layers, model.loss_layer]:
        assert "forward" not in vars(layer) and "backward" not in vars(layer)
    model.loss(X, y)
    model.backward()
    for before, p in zip(grads_after_trace, model.parameters(), strict=True):
        np.testing.assert_array_equal(before, p.grad)


def test_trace_restores_layers_even_when_the_pass_fails(digits_batch):
    X, _ = digits_batch
    model = MLP([64, 8, 10], seed=0)
    with pytest.raises(ValueError, match="y"):
        trace_shapes(model, X, np.full(N, 99))  # labels out of range
    assert all("forward" not in vars(layer) for layer in model.layers)


class Transpose(Layer):
    """A (deliberately odd) parameter-free layer that swaps the two axes."""

    def forward(self, x):
        self._cache = True
        return x.T

    def backward(self, dout):
        return dout.T


def test_trace_shows_what_really_happened_in_a_custom_layer(rng):
    # Dense(5 -> 3) on a batch of 4, then a transpose: the trace must report
    # the (3, 4) shape that really flowed, not what a Dense chain would predict.
    model = Sequential([Dense(5, 3, seed=0), Transpose(), Tanh()])
    trace = trace_shapes(model, rng.standard_normal((4, 5)), np.array([0, 1, 3]))
    assert trace.names[:6] == ["X", "W1", "b1", "Z1", "A1", "A1'"]
    assert trace["Z1"].shape == (4, 3)
    assert trace["A1"].shape == trace["A1'"].shape == (3, 4)
    assert trace["A1"].layer == "layer2.Transpose"
    assert trace["dA1'"].shape == (3, 4) and trace["dX"].shape == (4, 5)


def test_text_table_has_a_header_and_one_line_per_array(digits_batch):
    trace = trace_shapes(MLP([64, 64, 10], seed=0), *digits_batch)
    lines = str(trace).splitlines()
    assert lines[0].split() == ["phase", "layer", "name", "shape", "dtype", "note"]
    assert len(lines) == 2 + len(EXPECTED_64_64_10)
    assert "dW1" in lines[-3] and "(64, 64)" in lines[-3]
    assert repr(trace) == str(trace)


def test_html_table_lists_every_array(digits_batch):
    trace = trace_shapes(MLP([64, 64, 10], seed=0), *digits_batch)
    html = trace._repr_html_()
    assert html.startswith("<table") and html.endswith("</table>")
    assert html.count("<tr") == 1 + len(EXPECTED_64_64_10)
    for _, name, _ in EXPECTED_64_64_10:
        assert f"<code>{name}</code>" in html


def test_unknown_name_lists_the_available_names(digits_batch):
    trace = trace_shapes(MLP([64, 10], seed=0), *digits_batch)
    with pytest.raises(KeyError, match="dW1"):
        trace["dW7"]
