"""``python -m pl_powerlaw analyze``: outputs, degrees against a hand computation, clean errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from pl_powerlaw.analyze import main
from pl_powerlaw.fitting import compare_alternatives
from pl_powerlaw.models.registry import build_net
from pl_powerlaw.nn.masked import masked_modules, output_layer_names

SUMMARY_HEADER = ("layer", "nodes", "alpha", "xmin", "xmax", "KS", "p")


def plain_state_dict(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The net's state dict without mask buffers: torchvision's key names for our VGG/AlexNet."""
    return {k: v for k, v in net.state_dict().items() if not k.endswith("weight_mask")}


def random_plain_state_dict(name: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random N(0, 0.01) weights and zero biases under the net's mask-less keys (fast: no init)."""
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in plain_state_dict(build_net(name)).items()}
    generator = torch.Generator().manual_seed(seed)
    return {
        key: torch.randn(shape, generator=generator) * 0.01
        if key.endswith("weight")
        else torch.zeros(shape)
        for key, shape in shapes.items()
    }


def run_module(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "MPLBACKEND": "Agg"}
    return subprocess.run(
        [sys.executable, "-m", "pl_powerlaw", "analyze", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def pruned_mlp(seed: int = 0) -> torch.nn.Module:
    """The registered MLP with a random ~30% of every layer's entries masked out."""
    torch.manual_seed(seed)
    net = build_net("mlp")
    generator = torch.Generator().manual_seed(seed)
    for _, layer in masked_modules(net):
        layer.set_mask(torch.rand(layer.weight.shape, generator=generator) > 0.3)
    return net


def lightning_checkpoint(net: torch.nn.Module, path: Path) -> Path:
    """Save ``net`` as our CLI's ImageClassifier checkpoint would hold it (``net.`` prefix)."""
    state = {f"net.{k}": v for k, v in net.state_dict().items()}
    checkpoint = {
        "epoch": 7,
        "global_step": 420,
        "pytorch-lightning_version": "2.6.0",
        "state_dict": state,
        "hyper_parameters": {"num_classes": 10},
        "optimizer_states": [],
        "callbacks": {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, path)
    return path


def hand_degrees(net: torch.nn.Module) -> dict[str, np.ndarray]:
    """Degrees of a chain of fully connected masked layers, from the masks alone.

    Node layers are the input and every hidden layer's outputs (the output head is not a node
    layer, its connections are not counted). A node's degree is the number of kept weights into it
    from the layer below plus out of it to the next node layer (rows and columns of the masks).
    """
    outputs = set(output_layer_names(net))
    kept = [
        (name, (layer.weight_mask != 0) & (layer.weight != 0))
        for name, layer in masked_modules(net)
        if name not in outputs
    ]
    degrees = {"input": kept[0][1].sum(0).numpy()}
    for i, (name, mask) in enumerate(kept):
        down = mask.sum(1).numpy()
        up = kept[i + 1][1].sum(0).numpy() if i + 1 < len(kept) else 0
        degrees[name] = down + up
    return degrees


def read_record(out: Path) -> dict:
    return json.loads((out / "degrees.json").read_text())


def test_lightning_checkpoint_degrees_match_the_masks(tmp_path, capsys):
    net = pruned_mlp()
    checkpoint = lightning_checkpoint(net, tmp_path / "run" / "last.ckpt")
    out = tmp_path / "out"
    assert main([str(checkpoint), "--net", "mlp", "--out", str(out)]) == 0
    record = read_record(out)
    assert record["event"] == "analyze"
    assert (record["epoch"], record["global_step"]) == (7, 420)
    expected = hand_degrees(net)
    assert [layer["name"] for layer in record["layers"]] == list(expected)
    for layer in record["layers"]:
        np.testing.assert_array_equal(
            layer["degrees"], expected[layer["name"]], err_msg=layer["name"]
        )
        assert layer["n_nodes"] == expected[layer["name"]].size
    printed = capsys.readouterr()
    assert all(word in printed.out for word in SUMMARY_HEADER)
    assert "measuring node degrees" in printed.err


def test_checkpoint_in_a_cli_log_dir_needs_no_net_name(tmp_path):
    net = pruned_mlp(seed=1)
    log_dir = tmp_path / "lightning_logs" / "version_0"
    checkpoint = lightning_checkpoint(net, log_dir / "checkpoints" / "last.ckpt")
    config = {
        "model": {
            "class_path": "pl_powerlaw.models.ImageClassifier",
            "init_args": {"net": {"class_path": type(net).__module__ + "." + type(net).__name__}},
        }
    }
    (log_dir / "config.yaml").write_text(yaml.safe_dump(config))
    out = tmp_path / "out"
    assert main([str(checkpoint), "--out", str(out), "--layers", "fc1"]) == 0
    record = read_record(out)
    assert [layer["name"] for layer in record["layers"]] == ["input", "fc1"]
    fc1 = dict(masked_modules(net))["fc1"].kept()
    np.testing.assert_array_equal(record["layers"][1]["degrees"], fc1.sum(1).numpy())


def test_prune_fraction_prunes_hidden_layers_only(tmp_path):
    torch.manual_seed(2)
    net = build_net("mlp")
    path = tmp_path / "mlp.pt"
    torch.save(plain_state_dict(net), path)
    out = tmp_path / "out"
    assert main([str(path), "--net", "mlp", "--prune", "0.9", "--out", str(out)]) == 0
    record = read_record(out)
    first = dict(masked_modules(net))["fc1"]
    # 90% of fc1 pruned: each input node keeps on average 10% of its n_out connections.
    total_kept = sum(record["layers"][0]["degrees"])
    assert total_kept == round(0.1 * first.weight.numel())


def test_compare_adds_the_likelihood_ratio_tests(tmp_path, capsys):
    torch.manual_seed(2)
    path = tmp_path / "mlp.pt"
    torch.save(plain_state_dict(build_net("mlp")), path)
    out = tmp_path / "out"
    args = [str(path), "--net", "mlp", "--prune", "0.9", "--out", str(out)]
    assert main(args) == 0
    assert all("alternatives" not in layer for layer in read_record(out)["layers"])
    capsys.readouterr()
    assert main([*args, "--compare"]) == 0
    table = capsys.readouterr().out
    assert "likelihood ratios R" in table and "lognormal" in table
    for layer in read_record(out)["layers"]:
        if not layer["fit"]["flagged"]:
            expected = compare_alternatives(np.array(layer["degrees"]), layer["fit"])
            assert layer["alternatives"] == {k: t.as_dict() for k, t in expected.items()}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(["--net", "resnet9000"], "Unknown net 'resnet9000'", id="unknown-net"),
        pytest.param(
            ["--net", "mlp", "--prune", "1.5"], "Expected `--prune` in [0, 1)", id="bad-prune"
        ),
        pytest.param(["--net", "mlp", "--prune", "0.5", "--preset", "x"], "not allowed", id="both"),
        pytest.param(["--net", "mlp", "--input-shape", "1,28"], "C,H,W", id="bad-shape"),
        pytest.param(["--net", "mlp", "--n-boot", "-3"], "--n-boot", id="bad-n-boot"),
        pytest.param(
            ["--net", "mlp", "--n-jobs", "0"], "--n-jobs: expected an int >= 1", id="bad-n-jobs"
        ),
        pytest.param(["--net", "mlp", "--layers", "fc9"], "fc9", id="unknown-layer"),
        pytest.param(
            ["--net", "mlp", "--preset", "no_such_preset"], "no_such_preset", id="bad-preset"
        ),
        pytest.param([], "--net", id="no-net-for-a-state-dict"),
        pytest.param(["--net", "lenet"], "does not fit lenet: missing keys", id="mismatch"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, expected, tmp_path, capsys):
    path = tmp_path / "mlp.pt"
    torch.save(plain_state_dict(build_net("mlp")), path)
    out = tmp_path / "out"
    assert main([str(path), "--out", str(out), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("analyze: error: ") and expected in err[-1], err
    assert not any("Traceback" in line for line in err)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["mlp.pt"]


def test_mismatched_state_dict_lists_keys_and_shapes(tmp_path, capsys):
    state = plain_state_dict(build_net("mlp"))
    state["fc1.weight"] = state["fc1.weight"][:, :100].clone()
    state["extra.weight"] = torch.zeros(1)
    path = tmp_path / "mlp.pt"
    torch.save(state, path)
    assert main([str(path), "--net", "mlp", "--out", str(tmp_path / "out")]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "unexpected keys extra.weight" in line
    assert "fc1.weight (" in line and ", 100) vs (" in line


def test_unreadable_file_through_the_module_entry_point(tmp_path):
    garbage = tmp_path / "broken.ckpt"
    garbage.write_bytes(b"\x00garbage" * 100)
    result = run_module(str(garbage), "--net", "mlp", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("analyze: error: Cannot read") and "broken.ckpt" in lines[-1]
    assert "Traceback" not in result.stderr
    missing = run_module(str(tmp_path / "nope.ckpt"), "--net", "mlp", cwd=tmp_path)
    assert missing.returncode == 2 and "not found" in missing.stderr


def test_failure_while_writing_leaves_out_untouched(tmp_path, monkeypatch):
    path = tmp_path / "mlp.pt"
    torch.save(plain_state_dict(pruned_mlp()), path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("old")

    def broken(*args, **kwargs):
        raise RuntimeError("plotting failed")

    monkeypatch.setattr("pl_powerlaw.plotting.tile_images", broken)
    with pytest.raises(RuntimeError, match="plotting failed"):
        main([str(path), "--net", "mlp", "--out", str(out)])
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlp.pt", "out"]


def test_vgg16_state_dict_with_the_han_preset(tmp_path, capsys):
    """The full-size case: 138M weights saved with torchvision's key names (553 MB in tmp_path)."""
    path = tmp_path / "vgg16-random.pth"
    torch.save(random_plain_state_dict("vgg16"), path)
    out = tmp_path / "vgg"
    code = main([str(path), "--net", "vgg16", "--preset", "han2015_vgg16", "--out", str(out)])
    assert code == 0
    record = read_record(out)
    assert set(record) == {"event", "epoch", "global_step", "layers"}
    assert record["event"] == "analyze" and record["epoch"] is None
    names = [layer["name"] for layer in record["layers"]]
    assert names[0] == "input" and len(names) == 16  # input, 13 conv, fc6, fc7
    for layer in record["layers"]:
        assert set(layer) == {"name", "n_nodes", "degrees", "fit"}
        assert layer["n_nodes"] == len(layer["degrees"]) > 0
        assert "alpha" in layer["fit"]
        assert (out / f"ccdf_{layer['name']}.png").stat().st_size > 1000
    assert (out / "ccdf_all_layers.png").stat().st_size > 1000
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    printed = capsys.readouterr().out
    assert all(word in printed for word in SUMMARY_HEADER)
    assert all(name in printed for name in names)
