"""The per-layer verdict: one constructed case per label and per boundary of the rule, plus data
whose label is known (a TPL sample, binomial degrees against their own random-pruning null)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pl_powerlaw.fitting import (
    LABELS,
    TPLFit,
    compare_alternatives,
    compare_to_null,
    fit_truncated_power_law,
    layer_verdict,
    sample_tpl,
)
from pl_powerlaw.fitting import verdict as rule


def _fit(**changes):
    base = dict(alpha=1.8, xmin=2, xmax=200, ks=0.03, n=1000, n_tail=800, n_zero=0, p_value=0.4)
    base.update(changes)
    return TPLFit(**base)


def _tests(exp_p=1e-6, exp_ratio=50.0, ln_p=0.5, pl_p=0.2):
    return {
        "exponential": {"loglik_ratio": exp_ratio, "p_value": exp_p},
        "lognormal": {"loglik_ratio": -0.1, "p_value": ln_p},
        "power_law": {"loglik_ratio": 1.0, "p_value": pl_p},
    }


def _null(ks_p=1e-5, ad_p=0.001):
    return {"ks_p_value": ks_p, "ad_p_value": ad_p, "dispersion": {}, "gini": {}}


@pytest.mark.parametrize(
    ("fit", "tests", "null", "label", "why"),
    [
        (_fit(flagged=True, reason="no positive values", alpha=None), _tests(), None,
         rule.NOT_TESTED, "fit flagged: no positive values"),
        (_fit(p_value=None), _tests(), None, rule.NOT_TESTED, "n_boot = 0"),
        (_fit(), None, None, rule.NOT_TESTED, "no exponential or lognormal comparison"),
        (_fit(), _tests(), _null(ks_p=0.3, ad_p=0.25), rule.RANDOM, "KS p=0.3, AD p=0.25"),
        (_fit(p_value=0.01), _tests(), _null(ks_p=0.3, ad_p=0.25), rule.RANDOM, "null not"),
        (_fit(), _tests(), _null(ks_p=0.3, ad_p=0.01), rule.HEAVY, "favoured over"),
        (_fit(p_value=0.1), _tests(), None, rule.REJECTED, "p=0.1 <= 0.1"),
        (_fit(p_value=0.1001), _tests(), None, rule.HEAVY, "not improved by the log-normal"),
        (_fit(alpha=1.0), _tests(), None, rule.NOT_HEAVY, "alpha=1 (needs > 1.0)"),
        (_fit(n_tail=499), _tests(), None, rule.NOT_HEAVY, "on 50% of the nodes"),
        (_fit(n_tail=500), _tests(), None, rule.HEAVY, "on 50% of the nodes"),
        (_fit(), _tests(exp_p=0.3), None, rule.INDISTINCT, "exponential is as good (Vuong p=0.3)"),
        (_fit(), _tests(exp_p=1e-4, exp_ratio=-9.0), None, rule.INDISTINCT,
         "the exponential is favoured"),
        (_fit(), _tests(ln_p=0.049), None, rule.INDISTINCT, "log-normal fits better"),
        (_fit(), _tests(exp_p=None), None, rule.INDISTINCT, "Vuong p=-"),
    ],
)  # fmt: skip
def test_each_label_and_boundary(fit, tests, null, label, why):
    verdict = layer_verdict(fit, tests, null)
    assert verdict.label == label and label in LABELS
    assert why in verdict.reason and "\n" not in verdict.reason
    json.dumps(verdict.as_dict(), allow_nan=False)


def test_facts_and_thresholds_are_recorded():
    verdict = layer_verdict(_fit(n=900, n_zero=100), _tests(pl_p=0.01), _null()).as_dict()
    assert verdict["facts"]["coverage"] == pytest.approx(0.8)  # 800 of 900 + 100 nodes
    assert verdict["facts"]["pl_p"] == 0.01 and verdict["facts"]["null_ks_p"] == 1e-5
    assert verdict["rule"] == {
        "gof_level": 0.1,
        "test_level": 0.05,
        "min_alpha": 1.0,
        "min_coverage": 0.5,
    }


def test_tpl_sample_is_heavy_tailed_and_objects_equal_their_dicts():
    x = sample_tpl(1024, 1.8, 1, 300, rng=1)
    fit = fit_truncated_power_law(x, n_boot=99, seed=1)
    tests = compare_alternatives(x, fit)
    verdict = layer_verdict(fit, tests)
    assert verdict.label == rule.HEAVY
    plain = layer_verdict(fit.as_dict(), {k: t.as_dict() for k, t in tests.items()})
    assert plain == verdict


def test_binomial_degrees_against_their_random_pruning_null():
    rng = np.random.default_rng(4)
    x = rng.binomial(1024, 0.1, 512)
    null = compare_to_null(x, [rng.binomial(1024, 0.1, 512) for _ in range(20)])
    fit = fit_truncated_power_law(x, n_boot=99, seed=2)
    verdict = layer_verdict(fit, compare_alternatives(x, fit), null)
    assert verdict.label == rule.RANDOM
    assert verdict.facts["dispersion"] == pytest.approx(np.var(x, ddof=1) / x.mean())


def test_docstring_examples_of_the_new_modules_run():
    import doctest

    from pl_powerlaw.fitting import checks, lognormal, nested, null, verdict

    for module in (checks, lognormal, nested, null, verdict):
        outcome = doctest.testmod(module)
        assert outcome.failed == 0, module.__name__
