"""Resume is exact: a run interrupted in any phase and resumed ends bit-identical, dropout on.

The paper's MLP (dropout 0.2 / 0.5) on fake MNIST files, dense -> prune -> retrain over 5 epochs
(prune at epoch 3). The uninterrupted run is the reference; runs resumed from the checkpoint of
epoch 1 (dense phase) and of epoch 3 (retraining) must give the same weights, masks and metrics.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from data_helpers import make_fake_mnist
from lightning.pytorch import Trainer, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint

from pl_powerlaw.callbacks import MagnitudePruning
from pl_powerlaw.data import MNISTDataModule
from pl_powerlaw.models import MLP, ImageClassifier


def data(root: Path) -> MNISTDataModule:
    return MNISTDataModule(
        data_root=str(root),
        check_md5=False,
        val_size=20,
        cache=False,
        batch_size=10,
        download=False,
    )


def run(root: Path, folder: Path, max_epochs: int, ckpt_path: Path | None = None):
    seed_everything(0)
    model = ImageClassifier(MLP(hidden=(32, 16)), optimizer=lambda p: torch.optim.SGD(p, lr=0.1))
    pruning = MagnitudePruning(prune_epochs=[3], amount=0.8, test_accuracy=False)
    checkpoint = ModelCheckpoint(dirpath=folder, save_top_k=-1, every_n_epochs=1)
    trainer = Trainer(
        max_epochs=max_epochs,
        accelerator="cpu",
        callbacks=[pruning, checkpoint],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=folder,
    )
    trainer.fit(model, data(root), ckpt_path=ckpt_path)
    return model, trainer


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    make_fake_mnist(root, n_train=80, n_test=20)
    folder = tmp_path_factory.mktemp("full")
    model, trainer = run(root, folder, 5)
    return root, folder, model.state_dict(), float(trainer.callback_metrics["val/loss"])


@pytest.mark.parametrize("epoch", [1, 3], ids=["dense-phase", "retrain-phase"])
def test_resumed_run_is_bit_identical(reference, epoch, tmp_path):
    root, folder, expected, val_loss = reference
    (ckpt,) = folder.glob(f"epoch={epoch}-*.ckpt")
    model, trainer = run(root, tmp_path, 5, ckpt_path=ckpt)
    got = model.state_dict()
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert torch.equal(got[key], value), key
    assert float(trainer.callback_metrics["val/loss"]) == val_loss
