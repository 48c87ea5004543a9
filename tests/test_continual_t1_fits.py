"""docs/continual.md's t = 1 fits (quick configs) re-derived from the stored runs (slow).

The degrees after task B of each stored quick run (:mod:`stored_runs`: task A's and task B's kept
entries together) go through the one analysis pipeline, with the options of

    python -m pl_powerlaw analyze <run>/checkpoints/last.ckpt --n-boot 1000 --compare

(seed 0, 20 random-pruning draws). The test checks the degrees against plain numpy sums of the
stored masks, the fits against a direct call of the fitting engine on those sums, and that the
page prints every row exactly as :func:`doc_row` formats the result, so neither the analysis
nor the page can drift.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import REPO
from stored_runs import load_run, rebuilt_net

from pl_powerlaw.analysis import FitOptions, LayerReport, analyze_net
from pl_powerlaw.fitting import fit_truncated_power_law

pytestmark = pytest.mark.slow

DOCS = REPO / "docs" / "continual.md"
OPTIONS = FitOptions(n_boot=1000, seed=0, compare=True, null_draws=20, null_seed=0)


def p_text(p: float) -> str:
    return f"{p:.2g}"


def doc_row(s: str, layer: LayerReport) -> str:
    """The page's row for ``layer`` of the run with square ``s``."""
    fit, tests, null = layer.fit, layer.alternatives, layer.null.as_dict()

    def versus(name: str) -> str:
        return f"{tests[name].loglik_ratio:+.1f}, {p_text(tests[name].p_value)}"

    cells = [
        s, layer.name, f"{fit.alpha:.3f}", str(fit.xmin), str(fit.xmax),
        f"{fit.n_tail}/{layer.n_nodes}", f"{fit.ks:.4f}", f"{fit.p_value:.3f}",
        versus("power_law"), versus("exponential"), versus("lognormal"),
        p_text(null["ks_p_value"]), p_text(null["ad_p_value"]),
        f"{null['dispersion']['value']:.2f} ({null['dispersion']['null_mean']:.2f})",
        f"{null['gini']['value']:.3f} ({null['gini']['null_mean']:.3f})",
        layer.verdict.label,
    ]  # fmt: skip
    return "| " + " | ".join(cells) + " |"


@pytest.fixture(scope="module", params=["s8", "s26"])
def run(request):
    arrays = load_run(request.param)
    return request.param, arrays, analyze_net(rebuilt_net(arrays), "t1", OPTIONS)


def plain_degrees(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    fc1, fc2 = arrays["fc1_kept"].astype(np.int64), arrays["fc2_kept"].astype(np.int64)
    return {"input": fc1.sum(0), "fc1": fc1.sum(1) + fc2.sum(0), "fc2": fc2.sum(1)}


def test_degrees_are_the_sums_of_both_tasks_kept_entries(run):
    _, arrays, report = run
    expected = plain_degrees(arrays)
    assert [layer.name for layer in report.layers] == list(expected)
    for layer in report.layers:
        np.testing.assert_array_equal(layer.degrees, expected[layer.name])


def test_fits_are_the_engines_on_the_plain_degrees(run):
    _, arrays, report = run
    for layer in report.layers:
        direct = fit_truncated_power_law(plain_degrees(arrays)[layer.name], n_boot=1000, seed=0)
        got = layer.fit
        assert (got.xmin, got.xmax, got.n_tail) == (direct.xmin, direct.xmax, direct.n_tail)
        assert got.alpha == pytest.approx(direct.alpha, rel=1e-12)
        assert got.p_value == direct.p_value and got.ks == pytest.approx(direct.ks, rel=1e-12)
        assert layer.null is not None and len(layer.null_degrees) == 20


def test_the_page_prints_these_rows(run):
    name, _, report = run
    text = DOCS.read_text()
    section = text[text.index("### Truncated power-law fits at t = 1 (Figure 9)") :]
    section = section[: section.index("## Results with the paper's schedule")]
    for layer in report.layers:
        row = doc_row(name[1:], layer)
        assert row in section, f"docs/continual.md lacks the row\n{row}"
