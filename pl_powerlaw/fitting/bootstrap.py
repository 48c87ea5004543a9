"""Goodness of fit: Clauset, Shalizi & Newman's (2009, Section 4.1) semi-parametric bootstrap,
adapted to a two-sided truncation.

Each synthetic data set has as many values as the positive data (n). Each value is drawn from the
fitted truncated power law with probability n_tail / n, otherwise resampled uniformly from the
observed positive values outside [xmin, xmax]. Each replicate repeats the full (xmin, xmax)
search (with the same r, min_tail, min_distinct and fixed bounds), and

    p = (replicates whose KS distance >= the observed one) / (replicates with a valid fit)

with binomial standard error sqrt(p (1 - p) / n_valid). Replicates are drawn in fixed-size
chunks from one seeded generator in the calling process, so results do not depend on
``n_jobs``. Chunks of replicates share one vectorised solve (all their candidate pairs at once),
started from the observed fit's exponents of the same (xmin, xmax).

Early resolution (exact): p only needs to know, per replicate, whether its best distance
D* = min over its candidate pairs is at least the observed D. Each replicate's probe pairs (the
``PROBES`` xmin candidates nearest the fit's xmin times the ``PROBES`` xmax candidates nearest its
xmax: replicates are drawn from that fit, so these pairs fit them well) are evaluated first,
exactly as the search would; if one lies below D - ``TIE``, then D* < D and the full search of
that replicate is skipped. Every other replicate gets the full search. The p-value is therefore
the one of the exhaustive search for the same seed (only the replicate distances recorded for
resolved replicates change: their smallest probe distance, an upper bound of D* below D). Probing
stops once fewer than ``PROBE_RATE`` of the probed replicates resolve (a fit with a large p,
where it would not pay). On a poorly fitting layer (p near 0) nearly every replicate resolves
and the bootstrap is 10-15 times faster; near p = 1 it costs what the exhaustive search costs.
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context

import numpy as np
from tqdm import tqdm

from pl_powerlaw.fitting.distributions import TPLSampler
from pl_powerlaw.fitting.search import (
    TIE,
    Best,
    Dataset,
    Pairs,
    SearchSettings,
    candidate_pairs,
    pair_distances,
    search,
)

CHUNK = 25  # replicates per vectorised search
PROBES = 3  # xmin and xmax candidates nearest the fit's: up to 9 probe pairs per replicate
PROBE_RATE = 0.2  # probing goes on while at least this fraction of probed replicates resolve


@dataclass(frozen=True)
class BootstrapResult:
    """Outcome of the bootstrap: the p-value, its standard error and the replicate distances."""

    p_value: float | None
    p_value_se: float | None
    n_valid: int
    ks: np.ndarray  # per replicate: its best KS distance, or for a replicate resolved early an
    # upper bound of it below the observed distance (NaN where the search found no pair)


class _Guess:
    """Starting exponents for replicate pairs: the observed fit's for the same (xmin, xmax)."""

    def __init__(self, table: tuple[np.ndarray, np.ndarray, np.ndarray] | None, alpha: float):
        self.alpha = alpha
        self.table = None
        if table is not None:
            lo, hi, values = table
            self.lo, self.hi = np.unique(lo), np.unique(hi)
            grid = np.full((self.lo.size, self.hi.size), alpha)
            grid[np.searchsorted(self.lo, lo), np.searchsorted(self.hi, hi)] = values
            self.table = grid

    def __call__(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        if self.table is None:
            return np.full(lo.shape, self.alpha)
        row = np.minimum(np.searchsorted(self.lo, lo), self.lo.size - 1)
        col = np.minimum(np.searchsorted(self.hi, hi), self.hi.size - 1)
        hit = (self.lo[row] == lo) & (self.hi[col] == hi)
        return np.where(hit, self.table[row, col], self.alpha)


def _synthetic(
    rng: np.random.Generator, sampler: TPLSampler, outside: np.ndarray, n: int, q: float, size: int
) -> list[np.ndarray]:
    """``size`` synthetic data sets of n values each (see the module docstring)."""
    from_model = rng.binomial(n, q, size=size) if outside.size else np.full(size, n)
    model = sampler.draw(rng, int(from_model.sum()))
    rest = outside[rng.integers(0, max(outside.size, 1), size=size * n - int(from_model.sum()))]
    model_parts = np.split(model, np.cumsum(from_model)[:-1])
    rest_parts = np.split(rest, np.cumsum(n - from_model)[:-1])
    return [np.concatenate([a, b]) for a, b in zip(model_parts, rest_parts, strict=True)]


def _replicate_ks(
    samples: list[np.ndarray],
    settings: SearchSettings,
    guess: _Guess,
    observed: tuple[float, float, float] | None = None,
) -> np.ndarray:
    """Best KS distance of each synthetic data set (NaN where no pair is valid), and how many sets
    were resolved by their probes.

    With ``observed = (ks, xmin, xmax)`` of the fit, the probe pairs of each set are evaluated
    first; a set with a probe below ``ks - TIE`` cannot reach the observed distance, and its
    smallest probe distance is returned instead of its best (see the module docstring).
    """
    datasets = [Dataset.from_values(x) for x in samples]
    out = np.full(len(datasets), np.nan)
    rest = list(range(len(datasets)))
    if observed is not None:
        ks, xmin, xmax = observed
        pairs = [candidate_pairs(d, settings, (xmin, xmax, PROBES)) for d in datasets]
        chosen = [k for k in rest if isinstance(pairs[k], Pairs)]
        items = [(datasets[k], pairs[k], np.arange(pairs[k].size)) for k in chosen]
        for k, dist in zip(chosen, pair_distances(items, settings, guess), strict=True):
            if dist.size and dist.min() < ks - TIE:
                out[k] = dist.min()
        rest = [k for k in rest if np.isnan(out[k])]
    results = search([datasets[k] for k in rest], settings, guess)
    for k, result in zip(rest, results, strict=True):
        if isinstance(result, Best):
            out[k] = result.ks
    return out, len(datasets) - len(rest)


class _Probing:
    """Whether to probe: while at least ``PROBE_RATE`` of the probed replicates were resolved
    (probing costs a little and saves the search only where it resolves)."""

    def __init__(self, observed: tuple[float, float, float]) -> None:
        self._observed = observed
        self.probed = self.resolved = 0

    @property
    def observed(self) -> tuple[float, float, float] | None:
        useful = self.probed < 2 * CHUNK or self.resolved >= PROBE_RATE * self.probed
        return self._observed if useful else None

    def update(self, size: int, resolved: int) -> None:
        if self.observed is not None:
            self.probed += size
            self.resolved += resolved


def bootstrap_p_value(
    positive: np.ndarray,
    best: Best,
    settings: SearchSettings,
    n_boot: int,
    seed: int | None = 0,
    progress: bool = False,
    n_jobs: int = 1,
) -> BootstrapResult:
    """Bootstrap p-value of the fit ``best`` of the positive data ``positive``.

    Args:
        positive: the positive data values (zeros already removed).
        best: the observed fit (its ``table`` gives the replicates' starting exponents).
        settings: the search settings of the observed fit.
        n_boot: number of replicates (>= 1).
        seed: seed of the generator.
        progress: show a tqdm bar over the replicates.
        n_jobs: worker processes (1: in this process).

    Returns:
        The :class:`BootstrapResult`.
    """
    rng = np.random.default_rng(seed)
    n = positive.size
    inside = (positive >= best.xmin) & (positive <= best.xmax)
    outside = positive[~inside]
    xmin, xmax = (int(best.xmin), int(best.xmax)) if settings.discrete else (best.xmin, best.xmax)
    sampler = TPLSampler(best.alpha, xmin, xmax, settings.discrete)
    guess = _Guess(best.table, best.alpha)
    sizes = [min(CHUNK, n_boot - start) for start in range(0, n_boot, CHUNK)]
    chunks = (_synthetic(rng, sampler, outside, n, best.n_tail / n, size) for size in sizes)
    probing = _Probing((best.ks, best.xmin, best.xmax))
    ks = []

    def collect(result: tuple[np.ndarray, int]) -> None:
        ks.append(result[0])
        probing.update(result[0].size, result[1])
        bar.update(result[0].size)

    with tqdm(total=n_boot, desc="bootstrap", unit="rep", disable=not progress) as bar:
        if n_jobs == 1:
            for samples in chunks:
                collect(_replicate_ks(samples, settings, guess, probing.observed))
        else:
            workers = min(n_jobs, len(sizes), os.cpu_count() or 1)
            with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
                pending: deque = deque()
                for samples in chunks:  # at most 2 chunks per worker in flight (memory)
                    args = (samples, settings, guess, probing.observed)
                    pending.append(pool.submit(_replicate_ks, *args))
                    if len(pending) >= 2 * workers:
                        collect(pending.popleft().result())
                while pending:
                    collect(pending.popleft().result())
    ks = np.concatenate(ks)
    valid = ~np.isnan(ks)
    n_valid = int(valid.sum())
    if n_valid == 0:
        return BootstrapResult(None, None, 0, ks)
    p = float(np.count_nonzero(ks[valid] >= best.ks) / n_valid)
    return BootstrapResult(p, float(np.sqrt(p * (1.0 - p) / n_valid)), n_valid, ks)
