"""The random-pruning null comparison: statistics by hand and by brute force, tests by scipy.

References: Gini coefficients from the double sum of |x_i - x_j| and worked by hand, dispersion
indices by hand, scipy.stats.ks_2samp and anderson_ksamp called directly on the pooled sample,
empirical p-values counted by hand.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from scipy import stats

from pl_powerlaw.fitting import compare_to_null
from pl_powerlaw.fitting.null import NullSpread, dispersion_index, gini


def test_gini_by_hand_and_by_double_sum():
    # [1, 2, 3, 4]: sum_ij |x_i - x_j| = 2 (1 + 2 + 3 + 1 + 2 + 1) = 20; 20 / (2 * 16 * 2.5).
    assert gini(np.array([1, 2, 3, 4])) == pytest.approx(0.25, abs=1e-15)
    assert gini(np.array([5, 5, 5])) == pytest.approx(0.0, abs=1e-15)
    assert gini(np.zeros(4)) is None
    rng = np.random.default_rng(0)
    for _ in range(5):
        x = rng.integers(0, 50, 37)
        brute = np.abs(x[:, None] - x[None, :]).sum() / (2 * x.size**2 * x.mean())
        assert gini(x) == pytest.approx(brute, rel=1e-13)


def test_dispersion_by_hand():
    # [1, 2, 3, 6]: mean 3, squared deviations 4 + 1 + 0 + 9 = 14, variance 14 / 3.
    assert dispersion_index(np.array([1, 2, 3, 6])) == pytest.approx(14 / 9, rel=1e-15)
    assert dispersion_index(np.array([0, 0])) is None and dispersion_index(np.array([3])) is None
    # Binomial(m, p): variance / mean = 1 - p (standard error ~ sqrt(2 / n) = 0.006).
    x = np.random.default_rng(1).binomial(1024, 0.1, 50_000)
    assert dispersion_index(x) == pytest.approx(0.9, abs=0.02)


def test_spread_counts_by_hand():
    # null values 1..9 (K = 9), observed 8.5: 1 value >= it, 8 <= it: p = 2 (1 + 1) / 10.
    spread = NullSpread.of(8.5, list(range(1, 10)))
    assert spread.p_value == pytest.approx(0.4)
    assert (spread.null_mean, spread.null_min, spread.null_max) == (5.0, 1.0, 9.0)
    assert spread.null_sd == pytest.approx(np.std(np.arange(1, 10), ddof=1))
    assert spread.z == pytest.approx((8.5 - 5.0) / spread.null_sd)
    assert NullSpread.of(100.0, list(range(1, 10))).p_value == pytest.approx(0.2)  # 2 / (K + 1)
    assert NullSpread.of(5.0, [5.0] * 4).p_value == 1.0 and NullSpread.of(5.0, [5.0] * 4).z is None
    assert NullSpread.of(None, [1.0]).p_value is None


def test_two_sample_tests_are_scipy_on_the_pooled_null():
    rng = np.random.default_rng(2)
    real = rng.binomial(300, 0.1, 200)
    null = [rng.binomial(300, 0.1, 200) for _ in range(5)]
    res = compare_to_null(real, null)
    pooled = np.concatenate(null)
    ks = stats.ks_2samp(real, pooled)
    assert (res.ks_statistic, res.ks_p_value) == (ks.statistic, ks.pvalue)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ad = stats.anderson_ksamp([real, pooled], variant="midrank")
        except TypeError:
            ad = stats.anderson_ksamp([real, pooled], midrank=True)
    assert res.ad_statistic == pytest.approx(ad.statistic, rel=1e-12)
    assert (res.n, res.k) == (200, 5)
    assert res.mean == real.mean() and res.null_mean == pooled.mean()
    disp = [dispersion_index(d) for d in null]
    assert res.dispersion.value == dispersion_index(real)
    assert res.dispersion.null_mean == pytest.approx(np.mean(disp), rel=1e-14)
    assert res.gini.null_max == pytest.approx(max(gini(d) for d in null), rel=1e-14)


def test_hub_layer_is_told_apart_from_random_pruning_and_a_random_layer_is_not():
    rng = np.random.default_rng(3)
    null = [rng.binomial(1024, 0.1, 512) for _ in range(20)]
    random_layer = compare_to_null(rng.binomial(1024, 0.1, 512), null)
    assert random_layer.ks_p_value > 0.01 and random_layer.dispersion.p_value > 0.05
    # Same mean degree (102), but a fifth of the nodes are hubs: over-dispersed and unequal.
    hub = rng.random(512) < 0.2
    hubs = np.where(hub, rng.binomial(1024, 0.4, 512), rng.binomial(1024, 0.05, 512))
    layer = compare_to_null(hubs, null)
    assert layer.ks_p_value < 1e-6 and layer.ad_p_value <= 0.001 and layer.ad_p_clipped
    assert layer.dispersion.value > layer.dispersion.null_max
    assert layer.gini.value > layer.gini.null_max
    assert layer.dispersion.p_value == pytest.approx(2 / 21)  # the smallest: 2 / (K + 1)
    assert layer.gini.p_value == pytest.approx(2 / 21)
    json.dumps(layer.as_dict(), allow_nan=False)


def test_invalid_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="at least one null draw"):
        compare_to_null(np.arange(5), [])
    with pytest.raises(ValueError, match="5 nodes like the layer but got 4 in draw 1"):
        compare_to_null(np.arange(5), [np.arange(5), np.arange(4)])
    with pytest.raises(ValueError, match="non-negative"):
        compare_to_null(np.array([1, -2, 3]), [np.arange(3)])
    with pytest.raises(ValueError, match="not all equal"):
        compare_to_null(np.full(4, 3), [np.full(4, 3)])
