"""A small no-grad evaluation loop for callbacks that need a test accuracy in the middle of ``fit``.

``trainer.test`` cannot run inside ``trainer.fit``; the pruning and continual-learning callbacks
record the dense and sparse test accuracies with this loop instead. It touches no Lightning loop,
logs nothing and runs no collective, so it may be called on any rank.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from lightning.pytorch import LightningDataModule, LightningModule
from torch import Tensor


def move_batch(batch: object, device: torch.device) -> object:
    """Move every tensor of a (nested) batch to ``device``."""
    if torch.is_tensor(batch):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_batch(item, device) for item in batch)
    if isinstance(batch, dict):
        return {key: move_batch(value, device) for key, value in batch.items()}
    return batch


@torch.no_grad()
def evaluate_accuracy(
    pl_module: LightningModule,
    batches: Iterable,
    forward: Callable[[Tensor], Tensor] | None = None,
) -> float:
    """Top-1 accuracy of ``pl_module`` (or of ``forward``) over ``(x, y)`` batches, in eval mode."""
    forward = forward or pl_module
    was_training = pl_module.training
    pl_module.eval()
    correct = total = 0
    try:
        for batch in batches:
            x, y = move_batch(batch, pl_module.device)
            correct += int((forward(x).argmax(dim=1) == y).sum())
            total += int(y.numel())
    finally:
        pl_module.train(was_training)
    if total == 0:
        raise ValueError("Expected at least one test example but the test loader is empty")
    return correct / total


def test_batches(datamodule: LightningDataModule | None) -> Iterable | None:
    """The datamodule's test loader (set up for testing first), or None if it has none."""
    if datamodule is None or not hasattr(datamodule, "test_dataloader"):
        return None
    datamodule.setup("test")
    try:
        return datamodule.test_dataloader()
    except NotImplementedError:  # LightningDataModule's default when no test set exists
        return None
