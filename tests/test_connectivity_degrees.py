"""Node degrees and connection counts against hand computations (issue 4, section 2).

Every expected number below is worked out by hand in the comments next to it: a linear weight is
one connection, a conv kernel weight between maps i and j is H_out * W_out connections, a node's
degree is its connections below plus above.
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pl_powerlaw.connectivity import (
    chain_degrees,
    connection_counts,
    degrees_from_counts,
    kept_entries,
    node_degrees,
    trace_chain,
)
from pl_powerlaw.models.lenet import LeNet
from pl_powerlaw.nn import MaskedConv2d, MaskedLinear


def as_lists(degrees):
    return {name: d.tolist() for name, d in degrees.items()}


def dense_lenet():
    """A seeded LeNet without exact zeros (uniform init draws an exact 0 with probability 2^-24)."""
    torch.manual_seed(0)
    net = LeNet()
    with torch.no_grad():
        for param in net.parameters():
            param[param == 0] = 1e-3
    return net


class TinyMLP(nn.Module):
    input_shape = (4,)
    output_layers = ("head",)

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc1 = MaskedLinear(4, 3)
        self.fc2 = MaskedLinear(3, 2)
        self.head = MaskedLinear(2, 2)

    def forward(self, x):
        return self.head(self.fc2(self.fc1(x).relu()).relu())


@pytest.fixture
def tiny_mlp():
    net = TinyMLP()
    net.fc1.set_mask(torch.tensor([[1, 0, 1, 0], [1, 1, 0, 0], [0, 0, 0, 1]]))
    net.fc2.set_mask(torch.tensor([[1, 1, 0], [0, 1, 1]]))
    net.head.set_mask(torch.tensor([[1, 0], [1, 1]]))
    return net


def test_tiny_mlp_degrees_by_hand(tiny_mlp):
    # input: column sums of fc1's mask = [2, 1, 1, 1]
    # fc1: row sums of fc1 [2, 2, 1] + column sums of fc2 [1, 2, 1] = [3, 4, 2]
    # fc2: row sums of fc2 [2, 2] (the head is not a node layer)
    expected = {"input": [2, 1, 1, 1], "fc1": [3, 4, 2], "fc2": [2, 2]}
    assert as_lists(node_degrees(tiny_mlp)) == expected


def test_tiny_mlp_counts_are_the_masks(tiny_mlp):
    chain = trace_chain(tiny_mlp)
    counts = connection_counts(chain, kept_entries(tiny_mlp, chain))
    assert [c.dtype for c in counts] == [torch.int64, torch.int64]
    assert counts[0].tolist() == [[1, 0, 1, 0], [1, 1, 0, 0], [0, 0, 0, 1]]
    assert counts[1].tolist() == [[1, 1, 0], [0, 1, 1]]


def test_exact_zero_weights_count_as_pruned(tiny_mlp):
    with torch.no_grad():
        tiny_mlp.fc1.weight[0, 0] = 0.0  # mask still 1
    # input 0 loses one connection (2 -> 1), fc1 unit 0 loses one below (3 -> 2)
    degrees = as_lists(node_degrees(tiny_mlp))
    assert degrees["input"] == [1, 1, 1, 1]
    assert degrees["fc1"] == [2, 4, 2]


def test_output_head_included_explicitly_is_the_last_node_layer(tiny_mlp):
    degrees = as_lists(node_degrees(tiny_mlp, layers=["fc1", "fc2", "head"]))
    # fc2: row sums of fc2 [2, 2] + column sums of the head [2, 1]; head: its row sums [1, 2]
    assert degrees == {"input": [2, 1, 1, 1], "fc1": [3, 4, 2], "fc2": [4, 3], "head": [1, 2]}


def test_counts_accept_a_custom_kept_dict(tiny_mlp):
    chain = trace_chain(tiny_mlp)
    only_new = {"fc1": torch.zeros(3, 4), "fc2": torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]])}
    counts = connection_counts(chain, only_new)
    assert counts[0].sum().item() == 0
    assert counts[1].tolist() == [[0, 1, 0], [0, 0, 0]]


class TinyCNN(nn.Module):
    """conv 1 -> 2 maps (3x3) on 1x6x6 -> 2x4x4, max-pool 2 -> 2x2x2, flatten 8 -> fc1 3 -> head."""

    input_shape = (1, 6, 6)
    output_layers = ("head",)

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.conv1 = MaskedConv2d(1, 2, kernel_size=3)
        self.fc1 = MaskedLinear(8, 3)
        self.head = MaskedLinear(3, 2)

    def forward(self, x):
        x = F.max_pool2d(self.conv1(x).relu(), 2)  # (N, 2, 2, 2)
        return self.head(self.fc1(x.flatten(1)).relu())


def test_tiny_cnn_flatten_groups_linear_inputs_by_channel():
    net = TinyCNN()
    kernel_mask = torch.ones(2, 1, 3, 3)
    kernel_mask[1, 0] = torch.tensor([[1, 0, 0], [0, 1, 0], [0, 1, 1]])  # map 1 keeps 4 of 9
    net.conv1.set_mask(kernel_mask)
    # flattened feature f belongs to channel f // 4
    net.fc1.set_mask(
        torch.tensor(
            [
                [1, 1, 0, 0, 1, 0, 0, 0],  # channel 0: 2, channel 1: 1
                [0, 0, 0, 0, 1, 1, 1, 1],  # channel 0: 0, channel 1: 4
                [1, 0, 0, 0, 0, 0, 0, 0],  # channel 0: 1, channel 1: 0
            ]
        )
    )
    chain = trace_chain(net)
    counts = connection_counts(chain, kept_entries(net, chain))
    # conv1: kept kernel weights x (4 x 4 output positions): 9 * 16 = 144, 4 * 16 = 64
    assert counts[0].tolist() == [[144], [64]]
    assert counts[1].tolist() == [[2, 1], [0, 4], [1, 0]]
    # input: 144 + 64; conv1 maps: [144, 64] below + [2 + 0 + 1, 1 + 4 + 0] above; fc1: row sums
    expected = {"input": [208], "conv1": [147, 69], "fc1": [3, 4, 1]}
    assert as_lists(node_degrees(net)) == expected


def test_lenet_unpruned_conv1_map_degree_is_65600():
    # conv1 map: 5 * 5 weights * 24 * 24 positions below, 32 maps * 5 * 5 * 8 * 8 above
    degrees = node_degrees(dense_lenet())
    assert degrees["conv1"].tolist() == [5 * 5 * 24 * 24 + 5 * 5 * 8 * 8 * 32] * 32 == [65600] * 32
    # input channel: 32 maps * 25 * 576; conv2 map: 32 * 25 * 64 below + 256 units * 16 above;
    # fc1 unit: 32 maps * 16 features below (fc2 is the output head)
    assert degrees["input"].tolist() == [32 * 25 * 576]
    assert degrees["conv2"].tolist() == [32 * 25 * 64 + 256 * 16] * 32
    assert degrees["fc1"].tolist() == [32 * 16] * 256


def test_lenet_pruned_conv1_map_degree_by_hand():
    net = dense_lenet()
    mask1 = torch.ones_like(net.conv1.weight)
    mask1[0].view(-1)[10:] = 0  # map 0 keeps 10 of its 25 kernel weights
    net.conv1.set_mask(mask1)
    mask2 = torch.ones_like(net.conv2.weight)
    mask2[:16, 0] = 0  # out maps 0..15 lose input map 0 entirely
    mask2[16:, 0].view(16, -1)[:, 5:] = 0  # out maps 16..31 keep 5 of 25 weights of map 0
    net.conv2.set_mask(mask2)
    degrees = node_degrees(net)
    # map 0: 10 * 576 below + 16 maps * 5 * 64 above = 5760 + 5120
    assert degrees["conv1"][0].item() == 10 * 576 + 16 * 5 * 64 == 10880
    assert degrees["conv1"][1:].tolist() == [65600] * 31
    # input: 31 maps * 25 * 576 + 10 * 576
    assert degrees["input"].tolist() == [31 * 25 * 576 + 10 * 576]
    # conv2 maps 0..15: 31 * 25 * 64 below; 16..31: (31 * 25 + 5) * 64 below; 4096 above
    assert degrees["conv2"][:16].tolist() == [31 * 25 * 64 + 4096] * 16
    assert degrees["conv2"][16:].tolist() == [(31 * 25 + 5) * 64 + 4096] * 16


class OneConv(nn.Module):
    output_layers = ()

    def __init__(self, in_shape, **conv_kwargs):
        super().__init__()
        self.input_shape = in_shape
        self.conv = MaskedConv2d(in_shape[0], 6, **conv_kwargs)

    def forward(self, x):
        return self.conv(x)


@pytest.mark.parametrize(
    ("in_shape", "conv_kwargs", "spatial"),
    [
        # H_out = floor((H + 2p - d (k - 1) - 1) / s + 1), worked out per case
        pytest.param((2, 9, 9), {"kernel_size": 3}, 7 * 7, id="plain"),
        pytest.param((2, 9, 9), {"kernel_size": 3, "stride": 2, "padding": 1}, 5 * 5, id="stride"),
        pytest.param((2, 9, 9), {"kernel_size": 3, "dilation": 2}, 5 * 5, id="dilation"),
        pytest.param((2, 9, 9), {"kernel_size": 3, "padding": 2, "stride": 3}, 4 * 4, id="pad"),
        pytest.param((2, 9, 7), {"kernel_size": (3, 1), "stride": (2, 1)}, 4 * 7, id="rectangular"),
    ],
)
def test_conv_multiplicity_is_the_output_size(in_shape, conv_kwargs, spatial):
    net = OneConv(in_shape, **conv_kwargs)
    kernel = net.conv.weight[0, 0].numel()
    counts = connection_counts(trace_chain(net, layers=["conv"]), {"conv": net.conv.kept()})[0]
    assert counts.tolist() == [[kernel * spatial] * 2] * 6


def test_grouped_strided_dilated_conv_by_hand():
    # 4 -> 6 maps, 3x3, stride 2, padding 1, dilation 2, groups 2 on 9x9:
    # H_out = floor((9 + 2 - 4 - 1) / 2 + 1) = 4, so a kernel weight counts 16 connections;
    # out maps 0-2 see in maps 0-1, out maps 3-5 see in maps 2-3.
    net = OneConv((4, 9, 9), kernel_size=3, stride=2, padding=1, dilation=2, groups=2)
    mask = torch.ones_like(net.conv.weight)
    mask[4, 1] = 0  # out map 4 drops in map 2 + 1 = 3
    mask[0, 0, 0, 0] = 0  # out map 0 keeps 8 of 9 weights of in map 0
    net.conv.set_mask(mask)
    chain = trace_chain(net, layers=["conv"])
    counts = connection_counts(chain, kept_entries(net, chain))[0]
    full = 9 * 16
    assert counts.tolist() == [
        [8 * 16, full, 0, 0],
        [full, full, 0, 0],
        [full, full, 0, 0],
        [0, 0, full, full],
        [0, 0, full, 0],
        [0, 0, full, full],
    ]
    degrees = as_lists(chain_degrees(chain, kept_entries(net, chain)))
    assert degrees["input"] == [128 + 2 * full, 3 * full, 3 * full, 2 * full]
    assert degrees["conv"] == [128 + full, 2 * full, 2 * full, 2 * full, full, 2 * full]


def test_fast_degrees_equal_degrees_from_counts():
    torch.manual_seed(3)
    net = LeNet()
    for layer in (net.conv1, net.conv2, net.fc1):
        layer.set_mask(torch.rand_like(layer.weight) < 0.3)
    chain = trace_chain(net)
    kept = kept_entries(net, chain)
    slow = degrees_from_counts(connection_counts(chain, kept))
    fast = chain_degrees(chain, kept)
    assert list(fast) == ["input", "conv1", "conv2", "fc1"]
    for a, b in zip(slow, fast.values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_degrees_from_counts_by_hand():
    counts = [torch.tensor([[1, 0], [2, 1]]), torch.tensor([[1, 3]])]
    # input: column sums [3, 1]; middle: row sums [1, 3] + column sums [1, 3]; top: row sums [4]
    assert [d.tolist() for d in degrees_from_counts(counts)] == [[3, 1], [2, 6], [4]]


@pytest.mark.parametrize(
    ("counts", "match"),
    [
        pytest.param([], "at least one", id="empty"),
        pytest.param([torch.ones(2, 3), torch.ones(1, 3)], "chained by shape", id="shapes"),
    ],
)
def test_degrees_from_counts_rejects_bad_input(counts, match):
    with pytest.raises(ValueError, match=match):
        degrees_from_counts(counts)


def test_connection_counts_rejects_missing_or_misshapen_entries(tiny_mlp):
    chain = trace_chain(tiny_mlp)
    with pytest.raises(ValueError, match="entry for layer `fc2`"):
        connection_counts(chain, {"fc1": torch.ones(3, 4)})
    with pytest.raises(ValueError, match=r"layer `fc1` of shape \(3, 4\)"):
        connection_counts(chain, {"fc1": torch.ones(4, 3), "fc2": torch.ones(2, 3)})
