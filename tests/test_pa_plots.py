"""Figures of the preferential attachment analysis (``pl_powerlaw.plotting.preferential``)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from pl_powerlaw.plotting import delta_k_figure, delta_k_grid_figure, pi_heatmap_figure
from pl_powerlaw.preferential import analyze_attachment


@pytest.fixture
def result():
    rng = np.random.default_rng(0)
    # rows of increasing density, so that the degrees spread over several bins
    old = [
        (rng.random((20, 30)) < np.linspace(0.02, 0.9, 20)[:, None]).astype(int),
        (rng.random((10, 20)) < np.linspace(0.02, 0.9, 20)[None, :]).astype(int),
    ]
    new = [rng.integers(0, 2, (20, 30)) * (1 - old[0]), rng.integers(0, 2, (10, 20)) * (1 - old[1])]
    return analyze_attachment(["input", "fc1", "fc2"], old, new, n_bins=4)


def test_pi_heatmap_uses_log_axes_over_the_bin_edges(result) -> None:
    kernel = result.kernels[0]
    fig = pi_heatmap_figure(kernel, "title")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_xlim() == pytest.approx((kernel.edges_lower[0], kernel.edges_lower[-1]))
    assert len(fig.axes) == 2  # heatmap and colour bar
    plt.close(fig)


def test_pi_heatmap_without_new_links_draws_no_colour_bar(result) -> None:
    kernel = analyze_attachment(["a", "b"], [np.ones((3, 4))], [np.zeros((3, 4))]).kernels[0]
    fig = pi_heatmap_figure(kernel)
    assert len(fig.axes) == 1 and "undefined" in fig.axes[0].get_title()
    plt.close(fig)


def test_delta_k_figure_draws_points_and_fit_line(result) -> None:
    inc = result.increments[1]
    assert inc.fit.slope is not None
    fig = delta_k_figure(inc)
    ax = fig.axes[0]
    points = ax.collections[0].get_offsets()
    filled = inc.n_nodes > 0
    np.testing.assert_allclose(np.asarray(points), np.c_[inc.k_mean[filled], inc.delta_k[filled]])
    assert len(ax.lines) == 1  # the least-squares line
    plt.close(fig)
    grid = delta_k_grid_figure(result.increments)
    assert len(grid.axes) == 3
    plt.close(grid)
