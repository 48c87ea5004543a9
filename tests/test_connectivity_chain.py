"""Tracing the chain of node layers: structure, call order, errors for non-chains."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pl_powerlaw.connectivity import node_degrees, record_calls, trace_chain
from pl_powerlaw.models.lenet import LeNet
from pl_powerlaw.models.mlp import MLP
from pl_powerlaw.nn import MaskedConv2d, MaskedLinear


def node_summary(chain):
    return [(layer.name, layer.n_nodes, layer.kind) for layer in chain.node_layers]


def test_mlp_chain_has_pixel_input_nodes():
    chain = trace_chain(MLP())
    assert node_summary(chain) == [
        ("input", 784, "unit"),
        ("fc1", 1024, "unit"),
        ("fc2", 1024, "unit"),
    ]
    assert [(link.name, link.n_in, link.n_out) for link in chain.links] == [
        ("fc1", 784, 1024),
        ("fc2", 1024, 1024),
    ]


def test_lenet_chain_groups_fc1_inputs_by_map():
    chain = trace_chain(LeNet())
    assert node_summary(chain) == [
        ("input", 1, "map"),
        ("conv1", 32, "map"),
        ("conv2", 32, "map"),
        ("fc1", 256, "unit"),
    ]
    conv1, conv2, fc1 = chain.links
    assert (conv1.spatial, conv2.spatial) == (24 * 24, 8 * 8)
    assert fc1.inputs_per_node == 4 * 4  # 32 maps of 4x4 after the second pool
    assert chain.node_layers[1].shape == (32, 24, 24)


def test_trace_leaves_the_net_unchanged():
    net = LeNet()
    net.train()
    net.conv2.eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    trace_chain(net)
    assert net.training and not net.conv2.training and net.fc1.training
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) and after[k].device.type == "cpu" for k in before)
    assert not net.conv1._forward_hooks and not net.conv1._forward_pre_hooks


class OutOfOrder(nn.Module):
    """Registers ``b`` before ``a`` but calls ``a`` first, through a plain function."""

    input_shape = (5,)
    output_layers = ()

    def __init__(self):
        super().__init__()
        self.b = MaskedLinear(4, 3)
        self.a = MaskedLinear(5, 4)

    def forward(self, x):
        return self.b(torch.tanh(self.a(x)))


def test_chain_follows_the_call_order_not_registration():
    chain = trace_chain(OutOfOrder())
    assert [layer.name for layer in chain.node_layers] == ["input", "a", "b"]
    assert [d.tolist() for d in node_degrees(OutOfOrder()).values()] == [
        [4] * 5,
        [5 + 3] * 4,
        [4] * 3,
    ]


class Residual(nn.Module):
    input_shape = (2, 6, 6)
    output_layers = ("head",)

    def __init__(self):
        super().__init__()
        self.conv1 = MaskedConv2d(2, 4, 3, padding=1)
        self.conv2 = MaskedConv2d(4, 4, 3, padding=1)
        self.conv3 = MaskedConv2d(4, 4, 3, padding=1)
        self.head = MaskedLinear(4 * 36, 2)

    def forward(self, x):
        x = self.conv1(x).relu()
        x = self.conv2(x).relu() + x  # a skip connection: conv3 sees conv2 and conv1
        return self.head(self.conv3(x).flatten(1))


class Concat(nn.Module):
    input_shape = (3,)
    output_layers = ()

    def __init__(self):
        super().__init__()
        self.a = MaskedLinear(3, 2)
        self.b = MaskedLinear(3, 2)
        self.c = MaskedLinear(4, 1)

    def forward(self, x):
        return self.c(torch.cat([self.a(x), self.b(x)], dim=1))


class PoolBetweenLinears(nn.Module):
    input_shape = (4,)
    output_layers = ()

    def __init__(self):
        super().__init__()
        self.fc1 = MaskedLinear(4, 6)
        self.fc2 = MaskedLinear(3, 2)

    def forward(self, x):
        x = F.avg_pool1d(self.fc1(x).unsqueeze(1), 2).squeeze(1)  # 6 units -> 3 features
        return self.fc2(x)


class ConvOnUnits(nn.Module):
    input_shape = (8,)
    output_layers = ()

    def __init__(self):
        super().__init__()
        self.fc = MaskedLinear(8, 16)
        self.conv = MaskedConv2d(1, 2, 3)

    def forward(self, x):
        return self.conv(self.fc(x).view(-1, 1, 4, 4))


class Twice(nn.Module):
    input_shape = (3,)
    output_layers = ()

    def __init__(self):
        super().__init__()
        self.fc = MaskedLinear(3, 3)

    def forward(self, x):
        return self.fc(self.fc(x))


@pytest.mark.parametrize(
    ("net", "kwargs", "match"),
    [
        pytest.param(Residual(), {}, "Layer `conv3` is not in a simple chain", id="skip"),
        pytest.param(Concat(), {}, "Layer `b` is not in a simple chain", id="branch"),
        pytest.param(PoolBetweenLinears(), {}, "Layer `fc2` has 3 inputs", id="size"),
        pytest.param(ConvOnUnits(), {}, "Layer `conv` is a convolution on top of units", id="conv"),
        pytest.param(Twice(), {}, "Layer `fc` was called 2 times", id="twice"),
        pytest.param(
            LeNet(), {"layers": ["conv1", "fc1"]}, "Layer `fc1` is not in a simple", id="gap"
        ),
        pytest.param(
            LeNet(), {"layers": ["conv2"]}, "Layer `conv2` is not in a simple", id="start"
        ),
        pytest.param(
            LeNet(), {"layers": ["conv9"]}, r"Unknown layer name\(s\) \['conv9'\]", id="name"
        ),
        pytest.param(LeNet(), {"layers": "conv1"}, "sequence of names", id="string"),
        pytest.param(LeNet(), {"layers": []}, "at least one", id="empty"),
        pytest.param(LeNet(), {"input_shape": (1, 0, 28)}, "positive ints", id="shape"),
        pytest.param(nn.Linear(2, 2), {"input_shape": (2,)}, "masked layers", id="unmasked"),
    ],
)
def test_non_chains_and_bad_arguments_raise(net, kwargs, match):
    with pytest.raises(ValueError, match=match):
        trace_chain(net, **kwargs)


def test_unknown_layer_error_lists_the_valid_names():
    with pytest.raises(ValueError, match=r"\['conv1', 'conv2', 'fc1', 'fc2'\]"):
        trace_chain(LeNet(), layers=["fc3"])


def test_missing_input_shape_is_reported():
    net = nn.Sequential(MaskedLinear(3, 2), MaskedLinear(2, 2))
    with pytest.raises(ValueError, match="`input_shape`"):
        trace_chain(net)
    assert [layer.n_nodes for layer in trace_chain(net, (3,)).node_layers] == [3, 2]


def test_wrong_input_shape_is_one_clear_error():
    with pytest.raises(ValueError, match=r"Could not trace LeNet on an input of shape"):
        trace_chain(LeNet(), input_shape=(3, 28, 28))


class DataDependent(nn.Module):
    """A forward with Python control flow on values: meta tensors cannot run it."""

    input_shape = (3,)
    output_layers = ()

    def __init__(self):
        super().__init__()
        self.fc1 = MaskedLinear(3, 4)
        self.fc2 = MaskedLinear(4, 2)

    def forward(self, x):
        x = self.fc1(x)
        if x.sum().item() >= 0:  # needs real values
            x = x.relu()
        return self.fc2(x)


def test_data_dependent_forward_falls_back_to_a_real_trace():
    calls = record_calls(DataDependent(), (3,))
    assert [(c.name, c.in_shape, c.out_shape) for c in calls] == [
        ("fc1", (3,), (4,)),
        ("fc2", (4,), (2,)),
    ]
    assert [
        layer.n_nodes for layer in trace_chain(DataDependent(), layers=["fc1", "fc2"]).node_layers
    ] == [3, 4, 2]
