"""Masked layers: the forward equals the functional op on ``weight * mask``; masks persist."""

import pytest
import torch
import torch.nn.functional as F

from pl_powerlaw.nn import (
    MaskedConv1d,
    MaskedConv2d,
    MaskedLinear,
    masked_modules,
    output_layer_names,
)


def random_mask(shape, seed):
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=generator) > 0.5).float()


def test_linear_forward_equals_functional_on_masked_weight():
    torch.manual_seed(0)
    layer = MaskedLinear(7, 5)
    mask = random_mask(layer.weight.shape, 1)
    layer.weight_mask.copy_(mask)
    x = torch.randn(3, 7)
    expected = F.linear(x, layer.weight * mask, layer.bias)
    torch.testing.assert_close(layer(x), expected, rtol=0, atol=0)


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({}, id="plain"),
        pytest.param({"stride": 2, "padding": 1}, id="stride-padding"),
        pytest.param({"dilation": 2, "groups": 2}, id="dilation-groups"),
    ],
)
def test_conv_forward_equals_functional_on_masked_weight(kwargs):
    torch.manual_seed(0)
    conv = MaskedConv2d(4, 6, kernel_size=3, **kwargs)
    mask = random_mask(conv.weight.shape, 2)
    conv.weight_mask.copy_(mask)
    x = torch.randn(2, 4, 11, 11)
    expected = F.conv2d(
        x, conv.weight * mask, conv.bias, conv.stride, conv.padding, conv.dilation, conv.groups
    )
    torch.testing.assert_close(conv(x), expected, rtol=0, atol=0)


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({}, id="plain"),
        pytest.param({"stride": 2, "padding": 1, "dilation": 2, "groups": 2}, id="all"),
    ],
)
def test_conv1d_forward_equals_functional_on_masked_weight(kwargs):
    torch.manual_seed(0)
    conv = MaskedConv1d(4, 6, kernel_size=3, **kwargs)
    mask = random_mask(conv.weight.shape, 3)
    conv.set_mask(mask)
    x = torch.randn(2, 4, 13)
    expected = F.conv1d(
        x, conv.weight * mask, conv.bias, conv.stride, conv.padding, conv.dilation, conv.groups
    )
    torch.testing.assert_close(conv(x), expected, rtol=0, atol=0)
    assert int(conv.kept().sum()) <= int(mask.sum())
    assert list(conv.state_dict()) == ["weight", "bias", "weight_mask"]


def test_masked_modules_finds_every_masked_type():
    net = torch.nn.Sequential(
        MaskedConv1d(2, 3, 3), torch.nn.Flatten(), MaskedLinear(3 * 4, 2), torch.nn.Linear(2, 2)
    )
    assert [(name, type(m).__name__) for name, m in masked_modules(net)] == [
        ("0", "MaskedConv1d"),
        ("2", "MaskedLinear"),
    ]


def test_mask_is_a_buffer_in_the_state_dict_from_construction():
    layer = MaskedLinear(3, 2)
    assert "weight_mask" in layer.state_dict()
    assert torch.equal(layer.weight_mask, torch.ones(2, 3))
    assert not any(name == "weight_mask" for name, _ in layer.named_parameters())


def test_set_mask_zeroes_pruned_weights_and_rejects_wrong_shape():
    layer = MaskedLinear(3, 2)
    mask = torch.tensor([[1, 0, 1], [0, 0, 1]])
    layer.set_mask(mask)
    assert torch.equal(layer.weight[mask == 0], torch.zeros(3))
    assert int(layer.kept().sum()) == 3
    with pytest.raises(ValueError, match=r"Expected a mask of shape \(2, 3\)"):
        layer.set_mask(torch.ones(3, 2))


def test_pruned_weight_gets_zero_gradient():
    layer = MaskedLinear(4, 1, bias=False)
    layer.set_mask(torch.tensor([[1, 0, 1, 0]]))
    layer(torch.ones(2, 4)).sum().backward()
    assert torch.equal(layer.weight.grad[0, 1::2], torch.zeros(2))
    assert torch.all(layer.weight.grad[0, ::2] != 0)


def test_output_layer_names_declared_or_last():
    net = torch.nn.Sequential(MaskedLinear(4, 3), torch.nn.ReLU(), MaskedLinear(3, 2))
    assert [name for name, _ in masked_modules(net)] == ["0", "2"]
    assert output_layer_names(net) == ("2",)
    net.output_layers = ()
    assert output_layer_names(net) == ()
