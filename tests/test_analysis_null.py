"""The random-pruning null and the verdicts in the analysis pipeline, against hand-made nets.

References: exact kept counts by counting; inclusion frequencies against k/n (binomial error);
degree totals by the identity sum of degrees = 2 x connections; the verdicts on a net pruned at
random (the null is true) and on one whose rows keep power-law numbers of weights (it is not).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pl_powerlaw.analysis import FitOptions, analyze_net, degrees_record
from pl_powerlaw.fitting.verdict import RANDOM
from pl_powerlaw.nn import MaskedLinear
from pl_powerlaw.pruning import random_kept


class TwoLayer(torch.nn.Module):
    input_shape = (200,)
    output_layers = ("head",)

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = MaskedLinear(200, 300)
        self.head = MaskedLinear(300, 10)

    def forward(self, x):
        return self.head(torch.relu(self.fc1(x)))


def test_random_kept_keeps_the_counts_and_draws_uniformly():
    kept = {"a": torch.rand(30, 40) < 0.1, "b": torch.rand(5, 7) < 0.5}
    generator = torch.Generator().manual_seed(0)
    hits = torch.zeros(30, 40)
    draws = 2000
    for _ in range(draws):
        masks = random_kept(kept, generator)
        for name in kept:
            assert int(masks[name].sum()) == int(kept[name].sum())
        hits += masks["a"]
    p = float(kept["a"].sum()) / kept["a"].numel()
    sd = (p * (1 - p) / draws) ** 0.5
    assert torch.all((hits / draws - p).abs() < 5 * sd)  # every entry equally likely
    again = random_kept(kept, torch.Generator().manual_seed(0))
    first = random_kept(kept, torch.Generator().manual_seed(0))
    assert all(torch.equal(again[n], first[n]) for n in kept)  # seeded


def pruned(mask: torch.Tensor) -> TwoLayer:
    torch.manual_seed(0)
    net = TwoLayer()
    net.fc1.set_mask(mask)
    return net


def test_records_hold_the_null_and_the_verdict_with_equal_totals():
    generator = torch.Generator().manual_seed(1)
    net = pruned(torch.rand(300, 200, generator=generator) < 0.2)
    options = FitOptions(n_boot=20, compare=True, null_draws=5, null_seed=3)
    report = analyze_net(net, "test", options)
    record = degrees_record(report)
    for layer in report.layers:
        assert len(layer.null_degrees) == 5
        for draw in layer.null_degrees:
            assert draw.sum() == layer.degrees.sum()  # same kept counts: same connections
    for entry in record["layers"]:
        assert entry["null"]["draws"] == 5 and entry["null"]["fit"] is not None
        assert entry["verdict"]["label"] and entry["verdict"]["reason"]
    again = analyze_net(net, "test", options)
    assert [layer.verdict.label for layer in again.layers] == [
        layer.verdict.label for layer in report.layers
    ]


def test_random_pruning_is_recognised_and_structure_is_not():
    generator = torch.Generator().manual_seed(2)
    random_net = pruned(torch.rand(300, 200, generator=generator) < 0.2)
    options = FitOptions(n_boot=50, compare=True, null_draws=20)
    labels = {
        layer.name: layer.verdict.label for layer in analyze_net(random_net, "r", options).layers
    }
    assert labels["fc1"] == RANDOM and labels["input"] == RANDOM
    # rows keep Zipf-distributed numbers of weights: a heavy tail random pruning never makes
    rng = np.random.default_rng(0)
    counts = np.minimum(rng.zipf(1.8, size=300), 200)
    mask = torch.zeros(300, 200, dtype=torch.bool)
    for row, count in enumerate(counts):
        mask[row, torch.from_numpy(rng.choice(200, size=count, replace=False))] = True
    report = analyze_net(pruned(mask), "s", options)
    fc1 = next(layer for layer in report.layers if layer.name == "fc1")
    assert fc1.verdict.label != RANDOM
    assert fc1.null.ks_p_value < 1e-6


@pytest.mark.parametrize("draws", [0, 3])
def test_no_null_without_draws(draws):
    net = pruned(torch.rand(300, 200, generator=torch.Generator().manual_seed(4)) < 0.3)
    report = analyze_net(net, "n", FitOptions(null_draws=draws, compare=False))
    assert all((layer.null is None) == (draws == 0) for layer in report.layers)


def test_the_null_memo_gives_the_same_records_and_redraws_only_when_counts_change():
    from pl_powerlaw.analysis import AnalysisMemo

    torch.manual_seed(3)
    net = TwoLayer()
    options = FitOptions(compare=False, null_draws=5, null_seed=2)
    memo = AnalysisMemo()
    net.fc1.set_mask(torch.rand(300, 200) < 0.2)
    first = degrees_record(analyze_net(net, "a", options, memo=memo))
    assert first == degrees_record(analyze_net(net, "a", options))  # the same as without it
    # other kept positions, the same count: the memo's draws are reused, and the
    # null comparisons still equal a fresh analysis of the new degrees
    mask = net.fc1.weight_mask.bool().flatten()
    with torch.no_grad():
        net.fc1.weight.copy_(torch.randn(300, 200))  # set_mask zeroed the pruned weights
    net.fc1.set_mask(mask[torch.randperm(mask.numel())].reshape(300, 200))
    (key,) = memo._null
    again = degrees_record(analyze_net(net, "b", options, memo=memo))
    assert list(memo._null) == [key]
    assert again == degrees_record(analyze_net(net, "b", options))
    # a prune changes the counts: a new entry, equal to fresh draws
    net.fc1.set_mask(net.fc1.weight_mask.bool() & (torch.rand(300, 200) < 0.5))
    third = degrees_record(analyze_net(net, "c", options, memo=memo))
    assert len(memo._null) == 2
    assert third == degrees_record(analyze_net(net, "c", options))


def test_the_memo_fits_a_layer_once_per_distinct_degrees_and_null(monkeypatch):
    from pl_powerlaw.analysis import AnalysisMemo
    from pl_powerlaw.analysis import degrees as degrees_module

    calls = []
    real_fit = degrees_module.fit_truncated_power_law

    def counting_fit(values, **kwargs):
        calls.append(int(np.asarray(values).sum()))
        return real_fit(values, **kwargs)

    monkeypatch.setattr(degrees_module, "fit_truncated_power_law", counting_fit)
    torch.manual_seed(4)
    net = TwoLayer()
    net.fc1.set_mask(torch.rand(300, 200) < 0.2)
    options = FitOptions(null_draws=4, null_seed=1)
    memo = AnalysisMemo()
    first = degrees_record(analyze_net(net, "epoch3", options, memo=memo))
    n_first = len(calls)
    assert n_first >= 2  # at least one layer was fitted with its null fit
    again = degrees_record(analyze_net(net, "epoch4", options, memo=memo))
    assert len(calls) == n_first  # nothing changed: no layer is fitted again
    assert {**again, "event": "epoch3"} == first
    # one kept weight moves: the degrees change, the layers are fitted again, and the
    # records equal those of an analysis without the memo
    with torch.no_grad():
        mask = net.fc1.weight_mask.bool()
        on, off = mask.nonzero()[0], (~mask).nonzero()[0]
        mask[on[0], on[1]], mask[off[0], off[1]] = False, True
        net.fc1.weight[off[0], off[1]] = 1.0
    net.fc1.set_mask(mask)
    moved = degrees_record(analyze_net(net, "epoch5", options, memo=memo))
    assert len(calls) > n_first
    assert moved == degrees_record(analyze_net(net, "epoch5", options))
    assert moved["layers"] != {**first, "event": "epoch5"}["layers"]
    # other options are other fits
    other = FitOptions(null_draws=4, null_seed=1, r=2.0)
    before = len(calls)
    analyze_net(net, "epoch5", other, memo=memo)
    assert len(calls) > before


def test_the_null_of_an_unpruned_net_is_the_net_itself_without_drawing(monkeypatch):
    from pl_powerlaw.analysis import random_pruning_degrees, to_numpy
    from pl_powerlaw.connectivity import graph_degrees, kept_entries, trace_graph

    net = TwoLayer()
    graph = trace_graph(net, None)
    kept = kept_entries(net, graph)
    assert random_pruning_degrees(graph, kept, 0) == {}
    calls = []
    real = torch.randperm
    monkeypatch.setattr(torch, "randperm", lambda *a, **k: calls.append(a) or real(*a, **k))
    fast = random_pruning_degrees(graph, kept, 3, seed=5)
    assert calls == []
    monkeypatch.undo()
    slow = {name: [] for name in fast}
    generator = torch.Generator().manual_seed(5)
    for _ in range(3):
        for name, values in to_numpy(graph_degrees(graph, random_kept(kept, generator))).items():
            slow[name].append(values)
    assert list(fast) == list(slow)
    for name in fast:
        assert len(fast[name]) == 3
        assert all(np.array_equal(a, b) for a, b in zip(fast[name], slow[name], strict=True))


def test_the_memo_traces_a_net_once_until_its_modules_change(monkeypatch):
    from pl_powerlaw.analysis import AnalysisMemo
    from pl_powerlaw.analysis import degrees as degrees_module
    from pl_powerlaw.nn import to_masked

    traced = []
    real = degrees_module.trace_graph
    monkeypatch.setattr(
        degrees_module, "trace_graph", lambda *a, **k: traced.append(a[0]) or real(*a, **k)
    )
    memo, options = AnalysisMemo(), FitOptions(compare=False)
    net = TwoLayer()
    first = degrees_record(analyze_net(net, "a", options, memo=memo))
    net.fc1.set_mask(torch.rand(300, 200) < 0.3)  # masks change, the graph does not
    second = degrees_record(analyze_net(net, "b", options, memo=memo))
    assert len(traced) == 1 and first["layers"] != second["layers"]
    assert second == degrees_record(analyze_net(net, "b", options))  # == a fresh trace
    # the same names with other module types (a plain net masked in place) is traced again
    plain = torch.nn.Sequential(torch.nn.Linear(200, 30), torch.nn.ReLU(), torch.nn.Linear(30, 2))
    analyze_net(plain, "c", options, input_shape=(200,), memo=memo)
    n = len(traced)
    to_masked(plain)
    analyze_net(plain, "d", options, input_shape=(200,), memo=memo)
    assert len(traced) == n + 1
