"""Likelihood-ratio tests of the truncated power law (TPL) against alternatives (Clauset, Shalizi
& Newman 2009, Sec. 5 and App. C), each pair scored on the same observations and support:

* ``power_law`` (nested: the TPL's cut-off going to infinity): all values x >= xmin, the pure
  discrete power law on [xmin, inf) against the TPL on [xmin, c] with its cut-off c fitted (the
  largest value); a support end-point, tested with the parametric-bootstrap calibrated
  end-point law of :mod:`pl_powerlaw.fitting.nested`. Null: the power law.
* ``exponential`` (not nested): the values in the fitted [xmin, xmax], the discrete exponential
  p(x) ~ e^(-lam x) on the integers of [xmin, xmax] (any real lam), by Vuong's (1989) test.
  Null: both fit equally well.
* ``lognormal`` (nested: the TPL is the boundary c2 = 0 of the family, see
  :mod:`pl_powerlaw.fitting.lognormal`): the values in [xmin, xmax], the discrete log-normal on
  the same integers; chi-bar-square likelihood-ratio test (Self & Liang 1987), exact in the
  limit for a fixed range and conservative on the range the KS search picked (measured size
  0.3-2 % at 5 %, see :mod:`pl_powerlaw.fitting.nested`). Null: the TPL.

Sign convention, kept for every pair: R = l_TPL - l_alternative, so R > 0 favours the TPL. For
the nested pairs the larger model always has the higher likelihood (R >= 0 against the power
law, R <= 0 against the log-normal) and only the p-value says whether its extra parameter is
needed. Vuong's statistic: with l_i = ln p_TPL(x_i) - ln p_alt(x_i), z = R / (sigma sqrt(n))
(sigma the standard deviation of the l_i; Vuong 1989, eq. 5.6) and the two-sided p-value
erfc(|z| / sqrt 2) of the sign of R.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import brentq
from scipy.special import erfc

from pl_powerlaw.fitting.checks import check_data
from pl_powerlaw.fitting.distributions import tpl_logpmf
from pl_powerlaw.fitting.lognormal import lognormal_mle
from pl_powerlaw.fitting.nested import (
    PL_BOOT,
    _power_law_loglik,
    chi_bar_square_p,
    power_law_alpha,
    power_law_test,
)
from pl_powerlaw.fitting.result import TPLFit, _plain

ALTERNATIVES = ("power_law", "exponential", "lognormal")
LEVEL = 0.05  # the level of :meth:`LikelihoodRatioTest.preferred` in ``as_dict``
TPL = "truncated_power_law"


@dataclass(frozen=True)
class LikelihoodRatioTest:
    """A likelihood-ratio test of the truncated power law against one alternative.

    Attributes:
        alternative: ``power_law``, ``exponential`` or ``lognormal``.
        loglik_ratio: R = l_TPL - l_alternative on the compared observations (> 0 favours the
            TPL).
        normalized_ratio: Vuong's z = R / (sigma sqrt(n)); None for nested pairs or when all
            per-point differences are equal.
        p_value: Vuong: two-sided significance of the sign of R; nested: the probability under
            the null model of a likelihood ratio at least as large. None when undefined.
        loglik: the alternative's maximised log-likelihood.
        params: the alternative's fitted parameters.
        method: ``vuong``, ``chi-bar-square`` or ``bootstrap-endpoint``.
        nested: whether one model contains the other.
        null: the model of the null hypothesis (None for Vuong's test: "equally good").
        statistic: the test statistic: Vuong's z, or 2 |R| for the nested pairs.
        df: degrees of freedom of the chi-square part of the null law (None if not chi-square).
        n: number of observations compared.
        loglik_tpl: the TPL's log-likelihood on those observations (against the power law: the
            TPL with its cut-off at the largest value).
    """

    alternative: str
    loglik_ratio: float
    normalized_ratio: float | None
    p_value: float | None
    loglik: float
    params: dict[str, Any] = field(default_factory=dict)
    method: str = "vuong"
    nested: bool = False
    null: str | None = None
    statistic: float | None = None
    df: int | None = None
    n: int = 0
    loglik_tpl: float | None = None

    def preferred(self, level: float = LEVEL) -> str | None:
        """The model the test supports at ``level``.

        Nested pairs: the larger model if the null is rejected, else the null (parsimony: the
        extra parameter is not needed). Vuong: the model the sign of R favours if p < level,
        else None (the data cannot tell them apart).
        """
        if self.p_value is None:
            return None
        rejected = self.p_value < level
        if self.nested:
            larger = TPL if self.null == "power_law" else self.alternative
            return larger if rejected else self.null
        if not rejected:
            return None
        return TPL if self.loglik_ratio > 0 else self.alternative

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict (plain Python types, no NaN or infinity), with ``preferred`` at LEVEL."""
        keys = ("alternative", "loglik_ratio", "normalized_ratio", "p_value", "loglik", "method")
        keys += ("nested", "null", "statistic", "df", "n", "loglik_tpl")
        out = {key: _plain(getattr(self, key)) for key in keys}
        out["params"] = {key: _plain(value) for key, value in self.params.items()}
        out["preferred"] = self.preferred(LEVEL)
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
    x = np.asarray(x, dtype=float)
    y = float(np.mean(np.log(x / xmin)))
    a = float(power_law_alpha(float(xmin), np.array([y]))[0])
    log_zeta_scaled = -float(_power_law_loglik(float(xmin), np.array([a]), 1, np.array([0.0]))[0])
    return a, -a * np.log(x / xmin) - log_zeta_scaled


def _geometric_log_norm(lam: float, n_values: int) -> float:
    """ln sum_{k=0}^{N-1} e^(-lam k)."""
    if lam == 0:
        return math.log(n_values)
    if lam < 0:
        return -lam * (n_values - 1) + _geometric_log_norm(-lam, n_values)
    return math.log(-math.expm1(-lam * n_values)) - math.log(-math.expm1(-lam))


def _geometric_mean(lam: float, n_values: int) -> float:
    """E[k] of p(k) ~ e^(-lam k) on k = 0..N-1 (decreasing in lam); no overflow for any lam."""
    if lam < 0:
        return (n_values - 1) - _geometric_mean(-lam, n_values)
    if lam * n_values < 1e-4:  # series: no cancellation near lam = 0
        return (n_values - 1) / 2 - lam * (n_values * n_values - 1) / 12
    # 1 / (e^lam - 1) - N / (e^(lam N) - 1), both written with e^-lam so nothing overflows
    first = math.exp(-lam) / -math.expm1(-lam)
    return first - n_values * math.exp(-lam * n_values) / -math.expm1(-lam * n_values)


def fit_exponential(x: np.ndarray, xmin: int, xmax: int) -> tuple[float, np.ndarray]:
    """MLE of the discrete exponential on [xmin, xmax]; returns lam and the per-point log-pmf."""
    n_values = int(xmax - xmin + 1)
    k = np.asarray(x, dtype=float) - xmin
    target = float(np.mean(k))
    scale = 1.0 / max(target, 1.0)
    lam = _expand_root(lambda t: _geometric_mean(t, n_values) - target, 0.0, scale)
    return lam, -lam * k - _geometric_log_norm(lam, n_values)


def fit_lognormal(x: np.ndarray, xmin: int, xmax: int) -> tuple[dict[str, float], np.ndarray]:
    """MLE of the discrete log-normal on [xmin, xmax] (:func:`~.lognormal.lognormal_mle`).

    Returns:
        ``{"mu", "sigma", "converged"}`` (mu = sigma = inf when the MLE is the TPL) and the
        per-point log-pmf.
    """
    fit = lognormal_mle(np.asarray(x, dtype=float), xmin, xmax)
    return {"mu": fit.mu, "sigma": fit.sigma, "converged": float(fit.converged)}, fit.logpmf


def vuong(log_ratio: np.ndarray) -> tuple[float, float | None, float | None]:
    """Vuong's R, its normalised value and two-sided p-value (Vuong 1989, eq. 5.6)."""
    n = log_ratio.size
    ratio = float(np.sum(log_ratio))
    sigma = float(np.std(log_ratio)) if n else 0.0
    if n == 0 or sigma <= 1e-14 * max(1.0, float(np.max(np.abs(log_ratio)))):
        return ratio, None, None
    normalized = ratio / (sigma * math.sqrt(n))
    return ratio, normalized, float(erfc(abs(normalized) / math.sqrt(2)))


def _power_law(values: np.ndarray, xmin: int, n_boot: int, seed: int | None):
    above = values[values >= xmin]
    res = power_law_test(above, xmin, n_boot, seed)
    params = {key: res[key] for key in ("alpha", "alpha_cutoff", "cutoff", "scale")}
    return LikelihoodRatioTest(
        "power_law", res["ratio"], None, res["p_value"], res["loglik"], params,
        method="bootstrap-endpoint", nested=True, null="power_law", statistic=2 * res["ratio"],
        n=int(above.size), loglik_tpl=res["loglik_cutoff"],
    )  # fmt: skip


def _exponential(tail: np.ndarray, tpl: np.ndarray, xmin: int, xmax: int):
    lam, alt = fit_exponential(tail, xmin, xmax)
    ratio, normalized, p = vuong(tpl - alt)
    return LikelihoodRatioTest(
        "exponential", ratio, normalized, p, float(np.sum(alt)), {"lambda": lam},
        statistic=normalized, n=int(tail.size), loglik_tpl=float(np.sum(tpl)),
    )  # fmt: skip


def _lognormal(tail: np.ndarray, alpha: float, xmin: int, xmax: int):
    fit = lognormal_mle(tail, xmin, xmax, alpha)
    params = {"mu": fit.mu, "sigma": fit.sigma, "converged": float(fit.converged)}
    params["boundary"] = fit.boundary
    return LikelihoodRatioTest(
        "lognormal", 0.0 - fit.gain, None, chi_bar_square_p(fit.gain), fit.loglik, params,
        method="chi-bar-square", nested=True, null=TPL, statistic=2 * fit.gain, df=1,
        n=int(tail.size), loglik_tpl=fit.loglik - fit.gain,
    )  # fmt: skip


def compare_alternatives(
    x: np.ndarray,
    fit: TPLFit | dict,
    names: Sequence[str] | None = None,
    *,
    n_boot: int = PL_BOOT,
    seed: int | None = 0,
) -> dict[str, LikelihoodRatioTest]:
    """Likelihood-ratio tests of a discrete truncated power-law fit against alternatives.

    Args:
        x: the data the fit was made on (1-D non-negative integers; see the module docstring
            for which values each pair compares).
        fit: the fit (:class:`TPLFit` or its ``as_dict()``), discrete and not flagged.
        names: any of ``power_law``, ``exponential``, ``lognormal`` (default: all three).
        n_boot: parametric bootstrap replicates of the power-law test.
        seed: seed of that bootstrap (results are reproducible).

    Returns:
        One :class:`LikelihoodRatioTest` per alternative, keyed by its name.

    Raises:
        ValueError: if the fit is flagged or continuous, an alternative is unknown, or ``x`` is
            not 1-D data of non-negative integers exactly representable as floats.

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
    names = ALTERNATIVES if names is None else tuple(names)
    unknown = [name for name in names if name not in ALTERNATIVES]
    if unknown:
        raise ValueError(f"Expected alternatives among {ALTERNATIVES} but got {unknown}")
    values = check_data(x, discrete=True)
    xmin, xmax = int(fit.xmin), int(fit.xmax)
    tail = values[(values >= xmin) & (values <= xmax)]
    out = {}
    for name in names:
        if name == "power_law":
            out[name] = _power_law(values, xmin, n_boot, seed)
        elif name == "exponential":
            out[name] = _exponential(tail, tpl_logpmf(tail, fit.alpha, xmin, xmax), xmin, xmax)
        else:
            out[name] = _lognormal(tail, fit.alpha, xmin, xmax)
    return out
