"""``fit_truncated_power_law``: the paper's fitting method (Section 3) in one call."""

from __future__ import annotations

import numbers
from dataclasses import replace
from typing import Any

import numpy as np

from pl_powerlaw.fitting.bootstrap import bootstrap_p_value
from pl_powerlaw.fitting.checks import check_data
from pl_powerlaw.fitting.ks import ks_distances
from pl_powerlaw.fitting.mle import solve_alpha
from pl_powerlaw.fitting.result import TPLFit
from pl_powerlaw.fitting.search import Best, Dataset, SearchSettings, exact_statistics, search

DEFAULT_R = 4.0
DEFAULT_MIN_TAIL = 10
DEFAULT_MIN_DISTINCT = 5


def _check_int(name: str, value: Any, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < least:
        raise ValueError(f"Expected `{name}` to be an integer >= {least} but got {value!r}")
    return int(value)


def _check_bound(name: str, value: Any, discrete: bool) -> float | None:
    if value is None:
        return None
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    ok = ok and np.isfinite(value) and value > 0
    if not ok or (discrete and value != int(value)):
        kind = "a positive integer" if discrete else "a positive finite number"
        raise ValueError(f"Expected `{name}` to be None or {kind} but got {value!r}")
    return float(value)


def fit_truncated_power_law(
    x: Any,
    r: float = DEFAULT_R,
    xmin: float | None = None,
    xmax: float | None = None,
    min_tail: int = DEFAULT_MIN_TAIL,
    min_distinct: int = DEFAULT_MIN_DISTINCT,
    discrete: bool = True,
    n_boot: int = 0,
    seed: int | None = 0,
    progress: bool = False,
    n_jobs: int = 1,
) -> TPLFit:
    """Fit a truncated power law p(x) ~ x^-alpha on [xmin, xmax] (paper eqs. 2-4, Section 3).

    Zeros are excluded and counted (``n_zero``). xmin is searched among the distinct values of the
    smallest ceil(n/r) positive values, xmax among those of the largest ceil(n/r), with
    xmin < xmax; alpha is the exact maximum-likelihood exponent on each candidate range (any real:
    a bounded support makes every alpha valid); the candidate with the smallest KS distance wins.

    KS convention: D = max over the integers x in [xmin, xmax] of |S(x) - P(x)|, S the empirical
    and P the model CCDF P(X >= x) of the values in range (for ``discrete=False`` the usual
    supremum over the reals). It is computed exactly from the distinct data values, see
    :mod:`pl_powerlaw.fitting.ks`.

    Defaults, and why:

    * ``r = 4``: xmin lies in the lowest quartile and xmax in the highest, so every fitted range
      covers at least the interquartile range, i.e. about half of the nodes: the fit always
      describes the bulk of a layer and cannot win by fitting a sliver. (The paper's value is
      lost; r = 4 also keeps the grid at (n/4)^2 pairs at most.)
    * ``min_tail = 10``: alpha's standard error is about (alpha - 1) / sqrt(n_tail), a third of
      alpha - 1 at 10 points, and the KS test has little power below that (its 5 % critical value
      is 0.41 at n = 10); 10 still admits conv layers of 16-32 feature maps.
    * ``min_distinct = 5``: with d distinct values in range the data have d - 1 free proportions
      and alpha fits one of them exactly; at d = 2 the KS distance is 0 and at d = 3-4 it is
      small whatever the shape, so such narrow ranges would always win. Five leave at least three
      proportions that the model must predict.

    Goodness of fit (``n_boot`` > 0): the semi-parametric bootstrap of
    :mod:`pl_powerlaw.fitting.bootstrap`; ``p_value`` is the fraction of synthetic data sets whose
    own best KS distance is at least the observed one, ``p_value_se`` its standard error.

    Flagged results (``flagged=True`` with a ``reason``; numbers that do not exist are None):
    no positive value, a single distinct value, fewer than ``min_tail`` values or
    ``min_distinct`` distinct values, a fixed range holding only xmin or only xmax (alpha would
    be +inf or -inf), and no candidate range meeting the limits. They never raise.

    Args:
        x: 1-D data (a node layer's degrees): finite, non-negative, integers when ``discrete``.
        r: search fraction (>= 1), see above.
        xmin: fixed lower cut-off instead of the search (need not be a data value).
        xmax: fixed upper cut-off instead of the search.
        min_tail: least values in a candidate range (>= 2).
        min_distinct: least distinct values in a candidate range (>= 2).
        discrete: discrete model (eq. 4) on the integers, or continuous (eqs. 2-3).
        n_boot: bootstrap replicates for the goodness-of-fit p-value (0: no p-value).
        seed: seed of the bootstrap (reproducible for any ``n_jobs``).
        progress: show a tqdm bar over the bootstrap replicates.
        n_jobs: worker processes for the bootstrap (1: none). Workers are spawned, so a script
            using more than one needs the usual ``if __name__ == "__main__":`` guard.

    Returns:
        The :class:`~pl_powerlaw.fitting.result.TPLFit` (``n`` counts the positive values).

    Raises:
        ValueError: on invalid data or arguments (never for data that cannot be fitted: those
            give a flagged result).

    Example:
        >>> from pl_powerlaw.fitting import sample_tpl
        >>> x = sample_tpl(2000, 1.8, 3, 500, rng=1)
        >>> fit = fit_truncated_power_law(x)
        >>> round(fit.alpha, 1), fit.flagged
        (1.8, False)
    """
    if isinstance(r, bool) or not isinstance(r, numbers.Real) or not (1 <= r < np.inf):
        raise ValueError(f"Expected `r` to be a number >= 1 but got {r!r}")
    min_tail = _check_int("min_tail", min_tail, 2)
    min_distinct = _check_int("min_distinct", min_distinct, 2)
    n_boot = _check_int("n_boot", n_boot, 0)
    n_jobs = _check_int("n_jobs", n_jobs, 1)
    if seed is not None:
        seed = _check_int("seed", seed, 0)
    if not isinstance(discrete, (bool, np.bool_)):
        raise ValueError(f"Expected `discrete` to be True or False but got {discrete!r}")
    xmin_f = _check_bound("xmin", xmin, discrete)
    xmax_f = _check_bound("xmax", xmax, discrete)
    if xmin_f is not None and xmax_f is not None and xmin_f >= xmax_f:
        raise ValueError(f"Expected `xmin` < `xmax` but got xmin={xmin}, xmax={xmax}")
    arr = check_data(x, bool(discrete))
    positive = arr[arr > 0]
    settings = SearchSettings(float(r), min_tail, min_distinct, bool(discrete), xmin_f, xmax_f)
    common = {
        "n": int(positive.size),
        "n_zero": int(arr.size - positive.size),
        "n_boot": n_boot,
        "discrete": bool(discrete),
        "r": float(r),
        "min_tail": min_tail,
        "min_distinct": min_distinct,
        "seed": seed,
    }
    data = Dataset.from_values(positive)
    (best,) = search([data], settings, keep=n_boot > 0)
    if isinstance(best, str):
        return _flagged(best, data, settings, common)
    best, extra = _refine(data, best, settings.discrete)
    if not (np.isfinite(best.alpha) and np.isfinite(best.ks)):  # never seen: no silent NaN
        return _flagged("the likelihood could not be maximised", data, settings, common)
    p_value = p_value_se = None
    n_valid = 0
    if n_boot:
        boot = bootstrap_p_value(positive, best, settings, n_boot, seed, progress, n_jobs)
        p_value, p_value_se, n_valid = boot.p_value, boot.p_value_se, boot.n_valid
    as_bound = int if discrete else float
    return TPLFit(
        alpha=best.alpha,
        xmin=as_bound(best.xmin),
        xmax=as_bound(best.xmax),
        ks=best.ks,
        n_tail=best.n_tail,
        loglik=extra["loglik"],
        p_value=p_value,
        p_value_se=p_value_se,
        alpha_se=extra["alpha_se"],
        n_distinct=best.n_distinct,
        n_candidates=best.n_candidates,
        n_boot_valid=n_valid,
        **common,
    )


def _refine(data: Dataset, best: Best, discrete: bool) -> tuple[Best, dict[str, float]]:
    """Re-solve the winner with directly summed statistics; its KS, log-likelihood and SE."""
    y_lo, y_hi = exact_statistics(data, best.xmin, best.xmax, best.i, best.j)
    sol = solve_alpha(best.xmin, best.xmax, y_lo, y_hi, discrete, best.alpha)
    alpha, log_m, log_s0 = float(sol.alpha[0]), float(sol.log_m[0]), float(sol.log_s0[0])
    one = np.array
    ks = ks_distances(
        data.values,
        data.counts,
        one([best.xmin]),
        one([best.xmax]),
        one([best.i]),
        one([best.j]),
        sol.alpha,
        sol.log_m,
        np.exp(sol.log_s0),
        discrete,
    )[0]
    v, c = data.values[best.i : best.j + 1], data.counts[best.i : best.j + 1]
    # -alpha sum ln(x/m) - n ln S_0 = -alpha sum ln x - n ln Z (eq. 4), without cancellation.
    loglik = float(-alpha * np.sum(c * (np.log(v) - log_m)) - best.n_tail * log_s0)
    var = float(sol.var_log[0])
    alpha_se = float(1.0 / np.sqrt(best.n_tail * var)) if var > 0 else None
    refined = replace(best, alpha=alpha, ks=float(ks))
    return refined, {"loglik": loglik, "alpha_se": alpha_se}


def _flagged(reason: str, data: Dataset, settings: SearchSettings, common: dict) -> TPLFit:
    """A flagged fit; a fixed range keeps its bounds and counts."""
    xmin = xmax = None
    n_tail = n_distinct = 0
    if settings.xmin is not None and settings.xmax is not None:
        as_bound = int if settings.discrete else float
        xmin, xmax = as_bound(settings.xmin), as_bound(settings.xmax)
        inside = (data.values >= settings.xmin) & (data.values <= settings.xmax)
        n_tail, n_distinct = int(data.counts[inside].sum()), int(inside.sum())
    return TPLFit(
        alpha=None,
        xmin=xmin,
        xmax=xmax,
        ks=None,
        n_tail=n_tail,
        n_distinct=n_distinct,
        flagged=True,
        reason=reason,
        **common,
    )
