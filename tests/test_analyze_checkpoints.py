"""Reading checkpoints and state dicts for ``analyze`` (pl_powerlaw.analysis.checkpoints)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
import yaml
from torch import nn

from pl_powerlaw.checkpoints import (
    CheckpointError,
    check_state_dict,
    complete_masks,
    extract_state_dict,
    find_saved_net,
    load_weights,
    net_from_class_path,
    read_checkpoint,
)
from pl_powerlaw.nn import MaskedConv2d, MaskedLinear


class SmallNet(nn.Module):
    """conv (masked) -> linear (masked) -> linear (masked output); 2x4x4 input."""

    input_shape = (2, 4, 4)
    output_layers = ("head",)

    def __init__(self) -> None:
        super().__init__()
        self.conv = MaskedConv2d(2, 3, kernel_size=3, padding=1)
        self.fc = MaskedLinear(48, 5)
        self.head = MaskedLinear(5, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.fc(torch.relu(self.conv(x)).flatten(1))))


def plain_state_dict(net: nn.Module) -> dict[str, torch.Tensor]:
    """The net's state dict without the mask buffers (torchvision's key names)."""
    return {k: v.clone() for k, v in net.state_dict().items() if not k.endswith("weight_mask")}


@pytest.mark.parametrize(
    "legacy", [pytest.param(False, id="zipfile-mmap"), pytest.param(True, id="legacy-format")]
)
def test_read_checkpoint_round_trips_both_file_formats(tmp_path, legacy):
    state = {"w": torch.arange(6.0).view(2, 3)}
    path = tmp_path / "x.pt"
    torch.save(state, path, _use_new_zipfile_serialization=not legacy)
    assert torch.equal(read_checkpoint(path)["w"], state["w"])


def test_read_checkpoint_refuses_missing_garbage_and_unsafe_files(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        read_checkpoint(tmp_path / "nope.ckpt")
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"this is not a checkpoint\n" * 10)
    with pytest.raises(CheckpointError, match="Cannot read"):
        read_checkpoint(garbage)
    unsafe = tmp_path / "unsafe.pt"
    torch.save({"obj": Path("x")}, unsafe)  # a pickled class: refused by weights_only
    with pytest.raises(CheckpointError, match="Cannot read") as info:
        read_checkpoint(unsafe)
    assert "\n" not in str(info.value)
    pickled = tmp_path / "plain.pkl"
    pickled.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(CheckpointError):
        read_checkpoint(pickled)


def test_extract_state_dict_strips_the_lightning_prefix():
    weight = torch.ones(2, 2)
    lightning = {
        "state_dict": {"net.fc.weight": weight, "net.fc.weight_mask": weight},
        "epoch": 3,
        "hyper_parameters": {"num_classes": 10},
    }
    state, is_lightning = extract_state_dict(lightning)
    assert is_lightning and list(state) == ["fc.weight", "fc.weight_mask"]
    state, is_lightning = extract_state_dict({"fc.weight": weight})
    assert not is_lightning and list(state) == ["fc.weight"]


@pytest.mark.parametrize(
    "obj",
    [
        pytest.param([torch.zeros(1)], id="a-list"),
        pytest.param({"fc.weight": torch.zeros(1), "meta": "x"}, id="non-tensor-entry"),
        pytest.param({}, id="empty"),
    ],
)
def test_extract_state_dict_rejects_what_is_not_a_state_dict(obj):
    with pytest.raises(CheckpointError):
        extract_state_dict(obj)


def test_check_state_dict_lists_missing_unexpected_and_shape_mismatches():
    net = SmallNet()
    state = plain_state_dict(net)
    check_state_dict(net, state)  # masks may be missing
    del state["fc.bias"]
    state["classifier.weight"] = torch.zeros(1)
    state["head.weight"] = torch.zeros(3, 5)
    with pytest.raises(CheckpointError) as info:
        check_state_dict(net, state, "small")
    message = str(info.value)
    assert "\n" not in message
    assert "does not fit small" in message
    assert "missing keys fc.bias" in message
    assert "unexpected keys classifier.weight" in message
    assert "head.weight (3, 5) vs (2, 5)" in message


def test_check_state_dict_shortens_long_key_lists():
    net = nn.Sequential(*[nn.Linear(1, 1) for _ in range(8)])
    with pytest.raises(CheckpointError, match=r"\(\+11 more\)"):
        check_state_dict(net, {})


def test_complete_masks_keeps_nonzero_weights_and_given_masks():
    net = SmallNet()
    state = plain_state_dict(net)
    state["fc.weight"][0, :10] = 0.0
    given = torch.zeros_like(state["head.weight"])
    state["head.weight_mask"] = given
    full = complete_masks(net, state)
    assert torch.equal(full["fc.weight_mask"], (state["fc.weight"] != 0).float())
    assert int(full["fc.weight_mask"].sum()) == 48 * 5 - 10
    assert full["head.weight_mask"] is given
    assert torch.equal(full["conv.weight_mask"], torch.ones(3, 2, 3, 3))


@pytest.mark.parametrize("device", [pytest.param("cpu", id="cpu"), pytest.param("meta", id="meta")])
def test_load_weights_fills_the_net_and_its_masks(device):
    torch.manual_seed(0)
    source = SmallNet()
    state = plain_state_dict(source)
    state["conv.weight"][1] = 0.0
    with torch.device(device):
        net = SmallNet()
    load_weights(net, state)
    for key, value in state.items():
        assert torch.equal(net.state_dict()[key], value), key
    assert not any(t.is_meta for t in net.state_dict().values())
    kept = net.conv.kept()
    assert not kept[1].any() and kept[0].all() and kept[2].all()
    assert net(torch.zeros(1, 2, 4, 4)).shape == (1, 2)


def test_load_weights_reports_a_mismatch_as_one_line():
    state = plain_state_dict(SmallNet())
    state["fc.weight"] = torch.zeros(5, 47)
    with pytest.raises(CheckpointError, match=r"fc.weight \(5, 47\) vs \(5, 48\)"):
        load_weights(SmallNet(), state)


def write_config(folder: Path, net: object) -> None:
    config = {
        "model": {"class_path": "pl_powerlaw.models.ImageClassifier", "init_args": {"net": net}}
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(config))


def test_find_saved_net_reads_the_config_of_the_log_dir(tmp_path):
    log_dir = tmp_path / "lightning_logs" / "version_0"
    checkpoint = log_dir / "checkpoints" / "last.ckpt"
    checkpoint.parent.mkdir(parents=True)
    assert find_saved_net(checkpoint) is None
    net = {"class_path": "torch.nn.Linear", "init_args": {"in_features": 3, "out_features": 2}}
    write_config(log_dir, net)
    assert find_saved_net(checkpoint) == ("torch.nn.Linear", {"in_features": 3, "out_features": 2})
    write_config(checkpoint.parent, "tests.SmallNet")  # beside the checkpoint wins
    assert find_saved_net(checkpoint) == ("tests.SmallNet", {})


def test_net_from_class_path_builds_or_explains():
    layer = net_from_class_path("torch.nn.Linear", {"in_features": 3, "out_features": 2})
    assert isinstance(layer, nn.Linear) and layer.weight.shape == (2, 3)
    with pytest.raises(CheckpointError, match="Cannot import"):
        net_from_class_path("pl_powerlaw.models.NoSuchNet")
    with pytest.raises(CheckpointError, match="Expected an nn.Module"):
        net_from_class_path("torch.optim.SGD")
    with pytest.raises(CheckpointError, match="Cannot build"):
        net_from_class_path("torch.nn.Linear", {"bogus": 1})
