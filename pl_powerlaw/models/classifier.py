"""The LightningModule that trains any of the plain nets in :mod:`pl_powerlaw.models`.

The net is an argument (configs select it by class path), the optimizer and learning-rate
scheduler are injected as callables so that LightningCLI configs choose them, e.g.::

    model:
      class_path: pl_powerlaw.models.ImageClassifier
      init_args:
        net: {class_path: pl_powerlaw.models.MLP}
        optimizer:
          class_path: torch.optim.SGD
          init_args: {lr: 0.01, momentum: 0.9, nesterov: true}
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from lightning.pytorch import LightningModule
from torch import Tensor, nn
from torchmetrics.classification import MulticlassAccuracy
from typing_extensions import override

from pl_powerlaw.checkpoints import check_masks
from pl_powerlaw.rng import RNG_KEY, rng_state, set_rng_state

OptimizerCallable = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
SchedulerCallable = Callable[[torch.optim.Optimizer], torch.optim.lr_scheduler.LRScheduler]

STAGES = ("train", "val", "test")


def default_optimizer(params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
    """SGD with Nesterov momentum, lr 0.01, momentum 0.9 (Lasagne's mnist.py)."""
    return torch.optim.SGD(params, lr=0.01, momentum=0.9, nesterov=True)


class ImageClassifier(LightningModule):
    """Cross-entropy classifier around a plain ``nn.Module`` net.

    Logs ``train/loss``, ``train/acc``, ``val/loss``, ``val/acc``, ``test/loss``, ``test/acc``;
    one accuracy metric object per stage.

    Args:
        net: the network; callbacks find it as ``pl_module.net``.
        num_classes: number of classes of the accuracy metrics.
        optimizer: a callable that builds the optimizer from the parameters.
        scheduler: optional callable that builds a learning-rate scheduler from the optimizer.

    Example:
        >>> from pl_powerlaw.models import MLP
        >>> model = ImageClassifier(MLP())
        >>> model(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self,
        net: nn.Module,
        num_classes: int = 10,
        optimizer: OptimizerCallable = default_optimizer,
        scheduler: SchedulerCallable | None = None,
    ) -> None:
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"Expected `num_classes` >= 2 but got {num_classes}")
        # kept in checkpoints; TensorBoard's HParams get the run's summary from the degree monitor
        self.save_hyperparameters(ignore=["net", "optimizer", "scheduler"], logger=False)
        self.net = net
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.metrics = nn.ModuleDict(
            {f"{stage}_acc": MulticlassAccuracy(num_classes, average="micro") for stage in STAGES}
        )

    @override
    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def _step(self, batch: tuple[Tensor, Tensor], stage: str) -> Tensor:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        # the accuracy's state only: its value is computed and logged once, at the epoch's end
        self.metrics[f"{stage}_acc"].update(logits, y)
        on_step = stage == "train"
        self.log(f"{stage}/loss", loss, on_step=on_step, on_epoch=True, prog_bar=stage != "test")
        return loss

    def _log_accuracy(self, stage: str) -> None:
        self.log(f"{stage}/acc", self.metrics[f"{stage}_acc"], prog_bar=stage != "train")

    @override
    def on_train_epoch_end(self) -> None:
        self._log_accuracy("train")

    @override
    def on_validation_epoch_end(self) -> None:
        self._log_accuracy("val")

    @override
    def on_test_epoch_end(self) -> None:
        self._log_accuracy("test")

    @override
    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "train")

    @override
    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    @override
    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._step(batch, "test")

    @override
    def predict_step(self, batch: tuple[Tensor, Tensor] | Tensor, batch_idx: int) -> Tensor:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        return self(x).argmax(dim=1)

    @override
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint[RNG_KEY] = rng_state()  # dropout's stream: a resumed run is bit-identical

    @override
    def on_load_checkpoint(self, checkpoint: dict) -> None:
        check_masks(checkpoint.get("state_dict", {}))  # a damaged file must not load silently
        if RNG_KEY in checkpoint:
            set_rng_state(checkpoint[RNG_KEY])

    @override
    def configure_optimizers(self):
        optimizer = self.optimizer_factory(self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": self.scheduler_factory(optimizer)}
