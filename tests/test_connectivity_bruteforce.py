"""Connection counts against a brute-force unit-level graph of a tiny CNN.

The reference builds the explicit graph: every output position of a convolution is a unit, and each
kept kernel weight adds one edge per use (per output position whose receptive field, in the padded
input, contains the weight's tap). The valid output positions are enumerated directly (no output-
size formula). Flattened features are mapped to their channel by flattening a tensor of channel
indices exactly as the net flattens its activations. Edges are then aggregated to map/unit level
and compared with :func:`connection_counts` and the node degrees.
"""

from collections import Counter

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pl_powerlaw.connectivity import (
    connection_counts,
    degrees_from_counts,
    kept_entries,
    node_degrees,
    trace_chain,
)
from pl_powerlaw.nn import MaskedConv2d, MaskedLinear


class SmallCNN(nn.Module):
    input_shape = (2, 11, 9)
    output_layers = ("head",)

    def __init__(self):
        super().__init__()
        torch.manual_seed(7)
        self.conv1 = MaskedConv2d(2, 4, kernel_size=3, stride=2, padding=1, groups=2)
        self.conv2 = MaskedConv2d(4, 6, kernel_size=(2, 3), dilation=(1, 2), padding=(1, 0))
        self.fc1 = MaskedLinear(6 * 2 * 1, 5)
        self.head = MaskedLinear(5, 3)

    def forward(self, x):
        x = self.conv1(x).relu()  # (N, 4, 6, 5)
        x = F.avg_pool2d(self.conv2(x), (3, 1))  # (N, 6, 7, 1) -> (N, 6, 2, 1)
        return self.head(self.fc1(x.flatten(1)).relu())  # (N, 12) -> (N, 5) -> (N, 3)


def conv_edges(conv, kept, in_hw):
    """Map-level edge counts of the unit-level graph of ``conv`` on an input of size ``in_hw``."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (
        conv.kernel_size,
        conv.stride,
        conv.padding,
        conv.dilation,
    )
    padded_h, padded_w = in_hw[0] + 2 * ph, in_hw[1] + 2 * pw
    # output positions whose whole receptive field lies in the padded input
    rows = [y for y in range(padded_h) if y * sh + dh * (kh - 1) < padded_h]
    cols = [x for x in range(padded_w) if x * sw + dw * (kw - 1) < padded_w]
    out_per_group = conv.out_channels // conv.groups
    in_per_group = conv.in_channels // conv.groups
    edges = Counter()
    for j, i_local, ky, kx in kept.nonzero().tolist():
        i = (j // out_per_group) * in_per_group + i_local
        for y in rows:
            for x in cols:
                source = (i, y * sh + ky * dh, x * sw + kx * dw)  # a unit of the padded input
                assert 0 <= source[1] < padded_h and 0 <= source[2] < padded_w
                edges[(j, i)] += 1
    return edges, (len(rows), len(cols))


def input_sizes(net, input_shape):
    """Spatial input size of every conv and the shape before flattening, from a real forward."""
    sizes = {}
    hooks = [
        module.register_forward_pre_hook(
            lambda m, args, name=name: sizes.__setitem__(name, tuple(args[0].shape[1:]))
        )
        for name, module in net.named_modules()
        if isinstance(module, (MaskedConv2d, MaskedLinear))
    ]
    with torch.no_grad():
        net(torch.randn(1, *input_shape))
    for hook in hooks:
        hook.remove()
    return sizes


def brute_force_counts(net, pre_flatten_shape):
    sizes = input_sizes(net, net.input_shape)
    c1, out1 = conv_edges(net.conv1, net.conv1.kept(), sizes["conv1"][1:])
    c2, out2 = conv_edges(net.conv2, net.conv2.kept(), sizes["conv2"][1:])
    assert out1 == tuple(sizes["conv2"][1:])  # the enumeration agrees with the real output size
    channel_of = torch.arange(pre_flatten_shape[0]).view(-1, 1, 1).expand(*pre_flatten_shape)
    channel_of = channel_of.unsqueeze(0).flatten(1)[0]  # flattened like the net's x.flatten(1)
    c3 = Counter()
    for o, f in net.fc1.kept().nonzero().tolist():
        c3[(o, int(channel_of[f]))] += 1
    dense = []
    for edges, shape in ((c1, (4, 2)), (c2, (6, 4)), (c3, (5, 6))):
        matrix = torch.zeros(shape, dtype=torch.int64)
        for (j, i), n in edges.items():
            matrix[j, i] += n
        dense.append(matrix)
    return dense


@pytest.mark.parametrize("density", [pytest.param(1.0, id="dense"), pytest.param(0.4, id="pruned")])
def test_counts_equal_the_brute_force_graph(density):
    net = SmallCNN()
    generator = torch.Generator().manual_seed(11)
    for layer in (net.conv1, net.conv2, net.fc1):
        layer.set_mask(torch.rand(layer.weight.shape, generator=generator) < density)
    with torch.no_grad():
        net.conv2.weight[0, 0, 0, 0] = 0.0  # an exact zero is pruned even with mask 1
    # conv1: 11x9 -> 6x5; conv2 (2x3, dilation (1, 2), padding (1, 0)) -> 7x1; pool (3, 1) -> 2x1
    expected = brute_force_counts(net, (6, 2, 1))
    chain = trace_chain(net)
    counts = connection_counts(chain, kept_entries(net, chain))
    for got, want in zip(counts, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    degrees = node_degrees(net)
    for got, want in zip(degrees.values(), degrees_from_counts(expected), strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    if density == 1.0:
        assert expected[0][0].tolist() == [9 * 30, 0]  # 3x3 kernel x 6x5 positions, group 0 only
