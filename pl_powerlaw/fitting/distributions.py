"""The truncated power law: normaliser, pmf/pdf, CCDF, log-likelihood and sampling.

Discrete (paper eq. 4; Hanel et al. 2017), on the integers xmin..xmax::

    p(x) = x^-alpha / Z,   Z = sum_{k=xmin}^{xmax} k^-alpha

Continuous (paper eqs. 2-3), on the interval [xmin, xmax]::

    p(x) = x^-alpha / Z,   Z = int_xmin^xmax x^-alpha dx
         = (xmax^(1-alpha) - xmin^(1-alpha)) / (1 - alpha)   (ln(xmax/xmin) at alpha = 1)

Every real alpha is valid: the support is bounded. Normalisers come from
:mod:`pl_powerlaw.fitting.sums` (relative error ~1e-15 for ranges of any length).
"""

from __future__ import annotations

import numpy as np

from pl_powerlaw.fitting.sums import log_power_sum, power_integrals, power_sums, reference_log

TABLE_MAX = 1 << 21  # discrete ranges up to this many integers are sampled from a CDF table


def _check_range(alpha: float, xmin: float, xmax: float, discrete: bool) -> None:
    if not np.isfinite(alpha):
        raise ValueError(f"Expected a finite `alpha` but got {alpha}")
    if not (0 < xmin <= xmax < np.inf):
        raise ValueError(f"Expected 0 < `xmin` <= `xmax` < inf but got xmin={xmin}, xmax={xmax}")
    if discrete and (xmin != int(xmin) or xmax != int(xmax)):
        raise ValueError(f"Expected integer `xmin` and `xmax` but got xmin={xmin}, xmax={xmax}")


def tpl_log_normalizer(alpha: float, xmin: float, xmax: float, discrete: bool = True) -> float:
    """ln Z of the truncated power law (paper eq. 4 if discrete, eqs. 2-3 otherwise).

    Example:
        >>> round(float(np.exp(tpl_log_normalizer(2.0, 1, 2))), 12)  # 1 + 1/4
        1.25
    """
    _check_range(alpha, xmin, xmax, discrete)
    return float(log_power_sum(alpha, xmin, xmax, discrete))


def _log_density(x: np.ndarray, alpha: float, xmin: float, xmax: float, discrete: bool):
    """-alpha ln(x/m) - ln S_0 = -alpha ln x - ln Z, without the cancellation of large terms."""
    log_m = float(reference_log(float(xmin), float(xmax), float(alpha)))
    func = power_sums if discrete else power_integrals
    (s0,) = func(float(xmin), float(xmax), float(alpha), log_m, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -alpha * (np.log(x) - log_m) - np.log(float(s0))


def tpl_logpmf(x: np.ndarray, alpha: float, xmin: int, xmax: int) -> np.ndarray:
    """ln p(x) of the discrete TPL (paper eq. 4); -inf off the support (non-integers included).

    Example:
        >>> np.round(np.exp(tpl_logpmf(np.array([1, 2, 3]), 2.0, 1, 2)), 12)
        array([0.8, 0.2, 0. ])
    """
    _check_range(alpha, xmin, xmax, True)
    x = np.asarray(x, dtype=float)
    on = (x >= xmin) & (x <= xmax) & (x == np.floor(x))
    return np.where(on, _log_density(x, alpha, xmin, xmax, True), -np.inf)


def tpl_pmf(x: np.ndarray, alpha: float, xmin: int, xmax: int) -> np.ndarray:
    """p(x) of the discrete TPL (paper eq. 4); 0 off the support."""
    return np.exp(tpl_logpmf(x, alpha, xmin, xmax))


def tpl_logpdf(x: np.ndarray, alpha: float, xmin: float, xmax: float) -> np.ndarray:
    """ln p(x) of the continuous TPL (paper eqs. 2-3); -inf off [xmin, xmax]."""
    _check_range(alpha, xmin, xmax, False)
    x = np.asarray(x, dtype=float)
    on = (x >= xmin) & (x <= xmax)
    return np.where(on, _log_density(x, alpha, xmin, xmax, False), -np.inf)


def tpl_pdf(x: np.ndarray, alpha: float, xmin: float, xmax: float) -> np.ndarray:
    """p(x) of the continuous TPL (paper eqs. 2-3); 0 off [xmin, xmax]."""
    return np.exp(tpl_logpdf(x, alpha, xmin, xmax))


def tpl_ccdf(
    x: np.ndarray, alpha: float, xmin: float, xmax: float, discrete: bool = True
) -> np.ndarray:
    """P(X >= x): 1 at and below xmin, 0 above xmax.

    Discrete: ``sum_{k=ceil(x)}^{xmax} k^-alpha / Z`` (eq. 4). Continuous:
    ``int_x^xmax t^-alpha dt / Z`` (eq. 3).

    Example:
        >>> np.round(tpl_ccdf(np.array([1, 2, 3]), 2.0, 1, 2), 12)
        array([1. , 0.2, 0. ])
    """
    _check_range(alpha, xmin, xmax, discrete)
    x = np.asarray(x, dtype=float)
    start = np.clip(np.ceil(x) if discrete else x, xmin, xmax)
    s = np.full(start.shape, float(alpha))
    log_m = reference_log(float(xmin), float(xmax), s)
    func = power_sums if discrete else power_integrals
    (part,) = func(start, float(xmax), s, log_m, 0)
    (whole,) = func(float(xmin), float(xmax), s, log_m, 0)
    out = np.clip(part / whole, 0.0, 1.0)
    out = np.where(x <= xmin, 1.0, out)
    return np.where(x > xmax, 0.0, out)


def tpl_loglik(
    x: np.ndarray, alpha: float, xmin: float, xmax: float, discrete: bool = True
) -> float:
    """Log-likelihood ``-alpha sum ln x - n ln Z`` of ``x`` (all inside [xmin, xmax]).

    Raises:
        ValueError: if a value lies outside [xmin, xmax].
    """
    x = np.asarray(x, dtype=float)
    if x.size and (x.min() < xmin or x.max() > xmax):
        raise ValueError(
            f"Expected `x` inside [{xmin}, {xmax}] but got values in [{x.min()}, {x.max()}]"
        )
    _check_range(alpha, xmin, xmax, discrete)
    return float(np.sum(_log_density(x, alpha, xmin, xmax, discrete)))


class TPLSampler:
    """Inverse-CDF sampler of a fixed truncated power law, set up once for many draws.

    Discrete ranges of at most ``TABLE_MAX`` integers use a CDF table and a binary search per
    draw; longer ones a vectorised bisection on the exact CDF (:mod:`~pl_powerlaw.fitting.sums`).
    The continuous law is inverted in closed form.

    Args:
        alpha: exponent (any finite real).
        xmin: lower end (a positive integer when discrete).
        xmax: upper end (>= xmin).
        discrete: integers (eq. 4) or reals (eqs. 2-3).

    Example:
        >>> sampler = TPLSampler(2.0, 1, 50)
        >>> x = sampler.draw(np.random.default_rng(0), 1000)
        >>> bool(x.min() >= 1 and x.max() <= 50)
        True
    """

    def __init__(self, alpha: float, xmin: float, xmax: float, discrete: bool = True) -> None:
        _check_range(alpha, xmin, xmax, discrete)
        self.alpha, self.xmin, self.xmax, self.discrete = float(alpha), xmin, xmax, discrete
        self._table = None
        self._log_m = float(reference_log(float(xmin), float(xmax), float(alpha)))
        if discrete and xmax - xmin + 1 <= TABLE_MAX:
            k = np.arange(xmin, xmax + 1, dtype=float)
            cdf = np.cumsum(np.exp(-self.alpha * (np.log(k) - self._log_m)))
            self._table = cdf / cdf[-1]

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` independent draws (int64 when discrete, float otherwise)."""
        u = rng.random(size)
        if not self.discrete:
            return _invert_continuous(self.alpha, float(self.xmin), float(self.xmax), u)
        if self._table is not None:
            index = np.minimum(np.searchsorted(self._table, u, side="right"), self._table.size - 1)
            return (int(self.xmin) + index).astype(np.int64)
        return self._bisect(u)

    def _bisect(self, u: np.ndarray) -> np.ndarray:
        """The smallest integer k with F(k) > u, by bisection on the exact CDF."""
        lo, hi = float(self.xmin), float(self.xmax)
        s = np.full(u.size, self.alpha)
        log_m = np.full(u.size, self._log_m)
        (whole,) = power_sums(lo, hi, self.alpha, self._log_m, 0)
        below = np.full(u.size, lo - 1.0)  # F(below) <= u
        above = np.full(u.size, hi)  # F(above) > u
        while np.any(above - below > 1):
            mid = np.floor(0.5 * (below + above))
            (part,) = power_sums(np.full(u.size, lo), mid, s, log_m, 0)
            hit = part / whole > u
            above = np.where(hit, mid, above)
            below = np.where(hit, below, mid)
        return above.astype(np.int64)


def _invert_continuous(alpha: float, xmin: float, xmax: float, u: np.ndarray) -> np.ndarray:
    """Inverse CDF of eq. 3 in t = ln(x / xmin), whose density is proportional to e^((1-alpha) t)."""
    length = np.log(xmax / xmin)
    z = 1.0 - alpha
    if z * length > 0:
        t = length + np.log(u + (1.0 - u) * np.exp(-z * length)) / z
    elif z * length < 0:
        t = np.log1p(u * np.expm1(z * length)) / z
    else:
        t = u * length
    return np.clip(xmin * np.exp(t), xmin, xmax)


def sample_tpl(
    size: int,
    alpha: float,
    xmin: float,
    xmax: float,
    discrete: bool = True,
    rng: np.random.Generator | int | None = None,
) -> np.ndarray:
    """Draw ``size`` values from the truncated power law by inversion of its CDF.

    Args:
        size: number of draws (>= 0).
        alpha: exponent (any finite real).
        xmin: lower end (a positive integer when discrete).
        xmax: upper end (>= xmin).
        discrete: integers (eq. 4, int64 output) or reals (eqs. 2-3).
        rng: a numpy Generator or a seed.

    Returns:
        The draws.

    Example:
        >>> x = sample_tpl(1000, 2.0, 1, 50, rng=0)
        >>> bool(x.min() >= 1 and x.max() <= 50)
        True
    """
    if size < 0:
        raise ValueError(f"Expected `size` >= 0 but got {size}")
    return TPLSampler(alpha, xmin, xmax, discrete).draw(np.random.default_rng(rng), size)
