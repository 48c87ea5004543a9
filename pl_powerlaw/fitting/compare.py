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
from scipy.optimize import brentq
from scipy.special import erfc

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


def _lognormal_moments(
    d: np.ndarray, powers: np.ndarray, base: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    """ln Z, E[(u, u^2)] and Cov[(u, u^2)] of p(k) ~ exp(d1 u_k + d2 u_k^2 + base_k).

    ``powers`` holds u, u^2, u^3, u^4 over the support as rows.
    """
    a = d[0] * powers[0] + d[1] * powers[1] + base
    top = float(np.max(a))
    w = np.exp(a - top)
    total = float(np.sum(w))
    m1, m2, m3, m4 = (powers @ w) / total
    mean = np.array([m1, m2])
    cov = np.array([[m2 - m1 * m1, m3 - m1 * m2], [m3 - m1 * m2, m4 - m2 * m2]])
    return top + math.log(total), mean, cov


def fit_lognormal(x: np.ndarray, xmin: int, xmax: int) -> tuple[dict[str, float], np.ndarray]:
    """MLE of the discrete log-normal p(k) ~ exp(-(ln k - mu)^2 / (2 sigma^2)) / k on [xmin, xmax].

    On a finite support this is an exponential family in (ln k, ln^2 k) with natural parameters
    c1 = mu / sigma^2 and c2 = -1 / (2 sigma^2) < 0, so the negative log-likelihood is convex in
    (c1, c2). A damped Newton method on standardised coordinates (u = (ln k - m) / s over the
    support) converges in a few steps, also where (mu, sigma) run off to huge values on a narrow
    range far from 1 (L-BFGS on (mu, ln sigma) needed hundreds of passes over a 4e5-value support
    there). The supremum can lie at c2 = 0 (sigma = inf): the log-normal then degenerates into
    the truncated power law k^(c1 - 1) and ``mu`` and ``sigma`` are reported as inf.

    Returns:
        ``{"mu", "sigma", "converged"}`` and the per-point log-pmf.
    """
    support = np.log(np.arange(xmin, xmax + 1, dtype=float))
    centre, scale = float(support.mean()), float(support.std())
    if scale == 0:
        raise ValueError(f"Expected a support of several values but got [{xmin}, {xmax}]")
    u = (support - centre) / scale
    powers = np.vstack([u, u * u, u**3, u**4])
    ux = (np.log(x) - centre) / scale
    n = x.size
    stats = np.array([ux.sum(), (ux * ux).sum()])

    def objective(d):
        log_z, mean, cov = _lognormal_moments(d, powers, -support)
        return n * log_z - d @ stats, n * mean - stats, n * cov

    var = float(np.var(ux))  # start: the untruncated moment match, kept inside c2 < 0
    d = np.array([float(np.mean(ux)) / max(var, 1e-3), -0.5 / max(var, 1e-3)])
    value, grad, hess = objective(d)
    converged = False
    for _ in range(200):
        free = d[1] < 0 or grad[1] > 0  # on the boundary d2 = 0 and pushing outwards: fix d2
        if free:
            step = -np.linalg.lstsq(hess, grad, rcond=None)[0]
        else:
            step = np.array([-grad[0] / hess[0, 0] if hess[0, 0] > 0 else 0.0, 0.0])
        decrement = float(-grad @ step)
        if decrement <= 1e-18 * max(1.0, abs(value)):
            converged = True
            break
        t = 1.0
        if step[1] > 0:  # do not cross c2 = 0
            t = min(1.0, -d[1] / step[1])
        for _ in range(60):  # backtracking (Armijo)
            trial = d + t * step
            trial[1] = min(trial[1], 0.0)
            t_value, t_grad, t_hess = objective(trial)
            if t_value <= value - 1e-4 * t * decrement:
                break
            t *= 0.5
        else:
            converged = True  # no decrease left at machine precision
            break
        d, value, grad, hess = trial, t_value, t_grad, t_hess
    c2 = d[1] / scale**2
    c1 = d[0] / scale - 2.0 * c2 * centre
    if c2 < 0:
        sigma2 = -0.5 / c2
        mu, sigma = c1 * sigma2, math.sqrt(sigma2)
    else:
        mu = sigma = math.inf
    log_z = _lognormal_moments(d, powers, -support)[0]
    terms = d[0] * ux + d[1] * ux * ux - np.log(x) - log_z
    return {"mu": float(mu), "sigma": float(sigma), "converged": float(converged)}, terms


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
