"""Likelihood-ratio tests against a pure power law, an exponential and a log-normal.

References: scipy.optimize maximisation of each alternative's explicitly summed likelihood
(scipy.special.zeta for the power law's normaliser), Vuong's formula worked by hand, and data
drawn from each family, whose own model must be preferred.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.optimize import minimize, minimize_scalar
from scipy.special import logsumexp, zeta

from pl_powerlaw.fitting import compare_alternatives, fit_truncated_power_law, sample_tpl
from pl_powerlaw.fitting.compare import fit_exponential, fit_lognormal, fit_power_law, vuong


def test_power_law_alpha_matches_scipy_zeta_maximisation():
    x = sample_tpl(2000, 2.3, 4, 10**6, rng=0)
    alpha, logpmf = fit_power_law(x, 4)

    def nll(a):
        return a * np.sum(np.log(x)) + x.size * math.log(zeta(a, 4))

    ref = minimize_scalar(nll, bounds=(1.01, 6.0), method="bounded", options={"xatol": 1e-10})
    assert alpha == pytest.approx(ref.x, abs=1e-6)
    assert np.sum(logpmf) == pytest.approx(-nll(alpha), rel=1e-12)


@pytest.mark.parametrize("lam", [-0.05, 0.0, 0.2])
def test_exponential_lambda_matches_brute_force(lam):
    k = np.arange(10, 61)
    p = np.exp(-lam * k)
    x = np.random.default_rng(1).choice(k, 500, p=p / p.sum()).astype(float)
    got, logpmf = fit_exponential(x, 10, 60)

    def nll(t):
        return t * np.sum(x) + x.size * logsumexp(-t * k)

    ref = minimize_scalar(nll, bracket=(-0.5, 0.5), tol=1e-12)
    assert got == pytest.approx(ref.x, abs=1e-6)
    assert np.sum(logpmf) == pytest.approx(-nll(got), rel=1e-10)


def test_lognormal_matches_brute_force():
    k = np.arange(5, 401)
    p = np.exp(-((np.log(k) - 3.5) ** 2) / (2 * 0.5**2)) / k
    x = np.random.default_rng(2).choice(k, 800, p=p / p.sum()).astype(float)
    params, logpmf = fit_lognormal(x, 5, 400)
    lk = np.log(k)

    def nll(theta):
        mu, sigma = theta
        terms = -lk - (lk - mu) ** 2 / (2 * sigma**2)
        lx = np.log(x)
        return np.sum(lx + (lx - mu) ** 2 / (2 * sigma**2)) + x.size * logsumexp(terms)

    ref = minimize(nll, [3.0, 0.7], method="Nelder-Mead", options={"xatol": 1e-9, "fatol": 1e-12})
    assert params["mu"] == pytest.approx(ref.x[0], abs=1e-4)
    assert params["sigma"] == pytest.approx(ref.x[1], abs=1e-4)
    assert -np.sum(logpmf) <= ref.fun + 1e-7


def test_vuong_by_hand():
    # l = [1, 2, 3, 6]: R = 12, sigma = sqrt(3.5), R / (sigma sqrt(4)) = 12 / (2 sqrt(3.5)).
    ratio, normalized, p = vuong(np.array([1.0, 2.0, 3.0, 6.0]))
    assert ratio == 12.0
    assert normalized == pytest.approx(6 / math.sqrt(3.5), rel=1e-14)
    assert p == pytest.approx(math.erfc(normalized / math.sqrt(2)), rel=1e-14)
    assert vuong(np.full(5, 0.3))[1:] == (None, None)  # equal differences: no test


def test_truncated_data_prefer_the_truncated_power_law():
    x = sample_tpl(3000, 1.2, 1, 100, rng=3)  # a sharp cut at 100
    tests = compare_alternatives(x, fit_truncated_power_law(x, xmin=1, xmax=100))
    assert tests["power_law"].loglik_ratio > 0 and tests["power_law"].p_value < 1e-3
    assert tests["exponential"].loglik_ratio > 0 and tests["exponential"].p_value < 1e-3
    json.dumps({k: t.as_dict() for k, t in tests.items()}, allow_nan=False)


def test_geometric_data_prefer_the_exponential():
    x = np.random.default_rng(4).geometric(0.05, 3000) + 20
    fit = fit_truncated_power_law(x, xmin=21, xmax=int(x.max()))
    test = compare_alternatives(x, fit, ["exponential"])["exponential"]
    assert test.loglik_ratio < 0 and test.p_value < 1e-3


def test_flagged_or_continuous_fits_are_refused():
    flagged = fit_truncated_power_law(np.zeros(5))
    with pytest.raises(ValueError, match="not flagged"):
        compare_alternatives(np.zeros(5), flagged)
    x = sample_tpl(200, 1.5, 1.0, 30.0, discrete=False, rng=0)
    with pytest.raises(ValueError, match="discrete fit"):
        compare_alternatives(x, fit_truncated_power_law(x, discrete=False))
    with pytest.raises(ValueError, match="alternatives among"):
        compare_alternatives(x, fit_truncated_power_law(np.round(x) + 1), ["weibull"])


def test_dict_fits_are_accepted():
    x = sample_tpl(500, 1.8, 1, 200, rng=5)
    fit = fit_truncated_power_law(x)
    assert compare_alternatives(x, fit.as_dict()) == compare_alternatives(x, fit)


@pytest.mark.parametrize("seed", [0, 1])
def test_lognormal_on_a_narrow_range_far_from_one(seed):
    """ln k spans 0.05 here: (mu, sigma) may run off to infinity, where the log-normal becomes the
    truncated power law k^(c1 - 1). Its supremum is then exactly the TPL's maximum likelihood
    (seed 0); inside (seed 1) it can only be higher, the TPL being its limit."""
    x = sample_tpl(1500, 1.5, 100_000, 105_000, rng=seed).astype(float)
    params, logpmf = fit_lognormal(x, 100_000, 105_000)
    tpl = fit_truncated_power_law(x, xmin=100_000, xmax=105_000).loglik
    assert params["converged"] == 1.0
    if seed == 0:
        assert params["sigma"] == math.inf and params["mu"] == math.inf
        assert np.sum(logpmf) == pytest.approx(tpl, rel=1e-12)
        test = compare_alternatives(x, fit_truncated_power_law(x, xmin=100_000, xmax=105_000))
        assert test["lognormal"].as_dict()["params"]["sigma"] is None  # JSON: no infinity
    else:
        assert math.isfinite(params["sigma"]) and np.sum(logpmf) >= tpl
