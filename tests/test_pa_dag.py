"""Preferential attachment on a DAG: a skip connection is an edge of its own.

A trunk input -> fc1 -> fc2 -> fc3 where fc3 reads fc2 + fc1 (a residual sum), with task
ownership set by hand; the degrees and the kernel's new links are checked against hand counts
(fc1's nodes connect up to fc2 and, through the skip, to fc3).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from pl_powerlaw.analysis.preferential import analyze_transition
from pl_powerlaw.nn import TaskMaskedLinear
from pl_powerlaw.nn.task_masked import OWNER_BUFFER


class SkipTrunk(nn.Module):
    input_shape = (6,)
    output_layers = ("head",)

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2, self.fc3 = (
            TaskMaskedLinear(6, 5), TaskMaskedLinear(5, 5), TaskMaskedLinear(5, 4)
        )  # fmt: skip
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        h1 = torch.relu(self.fc1(x))
        h2 = torch.relu(self.fc2(h1))
        return self.head(torch.relu(self.fc3(h2 + h1)))


def test_skip_edges_get_their_own_kernel_and_count_in_the_degrees():
    torch.manual_seed(0)
    net = SkipTrunk()
    generator = torch.Generator().manual_seed(1)
    owners = {}
    for name in ("fc1", "fc2", "fc3"):
        layer = getattr(net, name)
        draw = torch.rand(layer.weight.shape, generator=generator)
        owner = torch.where(draw < 0.5, 0, torch.where(draw < 0.8, 1, -1)).to(torch.int8)
        getattr(layer, OWNER_BUFFER).copy_(owner)
        layer.set_mask(owner >= 0)
        owners[name] = owner
    result = analyze_transition(net, task=1, n_bins=3)
    pairs = [(k.lower, k.upper) for k in result.kernels]
    assert sorted(pairs) == sorted(
        [("input", "fc1"), ("fc1", "fc2"), ("fc2", "fc3"), ("fc1", "fc3")]
    )
    old = {n: (o == 0).numpy().astype(int) for n, o in owners.items()}
    new = {n: (o == 1).numpy().astype(int) for n, o in owners.items()}
    expected = {  # by hand: rows are a layer's inputs (down), columns its outputs' readers (up)
        "input": old["fc1"].sum(0),
        "fc1": old["fc1"].sum(1) + old["fc2"].sum(0) + old["fc3"].sum(0),
        "fc2": old["fc2"].sum(1) + old["fc3"].sum(0),
        "fc3": 2 * old["fc3"].sum(1),  # each fc3 weight reads two sources: fc2's and fc1's node
    }
    increments = {
        "fc1": new["fc1"].sum(1) + new["fc2"].sum(0) + new["fc3"].sum(0),
        "fc3": 2 * new["fc3"].sum(1),
    }
    for inc in result.increments:
        edges = inc.edges
        inside = (expected[inc.name] >= edges[0]) & (expected[inc.name] < edges[-1])
        assert inc.n_nodes.sum() == inside.sum(), inc.name
        if inc.name in increments:
            assert inc.new_links.sum() == increments[inc.name][inside].sum(), inc.name
    kernels = {(k.lower, k.upper): k for k in result.kernels}
    skip = kernels[("fc1", "fc3")]
    assert skip.new_links.sum() + skip.new_links_unbinned == new["fc3"].sum()
    np.testing.assert_array_equal(skip.n_lower, kernels[("fc1", "fc2")].n_lower)  # binned once
