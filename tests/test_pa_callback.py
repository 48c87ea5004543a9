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
    assert (transition["from_task"], transition["to_task"]) == (0, 1)
    assert [p["lower"] for p in transition["layer_pairs"]] == ["input", "fc1"]
    assert [n["name"] for n in transition["node_layers"]] == ["input", "fc1", "fc2"]
    n_new = int((trainer.lightning_module.net.fc2.weight_owner == 1).sum())
    assert transition["node_layers"][2]["n_zero"] >= 0
    fc2 = transition["node_layers"][2]
    assert sum(fc2["new_links"]) + (fc2["delta_k_zero"] or 0) * fc2["n_zero"] == pytest.approx(
        n_new
    )
    events = EventAccumulator(trainer.log_dir, size_guidance={"images": 0}).Reload()
    images = set(events.Tags()["images"])
    assert {
        "preferential/pi/input-fc1/task1",
        "preferential/pi/fc1-fc2/task1",
        "preferential/delta_k/task1",
    } <= images
    assert any(tag.endswith("fc1/delta_k_slope") for tag in events.Tags()["scalars"])


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
