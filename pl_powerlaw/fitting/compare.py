"""Likelihood-ratio tests of the truncated power law against alternatives (Clauset et al. 2009, §5).

The n_tail values in the fitted [xmin, xmax] are also fitted, by maximum likelihood, with

* ``power_law``: the pure discrete power law p(x) = x^-a / zeta(a, xmin) on [xmin, inf), a > 1
  (no upper cut; Hurwitz zeta and its derivatives from the Euler-Maclaurin sums);
* ``exponential``: the discrete exponential p(x) ~ e^(-lam x) on the integers of [xmin, xmax]
  (any real lam);
* ``lognormal``: the discrete log-normal p(x) ~ exp(-(ln x - mu)^2 / (2 sigma^2)) / x on the
  integers of [xmin, xmax].

With l_i = ln p_TPL(x_i) - ln p_alt(x_i), Vuong's statistic is R = sum l_i, normalised by
sigma sqrt(n) (sigma the standard deviation of the l_i), with two-sided p-value
erfc(|R| / (sigma sqrt(2 n))). R > 0 favours the truncated power law; a small p-value says the
sign of R is not a fluctuation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import brentq, minimize
from scipy.special import erfc, logsumexp

from pl_powerlaw.fitting.distributions import tpl_logpmf
from pl_powerlaw.fitting.result import TPLFit, _plain
from pl_powerlaw.fitting.sums import power_sums

ALTERNATIVES = ("power_law", "exponential", "lognormal")


@dataclass(frozen=True)
class LikelihoodRatioTest:
    """Vuong's test of the truncated power law against one alternative.

    Attributes:
        alternative: ``power_law``, ``exponential`` or ``lognormal``.
        loglik_ratio: R = sum of per-point log-likelihood differences (> 0 favours the TPL).
        normalized_ratio: R / (sigma sqrt(n)); None when all differences are equal.
        p_value: two-sided significance of the sign of R; None when all differences are equal.
        loglik: the alternative's maximised log-likelihood.
        params: the alternative's fitted parameters.
    """

    alternative: str
    loglik_ratio: float
    normalized_ratio: float | None
    p_value: float | None
    loglik: float
    params: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict (no NaN)."""
        out = {
            key: _plain(getattr(self, key))
            for key in ("alternative", "loglik_ratio", "normalized_ratio", "p_value", "loglik")
        }
        out["params"] = {key: _plain(value) for key, value in self.params.items()}
        return out


def _expand_root(func, start: float, step: float, lower: float = -math.inf) -> float:
    """Root of a decreasing ``func`` (above ``lower``): widen a bracket, then Brent's method."""
    a, fa = start, func(start)
    width = step
    while fa != 0:
        if fa > 0:
            b = a + width
        else:
            b = a - width if lower == -math.inf else lower + (a - lower) / 2
        fb = func(b)
        if fb == 0 or (fb > 0) != (fa > 0):
            return brentq(func, min(a, b), max(a, b), xtol=1e-14, rtol=1e-15, maxiter=500)
        a, fa = b, fb
        width *= 2
    return a


def fit_power_law(x: np.ndarray, xmin: int) -> tuple[float, np.ndarray]:
    """MLE of the discrete power law on [xmin, inf); returns a and the per-point log-pmf."""
    y_lo = float(np.mean(np.log(x / xmin)))

    def moments(a):
        (s0, s1) = power_sums(float(xmin), np.inf, a, math.log(xmin), 1)
        return float(s0), float(s1)

    def score(a):  # ln(E ln(X/xmin)) - ln(mean ln(x/xmin)), decreasing in a
        s0, s1 = moments(a)
        return math.log(s1 / s0) - math.log(y_lo)

    a = _expand_root(score, 2.0, 0.5, lower=1.0)
    s0, _ = moments(a)
    log_zeta = -a * math.log(xmin) + math.log(s0)
    return a, -a * np.log(x) - log_zeta


def _geometric_log_norm(lam: float, n_values: int) -> float:
    """ln sum_{k=0}^{N-1} e^(-lam k)."""
    if lam == 0:
        return math.log(n_values)
    if lam < 0:
        return -lam * (n_values - 1) + _geometric_log_norm(-lam, n_values)
    return math.log(-math.expm1(-lam * n_values)) - math.log(-math.expm1(-lam))


def _geometric_mean(lam: float, n_values: int) -> float:
    """E[k] of p(k) ~ e^(-lam k) on k = 0..N-1 (decreasing in lam)."""
    if lam < 0:
        return (n_values - 1) - _geometric_mean(-lam, n_values)
    if lam * n_values < 1e-4:  # series: no cancellation near lam = 0
        return (n_values - 1) / 2 - lam * (n_values * n_values - 1) / 12
    return 1.0 / math.expm1(lam) - n_values / math.expm1(lam * n_values)


def fit_exponential(x: np.ndarray, xmin: int, xmax: int) -> tuple[float, np.ndarray]:
    """MLE of the discrete exponential on [xmin, xmax]; returns lam and the per-point log-pmf."""
    n_values = int(xmax - xmin + 1)
    k = x - xmin
    target = float(np.mean(k))
    scale = 1.0 / max(target, 1.0)
    lam = _expand_root(lambda t: _geometric_mean(t, n_values) - target, 0.0, scale)
    return lam, -lam * k - _geometric_log_norm(lam, n_values)


def fit_lognormal(x: np.ndarray, xmin: int, xmax: int) -> tuple[dict[str, float], np.ndarray]:
    """MLE of the discrete log-normal on [xmin, xmax] (L-BFGS on mu, ln sigma).

    Returns:
        ``{"mu", "sigma", "converged"}`` and the per-point log-pmf.
    """
    support = np.log(np.arange(xmin, xmax + 1, dtype=float))
    lx = np.log(x)
    n = x.size

    def log_terms(mu, sigma, ell):
        return -ell - (ell - mu) ** 2 / (2 * sigma * sigma)

    def nll(theta):
        mu, sigma = theta[0], math.exp(theta[1])
        terms = log_terms(mu, sigma, support)
        log_z = logsumexp(terms)
        w = np.exp(terms - log_z)
        u = (support - mu) / sigma
        ux = (lx - mu) / sigma
        value = -np.sum(log_terms(mu, sigma, lx)) + n * log_z
        grad_mu = -np.sum(ux) / sigma + n * np.sum(w * u) / sigma
        grad_tau = -np.sum(ux * ux) + n * np.sum(w * u * u)
        return value, np.array([grad_mu, grad_tau])

    start = np.array([lx.mean(), math.log(max(lx.std(), 0.1))])
    res = minimize(
        nll,
        start,
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 1000, "ftol": 1e-15, "gtol": 1e-9},
    )
    mu, sigma = float(res.x[0]), float(math.exp(res.x[1]))
    terms = log_terms(mu, sigma, lx) - logsumexp(log_terms(mu, sigma, support))
    return {"mu": mu, "sigma": sigma, "converged": float(res.success)}, terms


def vuong(log_ratio: np.ndarray) -> tuple[float, float | None, float | None]:
    """Vuong's R, its normalised value and two-sided p-value (Clauset et al. 2009, App. C)."""
    n = log_ratio.size
    ratio = float(np.sum(log_ratio))
    sigma = float(np.std(log_ratio))
    if n == 0 or sigma <= 1e-14 * max(1.0, float(np.max(np.abs(log_ratio)))):
        return ratio, None, None
    normalized = ratio / (sigma * math.sqrt(n))
    return ratio, normalized, float(erfc(abs(normalized) / math.sqrt(2)))


def compare_alternatives(
    x: np.ndarray, fit: TPLFit | dict, alternatives: Sequence[str] = ALTERNATIVES
) -> dict[str, LikelihoodRatioTest]:
    """Likelihood-ratio tests of a discrete truncated power-law fit against alternatives.

    Args:
        x: the data the fit was made on (values outside [xmin, xmax] are ignored).
        fit: the fit (:class:`TPLFit` or its ``as_dict()``), discrete and not flagged.
        alternatives: any of ``power_law``, ``exponential``, ``lognormal``.

    Returns:
        One :class:`LikelihoodRatioTest` per alternative, keyed by its name.

    Raises:
        ValueError: if the fit is flagged or continuous, or an alternative is unknown.

    Example:
        >>> from pl_powerlaw.fitting import fit_truncated_power_law, sample_tpl
        >>> x = sample_tpl(3000, 1.5, 1, 1000, rng=0)
        >>> tests = compare_alternatives(x, fit_truncated_power_law(x))
        >>> tests["exponential"].loglik_ratio > 0
        True
    """
    fit = TPLFit.from_dict(fit) if isinstance(fit, dict) else fit
    if fit.flagged or fit.alpha is None:
        raise ValueError(f"Expected a fit that is not flagged but got reason {fit.reason!r}")
    if not fit.discrete:
        raise ValueError("Expected a discrete fit (discrete=True) but got a continuous one")
    unknown = [name for name in alternatives if name not in ALTERNATIVES]
    if unknown:
        raise ValueError(f"Expected alternatives among {ALTERNATIVES} but got {unknown}")
    x = np.asarray(x, dtype=float)
    tail = x[(x >= fit.xmin) & (x <= fit.xmax)]
    xmin, xmax = int(fit.xmin), int(fit.xmax)
    tpl = tpl_logpmf(tail, fit.alpha, xmin, xmax)
    out = {}
    for name in alternatives:
        if name == "power_law":
            a, alt = fit_power_law(tail, xmin)
            params = {"alpha": a}
        elif name == "exponential":
            lam, alt = fit_exponential(tail, xmin, xmax)
            params = {"lambda": lam}
        else:
            params, alt = fit_lognormal(tail, xmin, xmax)
        ratio, normalized, p = vuong(tpl - alt)
        out[name] = LikelihoodRatioTest(name, ratio, normalized, p, float(np.sum(alt)), params)
    return out
