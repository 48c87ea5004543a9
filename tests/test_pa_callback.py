"""Preferential attachment on real nets: ``analyze_transition`` against a brute-force count from the
ownership buffers, and ``PreferentialAttachmentAnalysis`` writing its JSON and TensorBoard figures.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from lightning.pytorch import Trainer, seed_everything
from lightning.pytorch.loggers import TensorBoardLogger
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from test_continual_callback import TASKS, TOTAL, StopAfter, TinyTasks, make_model
from torch import nn

from pl_powerlaw.callbacks.preferential_attachment import (
    PreferentialAttachmentAnalysis,
    analyze_transition,
)
from pl_powerlaw.callbacks.task_freezing import TaskFreezing
from pl_powerlaw.continual import claim_free_weights, owned_layers, prune_task
from pl_powerlaw.models.multihead import MultiHeadMLP


def two_task_net(seed: int) -> MultiHeadMLP:
    torch.manual_seed(seed)
    net = MultiHeadMLP(hidden=(40, 24), input_shape=(1, 5, 6))
    claim_free_weights(net, 0)
    prune_task(net, 0, {"fc1": 0.85, "fc2": 0.7})
    claim_free_weights(net, 1, init=nn.init.xavier_uniform_)
    prune_task(net, 1, {"fc1": 0.8, "fc2": 0.75})
    return net


@pytest.mark.parametrize("seed", [pytest.param(s, id=f"seed{s}") for s in range(2)])
def test_analyze_transition_matches_brute_force(seed: int) -> None:
    net = two_task_net(seed)
    old = {
        n: ((layer.weight_owner == 0) & (layer.weight_mask != 0)).long().numpy()
        for n, layer in owned_layers(net).items()
    }
    new = {n: (layer.weight_owner == 1).long().numpy() for n, layer in owned_layers(net).items()}
    # degrees by hand for input -> fc1 -> fc2 (fc2 only has links down: its head is not a node layer)
    k0 = [old["fc1"].sum(0), old["fc1"].sum(1) + old["fc2"].sum(0), old["fc2"].sum(1)]
    dk = [new["fc1"].sum(0), new["fc1"].sum(1) + new["fc2"].sum(0), new["fc2"].sum(1)]
    result = analyze_transition(net, 1, n_bins=5)
    assert [inc.name for inc in result.increments] == ["input", "fc1", "fc2"]
    for layer, inc in enumerate(result.increments):
        index = np.searchsorted(inc.edges, k0[layer], side="right") - 1
        for b in range(len(inc.edges) - 1):
            inside = (index == b) & (k0[layer] >= 1)
            assert inc.n_nodes[b] == inside.sum()
            assert inc.new_links[b] == dk[layer][inside].sum()
        assert inc.n_zero == (k0[layer] == 0).sum()
    kernel = result.kernels[1]  # fc1 -> fc2, brute force over node pairs
    lo = np.searchsorted(kernel.edges_lower, k0[1], side="right") - 1
    up = np.searchsorted(kernel.edges_upper, k0[2], side="right") - 1
    links = np.zeros_like(kernel.new_links)
    for i in range(new["fc2"].shape[0]):
        for j in range(new["fc2"].shape[1]):
            if k0[2][i] >= 1 and k0[1][j] >= 1:
                links[up[i], lo[j]] += new["fc2"][i, j]
    np.testing.assert_array_equal(kernel.new_links, links)


def test_analyze_transition_needs_an_earlier_task() -> None:
    with pytest.raises(ValueError, match="task"):
        analyze_transition(two_task_net(0), 0)


def by_hand(net: MultiHeadMLP) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """t = 0 degrees and new links per node of input, fc1, fc2, and fc2's new links, by hand."""
    layers = owned_layers(net)
    old = {
        n: ((m.weight_owner == 0) & (m.weight_mask != 0)).long().numpy() for n, m in layers.items()
    }
    new = {n: (m.weight_owner == 1).long().numpy() for n, m in layers.items()}
    k0 = [old["fc1"].sum(0), old["fc1"].sum(1) + old["fc2"].sum(0), old["fc2"].sum(1)]
    dk = [new["fc1"].sum(0), new["fc1"].sum(1) + new["fc2"].sum(0), new["fc2"].sum(1)]
    return k0, dk, new["fc2"]


def line(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Least-squares slope and intercept (numpy's polyfit) and Pearson's r (corrcoef)."""
    slope, intercept = np.polyfit(x, y, 1)
    return float(slope), float(intercept), float(np.corrcoef(x, y)[0, 1])


def test_callback_writes_json_and_tensorboard_figures(tmp_path: Path) -> None:
    seed_everything(0)
    logger = TensorBoardLogger(str(tmp_path), name="tb")
    trainer = Trainer(
        accelerator="cpu",
        max_epochs=TOTAL,
        reload_dataloaders_every_n_epochs=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        logger=logger,
        callbacks=[TaskFreezing(TASKS), PreferentialAttachmentAnalysis(n_bins=4)],
    )
    trainer.fit(make_model(), datamodule=TinyTasks())
    record = json.loads((Path(trainer.log_dir) / "preferential_attachment.json").read_text())
    (transition,) = record["transitions"]
    assert (transition["from_task"], transition["to_task"], transition["n_bins"]) == (0, 1, 4)
    assert [p["lower"] for p in transition["layer_pairs"]] == ["input", "fc1"]
    assert [n["name"] for n in transition["node_layers"]] == ["input", "fc1", "fc2"]
    k0, dk, new_fc2 = by_hand(trainer.lightning_module.net)
    events = EventAccumulator(trainer.log_dir, size_guidance={"images": 0, "scalars": 0}).Reload()
    scalars = {tag: events.Scalars(tag)[-1].value for tag in events.Tags()["scalars"]}
    # Delta k(k) per node layer: bins, per-bin means and both line fits against numpy
    for layer, node in enumerate(transition["node_layers"]):
        edges = np.array(node["edges"])
        positive = k0[layer][k0[layer] >= 1]
        assert edges[0] == positive.min() and edges[-1] == positive.max() + 1
        assert np.all(np.diff(edges) > 0) and len(edges) - 1 <= 4
        assert node["n_zero"] == int((k0[layer] == 0).sum())
        index = np.searchsorted(edges, k0[layer], side="right") - 1
        k_mean, delta_k = [], []
        for b in range(len(edges) - 1):
            inside = (index == b) & (k0[layer] >= 1)
            assert node["n_nodes"][b] == inside.sum()
            assert node["new_links"][b] == dk[layer][inside].sum()
            if inside.any():
                k_mean.append(k0[layer][inside].mean())
                delta_k.append(dk[layer][inside].mean())
        assert len(k_mean) >= 3, node["name"]  # enough bins for a line that can be wrong
        np.testing.assert_allclose([d for d in node["delta_k"] if d is not None], delta_k)
        slope, intercept, r = line(np.array(k_mean), np.array(delta_k))
        fit = node["fit"]
        assert fit["n"] == len(k_mean)
        assert fit["slope"] == pytest.approx(slope, rel=1e-9, abs=1e-12), node["name"]
        assert fit["intercept"] == pytest.approx(intercept, rel=1e-9, abs=1e-12), node["name"]
        assert fit["pearson_r"] == pytest.approx(r, rel=1e-9), node["name"]
        assert fit["r2"] == pytest.approx(r * r, rel=1e-9), node["name"]
        _, _, node_r = line(positive.astype(float), dk[layer][k0[layer] >= 1].astype(float))
        assert node["node_fit"]["pearson_r"] == pytest.approx(node_r, rel=1e-9), node["name"]
        zero = k0[layer] == 0
        if zero.any():
            assert node["delta_k_zero"] == pytest.approx(dk[layer][zero].mean())
        else:
            assert node["delta_k_zero"] is None
        tag = f"preferential/task1/{node['name']}/delta_k_slope"
        assert scalars[tag] == pytest.approx(slope, rel=1e-6, abs=1e-9)  # float32 in TensorBoard
    # every new fc2 connection is counted once: binned, or made by a node of t = 0 degree 0
    fc2 = transition["node_layers"][2]
    n_new = int(new_fc2.sum())
    assert sum(fc2["new_links"]) + (fc2["delta_k_zero"] or 0) * fc2["n_zero"] == pytest.approx(
        n_new
    )
    # Pi(k, k') of fc1 -> fc2 over bin pairs, and the slope of log Pi against log(k k')
    pair = transition["layer_pairs"][1]
    lower, upper = np.array(pair["edges_lower"]), np.array(pair["edges_upper"])
    lo = np.searchsorted(lower, k0[1], side="right") - 1
    up = np.searchsorted(upper, k0[2], side="right") - 1
    x, y = [], []
    for a in range(len(upper) - 1):
        for b in range(len(lower) - 1):
            rows, cols = (up == a) & (k0[2] >= 1), (lo == b) & (k0[1] >= 1)
            pairs = rows.sum() * cols.sum()
            links = new_fc2[np.ix_(rows, cols)].sum()
            assert pair["pairs"][a][b] == pairs and pair["new_links"][a][b] == links
            if pairs:
                assert pair["pi"][a][b] == pytest.approx(links / pairs)
            if links:
                x.append(np.log10(k0[2][rows].mean() * k0[1][cols].mean()))
                y.append(np.log10(links / pairs))
    assert len(x) >= 3
    slope, _, r = line(np.array(x), np.array(y))
    kernel = pair["fit_log_pi_vs_log_kk"]
    assert kernel["slope"] == pytest.approx(slope, rel=1e-9, abs=1e-12)
    assert kernel["pearson_r"] == pytest.approx(r, rel=1e-9)
    assert scalars["preferential/task1/fc1-fc2/pi_slope"] == pytest.approx(slope, rel=1e-6)
    images = set(events.Tags()["images"])
    assert {
        "preferential/pi/input-fc1",
        "preferential/pi/fc1-fc2",
        "preferential/delta_k",
    } <= images


def test_callback_does_nothing_before_a_second_task_is_pruned(tmp_path: Path) -> None:
    trainer = Trainer(
        accelerator="cpu",
        max_epochs=TOTAL,
        limit_train_batches=1,
        reload_dataloaders_every_n_epochs=1,
        enable_progress_bar=False,
        enable_checkpointing=False,
        logger=TensorBoardLogger(str(tmp_path), name="tb"),
        callbacks=[
            TaskFreezing(TASKS),
            PreferentialAttachmentAnalysis(),
            StopAfter(4),  # stops in task 1's dense phase
        ],
    )
    trainer.fit(make_model(), datamodule=TinyTasks())
    assert trainer.current_epoch == 5
    assert not (Path(trainer.log_dir) / "preferential_attachment.json").exists()


@pytest.mark.parametrize("n_bins", [pytest.param(0, id="zero"), pytest.param(2.0, id="float")])
def test_bad_n_bins_raise(n_bins) -> None:
    with pytest.raises(ValueError, match="n_bins"):
        PreferentialAttachmentAnalysis(n_bins=n_bins)
