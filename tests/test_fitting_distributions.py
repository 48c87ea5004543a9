"""pmf, CCDF, log-likelihood and sampling of the truncated power law (paper eqs. 2-4).

References: hand-computed values (p(1) = 1 / (1 + 1/4) = 0.8 for alpha = 2 on {1, 2}), explicit
sums, closed-form continuous CDFs and chi-square goodness of fit of the samplers.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import pl_powerlaw.fitting.distributions as dist
from pl_powerlaw.fitting import (
    TPLSampler,
    sample_tpl,
    tpl_ccdf,
    tpl_loglik,
    tpl_logpdf,
    tpl_logpmf,
    tpl_pdf,
    tpl_pmf,
)


def test_pmf_by_hand():
    np.testing.assert_allclose(tpl_pmf(np.array([1, 2]), 2.0, 1, 2), [0.8, 0.2], rtol=1e-15)
    assert tpl_pmf(np.array([0, 3, 1.5]), 2.0, 1, 2).tolist() == [0.0, 0.0, 0.0]  # off support


@pytest.mark.parametrize("alpha", [-1.0, 0.0, 0.5, 1.0, 2.7])
def test_pmf_sums_to_one_and_ccdf_is_its_tail(alpha):
    k = np.arange(3, 501)
    pmf = tpl_pmf(k, alpha, 3, 500)
    assert math.fsum(pmf) == pytest.approx(1.0, rel=1e-13)
    tail = np.cumsum(pmf[::-1])[::-1]  # P(X >= k) by explicit sums
    np.testing.assert_allclose(tpl_ccdf(k, alpha, 3, 500), tail, rtol=1e-11, atol=1e-15)
    assert tpl_ccdf(np.array([1, 3, 501, 10**9]), alpha, 3, 500).tolist() == [1, 1, 0, 0]


def test_logpmf_handles_huge_exponents_without_underflow():
    got = tpl_logpmf(np.array([100, 101]), 700.0, 100, 101)
    expected = np.array([0.0, -700.0 * math.log(1.01)]) - math.log1p(1.01**-700)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize("alpha", [-0.5, 1.0, 2.5])
def test_continuous_pdf_and_ccdf_match_closed_forms(alpha):
    lo, hi = 2.0, 80.0
    x = np.array([2.0, 5.5, 40.0, 80.0])
    if alpha == 1.0:
        norm = math.log(hi / lo)
        ccdf = np.log(hi / x) / norm
    else:
        norm = (hi ** (1 - alpha) - lo ** (1 - alpha)) / (1 - alpha)
        ccdf = (hi ** (1 - alpha) - x ** (1 - alpha)) / (1 - alpha) / norm
    np.testing.assert_allclose(tpl_pdf(x, alpha, lo, hi), x**-alpha / norm, rtol=1e-13)
    np.testing.assert_allclose(
        tpl_ccdf(x, alpha, lo, hi, discrete=False), ccdf, rtol=1e-12, atol=1e-15
    )
    assert tpl_logpdf(np.array([1.0]), alpha, lo, hi)[0] == -np.inf


def test_loglik_is_the_sum_of_logpmf():
    x = np.array([1, 1, 2, 5, 9])
    assert tpl_loglik(x, 1.3, 1, 10) == pytest.approx(np.sum(tpl_logpmf(x, 1.3, 1, 10)), rel=1e-14)
    with pytest.raises(ValueError, match="inside"):
        tpl_loglik(np.array([11]), 1.3, 1, 10)


@pytest.mark.parametrize("alpha", [-0.5, 1.5])
def test_discrete_sampler_follows_the_pmf(alpha):
    k = np.arange(1, 21)
    draws = sample_tpl(20000, alpha, 1, 20, rng=0)
    observed = np.bincount(draws, minlength=21)[1:]
    assert stats.chisquare(observed, 20000 * tpl_pmf(k, alpha, 1, 20)).pvalue > 1e-3


def test_bisection_sampler_equals_the_table(monkeypatch):
    """Ranges beyond the table size are inverted by bisection on the exact CDF: same draws."""
    table = sample_tpl(500, 1.8, 5, 5000, rng=1)
    monkeypatch.setattr(dist, "TABLE_MAX", 10)
    assert np.array_equal(sample_tpl(500, 1.8, 5, 5000, rng=1), table)


def test_continuous_sampler_follows_the_cdf():
    draws = TPLSampler(2.5, 1.0, 1000.0, discrete=False).draw(np.random.default_rng(2), 5000)

    def cdf(t):
        return 1.0 - tpl_ccdf(t, 2.5, 1.0, 1000.0, discrete=False)

    assert stats.kstest(draws, cdf).pvalue > 1e-3


@pytest.mark.parametrize(
    ("args", "match"),
    [
        pytest.param((1.0, 0, 5), "0 < `xmin`", id="xmin zero"),
        pytest.param((1.0, 5, 3), "`xmin` <= `xmax`", id="reversed"),
        pytest.param((np.nan, 1, 5), "finite `alpha`", id="nan alpha"),
        pytest.param((1.0, 1.5, 5), "integer `xmin`", id="non-integer bound"),
    ],
)
def test_bad_parameters_raise(args, match):
    with pytest.raises(ValueError, match=match):
        tpl_pmf(np.array([2]), *args)
