"""Nets whose connections cannot be counted exactly are refused, naming the op and the module."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pl_powerlaw.connectivity import UnsupportedNetError, node_degrees


class Gate(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc, self.gate, self.out = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 2)

    def forward(self, x):
        return self.out(self.fc(x) * torch.sigmoid(self.gate(x)))


class Inner(nn.Module):
    def __init__(self):
        super().__init__()
        self.gate = nn.Linear(4, 4)

    def forward(self, x):
        return x * self.gate(x).sigmoid()  # squeeze-excitation style gating


class NestedGate(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc, self.block, self.out = nn.Linear(4, 4), Inner(), nn.Linear(4, 2)

    def forward(self, x):
        return self.out(self.block(self.fc(x)))


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.q, self.k, self.out = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(3, 2)

    def forward(self, x):
        return self.out(torch.softmax(self.q(x) @ self.k(x).transpose(1, 2), -1).sum(-1))


class TorchAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn, self.out = nn.MultiheadAttention(4, 1, batch_first=True), nn.Linear(4, 2)

    def forward(self, x):
        return self.out(self.attn(x, x, x)[0])


class Branch(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 2)

    def forward(self, x):
        h = self.a(x)
        if h.sum() > 0:
            h = h.relu()
        return self.b(h)


class Item(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 2)

    def forward(self, x):
        h = self.a(x)
        return self.b(h * h.max().item())


class Convs(nn.Module):
    """conv a, then ``mix`` (a parameter-free op on channels), conv b, a linear head."""

    def __init__(self, mix, in_b=4):
        super().__init__()
        self.mix = mix
        self.a, self.b, self.h = nn.Conv2d(2, 4, 3), nn.Conv2d(in_b, 2, 1), nn.Linear(2 * 9, 2)

    def forward(self, x):
        return self.h(self.b(self.mix(self.a(x))).flatten(1))


class Recurrent(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn, self.out = nn.LSTM(4, 3, batch_first=True, bidirectional=True), nn.Linear(6, 2)

    def forward(self, x):
        return self.out(self.rnn(x)[0][:, -1])


class Functional(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.w, self.b = nn.Linear(4, 4), nn.Parameter(torch.randn(3, 4)), nn.Linear(3, 2)

    def forward(self, x):
        return self.b(F.linear(self.a(x), self.w))


class UnitsAsImage(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc, self.conv, self.h = nn.Linear(4, 16), nn.Conv2d(1, 2, 3), nn.Linear(8, 2)

    def forward(self, x):
        return self.h(self.conv(self.fc(x).view(-1, 1, 4, 4)).flatten(1))


class Shared(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc, self.h = nn.Linear(4, 4), nn.Linear(4, 2)

    def forward(self, x):
        return self.h(self.fc(self.fc(x)))


class WriteThroughView(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.c = nn.Conv2d(2, 4, 3), nn.Conv2d(2, 2, 1)
        self.b, self.h = nn.Conv2d(4, 2, 1), nn.Linear(2 * 9, 2)

    def forward(self, x):
        y = self.a(x)
        y[:, :2] += self.c(x[:, :, 1:-1, 1:-1])
        return self.h(self.b(y).flatten(1))


CASES = [
    pytest.param(
        Gate(),
        (4,),
        r"product of two activations .*`Tensor.mul` in the root module \(Gate\)",
        id="gating",
    ),
    pytest.param(
        NestedGate(),
        (4,),
        r"product of two activations .*`Tensor.mul` in `block`",
        id="gating-path",
    ),
    pytest.param(
        Attention(), (3, 4), r"but got two activations \(`Tensor.matmul` in the root", id="matmul"
    ),
    pytest.param(
        TorchAttention(), (3, 4), r"no attention but `attn` is a MultiheadAttention", id="mha"
    ),
    pytest.param(
        Branch(), (4,), r"no data-dependent control flow .*`Tensor.__bool__`", id="branch"
    ),
    pytest.param(Item(), (4,), r"no data-dependent control flow .*`Tensor.item`", id="item"),
    pytest.param(
        Convs(lambda y: y.sum(1, keepdim=True), in_b=1),
        (2, 5, 5),
        r"input of layer `b` .*`Tensor.sum` .* reduces over dims \[1\].*channel mix",
        id="channel-sum",
    ),
    pytest.param(
        Convs(lambda y: y.cumsum(1)), (2, 5, 5), r"unknown op .*`Tensor.cumsum`", id="unknown"
    ),
    pytest.param(
        Convs(lambda y: y.sort(1).values), (2, 5, 5), r"data-dependent.*`Tensor.sort`", id="sort"
    ),
    pytest.param(Recurrent(), (3, 4), r"bidirectional LSTM", id="bidirectional-rnn"),
    pytest.param(
        Functional(),
        (4,),
        r"outside one \(`torch.nn.functional.linear` in the root",
        id="functional",
    ),
    pytest.param(
        UnitsAsImage(), (4,), r"convolution `conv` to be the same at every position", id="view"
    ),
    pytest.param(Shared(), (4,), r"`fc` was called 2 times \(shared weights", id="shared"),
    pytest.param(
        WriteThroughView(), (2, 5, 5), r"in-place op on a view .*`Tensor.add_`", id="view-write"
    ),
]


@pytest.mark.parametrize(("net", "shape", "match"), CASES)
def test_refused_with_the_op_and_the_module(net, shape, match):
    with pytest.raises(UnsupportedNetError, match=match):
        node_degrees(net, shape)


def test_refusals_are_value_errors_and_leave_the_net_usable():
    net = Gate()
    with pytest.raises(ValueError):
        node_degrees(net, (4,))
    assert all(p.device.type == "cpu" for p in net.parameters())
    assert not net.fc._forward_pre_hooks
    assert net(torch.zeros(1, 4)).shape == (1, 2)


def test_channel_ops_the_tracer_can_follow_are_not_refused():
    # a flip, a roll and a slice reorder or drop channels: followed exactly (1x1 conv b)
    net = Convs(lambda y: torch.roll(y.flip(1), 1, dims=1)[:, :3], in_b=3)
    with torch.no_grad():
        net.b.weight.zero_()
        # flip: a's maps [3, 2, 1, 0]; roll by 1: [0, 3, 2, 1]; b map 0 reads channel 1 = map 3
        net.b.weight[0, 1] = 1.0
    degrees = node_degrees(net, (2, 5, 5))
    # a's outputs are 3x3: b's kept weight counts 9 connections with a map 3 only
    assert degrees["b"].tolist() == [9, 0]
    assert degrees["a"].tolist() == [2 * 9 * 9] * 3 + [2 * 9 * 9 + 9]
