"""Least-squares lines of the preferential attachment analysis (paper eqs. 8 and 10).

The numbers come from :func:`scipy.stats.linregress`; :func:`fit_line` adds the degenerate cases
(too few points, a constant x or y) as None instead of warnings or NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class LineFit:
    """Least-squares line ``y = slope * x + intercept`` with ``r2`` and Pearson ``r`` (None if undefined)."""

    slope: float | None
    intercept: float | None
    r2: float | None
    pearson_r: float | None
    n: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "slope": self.slope,
            "intercept": self.intercept,
            "r2": self.r2,
            "pearson_r": self.pearson_r,
            "n": self.n,
        }


def fit_line(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> LineFit:
    """Ordinary least-squares line through ``(x, y)`` (:func:`scipy.stats.linregress`).

    Args:
        x: abscissae.
        y: ordinates, same length.

    Returns:
        The fit; every field but ``n`` is None with fewer than two points or a constant ``x``,
        ``r2`` and ``pearson_r`` are None when ``y`` is constant.

    Example:
        >>> fit_line([0, 1, 2], [1, 3, 5]).slope
        2.0
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(
            f"Expected 1-d `x` and `y` of equal length but got {x.shape} and {y.shape}"
        )
    n = int(x.size)
    if n < 2 or np.ptp(x) == 0:
        return LineFit(None, None, None, None, n)
    line = stats.linregress(x, y)
    slope, intercept = float(line.slope), float(line.intercept)
    if np.ptp(y) == 0:
        return LineFit(slope, intercept, None, None, n)
    r = float(line.rvalue)
    return LineFit(slope, intercept, r * r, r, n)
