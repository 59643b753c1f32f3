"""Heatmaps of what an attention model looked at: source words x response words."""

import pathlib

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def plot_attention(weights, source, response, path, title=""):
    """Writes one response's attention weights as a PNG heatmap.

    Rows are the response's tokens (its </s> last), columns the encoder's input
    tokens (`context </s> message`); a cell's shade is the weight that response
    token's step gave that input token (each row sums to 1). Uses the Agg canvas
    directly, so no display is needed and pyplot's global state is left alone.

    Args:
        weights: float [response_tokens, source_tokens] (padding may follow;
            it is cut to the lengths of `source` and `response`).
        source: the input's tokens.
        response: the response's tokens.
        path: where to write the PNG; missing parent directories are made.
        title: the figure's title (e.g. the speaker and the message).

    Returns:
        The matplotlib Figure; its axes holds the heatmap as its one image.

    Example:
    >>> plot_attention(np.full([2, 3], 1 / 3), ["how", "now", "?"], ["well", "</s>"], "a.png")
    """
    weights = np.asarray(weights, dtype=float)[: len(response), : len(source)]
    if weights.shape != (len(response), len(source)):
        raise ValueError(
            f"plot_attention: weights of shape {weights.shape} for {len(response)} response "
            f"and {len(source)} source tokens"
        )
    figure = Figure(
        figsize=(max(4.0, 1.5 + 0.35 * len(source)), max(3.0, 1.2 + 0.35 * len(response))),
        layout="constrained",
    )
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    image = axes.imshow(weights, cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
    axes.set_xticks(range(len(source)), source, rotation=60, ha="right")
    axes.set_yticks(range(len(response)), response)
    axes.set_xlabel("Input (context </s> message)")
    axes.set_ylabel("Response")
    if title:
        axes.set_title(title, fontsize=9)
    figure.colorbar(image, ax=axes, label="attention weight")
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return figure
