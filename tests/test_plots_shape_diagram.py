"""plots.shape_diagram: dimensions with their own colours, labels and legend (04 §3)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from backprop_lib import plots  # noqa: E402


def _texts(fig):
    return [(t.get_text(), t.get_color()) for t in fig.axes[0].texts]


def test_summed_and_kept_K_have_their_own_colours_labels_and_legend():
    fig = plots.shape_diagram([("g^T", (1, "K_sum")), ("J", ("K_sum", "K_keep"))],
                              result=("(dL/dz)^T", (1, "K_keep")),
                              labels={"K_sum": "K (k)", "K_keep": "K (j)"},
                              legend={"K_sum": "summed over", "K_keep": "kept"})
    texts = _texts(fig)
    colour = {text: c for text, c in texts if text in ("K (k)", "K (j)")}
    assert set(colour) == {"K (k)", "K (j)"} and colour["K (k)"] != colour["K (j)"]
    # every label of one dimension has that dimension's colour
    assert {c for text, c in texts if text == "K (k)"} == {colour["K (k)"]}
    legend = [(text, c) for text, c in texts if text.startswith(("K (k):", "K (j):"))]
    assert legend == [("K (k): summed over", colour["K (k)"]), ("K (j): kept", colour["K (j)"])]
    assert fig.axes[0].get_title() == "(1, K (k)) @ (K (k), K (j))  ->  (1, K (j))"
    plt.close(fig)


def test_without_labels_the_names_are_drawn_and_one_name_has_one_colour():
    fig = plots.shape_diagram([("g^T", (1, "K")), ("J", ("K", "K"))], result=("dz", (1, "K")))
    colours = {c for text, c in _texts(fig) if text == "K"}
    assert len(colours) == 1
    plt.close(fig)


def test_legend_for_an_unknown_dimension_is_an_error():
    with pytest.raises(ValueError, match="no array has"):
        plots.shape_diagram([("A", ("N", "D"))], legend={"K": "?"})
    plt.close("all")
