"""docs/models.md's numbers are what ``analyze`` gives today (the vision extra, slow).

The page's commands are rerun for its two quickest nets (MobileNetV2, about 25 s; ResNet-18,
about a minute on 2 idle cores): ``analyze --model torchvision.models.<net> --prune 0.9
--n-boot 200 --compare --seed 0``, torchvision's random initial weights. The page's summary row of
each net is recomputed from the run's degrees.json, as the page defines its columns, and every
representative layer the page prints for the net is formatted from the record and required on the
page. ResNet-50 (9 minutes) and DenseNet-121 are not rerun here.
"""

from __future__ import annotations

import json
import statistics

import pytest
from conftest import run_cli
from published import page_section

pytestmark = [pytest.mark.vision, pytest.mark.slow]
try:
    import torchvision  # noqa: F401
except Exception as error:  # missing, or built for another torch
    pytest.skip(f"torchvision does not import: {error}", allow_module_level=True)

NETS = {"mobilenet_v2": "MobileNetV2", "resnet18": "ResNet-18"}
RANDOM = "indistinguishable from random pruning"


def summary_row(title: str, layers: list[dict]) -> str:
    """The page's "Results" row of a net: counts, verdicts and medians over the fitted layers."""
    fitted = [layer for layer in layers if not layer["fit"]["flagged"]]
    labels = [layer["verdict"]["label"] for layer in layers]
    assert set(labels) <= {RANDOM, "not tested"}, set(labels)  # the page names only these two
    alphas = [layer["fit"]["alpha"] for layer in fitted]
    spans = [layer["fit"]["xmax"] / layer["fit"]["xmin"] for layer in fitted]
    gof = sum(layer["fit"]["p_value"] < 0.1 for layer in fitted)
    exponential = sum(layer["alternatives"]["exponential"]["p_value"] >= 0.05 for layer in fitted)
    null_min = min(layer["null"]["ks_p_value"] for layer in fitted)
    return (
        f"| {title} | {len(layers)} | {sum(layer['n_nodes'] for layer in layers):,} | "
        f"{labels.count(RANDOM)} random, {labels.count('not tested')} not tested | {len(fitted)} | "
        f"{gof} | {statistics.median(spans):.2f} | {statistics.median(alphas):.2f} "
        f"[{min(alphas):.2f}, {max(alphas):.2f}] | {exponential} of {len(fitted)} | {null_min:.3f} |"
    )


def layer_row(title: str, layer: dict) -> str:
    """A row of the page's table of representative layers."""
    fit, tests, null = layer["fit"], layer["alternatives"], layer["null"]
    assert layer["verdict"]["label"] == RANDOM, layer["verdict"]
    return (
        f"| {title} | `{layer['name']}` | {layer['n_nodes']} | {fit['alpha']:.2f} | "
        f"{fit['xmin']:,} | {fit['xmax']:,} | {fit['n_tail']} | {fit['ks']:.3f} | "
        f"{fit['p_value']:.3f} | {tests['exponential']['p_value']:.2f} | "
        f"{tests['lognormal']['p_value']:.2f} | {null['ks_p_value']:.2f} | random |"
    )


@pytest.mark.parametrize("net", sorted(NETS))
def test_random_torchvision_net_reproduces_the_published_rows(tmp_path, net):
    title = NETS[net]
    result = run_cli(
        "analyze", "--model", f"torchvision.models.{net}", "--prune", "0.9", "--n-boot", "200",
        "--compare", "--seed", "0", "--out", str(tmp_path / net),
        cwd=tmp_path, timeout=1200, pinned_kernels=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    layers = json.loads((tmp_path / net / "degrees.json").read_text())["layers"]
    results = page_section("models.md", "## Results", "## What this shows")
    assert summary_row(title, layers) in results, summary_row(title, layers)

    by_name = {layer["name"]: layer for layer in layers}
    printed = [line for line in results.splitlines() if line.startswith(f"| {title} | `")]
    assert len(printed) == 3, printed  # the first, a middle and the last fitted layer
    for line in printed:
        name = line.split("`")[1]
        assert layer_row(title, by_name[name]) == line
