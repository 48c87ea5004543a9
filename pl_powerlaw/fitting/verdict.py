"""One verdict per layer: what its degrees support, by one small decision rule.

The rule follows Clauset, Shalizi & Newman (2009): the goodness-of-fit test first (Sec. 4.2: the
model is ruled out when its bootstrap p <= 0.1), then the likelihood-ratio comparisons with the
alternatives (Sec. 5; their Table 6 grades support as "good" when the power law is favoured over
every alternative, "moderate" when it is not rejected but an alternative is as good, "none" when
it is rejected). Here, for the truncated power law (TPL), applied in this order:

1. ``not tested``: the fit is flagged or no bootstrap p-value was computed (n_boot = 0); also
   at step 5 when the comparisons with the exponential or the log-normal are missing.
2. ``indistinguishable from random pruning``: a null comparison is given and neither two-sample
   test (KS, Anderson-Darling) rejects, at ``TEST_LEVEL``, that the real degrees come from the
   random-pruning null: whatever the fit says, random pruning explains them.
3. ``TPL rejected``: bootstrap p <= ``GOF_LEVEL`` (Table 6's "none").
4. ``TPL not rejected, not heavy-tailed``: alpha <= ``MIN_ALPHA`` (a flat or rising pmf on its
   range, no tail to speak of) or the range covers fewer than ``MIN_COVERAGE`` of the nodes.
5. ``heavy-tailed`` ("good"): Vuong's test favours the TPL over the exponential at
   ``TEST_LEVEL`` and the nested test does not reject the TPL for the log-normal at
   ``TEST_LEVEL`` (the log-normal's extra parameter is not needed).
6. ``TPL not rejected, indistinguishable from exponential/log-normal`` ("moderate"): otherwise;
   the reason names the alternative that is as good or better.

Whether the cut-off itself is significant (the power-law comparison) is reported among the
facts, not used by the rule: a heavy tail with or without a cut-off is still a heavy tail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pl_powerlaw.fitting.result import TPLFit, _plain

GOF_LEVEL = 0.1  # bootstrap p at or below this rejects the TPL (Clauset et al. 2009, Sec. 4.2)
TEST_LEVEL = 0.05  # level of the comparisons and of the two-sample tests against the null
MIN_ALPHA = 1.0  # a heavy tail needs alpha above this
MIN_COVERAGE = 0.5  # and a range holding at least this fraction of the nodes

NOT_TESTED = "not tested"
RANDOM = "indistinguishable from random pruning"
REJECTED = "TPL rejected"
NOT_HEAVY = "TPL not rejected, not heavy-tailed"
HEAVY = "heavy-tailed"
INDISTINCT = "TPL not rejected, indistinguishable from exponential/log-normal"
LABELS = (NOT_TESTED, RANDOM, REJECTED, NOT_HEAVY, HEAVY, INDISTINCT)
THRESHOLDS = {
    "gof_level": GOF_LEVEL,
    "test_level": TEST_LEVEL,
    "min_alpha": MIN_ALPHA,
    "min_coverage": MIN_COVERAGE,
}


@dataclass(frozen=True)
class Verdict:
    """A layer's label, a one-line reason and the facts behind it (plain JSON values)."""

    label: str
    reason: str
    facts: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict: label, reason, facts and the rule's thresholds."""
        facts = {key: _plain(value) for key, value in self.facts.items()}
        return {"label": self.label, "reason": self.reason, "facts": facts, "rule": THRESHOLDS}


def _get(obj: Any, key: str) -> Any:
    """``obj.key`` or ``obj[key]``: result objects and their ``as_dict()`` forms alike."""
    if obj is None:
        return None
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def _facts(fit: TPLFit, tests: dict | None, null: Any) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "gof_p": fit.p_value,
        "alpha": fit.alpha,
        "xmin": fit.xmin,
        "xmax": fit.xmax,
        "n_tail": fit.n_tail,
        "n": fit.n + fit.n_zero,
        "coverage": fit.n_tail / (fit.n + fit.n_zero) if fit.n + fit.n_zero else None,
    }
    for name, short in (("exponential", "exp"), ("lognormal", "ln"), ("power_law", "pl")):
        test = _get(tests, name) if tests else None
        facts[f"{short}_ratio"] = _get(test, "loglik_ratio")
        facts[f"{short}_p"] = _get(test, "p_value")
    if null is not None:
        facts["null_ks_p"] = _get(null, "ks_p_value")
        facts["null_ad_p"] = _get(null, "ad_p_value")
        for stat in ("dispersion", "gini"):
            spread = _get(null, stat)
            facts[stat] = _get(spread, "value")
            facts[f"{stat}_null_mean"] = _get(spread, "null_mean")
            facts[f"{stat}_p"] = _get(spread, "p_value")
    return facts


def layer_verdict(fit: TPLFit | dict, tests: dict | None, null: Any = None) -> Verdict:
    """The verdict of the module docstring for one layer.

    Args:
        fit: the layer's :class:`TPLFit` (or its ``as_dict()``), with a bootstrap p-value.
        tests: :func:`~pl_powerlaw.fitting.compare_alternatives` output (objects or their
            ``as_dict()`` forms), or None.
        null: :func:`~pl_powerlaw.fitting.compare_to_null` output (or its ``as_dict()``), or
            None when no null draws were made.

    Returns:
        The :class:`Verdict`.

    Example:
        >>> from pl_powerlaw.fitting import fit_truncated_power_law, sample_tpl
        >>> fit = fit_truncated_power_law(sample_tpl(300, 2.0, 1, 100, rng=0))
        >>> layer_verdict(fit, None).label  # no bootstrap: nothing to judge
        'not tested'
    """
    fit = TPLFit.from_dict(fit) if isinstance(fit, dict) else fit
    facts = _facts(fit, tests, null)
    if fit.flagged:
        return Verdict(NOT_TESTED, f"fit flagged: {fit.reason}", facts)
    if fit.p_value is None:
        return Verdict(NOT_TESTED, "no bootstrap goodness-of-fit p-value (n_boot = 0)", facts)
    ks_p, ad_p = facts.get("null_ks_p"), facts.get("null_ad_p")
    if null is not None and ks_p >= TEST_LEVEL and ad_p >= TEST_LEVEL:
        return Verdict(
            RANDOM,
            f"random-pruning null not rejected (KS p={ks_p:.3g}, AD p={ad_p:.3g} >= {TEST_LEVEL})",
            facts,
        )
    if fit.p_value <= GOF_LEVEL:
        return Verdict(REJECTED, f"bootstrap p={fit.p_value:.3g} <= {GOF_LEVEL}", facts)
    coverage = facts["coverage"]
    if fit.alpha <= MIN_ALPHA or coverage < MIN_COVERAGE:
        return Verdict(
            NOT_HEAVY,
            f"TPL not rejected (p={fit.p_value:.3g}) but alpha={fit.alpha:.3g} (needs > "
            f"{MIN_ALPHA}) on {coverage:.0%} of the nodes (needs >= {MIN_COVERAGE:.0%})",
            facts,
        )
    missing = [name for name in ("exponential", "lognormal") if _get(tests, name) is None]
    if missing:
        return Verdict(NOT_TESTED, f"no {' or '.join(missing)} comparison was run", facts)
    exp_p, exp_ratio, ln_p = facts["exp_p"], facts["exp_ratio"], facts["ln_p"]
    over_exp = exp_p is not None and exp_p < TEST_LEVEL and exp_ratio > 0
    over_ln = ln_p >= TEST_LEVEL
    if over_exp and over_ln:
        return Verdict(
            HEAVY,
            f"TPL not rejected (p={fit.p_value:.3g}), alpha={fit.alpha:.3g} on {coverage:.0%} "
            f"of the nodes, favoured over the exponential (p={exp_p:.2g}) and not improved by "
            f"the log-normal (p={ln_p:.2g})",
            facts,
        )
    why = []
    if not over_exp:
        side = "favoured" if exp_p is not None and exp_p < TEST_LEVEL else "as good"
        why.append(f"the exponential is {side} (Vuong p={_fmt(exp_p)})")
    if not over_ln:
        why.append(f"the log-normal fits better (nested p={ln_p:.2g})")
    return Verdict(
        INDISTINCT, f"TPL not rejected (p={fit.p_value:.3g}) but " + " and ".join(why), facts
    )


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2g}"
