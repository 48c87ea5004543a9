"""The semi-parametric bootstrap p-value (Clauset et al. 2009, adapted to two-sided truncation).

References: under the model the p-value is uniform on (0, 1), so p-values of data drawn from the
model must spread over the interval (checked with a KS test against the uniform law); binomial
degrees, whose bell shape no monotone power law can follow, must give p near 0.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from pl_powerlaw.fitting import TPLSampler, fit_truncated_power_law, sample_tpl
from pl_powerlaw.fitting.bootstrap import _synthetic


def test_p_values_spread_over_the_unit_interval_on_model_data():
    p = [
        fit_truncated_power_law(
            sample_tpl(400, 1.6, 2, 300, rng=100 + s), n_boot=40, seed=s
        ).p_value
        for s in range(16)
    ]
    assert 0.25 < np.mean(p) < 0.75  # uniform mean 0.5, standard error 0.07
    assert min(p) < 0.3 and max(p) > 0.7
    assert stats.kstest(p, "uniform").pvalue > 0.01


@pytest.mark.parametrize("seed", [0, 1])
def test_p_value_is_near_zero_on_binomial_degrees(seed):
    x = np.random.default_rng(seed).binomial(40, 0.15, 3000)  # mean 6, a hump, not a power law
    fit = fit_truncated_power_law(x, n_boot=50, seed=seed)
    assert fit.p_value <= 0.02


def test_synthetic_sets_mix_model_draws_and_outside_values():
    rng = np.random.default_rng(0)
    outside = np.array([1, 1, 2, 500, 700])
    sets = _synthetic(rng, TPLSampler(1.5, 10, 100), outside, n=200, q=0.75, size=300)
    assert all(s.size == 200 for s in sets)
    values = np.concatenate(sets)
    inside = (values >= 10) & (values <= 100)
    assert set(np.unique(values[~inside])) <= set(outside.tolist())
    # Each value comes from the model with probability 3/4 (binomial standard error 0.0016).
    assert inside.mean() == pytest.approx(0.75, abs=0.01)


def test_all_model_draws_when_no_value_lies_outside():
    sets = _synthetic(np.random.default_rng(1), TPLSampler(2.0, 1, 50), np.array([]), 40, 1.0, 3)
    assert all(s.size == 40 and s.min() >= 1 and s.max() <= 50 for s in sets)


def test_fixed_bounds_are_kept_in_the_replicates(monkeypatch):
    from pl_powerlaw.fitting import bootstrap

    seen = []
    real_search = bootstrap.search

    def spy(datasets, settings, guess):
        results = real_search(datasets, settings, guess)
        seen.extend(results)
        return results

    monkeypatch.setattr(bootstrap, "search", spy)
    x = sample_tpl(300, 1.2, 1, 100, rng=9)
    fit = fit_truncated_power_law(x, xmin=1, xmax=100, n_boot=30)
    assert (fit.xmin, fit.xmax) == (1, 100)
    assert 0.0 <= fit.p_value <= 1.0 and fit.n_boot_valid == 30
    fitted = [r for r in seen if hasattr(r, "xmin")]
    assert fitted, "no replicate went through the search"
    assert {(r.xmin, r.xmax) for r in fitted} == {(1, 100)}  # every replicate: the fixed range


def _hub_layer():
    """A binomial bulk with power-law hubs (a pruned fc layer's shape)."""
    bulk = np.random.default_rng(3).binomial(300, 0.1, 500)
    hubs = np.floor(10 * (1 - np.random.default_rng(4).random(200)) ** (-1 / 1.5)).astype(int)
    return np.concatenate([bulk, hubs])


def _exhaustive(monkeypatch):
    from pl_powerlaw.fitting import bootstrap

    monkeypatch.setattr(bootstrap._Probing, "observed", property(lambda self: None))


@pytest.mark.parametrize(
    "x",
    [
        np.random.default_rng(2).binomial(1024, 0.1, 1024),  # p near 0: most replicates resolve
        _hub_layer(),  # p ~ 0.1: some resolve
        sample_tpl(600, 1.4, 1, 200, rng=6),  # p spread over (0, 1)
        np.concatenate([sample_tpl(500, 2.0, 3, 80, rng=7), [1, 1, 2, 500, 900]]),
    ],
)
def test_early_resolution_gives_the_exhaustive_p_value(x, monkeypatch):
    fast = fit_truncated_power_law(x, n_boot=60, seed=11)
    _exhaustive(monkeypatch)
    slow = fit_truncated_power_law(x, n_boot=60, seed=11)
    assert fast.p_value == slow.p_value and fast.n_boot_valid == slow.n_boot_valid


def test_probed_replicates_are_on_the_same_side_of_the_observed_distance():
    from pl_powerlaw.fitting.bootstrap import _Guess, _replicate_ks
    from pl_powerlaw.fitting.search import Dataset, SearchSettings, search

    x = _hub_layer()
    settings = SearchSettings(4.0, 10, 5, True)
    (best,) = search([Dataset.from_values(x)], settings, keep=True)
    sampler = TPLSampler(best.alpha, int(best.xmin), int(best.xmax))
    outside = x[(x < best.xmin) | (x > best.xmax)]
    q = best.n_tail / x.size
    samples = _synthetic(np.random.default_rng(9), sampler, outside, x.size, q, 25)
    guess = _Guess(best.table, best.alpha)
    probed, resolved = _replicate_ks(samples, settings, guess, (best.ks, best.xmin, best.xmax))
    full, none = _replicate_ks(samples, settings, guess, None)
    assert none == 0 and 0 < resolved < 25  # both branches are exercised
    assert np.array_equal(probed >= best.ks, full >= best.ks)
    assert np.all(probed >= full - 1e-12)  # a probe distance bounds the best one from above
    kept = probed >= best.ks  # not resolved: the exhaustive search's own distance
    assert np.allclose(probed[kept], full[kept], rtol=0, atol=1e-14)


def test_a_chunk_without_any_probe_pair_goes_to_the_full_search():
    """Regression: probing a chunk in which no replicate has a probe pair raised ValueError."""
    from pl_powerlaw.fitting.bootstrap import _Guess, _replicate_ks
    from pl_powerlaw.fitting.search import SearchSettings

    samples = [np.full(30, 4), np.full(30, 7)]  # one distinct value each: no pair at all
    settings = SearchSettings(4.0, 10, 5, True)
    ks, resolved = _replicate_ks(samples, settings, _Guess(None, 1.5), (0.5, 4.0, 7.0))
    assert resolved == 0 and np.isnan(ks).all()
