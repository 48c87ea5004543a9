"""KS distances against an explicit evaluation at every integer of [xmin, xmax].

Reference: S(x) (fraction of in-range points >= x) and P(x) = sum_{k=x}^{xmax} k^-alpha / Z
evaluated at every integer x of the range with numpy, then max |S - P| (the package's convention,
see ``pl_powerlaw.fitting.ks``); for the continuous model scipy.stats.kstest.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from pl_powerlaw.fitting import fit_truncated_power_law, sample_tpl, tpl_ccdf
from pl_powerlaw.fitting.ks import ks_distances
from pl_powerlaw.fitting.mle import solve_alpha
from pl_powerlaw.fitting.search import Dataset, SearchSettings, candidate_pairs


def brute_ks(x: np.ndarray, lo: float, hi: float, alpha: float) -> float:
    tail = np.sort(x[(x >= lo) & (x <= hi)])
    k = np.arange(lo, hi + 1, dtype=float)
    w = np.exp(-alpha * (np.log(k) - np.log(lo if alpha >= 0 else hi)))
    model = np.cumsum(w[::-1])[::-1] / w.sum()  # P(X >= k)
    empirical = 1.0 - np.searchsorted(tail, k, side="left") / tail.size  # S(k)
    return float(np.max(np.abs(empirical - model)))


def _datasets():
    rng = np.random.default_rng(7)
    fc = rng.binomial(300, 0.2, 400) + (rng.random(400) < 0.2) * rng.integers(0, 300, 400)
    conv = rng.integers(1, 60, 32) * 784  # conv-like: few nodes, values multiples of H*W
    tpl = sample_tpl(600, 1.7, 1, 800, rng=8)
    return [
        pytest.param(fc, id="fc-like"),
        pytest.param(conv, id="conv-like"),
        pytest.param(tpl, id="tpl"),
    ]


@pytest.mark.parametrize("x", _datasets())
def test_every_candidate_matches_the_integer_loop(x):
    """Random candidate pairs of the search (negative and large alphas included)."""
    data = Dataset.from_values(x)
    pairs = candidate_pairs(data, SearchSettings(4.0, 5, 3, True))
    sol = solve_alpha(pairs.lo, pairs.hi, pairs.y_lo, pairs.y_hi)
    got = ks_distances(
        data.values,
        data.counts,
        pairs.lo,
        pairs.hi,
        pairs.i,
        pairs.j,
        sol.alpha,
        sol.log_m,
        np.exp(sol.log_s0),
    )
    pick = np.random.default_rng(0).choice(pairs.size, min(pairs.size, 25), replace=False)
    for q in pick:
        ref = brute_ks(x, pairs.lo[q], pairs.hi[q], sol.alpha[q])
        assert got[q] == pytest.approx(ref, abs=1e-12)


@pytest.mark.parametrize(
    ("xmin", "xmax"),
    [
        pytest.param(3, 700, id="bounds not data values"),
        pytest.param(1, 40, id="xmin below all data"),
        pytest.param(52, 53, id="two integers"),
    ],
)
def test_fixed_bounds_match_the_integer_loop(xmin, xmax):
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.integers(5, 60, 300), rng.integers(61, 600, 100) * 2])
    fit = fit_truncated_power_law(x, xmin=xmin, xmax=xmax, min_distinct=2)
    assert not fit.flagged
    assert fit.ks == pytest.approx(brute_ks(x, xmin, xmax, fit.alpha), abs=1e-12)


def test_huge_values_need_no_integer_loop():
    """Degrees of 1e9 and more: the cost depends on the distinct values only."""
    x = np.random.default_rng(2).integers(1, 200, 32) * 10**8
    fit = fit_truncated_power_law(x)
    assert not fit.flagged
    assert 0 < fit.ks < 1


def test_continuous_ks_is_the_usual_statistic():
    x = sample_tpl(300, 1.4, 1.0, 100.0, discrete=False, rng=4)
    fit = fit_truncated_power_law(x, xmin=1.0, xmax=100.0, discrete=False)

    def cdf(t):
        return 1.0 - tpl_ccdf(t, fit.alpha, 1.0, 100.0, discrete=False)

    assert fit.ks == pytest.approx(stats.kstest(x, cdf).statistic, abs=1e-12)
