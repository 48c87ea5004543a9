"""The exact MLE of alpha for a given range against brute-force maximisation, and recovery.

References: scipy.optimize.minimize_scalar on the explicitly summed negative log-likelihood
``alpha sum ln x + n ln sum_k k^-alpha`` (math.fsum), and the score equation evaluated by brute
force; hand-computed closed forms for two-point supports.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from pl_powerlaw.fitting import fit_alpha, fit_truncated_power_law, sample_tpl
from pl_powerlaw.fitting.mle import solve_alpha


def brute_nll(alpha: float, x: np.ndarray, lo: int, hi: int) -> float:
    log_k = np.log(np.arange(lo, hi + 1, dtype=float))
    m = log_k[0] if alpha >= 0 else log_k[-1]
    log_z = -alpha * m + math.log(math.fsum(np.exp(-alpha * (log_k - m))))
    return alpha * math.fsum(np.log(x)) + x.size * log_z


def brute_mean_log(alpha: float, lo: int, hi: int) -> float:
    log_k = np.log(np.arange(lo, hi + 1, dtype=float))
    w = np.exp(-alpha * (log_k - (log_k[0] if alpha >= 0 else log_k[-1])))
    return math.fsum(w * log_k) / math.fsum(w)


@pytest.mark.parametrize(
    ("lo", "hi"),
    [
        pytest.param(5, 7, id="3 values"),
        pytest.param(1, 100, id="100 values"),
        pytest.param(10, 2000, id="1991 values"),
        pytest.param(1, 100_000, id="1e5 values"),
    ],
)
@pytest.mark.parametrize("alpha", [-0.5, 0.5, 1.0, 1.5, 2.5, 4.0])
def test_alpha_matches_brute_force_maximisation(alpha, lo, hi):
    x = sample_tpl(400, alpha, lo, hi, rng=int(100 * alpha) + 1000 + lo)
    got, loglik = fit_alpha(x, lo, hi)
    # The score equation E_alpha[ln X] = mean ln x holds to rounding (brute-force expectation).
    assert brute_mean_log(got, lo, hi) == pytest.approx(np.mean(np.log(x)), rel=1e-12)
    ref = minimize_scalar(brute_nll, bracket=(alpha - 1, alpha + 1), args=(x, lo, hi), tol=1e-12)
    assert got == pytest.approx(ref.x, abs=2e-6)  # the optimiser's own precision
    assert -loglik <= ref.fun + 1e-9  # ours is at least as high a maximum
    assert loglik == pytest.approx(-brute_nll(got, x, lo, hi), rel=1e-12)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        # p(101) / p(100) = (101/100)^-alpha = 1/1000 at the MLE: alpha = ln 1000 / ln 1.01.
        pytest.param((1000, 1), math.log(1000) / math.log(1.01), id="crowded at xmin"),
        pytest.param((1, 1000), -math.log(1000) / math.log(1.01), id="crowded at xmax"),
        pytest.param((1, 1), 0.0, id="balanced"),
    ],
)
def test_two_point_support_has_closed_form(counts, expected):
    x = np.repeat([100, 101], counts)
    got, _ = fit_alpha(x, 100, 101)
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_continuous_alpha_matches_brute_force():
    lo, hi = 2.0, 500.0
    x = sample_tpl(600, 1.3, lo, hi, discrete=False, rng=3)

    def nll(a):
        log_z = math.log(math.log(hi / lo) if a == 1 else (hi ** (1 - a) - lo ** (1 - a)) / (1 - a))
        return a * np.sum(np.log(x)) + x.size * log_z

    got, loglik = fit_alpha(x, lo, hi, discrete=False)
    ref = minimize_scalar(nll, bracket=(0.5, 2.0), tol=1e-12)
    assert got == pytest.approx(ref.x, abs=2e-6)
    assert loglik == pytest.approx(-nll(got), rel=1e-12)


def test_vectorised_solve_equals_single_solves():
    rng = np.random.default_rng(0)
    ranges = [(1, 10), (3, 3000), (50, 60), (2, 200)]
    stats = []
    for lo, hi in ranges:
        x = rng.integers(lo, hi + 1, 50).astype(float)
        stats.append((lo, hi, np.mean(np.log(x / lo)), np.mean(np.log(hi / x))))
    lo, hi, y_lo, y_hi = (np.array(v) for v in zip(*stats, strict=True))
    together = solve_alpha(lo, hi, y_lo, y_hi).alpha
    alone = [solve_alpha(*s).alpha[0] for s in stats]
    np.testing.assert_allclose(together, alone, rtol=1e-13, atol=1e-13)


def test_parameter_recovery_on_a_known_range():
    """alpha from 20000 draws of TPL(2.2, [3, 3000]) lies within 4 standard errors."""
    x = sample_tpl(20000, 2.2, 3, 3000, rng=11)
    got, _ = fit_alpha(x, 3, 3000)
    fit = fit_truncated_power_law(x, xmin=3, xmax=3000)
    assert fit.alpha == pytest.approx(got, rel=1e-12)
    assert abs(got - 2.2) < 4 * fit.alpha_se


@pytest.mark.parametrize(
    ("alpha", "lo", "hi"),
    [pytest.param(0.6, 5, 400, id="shallow"), pytest.param(2.5, 1, 2000, id="steep")],
)
def test_parameter_recovery_with_the_search(alpha, lo, hi):
    """Any sub-range of a TPL is a TPL with the same alpha, so the searched fit recovers it."""
    x = sample_tpl(5000, alpha, lo, hi, rng=5)
    fit = fit_truncated_power_law(x)
    assert not fit.flagged
    assert abs(fit.alpha - alpha) < 4 * fit.alpha_se


def test_fit_alpha_rejects_a_single_value():
    with pytest.raises(ValueError, match="two distinct values"):
        fit_alpha(np.array([4, 4, 4]), 4, 9)
