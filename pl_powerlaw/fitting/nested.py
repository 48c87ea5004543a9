"""Nested likelihood-ratio tests of the truncated power law (TPL): against the pure power law it
contains as its cut-off goes to infinity, and inside the log-normal family.

**Power law against a cut-off** (the TPL contains the power law as xmax -> inf). Both models are
scored on the same observations, *all* n values x >= xmin (also those above the fitted xmax,
which the search leaves unmodelled and which a test of "is there a cut-off?" must not drop):

* H0, the power law p(x) = x^-a / zeta(a, xmin) on [xmin, inf), a > 1;
* H1, the TPL p(x) = x^-b / Z(b; xmin, c) on [xmin, c] with its cut-off c free. For any b the
  likelihood decreases in c >= max(x), so the MLE of the cut-off is the largest value, c = x_(n),
  and b is then the TPL's exact MLE on [xmin, x_(n)].

R = l_1 - l_0 >= 0. The cut-off is a support end-point, a non-regular parameter: Wilks' chi-square
does not apply. With the exponent known, R = -n ln(1 - P(X > x_(n))), and P(X > x_(n)) of the
maximum of n continuous values is Beta(1, n), so R is exactly standard exponential (2R ~ chi2 with
2 degrees of freedom, as for the end-point of a uniform law); for integers it is stochastically
smaller. Estimating the exponent, and few values, change that law (its null mean is ~1.25 at
n = 32 for exponents near 1.5). The p-value is therefore a parametric bootstrap under the fitted
power law (B replicates of n values with the same xmin, both models refitted to each; Davison &
Hinkley 1997, Sec. 4.2):

    p = (1 + #{R* >= R}) / (B + 1)                       if at least 10 replicates reach R,
    p = 11 / (B + 1) * exp(-(R - R*_(10)) / mean(R*))    beyond the 10th largest R*_(10),

the second line extrapolating the exponential tail of the limit law (scaled by the bootstrap
mean, a Bartlett-type correction; Bartlett 1937, Rocke 1989) so that p-values far below 1 / B are
resolved, continuously with the first line. Measured size at 0.05 on pure power-law data with the
searched xmin (``benchmarks/size_power.py``): 0.02-0.05 at 32-1024 nodes; conservative where the
exponent is steep and the values few (ties at the maximum).
References: Clauset, Shalizi & Newman (2009), Sec. 5 and App. C (nested pairs are tested by
their likelihood ratio).

**TPL inside the log-normal.** The discrete log-normal p(k) ~ exp(c1 ln k + c2 ln^2 k) / k on
[xmin, xmax], c2 = -1 / (2 sigma^2) <= 0, is the TPL (alpha = 1 - c1) at c2 = 0, the boundary of
its parameter space; the family is regular across it. With D = l_LN - l_TPL >= 0, 2D is
asymptotically the chi-bar-square mixture (chi2_0 + chi2_1) / 2 under the TPL (Chernoff 1954;
Self & Liang 1987, Theorem 3, case 5: one parameter on the boundary, one interior nuisance
parameter), so p = erfc(sqrt(D)) / 2 for D > 0 and p = 1 at D = 0 (half of all samples of the TPL
put the log-normal MLE on the boundary). This law holds for a range fixed in advance (measured
size 0.04-0.05 at 0.05). On the range the KS search picked, where the TPL fits best by
construction, the test is conservative: measured size 0.3-0.7 % on TPL data and 1-2 % on pure
power-law data at nominal 5 % (so p < 0.05 is strong evidence for the log-normal, p >= 0.05 weak
evidence against it; see the power figures of ``benchmarks/size_power.py``).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import erfc

from pl_powerlaw.fitting.mle import solve_alpha
from pl_powerlaw.fitting.sums import power_sums

PL_BOOT = 200  # bootstrap replicates of the power-law test
TAIL_COUNT = 10  # fewer replicates at or above R: the exponential tail is extrapolated
SAMPLE_TABLE = 1 << 16  # integers above xmin sampled from an exact CDF table
_MAX_LOG = 690.0  # largest ln x drawn (P(above) < 1e-12 whenever a - 1 > 0.04)
_DRAWS_PER_BLOCK = 1 << 22  # values drawn at once (bounds the memory of the bootstrap)


def power_law_alpha(xmin: float, mean_log: np.ndarray) -> np.ndarray:
    """Exact MLE of the discrete power law on [xmin, inf) for many samples at once.

    Solves E_a[ln(X / xmin)] = mean_log (Clauset et al. 2009, eq. 3.6 with the Hurwitz zeta
    normaliser of eq. 3.5), a decreasing function of a in (1, inf), by Newton steps on its
    logarithm kept inside a bracket (bisection otherwise).

    Args:
        xmin: the lower end (a positive integer).
        mean_log: per sample, the mean of ln(x / xmin) over its values (> 0).

    Returns:
        The exponents (> 1).
    """
    y = np.atleast_1d(np.asarray(mean_log, dtype=float))
    lower, upper = np.ones(y.size), np.full(y.size, np.inf)
    with np.errstate(divide="ignore"):  # the continuous MLE on [xmin - 1/2, inf) starts
        a = 1.0 + 1.0 / (y + math.log(xmin / (xmin - 0.5)))
    a[y <= 0] = np.inf  # every value at xmin
    active = np.flatnonzero(y > 0)
    log_m = math.log(xmin)
    for _ in range(200):
        if active.size == 0:
            break
        x = a[active]
        s0, s1, s2 = power_sums(xmin, np.inf, x, log_m, 2)
        mean = s1 / s0
        var = np.maximum(s2 / s0 - mean * mean, 1e-300)
        g = np.log(mean) - np.log(y[active])  # decreasing in a
        lower[active] = np.where(g > 0, x, lower[active])
        upper[active] = np.where(g < 0, x, upper[active])
        new = x + g * mean / var  # Newton on g: g' = -var / mean
        lo, up = lower[active], upper[active]
        bad = ~np.isfinite(new) | (new <= lo) | (new >= up)
        new = np.where(bad, np.where(np.isfinite(up), 0.5 * (lo + up), 2.0 * x - 1.0), new)
        done = (np.abs(new - x) <= 1e-13 * x) | (g == 0)
        a[active] = np.where(g == 0, x, new)
        active = active[~done]
    return a


def _power_law_loglik(xmin: float, alpha: np.ndarray, n: int, mean_log: np.ndarray) -> np.ndarray:
    """-a sum ln x - n ln zeta(a, xmin), written with S_0 = zeta(a, xmin) xmin^a (no cancellation)."""
    (s0,) = power_sums(xmin, np.inf, alpha, math.log(xmin), 0)
    return -n * (alpha * mean_log + np.log(s0))


def _cutoff_loglik(xmin: float, top: np.ndarray, n: int, y_lo: np.ndarray, y_hi: np.ndarray):
    """Exponent and maximised log-likelihood of the TPL on [xmin, top] (paper eq. 4)."""
    sol = solve_alpha(np.full(top.shape, float(xmin)), top, y_lo, y_hi, True, 1.5)
    from_lo = sol.log_m == math.log(xmin)
    mean_rel = np.where(from_lo, y_lo, -y_hi)  # mean ln(x / m)
    return sol.alpha, -n * (sol.alpha * mean_rel + sol.log_s0)


def _endpoint_ratio(xmin: float, n: int, y_lo: np.ndarray, top: np.ndarray):
    """R = l_TPL(cut-off at the maximum) - l_PL per sample, with both exponents.

    A sample with every value at xmin has both MLEs at +inf and R = 0.
    """
    ratio, a, b = np.zeros(top.size), np.full(top.size, np.inf), np.full(top.size, np.inf)
    ok = np.flatnonzero((top > xmin) & (y_lo > 0))
    if ok.size:
        y, t = y_lo[ok], top[ok]
        a[ok] = power_law_alpha(xmin, y)
        b[ok], l_cut = _cutoff_loglik(xmin, t, n, y, np.log(t / xmin) - y)
        ratio[ok] = np.maximum(l_cut - _power_law_loglik(xmin, a[ok], n, y), 0.0)
    return ratio, a, b


class PowerLawSampler:
    """Exact inverse-CDF draws of the discrete power law on [xmin, inf), in ln x.

    Integers below xmin + ``SAMPLE_TABLE`` come from a CDF table; above it the tail
    P(X >= k) = zeta(a, k) / zeta(a, xmin) is inverted through zeta(a, k) ~ (k - 1/2)^(1-a) / (a-1)
    (relative error below 1e-9 there), and ln x is capped at ``_MAX_LOG``.
    """

    def __init__(self, alpha: float, xmin: int) -> None:
        self.alpha, self.xmin = float(alpha), int(xmin)
        k = np.arange(self.xmin, self.xmin + SAMPLE_TABLE, dtype=float)
        terms = np.exp(-self.alpha * np.log(k / self.xmin))
        (total,) = power_sums(self.xmin, np.inf, self.alpha, math.log(self.xmin), 0)
        self.table = np.cumsum(terms) / float(total)
        self.tail = max(1.0 - float(self.table[-1]), 0.0)
        self.k_top = float(k[-1] + 1)

    def log_draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` draws of ln X."""
        u = rng.random(size)
        index = np.searchsorted(self.table, u, side="right")
        out = np.log(self.xmin + np.minimum(index, self.table.size - 1).astype(float))
        high = index >= self.table.size
        if high.any():  # P(X >= k) = tail ((k - 1/2) / (k_top - 1/2))^(1 - a)
            v = (1.0 - u[high]) / self.tail  # uniform on (0, 1] given the tail
            log_k = math.log(self.k_top - 0.5) - np.log(v) / (self.alpha - 1.0)
            with np.errstate(over="ignore"):
                k = np.floor(np.exp(np.minimum(log_k, _MAX_LOG)) + 0.5)
            out[high] = np.minimum(np.log(np.maximum(k, self.k_top)), _MAX_LOG)
        return out


def power_law_test(
    tail: np.ndarray, xmin: int, n_boot: int = PL_BOOT, seed: int | None = 0
) -> dict[str, float]:
    """The cut-off test of the module docstring on the values ``tail`` (all >= xmin).

    Args:
        tail: the values x >= xmin.
        xmin: the lower end.
        n_boot: parametric bootstrap replicates of R (>= 1).
        seed: seed of the bootstrap.

    Returns:
        ``ratio`` (R = l_TPL - l_PL >= 0), ``p_value``, ``scale`` (mean R*), ``alpha`` (power
        law), ``alpha_cutoff`` and ``cutoff`` (TPL), ``loglik`` (power law), ``loglik_cutoff``.
    """
    n = int(tail.size)
    y_lo = np.array([float(np.mean(np.log(tail / xmin)))])
    top = np.array([float(np.max(tail))])
    ratio, a, b = _endpoint_ratio(xmin, n, y_lo, top)
    loglik = float(_power_law_loglik(xmin, a, n, y_lo)[0])
    rng = np.random.default_rng(seed)
    sampler = PowerLawSampler(float(a[0]), xmin)
    boot = []
    per_block = max(1, _DRAWS_PER_BLOCK // max(n, 1))
    for start in range(0, n_boot, per_block):
        size = min(per_block, n_boot - start)
        logs = sampler.log_draw(rng, size * n).reshape(size, n)
        y_star = np.mean(logs, axis=1) - math.log(xmin)
        top_star = np.exp(np.max(logs, axis=1))
        boot.append(_endpoint_ratio(xmin, n, y_star, top_star)[0])
    boot = np.concatenate(boot)
    scale = float(np.mean(boot))
    return {
        "ratio": float(ratio[0]),
        "p_value": tail_p_value(float(ratio[0]), boot),
        "scale": scale,
        "alpha": float(a[0]),
        "alpha_cutoff": float(b[0]),
        "cutoff": float(top[0]),
        "loglik": loglik,
        "loglik_cutoff": loglik + float(ratio[0]),
    }


def tail_p_value(ratio: float, boot: np.ndarray) -> float:
    """Bootstrap p-value of R, with an exponential tail beyond the replicates (module docstring)."""
    size = boot.size
    above = int(np.count_nonzero(boot >= ratio))
    if above >= TAIL_COUNT or size < TAIL_COUNT:
        return (1 + above) / (size + 1)
    scale = float(np.mean(boot))
    r_m = float(np.sort(boot)[size - TAIL_COUNT])  # the TAIL_COUNT-th largest replicate
    return (1 + TAIL_COUNT) / (size + 1) * math.exp(-(ratio - r_m) / scale)


def chi_bar_square_p(gain: float) -> float:
    """p = P((chi2_0 + chi2_1) / 2 >= 2 D) for the log-likelihood gain D >= 0 (module docstring)."""
    return 1.0 if gain <= 0 else float(0.5 * erfc(math.sqrt(gain)))
