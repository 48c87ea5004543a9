"""Degrees of recurrent nets: hand counts and a brute-force unrolled graph (issue #14).

The reference builds the network unrolled over T steps explicitly, independently of the package:
nodes ``(layer, unit, t)``; a kept entry ``(r, i)`` of ``weight_ih_l{k}`` gives one edge from
input (or lower-layer unit) ``i`` at step ``t`` to unit ``r % H`` at step ``t`` for every ``t``,
a kept entry ``(r, c)`` of ``weight_hh_l{k}`` one edge from unit ``c`` at ``t - 1`` to unit
``r % H`` at ``t`` for ``t = 2..T`` (the initial state is no node). Every edge adds 1 to both its
endpoints, and a unit's degree is the sum over its T nodes. The head is not a node layer and, as
for the feedforward output layer, adds nothing.
"""

from collections import defaultdict

import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from pl_powerlaw.analysis.degrees import random_pruning_degrees
from pl_powerlaw.connectivity import (
    UnsupportedNetError,
    degrees_from_edge_counts,
    edge_counts,
    kept_entries,
    node_degrees,
    trace_graph,
)
from pl_powerlaw.errors import InputError
from pl_powerlaw.models.recurrent import RecurrentNet
from pl_powerlaw.nn import MaskedGRU, MaskedLinear, MaskedLSTM, MaskedRNN
from pl_powerlaw.nn.recurrent import RecurrentMatrix


class SeqNet(nn.Module):
    """A recurrent module and a head on the last step (batch_first either way)."""

    output_layers = ("head",)

    def __init__(self, rnn: nn.Module, steps: int, head: bool = True):
        super().__init__()
        self.rnn = rnn
        self.input_shape = (steps, rnn.input_size)
        self.head = MaskedLinear(rnn.hidden_size, 2) if head else None

    def forward(self, x):
        if not self.rnn.batch_first:
            x = x.transpose(0, 1)  # (T, B, F)
        out, _ = self.rnn(x)
        last = out[:, -1] if self.rnn.batch_first else out[-1]
        return self.head(last) if self.head is not None else last


def set_masks(rnn: nn.Module, masks: dict[str, torch.Tensor]) -> None:
    for name, mask in masks.items():
        RecurrentMatrix(rnn, name).set_mask(mask)


def random_masks(rnn: nn.Module, seed: int, keep: float = 0.4) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    names = [n for n in rnn._flat_weights_names if n.startswith("weight_")]
    return {n: torch.rand(getattr(rnn, n).shape, generator=g) < keep for n in names}


def unrolled_degrees(rnn: nn.Module, masks: dict, steps: int) -> dict[str, list[int]]:
    """The brute-force reference of the module doc."""
    hidden, layers = rnn.hidden_size, rnn.num_layers
    degree = defaultdict(int)  # (layer, unit, t) -> degree
    edges = []
    for k in range(layers):
        below = "input" if k == 0 else f"rnn.l{k - 1}"
        for r, i in masks[f"weight_ih_l{k}"].nonzero().tolist():
            for t in range(1, steps + 1):
                edges.append(((below, i, t), (f"rnn.l{k}", r % hidden, t)))
        for r, c in masks[f"weight_hh_l{k}"].nonzero().tolist():
            for t in range(2, steps + 1):
                edges.append(((f"rnn.l{k}", c, t - 1), (f"rnn.l{k}", r % hidden, t)))
    for a, b in edges:
        assert a != b  # the unrolled graph has no loops: a self-connection joins two steps
        degree[a] += 1
        degree[b] += 1
    sizes = {"input": rnn.input_size, **{f"rnn.l{k}": hidden for k in range(layers)}}
    return {
        layer: [sum(degree[(layer, u, t)] for t in range(1, steps + 1)) for u in range(n)]
        for layer, n in sizes.items()
    }


def rolled_degrees(rnn: nn.Module, masks: dict) -> dict[str, list[int]]:
    """``reuse="none"``: every kept entry once, an undirected loop counting 2."""
    hidden = rnn.hidden_size
    sizes = {"input": rnn.input_size, **{f"rnn.l{k}": hidden for k in range(rnn.num_layers)}}
    degree = {layer: [0] * n for layer, n in sizes.items()}
    for k in range(rnn.num_layers):
        below = "input" if k == 0 else f"rnn.l{k - 1}"
        for r, i in masks[f"weight_ih_l{k}"].nonzero().tolist():
            degree[below][i] += 1
            degree[f"rnn.l{k}"][r % hidden] += 1
        for r, c in masks[f"weight_hh_l{k}"].nonzero().tolist():
            degree[f"rnn.l{k}"][c] += 1
            degree[f"rnn.l{k}"][r % hidden] += 1
    return degree


def as_lists(degrees):
    return {name: d.tolist() for name, d in degrees.items()}


def test_hand_counts_of_a_one_layer_rnn():
    # F = 2 inputs, H = 2 units, T = 3 steps; W_ih keeps (0,0), (1,0), (1,1); W_hh keeps only the
    # self-connection of unit 0. Unrolled: input 0 is read by 2 kept weights at 3 steps -> 6,
    # input 1 by 1 -> 3; unit 0: 1 input weight x 3 + self-connection 2 x (T - 1 = 2) -> 7;
    # unit 1: 2 input weights x 3 -> 6. Rolled (reuse="none"): [2, 1] and [1 + 2, 2].
    rnn = MaskedRNN(2, 2, batch_first=True)
    set_masks(
        rnn,
        {
            "weight_ih_l0": torch.tensor([[1, 0], [1, 1]]),
            "weight_hh_l0": torch.tensor([[1, 0], [0, 0]]),
        },
    )
    net = SeqNet(rnn, 3)
    assert as_lists(node_degrees(net)) == {"input": [6, 3], "rnn.l0": [7, 6]}
    assert as_lists(node_degrees(net, reuse="none")) == {"input": [2, 1], "rnn.l0": [3, 2]}


def test_hand_counts_of_a_dense_two_layer_lstm():
    # F = 3, H = 2, 4 gates, T = 4, dense. input: 4 x 2 rows x T = 32. l0: below 4 x 3 x 4 = 48,
    # recurrent (8 rows + 8 columns) x (T - 1) = 48, above (weight_ih_l1 columns: 8) x 4 = 32,
    # so 128. l1: below 4 x 2 x 4 = 32, recurrent 48: 80 (the head adds nothing).
    net = SeqNet(MaskedLSTM(3, 2, num_layers=2, batch_first=True), 4)
    assert as_lists(node_degrees(net)) == {
        "input": [32] * 3,
        "rnn.l0": [128] * 2,
        "rnn.l1": [80] * 2,
    }
    # reuse="none": input 8; l0 12 + 16 + 8 = 36; l1 8 + 16 = 24
    assert as_lists(node_degrees(net, reuse="none")) == {
        "input": [8] * 3,
        "rnn.l0": [36] * 2,
        "rnn.l1": [24] * 2,
    }


def test_hand_counts_of_a_gru_with_two_kept_entries():
    # H = 2, F = 2, T = 3, 3 gates (rows g * 2 + j). W_ih keeps row 5 (gate n of unit 1), col 0;
    # W_hh keeps row 0 (gate r of unit 0), col 1: unit 1 -> unit 0 at T - 1 = 2 steps.
    rnn = MaskedGRU(2, 2, batch_first=True)
    ih, hh = torch.zeros(6, 2), torch.zeros(6, 2)
    ih[5, 0] = hh[0, 1] = 1
    set_masks(rnn, {"weight_ih_l0": ih, "weight_hh_l0": hh})
    assert as_lists(node_degrees(SeqNet(rnn, 3))) == {"input": [3, 0], "rnn.l0": [2, 5]}


@pytest.mark.parametrize(
    ("make", "steps", "seed"),
    [
        pytest.param(lambda: MaskedRNN(3, 4, batch_first=True), 5, 0, id="rnn-T5"),
        pytest.param(lambda: MaskedRNN(3, 4, nonlinearity="relu"), 4, 1, id="rnn-relu-time-major"),
        pytest.param(lambda: MaskedLSTM(3, 4, num_layers=2, batch_first=True), 4, 2, id="lstm2"),
        pytest.param(lambda: MaskedLSTM(2, 3, num_layers=3), 3, 3, id="lstm3-time-major"),
        pytest.param(lambda: MaskedGRU(4, 3, num_layers=2, batch_first=True), 6, 4, id="gru2"),
        pytest.param(lambda: MaskedGRU(2, 5, batch_first=True), 1, 5, id="gru-T1"),
    ],
)
def test_degrees_equal_the_unrolled_graph(make, steps, seed):
    rnn = make()
    masks = random_masks(rnn, seed)
    set_masks(rnn, masks)
    net = SeqNet(rnn, steps)
    assert as_lists(node_degrees(net)) == unrolled_degrees(rnn, masks, steps)
    assert as_lists(node_degrees(net, reuse="none")) == rolled_degrees(rnn, masks)
    graph = trace_graph(net)
    slow = degrees_from_edge_counts(graph, edge_counts(graph, kept_entries(net, graph)))
    assert as_lists(slow) == unrolled_degrees(rnn, masks, steps)


def test_plain_and_torch_pruned_modules_give_the_degrees_of_the_masked_one():
    masked = MaskedLSTM(3, 4, num_layers=2, batch_first=True)
    plain = nn.LSTM(3, 4, num_layers=2, batch_first=True)
    plain.load_state_dict({k: v for k, v in masked.state_dict().items() if "mask" not in k})
    masks = random_masks(masked, 7)
    set_masks(masked, masks)
    for name, mask in masks.items():
        prune.custom_from_mask(plain, name, mask)
    expected = unrolled_degrees(masked, masks, 5)
    assert as_lists(node_degrees(SeqNet(masked, 5))) == expected
    assert as_lists(node_degrees(SeqNet(plain, 5))) == expected
    for name in masks:
        prune.remove(plain, name)  # now exact zeros
    assert as_lists(node_degrees(SeqNet(plain, 5))) == expected


def test_a_head_reading_every_step_and_the_final_state_counts_its_uses():
    class AllSteps(nn.Module):
        input_shape = (3, 2)
        output_layers = ("head",)

        def __init__(self):
            super().__init__()
            self.rnn = MaskedGRU(2, 2, batch_first=True)
            self.fc = MaskedLinear(2 * 3 + 2, 4)  # every step's output and h_n of layer 0
            self.head = MaskedLinear(4, 1)

        def forward(self, x):
            out, h = self.rnn(x)
            return self.head(self.fc(torch.cat([out.flatten(1), h[-1]], 1)))

    net = AllSteps()
    degrees = as_lists(node_degrees(net))
    # fc reads unit j at 3 steps and once through h_n: 4 columns x 4 rows = 16 more per unit
    base = unrolled_degrees(net.rnn, random_masks(net.rnn, 0, keep=1.1), 3)
    assert degrees["rnn.l0"] == [d + 16 for d in base["rnn.l0"]]
    assert degrees["fc"] == [8] * 4


def test_random_pruning_null_keeps_each_matrix_count_and_the_degree_sum():
    rnn = MaskedLSTM(4, 6, num_layers=2, batch_first=True)
    masks = random_masks(rnn, 11, keep=0.2)
    set_masks(rnn, masks)
    net = SeqNet(rnn, 7)
    graph = trace_graph(net)
    kept = kept_entries(net, graph)
    assert sorted(kept) == sorted(f"rnn.{n}" for n in masks)
    # every connection counts at both endpoints: T uses of an input weight, T - 1 of a recurrent one
    total = 2 * sum(int(m.sum()) * (7 if "ih" in n else 6) for n, m in masks.items())
    null = random_pruning_degrees(graph, kept, draws=3, seed=0)
    for draw in range(3):
        assert sum(int(null[layer][draw].sum()) for layer in null) == total
    assert sum(int(d.sum()) for d in node_degrees(net).values()) == total


def test_refusals_name_the_module():
    class Bi(nn.Module):
        input_shape = (3, 2)

        def __init__(self):
            super().__init__()
            self.rnn = nn.LSTM(2, 3, bidirectional=True, batch_first=True)
            self.head = nn.Linear(6, 1)

        def forward(self, x):
            return self.head(self.rnn(x)[0][:, -1])

    with pytest.raises(UnsupportedNetError, match="`rnn` is a bidirectional LSTM"):
        node_degrees(Bi())

    class Cell(nn.Module):
        input_shape = (3, 2)

        def __init__(self):
            super().__init__()
            self.cell = nn.GRUCell(2, 3)
            self.head = nn.Linear(3, 1)

        def forward(self, x):
            h = None
            for t in range(x.shape[1]):
                h = self.cell(x[:, t], h)
            return self.head(h)

    with pytest.raises(UnsupportedNetError, match="recurrent cells"):
        node_degrees(Cell())

    class Reversed(nn.Module):  # step t reads different nodes than step t + 1: no unit layout
        input_shape = (2, 3)

        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(6, 6)
            self.rnn = nn.RNN(3, 2, batch_first=True)
            self.head = nn.Linear(2, 1)

        def forward(self, x):
            x = self.fc(x.flatten(1)).view(-1, 2, 3)
            return self.head(self.rnn(x)[0][:, -1])

    with pytest.raises(UnsupportedNetError, match="same for every sample and time step"):
        node_degrees(Reversed())
    with pytest.raises(InputError, match="Expected `reuse` in"):
        node_degrees(SeqNet(MaskedRNN(2, 2, batch_first=True), 3), reuse="rolled")


def test_the_lstm_of_the_config_has_the_issue_s_node_layers():
    net = RecurrentNet(cell="lstm", hidden=128, num_layers=2)
    graph = trace_graph(net)
    assert [(layer.name, layer.n_nodes) for layer in graph.node_layers] == [
        ("input", 28),
        ("rnn.l0", 128),
        ("rnn.l1", 128),
    ]
    assert graph.heads == ("head",)
    degrees = as_lists(node_degrees(net))
    # dense: input 4 x 128 rows x 28 steps; l0: 4 x 28 x 28 + 2 x 512 x 27 + 512 x 28
    assert degrees["input"] == [4 * 128 * 28] * 28
    assert degrees["rnn.l0"] == [4 * 28 * 28 + 2 * 512 * 27 + 512 * 28] * 128
    assert degrees["rnn.l1"] == [4 * 128 * 28 + 2 * 512 * 27] * 128


def test_analyze_net_passes_the_reuse_rule():
    from pl_powerlaw.analysis import FitOptions, analyze_net

    rnn = MaskedLSTM(3, 5, batch_first=True)
    masks = random_masks(rnn, 3)
    set_masks(rnn, masks)
    net = SeqNet(rnn, 4)
    options = FitOptions(compare=False)
    for reuse, expected in [
        ("unrolled", unrolled_degrees(rnn, masks, 4)),
        ("none", rolled_degrees(rnn, masks)),
    ]:
        report = analyze_net(net, "test", options, reuse=reuse)
        assert {layer.name: layer.degrees.tolist() for layer in report.layers} == expected
