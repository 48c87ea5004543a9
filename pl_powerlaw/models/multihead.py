"""Multi-head MLP for continual learning (paper Sec. 4) and the LightningModule that trains it.

The trunk is the paper's MLP without its output layer (784-1024-1024, ReLU, dropout 0.2 on the
input and 0.5 on the hidden layers, Glorot-uniform weights and zero biases as in Lasagne's
``mnist.py``), built from :class:`TaskMaskedLinear` layers that carry a ``weight_owner`` buffer next
to their ``weight_mask`` (see :mod:`pl_powerlaw.continual`). Each task has its own plain
``nn.Linear`` head (10 classes); heads are never pruned and are not node layers, so the
connectivity chain is input -> fc1 -> fc2.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from lightning.pytorch import LightningModule
from torch import Tensor, nn
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from pl_powerlaw.continual import MAX_TASKS, check_task, register_owner_buffer, task_weight
from pl_powerlaw.models.classifier import OptimizerCallable, SchedulerCallable, default_optimizer
from pl_powerlaw.nn.masked import MaskedLinear


class TaskMaskedLinear(MaskedLinear):
    """A :class:`MaskedLinear` whose entries are owned by tasks (``weight_owner`` buffer, int8).

    ``forward(x, task)`` computes with the entries usable by ``task`` (mask set, not owned by a
    later task); ``task=None`` uses every kept entry, like :class:`MaskedLinear`.

    Example:
        >>> layer = TaskMaskedLinear(4, 3)
        >>> layer.weight_owner.unique().tolist()
        [-1]
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        register_owner_buffer(self)

    def forward(self, x: Tensor, task: int | None = None) -> Tensor:
        if task is None:
            return super().forward(x)
        return F.linear(x, task_weight(self, task), self.bias)


class MultiHeadMLP(nn.Module):
    """Shared masked trunk with one linear head per task.

    Args:
        num_tasks: number of heads.
        hidden: widths of the hidden layers (``fc1``, ``fc2``, ...).
        num_classes: classes per task.
        input_shape: shape ``(C, H, W)`` of one input (MNIST's by default); the trunk's first
            layer takes ``C * H * W`` features.
        in_dropout: dropout on the input.
        hidden_dropout: dropout after each hidden layer.

    Example:
        >>> net = MultiHeadMLP(num_tasks=2, hidden=(32, 16))
        >>> net(torch.zeros(5, 1, 28, 28), task=1).shape
        torch.Size([5, 10])
    """

    input_shape: tuple[int, int, int] = (1, 28, 28)
    output_layers: tuple[str, ...] = ()  # the heads are plain nn.Linear, never node layers

    def __init__(
        self,
        num_tasks: int = 2,
        hidden: Sequence[int] = (1024, 1024),
        num_classes: int = 10,
        input_shape: Sequence[int] = (1, 28, 28),
        in_dropout: float = 0.2,
        hidden_dropout: float = 0.5,
    ) -> None:
        super().__init__()
        if (
            isinstance(num_tasks, bool)
            or not isinstance(num_tasks, int)
            or not 1 <= num_tasks <= MAX_TASKS
        ):
            raise ValueError(
                f"Expected `num_tasks` to be an int in [1, {MAX_TASKS}] but got {num_tasks!r}"
            )
        if not hidden or any(int(width) < 1 for width in hidden):
            raise ValueError(f"Expected `hidden` to be positive widths but got {hidden!r}")
        if num_classes < 2:
            raise ValueError(f"Expected `num_classes` >= 2 but got {num_classes}")
        for name, p in (("in_dropout", in_dropout), ("hidden_dropout", hidden_dropout)):
            if not 0.0 <= p < 1.0:
                raise ValueError(f"Expected `{name}` in [0, 1) but got {p}")
        if len(input_shape) != 3 or any(int(n) < 1 for n in input_shape):
            raise ValueError(
                f"Expected `input_shape` to be three positive ints (C, H, W) but got {input_shape!r}"
            )
        if tuple(input_shape) != type(self).input_shape:
            self.input_shape = tuple(int(n) for n in input_shape)
        self.num_tasks = num_tasks
        self.num_classes = num_classes
        in_features = int(torch.Size(self.input_shape).numel())
        widths = [in_features, *[int(width) for width in hidden]]
        self.trunk_names = tuple(f"fc{i + 1}" for i in range(len(hidden)))
        for name, (n_in, n_out) in zip(
            self.trunk_names, zip(widths, widths[1:], strict=False), strict=True
        ):
            self.add_module(name, TaskMaskedLinear(n_in, n_out))
        self.in_dropout = nn.Dropout(in_dropout)
        self.hidden_dropout = nn.Dropout(hidden_dropout)
        self.heads = nn.ModuleList(nn.Linear(widths[-1], num_classes) for _ in range(num_tasks))
        self.reset_parameters()

    @staticmethod
    def init_weight(weight: Tensor) -> Tensor:
        """The weight initialiser (Glorot uniform, Lasagne's default), also used for re-initialising."""
        return nn.init.xavier_uniform_(weight)

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Glorot-uniform weights and zero biases for the trunk and the heads."""
        for layer in [*self.trunk(), *self.heads]:
            self.init_weight(layer.weight)
            nn.init.zeros_(layer.bias)

    def trunk(self) -> list[TaskMaskedLinear]:
        """The shared hidden layers in order."""
        return [getattr(self, name) for name in self.trunk_names]

    def forward(self, x: Tensor, task: int = 0) -> Tensor:
        """Logits of head ``task`` computed with the trunk entries owned by tasks ``<= task``."""
        if not 0 <= task < self.num_tasks:
            raise ValueError(f"Expected `task` in [0, {self.num_tasks}) but got {task}")
        x = self.in_dropout(x.flatten(1))  # (B, 784)
        for layer in self.trunk():
            x = self.hidden_dropout(torch.relu(layer(x, task)))  # (B, width)
        return self.heads[task](x)  # (B, num_classes)


class MultiTaskClassifier(LightningModule):
    """Cross-entropy classifier of a multi-head net, one head per task.

    Trains head ``task`` (set by :class:`pl_powerlaw.callbacks.TaskFreezing` at each task switch;
    0 without it). Validation and test loader ``i`` are task ``i``. Logs ``train/loss``,
    ``train/acc``, ``val/loss/task_<t>``, ``val/acc/task_<t>``, ``test/loss/task_<t>`` and
    ``test/acc/task_<t>``; one accuracy metric object per stage and task.

    Args:
        net: a multi-head net with ``num_tasks``, ``num_classes`` and ``forward(x, task)``.
        optimizer: a callable that builds the optimizer from the parameters.
        scheduler: optional callable that builds a learning-rate scheduler from the optimizer.

    Example:
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
        super().__init__()
        self.save_hyperparameters(ignore=["net", "optimizer", "scheduler"])
        self.net = net
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.num_tasks = num_tasks
        self.num_classes = int(getattr(net, "num_classes", 10))
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

    def forward(self, x: Tensor, task: int | None = None) -> Tensor:
        return self.net(x, self.task if task is None else task)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        trainer = self._trainer  # None when called outside a Trainer
        if trainer is not None and trainer.world_size > 1:
            loss = loss + self._idle_heads_term()
        metric = self.metrics["fit"]
        metric(logits, y)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True)
        self.log("train/acc", metric, on_step=False, on_epoch=True)
        return loss

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

    def on_validation_epoch_end(self) -> None:
        self._log_eval("val")

    def on_test_epoch_end(self) -> None:
        self._log_eval("test")

    def validation_step(
        self, batch: tuple[Tensor, Tensor], batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        self._eval_step(batch, "val", dataloader_idx)

    def test_step(
        self, batch: tuple[Tensor, Tensor], batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        self._eval_step(batch, "test", dataloader_idx)

    def predict_step(self, batch: tuple[Tensor, Tensor] | Tensor, batch_idx: int) -> Tensor:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        return self(x).argmax(dim=1)

    def configure_optimizers(self):
        optimizer = self.optimizer_factory(self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": self.scheduler_factory(optimizer)}
