"""A layer's degrees against the random-pruning null: the degrees of K masks drawn uniformly at
random with the same kept count (made elsewhere; only their degree arrays come here).

* Two-sample tests of the real degrees against the pooled null degrees: Kolmogorov-Smirnov
  (:func:`scipy.stats.ks_2samp`) and Anderson-Darling k-sample (:func:`scipy.stats.anderson_ksamp`,
  midrank version for ties; Scholz & Stephens 1987). Degrees are integers with many ties: the KS
  p-value is then conservative, and scipy interpolates the Anderson-Darling p-value from a table,
  clipping it to [0.001, 0.25] (``ad_p_clipped`` says when). The pooled null values of one draw
  are not independent (their sum is the kept count), a small effect for K * n >> n.
* Two summary statistics of the real degrees against their spread over the K null draws: the
  dispersion index var / mean (sample variance, ddof = 1; 1 - p for Binomial(m, p) degrees, > 1
  for over-dispersed, hub-dominated layers) and the Gini coefficient
  G = sum_i sum_j |x_i - x_j| / (2 n^2 mean) (0: all degrees equal; -> 1: one hub holds all). Each
  is reported with the null draws' mean, standard deviation, minimum and maximum, the z-score and
  the empirical two-sided p-value min(1, 2 min(1 + #{null >= x}, 1 + #{null <= x}) / (K + 1)),
  whose smallest value 2 / (K + 1) is 0.095 at K = 20.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from pl_powerlaw.fitting.checks import check_data
from pl_powerlaw.fitting.result import _plain


def gini(x: np.ndarray) -> float | None:
    """Gini coefficient of non-negative values: 2 sum_i i x_(i) / (n sum x) - (n + 1) / n.

    Returns None when every value is 0 (the coefficient is undefined).

    Example:
        >>> gini(np.array([0, 0, 0, 4]))  # one node holds everything: (n - 1) / n
        0.75
    """
    x = np.sort(np.asarray(x, dtype=float))
    n, total = x.size, float(x.sum())
    if n == 0 or total == 0:
        return None
    rank = np.arange(1, n + 1)
    return float(2.0 * np.sum(rank * x) / (n * total) - (n + 1.0) / n)


def dispersion_index(x: np.ndarray) -> float | None:
    """Sample variance (ddof = 1) over mean; None for fewer than 2 values or a zero mean.

    Example:
        >>> dispersion_index(np.array([1, 2, 3, 6]))  # variance 14/3, mean 3
        1.5555555555555556
    """
    x = np.asarray(x, dtype=float)
    if x.size < 2 or float(x.mean()) == 0:
        return None
    return float(np.var(x, ddof=1) / x.mean())


@dataclass(frozen=True)
class NullSpread:
    """One statistic of the real degrees against its values over the K null draws."""

    value: float | None
    null_mean: float | None
    null_sd: float | None
    null_min: float | None
    null_max: float | None
    z: float | None
    p_value: float | None

    @classmethod
    def of(cls, value: float | None, null: Sequence[float | None]) -> NullSpread:
        draws = np.array([v for v in null if v is not None], dtype=float)
        if value is None or draws.size == 0:
            return cls(value, None, None, None, None, None, None)
        mean, sd = float(draws.mean()), float(draws.std(ddof=1)) if draws.size > 1 else 0.0
        k = draws.size
        above, below = int(np.sum(draws >= value)), int(np.sum(draws <= value))
        p = min(1.0, 2.0 * min(1 + above, 1 + below) / (k + 1))
        z = (value - mean) / sd if sd > 0 else None
        return cls(value, mean, sd, float(draws.min()), float(draws.max()), z, p)

    def as_dict(self) -> dict[str, Any]:
        return {key: _plain(value) for key, value in self.__dict__.items()}


@dataclass(frozen=True)
class NullComparison:
    """The real degrees of a layer against K random-pruning null draws (module docstring).

    Attributes:
        n: nodes of the layer.
        k: null draws.
        ks_statistic: two-sample KS distance to the pooled null degrees.
        ks_p_value: its p-value (scipy's ``method="auto"``).
        ad_statistic: Anderson-Darling k-sample statistic (real vs pooled null).
        ad_p_value: its p-value, interpolated by scipy and clipped to [0.001, 0.25].
        ad_p_clipped: whether that p-value sits at a clip.
        dispersion: the dispersion index var / mean against the null draws.
        gini: the Gini coefficient against the null draws.
        mean: mean degree of the layer; ``null_mean``: of the pooled null degrees.
    """

    n: int
    k: int
    ks_statistic: float
    ks_p_value: float
    ad_statistic: float
    ad_p_value: float
    ad_p_clipped: bool
    dispersion: NullSpread
    gini: NullSpread
    mean: float
    null_mean: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict of plain Python values (no NaN or infinity)."""
        out = {
            key: _plain(getattr(self, key))
            for key in ("n", "k", "ks_statistic", "ks_p_value", "ad_statistic", "ad_p_value")
        }
        out["ad_p_clipped"] = bool(self.ad_p_clipped)
        out["dispersion"] = self.dispersion.as_dict()
        out["gini"] = self.gini.as_dict()
        out["mean"], out["null_mean"] = _plain(self.mean), _plain(self.null_mean)
        return out


def _anderson(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns when it clips the p-value
        try:
            res = stats.anderson_ksamp([a, b], variant="midrank")
        except TypeError:  # scipy < 1.17
            res = stats.anderson_ksamp([a, b], midrank=True)
    p = getattr(res, "pvalue", None)
    p = res.significance_level if p is None else p
    return float(res.statistic), float(p)


def compare_to_null(degrees: np.ndarray, null_degrees: Sequence[np.ndarray]) -> NullComparison:
    """Compare a layer's degrees with the degrees of K random-pruning null draws.

    Args:
        degrees: the layer's node degrees (1-D non-negative integers).
        null_degrees: K >= 1 arrays of the same layer's degrees under random masks with the same
            kept count (each as many nodes as ``degrees``).

    Returns:
        The :class:`NullComparison`.

    Raises:
        ValueError: for invalid degrees, no null draw, a draw of another size, or all degrees
            (real and null) equal, where no two-sample test is defined.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> null = [rng.binomial(100, 0.2, 50) for _ in range(20)]
        >>> res = compare_to_null(rng.binomial(100, 0.2, 50), null)
        >>> res.k, res.ks_p_value > 0.05
        (20, True)
    """
    real = check_data(degrees, discrete=True)
    if len(null_degrees) == 0:
        raise ValueError("Expected at least one null draw but got none")
    draws = []
    for index, draw in enumerate(null_degrees):
        values = check_data(draw, discrete=True)
        if values.size != real.size:
            raise ValueError(
                f"Expected each null draw to have {real.size} nodes like the layer but got "
                f"{values.size} in draw {index}"
            )
        draws.append(values)
    pooled = np.concatenate(draws)
    if real.size == 0 or np.unique(np.concatenate([real, pooled])).size < 2:
        raise ValueError(
            f"Expected degrees that are not all equal but got {real.size} real and "
            f"{pooled.size} null degrees of one value"
        )
    ks = stats.ks_2samp(real, pooled)
    ad_statistic, ad_p = _anderson(real, pooled)
    clipped = ad_p <= 0.001 + 1e-12 or ad_p >= 0.25 - 1e-12
    return NullComparison(
        n=int(real.size),
        k=len(draws),
        ks_statistic=float(ks.statistic),
        ks_p_value=float(ks.pvalue),
        ad_statistic=ad_statistic,
        ad_p_value=ad_p,
        ad_p_clipped=bool(clipped),
        dispersion=NullSpread.of(dispersion_index(real), [dispersion_index(d) for d in draws]),
        gini=NullSpread.of(gini(real), [gini(d) for d in draws]),
        mean=float(real.mean()),
        null_mean=float(pooled.mean()),
    )
