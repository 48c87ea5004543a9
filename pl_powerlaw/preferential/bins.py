"""Log-spaced integer degree bins for the preferential attachment analysis (paper Sec. 4).

Degrees are binned on ``[e_i, e_{i+1})`` from the smallest to the largest positive degree of a
layer; nodes of degree 0 fall in no bin (index -1) and are reported apart.
"""

from __future__ import annotations

import math

import numpy as np


def log_degree_bins(degrees: np.ndarray, n_bins: int = 8) -> np.ndarray:
    """Log-spaced integer bin edges from the smallest to the largest positive degree.

    Args:
        degrees: non-negative integer degrees.
        n_bins: number of log-spaced bins requested; fewer come back when neighbouring edges
            round to the same integer.

    Returns:
        Integer edges ``kmin = e_0 < e_1 < ... < e_m = kmax + 1`` where ``kmin`` and ``kmax`` are
        the smallest and largest degree >= 1; bin ``i`` holds the degrees in ``[e_i, e_{i+1})``.
        With no degree >= 1 the single bin ``[1, 2)`` comes back (it will be empty).

    Example:
        >>> log_degree_bins(np.array([1, 5, 99]), n_bins=2).tolist()
        [1, 10, 100]
        >>> log_degree_bins(np.array([0, 10, 20, 39]), n_bins=2).tolist()
        [10, 20, 40]
    """
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"Expected `n_bins` to be an int >= 1 but got {n_bins!r}")
    degrees = np.asarray(degrees)
    if degrees.size and degrees.min() < 0:
        raise ValueError(f"Expected non-negative `degrees` but got a minimum of {degrees.min()}")
    positive = degrees[degrees >= 1]
    if positive.size == 0:
        return np.array([1, 2], dtype=np.int64)
    kmin, kmax = int(positive.min()), int(positive.max())
    raw = np.logspace(math.log10(kmin), math.log10(kmax + 1), n_bins + 1)
    edges = np.floor(raw + 1e-9).astype(np.int64)
    edges[0], edges[-1] = kmin, kmax + 1
    return np.unique(np.clip(edges, kmin, kmax + 1))


def bin_degrees(degrees: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin index of each degree (``-1`` for degrees outside ``[edges[0], edges[-1])``, e.g. 0)."""
    degrees = np.asarray(degrees)
    index = np.searchsorted(edges, degrees, side="right") - 1
    outside = (degrees < edges[0]) | (degrees >= edges[-1])
    return np.where(outside, -1, index).astype(np.int64)


def bin_means(values: np.ndarray, index: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-bin count of members and mean of ``values`` (NaN for empty bins)."""
    inside = index >= 0
    members = np.bincount(index[inside], minlength=n_bins)
    sums = np.bincount(index[inside], weights=values[inside].astype(np.float64), minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(members > 0, sums / np.maximum(members, 1), np.nan)
    return members.astype(np.int64), means
