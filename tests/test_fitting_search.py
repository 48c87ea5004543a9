"""The (xmin, xmax) search: candidate sets, the constraints and agreement with a brute-force search.

References: candidate sets worked out by hand; a brute-force search that loops over every pair,
fits alpha by scipy maximisation of the explicitly summed likelihood and evaluates the KS
distance at every integer.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize_scalar
from test_fitting_ks import brute_ks
from test_fitting_mle import brute_nll

from pl_powerlaw.fitting import fit_truncated_power_law
from pl_powerlaw.fitting.search import Dataset, SearchSettings, candidate_pairs


def test_candidate_sets_by_hand():
    # n = 12, r = 4: ceil(12/4) = 3; smallest three data {1, 1, 2}, largest three {9, 10, 10}.
    x = np.array([1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10])
    pairs = candidate_pairs(Dataset.from_values(x), SearchSettings(4.0, 2, 2, True))
    assert sorted(zip(pairs.lo.tolist(), pairs.hi.tolist(), strict=True)) == [
        (1, 9),
        (1, 10),
        (2, 9),
        (2, 10),
    ]
    assert pairs.n_tail.tolist() == [10, 12, 8, 10]  # ordered by xmin, then xmax


def test_zeros_are_excluded_and_counted():
    x = np.concatenate([np.zeros(7, int), np.arange(1, 41)])
    fit = fit_truncated_power_law(x)
    assert (fit.n_zero, fit.n) == (7, 40)
    assert fit.xmin >= 1


def brute_search(x: np.ndarray, r: float, min_tail: int, min_distinct: int):
    x = np.sort(x[x > 0])
    k = math.ceil(x.size / r)
    best = None
    for lo in np.unique(x[:k]):
        for hi in np.unique(x[-k:]):
            tail = x[(x >= lo) & (x <= hi)]
            if lo >= hi or tail.size < min_tail or np.unique(tail).size < min_distinct:
                continue
            res = minimize_scalar(brute_nll, bracket=(0.0, 1.0), args=(tail, lo, hi), tol=1e-12)
            ks = brute_ks(tail, lo, hi, res.x)
            if best is None or ks < best[0] - 1e-9:
                best = (ks, lo, hi, res.x)
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_search_matches_brute_force_search(seed):
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.binomial(60, 0.3, 120), rng.integers(1, 80, 40)])
    ks, lo, hi, alpha = brute_search(x, 4.0, 10, 5)
    fit = fit_truncated_power_law(x)
    assert (fit.xmin, fit.xmax) == (lo, hi)
    assert fit.ks == pytest.approx(ks, abs=1e-7)  # brute alpha is good to ~1e-7
    assert fit.alpha == pytest.approx(alpha, abs=2e-6)


def test_min_distinct_keeps_two_value_ranges_from_winning():
    """A range holding two distinct values is fitted exactly (KS = 0) and would always win."""
    rng = np.random.default_rng(3)
    x = rng.binomial(30, 0.4, 400)
    loose = fit_truncated_power_law(x, r=1, min_distinct=2)
    assert loose.ks == pytest.approx(0.0, abs=1e-12)
    assert loose.n_distinct == 2
    fit = fit_truncated_power_law(x, r=1, min_distinct=5)
    assert fit.n_distinct >= 5 and fit.ks > 0


def test_min_tail_is_respected():
    x = np.arange(1, 101)
    fit = fit_truncated_power_law(x, r=1, min_tail=60)
    assert fit.n_tail >= 60


def test_fixed_xmin_and_xmax_are_used():
    rng = np.random.default_rng(4)
    x = rng.integers(1, 300, 500)
    fit = fit_truncated_power_law(x, xmin=7)
    assert fit.xmin == 7 and fit.xmax > 7
    fit = fit_truncated_power_law(x, xmax=250)
    assert fit.xmax == 250 and fit.xmin < 250
    fit = fit_truncated_power_law(x, xmin=7, xmax=250)
    assert (fit.xmin, fit.xmax, fit.n_candidates) == (7, 250, 1)
    assert fit.n_tail == np.count_nonzero((x >= 7) & (x <= 250))


def test_conv_layer_with_large_values_and_few_nodes():
    """32 feature maps with degrees that are multiples of H_out * W_out = 65600 / 16."""
    rng = np.random.default_rng(5)
    x = rng.integers(1, 200, 32) * 4100
    fit = fit_truncated_power_law(x)
    assert not fit.flagged
    assert fit.xmin % 4100 == 0 and fit.xmax % 4100 == 0
    assert fit.ks == pytest.approx(brute_ks(x, fit.xmin, fit.xmax, fit.alpha), abs=1e-12)


def test_ties_go_to_more_points_then_smaller_xmin():
    # Uniform data on 1..20: every range is fitted exactly (alpha = 0, KS = 0 up to rounding).
    x = np.tile(np.arange(1, 21), 5)
    fit = fit_truncated_power_law(x, r=1)
    assert fit.ks == pytest.approx(0.0, abs=1e-12)
    assert (fit.xmin, fit.xmax) == (1, 20)
