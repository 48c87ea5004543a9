"""``analyze --model torchvision.models.X`` (the vision extra): builders, weights API, state dicts.

Skipped where torchvision does not import (the base install). Random-initialised ResNet-18 at a
64 x 64 input keeps each test at a few seconds; no test touches the network.
"""

from __future__ import annotations

import json
import socket
import urllib.error
from pathlib import Path

import pytest
import torch
import yaml

from pl_powerlaw.analyze import main
from pl_powerlaw.connectivity import node_degrees
from pl_powerlaw.models.vision import default_input_shape, resolve_weights, torchvision_model
from pl_powerlaw.nn import masked_modules, to_masked
from pl_powerlaw.pruning import hidden_layers

pytestmark = pytest.mark.vision
try:
    from torchvision import models
except Exception as error:  # missing, or built for another torch
    pytest.skip(f"torchvision does not import: {error}", allow_module_level=True)

MODEL = "torchvision.models.resnet18"
SMALL = ["--input-shape", "3,64,64", "--null", "0"]


def record(out: Path) -> dict:
    return json.loads((out / "degrees.json").read_text())


def degrees(out: Path) -> dict[str, list[int]]:
    return {layer["name"]: layer["degrees"] for layer in record(out)["layers"]}


def top_kept(weight: torch.Tensor, fraction: float) -> torch.Tensor:
    n = weight.numel()
    order = weight.detach().abs().reshape(-1).argsort(descending=True)
    kept = torch.zeros(n, dtype=torch.bool)
    kept[order[: n - round(fraction * n)]] = True
    return kept.view_as(weight)


def test_random_resnet18_pruned_by_magnitude(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["--model", MODEL, "--seed", "1", "--prune", "0.9", "--out", str(out), *SMALL]) == 0
    assert "random initial weights (seed 1; not trained)" in capsys.readouterr().err
    got = degrees(out)
    torch.manual_seed(1)  # the same net by hand: torchvision's builder, masked, pruned 90%
    net = models.resnet18()
    to_masked(net)
    assert hidden_layers(net)[-1] == "layer4.1.conv2"  # fc, the head, is neither pruned nor a node
    for name, layer in masked_modules(net):
        if name != "fc":
            layer.set_mask(top_kept(layer.weight, 0.9))
    assert list(got) == ["input", *hidden_layers(net)]
    # the input's degrees by hand: conv1 (7x7, stride 2, padding 3) maps 64x64 to 32x32, so a kept
    # weight of input channel c is 32 * 32 connections
    kept = dict(masked_modules(net))["conv1"].weight_mask
    assert got["input"] == (kept.sum((0, 2, 3)) * 32 * 32).long().tolist()
    expected = node_degrees(net, (3, 64, 64))
    assert got == {name: d.tolist() for name, d in expected.items()}


def test_state_dict_file_and_cached_weights_load_the_same_numbers(tmp_path, monkeypatch):
    """``--weights`` through torchvision's weights API, offline: the file is in TORCH_HOME's cache
    (as after one download); ``--state-dict`` of the same file gives the same record."""
    torch.manual_seed(2)
    state = models.resnet18().state_dict()
    weights = resolve_weights(MODEL, "DEFAULT")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cached = tmp_path / "torch" / "hub" / "checkpoints" / weights.url.rpartition("/")[2]
    cached.parent.mkdir(parents=True)
    torch.save(state, cached)
    args = ["--model", MODEL, "--prune", "0.9", *SMALL]
    assert main([*args, "--weights", "IMAGENET1K_V1", "--out", str(tmp_path / "w")]) == 0
    assert main([*args, "--state-dict", str(cached), "--out", str(tmp_path / "s")]) == 0
    assert main([*args, "--seed", "2", "--out", str(tmp_path / "r")]) == 0  # the same weights
    assert record(tmp_path / "w") == record(tmp_path / "s")
    assert degrees(tmp_path / "r") == degrees(tmp_path / "w")


def test_weights_without_internet_is_one_plain_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # nothing cached

    def offline(url, *args, **kwargs):
        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    out = tmp_path / "out"
    assert main(["--model", MODEL, "--weights", "DEFAULT", "--out", str(out)]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("analyze: error: Cannot download the weights ResNet18_Weights")
    assert "no internet access" in line and "--state-dict FILE" in line
    assert resolve_weights(MODEL, "DEFAULT").url in line
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(["--model", "torchvision.models.resnet5"], "resnet50", id="unknown-model"),
        pytest.param(["--model", MODEL, "--weights", "IMAGENET9K"], "IMAGENET1K_V1", id="weights"),
    ],
)
def test_unknown_names_list_the_valid_ones(args, expected, tmp_path, capsys):
    assert main([*args, "--out", str(tmp_path / "out")]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("analyze: error: Unknown") and expected in line


def test_weights_names_and_input_shapes():
    full = resolve_weights("torchvision.models.resnet50", "ResNet50_Weights.IMAGENET1K_V2")
    assert full is resolve_weights("resnet50", "IMAGENET1K_V2")
    assert resolve_weights("resnet50", "DEFAULT") is full
    assert default_input_shape("resnet50") == (3, 224, 224)
    assert default_input_shape("inception_v3") == (3, 299, 299)
    net = torchvision_model("torchvision.models.mobilenet_v2", num_classes=7)
    assert net.input_shape == (3, 224, 224) and net.classifier[1].out_features == 7


def test_checkpoint_of_a_fit_run_with_a_torchvision_net_needs_no_model_name(tmp_path):
    """The config our CLI saves names the net by the function class_path of the config."""
    init_args = {"name": MODEL, "num_classes": 10, "input_shape": [3, 32, 32]}
    torch.manual_seed(4)
    net = torchvision_model(**init_args)
    to_masked(net)
    generator = torch.Generator().manual_seed(4)
    for _, layer in masked_modules(net):
        layer.set_mask(torch.rand(layer.weight.shape, generator=generator) > 0.7)
    log_dir = tmp_path / "lightning_logs" / "version_0"
    (log_dir / "checkpoints").mkdir(parents=True)
    state = {f"net.{k}": v for k, v in net.state_dict().items()}
    checkpoint = log_dir / "checkpoints" / "last.ckpt"
    torch.save({"epoch": 3, "global_step": 30, "state_dict": state}, checkpoint)
    net_config = {
        "class_path": "pl_powerlaw.models.vision.torchvision_model",
        "init_args": init_args,
    }
    config = {"model": {"class_path": "pl_powerlaw.models.ImageClassifier",
                        "init_args": {"net": net_config}}}  # fmt: skip
    (log_dir / "config.yaml").write_text(yaml.safe_dump(config))
    out = tmp_path / "out"
    assert main([str(checkpoint), "--null", "0", "--out", str(out)]) == 0
    assert (record(out)["epoch"], record(out)["global_step"]) == (3, 30)
    expected = node_degrees(net)  # at the saved input shape, 3 x 32 x 32
    assert degrees(out) == {name: d.tolist() for name, d in expected.items()}
    kept = dict(masked_modules(net))["conv1"].weight_mask
    assert degrees(out)["input"] == (kept.sum((0, 2, 3)) * 16 * 16).long().tolist()
