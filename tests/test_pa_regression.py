"""The preferential-attachment numbers of docs/continual.md, re-derived from a stored quick run.

``tests/data/preferential/continual_mnist_<s>_quick.npz`` holds the kept entries and the task
owners of a quick run's trunk (:mod:`stored_runs`; :data:`RUNS` names the commits). A
:class:`MultiHeadMLP` rebuilt from them gives the run's ``preferential_attachment.json`` through
:func:`pl_powerlaw.analysis.preferential.analyze_transition`.

The tests assert the run's numbers (to 1e-9), a plain-numpy recomputation of Delta k(k) from the
arrays, and that the tables of docs/continual.md show these numbers at their printed precision,
so a change in the analysis, or an edit of the docs, that moves a published number fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from stored_runs import load_run, rebuilt_net

from pl_powerlaw.analysis.preferential import analyze_transition

DOCS = Path(__file__).resolve().parents[1] / "docs" / "continual.md"
N_BINS = 10  # configs/defaults/continual.yaml: PreferentialAttachmentAnalysis(n_bins=10)

# From each run's preferential_attachment.json (the callback's output on the same net).
# Delta k(k) per node layer: slope, intercept, R^2 and r over the bins, r over the nodes.
# Pi(k, k') per layer pair: slope and r of log Pi against log(k k').
RUNS = {
    "s8": {
        "commit": "7a93291 (6c0c654 gives a bit-identical checkpoint)",
        "kept": {"fc1": (64225, 59087), "fc2": (83886, 77175)},  # (task A, task B)
        "delta_k": {
            "input": (0.46976734369576234, 37.224525478105214, 0.9677761326383867,
                      0.9837561347398992, 0.851980937258151),
            "fc1": (0.16927183305398377, 107.71040241416969, 0.7151028384454879,
                    0.8456375337255838, 0.27940903251949184),
            "fc2": (0.12713997302273855, 64.68186983235185, 0.8540014379200801,
                    0.9241219821647357, 0.12513823407970018),
        },
        "edges": {
            "input": [21, 26, 33, 42, 53, 67, 85, 107, 135, 171, 216],
            "fc1": [60, 68, 79, 90, 104, 119, 137, 157, 180, 207, 238],
            "fc2": [36, 41, 47, 54, 62, 71, 82, 94, 108, 124, 143],
        },
        "pi": {
            ("input", "fc1"): (0.35222423609287407, 0.847613184596527),
            ("fc1", "fc2"): (0.19396606046630074, 0.6223190400341037),
        },
    },
    "s26": {
        "commit": "079609c (and ebd8a5d: bit-identical checkpoint)",
        "kept": {"fc1": (64225, 59087), "fc2": (83886, 77175)},  # task A is the s = 8 run's
        "delta_k": {
            "input": (0.08966051522171718, 66.13499314806369, 0.1983747981130111,
                      0.44539285817468055, 0.07784922795571424),
            "fc1": (-0.13344455872648145, 150.30030096245937, 0.5558983561047397,
                    -0.7455859146367638, -0.1348140099420621),
            "fc2": (0.08516906653009129, 68.72601457400413, 0.619271026800529,
                    0.7869377528118275, 0.03363238223969415),
        },
        "edges": {
            "input": [21, 26, 33, 42, 53, 67, 85, 107, 135, 171, 216],
            "fc1": [60, 68, 79, 90, 104, 119, 137, 157, 180, 207, 238],
            "fc2": [36, 41, 47, 54, 62, 71, 82, 94, 108, 124, 143],
        },
        "pi": {
            ("input", "fc1"): (0.09781882030428363, 0.39485113585057335),
            ("fc1", "fc2"): (0.03465416154599696, 0.10935450766867694),
        },
    },
}  # fmt: skip


@pytest.fixture(scope="module", params=sorted(RUNS))
def run(request):
    name = request.param
    arrays = load_run(name)
    return name, arrays, analyze_transition(rebuilt_net(arrays), 1, n_bins=N_BINS)


def test_stored_arrays_are_a_two_task_run(run):
    name, arrays, _ = run
    for layer, (task_a, task_b) in RUNS[name]["kept"].items():
        kept, owner = arrays[f"{layer}_kept"], arrays[f"{layer}_owner"]
        assert kept.dtype == np.bool_ and owner.dtype == np.int8
        assert kept.shape == owner.shape == ((1024, 784) if layer == "fc1" else (1024, 1024))
        assert set(np.unique(owner).tolist()) == {-1, 0, 1}
        np.testing.assert_array_equal(kept, owner >= 0)  # pruned entries are handed back
        assert ((owner == 0).sum(), (owner == 1).sum()) == (task_a, task_b)
        # 92% of each task's eligible weights pruned: task B's share of what task A freed
        free_after_a = kept.size - task_a
        assert task_a == kept.size - round(0.92 * kept.size)
        assert task_b == free_after_a - round(0.92 * free_after_a)


def test_analysis_reproduces_the_runs_numbers(run):
    name, _, result = run
    expected = RUNS[name]
    assert [inc.name for inc in result.increments] == list(expected["delta_k"])
    for inc in result.increments:
        fit, node = inc.fit, inc.node_fit
        got = (fit.slope, fit.intercept, fit.r2, fit.pearson_r, node.pearson_r)
        assert got == pytest.approx(expected["delta_k"][inc.name], rel=1e-9), inc.name
        assert inc.edges.tolist() == expected["edges"][inc.name]
        assert fit.n == N_BINS and inc.n_zero == 0
    assert [(k.lower, k.upper) for k in result.kernels] == list(expected["pi"])
    for kernel in result.kernels:
        got = (kernel.fit.slope, kernel.fit.pearson_r)
        assert got == pytest.approx(expected["pi"][kernel.lower, kernel.upper], rel=1e-9)
        assert kernel.new_links_unbinned == 0


def test_delta_k_by_plain_numpy(run):
    """Degrees and new links summed from the arrays, binned on the run's edges, fitted by polyfit."""
    name, arrays, _ = run
    old = {n: (arrays[f"{n}_owner"] == 0).astype(np.int64) for n in ("fc1", "fc2")}
    new = {n: (arrays[f"{n}_owner"] == 1).astype(np.int64) for n in ("fc1", "fc2")}
    k0 = {"input": old["fc1"].sum(0), "fc1": old["fc1"].sum(1) + old["fc2"].sum(0)}
    k0["fc2"] = old["fc2"].sum(1)
    dk = {"input": new["fc1"].sum(0), "fc1": new["fc1"].sum(1) + new["fc2"].sum(0)}
    dk["fc2"] = new["fc2"].sum(1)
    for layer, edges in RUNS[name]["edges"].items():
        assert (edges[0], edges[-1]) == (k0[layer].min(), k0[layer].max() + 1)
        index = np.digitize(k0[layer], edges) - 1
        k_mean = np.array([k0[layer][index == b].mean() for b in range(N_BINS)])
        delta_k = np.array([dk[layer][index == b].mean() for b in range(N_BINS)])
        slope, intercept = np.polyfit(k_mean, delta_k, 1)
        r = np.corrcoef(k_mean, delta_k)[0, 1]
        node_r = np.corrcoef(k0[layer], dk[layer])[0, 1]
        want = RUNS[name]["delta_k"][layer]
        assert (slope, intercept, r * r, r, node_r) == pytest.approx(want, rel=1e-9), layer


def shown(cell: str) -> tuple[float, float]:
    """A table cell's number and half a unit of its last printed digit."""
    text = cell.strip()
    decimals = len(text.split(".")[1]) if "." in text else 0
    return float(text), 0.5 * 10.0**-decimals + 1e-12


def test_docs_tables_show_the_rederived_numbers(run):
    """docs/continual.md, quick-config section: the Delta k table and the Pi slopes."""
    name, _, result = run
    s = name[1:]
    text = DOCS.read_text()
    start = text.index("### Delta k(k): linear fits per node layer")  # the quick-config section
    quick = text[start : text.index("### Truncated power-law fits at t = 1", start)]
    delta_rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in quick.splitlines()
        if re.match(rf"\|\s*{s}\s*\|\s*(input|fc1|fc2)\s*\|", line)
    ]
    assert [row[1] for row in delta_rows] == ["input", "fc1", "fc2"], f"s = {s}: rows not found"
    for row, inc in zip(delta_rows, result.increments, strict=True):
        values = (inc.fit.slope, inc.fit.intercept, inc.fit.r2, inc.fit.pearson_r)
        for cell, value in zip(row[2:], (*values, inc.node_fit.pearson_r), strict=True):
            number, half = shown(cell)
            assert abs(value - number) <= half, f"s = {s}, {inc.name}: docs {cell}, run {value}"
    (pi_row,) = [
        line for line in quick.splitlines() if re.match(rf"\|\s*{s}\s*\|\s*-?[\d.]+ \(r = ", line)
    ]
    cells = re.findall(r"(-?[\d.]+) \(r = (-?[\d.]+)\)", pi_row)
    assert len(cells) == len(result.kernels) == 2
    for (slope_cell, r_cell), kernel in zip(cells, result.kernels, strict=True):
        for cell, value in ((slope_cell, kernel.fit.slope), (r_cell, kernel.fit.pearson_r)):
            number, half = shown(cell)
            assert abs(value - number) <= half, f"s = {s}, Pi {kernel.lower}: docs {cell}"


def test_task_a_is_the_same_in_both_runs():
    """Task A is MNIST with seed 0 in both configs: its entries are identical (docs/continual.md)."""
    s8, s26 = load_run("s8"), load_run("s26")
    for layer in ("fc1", "fc2"):
        np.testing.assert_array_equal(s8[f"{layer}_owner"] == 0, s26[f"{layer}_owner"] == 0)
        assert not np.array_equal(s8[f"{layer}_owner"] == 1, s26[f"{layer}_owner"] == 1)
