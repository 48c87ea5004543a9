"""Glue that every callback of the package shares: where to write, which net, where to log.

``Trainer.log_dir`` broadcasts rank 0's folder to all ranks: it is a collective. Read inside
rank-zero-only code it deadlocks DDP (rank 0 waits in the broadcast, the other ranks wait in
their next collective), so each callback reads it with :func:`run_dir`, on every rank, before
branching on rank.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_info
from torch import nn


def run_dir(trainer: Trainer) -> Path | None:
    """The run's log folder, or None without one or in ``fast_dev_run``; call it on every rank.

    Example:
        >>> folder = run_dir(trainer)  # doctest: +SKIP
        >>> if trainer.is_global_zero and folder is not None:  # doctest: +SKIP
        ...     write_json_atomic(folder / "pruning.json", summary)
    """
    log_dir = trainer.log_dir  # a broadcast from rank 0: every rank must get here
    if log_dir is None or trainer.fast_dev_run:
        return None
    return Path(log_dir)


def net_of(pl_module: LightningModule) -> nn.Module:
    """The plain net a LightningModule trains: ``pl_module.net`` (our modules), else the module."""
    net = getattr(pl_module, "net", None)
    return net if isinstance(net, nn.Module) else pl_module


def tensorboard_writer(trainer: Trainer) -> Any | None:
    """The ``SummaryWriter`` of the trainer's first TensorBoard logger, or None."""
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            return logger.experiment
    return None


def say(trainer: Trainer, message: str) -> None:
    """Print a callback's message on global rank 0 without breaking the progress bar's line.

    With a tqdm progress bar the message goes through ``tqdm.write`` (on its own line above any
    bar that is open, and plainly once the bars are closed: the bar's own ``print`` drops messages
    after training ends, e.g. the end-of-fit analysis); with another progress bar through its
    ``print``; without one through Lightning's rank-zero logger.
    """
    if not trainer.is_global_zero:
        return
    bar = trainer.progress_bar_callback
    if isinstance(bar, TQDMProgressBar) and bar.is_enabled:
        Tqdm.write(message, file=sys.stdout)
    elif bar is not None and getattr(bar, "is_enabled", False):
        bar.print(message)
    else:
        rank_zero_info(message)


def log_to_loggers(trainer: Trainer, metrics: Mapping[str, float], step: int) -> None:
    """Log ``metrics`` at ``step`` to every logger of the trainer (call on global rank 0)."""
    for logger in trainer.loggers:
        logger.log_metrics(dict(metrics), step=step)


def log_sparsity(pl_module: LightningModule, layers: Iterable[tuple[str, nn.Module]]) -> None:
    """Log ``sparsity/<layer>`` (the pruned share of the weights) of masked layers, per epoch."""
    for name, layer in layers:
        mask = layer.weight_mask
        sparsity = 1.0 - float(mask.sum()) / mask.numel()
        pl_module.log(f"sparsity/{name}", sparsity, on_step=False, on_epoch=True, sync_dist=False)
