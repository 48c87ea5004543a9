"""Preferential attachment numerics (``pl_powerlaw.preferential``) against brute force.

References: ``fit_line`` against ``scipy.stats.linregress``; ``Pi(k, k')`` and ``Delta k(k)``
against explicit loops over node pairs / nodes written from the definitions (Barabasi et al. 2002,
eq. 2; the paper's eqs. 9-10), and against values worked out by hand in the comments.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy import stats

from pl_powerlaw.connectivity import degrees_from_counts
from pl_powerlaw.preferential import (
    analyze_attachment,
    attachment_kernel,
    bin_degrees,
    degree_increment,
    fit_line,
    log_degree_bins,
)


@pytest.mark.parametrize("seed", [pytest.param(s, id=f"seed{s}") for s in range(3)])
def test_fit_line_matches_scipy_linregress(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 10, 30)
    y = 2.5 * x - 1.0 + rng.normal(0, 1, 30)
    fit, ref = fit_line(x, y), stats.linregress(x, y)
    assert fit.slope == pytest.approx(ref.slope, rel=1e-12)
    assert fit.intercept == pytest.approx(ref.intercept, rel=1e-12)
    assert fit.pearson_r == pytest.approx(ref.rvalue, rel=1e-12)
    assert fit.r2 == pytest.approx(ref.rvalue**2, rel=1e-12)
    assert fit.n == 30


@pytest.mark.parametrize(
    ("x", "y", "expected"),
    [
        pytest.param([1.0], [2.0], (None, None, None, None), id="one-point"),
        pytest.param([1.0, 1.0], [2.0, 3.0], (None, None, None, None), id="constant-x"),
        pytest.param([1.0, 2.0], [3.0, 3.0], (0.0, 3.0, None, None), id="constant-y"),
    ],
)
def test_fit_line_degenerate_inputs(x, y, expected) -> None:
    fit = fit_line(x, y)
    assert (fit.slope, fit.intercept, fit.r2, fit.pearson_r) == expected


def test_log_degree_bins_cover_all_positive_degrees() -> None:
    degrees = np.array([0, 1, 2, 3, 7, 50, 999])
    edges = log_degree_bins(degrees, n_bins=6)
    assert edges[0] == 1 and edges[-1] == 1000  # smallest and largest positive degree + 1
    assert np.all(np.diff(edges) > 0)
    index = bin_degrees(degrees, edges)
    assert index[0] == -1  # degree 0 is in no bin
    for d, i in zip(degrees[1:], index[1:], strict=True):
        assert edges[i] <= d < edges[i + 1]


def test_log_degree_bins_by_hand() -> None:
    # logspace(0, log10(100), 3) = 1, 10, 100; kmax + 1 = 100
    assert log_degree_bins(np.array([1, 5, 99]), n_bins=2).tolist() == [1, 10, 100]
    # from the smallest positive degree: logspace(1, log10(40), 3) = 10, 20, 40
    assert log_degree_bins(np.array([0, 10, 20, 39]), n_bins=2).tolist() == [10, 20, 40]
    # no positive degree: one empty bin [1, 2)
    assert log_degree_bins(np.array([0, 0]), n_bins=4).tolist() == [1, 2]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        pytest.param({"n_bins": 0}, "n_bins", id="zero-bins"),
        pytest.param({"n_bins": 2.5}, "n_bins", id="float-bins"),
    ],
)
def test_log_degree_bins_rejects_bad_arguments(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        log_degree_bins(np.array([1, 2]), **kwargs)


def test_degrees_from_counts_by_hand() -> None:
    # input(2) -> a(2) -> b(1); input node 0 has links 1 + 2, node 1 has 1; a node 0 has 1 down,
    # 0 up... written out: counts0 = [[1, 0], [2, 1]], counts1 = [[4, 0]]
    counts = [torch.tensor([[1, 0], [2, 1]]), torch.tensor([[4, 0]])]
    degrees = degrees_from_counts(counts)  # the one implementation, in pl_powerlaw.connectivity
    assert [d.tolist() for d in degrees] == [[3, 1], [1 + 4, 3 + 0], [4]]


def brute_force_kernel(new, d_low, d_up, e_low, e_up):
    """Pi from the definition: loop over every node pair (Barabasi et al. 2002, eq. 2)."""
    nb_low, nb_up = len(e_low) - 1, len(e_up) - 1
    links = np.zeros((nb_up, nb_low))
    pairs = np.zeros((nb_up, nb_low))
    for i in range(len(d_up)):
        for j in range(len(d_low)):
            bi = [b for b in range(nb_up) if e_up[b] <= d_up[i] < e_up[b + 1]]
            bj = [b for b in range(nb_low) if e_low[b] <= d_low[j] < e_low[b + 1]]
            if bi and bj:
                links[bi[0], bj[0]] += new[i, j]
                pairs[bi[0], bj[0]] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return links, pairs, np.where(pairs > 0, links / pairs, np.nan)


@pytest.mark.parametrize("seed", [pytest.param(s, id=f"seed{s}") for s in range(3)])
def test_attachment_kernel_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    d_low = rng.integers(0, 40, 13)
    d_up = rng.integers(0, 25, 9)
    new = rng.integers(0, 4, (9, 13))  # multiplicities up to 3, as a convolution gives
    e_low, e_up = log_degree_bins(d_low, 4), log_degree_bins(d_up, 3)
    kernel = attachment_kernel(new, d_low, d_up, e_low, e_up)
    links, pairs, pi = brute_force_kernel(new, d_low, d_up, e_low, e_up)
    np.testing.assert_array_equal(kernel.new_links, links)
    np.testing.assert_array_equal(kernel.pairs, pairs)
    np.testing.assert_allclose(kernel.pi, pi, rtol=1e-12, equal_nan=True)
    unbinned = sum(new[i, j] for i in range(9) for j in range(13) if d_up[i] == 0 or d_low[j] == 0)
    assert kernel.new_links_unbinned == unbinned
    for b in range(len(e_low) - 1):
        members = d_low[(d_low >= e_low[b]) & (d_low < e_low[b + 1])]
        assert kernel.n_lower[b] == members.size
        if members.size:
            assert kernel.k_lower[b] == pytest.approx(members.mean())


def test_attachment_kernel_of_exact_product_rule_has_slope_one() -> None:
    # Degrees 1, 2, 4, ..., 64 each alone in its bin (edges 1, 2, 4, ..., 128), new links k * k':
    # Pi(k, k') = k k' exactly (one pair per cell), so log Pi = log(k k') with slope 1, r = 1.
    d = 2 ** np.arange(7)
    edges = np.concatenate([d, [128]])
    new = np.outer(d, d)
    kernel = attachment_kernel(new, d, d, edges, edges)
    np.testing.assert_allclose(kernel.pi, new)
    assert kernel.fit.slope == pytest.approx(1.0, abs=1e-12)
    assert kernel.fit.intercept == pytest.approx(0.0, abs=1e-12)
    assert kernel.fit.pearson_r == pytest.approx(1.0, abs=1e-12)


def test_attachment_kernel_rejects_wrong_shape() -> None:
    with pytest.raises(ValueError, match="new_counts"):
        attachment_kernel(
            np.zeros((2, 3)), np.ones(2), np.ones(2), np.array([1, 2]), np.array([1, 2])
        )


@pytest.mark.parametrize("seed", [pytest.param(s, id=f"seed{s}") for s in range(3)])
def test_degree_increment_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    degrees = rng.integers(0, 60, 50)
    increments = rng.integers(0, 10, 50)
    edges = log_degree_bins(degrees, 5)
    inc = degree_increment(degrees, increments, edges, "layer")
    for b in range(len(edges) - 1):
        inside = (degrees >= edges[b]) & (degrees < edges[b + 1])
        assert inc.n_nodes[b] == inside.sum()
        assert inc.new_links[b] == increments[inside].sum()
        if inside.any():
            assert inc.delta_k[b] == pytest.approx(increments[inside].mean())
            assert inc.k_mean[b] == pytest.approx(degrees[inside].mean())
        else:
            assert np.isnan(inc.delta_k[b])
    filled = inc.n_nodes > 0
    ref = stats.linregress(inc.k_mean[filled], inc.delta_k[filled])
    assert inc.fit.slope == pytest.approx(ref.slope, rel=1e-10)
    ref_nodes = stats.linregress(degrees[degrees >= 1], increments[degrees >= 1])
    assert inc.node_fit.pearson_r == pytest.approx(ref_nodes.rvalue, rel=1e-10)
    zero = degrees == 0
    assert inc.n_zero == zero.sum()
    assert inc.delta_k_zero == (pytest.approx(increments[zero].mean()) if zero.any() else None)


def test_degree_increment_of_linear_rule_is_exact() -> None:
    degrees = np.array([1, 1, 3, 9, 9, 27, 81])
    inc = degree_increment(degrees, 3 * degrees, log_degree_bins(degrees, 4))
    assert inc.fit.slope == pytest.approx(3.0)
    assert inc.fit.intercept == pytest.approx(0.0, abs=1e-9)
    assert inc.fit.r2 == pytest.approx(1.0)


def test_analyze_attachment_tiny_example_by_hand() -> None:
    # input (3 nodes) -> h (2 nodes) -> o (2 nodes).
    old = [np.array([[1, 1, 0], [0, 1, 0]]), np.array([[1, 1], [0, 1]])]
    new = [np.array([[0, 0, 1], [1, 0, 0]]), np.array([[0, 0], [1, 0]])]
    # t = 0 degrees: input [1, 2, 0]; h [2 + 1, 1 + 2] = [3, 3]; o [2, 1]
    # new degrees: input [1, 0, 1]; h [1 + 1, 1 + 0] = [2, 1]; o [0, 1]
    result = analyze_attachment(["input", "h", "o"], old, new, n_bins=2)
    degrees = [inc.k_mean for inc in result.increments]
    inc_in, inc_h, inc_o = result.increments
    assert inc_in.n_zero == 1 and inc_in.delta_k_zero == 1.0  # the input node of degree 0
    assert np.nansum(inc_in.new_links) == 1  # the degree-1 node's one new link
    assert inc_h.n_nodes.sum() == 2 and np.nansum(inc_h.new_links) == 3
    assert np.nanmean(inc_h.delta_k) == pytest.approx(1.5)
    assert np.nansum(inc_o.new_links) == 1
    kernel_in_h, kernel_h_o = result.kernels
    # input -> h: new link (h1, in0) binned (in0 has degree 1); (h0, in2) touches a degree-0 node.
    assert kernel_in_h.new_links.sum() == 1 and kernel_in_h.new_links_unbinned == 1
    # h -> o: one new link (o1, h0). Bins: h degrees [3, 3] -> floor(logspace(log10 3, log10 4, 3))
    # = [3, 3, 4] -> edges [3, 4]; o degrees [2, 1] -> floor([1, 1.73, 3]) -> edges [1, 3].
    assert kernel_h_o.edges_lower.tolist() == [3, 4]
    assert kernel_h_o.edges_upper.tolist() == [1, 3]
    assert kernel_h_o.new_links.tolist() == [[1]]
    assert kernel_h_o.pairs.tolist() == [[4]]  # 2 o nodes x 2 h nodes
    assert kernel_h_o.pi.tolist() == [[0.25]]
    assert len(degrees) == 3
    text = json.dumps(result.as_dict(), allow_nan=False)  # JSON has no NaN: they became null
    assert "NaN" not in text


def test_analyze_attachment_rejects_mismatched_inputs() -> None:
    with pytest.raises(ValueError, match="names"):
        analyze_attachment(["a"], [np.ones((2, 2))], [np.ones((2, 2))])
    with pytest.raises(ValueError, match="equal shape"):
        analyze_attachment(["a", "b"], [np.ones((2, 2))], [np.ones((2, 3))])
