"""``load_weights``: state dicts without masks (torchvision's) load into masked nets."""

import pytest
import torch

from pl_powerlaw.checkpoints import load_weights
from pl_powerlaw.models.lenet import LeNet
from pl_powerlaw.models.vgg import VGG16


def plain(net):
    return {k: v.clone() for k, v in net.state_dict().items() if not k.endswith("weight_mask")}


def test_missing_masks_are_filled_from_exact_zeros():
    torch.manual_seed(0)
    source = LeNet()
    state = plain(source)
    state["conv1.weight"][0] = 0.0  # a pruned kernel: 25 zeros
    state["fc1.weight"][:, :10] = 0.0  # 256 * 10 zeros
    target = LeNet()
    load_weights(target, state)
    assert torch.equal(target.conv1.weight, state["conv1.weight"])
    assert int(target.conv1.weight_mask.sum()) == 32 * 25 - 25
    assert int(target.fc1.weight_mask.sum()) == 256 * 512 - 256 * 10
    assert int(target.conv2.weight_mask.sum()) == 32 * 32 * 25
    assert target.conv1.weight_mask.dtype == target.conv1.weight.dtype


def test_masks_present_are_used_as_given():
    source = LeNet()
    mask = torch.zeros_like(source.fc2.weight)
    mask[:, 0] = 1
    source.fc2.weight_mask.copy_(mask)  # mask only: the weights stay non-zero
    target = LeNet()
    load_weights(target, source.state_dict())
    assert torch.equal(target.fc2.weight_mask, mask)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        pytest.param(lambda s: s.pop("fc1.bias"), r"missing keys fc1.bias", id="missing"),
        pytest.param(
            lambda s: s.__setitem__("fc3.weight", torch.zeros(1)),
            r"unexpected keys fc3.weight",
            id="unexpected",
        ),
        pytest.param(
            lambda s: s.__setitem__("fc2.weight", torch.zeros(10, 100)),
            r"shape mismatches .*fc2.weight \(10, 100\) vs \(10, 256\)",
            id="shape",
        ),
    ],
)
def test_mismatched_state_dicts_raise(edit, match):
    state = plain(LeNet())
    edit(state)
    with pytest.raises(ValueError, match=match):
        load_weights(LeNet(), state)


def test_torchvision_style_keys_fill_vgg16_masks():
    with torch.device("meta"):
        net = VGG16()
    state = {k: v for k, v in net.state_dict().items() if not k.endswith("weight_mask")}
    renamed = {k.replace("features.0.", "features.1."): v for k, v in state.items()}
    with pytest.raises(
        ValueError,
        match=r"missing keys features.0.weight, features.0.bias;",
    ):
        load_weights(net, renamed)
