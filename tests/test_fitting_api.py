"""``fit_truncated_power_law``: argument checks, flagged results and the JSON-ready result."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pl_powerlaw.fitting import TPLFit, fit_truncated_power_law, sample_tpl

NUMBERS = ("alpha", "ks", "loglik", "p_value", "p_value_se", "alpha_se")


@pytest.mark.parametrize(
    ("x", "kwargs", "match"),
    [
        pytest.param([[1, 2], [3, 4]], {}, r"`x` to be 1-D but got shape \(2, 2\)", id="2-D"),
        pytest.param([1, 2.5, 3], {}, r"integers .* got 2\.5 at index 1", id="float value"),
        pytest.param([1, -3, 3], {}, r"non-negative .* got -3\.0 at index 1", id="negative"),
        pytest.param([1, np.nan], {}, r"finite .* got nan at index 1", id="nan"),
        pytest.param([1, np.inf], {}, r"finite .* got inf at index 1", id="inf"),
        pytest.param(["a", "b"], {}, r"`x` to hold numbers", id="strings"),
        pytest.param([1, 2], {"r": 0.5}, r"`r` to be a number >= 1 but got 0\.5", id="r"),
        pytest.param([1, 2], {"min_tail": 1}, r"`min_tail` .* >= 2 but got 1", id="min_tail"),
        pytest.param([1, 2], {"min_distinct": 1}, r"`min_distinct` .* got 1", id="min_distinct"),
        pytest.param([1, 2], {"n_boot": -1}, r"`n_boot` .* >= 0 but got -1", id="n_boot"),
        pytest.param([1, 2], {"n_boot": 2.5}, r"`n_boot` .* got 2\.5", id="n_boot float"),
        pytest.param([1, 2], {"xmin": 1.5}, r"`xmin` .* positive integer but got 1\.5", id="xmin"),
        pytest.param([1, 2], {"xmax": 0}, r"`xmax` .* but got 0", id="xmax"),
        pytest.param([1, 2], {"xmin": 5, "xmax": 5}, r"`xmin` < `xmax`", id="empty range"),
        pytest.param([1, 2], {"n_jobs": 0}, r"`n_jobs` .* >= 1 but got 0", id="n_jobs"),
    ],
)
def test_invalid_arguments_raise_one_clear_line(x, kwargs, match):
    with pytest.raises(ValueError, match=match) as info:
        fit_truncated_power_law(np.asarray(x) if not isinstance(x[0], str) else x, **kwargs)
    assert "\n" not in str(info.value)


def test_continuous_accepts_reals():
    x = sample_tpl(400, 1.5, 1.0, 50.0, discrete=False, rng=0)
    fit = fit_truncated_power_law(x, discrete=False)
    assert not fit.flagged and isinstance(fit.xmin, float)
    known = fit_truncated_power_law(x, discrete=False, xmin=1.0, xmax=50.0)  # the true range
    assert abs(known.alpha - 1.5) < 3 * known.alpha_se  # recovers the alpha it was drawn with


@pytest.mark.parametrize(
    ("x", "kwargs", "reason"),
    [
        pytest.param([], {}, "no positive values", id="empty"),
        pytest.param([0] * 50, {}, "no positive values", id="all zero"),
        pytest.param([7] * 50, {}, "single distinct positive value", id="one value"),
        pytest.param([1, 2, 3, 4, 5, 6], {}, "fewer than min_tail=10", id="few points"),
        pytest.param([1, 2] * 20, {}, "fewer than min_distinct=5", id="two values"),
        pytest.param([3] * 30 + [50], {"xmin": 3, "xmax": 10}, "equal xmin", id="all at xmin"),
        pytest.param([1] + [9] * 30, {"xmin": 3, "xmax": 9}, "equal xmax", id="all at xmax"),
        pytest.param(list(range(1, 30)), {"xmin": 200}, "no candidate range", id="xmin too big"),
        pytest.param(list(range(1, 30)), {"xmax": 4}, "xmax=4 holds", id="xmax too small"),
    ],
)
def test_degenerate_data_give_flagged_results(x, kwargs, reason):
    fit = fit_truncated_power_law(np.asarray(x, dtype=np.int64), **kwargs)
    assert fit.flagged
    assert reason in fit.reason
    record = fit.as_dict()
    json.dumps(record, allow_nan=False)  # no NaN anywhere
    assert all(record[key] is None for key in NUMBERS)


def test_flagged_fixed_range_keeps_its_bounds_and_counts():
    fit = fit_truncated_power_law(np.array([3] * 30 + [50]), xmin=3, xmax=10)
    assert (fit.xmin, fit.xmax, fit.n_tail, fit.n_distinct) == (3, 10, 30, 1)


def test_as_dict_is_plain_json_and_round_trips():
    fit = fit_truncated_power_law(sample_tpl(800, 1.8, 2, 300, rng=1), n_boot=20)
    record = fit.as_dict()
    plain = (int, float, str, bool, type(None))
    assert all(type(value) in plain for value in record.values())
    expected = {"discrete", "r", "min_tail", "min_distinct", "n_boot", "p_value_se", "flagged"}
    assert expected | {"reason", "alpha", "xmin", "xmax", "ks", "n", "n_tail", "n_zero"} <= set(
        record
    )
    assert type(record["xmin"]) is int and type(record["n_tail"]) is int
    assert TPLFit.from_dict(json.loads(json.dumps(record, allow_nan=False))) == fit


def test_from_dict_names_missing_keys():
    with pytest.raises(ValueError, match=r"\['ks'\] are missing"):
        TPLFit.from_dict({"alpha": 1.0, "xmin": 1, "xmax": 2, "n": 3, "n_tail": 3, "n_zero": 0})


def test_p_value_is_none_without_bootstrap_and_reproducible_with_it():
    x = sample_tpl(500, 1.5, 1, 200, rng=2)
    assert fit_truncated_power_law(x).p_value is None
    first = fit_truncated_power_law(x, n_boot=30, seed=4)
    again = fit_truncated_power_law(x, n_boot=30, seed=4)
    assert first == again
    assert first.n_boot == 30 and first.n_boot_valid == 30
    p = first.p_value
    assert first.p_value_se == pytest.approx(np.sqrt(p * (1 - p) / 30), rel=1e-12)


def test_progress_bar_is_shown_on_request(capsys):
    x = sample_tpl(300, 1.5, 1, 100, rng=3)
    fit_truncated_power_law(x, n_boot=5, progress=True)
    assert "bootstrap" in capsys.readouterr().err
    fit_truncated_power_law(x, n_boot=5)
    assert "bootstrap" not in capsys.readouterr().err


def test_worker_processes_give_the_same_p_value():
    x = sample_tpl(400, 1.5, 1, 200, rng=5)
    alone = fit_truncated_power_law(x, n_boot=60, seed=1)
    pooled = fit_truncated_power_law(x, n_boot=60, seed=1, n_jobs=2)
    assert pooled == alone


def test_lists_and_integer_dtypes_are_accepted():
    x = sample_tpl(300, 1.5, 1, 100, rng=6)
    reference = fit_truncated_power_law(x)
    assert fit_truncated_power_law(x.tolist()) == reference
    assert fit_truncated_power_law(x.astype(np.int32)) == reference
    assert fit_truncated_power_law(x.astype(float)) == reference


def test_docstring_examples_run():
    import doctest

    import pl_powerlaw.fitting as package
    from pl_powerlaw.fitting import compare, distributions, fit, mle, null, result, sums, verdict

    for module in (package, compare, distributions, fit, mle, null, result, sums, verdict):
        outcome = doctest.testmod(module)
        assert outcome.failed == 0, module.__name__
        assert outcome.attempted > 0, f"{module.__name__} has no example that ran"
