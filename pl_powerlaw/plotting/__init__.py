"""Figures (matplotlib on Agg canvases, no pyplot): CCDFs with their fits, preferential attachment.

* :mod:`~pl_powerlaw.plotting.canvas`: the convention (:func:`new_figure`, :func:`render`,
  :func:`save_png`, :func:`tile_images`);
* :mod:`~pl_powerlaw.plotting.ccdf`: the paper's Figure 1 (CCDF of a layer's degrees with its TPL);
* :mod:`~pl_powerlaw.plotting.preferential`: Figures 7 and 8 (``Pi(k, k')``, ``Delta k(k)``);
* :mod:`~pl_powerlaw.plotting.trajectory`: the CCDFs of each layer at several moments of a run.
"""

from pl_powerlaw.plotting.canvas import new_figure, render, save_png, tile_images
from pl_powerlaw.plotting.ccdf import ccdf_figure, ccdf_grid_figure, plot_ccdf
from pl_powerlaw.plotting.preferential import (
    delta_k_figure,
    delta_k_grid_figure,
    pi_heatmap_figure,
    plot_delta_k,
    plot_pi_heatmap,
)
from pl_powerlaw.plotting.trajectory import ccdf_trajectory_figure, empirical_ccdf, pick_moments

__all__ = [
    "ccdf_figure",
    "ccdf_grid_figure",
    "ccdf_trajectory_figure",
    "delta_k_figure",
    "delta_k_grid_figure",
    "empirical_ccdf",
    "new_figure",
    "pi_heatmap_figure",
    "pick_moments",
    "plot_ccdf",
    "plot_delta_k",
    "plot_pi_heatmap",
    "render",
    "save_png",
    "tile_images",
]
