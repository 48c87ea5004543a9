"""The CCDFs of each layer's degrees at several moments of a run, one panel per layer.

Watching the topology move (dynamic sparse training, gradual pruning): each panel holds the
empirical CCDF ``P(X >= x)`` of one node layer's positive degrees at each moment, coloured from
early (light) to late (dark), with the TPL exponent of that moment in the legend. Agg canvas only
(:mod:`pl_powerlaw.plotting.canvas`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps, ticker
from matplotlib.figure import Figure

from pl_powerlaw.plotting.canvas import new_figure
from pl_powerlaw.plotting.ccdf import _plain_log_labels


def empirical_ccdf(degrees: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(x, P(X >= x))`` over the distinct positive degrees (zeros counted in ``n``).

    Example:
        >>> x, p = empirical_ccdf([0, 1, 2, 2])
        >>> x.tolist(), p.tolist()
        ([1.0, 2.0], [0.75, 0.5])
    """
    d = np.asarray(degrees, dtype=float).ravel()
    x = np.unique(d[d > 0])
    ccdf = 1.0 - np.searchsorted(np.sort(d), x, side="left") / max(d.size, 1)
    return x, ccdf


def pick_moments(n: int, most: int) -> list[int]:
    """At most ``most`` indexes of ``n`` moments, evenly spread, always the first and the last.

    Example:
        >>> pick_moments(10, 4)
        [0, 3, 6, 9]
    """
    if n <= most:
        return list(range(n))
    return sorted({int(round(i * (n - 1) / (most - 1))) for i in range(most)})


def ccdf_trajectory_figure(
    moments: Sequence[tuple[str, Mapping[str, Any]]],
    alphas: Sequence[Mapping[str, float | None]] | None = None,
    title: str | None = None,
    ncols: int = 3,
) -> Figure:
    """One panel per layer with the CCDF of its degrees at every moment.

    Args:
        moments: ``(label, {layer: degrees})`` in time order.
        alphas: per moment, ``{layer: fitted alpha or None}`` shown in the legend.
        title: the figure's title.
        ncols: panels per row.

    Returns:
        The figure (draw it with :func:`pl_powerlaw.plotting.render`).

    Raises:
        ValueError: if there are no moments.
    """
    if not moments:
        raise ValueError("Expected at least one moment to draw but got none")
    layers = list(dict.fromkeys(name for _, degrees in moments for name in degrees))
    cols = max(1, min(ncols, len(layers)))
    rows = math.ceil(len(layers) / cols)
    figure = new_figure(4.0 * cols, 3.2 * rows + (0.4 if title else 0.0))
    cmap = colormaps["viridis"]
    for k, layer in enumerate(layers):
        ax = figure.add_subplot(rows, cols, k + 1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        for i, (label, degrees) in enumerate(moments):
            if layer not in degrees:
                continue
            x, p = empirical_ccdf(degrees[layer])
            if x.size == 0:
                continue
            alpha = None if alphas is None else alphas[i].get(layer)
            text = label if alpha is None else f"{label} (\u03b1 {alpha:.2f})"
            shade = 0.9 * (1.0 - i / max(len(moments) - 1, 1))
            ax.plot(x, p, marker=".", markersize=2, linewidth=1, color=cmap(shade), label=text)
        ax.set_title(layer, fontsize=9)
        ax.set_xlabel("degree x", fontsize=8)
        ax.set_ylabel("P(X \u2265 x)", fontsize=8)
        ax.tick_params(which="both", labelsize=7)
        _plain_log_labels(ax)
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())  # crowded on a short decade
        ax.legend(fontsize=6, loc="lower left")
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return figure
