"""Permuted MNIST: the central square, the per-task permutations, task switching and loaders."""

from __future__ import annotations

import pytest
import torch
from data_helpers import make_fake_mnist
from lightning.pytorch import Callback, LightningModule, Trainer
from torch import nn

from pl_powerlaw.data import PermutedMNISTDataModule
from pl_powerlaw.data import mnist as mnist_module
from pl_powerlaw.data.permuted import central_square


def fake_module(root, **kwargs) -> PermutedMNISTDataModule:
    options = dict(data_root=str(root), check_md5=False, val_size=20, batch_size=16,
                   cache_dir=str(root / "cache"), download=False, progress=False)  # fmt: skip
    return PermutedMNISTDataModule(**{**options, **kwargs})


def square_rows(square: int) -> list[int]:
    """Rows (= columns) of the central square, from the flat indices."""
    return sorted({int(i) // 28 for i in central_square(square)})


@pytest.mark.parametrize(
    ("square", "rows"),
    [  # hand-computed: start = (28 - s) // 2
        pytest.param(8, list(range(10, 18)), id="s8-paper"),
        pytest.param(26, list(range(1, 27)), id="s26-paper"),
        pytest.param(1, [13], id="s1"),
        pytest.param(27, list(range(0, 27)), id="s27-odd"),
        pytest.param(28, list(range(28)), id="s28-all"),
    ],
)
def test_central_square_position(square, rows):
    indices = central_square(square)
    assert indices.numel() == square * square
    assert square_rows(square) == rows
    assert sorted({int(i) % 28 for i in indices}) == rows


@pytest.mark.parametrize("square", [0, 29, 8.0, True])
def test_square_out_of_range_is_rejected(square):
    with pytest.raises(ValueError, match="`square`"):
        PermutedMNISTDataModule(square=square)


@pytest.mark.parametrize("square", [8, 26])
def test_permutations_shuffle_only_the_square_and_differ_per_task(square):
    dm = PermutedMNISTDataModule(num_tasks=4, square=square, permutation_seed=5)
    identity = torch.arange(784)
    inside = central_square(square)
    outside = torch.ones(784, dtype=torch.bool)
    outside[inside] = False
    assert torch.equal(dm.permutation(0), identity)
    perms = [dm.permutation(t) for t in range(1, 4)]
    for p in perms:
        assert p.dtype == torch.long and p.shape == (784,)
        assert torch.equal(p[outside], identity[outside])
        assert torch.equal(p[inside].sort().values, inside)
        assert (p[inside] != inside).sum() > square * square // 2  # really shuffled
    assert not torch.equal(perms[0], perms[1]) and not torch.equal(perms[1], perms[2])
    # fixed by (permutation_seed, task): independent of num_tasks, changes with the seed
    assert torch.equal(PermutedMNISTDataModule(2, square, 5).permutation(1), perms[0])
    assert not torch.equal(PermutedMNISTDataModule(2, square, 6).permutation(1), perms[0])


@pytest.mark.parametrize("task", [-1, 2, True, 1.0])
def test_set_task_and_permutation_reject_tasks_out_of_range(task):
    dm = PermutedMNISTDataModule(num_tasks=2)
    with pytest.raises(ValueError, match=r"Expected a task in \[0, 1\]"):
        dm.set_task(task)
    with pytest.raises(ValueError, match=r"Expected a task in \[0, 1\]"):
        dm.permutation(task)
    assert dm.current_task == 0


def test_loaders_serve_the_current_task_and_every_task_seen(tmp_path, monkeypatch):
    make_fake_mnist(tmp_path, n_train=100, n_test=30)
    dm = fake_module(tmp_path, num_tasks=3, square=8, normalize=True)
    dm.setup("fit")
    monkeypatch.setattr(mnist_module, "load_mnist", None)  # loaders must not decode again
    base_val = dm.val_set.__getitems__(list(range(16)))
    base_test = dm.test_set.__getitems__(list(range(16)))
    assert len(dm.val_dataloader()) == 1 and len(dm.test_dataloader()) == 1
    dm.set_task(2)
    assert dm.current_task == 2
    for loaders, (x0, y0) in [(dm.val_dataloader(), base_val), (dm.test_dataloader(), base_test)]:
        assert len(loaders) == 3
        for task, loader in enumerate(loaders):
            x, y = next(iter(loader))
            assert torch.equal(y, y0)
            expected = x0.reshape(16, 784)[:, dm.permutation(task)].reshape(16, 1, 28, 28)
            assert torch.equal(x, expected)
    train = dm.train_dataloader()
    assert train.dataset.images.data_ptr() == dm.train_set.images.data_ptr()  # shared, no copy
    assert torch.equal(train.dataset.pixel_permutation, dm.permutation(2))
    x, y = next(iter(train))
    assert x.shape == (16, 1, 28, 28)


def test_state_dict_restores_the_task(tmp_path):
    dm = PermutedMNISTDataModule(num_tasks=3)
    dm.set_task(2)
    other = PermutedMNISTDataModule(num_tasks=3)
    other.load_state_dict(dm.state_dict())
    assert other.current_task == 2
    assert torch.equal(other.shuffle_generator.get_state(), dm.shuffle_generator.get_state())


class RecordingModel(LightningModule):
    """A linear classifier that records which validation loaders it sees in each epoch."""

    def __init__(self):
        super().__init__()
        self.net = nn.Linear(784, 10)
        self.seen: list[tuple[int, int]] = []  # (epoch, dataloader_idx)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.cross_entropy(self.net(x.flatten(1)), y)

    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        self.seen.append((self.current_epoch, dataloader_idx))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class SwitchTask(Callback):
    def on_train_epoch_end(self, trainer, pl_module):
        trainer.datamodule.set_task(1)


def test_trainer_reloads_loaders_after_a_task_switch(tmp_path):
    make_fake_mnist(tmp_path, n_train=100, n_test=30)
    dm = fake_module(tmp_path, num_tasks=2)
    model = RecordingModel()
    trainer = Trainer(
        max_epochs=2, limit_train_batches=2, limit_val_batches=1, num_sanity_val_steps=0,
        reload_dataloaders_every_n_epochs=1, callbacks=[SwitchTask()], accelerator="cpu",
        logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, default_root_dir=tmp_path,
    )  # fmt: skip
    trainer.fit(model, datamodule=dm)
    assert sorted(set(model.seen)) == [(0, 0), (1, 0), (1, 1)]
