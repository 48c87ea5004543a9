"""``analyze``'s numbers against independent references.

* the fits (alpha, xmin, xmax, KS, bootstrap p) equal a direct
  :func:`~pl_powerlaw.fitting.fit_truncated_power_law` on degrees counted by hand from the masks,
  with ``--n-boot``, ``--seed`` and ``--r`` passed through (a different seed or r gives other
  numbers, so the match is not an accident) and ``--n-jobs 2`` giving the same p-values;
* the TensorBoard scalars and histograms it writes, read back with tensorboard's
  ``EventAccumulator``, equal the JSON record;
* the success paths of ``--input-shape`` and ``--layers`` give the hand-counted degrees.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from test_analyze_command import (
    hand_degrees,
    lightning_checkpoint,
    plain_state_dict,
    pruned_mlp,
    random_plain_state_dict,
    read_record,
)

from pl_powerlaw.analysis.records import FIT_SCALARS
from pl_powerlaw.analyze import main
from pl_powerlaw.fitting import fit_truncated_power_law
from pl_powerlaw.models.registry import build_net
from pl_powerlaw.nn.masked import masked_modules

FIT_KEYS = ("alpha", "xmin", "xmax", "ks", "p_value", "n_tail", "n_boot", "n_boot_valid")
N_BOOT, SEED, R = 30, 5, 3.0


def direct_fits(net: torch.nn.Module, **kwargs) -> dict[str, dict]:
    """``fit_truncated_power_law`` on each node layer's hand-counted degrees, as dicts."""
    return {
        name: fit_truncated_power_law(degrees, **kwargs).as_dict()
        for name, degrees in hand_degrees(net).items()
    }


def fit_numbers(fit: dict) -> tuple:
    return tuple(fit[key] for key in FIT_KEYS)


@pytest.fixture(scope="module")
def bootstrapped(tmp_path_factory):
    """One ``analyze`` of a randomly masked MLP with a bootstrap, a seed and an r."""
    tmp = tmp_path_factory.mktemp("analyze_numbers")
    net = pruned_mlp(seed=4)
    path = tmp / "mlp.pt"
    torch.save(plain_state_dict(net), path)  # pruned weights are zero: no mask buffers needed
    out = tmp / "out"
    args = [str(path), "--net", "mlp", "--n-boot", str(N_BOOT), "--seed", str(SEED)]
    assert main([*args, "--r", str(R), "--out", str(out)]) == 0
    return net, path, args, out, read_record(out)


def test_fits_equal_a_direct_fit_on_hand_counted_degrees(bootstrapped):
    net, _, _, _, record = bootstrapped
    want = direct_fits(net, r=R, n_boot=N_BOOT, seed=SEED)
    assert [layer["name"] for layer in record["layers"]] == list(want) == ["input", "fc1", "fc2"]
    for layer in record["layers"]:
        fit = layer["fit"]
        assert not fit["flagged"], layer["name"]
        assert (fit["r"], fit["seed"], fit["n_boot"]) == (R, SEED, N_BOOT)
        # the same computation on the same integers: equal to the last bit (JSON keeps doubles)
        assert fit_numbers(fit) == fit_numbers(want[layer["name"]]), layer["name"]
        assert 0.0 <= fit["p_value"] <= 1.0 and fit["n_boot_valid"] == N_BOOT
        hits = fit["p_value"] * fit["n_boot_valid"]  # a p-value is a count of replicates
        assert hits == pytest.approx(round(hits), abs=1e-9)
    # the options matter, so equality above shows they were passed on: another seed moves some
    # p-value, the default r (4) moves some fitted range
    other_seed = direct_fits(net, r=R, n_boot=N_BOOT, seed=SEED + 1)
    assert any(other_seed[n]["p_value"] != want[n]["p_value"] for n in want)
    default_r = direct_fits(net)
    assert any(
        (default_r[n]["xmin"], default_r[n]["xmax"]) != (want[n]["xmin"], want[n]["xmax"])
        for n in want
    )


@pytest.mark.slow  # two spawned worker processes per layer: ~10-30 s on 2 cores
def test_two_bootstrap_workers_give_the_same_p_values(bootstrapped, tmp_path):
    _, _, args, _, record = bootstrapped
    out = tmp_path / "jobs2"
    assert main([*args, "--r", str(R), "--n-jobs", "2", "--out", str(out)]) == 0
    parallel = read_record(out)
    for one, two in zip(record["layers"], parallel["layers"], strict=True):
        assert fit_numbers(one["fit"]) == fit_numbers(two["fit"]), one["name"]


def test_tensorboard_scalars_and_histograms_equal_the_record(bootstrapped):
    _, _, _, out, record = bootstrapped
    events = EventAccumulator(
        str(out / "tensorboard"), size_guidance={"scalars": 0, "histograms": 0, "images": 0}
    ).Reload()
    tags = events.Tags()
    expected_scalars = {
        f"powerlaw/{layer['name']}/{key}": layer["fit"][key]
        for layer in record["layers"]
        for key in FIT_SCALARS
    }
    assert set(expected_scalars) <= set(tags["scalars"])  # (the verdicts add null/... scalars)
    layers = {layer["name"] for layer in record["layers"]}
    assert {tag.split("/")[1] for tag in tags["scalars"] if tag.startswith("powerlaw/")} == layers
    for tag, value in expected_scalars.items():
        (event,) = events.Scalars(tag)
        assert event.step == 0  # a state dict has no global step
        assert event.value == pytest.approx(value, rel=1e-6), tag  # stored as float32
    assert set(tags["histograms"]) == {f"degrees/{layer['name']}" for layer in record["layers"]}
    for layer in record["layers"]:
        degrees = np.asarray(layer["degrees"], dtype=np.float64)
        (event,) = events.Histograms(f"degrees/{layer['name']}")
        histogram = event.histogram_value
        assert histogram.num == degrees.size == layer["n_nodes"]
        assert (histogram.min, histogram.max) == (degrees.min(), degrees.max())
        assert histogram.sum == pytest.approx(degrees.sum(), rel=1e-12)
        assert histogram.sum_squares == pytest.approx(np.square(degrees).sum(), rel=1e-12)
        assert sum(histogram.bucket) == degrees.size
    names = [layer["name"] for layer in record["layers"]]
    assert {f"ccdf/{n}" for n in names} | {"ccdf_all_layers"} <= set(tags["images"])
    for name in names:  # the TensorBoard image is the PNG file's picture (RGB)
        (image,) = events.Images(f"ccdf/{name}")
        logged = np.asarray(Image.open(io.BytesIO(image.encoded_image_string)).convert("RGB"))
        saved = np.asarray(Image.open(out / f"ccdf_{name}.png").convert("RGB"))
        assert logged.shape == saved.shape == (image.height, image.width, 3)
        np.testing.assert_array_equal(logged, saved, err_msg=name)


def lenet_hand_degrees(net: torch.nn.Module) -> dict[str, np.ndarray]:
    """LeNet's node degrees on a 1 x 28 x 28 input, from the masks and the geometry alone.

    conv1 (5 x 5, no padding) has 24 x 24 outputs, so a kept kernel weight is 576 connections;
    conv2 works on 12 x 12 maps and has 8 x 8 outputs (64); fc1 reads the 32 pooled 4 x 4 maps
    flattened channel-major, so its input f belongs to map f // 16. The head fc2 is not a node
    layer.
    """
    kept = {name: layer.kept().long() for name, layer in masked_modules(net)}
    c1 = kept["conv1"].sum((2, 3)) * 24 * 24  # (32 maps, 1 input channel)
    c2 = kept["conv2"].sum((2, 3)) * 8 * 8  # (32, 32)
    c3 = kept["fc1"].reshape(256, 32, 16).sum(-1)  # (256 units, 32 maps)
    return {
        "input": c1.sum(0).numpy(),
        "conv1": (c1.sum(1) + c2.sum(0)).numpy(),
        "conv2": (c2.sum(1) + c3.sum(0)).numpy(),
        "fc1": c3.sum(1).numpy(),
    }


def test_input_shape_success_path_on_lenet(tmp_path, capsys):
    torch.manual_seed(0)
    net = build_net("lenet")
    generator = torch.Generator().manual_seed(1)
    for _, layer in masked_modules(net):
        layer.set_mask(torch.rand(layer.weight.shape, generator=generator) > 0.4)
    checkpoint = lightning_checkpoint(net, tmp_path / "lenet.ckpt")
    args = [str(checkpoint), "--net", "lenet"]
    assert main([*args, "--input-shape", "1,28,28", "--out", str(tmp_path / "explicit")]) == 0
    assert main([*args, "--out", str(tmp_path / "default")]) == 0
    explicit, default = read_record(tmp_path / "explicit"), read_record(tmp_path / "default")
    want = lenet_hand_degrees(net)
    assert [layer["name"] for layer in explicit["layers"]] == list(want)
    for layer in explicit["layers"]:
        np.testing.assert_array_equal(layer["degrees"], want[layer["name"]], err_msg=layer["name"])
    assert explicit["layers"] == default["layers"]
    capsys.readouterr()
    # the shape is really used: an input that LeNet's dense layer cannot take is a clean error
    out = tmp_path / "wrong"
    assert main([*args, "--input-shape", "1,32,32", "--out", str(out)]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("analyze: error: ") and "(1, 32, 32)" in line, line
    assert not out.exists()


def test_input_shape_changes_the_conv_multiplicities(tmp_path):
    """torchvision's AlexNet (adaptive pooling) on 3 x 64 x 64: conv outputs 15², 7², 3², 3², 3²."""
    path = tmp_path / "alexnet.pth"
    torch.save(random_plain_state_dict("alexnet_torchvision", seed=3), path)
    out = tmp_path / "small"
    args = [str(path), "--net", "alexnet_torchvision", "--prune", "0.7", "--null", "0"]
    assert main([*args, "--input-shape", "3,64,64", "--out", str(out)]) == 0
    record = read_record(out)
    names = [layer["name"] for layer in record["layers"]]
    assert len(names) == 8  # input, five convs, fc6, fc7
    # connections of each link from the degrees: the input's degrees are the first link's, each
    # node layer's are its links below plus above, the last node layer's only below
    sums = [sum(layer["degrees"]) for layer in record["layers"]]
    links = [sums[0]]
    for total in sums[1:-1]:
        links.append(total - links[-1])
    assert links[-1] == sums[-1]
    with torch.device("meta"):
        layers = list(masked_modules(build_net("alexnet_torchvision")))[:7]  # conv1..5, fc6, fc7
    assert names[1:] == [name for name, _ in layers]
    # a kept conv weight is one connection per output position: 15^2, 7^2, then 3^2 three times
    multiplicities = [15 * 15, 7 * 7, 3 * 3, 3 * 3, 3 * 3, 1, 1]
    for (name, layer), multiplicity, connections in zip(layers, multiplicities, links, strict=True):
        n = layer.weight.numel()
        assert connections == (n - round(0.7 * n)) * multiplicity, name


def test_layers_success_path_makes_the_head_a_node_layer(tmp_path):
    net = pruned_mlp(seed=6)
    path = tmp_path / "mlp.pt"
    torch.save(plain_state_dict(net), path)
    kept = {name: layer.kept().long() for name, layer in masked_modules(net)}
    want = {
        "input": kept["fc1"].sum(0),
        "fc1": kept["fc1"].sum(1) + kept["fc2"].sum(0),
        "fc2": kept["fc2"].sum(1) + kept["fc3"].sum(0),
        "fc3": kept["fc3"].sum(1),
    }
    for i, layers in enumerate([["fc1,fc2,fc3"], ["fc1", "fc2", "fc3"]]):
        out = tmp_path / f"out{i}"
        assert main([str(path), "--net", "mlp", "--layers", *layers, "--out", str(out)]) == 0
        record = read_record(out)
        assert [layer["name"] for layer in record["layers"]] == list(want)
        for layer in record["layers"]:
            np.testing.assert_array_equal(
                layer["degrees"], want[layer["name"]].numpy(), err_msg=layer["name"]
            )
