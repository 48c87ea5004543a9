"""Kept entries and degrees agree whatever pruned the net: our masks, torch.nn.utils.prune
(temporary or made permanent), a parametrisation, or exact zeros of plain layers."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize, prune

from pl_powerlaw.connectivity import layer_kept, mask_source, node_degrees
from pl_powerlaw.nn import MaskedConv2d, MaskedLinear, to_masked


class Block(nn.Module):
    """A residual block of plain layers: conv1 -> conv2, + conv1, 1x1 conv3, linear head."""

    input_shape = (2, 6, 6)

    def __init__(self, conv=nn.Conv2d, linear=nn.Linear):
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = conv(2, 4, 3, padding=1)
        self.conv2 = conv(4, 4, 3, padding=1)
        self.conv3 = conv(4, 3, 1, stride=2)
        self.fc = linear(3 * 9, 5)
        self.head = linear(5, 2)

    def forward(self, x):
        a = F.relu(self.conv1(x))
        b = F.relu(self.conv2(a) + a)
        return self.head(F.relu(self.fc(self.conv3(b).flatten(1))))


LAYERS = ("conv1", "conv2", "conv3", "fc", "head")


def pattern(seed=1):
    """A fixed random sparsity pattern (about 40% kept) per layer."""
    generator = torch.Generator().manual_seed(seed)
    shapes = {name: Block().get_submodule(name).weight.shape for name in LAYERS}
    return {name: torch.rand(shape, generator=generator) < 0.4 for name, shape in shapes.items()}


class Mask(nn.Module):
    def __init__(self, mask):
        super().__init__()
        self.register_buffer("mask", mask.float())

    def forward(self, weight):
        return weight * self.mask


def zeros_net(masks):
    net = Block()
    with torch.no_grad():
        for name, mask in masks.items():
            net.get_submodule(name).weight.mul_(mask)
    return net


def masked_net(masks):
    net = Block(MaskedConv2d, MaskedLinear)
    for name, mask in masks.items():
        layer = net.get_submodule(name)
        layer.weight_mask.copy_(mask)  # mask only: the weights stay non-zero
    return net


def pruned_net(masks, permanent=False):
    net = Block()
    for name, mask in masks.items():
        prune.custom_from_mask(net.get_submodule(name), "weight", mask)
        if permanent:
            prune.remove(net.get_submodule(name), "weight")
    return net


def global_pruned_net():
    """What Lightning's ModelPruning does: a global L1 prune of every layer's weight."""
    net = Block()
    parameters = [(net.get_submodule(name), "weight") for name in LAYERS]
    prune.global_unstructured(parameters, pruning_method=prune.L1Unstructured, amount=0.7)
    return net


def parametrized_net(masks):
    net = Block()
    for name, mask in masks.items():
        parametrize.register_parametrization(net.get_submodule(name), "weight", Mask(mask))
    return net


def converted_net(masks):
    net = pruned_net(masks)
    to_masked(net)
    return net


BUILDERS = {
    "masked": masked_net,
    "prune": pruned_net,
    "prune-permanent": lambda m: pruned_net(m, permanent=True),
    "parametrize": parametrized_net,
    "to_masked": converted_net,
}
SOURCES = {
    "masked": "masked",
    "prune": "torch.nn.utils.prune",
    "prune-permanent": "zeros",
    "parametrize": "torch.nn.utils.parametrize",
    "to_masked": "masked",
}


@pytest.mark.parametrize("kind", list(BUILDERS))
def test_degrees_agree_across_pruners(kind):
    masks = pattern()
    reference = node_degrees(zeros_net(masks))
    net = BUILDERS[kind](masks)
    assert mask_source(net.conv2) == SOURCES[kind]
    for name, mask in masks.items():
        assert torch.equal(layer_kept(net.get_submodule(name)), mask), name
    degrees = node_degrees(net)
    assert list(degrees) == list(reference) == ["input", "conv1", "conv2", "conv3", "fc"]
    for name in reference:
        torch.testing.assert_close(degrees[name], reference[name], rtol=0, atol=0)
    assert int(reference["conv1"].sum()) > 0


def test_global_prune_as_model_pruning_does_reads_its_masks():
    net = global_pruned_net()
    masks = {name: net.get_submodule(name).weight_mask.bool() for name in LAYERS}
    assert (
        0.2
        < sum(int(m.sum()) for m in masks.values()) / sum(m.numel() for m in masks.values())
        < 0.4
    )
    expected = node_degrees(zeros_net(masks))
    degrees = node_degrees(net)
    assert all(torch.equal(degrees[k], expected[k]) for k in expected)
    assert not net.conv1.weight.is_meta  # the pruning hook's `weight` attribute is put back
    prune.remove(net.conv1, "weight")  # permanent, as ModelPruning(make_pruning_permanent=True)
    assert mask_source(net.conv1) == "zeros"
    degrees = node_degrees(net)
    assert all(torch.equal(degrees[k], expected[k]) for k in expected)


def test_an_exact_zero_behind_a_set_mask_is_not_kept():
    masks = pattern()
    net = pruned_net(masks)
    with torch.no_grad():
        kept_index = masks["fc"].nonzero()[0].tolist()
        net.fc.weight_orig[tuple(kept_index)] = 0.0
    assert not layer_kept(net.fc)[tuple(kept_index)]
    assert int(layer_kept(net.fc).sum()) == int(masks["fc"].sum()) - 1


def test_trace_leaves_a_pruned_net_working():
    net = pruned_net(pattern())
    x = torch.randn(2, 2, 6, 6)
    before = net(x)
    node_degrees(net)
    assert all(p.device.type == "cpu" for p in net.parameters())
    torch.testing.assert_close(net(x), before, rtol=0, atol=0)
