"""The LightningModule of continual learning: one head of a multi-head net per task (paper Sec. 4).

It shares :class:`~pl_powerlaw.models.classifier.ImageClassifier`'s net, optimizer and scheduler
handling and replaces the metrics by one per stage and task.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy
from typing_extensions import override

from pl_powerlaw.continual import check_task
from pl_powerlaw.models.classifier import (
    ImageClassifier,
    OptimizerCallable,
    SchedulerCallable,
    default_optimizer,
)


class MultiTaskClassifier(ImageClassifier):
    """Cross-entropy classifier of a multi-head net, one head per task (an :class:`ImageClassifier`).

    Trains head ``task`` (set by :class:`pl_powerlaw.callbacks.TaskFreezing` at each task switch;
    0 without it). Validation and test loader ``i`` are task ``i``. Logs ``train/loss``,
    ``train/acc``, ``val/loss/task_<t>``, ``val/acc/task_<t>``, ``test/loss/task_<t>`` and
    ``test/acc/task_<t>``; one accuracy metric object per stage and task.

    Args:
        net: a multi-head net with ``num_tasks``, ``num_classes`` and ``forward(x, task)``.
        optimizer: a callable that builds the optimizer from the parameters.
        scheduler: optional callable that builds a learning-rate scheduler from the optimizer.

    Example:
        >>> from pl_powerlaw.models import MultiHeadMLP
        >>> model = MultiTaskClassifier(MultiHeadMLP(num_tasks=2, hidden=(8,)))
        >>> model(torch.zeros(2, 1, 28, 28), task=1).shape
        torch.Size([2, 10])
    """

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerCallable = default_optimizer,
        scheduler: SchedulerCallable | None = None,
    ) -> None:
        num_tasks = getattr(net, "num_tasks", None)
        if not isinstance(num_tasks, int) or num_tasks < 1:
            raise ValueError(
                f"Expected a multi-head net with an int `num_tasks` >= 1 but {type(net).__name__} "
                f"has {num_tasks!r}"
            )
        self.num_classes = int(getattr(net, "num_classes", 10))
        super().__init__(net, self.num_classes, optimizer, scheduler)
        self.num_tasks = num_tasks
        self.task = 0
        # "train" would clash with nn.Module.train inside a ModuleDict: the training metric is "fit".
        self.metrics = nn.ModuleDict({"fit": MulticlassAccuracy(self.num_classes, average="micro")})
        for stage in ("val", "test"):
            for t in range(num_tasks):
                self.metrics[f"{stage}_task{t}"] = MulticlassAccuracy(
                    self.num_classes, average="micro"
                )
        self.losses = nn.ModuleDict(
            {
                f"{stage}_task{t}": MeanMetric()
                for stage in ("val", "test")
                for t in range(num_tasks)
            }
        )
        self._seen: set[tuple[str, int]] = set()

    def set_task(self, task: int) -> None:
        """Train head ``task`` from now on."""
        check_task(task)
        if task >= self.num_tasks:
            raise ValueError(f"Expected `task` < {self.num_tasks} (the net's heads) but got {task}")
        self.task = task

    @override
    def forward(self, x: Tensor, task: int | None = None) -> Tensor:
        return self.net(x, self.task if task is None else task)

    @override
    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        trainer = self._trainer  # None when called outside a Trainer
        if trainer is not None and trainer.world_size > 1:
            loss = loss + self._idle_heads_term()
        self.metrics["fit"].update(logits, y)  # logged once, at the epoch's end
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True)
        return loss

    @override
    def on_train_epoch_end(self) -> None:
        self.log("train/acc", self.metrics["fit"])

    def _idle_heads_term(self) -> Tensor:
        """0 x the other heads' parameters, added to the loss under DDP: the loss is unchanged.

        DDP refuses parameters that take no part in the loss (``find_unused_parameters``); with it
        the other heads get exact-zero gradients instead, and ``TaskFreezing`` restores them after
        every step anyway. One process keeps their gradients None.
        """
        idle = [
            p
            for t, head in enumerate(getattr(self.net, "heads", ()))
            if t != self.task
            for p in head.parameters()
        ]
        return 0.0 * sum(p.sum() for p in idle) if idle else torch.zeros(())

    def _eval_step(self, batch: tuple[Tensor, Tensor], stage: str, task: int) -> None:
        # Accumulate only: the number of loaders grows with the tasks, and Lightning refuses a
        # key logged once with and once without a dataloader index, so the values are logged
        # at the end of the epoch (``_log_eval``).
        x, y = batch
        logits = self(x, task)
        self.metrics[f"{stage}_task{task}"].update(logits, y)
        self.losses[f"{stage}_task{task}"].update(F.cross_entropy(logits, y), weight=y.numel())
        self._seen.add((stage, task))

    def _log_eval(self, stage: str) -> None:
        for task in range(self.num_tasks):
            if (stage, task) not in self._seen:
                continue
            name = f"{stage}_task{task}"
            self.log(
                f"{stage}/acc/task_{task}", self.metrics[name].compute(), prog_bar=stage == "val"
            )
            self.log(f"{stage}/loss/task_{task}", self.losses[name].compute())
            self.metrics[name].reset()
            self.losses[name].reset()
            self._seen.discard((stage, task))

    @override
    def on_validation_epoch_end(self) -> None:
        self._log_eval("val")

    @override
    def on_test_epoch_end(self) -> None:
        self._log_eval("test")

    @override
    def validation_step(
        self, batch: tuple[Tensor, Tensor], batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        self._eval_step(batch, "val", dataloader_idx)

    @override
    def test_step(
        self, batch: tuple[Tensor, Tensor], batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        self._eval_step(batch, "test", dataloader_idx)
