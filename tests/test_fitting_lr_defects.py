"""Regression tests of the likelihood-ratio tests: fair comparisons, boundary fits, no overflow,
no materialised support, no silent input changes, stable p-values near coincidence.

References: numpy's exact Zipf sampler (a pure discrete power law) and the binomial law of the
number of rejections of a test of size 0.05; brute-force likelihoods maximised by scipy.optimize;
chunked term-by-term sums; tracemalloc for the memory a call allocates.
"""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest
from scipy.optimize import minimize, minimize_scalar
from scipy.special import erfc, logsumexp

from pl_powerlaw.fitting import compare_alternatives, fit_truncated_power_law, sample_tpl


def test_untruncated_power_law_does_not_make_the_cutoff_win():
    """Zipf data have no cut-off: the TPL may beat the power law at p < 0.05 in about 5 % of
    samples. Under that size the count over 40 samples is Binomial(40, 0.05), P(>= 7) = 0.003."""
    wins = 0
    for seed in range(40):
        x = np.random.default_rng(seed).zipf(2.5, 1000)
        test = compare_alternatives(x, fit_truncated_power_law(x), ["power_law"])["power_law"]
        assert test.loglik_ratio >= 0  # the TPL with a fitted cut-off contains the power law
        wins += test.p_value < 0.05
    assert wins <= 6


def test_sharply_truncated_data_still_reject_the_power_law():
    x = sample_tpl(2000, 1.5, 1, 60, rng=1)
    test = compare_alternatives(x, fit_truncated_power_law(x), ["power_law"])["power_law"]
    assert test.p_value < 1e-6 and test.preferred() == "truncated_power_law"


def test_lognormal_example_from_the_boundary_reaches_the_tpl():
    x = sample_tpl(500, 0.5, 1, 100, rng=0)
    fit = fit_truncated_power_law(x)
    test = compare_alternatives(x, fit, ["lognormal"])["lognormal"]
    assert test.params["converged"] == 1.0
    assert test.loglik >= fit.loglik - 1e-9 * abs(fit.loglik)
    assert test.loglik_ratio <= 1e-9 * abs(fit.loglik)


@pytest.mark.parametrize("alpha", [-1.0, 0.5, 1.5, 2.5])
def test_lognormal_loglik_is_never_below_the_tpl(alpha):
    """The log-normal family contains the TPL (c2 = 0), so its maximum is at least the TPL's."""
    for seed in range(15):
        x = sample_tpl(400, alpha, 2, 150, rng=seed)
        fit = fit_truncated_power_law(x)
        if fit.flagged:
            continue
        test = compare_alternatives(x, fit, ["lognormal"])["lognormal"]
        assert test.loglik >= fit.loglik - 1e-9 * abs(fit.loglik), (alpha, seed)
        assert test.params["converged"] == 1.0


def test_exponential_fit_does_not_overflow():
    x = np.array([1] * 980 + [2] * 10 + [3] * 5 + [4] * 4 + [10000])
    fit = fit_truncated_power_law(x, xmin=1, xmax=10000)
    test = compare_alternatives(x, fit, ["exponential"])["exponential"]
    k = np.arange(1, 10001)

    def nll(t):
        return t * np.sum(x) + x.size * logsumexp(-t * k)

    ref = minimize_scalar(nll, bracket=(0.5, 5.0), tol=1e-12)
    assert test.params["lambda"] == pytest.approx(ref.x, rel=1e-6)
    assert test.loglik == pytest.approx(-ref.fun, rel=1e-10)
    assert math.isfinite(test.loglik_ratio) and 0 <= test.p_value <= 1


def _peak_mib(func):
    tracemalloc.start()
    try:
        func()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def test_lognormal_does_not_allocate_its_support():
    """10^7 integers would need 76 MiB per float array; the sums must not materialise them."""
    x = sample_tpl(3000, 1.4, 1, 10**7, rng=2)
    fit = fit_truncated_power_law(x, xmin=1, xmax=10**7)
    assert _peak_mib(lambda: compare_alternatives(x, fit, ["lognormal"])) < 20


@pytest.mark.parametrize("xmax", [130_000_000, 1_000_000_000])
def test_lognormal_on_conv_sized_ranges(xmax):
    """Degrees of big conv layers reach 1e9: bounded memory, and the fitted log-normal's score
    (data moments of ln x and ln^2 x minus the model's, by chunked sums over the support)
    vanishes at the returned parameters."""
    rng = np.random.default_rng(3)
    x = np.floor(np.exp(rng.normal(10.0, 2.0, 2000)))
    x = x[(x >= 1) & (x <= xmax)]
    x[0], x[1] = 1, xmax  # the range is all of [1, xmax]
    fit = fit_truncated_power_law(x, xmin=1, xmax=xmax)
    tests = {}
    assert _peak_mib(lambda: tests.update(compare_alternatives(x, fit, ["lognormal"]))) < 20
    mu, sigma = tests["lognormal"].params["mu"], tests["lognormal"].params["sigma"]
    if xmax > 2e8:
        return  # a billion terms by brute force is too slow for the test suite
    z = s1 = s2 = 0.0
    for start in range(1, xmax + 1, 1 << 23):
        t = np.log(np.arange(start, min(xmax, start + (1 << 23) - 1) + 1, dtype=float))
        w = np.exp(-((t - mu) ** 2) / (2 * sigma**2) - t)
        z, s1, s2 = z + w.sum(), s1 + (w * t).sum(), s2 + (w * t * t).sum()
    lx = np.log(x)
    assert s1 / z == pytest.approx(lx.mean(), rel=1e-8)
    assert s2 / z == pytest.approx((lx * lx).mean(), rel=1e-8)


@pytest.mark.parametrize(("imag", "named"), [(0.0, r"\(1\+0j\) at index 0"), (1e-3, "index 5")])
def test_complex_input_is_an_error(imag, named):
    """Even zero imaginary parts: numpy would drop them with a mere warning. The message names
    the first value with an imaginary part (else the first value)."""
    data = np.arange(1, 40).astype(complex)
    data[5] += imag * 1j
    with pytest.raises(ValueError, match=r"real numbers but got the complex value .*" + named):
        fit_truncated_power_law(data)
    fit = fit_truncated_power_law(np.arange(1, 40))
    with pytest.raises(ValueError, match="real numbers but got the complex value"):
        compare_alternatives(data, fit)


def test_integers_beyond_two_to_the_53_are_an_error():
    x = np.array([2**60 + i for i in range(22)], dtype=np.int64)
    with pytest.raises(ValueError, match=r"at most 2\*\*53 .* but got 1152921504606846976 at"):
        fit_truncated_power_law(x)
    small = np.arange(1, 60)
    fit = fit_truncated_power_law(small)
    with pytest.raises(ValueError, match=r"2\*\*53"):
        compare_alternatives(np.append(small, 2**53 + 1), fit)
    exact = fit_truncated_power_law(np.array([2**53 - 3 * i for i in range(30)], dtype=np.int64))
    assert exact.n_distinct > 1  # 2**53 itself is still exact


def _careful_lognormal_gain(x, xmin, xmax):
    """max over (c1, c2 <= 0) of the log-normal log-likelihood minus the TPL's, by Nelder-Mead on
    directly summed likelihoods (standardised ln k, so the two parameters are comparable). The
    likelihood is concave in (c1, c2), so an unconstrained optimum at c2 > 0 puts the constrained
    one on the boundary c2 = 0: the TPL itself, gain 0."""
    k = np.arange(xmin, xmax + 1, dtype=float)
    lk, lx = np.log(k), np.log(x)
    m, s = lx.mean(), lx.std()
    u, ux = (lk - m) / s, (lx - m) / s

    def nll(d):
        data = np.sum(d[0] * ux + d[1] * ux * ux - lx)
        return x.size * logsumexp(d[0] * u + d[1] * u * u - lk) - data

    tpl = minimize_scalar(lambda d1: nll((d1, 0.0)), bracket=(-3, 3), tol=1e-12)
    options = {"xatol": 1e-12, "fatol": 1e-13, "maxiter": 20_000}
    best = minimize(nll, [tpl.x, 0.0], method="Nelder-Mead", options=options)
    return 0.0 if best.x[1] > 0 else max(tpl.fun - best.fun, 0.0)


@pytest.mark.parametrize("seed", range(6))
def test_lognormal_p_value_is_stable_where_the_two_nearly_coincide(seed):
    """TPL data: the log-normal optimum sits on or near its boundary. The p-value must follow
    from the likelihood gain alone (chi-bar-square), as a careful independent fit gives it."""
    x = sample_tpl(800, 1.2, 1, 400, rng=seed)
    fit = fit_truncated_power_law(x, xmin=1, xmax=400)
    test = compare_alternatives(x, fit, ["lognormal"])["lognormal"]
    gain = _careful_lognormal_gain(x.astype(float), 1, 400)
    expected = 1.0 if gain <= 1e-9 else 0.5 * erfc(math.sqrt(gain))
    assert -test.loglik_ratio == pytest.approx(gain, abs=1e-6)
    if gain > 1e-6:
        assert test.p_value == pytest.approx(expected, abs=2e-3)
    else:
        assert test.p_value >= 0.49


@pytest.mark.parametrize("seed", range(3))
def test_lognormal_gain_matches_a_careful_fit_on_binomial_humps(seed):
    """Binomial(1024, 0.1) degrees: a hump, where the log-normal is strictly inside its family."""
    x = np.random.default_rng(seed).binomial(1024, 0.1, 1024)
    fit = fit_truncated_power_law(x)
    test = compare_alternatives(x, fit, ["lognormal"])["lognormal"]
    tail = x[(x >= fit.xmin) & (x <= fit.xmax)].astype(float)
    gain = _careful_lognormal_gain(tail, fit.xmin, fit.xmax)
    assert gain > 0.01 and -test.loglik_ratio == pytest.approx(gain, abs=1e-7)
    assert test.p_value == pytest.approx(0.5 * erfc(math.sqrt(gain)), rel=1e-6)
