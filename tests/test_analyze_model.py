"""``analyze --model``: a net named by its import path, with a state dict or random seeded weights.

These run in the base install (no torchvision); tests/test_vision_analyze.py covers torchvision's
builders and weights API.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from test_analyze_command import plain_state_dict

from pl_powerlaw.analyze import main
from pl_powerlaw.models import LeNet
from pl_powerlaw.models.vision import torchvision_available
from pl_powerlaw.nn.masked import masked_modules


def record(out: Path) -> dict:
    return json.loads((out / "degrees.json").read_text())


def degrees(out: Path) -> dict[str, list[int]]:
    return {layer["name"]: layer["degrees"] for layer in record(out)["layers"]}


def test_a_class_path_with_a_state_dict_equals_the_registered_net(tmp_path):
    torch.manual_seed(5)
    path = tmp_path / "lenet.pt"
    torch.save(plain_state_dict(LeNet()), path)
    common = ["--prune", "0.5", "--null", "0"]
    assert main([str(path), "--net", "lenet", "--out", str(tmp_path / "a"), *common]) == 0
    by_model = ["--model", "pl_powerlaw.models.LeNet", *common]
    assert main(["--state-dict", str(path), "--out", str(tmp_path / "b"), *by_model]) == 0
    assert main([str(path), "--out", str(tmp_path / "c"), *by_model]) == 0
    assert record(tmp_path / "a") == record(tmp_path / "b") == record(tmp_path / "c")


def top_kept(weight: torch.Tensor, fraction: float) -> torch.Tensor:
    """The entries kept when ``fraction`` of ``weight`` is pruned by magnitude (a sort)."""
    n = weight.numel()
    keep = n - round(fraction * n)
    order = weight.detach().abs().reshape(-1).argsort(descending=True)
    kept = torch.zeros(n, dtype=torch.bool)
    kept[order[:keep]] = True
    return kept.view_as(weight)


def test_random_weights_are_seeded_and_said_to_be_untrained(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = ["--model", "pl_powerlaw.models.LeNet", "--seed", "3", "--null", "0", "--prune", "0.5"]
    assert main(args) == 0
    assert "random initial weights (seed 3; not trained)" in capsys.readouterr().err
    assert main(args) == 0
    first, second = (tmp_path / "analysis" / "LeNet_random" / f"version_{i}" for i in (0, 1))
    assert degrees(first) == degrees(second)
    # the weights of LeNet() built after torch.manual_seed(3), half of each hidden layer kept by
    # magnitude; a conv1 map has its kept 5x5 weights times 24x24 positions below and, after the
    # 2x2 pooling, its kept conv2 weights times 8x8 positions above
    torch.manual_seed(3)
    layers = dict(masked_modules(LeNet()))
    kept1, kept2 = (top_kept(layers[name].weight, 0.5) for name in ("conv1", "conv2"))
    hand = kept1.sum((1, 2, 3)) * 24 * 24 + kept2.sum((0, 2, 3)) * 8 * 8
    assert degrees(first)["conv1"] == hand.tolist()
    assert degrees(first)["input"] == [int(kept1.sum()) * 24 * 24]
    assert main([*args[:2], "--seed", "4", "--null", "0", "--prune", "0.5"]) == 0
    third = tmp_path / "analysis" / "LeNet_random" / "version_2"
    assert degrees(third)["conv1"] != degrees(first)["conv1"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(["--net", "lenet", "--model", "x.Y"], "give one of them", id="net-and-model"),
        pytest.param(["--weights", "DEFAULT"], "--weights 'DEFAULT': expected --model", id="w"),
        pytest.param(["--state-dict", "f.pt"], "both name the weights file", id="two-files"),
        pytest.param(
            ["--model", "pl_powerlaw.models.LeNet", "--weights", "DEFAULT"],
            "give one of them",
            id="weights-and-file",
        ),
        pytest.param(["--model", "no_such.Net"], "Cannot import 'no_such.Net'", id="no-import"),
        pytest.param(
            ["--model", "pl_powerlaw.models.PRUNING_PRESETS"],
            "nn.Module class or a function",
            id="not-callable",
        ),
    ],
)
def test_bad_model_arguments_are_one_line_and_exit_2(args, expected, tmp_path, capsys):
    path = tmp_path / "lenet.pt"
    torch.save(plain_state_dict(LeNet()), path)
    out = tmp_path / "out"
    assert main([str(path), "--out", str(out), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("analyze: error: ") and expected in err[-1], err
    assert not out.exists()


def test_weights_need_a_torchvision_model(tmp_path, capsys):
    out = tmp_path / "out"
    args = ["--model", "pl_powerlaw.models.LeNet", "--weights", "DEFAULT", "--out", str(out)]
    assert main(args) == 2
    assert "expected a torchvision --model" in capsys.readouterr().err
    assert not out.exists()


def test_no_checkpoint_and_no_model_is_one_line(tmp_path, capsys):
    assert main(["--out", str(tmp_path / "out")]) == 2
    assert "Expected a checkpoint file, or --model" in capsys.readouterr().err


@pytest.mark.skipif(torchvision_available(), reason="torchvision imports here")
def test_a_torchvision_model_without_torchvision_names_the_extra(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["--model", "torchvision.models.resnet18", "--out", str(out)]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "torchvision" in line and "constraints-vision.txt" in line and "vision" in line
    assert not out.exists()


def test_the_two_constraints_files_pin_the_same_set_but_torch():
    """constraints-vision.txt = constraints.txt with torch 2.14.1 and torchvision 0.29.1."""
    root = Path(__file__).resolve().parents[1]

    def pins(name: str) -> dict[str, str]:
        lines = (root / name).read_text().splitlines()
        pairs = [line.split("==") for line in lines if line and not line.startswith("#")]
        return {package: version for package, version in pairs}

    base, vision = pins("constraints.txt"), pins("constraints-vision.txt")
    assert (base.pop("torch"), vision.pop("torch"), vision.pop("torchvision")) == (
        "2.13.0",
        "2.14.1",
        "0.29.1",
    )
    assert vision == base
