"""``python -m pl_powerlaw analyze``: outputs, degrees against a hand computation, clean errors."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from scipy.optimize import minimize_scalar
from scipy.special import erfc, logsumexp, zeta

from pl_powerlaw.analysis import analyze_net
from pl_powerlaw.analyze import main
from pl_powerlaw.fitting import compare_alternatives
from pl_powerlaw.models.presets import VGG16_HAN2015
from pl_powerlaw.models.registry import build_net
from pl_powerlaw.models.vgg import VGG16
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


def test_prune_fraction_prunes_hidden_layers_only(tmp_path, monkeypatch):
    torch.manual_seed(2)
    net = build_net("mlp")
    path = tmp_path / "mlp.pt"
    torch.save(plain_state_dict(net), path)
    seen = {}  # the pruned net as analyze hands it to the analysis

    def spy(pruned, *args, **kwargs):
        seen.update({name: (layer.kept().clone(), layer.weight.detach().clone())
                     for name, layer in masked_modules(pruned)})  # fmt: skip
        return analyze_net(pruned, *args, **kwargs)

    monkeypatch.setattr("pl_powerlaw.analyze.analyze_net", spy)
    out = tmp_path / "out"
    assert main([str(path), "--net", "mlp", "--prune", "0.9", "--out", str(out)]) == 0
    record = read_record(out)
    layers = dict(masked_modules(net))
    n = {name: layer.weight.numel() for name, layer in layers.items()}
    want = {name: n[name] - round(0.9 * n[name]) for name in ("fc1", "fc2")}
    sums = {layer["name"]: sum(layer["degrees"]) for layer in record["layers"]}
    # input nodes: links up into fc1; fc1 nodes: fc1 below plus fc2 above; fc2: fc2 only (the
    # head fc3 is not a node layer)
    assert sums == {"input": want["fc1"], "fc1": want["fc1"] + want["fc2"], "fc2": want["fc2"]}
    for name in ("fc1", "fc2"):  # 90% pruned, by magnitude
        kept, weight = seen[name]
        assert int(kept.sum()) == want[name], name
        original = layers[name].weight.detach().abs()
        assert original[kept].min() >= original[~kept].max(), name
        assert torch.equal(weight[kept], layers[name].weight[kept]), name
    head_kept, head_weight = seen["fc3"]  # the output head is untouched
    assert bool(head_kept.all()) and torch.equal(head_weight, layers["fc3"].weight)


def tpl_loglik(x: np.ndarray, alpha: float, xmin: int, xmax: int) -> np.ndarray:
    """Per-point log-pmf of the discrete TPL p(k) ~ k^-alpha on the integers of [xmin, xmax]."""
    k = np.arange(xmin, xmax + 1, dtype=float)
    return -alpha * np.log(x) - logsumexp(-alpha * np.log(k))


def best(nll, bounds: tuple[float, float]) -> tuple[float, float]:
    """Minimiser and maximised log-likelihood of a convex one-parameter ``nll`` (bounded Brent)."""
    res = minimize_scalar(nll, bounds=bounds, method="bounded", options={"xatol": 1e-12})
    assert res.success
    return float(res.x), -float(res.fun)


def check_exponential(test: dict, tail: np.ndarray, fit: dict) -> None:
    """Vuong's test against p(k) ~ e^(-lam k) on [xmin, xmax], recomputed with scipy."""
    xmin, xmax = fit["xmin"], fit["xmax"]
    j = np.arange(0, xmax - xmin + 1, dtype=float)
    shift = tail - xmin

    def nll(lam: float) -> float:
        return lam * shift.sum() + tail.size * logsumexp(-lam * j)

    lam, loglik = best(nll, (-5.0, 5.0))
    tpl = tpl_loglik(tail, fit["alpha"], xmin, xmax)
    alt = -lam * shift - logsumexp(-lam * j)
    z = (tpl - alt).sum() / (np.std(tpl - alt) * np.sqrt(tail.size))
    assert (test["n"], test["nested"]) == (tail.size, False)
    assert test["loglik_tpl"] == pytest.approx(tpl.sum(), rel=1e-10)
    assert test["loglik"] == pytest.approx(loglik, rel=1e-10)
    assert test["loglik_ratio"] == pytest.approx(tpl.sum() - loglik, abs=1e-6)
    assert test["params"]["lambda"] == pytest.approx(lam, rel=1e-4, abs=1e-8)
    assert test["normalized_ratio"] == pytest.approx(z, rel=1e-3, abs=1e-6)
    assert test["p_value"] == pytest.approx(erfc(abs(z) / np.sqrt(2)), rel=1e-3, abs=1e-6)


def check_power_law(test: dict, degrees: np.ndarray, fit: dict) -> None:
    """The pure power law on [xmin, inf) (Hurwitz zeta) against the TPL cut at the largest value."""
    xmin = fit["xmin"]
    above = degrees[degrees >= xmin].astype(float)
    logs = np.log(above).sum()
    alpha, loglik = best(lambda a: a * logs + above.size * np.log(zeta(a, xmin)), (1.0001, 60.0))
    cutoff = int(above.max())
    alpha_c, loglik_c = best(lambda a: -tpl_loglik(above, a, xmin, cutoff).sum(), (-60.0, 60.0))
    assert (test["n"], test["nested"], test["null"]) == (above.size, True, "power_law")
    assert test["params"]["cutoff"] == cutoff
    assert test["loglik"] == pytest.approx(loglik, rel=1e-9)
    assert test["params"]["alpha"] == pytest.approx(alpha, rel=1e-5)
    assert test["loglik_tpl"] == pytest.approx(loglik_c, rel=1e-9)
    assert test["params"]["alpha_cutoff"] == pytest.approx(alpha_c, rel=1e-5)
    assert test["loglik_ratio"] == pytest.approx(loglik_c - loglik, abs=1e-6)
    assert test["loglik_ratio"] >= 0  # the larger (TPL) model never fits worse
    assert 0.0 <= test["p_value"] <= 1.0


def check_lognormal(test: dict, tail: np.ndarray, fit: dict) -> None:
    """p(k) ~ exp(-(ln k - mu)^2 / (2 sigma^2)) / k on [xmin, xmax]: its log-likelihood at the
    reported (mu, sigma) is a maximum and at least the TPL's (the TPL is its boundary)."""
    xmin, xmax = fit["xmin"], fit["xmax"]
    k = np.arange(xmin, xmax + 1, dtype=float)

    def loglik(mu: float, sigma: float) -> float:
        def energy(v: np.ndarray) -> np.ndarray:
            return -((np.log(v) - mu) ** 2) / (2 * sigma**2) - np.log(v)

        return float(energy(tail).sum() - tail.size * logsumexp(energy(k)))

    tpl = tpl_loglik(tail, fit["alpha"], xmin, xmax).sum()
    assert (test["n"], test["nested"], test["null"]) == (tail.size, True, "truncated_power_law")
    assert test["loglik_tpl"] == pytest.approx(tpl, rel=1e-10)
    assert test["loglik_ratio"] <= 0  # the TPL is nested in the log-normal family
    assert test["loglik_ratio"] == pytest.approx(tpl - test["loglik"], abs=1e-6)
    assert 0.0 <= test["p_value"] <= 1.0
    mu, sigma = test["params"]["mu"], test["params"]["sigma"]
    if test["params"]["boundary"]:  # the MLE is the TPL itself
        assert test["loglik_ratio"] == 0 and test["p_value"] == 1
        return
    at = loglik(mu, sigma)
    assert test["loglik"] == pytest.approx(at, rel=1e-9)
    for step in (1e-3, -1e-3):  # a maximum: moving mu or sigma does not raise the likelihood
        assert loglik(mu + step * sigma, sigma) <= at + 1e-9 * abs(at)
        assert loglik(mu, sigma * (1 + step)) <= at + 1e-9 * abs(at)


def test_compare_adds_the_likelihood_ratio_tests(tmp_path, capsys):
    """Each test's numbers recomputed independently (scipy), then the record equals the library's."""
    torch.manual_seed(2)
    path = tmp_path / "mlp.pt"
    torch.save(plain_state_dict(build_net("mlp")), path)
    out = tmp_path / "out"
    args = [str(path), "--net", "mlp", "--prune", "0.9", "--out", str(out)]
    assert main(args) == 0
    assert all("alternatives" not in layer for layer in read_record(out)["layers"])
    capsys.readouterr()
    assert main([*args, "--compare", "--overwrite"]) == 0
    table = capsys.readouterr().out
    assert "likelihood ratios R" in table and "lognormal" in table
    tested, boundary = [], []
    for layer in read_record(out)["layers"]:
        fit = layer["fit"]
        if fit["flagged"]:
            assert "alternatives" not in layer
            continue
        tested.append(layer["name"])
        degrees = np.array(layer["degrees"])
        tail = degrees[(degrees >= fit["xmin"]) & (degrees <= fit["xmax"])].astype(float)
        assert tail.size == fit["n_tail"]
        assert fit["loglik"] == pytest.approx(
            tpl_loglik(tail, fit["alpha"], fit["xmin"], fit["xmax"]).sum(), rel=1e-10
        )
        tests = layer["alternatives"]
        assert set(tests) == {"power_law", "exponential", "lognormal"}
        check_exponential(tests["exponential"], tail, fit)
        check_power_law(tests["power_law"], degrees, fit)
        check_lognormal(tests["lognormal"], tail, fit)
        boundary.append(tests["lognormal"]["params"]["boundary"])
        # and analyze's wiring: the record holds exactly what the library computes
        expected = compare_alternatives(degrees, fit)
        assert tests == {k: t.as_dict() for k, t in expected.items()}
    assert tested == ["input", "fc1", "fc2"]  # no layer of this net is flagged
    assert False in boundary  # the log-normal's interior maximum was checked at least once


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
        main([str(path), "--net", "mlp", "--out", str(out), "--overwrite"])
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlp.pt", "out"]


def test_vgg16_state_dict_with_the_han_preset(tmp_path, capsys):
    """The full-size case: 138M weights saved with torchvision's key names (553 MB in tmp_path)."""
    path = tmp_path / "vgg16-random.pth"
    torch.save(random_plain_state_dict("vgg16"), path)
    out = tmp_path / "vgg"
    args = ["--net", "vgg16", "--preset", "han2015_vgg16", "--out", str(out)]
    code = main([str(path), *args, "--null", "0"])  # no random-pruning draws: ~2 min on 2 cores
    assert code == 0
    record = read_record(out)
    assert set(record) == {"event", "epoch", "global_step", "layers"}
    assert record["event"] == "analyze" and record["epoch"] is None
    names = [layer["name"] for layer in record["layers"]]
    assert names[0] == "input" and len(names) == 16  # input, 13 conv, fc6, fc7
    # kept weights per preset layer, read back from the degrees: the input's degrees are the
    # connections of conv1_1, each node layer's are its links below plus above, fc7's only below
    # (the head fc8 is not a node layer); a kept 3x3 kernel weight of a conv on S x S maps
    # (padding 1) is S^2 connections, a dense weight one
    sums = [sum(layer["degrees"]) for layer in record["layers"]]
    links = [sums[0]]
    for total in sums[1:-1]:
        links.append(total - links[-1])
    assert links[-1] == sums[-1]
    readable = [f"conv{b}_{i}" for b, n in enumerate((2, 2, 3, 3, 3), 1) for i in range(1, n + 1)]
    sides = [224] * 2 + [112] * 2 + [56] * 3 + [28] * 3 + [14] * 3 + [1, 1]
    aliases = VGG16.layer_aliases
    assert names[1:] == [aliases[name] for name in readable + ["fc6", "fc7"]]
    with torch.device("meta"):
        shapes = {name: layer.weight.shape for name, layer in masked_modules(build_net("vgg16"))}
    for name, side, connections in zip(readable + ["fc6", "fc7"], sides, links, strict=True):
        n = math.prod(shapes[aliases[name]])
        kept = n - round((100 - VGG16_HAN2015.kept_percent[name]) / 100 * n)  # Han's Table 5
        assert connections == kept * side * side, name
    for layer in record["layers"]:
        assert {"name", "n_nodes", "degrees", "fit"} <= set(layer) and "alternatives" not in layer
        assert layer["n_nodes"] == len(layer["degrees"]) > 0
        assert "alpha" in layer["fit"]
        assert (out / f"ccdf_{layer['name']}.png").stat().st_size > 1000
    assert (out / "ccdf_all_layers.png").stat().st_size > 1000
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    printed = capsys.readouterr().out
    assert all(word in printed for word in SUMMARY_HEADER)
    assert all(name in printed for name in names)
