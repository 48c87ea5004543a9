"""``to_masked``: plain layers become masked layers in place, keeping every state-dict key."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize, prune

from pl_powerlaw.nn import MaskedConv1d, MaskedConv2d, MaskedLinear, to_masked


class Plain(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU()
        )
        self.seq = nn.Conv1d(4, 2, 3)
        self.fc = nn.Linear(2 * 4, 3)

    def forward(self, x):
        x = self.features(x).mean(2)  # (N, 4, 6)
        return self.fc(self.seq(x).flatten(1))  # (N, 2, 4)


def test_conversion_keeps_keys_values_and_outputs():
    net = Plain()
    with torch.no_grad():
        net.fc.weight[0, :3] = 0.0
    x = torch.randn(2, 3, 5, 6)
    before_out = net(x)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    params = {name: id(p) for name, p in net.named_parameters()}
    converted = to_masked(net)
    assert converted == ["features.0", "seq", "fc"]
    assert type(net.features[0]) is MaskedConv2d
    assert type(net.seq) is MaskedConv1d and type(net.fc) is MaskedLinear
    after = net.state_dict()
    assert set(after) - set(before) == {f"{n}.weight_mask" for n in converted}
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert {name: id(p) for name, p in net.named_parameters()} == params  # optimizers keep working
    assert int(net.fc.weight_mask.sum()) == 8 * 3 - 3  # the exact zeros are the pruned entries
    assert net.fc.weight_mask.dtype == net.fc.weight.dtype
    torch.testing.assert_close(net(x), before_out, rtol=0, atol=0)
    # keys in the order of natively built masked layers: weight, bias, weight_mask
    assert list(net.fc.state_dict()) == list(MaskedLinear(8, 3).state_dict())


def test_plain_state_dicts_load_before_and_after():
    source = Plain()
    plain_state = source.state_dict()
    net = Plain()
    to_masked(net)
    missing, unexpected = net.load_state_dict(plain_state, strict=False)
    assert sorted(missing) == ["fc.weight_mask", "features.0.weight_mask", "seq.weight_mask"]
    assert unexpected == []
    back = Plain()
    state = {k: v for k, v in net.state_dict().items() if not k.endswith("weight_mask")}
    back.load_state_dict(state)  # strict: the converted keys are the plain model's keys


def test_torch_pruned_layer_converts_to_the_same_mask():
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Conv1d(1, 2, 3))
    prune.l1_unstructured(net[0], "weight", amount=0.6)
    prune.random_unstructured(net[2], "weight", amount=0.5)
    masks = [net[0].weight_mask.clone(), net[2].weight_mask.clone()]
    originals = [id(net[0].weight_orig), id(net[2].weight_orig)]  # what an optimizer holds
    weights = [net[0].weight_orig * masks[0], net[2].weight_orig * masks[1]]
    x = torch.randn(3, 6)

    def run(model):
        return model[2](model[1](model[0](x)).unsqueeze(1))

    expected = run(net)
    assert to_masked(net) == ["0", "2"]
    for layer, mask, weight in zip((net[0], net[2]), masks, weights, strict=True):
        assert torch.equal(layer.weight_mask, mask)
        assert torch.equal(layer.weight, weight)
        assert not layer._forward_pre_hooks
        assert list(layer.state_dict()) == ["weight", "bias", "weight_mask"]
    assert [id(net[0].weight), id(net[2].weight)] == originals  # the same Parameter objects
    assert int(net[0].weight_mask.sum()) == 12  # 40% of 30 kept
    torch.testing.assert_close(run(net), expected, rtol=0, atol=0)


def test_a_pruned_bias_stays_pruned_by_its_hook():
    layer = nn.Linear(4, 3)
    prune.l1_unstructured(layer, "bias", amount=1)
    to_masked(layer)
    assert type(layer) is MaskedLinear
    assert "bias_orig" in layer.state_dict() and int((layer.bias != 0).sum()) == 2


def test_conversion_is_idempotent():
    net = Plain()
    assert to_masked(net)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    assert to_masked(net) == []
    assert list(net.state_dict()) == list(state)
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())


def test_masked_layers_are_left_alone():
    layer = MaskedLinear(3, 2)
    layer.weight_mask[0, 0] = 0
    assert to_masked(layer) == []
    assert int(layer.weight_mask.sum()) == 5


class OwnForward(nn.Linear):
    def forward(self, x):
        return F.linear(x, self.weight.tanh(), self.bias)


class Doubler(nn.Module):
    def forward(self, weight):
        return 2 * weight


def test_layers_that_cannot_be_converted_are_refused_by_name():
    net = nn.Sequential(nn.Linear(2, 2), OwnForward(2, 2), nn.LazyLinear(3), nn.Linear(3, 2))
    parametrize.register_parametrization(net[3], "weight", Doubler())
    with pytest.raises(ValueError) as info:
        to_masked(net)
    message = str(info.value)
    assert "Expected plain nn.Linear/nn.Conv1d/nn.Conv2d layers" in message
    assert f"`1` is a {OwnForward.__module__}.OwnForward (a subclass with its own" in message
    assert "`2` is an uninitialised lazy layer" in message
    assert "`3` is parametrised (['weight'])" in message
    assert type(net[0]) is nn.Linear  # nothing was converted
    assert to_masked(net, strict=False) == ["0"]
    assert type(net[1]) is OwnForward and type(net[0]) is MaskedLinear
