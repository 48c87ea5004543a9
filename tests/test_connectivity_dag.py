"""Node degrees of directed acyclic nets against hand computations.

Rules (paper Sec. 3, extended to DAGs): a kept weight between input channel c and output channel d
counts R connections (R = output positions of a conv, 1 for a linear layer) between d and every
source node of c; a channel of a sum has the sources of that channel in every operand; a concat
offsets the channels; BatchNorm and activations route channels unchanged. Each expected number is
worked out in the comments next to it.
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pl_powerlaw.connectivity import (
    chain_degrees,
    connection_counts,
    degrees_from_edge_counts,
    edge_counts,
    kept_entries,
    node_degrees,
    trace_chain,
    trace_graph,
)
from pl_powerlaw.models.cifar_cnn import CifarCNN
from pl_powerlaw.models.lenet import LeNet
from pl_powerlaw.models.mlp import MLP
from pl_powerlaw.models.multihead import MultiHeadMLP
from pl_powerlaw.nn import MaskedConv2d, MaskedLinear


def as_lists(degrees):
    return {name: d.tolist() for name, d in degrees.items()}


def set_masks(net, masks):
    for name, mask in masks.items():
        net.get_submodule(name).set_mask(
            torch.tensor(mask, dtype=torch.float32).view_as(net.get_submodule(name).weight)
        )


def total_connections(net, layers=None):
    graph = trace_graph(net, layers=layers)
    return sum(int(m.sum()) for m in edge_counts(graph, kept_entries(net, graph)).values())


class ResidualMLP(nn.Module):
    """fc1 -> fc2, s = fc2 + fc1 (skip), fc3 reads s, then the head."""

    input_shape = (3,)
    output_layers = ("head",)

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc1 = MaskedLinear(3, 2)
        self.fc2 = MaskedLinear(2, 2)
        self.fc3 = MaskedLinear(2, 2)
        self.head = MaskedLinear(2, 2)

    def forward(self, x):
        h1 = self.fc1(x)
        s = self.fc2(h1.relu()) + h1
        return self.head(self.fc3(s).relu())


def test_residual_mlp_by_hand():
    net = ResidualMLP()
    set_masks(net, {"fc2": [[1, 0], [1, 1]], "fc3": [[1, 1], [0, 1]]})  # fc1 stays dense
    # s_j has sources {fc1 j, fc2 j}. fc3 unit 0 keeps 2 weights x 2 sources = 4, unit 1: 1 x 2.
    # fc1 unit 0: 3 below + fc2 column 0 (2) + fc3 column 0 (1); unit 1: 3 + 1 + 2.
    # fc2 unit 0: 1 below + fc3 column 0 (1); unit 1: 2 below + 2 above.
    expected = {"input": [2, 2, 2], "fc1": [6, 6], "fc2": [2, 4], "fc3": [4, 2]}
    assert as_lists(node_degrees(net)) == expected
    # connections: fc1 6 + fc2 3 + fc3 3 kept weights x 2 sources = 15; degrees sum to 30
    assert total_connections(net) == 15 == sum(sum(v) for v in expected.values()) // 2


class ResidualConvBN(nn.Module):
    """conv1 -> BN -> ReLU -> conv2 -> BN, + conv1's activation, ReLU, conv3 (1x1), head."""

    input_shape = (1, 4, 4)

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.conv1 = MaskedConv2d(1, 2, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(2)
        self.conv2 = MaskedConv2d(2, 2, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(2)
        self.conv3 = MaskedConv2d(2, 1, 1)
        self.head = nn.Linear(16, 2)

    def forward(self, x):
        a = F.relu(self.bn1(self.conv1(x)))
        b = F.relu(self.bn2(self.conv2(a)) + a)
        return self.head(self.conv3(b).flatten(1))


def test_residual_block_with_batchnorm_before_the_add_by_hand():
    net = ResidualConvBN()
    mask2 = torch.zeros(2, 2, 3, 3)
    mask2[0, 0] = 1  # out 0 <- in 0: 9 weights
    mask2[1, 0, 1, 1] = 1  # out 1 <- in 0: 1 weight
    mask2[1, 1] = 1  # out 1 <- in 1: 9 weights
    net.conv2.set_mask(mask2)
    # every conv output here is 4x4 (padding 1, or 1x1 kernels): a kernel weight counts 16
    # conv1 map: 9 * 16 = 144 below. conv2 map 0: 144 below; map 1: 16 + 144 below.
    # conv3 reads channel c with sources {conv1 c, conv2 c}: 2 weights x 16 x 2 sources = 64.
    # conv1 map 0: 144 + conv2 (144 + 16) + conv3 16 = 320; map 1: 144 + 144 + 16 = 304.
    # conv2 map 0: 144 + 16 = 160; map 1: 160 + 16 = 176. head is the output head.
    expected = {"input": [288], "conv1": [320, 304], "conv2": [160, 176], "conv3": [64]}
    assert as_lists(node_degrees(net)) == expected
    assert total_connections(net) == 288 + 304 + 64 == 656
    graph = trace_graph(net)
    assert graph.edges == [
        ("input", "conv1"),
        ("conv1", "conv2"),
        ("conv1", "conv3"),
        ("conv2", "conv3"),
    ]
    assert graph.heads == ("head",)


class Downsampling(nn.Module):
    """Main path 3x3 stride 2, shortcut 1x1 stride 2 (both with BN), add, 1x1 conv, head."""

    input_shape = (2, 4, 4)

    def __init__(self):
        super().__init__()
        self.conv_a = nn.Conv2d(2, 2, 3, stride=2, padding=1)
        self.bn_a = nn.BatchNorm2d(2)
        self.shortcut = nn.Sequential(nn.Conv2d(2, 2, 1, stride=2), nn.BatchNorm2d(2))
        self.conv_b = nn.Conv2d(2, 1, 1)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        out = F.relu(self.bn_a(self.conv_a(x)))
        out = F.relu(out + self.shortcut(x))
        return self.head(torch.flatten(self.conv_b(out), 1))


def test_downsampling_shortcut_by_hand():
    torch.manual_seed(2)
    net = Downsampling()  # plain layers, dense (Kaiming uniform draws no exact zeros here)
    # outputs are 2x2: a kernel weight counts 4. conv_a map: 2 channels x 9 x 4 = 72 below;
    # shortcut map: 2 x 1 x 4 = 8 below; conv_b reads channel c with sources {conv_a c,
    # shortcut.0 c}: 2 weights x 4 x 2 = 16. An input channel feeds 2 maps of each path.
    expected = {
        "input": [72 + 8] * 2,
        "conv_a": [72 + 4] * 2,
        "shortcut.0": [8 + 4] * 2,
        "conv_b": [16],
    }
    assert as_lists(node_degrees(net)) == expected


class DenseBlock(nn.Module):
    """c1 reads x; c2 reads cat(x, c1); the transition c3 reads cat(x, c1, c2)."""

    input_shape = (1, 3, 3)

    def __init__(self):
        super().__init__()
        self.c1 = MaskedConv2d(1, 2, 3, padding=1)
        self.c2 = MaskedConv2d(3, 2, 1)
        self.c3 = MaskedConv2d(5, 1, 1)
        self.head = nn.Linear(9, 2)

    def forward(self, x):
        x1 = torch.cat([x, F.relu(self.c1(x))], dim=1)
        x2 = torch.cat([x1, F.relu(self.c2(x1))], 1)
        return self.head(self.c3(x2).flatten(1))


def test_concat_block_by_hand():
    net = DenseBlock()
    set_masks(net, {"c2": [[1, 1, 0], [0, 1, 1]], "c3": [1, 0, 1, 1, 0]})
    # every output is 3x3: a kernel weight counts 9. cat channels: 0 input, 1-2 c1, 3-4 c2.
    # c1 map: 9 * 9 = 81 below. c2 map 0 reads input, c1:0; map 1 reads c1:0, c1:1: 18 each.
    # c3 reads input, c1:1 and c2:0: 27. input: 2 * 81 + 9 (c2) + 9 (c3) = 180.
    # c1 map 0: 81 + 18 (both c2 maps); map 1: 81 + 9 (c2 map 1) + 9 (c3).
    expected = {"input": [180], "c1": [99, 99], "c2": [27, 18], "c3": [27]}
    assert as_lists(node_degrees(net)) == expected
    graph = trace_graph(net)
    counts = edge_counts(graph, kept_entries(net, graph))
    assert counts[("input", "c3")].tolist() == [[9]]
    assert counts[("c1", "c2")].tolist() == [[9, 0], [9, 9]]
    assert counts[("c2", "c3")].tolist() == [[9, 0]]


class DepthwiseSeparable(nn.Module):
    input_shape = (2, 5, 5)

    def __init__(self):
        super().__init__()
        self.dw = MaskedConv2d(2, 2, 3, groups=2)
        self.pw = MaskedConv2d(2, 3, 1)
        self.head = nn.Linear(27, 2)

    def forward(self, x):
        return self.head(self.pw(F.relu6(self.dw(x))).flatten(1))


def test_depthwise_separable_block_by_hand():
    net = DepthwiseSeparable()
    dw = torch.ones(2, 1, 3, 3)
    dw[1, 0, :, 0] = 0
    dw[1, 0, 0, 1:] = 0  # map 1 keeps 4 of 9
    net.dw.set_mask(dw)
    set_masks(net, {"pw": [[1, 1], [1, 0], [0, 1]]})
    # outputs are 3x3: a weight counts 9. dw map c sees only input channel c: 81 and 36.
    # pw maps: 2, 1, 1 kept weights x 9. dw map 0: 81 + 2 * 9; map 1: 36 + 2 * 9.
    expected = {"input": [81, 36], "dw": [99, 54], "pw": [18, 9, 9]}
    assert as_lists(node_degrees(net)) == expected


def test_linear_at_several_positions_counts_each_use():
    # a Linear on (batch, 5 positions, 4 features): each weight is used at 5 positions; only
    # linear layers read the input, so its 20 elements are the input nodes
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(15, 2))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 0, 0, 1], [0, 1, 0, 0], [1, 1, 1, 0]]))
    degrees = node_degrees(net, (5, 4))
    # input (s, f): kept weights of column f = [2, 2, 1, 1], the same at each position s
    assert degrees["input"].tolist() == [2, 2, 1, 1] * 5
    # unit d: 5 positions x its kept row + the 2 units of the head reading it at each position
    assert degrees["0"].tolist() == [5 * 2, 5 * 1, 5 * 3]


def test_sum_of_degrees_is_twice_the_connections_of_a_random_dag():
    torch.manual_seed(5)
    net = DenseBlock()
    for layer in (net.c1, net.c2, net.c3):
        layer.set_mask(torch.rand_like(layer.weight) < 0.6)
    degrees = node_degrees(net)
    assert sum(int(d.sum()) for d in degrees.values()) == 2 * total_connections(net)


@pytest.mark.parametrize("net_cls", [ResidualMLP, ResidualConvBN, DenseBlock, DepthwiseSeparable])
def test_fast_degrees_equal_degrees_from_edge_counts(net_cls):
    torch.manual_seed(6)
    net = net_cls()
    for module in net.modules():
        if isinstance(module, (MaskedConv2d, MaskedLinear)):
            module.set_mask(torch.rand_like(module.weight) < 0.5)
    graph = trace_graph(net)
    kept = kept_entries(net, graph)
    slow = degrees_from_edge_counts(graph, edge_counts(graph, kept))
    assert as_lists(node_degrees(net)) == as_lists(slow)


@pytest.mark.parametrize("net_cls", [MLP, LeNet, CifarCNN], ids=["mlp", "lenet", "cifar_cnn"])
def test_chains_give_the_chain_counts_and_degrees(net_cls):
    torch.manual_seed(7)
    net = net_cls()
    for module in net.modules():
        if isinstance(module, (MaskedConv2d, MaskedLinear)):
            module.set_mask(torch.rand_like(module.weight) < 0.3)
    chain = trace_chain(net)
    graph = trace_graph(net)
    assert [(n.name, n.n_nodes, n.kind) for n in graph.node_layers] == [
        (n.name, n.n_nodes, n.kind) for n in chain.node_layers
    ]
    kept = kept_entries(net, chain)
    pairs = list(zip(chain.node_layers, chain.node_layers[1:], strict=False))
    counts = edge_counts(graph, kept)
    assert list(counts) == [(a.name, b.name) for a, b in pairs]
    for matrix, chain_matrix in zip(counts.values(), connection_counts(chain, kept), strict=True):
        torch.testing.assert_close(matrix, chain_matrix, rtol=0, atol=0)
    assert as_lists(node_degrees(net)) == as_lists(chain_degrees(chain, kept))


def test_multihead_mlp_keeps_its_plain_heads_out():
    net = MultiHeadMLP(num_tasks=2, hidden=(8, 6))
    degrees = node_degrees(net)
    assert list(degrees) == ["input", "fc1", "fc2"]
    # dense: a pixel feeds 8 units; fc1 unit: 784 + 6; fc2 unit: 8 (the head is not a node layer)
    assert degrees["input"].unique().tolist() == [8]
    assert degrees["fc1"].tolist() == [784 + 6] * 8
    assert degrees["fc2"].tolist() == [8] * 6


def test_undeclared_heads_are_the_layers_feeding_no_other():
    net = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 2), nn.Linear(2, 1))
    graph = trace_graph(net, (3,))
    assert [layer.name for layer in graph.node_layers] == ["input", "0", "2"]
    assert graph.heads == ("3",)
    explicit = trace_graph(net, (3,), layers=["0", "2", "3"])
    assert explicit.heads == ()
    assert node_degrees(net, (3,), layers=["0", "2", "3"])["3"].tolist() == [2]


def test_a_layer_reading_a_non_node_layer_is_refused():
    with pytest.raises(ValueError, match="reads the outputs of `conv1`, which is not a node layer"):
        node_degrees(ResidualConvBN(), layers=["conv2"])
    with pytest.raises(ValueError, match=r"Unknown layer name\(s\) \['nope'\]"):
        node_degrees(ResidualConvBN(), layers=["nope"])


def test_trace_leaves_the_net_unchanged():
    net = ResidualConvBN()
    net.train()
    net.bn2.eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    ids = {k: id(v) for k, v in net.state_dict(keep_vars=True).items()}
    trace_graph(net)
    assert net.training and net.bn1.training and not net.bn2.training
    after = net.state_dict(keep_vars=True)
    assert all(torch.equal(before[k], after[k]) and after[k].device.type == "cpu" for k in before)
    assert {k: id(v) for k, v in after.items()} == ids
    assert not net.conv1._forward_hooks and not net.conv1._forward_pre_hooks
    assert net(torch.randn(2, 1, 4, 4)).shape == (2, 2)
