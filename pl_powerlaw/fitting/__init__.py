"""Truncated power-law fitting (numpy/scipy only): paper eqs. 2-4 and its Section 3 method.

Public API:

* :func:`fit_truncated_power_law` -> :class:`TPLFit`: exact discrete (or continuous) MLE, the
  (xmin, xmax) search by KS distance and the bootstrap goodness-of-fit p-value.
* :func:`compare_alternatives` -> :class:`LikelihoodRatioTest` per alternative: the nested
  tests against the pure power law (cut-off) and the log-normal (the TPL is its boundary), and
  Vuong's test against the exponential, each pair on the same observations and support.
* :func:`compare_to_null` -> :class:`NullComparison`: the degrees against random-pruning null
  draws (two-sample KS and Anderson-Darling, dispersion index and Gini coefficient).
* :func:`layer_verdict` -> :class:`Verdict`: one label per layer from a documented rule.
* The distribution: :func:`tpl_pmf`, :func:`tpl_logpmf`, :func:`tpl_pdf`, :func:`tpl_logpdf`,
  :func:`tpl_ccdf`, :func:`tpl_loglik`, :func:`tpl_log_normalizer`, :func:`sample_tpl`,
  :class:`TPLSampler`, :func:`log_power_sum`; :func:`fit_alpha` for a given range.

Example:
    >>> from pl_powerlaw.fitting import fit_truncated_power_law, sample_tpl
    >>> fit = fit_truncated_power_law(sample_tpl(1000, 2.0, 1, 300, rng=0))
    >>> sorted(fit.as_dict())[:3]
    ['alpha', 'alpha_se', 'discrete']
"""

from pl_powerlaw.fitting.compare import LikelihoodRatioTest, compare_alternatives
from pl_powerlaw.fitting.distributions import (
    TPLSampler,
    sample_tpl,
    tpl_ccdf,
    tpl_log_normalizer,
    tpl_loglik,
    tpl_logpdf,
    tpl_logpmf,
    tpl_pdf,
    tpl_pmf,
)
from pl_powerlaw.fitting.fit import fit_truncated_power_law
from pl_powerlaw.fitting.mle import fit_alpha
from pl_powerlaw.fitting.null import NullComparison, NullSpread, compare_to_null
from pl_powerlaw.fitting.result import TPLFit
from pl_powerlaw.fitting.sums import log_power_sum
from pl_powerlaw.fitting.verdict import LABELS, Verdict, layer_verdict

__all__ = [
    "LABELS",
    "LikelihoodRatioTest",
    "NullComparison",
    "NullSpread",
    "TPLFit",
    "TPLSampler",
    "Verdict",
    "compare_alternatives",
    "compare_to_null",
    "fit_alpha",
    "fit_truncated_power_law",
    "layer_verdict",
    "log_power_sum",
    "sample_tpl",
    "tpl_ccdf",
    "tpl_log_normalizer",
    "tpl_loglik",
    "tpl_logpdf",
    "tpl_logpmf",
    "tpl_pdf",
    "tpl_pmf",
]
