"""The nested tests' pieces: the power-law sampler and MLE, the end-point ratio, the p-values.

References: scipy.special.zeta (Hurwitz) for the power law's tail probabilities and normaliser,
scipy.optimize on explicitly summed likelihoods, scipy.stats.chi2 for the chi-bar-square tail,
bootstrap counts worked by hand.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.optimize import brentq, minimize_scalar
from scipy.special import logsumexp, zeta

from pl_powerlaw.fitting.nested import (
    SAMPLE_TABLE,
    TAIL_COUNT,
    PowerLawSampler,
    _endpoint_ratio,
    chi_bar_square_p,
    power_law_alpha,
    power_law_test,
    tail_p_value,
)


@pytest.mark.parametrize(("alpha", "xmin"), [(1.3, 1), (2.5, 7)])
def test_sampler_tail_probabilities_match_hurwitz_zeta(alpha, xmin):
    """P(X >= k) = zeta(a, k) / zeta(a, xmin), also beyond the CDF table (k > xmin + 2^16).
    200_000 draws: binomial standard errors below 0.0012."""
    logs = PowerLawSampler(alpha, xmin).log_draw(np.random.default_rng(0), 200_000)
    x = np.exp(logs)
    for k in (xmin + 1, xmin + 10, xmin + SAMPLE_TABLE // 2, xmin + 4 * SAMPLE_TABLE, 10**9):
        expected = zeta(alpha, k) / zeta(alpha, xmin)
        se = math.sqrt(expected * (1 - expected) / x.size)
        assert np.mean(x >= k - 0.5) == pytest.approx(expected, abs=4 * se + 1e-12), k
    assert np.all(np.abs(x - np.round(x)) < 1e-6 * x)  # integers


def test_power_law_alpha_matches_scipy_root_of_the_zeta_score():
    xmin = 3
    means = np.array([0.2, 0.7, 1.5, 4.0])

    def score(a, y):  # d/da ln zeta(a, xmin) = -E ln X, by a central difference
        h = 1e-6
        d = (math.log(zeta(a + h, xmin)) - math.log(zeta(a - h, xmin))) / (2 * h)
        return -d - math.log(xmin) - y

    got = power_law_alpha(xmin, means)
    for a, y in zip(got, means, strict=True):
        assert a == pytest.approx(brentq(score, 1.0001, 30.0, args=(y,), xtol=1e-12), rel=1e-7)
    assert power_law_alpha(xmin, np.array([0.0]))[0] == math.inf


def test_endpoint_ratio_against_explicit_likelihoods():
    x = np.random.default_rng(1).zipf(2.2, 300)
    x = x[x >= 2].astype(float)
    top = x.max()
    ratio, a, b = _endpoint_ratio(2.0, x.size, np.array([np.mean(np.log(x / 2))]), np.array([top]))
    k = np.arange(2, top + 1)

    def cutoff_nll(s):
        return s * np.log(x).sum() + x.size * logsumexp(-s * np.log(k))

    def pl_nll(s):
        return s * np.log(x).sum() + x.size * math.log(zeta(s, 2))

    ref_b = minimize_scalar(cutoff_nll, bracket=(1.0, 3.0), tol=1e-12)
    ref_a = minimize_scalar(pl_nll, bounds=(1.01, 6.0), method="bounded", options={"xatol": 1e-10})
    assert b[0] == pytest.approx(ref_b.x, abs=1e-6) and a[0] == pytest.approx(ref_a.x, abs=1e-6)
    assert ratio[0] == pytest.approx(pl_nll(a[0]) - cutoff_nll(b[0]), rel=1e-9, abs=1e-9)


def test_tail_p_value_by_hand():
    boot = np.arange(1.0, 101.0)  # B = 100 replicates 1..100
    assert tail_p_value(50.5, boot) == pytest.approx(51 / 101)  # 50 reach it
    assert tail_p_value(91.0, boot) == pytest.approx(11 / 101)  # exactly TAIL_COUNT = 10
    r_10 = 91.0  # the 10th largest
    assert TAIL_COUNT == 10
    beyond = tail_p_value(120.0, boot)
    assert beyond == pytest.approx(11 / 101 * math.exp(-(120.0 - r_10) / 50.5), rel=1e-12)
    assert tail_p_value(91.0 + 1e-9, boot) == pytest.approx(11 / 101, rel=1e-9)  # continuous


def test_chi_bar_square_by_scipy():
    for gain in (0.01, 0.5, 1.9207, 8.0):
        assert chi_bar_square_p(gain) == pytest.approx(0.5 * stats.chi2.sf(2 * gain, 1), rel=1e-12)
    assert chi_bar_square_p(0.0) == 1.0
    assert chi_bar_square_p(1.35277) == pytest.approx(0.05, rel=1e-4)  # 2D = 2.7055: chi2_1 at 0.1


def test_power_law_test_is_reproducible_and_seeded():
    x = np.random.default_rng(2).zipf(2.0, 500).astype(float)
    first, again = power_law_test(x, 1, 100, seed=3), power_law_test(x, 1, 100, seed=3)
    other = power_law_test(x, 1, 100, seed=4)
    assert first == again and first["ratio"] == other["ratio"]
    assert first["loglik_cutoff"] - first["loglik"] == pytest.approx(first["ratio"])
