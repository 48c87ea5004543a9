"""Cross-check with the ``powerlaw`` package where both are exact (skipped when it is missing).

Both maximise the same discrete likelihood for alpha > 1 at a fixed xmin (and xmax): powerlaw
numerically (scipy's optimiser, so its alpha is good to ~1e-4), this package exactly, so our
log-likelihood must be at least as high and the alphas must agree to powerlaw's precision.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from pl_powerlaw.fitting import fit_alpha, sample_tpl
from pl_powerlaw.fitting.compare import fit_power_law

powerlaw = pytest.importorskip("powerlaw")


def _powerlaw_fit(x, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = powerlaw.Fit(x, discrete=True, estimate_discrete=False, verbose=False, **kwargs)
        return fit.power_law.alpha, float(np.sum(np.log(fit.power_law.pdf(x))))


def test_untruncated_power_law_agrees():
    x = sample_tpl(3000, 2.3, 4, 10**6, rng=0)
    theirs, their_loglik = _powerlaw_fit(x, xmin=4)
    ours, logpmf = fit_power_law(x, 4)
    assert ours == pytest.approx(theirs, abs=1e-4)
    assert np.sum(logpmf) >= their_loglik - 1e-9


def test_truncated_power_law_agrees_for_alpha_above_one():
    x = sample_tpl(3000, 1.7, 3, 200, rng=1)
    theirs, their_loglik = _powerlaw_fit(x, xmin=3, xmax=200)
    ours, loglik = fit_alpha(x, 3, 200)
    assert ours == pytest.approx(theirs, abs=1e-4)
    assert loglik >= their_loglik - 1e-9
