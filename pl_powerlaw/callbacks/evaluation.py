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
    datamodule: LightningDataModule | None = None,
) -> float:
    """Top-1 accuracy of ``pl_module`` (or of ``forward``) over ``(x, y)`` batches, in eval mode.

    Each batch goes through ``datamodule.on_after_batch_transfer`` after the move to the device,
    as in Lightning's loops (ImageNet batches are normalised there).
    """
    forward = forward or pl_module
    was_training = pl_module.training
    pl_module.eval()
    correct = total = 0
    try:
        for batch in batches:
            batch = move_batch(batch, pl_module.device)
            if datamodule is not None:
                batch = datamodule.on_after_batch_transfer(batch, 0)
            x, y = batch
            correct += int((forward(x).argmax(dim=1) == y).sum())
            total += int(y.numel())
    finally:
        pl_module.train(was_training)
    if total == 0:
        raise ValueError("Expected at least one test example but the test loader is empty")
    return correct / total


def test_loader(datamodule: LightningDataModule | None, task: int = 0) -> Iterable | None:
    """Test loader ``task`` of a data module (set up for testing first), or None if it has none.

    A data module that returns a list of test loaders (one per task seen) gives its loader
    ``task``; one that returns a single loader serves it as task 0.

    Raises:
        ValueError: if the data module serves fewer test loaders than ``task + 1``.
    """
    if datamodule is None or not hasattr(datamodule, "test_dataloader"):
        return None
    datamodule.setup("test")
    try:
        loaders = datamodule.test_dataloader()
    except NotImplementedError:  # LightningDataModule's default when no test set exists
        return None
    loaders = list(loaders) if isinstance(loaders, (list, tuple)) else [loaders]
    if not loaders:
        return None
    if task >= len(loaders):
        raise ValueError(
            f"Expected a test loader for task {task} but the data module serves {len(loaders)}"
        )
    return loaders[task]
