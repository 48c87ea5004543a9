"""The TPL normaliser and its log-moments against brute-force sums (paper eq. 4) and closed forms.

References: ``math.fsum`` of the explicitly computed terms k^-alpha (correctly rounded sums of
terms with one rounding each, i.e. relative error ~1e-16), closed-form integrals, and scipy's
Hurwitz zeta for infinite ranges.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import zeta

from pl_powerlaw.fitting import log_power_sum
from pl_powerlaw.fitting.sums import em_threshold, power_integrals, power_sums, reference_log

ALPHAS = [-2.5, -0.5, 0.0, 0.5, 1.0, 1.0 + 1e-9, 1.5, 2.5, 4.0, 10.0, 40.0]
RANGES = [
    pytest.param(1, 1, id="1..1"),
    pytest.param(1, 3, id="1..3"),
    pytest.param(5, 12, id="5..12"),
    pytest.param(1, 100, id="1..100"),
    pytest.param(7, 1000, id="7..1000"),
    pytest.param(100, 65600, id="100..65600"),
    pytest.param(1, 10**6, id="1..1e6"),
    pytest.param(65600, 65600 * 16, id="65600..1049600"),
]


def brute_sum(alpha: float, lo: int, hi: int, power: int = 0) -> float:
    k = np.arange(lo, hi + 1, dtype=float)
    return math.fsum(k**-alpha * np.log(k) ** power)


@pytest.mark.parametrize(("lo", "hi"), RANGES)
@pytest.mark.parametrize("alpha", ALPHAS)
def test_normaliser_matches_brute_force_sum(alpha, lo, hi):
    got = math.exp(float(log_power_sum(alpha, lo, hi)))
    assert got == pytest.approx(brute_sum(alpha, lo, hi), rel=1e-12)


@pytest.mark.parametrize(
    ("alpha", "lo", "hi"),
    [
        pytest.param(2.3, 3, 500, id="alpha>1"),
        pytest.param(-0.5, 10, 4000, id="negative"),
        pytest.param(1.0, 1, 20, id="alpha=1"),
        pytest.param(0.7, 50, 60, id="short"),
        pytest.param(6.0, 1, 30000, id="steep"),
    ],
)
def test_log_moments_match_brute_force(alpha, lo, hi):
    """S_j = sum (k/m)^-alpha ln(k/m)^j for j = 1, 2, the sums behind the score equation."""
    log_m = float(reference_log(lo, hi, alpha))
    got = power_sums(lo, hi, alpha, log_m, 2)
    k = np.arange(lo, hi + 1, dtype=float)
    ell = np.log(k) - log_m
    terms = np.exp(-alpha * ell)
    for j in range(3):
        assert float(got[j]) == pytest.approx(math.fsum(terms * ell**j), rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("alpha", [1.01, 1.5, 2.0, 3.7, 12.0])
@pytest.mark.parametrize("lo", [1, 7, 1000])
def test_infinite_range_is_hurwitz_zeta(alpha, lo):
    assert math.exp(float(log_power_sum(alpha, lo, np.inf))) == pytest.approx(
        zeta(alpha, lo), rel=1e-12
    )


@pytest.mark.parametrize("alpha", [-1.5, 0.0, 0.3, 1.0, 1.0 - 1e-10, 2.0, 7.5])
@pytest.mark.parametrize(("lo", "hi"), [(0.5, 3.0), (2.0, 2.5), (1.0, 1e6)])
def test_integral_matches_closed_form(alpha, lo, hi):
    """Continuous normaliser of eqs. 2-3: (hi^(1-a) - lo^(1-a)) / (1 - a), ln(hi/lo) at a = 1."""
    if alpha == 1.0:
        expected = math.log(hi / lo)
    else:
        expected = (hi ** (1 - alpha) - lo ** (1 - alpha)) / (1 - alpha)
    got = math.exp(float(log_power_sum(alpha, lo, hi, discrete=False)))
    # The closed form itself loses ~|1-a|^-1 eps near a = 1, hence the looser tolerance there.
    tol = 1e-12 if abs(alpha - 1) > 1e-6 else 1e-6
    assert got == pytest.approx(expected, rel=tol)


def test_integral_log_moments_match_quadrature():
    from scipy.integrate import quad

    lo, hi, alpha = 2.0, 300.0, 1.7
    log_m = math.log(lo)
    got = power_integrals(lo, hi, alpha, log_m, 2)
    for j in range(3):
        ref = quad(
            lambda x, j=j: (x / lo) ** -alpha * math.log(x / lo) ** j,
            lo,
            hi,
            epsabs=0,
            epsrel=1e-13,
            limit=200,
        )[0]
        assert float(got[j]) == pytest.approx(ref, rel=1e-11)


def test_vectorised_call_equals_scalar_calls():
    alpha = np.array([-1.0, 0.5, 2.0, 9.0])
    lo = np.array([1, 3, 10, 2])
    hi = np.array([5, 40000, 11, 700])
    together = log_power_sum(alpha, lo, hi)
    alone = [
        float(log_power_sum(a, a_lo, a_hi)) for a, a_lo, a_hi in zip(alpha, lo, hi, strict=True)
    ]
    np.testing.assert_allclose(together, alone, rtol=1e-14)


def test_threshold_grows_with_exponent_and_vanishes_at_zero():
    values = em_threshold(np.array([0.0, 0.5, 2.0, 10.0, 100.0]))
    assert values[0] == 0.0
    assert np.all(np.diff(values) > 0)
