"""Connection counts of tiny DAGs against a brute-force reference independent of the tracer.

The reference finds the source nodes of every input channel of every layer with autograd: a copy
of the net in float64 with positive weights (so no ReLU is inactive) has the output of every
learnable layer cut into a fresh leaf, so the gradient of a layer's input channel reaches exactly
the producer nodes routed to it through parameter-free ops. Then every use of every kept weight is
enumerated explicitly: each (kept weight, output position) pair of a convolution, found by looping
over the output positions whose receptive field lies in the padded input, and each kept weight of
a linear layer (at each position it is applied to); a use adds one connection to every source node
of its input channel. LayerNorm is replaced by the identity in the copy: by the rules it routes
channel c to channel c (its statistics are not connections).
"""

import copy
import itertools
from collections import defaultdict

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pl_powerlaw.connectivity import edge_counts, kept_entries, node_degrees, trace_graph
from pl_powerlaw.nn import MaskedConv1d, MaskedConv2d, MaskedLinear

LEARNABLE = (nn.Linear, nn.Conv1d, nn.Conv2d)


class ResNetLike(nn.Module):
    """Stem (stride 2), a block with a downsampling 1x1 shortcut, max-pool, a linear node layer."""

    input_shape = (2, 9, 8)
    output_layers = ("head",)

    def __init__(self):
        super().__init__()
        self.stem = MaskedConv2d(2, 4, 3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.conv1 = MaskedConv2d(4, 6, 3, stride=2, padding=1)
        self.conv2 = MaskedConv2d(6, 6, (3, 1), padding=(1, 0), dilation=(2, 1))
        self.down = MaskedConv2d(4, 6, 1, stride=2)
        self.fc = MaskedLinear(6 * 2, 5)
        self.head = MaskedLinear(5, 3)

    def forward(self, x):
        x = F.relu(self.bn(self.stem(x)))  # (N, 4, 5, 4)
        out = F.relu(self.conv1(x))  # (N, 6, 3, 2)
        out = self.conv2(F.pad(out, (0, 0, 1, 1)))  # (N, 6, 3, 2): dilated, padded twice
        out = F.relu(out + self.down(x))  # channel c: sources {conv2 c, down c}
        out = F.max_pool2d(out, (2, 1), ceil_mode=True)  # (N, 6, 2, 2)
        return self.head(F.relu(self.fc(out.mean(2).flatten(1))))  # mean over H: (N, 6 * 2)


class DenseShuffle(nn.Module):
    """Concat growth, a channel shuffle, a flip of the channels and a grouped 1x1 transition."""

    input_shape = (3, 6, 6)
    output_layers = ("head",)

    def __init__(self):
        super().__init__()
        self.c1 = MaskedConv2d(3, 2, 3, padding=1)
        self.c2 = MaskedConv2d(5, 3, 3, padding=1, groups=1)
        self.dw = MaskedConv2d(8, 8, 3, padding=1, groups=8)
        self.trans = MaskedConv2d(8, 4, 1, groups=2)
        self.head = MaskedLinear(4 * 9, 2)

    def forward(self, x):
        x = torch.cat([x, F.relu(self.c1(x))], 1)  # 5 channels
        x = torch.cat([x, F.relu(self.c2(x))], 1)  # 8 channels
        n, c, h, w = x.shape
        x = x.view(n, 2, c // 2, h, w).transpose(1, 2).reshape(n, c, h, w)  # channel shuffle
        x = F.relu6(self.dw(x.flip(1))) + x
        x = F.avg_pool2d(self.trans(x), 2)  # (N, 4, 3, 3)
        return self.head(x.flatten(1))


class Conv1dNet(nn.Module):
    """Conv1d with groups, dilation and padding, a residual add of a slice, a linear head."""

    input_shape = (4, 11)
    output_layers = ("head",)

    def __init__(self):
        super().__init__()
        self.a = MaskedConv1d(4, 6, 3, padding=2, dilation=2, groups=2)
        self.b = MaskedConv1d(6, 3, 2, stride=2)
        self.c = MaskedConv1d(4, 3, 1, stride=2)
        self.fc = MaskedLinear(3 * 5, 4)
        self.head = MaskedLinear(4, 2)

    def forward(self, x):
        y = self.b(F.gelu(self.a(x)))  # (N, 3, 5)
        y = y + self.c(x)[:, :, :5] * 0.5  # a 1x1 shortcut, sliced to length 5
        return self.head(torch.tanh(self.fc(y.flatten(1))))


class SkipMLP(nn.Module):
    """fc2 reads cat(input, fc1); fc3 reads fc2 + fc1's first 3 units."""

    input_shape = (6,)
    output_layers = ("head",)

    def __init__(self):
        super().__init__()
        self.fc1 = MaskedLinear(6, 5)
        self.fc2 = MaskedLinear(11, 3)
        self.fc3 = MaskedLinear(3, 4)
        self.head = MaskedLinear(4, 2)

    def forward(self, x):
        h1 = F.relu(self.fc1(x))
        h2 = F.relu(self.fc2(torch.cat([x, h1], 1)))
        return self.head(F.relu(self.fc3(h2 + h1[:, :3])))


class ConvNeXtLike(nn.Module):
    """Patchify stem, depthwise 7x7-like conv, channels-last LayerNorm and Linear layers applied
    at every position, a layer scale, the residual add back in channels-first layout."""

    input_shape = (3, 8, 8)
    output_layers = ("head",)

    def __init__(self):
        super().__init__()
        self.stem = MaskedConv2d(3, 4, 2, stride=2)  # (N, 4, 4, 4)
        self.dw = MaskedConv2d(4, 4, 3, padding=1, groups=4)
        self.norm = nn.LayerNorm(4)
        self.pw1 = MaskedLinear(4, 8)
        self.pw2 = MaskedLinear(8, 4)
        self.gamma = nn.Parameter(torch.full((4,), 0.5))
        self.head = MaskedLinear(4, 2)

    def forward(self, x):
        x = self.stem(x)
        y = self.dw(x).permute(0, 2, 3, 1)  # (N, H, W, C)
        y = self.gamma * self.pw2(F.gelu(self.pw1(self.norm(y))))
        x = x + y.permute(0, 3, 1, 2)
        return self.head(x.mean((2, 3)))


def positive_copy(net):
    """A float64 copy whose activations are all positive (no ReLU/ReLU6 derivative is 0)."""
    ref = copy.deepcopy(net).double().eval()
    for name, module in list(ref.named_modules()):
        if isinstance(module, nn.LayerNorm):  # routes channel c to channel c by the rules
            parent, _, child = name.rpartition(".")
            setattr(ref.get_submodule(parent) if parent else ref, child, nn.Identity())
    with torch.no_grad():
        for module in ref.modules():
            if isinstance(module, LEARNABLE):
                module.weight.copy_(module.weight.abs() * 0.01 + 1e-3)
                if getattr(module, "weight_mask", None) is not None:
                    module.weight_mask.fill_(1)
                if module.bias is not None:
                    module.bias.fill_(1e-3)
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.zero_(), module.running_var.fill_(1)
                module.weight.fill_(1), module.bias.fill_(0.1)
    return ref


def reference_sources(net, node_layers):
    """``{layer: [[(producer, node), ...] per input channel]}`` found by autograd."""
    ref = positive_copy(net)
    inputs, leaves, hooks = {}, {}, []
    for name, module in ref.named_modules():
        if isinstance(module, LEARNABLE):

            def pre(m, args, name=name):
                inputs[name] = args[0]

            def post(m, args, out, name=name):
                leaves[name] = out.detach().requires_grad_()
                return leaves[name]

            hooks += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]
    x = (torch.rand(1, *net.input_shape, dtype=torch.float64) + 0.5).requires_grad_()
    leaves["input"] = x
    ref(x)
    for hook in hooks:
        hook.remove()
    node_dim = {
        name: 1 if not isinstance(ref.get_submodule(name), nn.Linear) else -1
        for name in node_layers
        if name != "input"
    }
    node_dim["input"] = 1
    sources = {}
    for k, layer in enumerate(node_layers[1:], start=1):
        producers = node_layers[:k]
        inp = inputs[layer]
        linear = isinstance(ref.get_submodule(layer), nn.Linear)
        per_channel = []
        for c in range(inp.shape[-1] if linear else inp.shape[1]):
            chosen = inp[..., c] if linear else inp[:, c]
            grads = torch.autograd.grad(
                chosen.sum(), [leaves[p] for p in producers], retain_graph=True, allow_unused=True
            )
            found = []
            for producer, grad in zip(producers, grads, strict=True):
                if grad is not None:
                    per_node = grad.movedim(node_dim[producer], 0).reshape(
                        grad.shape[node_dim[producer]], -1
                    )
                    found += [(producer, int(n)) for n in per_node.abs().sum(1).nonzero()]
            per_channel.append(found)
        sources[layer] = per_channel
    return sources


def conv_uses(conv, kept, in_spatial):
    """``[(d, c)]`` once per (kept weight, output position) use, positions found by looping."""
    groups = conv.groups
    out_per, in_per = conv.out_channels // groups, conv.in_channels // groups
    axes = []
    for size, k, s, p, dil in zip(
        in_spatial, conv.kernel_size, conv.stride, conv.padding, conv.dilation, strict=True
    ):
        padded = size + 2 * p
        axes.append([y for y in range(padded) if y * s + dil * (k - 1) < padded])
    positions = list(itertools.product(*axes))
    uses = []
    for d, i_local, *_ in kept.nonzero().tolist():
        c = (d // out_per) * in_per + i_local
        uses += [(d, c)] * len(positions)
    return uses, [len(a) for a in axes]


def brute_force_counts(net, node_layers):
    sources = reference_sources(net, node_layers)
    in_shapes = {}
    hooks = [
        module.register_forward_pre_hook(
            lambda m, args, name=name: in_shapes.__setitem__(name, tuple(args[0].shape[1:]))
        )
        for name, module in net.named_modules()
        if isinstance(module, LEARNABLE)
    ]
    with torch.no_grad():
        net.eval()(torch.randn(1, *net.input_shape))
    for hook in hooks:
        hook.remove()
    sizes = {"input": net.input_shape[0]}
    counts = defaultdict(lambda: defaultdict(int))
    for layer in node_layers[1:]:
        module = net.get_submodule(layer)
        kept = module.kept()
        if isinstance(module, nn.Linear):  # each weight is used at every position
            positions = 1
            for size in in_shapes[layer][:-1]:
                positions *= size
            uses = [tuple(u) for u in kept.nonzero().tolist()] * positions
            sizes[layer] = module.out_features
        else:
            uses, _ = conv_uses(module, kept, in_shapes[layer][1:])
            sizes[layer] = module.out_channels
        for d, c in uses:
            for producer, node in sources[layer][c]:
                counts[(producer, layer)][(d, node)] += 1
    dense = {}
    for (producer, layer), entries in counts.items():
        matrix = torch.zeros(sizes[layer], sizes[producer], dtype=torch.int64)
        for (d, node), n in entries.items():
            matrix[d, node] = n
        dense[(producer, layer)] = matrix
    return dense, sizes


@pytest.mark.parametrize("density", [pytest.param(1.0, id="dense"), pytest.param(0.5, id="pruned")])
@pytest.mark.parametrize("net_cls", [ResNetLike, DenseShuffle, Conv1dNet, SkipMLP, ConvNeXtLike])
def test_counts_and_degrees_equal_the_brute_force_reference(net_cls, density):
    torch.manual_seed(3)
    net = net_cls()
    generator = torch.Generator().manual_seed(4)
    for module in net.modules():
        if isinstance(module, LEARNABLE):
            module.set_mask(torch.rand(module.weight.shape, generator=generator) < density)
            with torch.no_grad():
                module.weight.view(-1)[0] = 0.0  # an exact zero is pruned even with mask 1
    graph = trace_graph(net)
    node_layers = [layer.name for layer in graph.node_layers]
    expected, sizes = brute_force_counts(net, node_layers)
    got = edge_counts(graph, kept_entries(net, graph))
    assert sorted(got) == sorted(expected)
    for key, matrix in expected.items():
        torch.testing.assert_close(got[key], matrix, rtol=0, atol=0, msg=str(key))
    degrees = {name: torch.zeros(sizes[name], dtype=torch.int64) for name in node_layers}
    for (producer, layer), matrix in expected.items():
        degrees[layer] += matrix.sum(1)
        degrees[producer] += matrix.sum(0)
    got_degrees = node_degrees(net)
    assert list(got_degrees) == node_layers
    for name in node_layers:
        torch.testing.assert_close(got_degrees[name], degrees[name], rtol=0, atol=0, msg=name)
    total = sum(int(m.sum()) for m in expected.values())
    assert sum(int(d.sum()) for d in got_degrees.values()) == 2 * total > 0
