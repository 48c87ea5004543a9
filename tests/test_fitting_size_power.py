"""Size of every test under a true null, at the paper's layer sizes (slow: 1-2 minutes on two
cores). The data and the tests are those of ``benchmarks/size_power.py``.

Reference: with R seeded data sets, the rejection rate of a test of size a has Monte-Carlo
standard error sqrt(a (1 - a) / R); rates are checked within 3 standard errors of the nominal
level (two-sided where the test is exact in the limit, one-sided where it is conservative by
construction: Vuong's one-sided errors, the log-normal test on a range the search picked). The
goodness-of-fit bootstrap uses 59 replicates: p = k / 59 < 0.05 iff k <= 2, of probability
exactly 3 / 60 = 0.05 under the null.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from pl_powerlaw.fitting import compare_alternatives, fit_truncated_power_law, sample_tpl

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import size_power  # noqa: E402

pytestmark = pytest.mark.slow
SIZES = (32, 256, 784, 1024)
REPS = 200
GOF_BOOT = 59
PL_BOOT = 100


@pytest.fixture(scope="module")
def workers():
    jobs = min(2, os.cpu_count() or 1)
    if jobs == 1:
        yield None
        return
    with size_power.pool(jobs) as pool:
        yield pool


def _within(rate: float, count: int, level: float, two_sided: bool = True) -> bool:
    margin = 3 * math.sqrt(level * (1 - level) / count)
    return rate <= level + margin and (not two_sided or rate >= level - margin)


def test_sizes_on_truncated_power_law_data(workers):
    """Goodness of fit (exact level), the log-normal test on searched ranges (valid, conservative)
    and Vuong's wrong-direction error against the exponential (at most 0.025)."""
    gof, total = 0.0, 0
    for n in SIZES:
        res = size_power.rates("tpl", n, REPS, GOF_BOOT, ("gof", "ln", "exp<tpl"), workers)
        rate, _, count = res["gof"]
        assert count == REPS and _within(rate, count, 0.05), (n, rate)
        gof, total = gof + rate * count, total + count
        assert _within(res["ln"][0], count, 0.05, two_sided=False), (n, res["ln"])
        assert _within(res["exp<tpl"][0], count, 0.025, two_sided=False), (n, res["exp<tpl"])
    assert _within(gof / total, total, 0.05), gof / total


def test_cutoff_test_size_on_pure_power_law_data(workers):
    pooled, total = 0.0, 0
    for n in SIZES:
        rate, _, count = size_power.rates(
            "power_law", n, REPS, 0, ("pl",), workers, pl_boot=PL_BOOT
        )["pl"]
        assert count >= REPS // 2 and _within(rate, count, 0.05), (n, rate)
        pooled, total = pooled + rate * count, total + count
    assert _within(pooled / total, total, 0.05), pooled / total


def test_vuong_wrong_direction_on_exponential_data(workers):
    for n in (32, 1024):
        rate, _, count = size_power.rates("exponential", n, REPS, 0, ("exp>tpl",), workers)[
            "exp>tpl"
        ]
        assert _within(rate, count, 0.025, two_sided=False), (n, rate)


@pytest.mark.parametrize("n", [256, 1024])
def test_lognormal_test_size_on_a_fixed_range(n):
    """The chi-bar-square law holds for a range fixed in advance: size 0.05, and half of the
    samples put the log-normal MLE on its boundary (p = 1)."""
    p = []
    for seed in range(2 * REPS):
        x = sample_tpl(n, 1.5, 1, 100, rng=seed)
        fit = fit_truncated_power_law(x, xmin=1, xmax=100)
        p.append(compare_alternatives(x, fit, ["lognormal"])["lognormal"].p_value)
    p = np.array(p)
    assert _within(float(np.mean(p < 0.05)), p.size, 0.05)
    assert np.mean(p == 1.0) == pytest.approx(0.5, abs=3 * math.sqrt(0.25 / p.size))


DOCS = Path(__file__).resolve().parents[1] / "docs" / "verdicts.md"
POWER_ROWS = [("binomial", n) for n in SIZES] + [("exponential", 1024), ("lognormal", 1024)]


def published_rows() -> dict[tuple[str, int], list[str]]:
    """docs/verdicts.md's size-and-power table: (model, n) -> [fits, gof, pl, ...] as printed."""
    text = DOCS.read_text()
    block = text[text.index("## Size and power") :].split("```")[1]
    rows = {}
    for line in block.strip().splitlines()[1:]:
        model, n, *cells = line.split()
        rows[model, int(n)] = cells
    return rows


@pytest.mark.parametrize(("model", "n"), POWER_ROWS, ids=[f"{m}-{n}" for m, n in POWER_ROWS])
def test_published_power_of_the_gof_test_replays(model, n, workers):
    """The power figures docs/verdicts.md and its readers rely on (for example "rejects
    Binomial(1024, 0.1) degrees only 42% of the time") are replayed exactly: the same 300 seeded
    data sets and 99 bootstrap replicates as ``benchmarks/size_power.py --reps 300``."""
    fits, gof = published_rows()[model, n][:2]
    rate, se, count = size_power.rates(model, n, 300, 99, ("gof",), workers)["gof"]
    assert count == int(fits), (model, n, count)
    assert f"{rate:.3f}+-{se:.3f}" == gof, (model, n, rate, se)
