"""Exact maximum-likelihood exponent of the truncated power law on a given range [xmin, xmax].

The log-likelihood of n points in [xmin, xmax] under p(x) = x^-alpha / Z(alpha) (paper eq. 4,
discrete; eqs. 2-3, continuous) is ``-alpha sum ln x - n ln Z(alpha)``; it is concave and its score
equation is ``E_alpha[ln X] = mean(ln x)``. ``E_alpha[ln X]`` decreases strictly from ln xmax
(alpha -> -inf) to ln xmin (alpha -> +inf), so the root exists and is unique whenever the mean
lies strictly inside (ln xmin, ln xmax), i.e. whenever the points in range are not all equal.

The solver works on ``phi(alpha) = ln(E ln X - ln xmin) - ln(ln xmax - E ln X)``, which is
strictly decreasing and asymptotically linear at both ends, with Newton steps safeguarded by a
bracket (bisection when a step leaves it, doubling while one side is unknown): no artificial
range is imposed on alpha. It is vectorised over any number of ranges at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pl_powerlaw.fitting.sums import power_integrals, power_sums, reference_log

_STEP_TOL = 1e-8  # relative Newton step below which the next iterate is exact to ~1e-16
MAX_ITER = 200


@dataclass(frozen=True)
class AlphaSolution:
    """Vectorised solution of the score equations.

    Attributes:
        alpha: the maximum-likelihood exponents.
        log_m: ln of the reference point m of the scaled sums (xmin if alpha >= 0, else xmax).
        log_s0: ln of the scaled normaliser S_0 = Z(alpha) m^alpha (paper eq. 4 or eqs. 2-3).
        var_log: Var_alpha[ln X], the Fisher information per point (alpha's standard error is
            ``1 / sqrt(n * var_log)``).
        converged: whether each solve converged (always True in practice).
    """

    alpha: np.ndarray
    log_m: np.ndarray
    log_s0: np.ndarray
    var_log: np.ndarray
    converged: np.ndarray

    @property
    def log_norm(self) -> np.ndarray:
        """ln Z(alpha) = -alpha ln m + ln S_0."""
        return -self.alpha * self.log_m + self.log_s0


def log_moments(
    lo: np.ndarray, hi: np.ndarray, alpha: np.ndarray, discrete: bool, order: int = 2
) -> tuple[np.ndarray, list[np.ndarray]]:
    """ln m and the scaled sums ``S_j`` of :mod:`~pl_powerlaw.fitting.sums` at ``alpha``."""
    log_m = reference_log(lo, hi, alpha)
    func = power_sums if discrete else power_integrals
    return log_m, func(lo, hi, alpha, log_m, order)


def _newton(lo, hi, y_lo, y_hi, discrete, alpha0):
    """Safeguarded Newton on phi (module docstring); returns alpha, ln m, ln S_0, Var, converged.

    Stops once a Newton step is below ``_STEP_TOL`` (relative): the step is taken, which leaves an
    error of order step^2, and ln S_0 is carried to the new point by its Taylor expansion
    (d ln S_0 / d alpha = -E ln(X/m), second derivative Var ln X), so no extra evaluation is needed.
    """
    size = lo.size
    a = np.array(alpha0, dtype=float)
    target = np.log(y_lo) - np.log(y_hi)
    lower = np.full(size, -np.inf)
    upper = np.full(size, np.inf)
    converged = np.zeros(size, dtype=bool)
    log_m = np.zeros(size)
    log_s0 = np.zeros(size)
    var_log = np.zeros(size)
    active = np.arange(size)
    for _ in range(MAX_ITER):
        if active.size == 0:
            break
        x = a[active]
        lo_a, hi_a = lo[active], hi[active]
        lm, (s0, s1, s2) = log_moments(lo_a, hi_a, x, discrete)
        mu = s1 / s0  # E ln X - ln m
        var = np.maximum(s2 / s0 - mu * mu, 0.0)
        length = np.log(hi_a) - np.log(lo_a)
        from_lo = x >= 0
        d_lo = np.where(from_lo, mu, length + mu)  # E ln X - ln xmin
        d_hi = np.where(from_lo, length - mu, -mu)  # ln xmax - E ln X
        g = np.log(d_lo) - np.log(d_hi) - target[active]  # decreasing in alpha
        lower[active] = np.where(g > 0, x, lower[active])
        upper[active] = np.where(g < 0, x, upper[active])
        step = g / (var * (1.0 / d_lo + 1.0 / d_hi))  # Newton: -g / g'
        step = np.where(g == 0, 0.0, step)
        new = x + step
        lw, up = lower[active], upper[active]
        scale = np.maximum(1.0, np.abs(x))
        small = np.abs(step) <= _STEP_TOL * scale
        both = np.isfinite(lw) & np.isfinite(up)
        tight = both & ((up - lw) <= 4e-16 * scale)
        done = small | tight
        step = np.where(small, step, 0.0)
        bad = ~done & (~np.isfinite(new) | (new <= lw) | (new >= up))
        fallback = np.where(
            both, 0.5 * (lw + up), np.where(np.isfinite(up), up - scale, lw + scale)
        )
        a[active] = np.where(bad, fallback, np.where(done, x + step, new))
        finished = active[done]
        converged[finished] = True
        log_m[finished] = lm[done]
        ds = step[done]
        log_s0[finished] = np.log(s0[done]) - ds * mu[done] + 0.5 * ds * ds * var[done]
        var_log[finished] = var[done]
        active = active[~done]
    if active.size:  # not converged (never seen): report the last iterate as it is
        lm, (s0, s1, s2) = log_moments(lo[active], hi[active], a[active], discrete)
        log_m[active], log_s0[active] = lm, np.log(s0)
        var_log[active] = s2 / s0 - (s1 / s0) ** 2
    return a, log_m, log_s0, var_log, converged


def solve_alpha(
    lo: np.ndarray,
    hi: np.ndarray,
    mean_log_lo: np.ndarray,
    mean_log_hi: np.ndarray,
    discrete: bool = True,
    alpha0: np.ndarray | float = 1.5,
) -> AlphaSolution:
    """Solve ``E_alpha[ln X] = mean(ln x)`` for many ranges at once.

    For the discrete model the continuous one on [xmin - 1/2, xmax + 1/2] (the midpoint rule of
    the sum, whose closed-form moments are cheap) is solved first; its root starts the exact
    discrete Newton iteration, which then needs about two evaluations.

    Args:
        lo: xmin of each range (positive; integers when discrete).
        hi: xmax of each range (> lo).
        mean_log_lo: mean of ln(x / xmin) over the points in each range (> 0).
        mean_log_hi: mean of ln(xmax / x) over the points in each range (> 0). Passing both keeps
            full precision when the points crowd one end.
        discrete: the discrete (eq. 4) or the continuous (eqs. 2-3) model.
        alpha0: starting exponents.

    Returns:
        The :class:`AlphaSolution`.
    """
    lo, hi, y_lo, y_hi, a = (
        np.array(v, dtype=float).ravel()
        for v in np.broadcast_arrays(lo, hi, mean_log_lo, mean_log_hi, alpha0)
    )
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if discrete:
            lo_c, hi_c = lo - 0.5, hi + 0.5
            a = _newton(lo_c, hi_c, y_lo + np.log(lo / lo_c), y_hi + np.log(hi_c / hi), False, a)[0]
        a, log_m, log_s0, var, converged = _newton(lo, hi, y_lo, y_hi, discrete, a)
    return AlphaSolution(a, log_m, log_s0, var, converged)


def fit_alpha(
    x: np.ndarray, xmin: float, xmax: float, discrete: bool = True
) -> tuple[float, float]:
    """Maximum-likelihood exponent of the points of ``x`` in [xmin, xmax] (paper eq. 4 / eqs. 2-3).

    Args:
        x: data (points outside [xmin, xmax] are ignored).
        xmin: lower end of the range (> 0).
        xmax: upper end (> xmin).
        discrete: the discrete (eq. 4) or continuous (eqs. 2-3) model.

    Returns:
        ``(alpha, loglik)``: the exponent and the maximised log-likelihood.

    Raises:
        ValueError: if the range is invalid or holds fewer than two distinct values (the MLE is
            then +inf or -inf).

    Example:
        >>> alpha, _ = fit_alpha(np.array([1, 1, 1, 2, 2, 3]), 1, 3)
        >>> round(alpha, 6)
        0.874265
    """
    x = np.asarray(x, dtype=float)
    if not (0 < xmin < xmax):
        raise ValueError(f"Expected 0 < `xmin` < `xmax` but got xmin={xmin}, xmax={xmax}")
    tail = x[(x >= xmin) & (x <= xmax)]
    if np.unique(tail).size < 2:
        raise ValueError(
            f"Expected at least two distinct values of `x` in [{xmin}, {xmax}] "
            f"but got {np.unique(tail).size}"
        )
    y_lo = np.mean(np.log(tail / xmin))
    y_hi = np.mean(np.log(xmax / tail))
    sol = solve_alpha(xmin, xmax, y_lo, y_hi, discrete)
    alpha = float(sol.alpha[0])
    # -alpha sum ln(x/m) - n ln S_0: the same as -alpha sum ln x - n ln Z, without cancellation.
    loglik = float(-alpha * np.sum(np.log(tail) - sol.log_m[0]) - tail.size * sol.log_s0[0])
    return alpha, loglik
