"""Figures of the preferential attachment analysis (paper Figures 7 and 8), on Agg canvases.

* :func:`pi_heatmap_figure`: ``Pi(k, k')`` of one pair of adjacent node layers on log-log degree
  bins, coloured by ``log10 Pi`` (Figure 7);
* :func:`delta_k_figure`: ``Delta k`` against ``k`` of one node layer with its least-squares line
  (Figure 8); :func:`delta_k_grid_figure` puts every node layer side by side.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from pl_powerlaw.plotting.canvas import new_figure

if TYPE_CHECKING:  # figures read the results' fields only: no numerics (or torch) imported
    from pl_powerlaw.preferential import AttachmentKernel, DegreeIncrement


def plot_pi_heatmap(ax: Axes, kernel: AttachmentKernel, title: str | None = None) -> None:
    """Draw ``Pi(k, k')`` on ``ax``: lower-layer degree on x, upper-layer degree on y, log axes.

    Cells without node pairs are left blank, cells with pairs but no new connection are grey.
    """
    pi = np.ma.masked_invalid(kernel.pi)
    positive = pi.compressed()[pi.compressed() > 0]
    ax.set_facecolor("0.85")
    if positive.size:
        norm = LogNorm(vmin=positive.min(), vmax=positive.max())
        mesh = ax.pcolormesh(
            kernel.edges_lower, kernel.edges_upper, np.ma.masked_less_equal(pi, 0), norm=norm
        )
        ax.figure.colorbar(mesh, ax=ax, label=r"$\Pi(k, k')$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_minor_formatter(NullFormatter())  # the minor labels of a short range overlap
    ax.set_xlim(kernel.edges_lower[0], kernel.edges_lower[-1])
    ax.set_ylim(kernel.edges_upper[0], kernel.edges_upper[-1])
    ax.set_xlabel(f"k ({kernel.lower}, t = 0)")
    ax.set_ylabel(f"k' ({kernel.upper}, t = 0)")
    fit = kernel.fit
    subtitle = (
        f"slope of log Pi vs log kk' = {fit.slope:.2f} (r = {fit.pearson_r:.2f})"
        if fit.slope is not None and fit.pearson_r is not None
        else "slope undefined"
    )
    ax.set_title(f"{title or f'{kernel.lower} -> {kernel.upper}'}\n{subtitle}", fontsize=9)


def pi_heatmap_figure(kernel: AttachmentKernel, title: str | None = None) -> Figure:
    """A figure with the ``Pi(k, k')`` heatmap of one layer pair (paper Figure 7).

    Example:
        >>> from pl_powerlaw.preferential import analyze_attachment
        >>> result = analyze_attachment(["a", "b"], [np.ones((3, 2))], [np.eye(3, 2)])
        >>> len(pi_heatmap_figure(result.kernels[0]).axes)
        2
    """
    figure = new_figure(5, 4.2, layout="constrained")
    plot_pi_heatmap(figure.add_subplot(), kernel, title)
    return figure


def plot_delta_k(ax: Axes, increment: DegreeIncrement, title: str | None = None) -> None:
    """Draw ``Delta k`` against the bin-mean degree ``k`` with its least-squares line on ``ax``."""
    filled = increment.n_nodes > 0
    k, delta_k = increment.k_mean[filled], increment.delta_k[filled]
    ax.scatter(k, delta_k, s=18, color="C0", label="binned")
    fit = increment.fit
    if fit.slope is not None and k.size:
        grid = np.linspace(0.0, float(k.max()), 50)
        r2 = "-" if fit.r2 is None else f"{fit.r2:.2f}"
        ax.plot(
            grid,
            fit.slope * grid + fit.intercept,
            color="C3",
            label=f"{fit.slope:.3g} k + {fit.intercept:.3g} (R$^2$ = {r2})",
        )
    ax.set_xlabel("k (t = 0)")
    ax.set_ylabel(r"$\Delta k$")
    ax.set_title(title or increment.name, fontsize=9)
    ax.legend(fontsize=7, loc="upper left")


def delta_k_figure(increment: DegreeIncrement, title: str | None = None) -> Figure:
    """A figure with ``Delta k(k)`` of one node layer and its linear fit (paper Figure 8).

    Example:
        >>> from pl_powerlaw.preferential import degree_increment
        >>> inc = degree_increment(np.array([1, 2, 4]), np.array([1, 2, 4]), np.array([1, 2, 3, 5]))
        >>> len(delta_k_figure(inc).axes)
        1
    """
    figure = new_figure(4.5, 3.6, layout="constrained")
    plot_delta_k(figure.add_subplot(), increment, title)
    return figure


def delta_k_grid_figure(increments: Sequence[DegreeIncrement], title: str | None = None) -> Figure:
    """``Delta k(k)`` of every node layer side by side, under an optional figure title."""
    n = max(len(increments), 1)
    figure = new_figure(4.2 * n, 3.6, layout="constrained")
    if title:
        figure.suptitle(title, fontsize=10)
    for k, increment in enumerate(increments):
        plot_delta_k(figure.add_subplot(1, n, k + 1), increment)
    return figure
