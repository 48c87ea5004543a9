"""Size and power of the goodness-of-fit bootstrap and of every likelihood-ratio comparison.

Data are drawn from each model in turn, at the layer sizes of the paper's nets (32, 256, 784 and
1024 nodes), and every test is run as the analysis runs it: the (xmin, xmax) search with r = 4,
the bootstrap p-value (``--n-boot`` replicates; with 99, "p < 0.05" is a test of level exactly
5/100 under exchangeability), :func:`pl_powerlaw.fitting.compare_alternatives`. Printed: the
rejection rate at 0.05 of each test with its Monte-Carlo standard error sqrt(r (1 - r) / R).

The models (degree-like integers):

* ``tpl``: the truncated power law, alpha = 1.5 on [1, 100] (paper eq. 4);
* ``power_law``: the pure power law of exponent 2.5 on [1, inf) (numpy's exact Zipf sampler);
* ``exponential``: the geometric law P(k) = p (1 - p)^(k-1), k >= 1, mean 15;
* ``lognormal``: the discrete log-normal p(k) ~ exp(-(ln k - 2.5)^2 / (2 * 0.8^2)) / k on
  [1, 10^4];
* ``binomial``: Binomial(1024, 0.1), the degrees random pruning gives a 1024-input layer.

The columns, "rejects" meaning p < 0.05:

* ``gof``: the bootstrap rejects the TPL (its null holds under ``tpl`` and ``power_law``, whose
  restriction to any range is a TPL);
* ``pl``: the cut-off test rejects the power law (null true under ``power_law``);
* ``exp>tpl`` / ``exp<tpl``: Vuong's test favours the TPL / the exponential (each a one-sided
  error of size 0.025 when the other model is true);
* ``ln``: the nested test rejects the TPL for the log-normal (null true under ``tpl`` and
  ``power_law``).

    python benchmarks/size_power.py [--reps 200] [--n-boot 99] [--jobs 2] [--sizes 32 256 784 1024]
"""

from __future__ import annotations

import argparse
import math
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np

from pl_powerlaw.fitting import compare_alternatives, fit_truncated_power_law, sample_tpl
from pl_powerlaw.fitting.nested import PL_BOOT

MODELS = ("tpl", "power_law", "exponential", "lognormal", "binomial")
SIZES = (32, 256, 784, 1024)
COLUMNS = ("gof", "pl", "exp>tpl", "exp<tpl", "ln")
LEVEL = 0.05
_PARTS = 8  # data sets of a row are spread over the workers in this many parts
_LN_K = np.arange(1, 10**4 + 1, dtype=float)
_LN_CDF = np.cumsum(np.exp(-((np.log(_LN_K) - 2.5) ** 2) / (2 * 0.8**2)) / _LN_K)
_LN_CDF /= _LN_CDF[-1]


def draw(model: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """n values from ``model`` (see the module docstring)."""
    if model == "tpl":
        return sample_tpl(n, 1.5, 1, 100, rng=rng)
    if model == "power_law":
        return rng.zipf(2.5, n)
    if model == "exponential":
        return rng.geometric(1 / 15, n)
    if model == "lognormal":
        index = np.searchsorted(_LN_CDF, rng.random(n), side="right")
        return np.minimum(index, _LN_K.size - 1) + 1
    if model == "binomial":
        return rng.binomial(1024, 0.1, n)
    raise ValueError(f"Expected a model among {MODELS} but got {model!r}")


def rejections(
    model: str,
    n: int,
    seed: int,
    n_boot: int,
    tests: tuple[str, ...] = COLUMNS,
    pl_boot: int = PL_BOOT,
) -> dict[str, float]:
    """Which tests reject at LEVEL on one seeded data set (NaN: not run, the fit is flagged)."""
    x = draw(model, n, np.random.default_rng(seed))
    fit = fit_truncated_power_law(x, n_boot=n_boot if "gof" in tests else 0, seed=seed)
    out = dict.fromkeys(tests, math.nan)
    if fit.flagged:
        return out
    if "gof" in tests:
        out["gof"] = float(fit.p_value < LEVEL)
    names = [name for name, col in (("power_law", "pl"), ("lognormal", "ln")) if col in tests]
    if "exp>tpl" in tests or "exp<tpl" in tests:
        names.append("exponential")
    results = compare_alternatives(x, fit, names, n_boot=pl_boot, seed=seed) if names else {}
    if "power_law" in results:
        out["pl"] = float(results["power_law"].p_value < LEVEL)
    if "lognormal" in results:
        out["ln"] = float(results["lognormal"].p_value < LEVEL)
    if "exponential" in results:
        test = results["exponential"]
        significant = test.p_value is not None and test.p_value < LEVEL
        out["exp>tpl"] = float(significant and test.loglik_ratio > 0)
        out["exp<tpl"] = float(significant and test.loglik_ratio < 0)
    return out


def _cell(args: tuple) -> list[dict[str, float]]:
    model, n, seeds, n_boot, tests, pl_boot = args
    return [rejections(model, n, seed, n_boot, tests, pl_boot) for seed in seeds]


def pool(jobs: int) -> ProcessPoolExecutor:
    """Worker processes for :func:`rates` (spawned: safe with any threads in the parent)."""
    return ProcessPoolExecutor(jobs, mp_context=get_context("spawn"))


def rates(
    model: str,
    n: int,
    reps: int,
    n_boot: int = 99,
    tests: tuple[str, ...] = COLUMNS,
    workers: ProcessPoolExecutor | None = None,
    first_seed: int = 0,
    pl_boot: int = PL_BOOT,
) -> dict[str, tuple[float, float, int]]:
    """Per test: rejection rate, its Monte-Carlo standard error and the data sets it ran on.

    Args:
        model: one of ``MODELS``.
        n: nodes per data set.
        reps: data sets (seeds ``first_seed`` on).
        n_boot: goodness-of-fit bootstrap replicates (used when ``gof`` is among ``tests``).
        tests: the columns to compute.
        workers: a :func:`pool` to spread the data sets over (None: this process).
        first_seed: the first seed.
        pl_boot: bootstrap replicates of the cut-off test.
    """
    seeds = list(range(first_seed, first_seed + reps))
    if workers is None:
        rows = _cell((model, n, seeds, n_boot, tests, pl_boot))
    else:
        parts = [(model, n, seeds[k::_PARTS], n_boot, tests, pl_boot) for k in range(_PARTS)]
        rows = [row for part in workers.map(_cell, parts) for row in part]
    out = {}
    for test in tests:
        values = np.array([row[test] for row in rows])
        values = values[~np.isnan(values)]
        r = float(values.mean()) if values.size else math.nan
        se = math.sqrt(r * (1 - r) / values.size) if values.size else math.nan
        out[test] = (r, se, int(values.size))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=200, help="data sets per model and size")
    parser.add_argument("--n-boot", type=int, default=99, help="goodness-of-fit replicates")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    args = parser.parse_args()
    print(f"rejection rate at {LEVEL} +- Monte-Carlo s.e.; {args.reps} data sets per row, ")
    print(f"goodness of fit with {args.n_boot} bootstrap replicates")
    print(f"{'model':<12} {'n':>5} {'fits':>5} " + " ".join(f"{c:>13}" for c in COLUMNS))
    workers = pool(args.jobs) if args.jobs > 1 else None
    for model in args.models:
        for n in args.sizes:
            start = time.perf_counter()
            res = rates(model, n, args.reps, args.n_boot, COLUMNS, workers)
            cells = " ".join(f"{r:6.3f}+-{se:5.3f}" for r, se, _ in res.values())
            took = time.perf_counter() - start
            print(f"{model:<12} {n:>5} {res['gof'][2]:>5} {cells}  ({took:.0f} s)", flush=True)
    if workers is not None:
        workers.shutdown()


if __name__ == "__main__":
    main()
