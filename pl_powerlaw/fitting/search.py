"""The (xmin, xmax) search of the paper's Section 3, vectorised over all candidate pairs.

For data with sorted distinct positive values v_1 < ... < v_m and counts c_l (n values in all):

* xmin candidates: the distinct values among the smallest ceil(n/r) data; xmax candidates: the
  distinct values among the largest ceil(n/r); pairs need xmin < xmax, at least ``min_tail``
  values and at least ``min_distinct`` distinct values in range. A fixed xmin or xmax (any
  positive number, not necessarily a data value) replaces its candidate set.
* Sufficient statistics of every pair (count, sum of ln x) come from cumulative sums over the
  distinct values; all pairs' score equations are solved together (:func:`solve_alpha`).
* KS distance of a pair: the exact supremum over the integers in [xmin, xmax] of the gap between
  the empirical and the model CCDF of the points in range, computed from the distinct data
  values only (see :mod:`pl_powerlaw.fitting.ks` for the convention and the proof).
* The pair with the smallest D wins; ties (within ``TIE`` = 1e-12) go to more points in range,
  then to the smaller xmin, then to the smaller xmax.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from pl_powerlaw.fitting.ks import ks_distances
from pl_powerlaw.fitting.mle import solve_alpha


@dataclass(frozen=True)
class SearchSettings:
    """What the search needs besides the data."""

    r: float
    min_tail: int
    min_distinct: int
    discrete: bool
    xmin: float | None = None
    xmax: float | None = None


@dataclass(frozen=True)
class Dataset:
    """Sorted distinct positive values and their counts, with cumulative statistics."""

    values: np.ndarray
    counts: np.ndarray

    @classmethod
    def from_values(cls, x: np.ndarray) -> Dataset:
        values, counts = np.unique(x[x > 0], return_counts=True)
        return cls(values.astype(float), counts.astype(np.int64))

    @property
    def n(self) -> int:
        return int(self.counts.sum())


@dataclass(frozen=True)
class Pairs:
    """Candidate (xmin, xmax) pairs of one dataset: in-range index span [i, j] and statistics."""

    lo: np.ndarray
    hi: np.ndarray
    i: np.ndarray
    j: np.ndarray
    n_tail: np.ndarray
    y_lo: np.ndarray  # mean ln(x / xmin) over the values in range
    y_hi: np.ndarray  # mean ln(xmax / x)

    @property
    def size(self) -> int:
        return int(self.lo.size)


@dataclass(frozen=True)
class Best:
    """The winning pair of one dataset (``table``: every candidate's xmin, xmax and alpha, kept
    on request to start the bootstrap's solves)."""

    xmin: float
    xmax: float
    alpha: float
    ks: float
    n_tail: int
    n_distinct: int
    i: int
    j: int
    n_candidates: int
    table: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None


def _range_reason(data: Dataset, lo: float, hi: float, settings: SearchSettings) -> str:
    """Why the fixed range [lo, hi] cannot be fitted (or an empty string if it can)."""
    inside = (data.values >= lo) & (data.values <= hi)
    n_tail, distinct = int(data.counts[inside].sum()), int(inside.sum())
    where = f"[{lo:g}, {hi:g}]"
    if lo >= hi:
        return f"xmin={lo:g} is not below xmax={hi:g}"
    if n_tail == 0:
        return f"no values in {where}"
    if distinct == 1:
        value = data.values[inside][0]
        if value == lo:
            what = "xmin (the MLE of alpha is +inf)"
        elif value == hi:
            what = "xmax (the MLE of alpha is -inf)"
        else:
            what = f"{value:g} (no exponent fits a single value)"
        return f"all {n_tail} values in {where} equal {what}"
    if n_tail < settings.min_tail:
        return f"only {n_tail} values in {where}, fewer than min_tail={settings.min_tail}"
    if distinct < settings.min_distinct:
        return (
            f"only {distinct} distinct values in {where}, "
            f"fewer than min_distinct={settings.min_distinct}"
        )
    return ""


def _data_reason(data: Dataset, settings: SearchSettings) -> str:
    """Why no fit can be made whatever the range (or an empty string)."""
    if data.n == 0:
        return "no positive values"
    if data.values.size == 1:
        return f"a single distinct positive value ({data.values[0]:g}, {data.n} times)"
    if data.n < settings.min_tail:
        return f"only {data.n} positive values, fewer than min_tail={settings.min_tail}"
    if data.values.size < settings.min_distinct:
        return (
            f"only {data.values.size} distinct positive values, "
            f"fewer than min_distinct={settings.min_distinct}"
        )
    return ""


def _nearest(index: np.ndarray, values: np.ndarray, target: float, k: int):
    pick = np.sort(np.argsort(np.abs(values - target), kind="stable")[:k])
    return index[pick], values[pick]


def candidate_pairs(
    data: Dataset, settings: SearchSettings, near: tuple[float, float, int] | None = None
) -> Pairs | str:
    """All valid (xmin, xmax) candidate pairs of ``data``, or the reason why there are none.

    With ``near = (xmin, xmax, k)``, only the pairs of the k xmin candidates nearest xmin and the
    k xmax candidates nearest xmax (the same numbers as in the full set).
    """
    if settings.xmin is not None and settings.xmax is not None:  # a fixed range: say what it holds
        reason = _range_reason(data, settings.xmin, settings.xmax, settings)
    else:
        reason = _data_reason(data, settings)
    if reason:
        return reason
    v, c = data.values, data.counts
    n = data.n
    k = math.ceil(n / settings.r)
    cum = np.cumsum(c)
    before = cum - c
    if settings.xmin is None:
        i_cand = np.flatnonzero(before < k)
        lo_cand = v[i_cand]
    else:
        i_cand = np.array([np.searchsorted(v, settings.xmin, side="left")])
        lo_cand = np.array([float(settings.xmin)])
    if settings.xmax is None:
        j_cand = np.flatnonzero(cum > n - k)
        hi_cand = v[j_cand]
    else:
        j_cand = np.array([np.searchsorted(v, settings.xmax, side="right") - 1])
        hi_cand = np.array([float(settings.xmax)])
    if near is not None:
        i_cand, lo_cand = _nearest(i_cand, lo_cand, near[0], near[2])
        j_cand, hi_cand = _nearest(j_cand, hi_cand, near[1], near[2])
    ii, jj = np.meshgrid(np.arange(i_cand.size), np.arange(j_cand.size), indexing="ij")
    ii, jj = ii.ravel(), jj.ravel()
    i, j = i_cand[ii], j_cand[jj]
    lo, hi = lo_cand[ii], hi_cand[jj]
    n_tail = np.where(j >= i, cum[np.minimum(j, v.size - 1)] - before[np.minimum(i, v.size - 1)], 0)
    ok = (lo < hi) & (j >= i) & (n_tail >= settings.min_tail)
    ok &= j - i + 1 >= settings.min_distinct
    if not ok.any():
        if settings.xmin is not None or settings.xmax is not None:
            fixed = ", ".join(
                f"{name}={value:g}"
                for name, value in (("xmin", settings.xmin), ("xmax", settings.xmax))
                if value is not None
            )
            return (
                f"no candidate range with {fixed} holds min_tail={settings.min_tail} values "
                f"and min_distinct={settings.min_distinct} distinct values"
            )
        return (
            f"no candidate (xmin, xmax) holds min_tail={settings.min_tail} values and "
            f"min_distinct={settings.min_distinct} distinct values"
        )
    i, j, lo, hi, n_tail = i[ok], j[ok], lo[ok], hi[ok], n_tail[ok]
    # Cumulative sums of c ln(v / v_1): small numbers, so the differences keep their precision.
    log_sum = np.concatenate([[0.0], np.cumsum(c * np.log(v / v[0]))])
    mean_log = (log_sum[j + 1] - log_sum[i]) / n_tail  # mean ln(x / v_1)
    y_lo = mean_log - np.log(lo / v[0])
    y_hi = np.log(hi / v[0]) - mean_log
    return Pairs(lo, hi, i, j, n_tail, y_lo, y_hi)


def exact_statistics(data: Dataset, lo: float, hi: float, i: int, j: int) -> tuple[float, float]:
    """Mean ln(x / xmin) and mean ln(xmax / x) of the values in range, summed directly."""
    v, c = data.values[i : j + 1], data.counts[i : j + 1]
    n_tail = c.sum()
    return float(np.sum(c * np.log(v / lo)) / n_tail), float(np.sum(c * np.log(hi / v)) / n_tail)


TIE = 1e-12  # KS distances this close are equal (their rounding error is ~1e-15)


def select_best(pairs: Pairs, ks: np.ndarray) -> int:
    """Index of the winning pair: smallest KS, then most points in range, smaller xmin, xmax."""
    tied = np.flatnonzero(ks <= ks.min() + TIE)
    order = np.lexsort((pairs.hi[tied], pairs.lo[tied], -pairs.n_tail[tied]))
    return int(tied[order[0]])


Guess = Callable[[np.ndarray, np.ndarray], np.ndarray]


def search(
    datasets: Sequence[Dataset],
    settings: SearchSettings,
    guess: Guess | float = 1.5,
    keep: bool = False,
) -> list[Best | str]:
    """Run the (xmin, xmax) search on several datasets at once (one solve for all their pairs).

    Args:
        datasets: the datasets (e.g. bootstrap replicates).
        settings: search settings.
        guess: starting exponent of the solver, or a function of (xmin, xmax) arrays giving one.
        keep: keep every candidate's (xmin, xmax, alpha) in :attr:`Best.table`.

    Returns:
        Per dataset, the winning pair (:class:`Best`) or the reason no pair is valid.
    """
    all_pairs = [candidate_pairs(d, settings) for d in datasets]
    valid = [p for p in all_pairs if isinstance(p, Pairs)]
    if not valid:
        return list(all_pairs)
    lo = np.concatenate([p.lo for p in valid])
    hi = np.concatenate([p.hi for p in valid])
    y_lo = np.concatenate([p.y_lo for p in valid])
    y_hi = np.concatenate([p.y_hi for p in valid])
    alpha0 = guess(lo, hi) if callable(guess) else guess
    sol = solve_alpha(lo, hi, y_lo, y_hi, settings.discrete, alpha0)
    results: list[Best | str] = []
    offset = 0
    for data, pairs in zip(datasets, all_pairs, strict=True):
        if isinstance(pairs, str):
            results.append(pairs)
            continue
        sl = slice(offset, offset + pairs.size)
        offset += pairs.size
        alpha = sol.alpha[sl]
        ks = ks_distances(
            data.values,
            data.counts,
            pairs.lo,
            pairs.hi,
            pairs.i,
            pairs.j,
            alpha,
            sol.log_m[sl],
            np.exp(sol.log_s0[sl]),
            settings.discrete,
        )
        usable = np.isfinite(ks) & np.isfinite(alpha) & sol.converged[sl]
        if not usable.any():  # numerically hopeless data (never seen): no silent NaN
            results.append("the likelihood could not be maximised on any candidate range")
            continue
        k = select_best(pairs, np.where(usable, ks, np.inf))
        results.append(
            Best(
                xmin=float(pairs.lo[k]),
                xmax=float(pairs.hi[k]),
                alpha=float(alpha[k]),
                ks=float(ks[k]),
                n_tail=int(pairs.n_tail[k]),
                n_distinct=int(pairs.j[k] - pairs.i[k] + 1),
                i=int(pairs.i[k]),
                j=int(pairs.j[k]),
                n_candidates=pairs.size,
                table=(pairs.lo, pairs.hi, alpha) if keep else None,
            )
        )
    return results


def pair_distances(
    items: Sequence[tuple[Dataset, Pairs, np.ndarray]], settings: SearchSettings, guess: Guess
) -> list[np.ndarray]:
    """Exact KS distances of chosen candidate pairs of several datasets (one solve for all).

    Args:
        items: per dataset, its candidate pairs and the indices (ascending) of those to evaluate.
        settings: search settings.
        guess: starting exponents as a function of (xmin, xmax).

    Returns:
        Per item, the distances of its chosen pairs (inf where the solve is unusable), the same
        numbers :func:`search` computes for those pairs.
    """
    if not items:
        return []
    lo = np.concatenate([p.lo[k] for _, p, k in items])
    hi = np.concatenate([p.hi[k] for _, p, k in items])
    y_lo = np.concatenate([p.y_lo[k] for _, p, k in items])
    y_hi = np.concatenate([p.y_hi[k] for _, p, k in items])
    sol = solve_alpha(lo, hi, y_lo, y_hi, settings.discrete, guess(lo, hi))
    out, offset = [], 0
    for data, pairs, k in items:
        sl = slice(offset, offset + k.size)
        offset += k.size
        alpha = sol.alpha[sl]
        ks = ks_distances(
            data.values,
            data.counts,
            pairs.lo[k],
            pairs.hi[k],
            pairs.i[k],
            pairs.j[k],
            alpha,
            sol.log_m[sl],
            np.exp(sol.log_s0[sl]),
            settings.discrete,
        )
        usable = np.isfinite(ks) & np.isfinite(alpha) & sol.converged[sl]
        out.append(np.where(usable, ks, np.inf))
    return out
