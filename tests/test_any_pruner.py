"""Our callbacks on any model and after any pruner: plain nets, Lightning's ModelPruning.

References: degrees by hand from the weights' exact zeros (rows and columns of each kept matrix);
kept counts by counting; state-dict keys by listing them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import CONFIGS, run_cli
from data_helpers import make_fake_mnist
from lightning.pytorch import Trainer, seed_everything
from lightning.pytorch.callbacks import ModelPruning
from lightning.pytorch.loggers import TensorBoardLogger
from lightning_helpers import TinyData
from torch import nn

from pl_powerlaw.callbacks import DegreeDistributionMonitor, MagnitudePruning
from pl_powerlaw.models import ImageClassifier
from pl_powerlaw.nn import masked_modules


class PlainMLP(nn.Module):
    """12 -> 16 -> 8 -> 3 with plain nn.Linear layers (a model from outside the package)."""

    input_shape = (1, 3, 4)
    output_layers = ("fc3",)

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(12, 16), nn.Linear(16, 8), nn.Linear(8, 3)

    def forward(self, x):
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x.flatten(1))))))


def hand_degrees(net: PlainMLP) -> dict[str, torch.Tensor]:
    k1, k2 = (net.fc1.weight != 0).long(), (net.fc2.weight != 0).long()
    return {"input": k1.sum(0), "fc1": k1.sum(1) + k2.sum(0), "fc2": k2.sum(1)}


def trainer(tmp_path: Path, callbacks: list, max_epochs: int) -> Trainer:
    return Trainer(
        max_epochs=max_epochs,
        accelerator="cpu",
        callbacks=callbacks,
        logger=TensorBoardLogger(tmp_path, name="logs"),
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        default_root_dir=tmp_path,
    )


def test_magnitude_pruning_masks_a_plain_model_keeping_its_keys(tmp_path):
    seed_everything(0)
    model = ImageClassifier(PlainMLP(), num_classes=3)
    plain_keys = set(model.state_dict())
    pruning = MagnitudePruning(prune_epochs=[1], amount=0.75, test_accuracy=False)
    trainer(tmp_path, [pruning], 2).fit(model, TinyData())
    assert [name for name, _ in masked_modules(model.net)] == ["fc1", "fc2", "fc3"]
    assert set(model.state_dict()) == plain_keys | {f"net.fc{i}.weight_mask" for i in (1, 2, 3)}
    assert (
        int((model.net.fc1.weight != 0).sum()) == 48 and int(model.net.fc2.weight_mask.sum()) == 32
    )
    assert torch.all(model.net.fc3.weight != 0)  # the head is not pruned


def test_the_monitor_watches_a_run_pruned_only_by_model_pruning(tmp_path):
    seed_everything(0)
    model = ImageClassifier(PlainMLP(), num_classes=3)
    pruner = ModelPruning(
        "l1_unstructured", amount=0.5, parameter_names=["weight"], use_global_unstructured=False,
        use_lottery_ticket_hypothesis=False, verbose=0,
    )  # fmt: skip
    monitor = DegreeDistributionMonitor(every_n_epochs=1, n_boot=0, null_draws=3)
    trainer(tmp_path, [pruner, monitor], 2).fit(model, TinyData())
    assert not list(masked_modules(model.net))  # nothing converted: masks read as they are
    folder = tmp_path / "logs" / "version_0" / "degrees"
    record = json.loads((folder / "fit_end.json").read_text())
    expected = hand_degrees(model.net)  # ModelPruning made its pruning permanent: exact zeros
    assert int((model.net.fc1.weight != 0).sum()) == 12 * 16 // 4
    for layer in record["layers"]:
        assert layer["degrees"] == expected[layer["name"]].tolist(), layer["name"]
    first = json.loads((folder / "epoch0.json").read_text())  # while hooks held the masks
    assert sum(first["layers"][0]["degrees"]) == 12 * 16 // 2


def test_magnitude_pruning_after_a_model_pruning_phase(tmp_path):
    seed_everything(0)
    model = ImageClassifier(PlainMLP(), num_classes=3)
    pruner = ModelPruning(
        "l1_unstructured", amount=0.3, parameter_names=["weight"], use_global_unstructured=False,
        apply_pruning=lambda epoch: epoch < 2, use_lottery_ticket_hypothesis=False, verbose=0,
    )  # fmt: skip
    pruning = MagnitudePruning(prune_epochs=[3], amount=0.8, test_accuracy=False)
    trainer(tmp_path, [pruner, pruning], 4).fit(model, TinyData())
    net = model.net
    assert [name for name, _ in masked_modules(net)] == ["fc1", "fc2", "fc3"]
    assert int(net.fc1.weight_mask.sum()) == round(0.2 * 192)  # our target, counted exactly
    assert int(net.fc2.weight_mask.sum()) == round(0.2 * 128)
    assert torch.all(net.fc1.weight[net.fc1.weight_mask == 0] == 0)
    assert int(net.fc3.weight_mask.sum()) == round(0.7 * 0.7 * 24)  # head: ModelPruning's only


@pytest.mark.slow
def test_the_model_pruning_config_runs(tmp_path):
    root = tmp_path / "data"
    make_fake_mnist(root, n_train=60, n_test=20)
    result = run_cli(
        "fit", "--config", str(CONFIGS / "mlp_mnist_modelpruning.yaml"),
        f"--data.init_args.data_root={root}", "--data.init_args.check_md5=false",
        "--data.init_args.val_size=20", "--data.init_args.cache=false",
        "--data.init_args.batch_size=20", "--degrees.init_args.n_boot=0",
        "--trainer.enable_progress_bar=false", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads(
        (tmp_path / "lightning_logs" / "version_0" / "degrees" / "fit_end.json").read_text()
    )
    kept = sum(record["layers"][0]["degrees"])  # input degrees sum = fc1's kept weights
    assert kept == round(784 * 1024 * 0.5**4)
