"""What the sparse-training callbacks share: their layers, their random stream, their summary file.

:class:`SparseTrainingBase` is a Lightning callback base holding the layers a method sparsifies
(all masked layers but the output heads, by default), a CPU ``torch.Generator`` seeded alike on
every rank (so DDP ranks draw the same masks) and saved in checkpoints, the test accuracy at the
end of fit and the ``<log_dir>/<summary_name>`` JSON summary. The subclasses decide when the masks
change; the numerics are in :mod:`pl_powerlaw.dynamic`.
"""

from __future__ import annotations

import json
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_warn
from torch import nn
from typing_extensions import override

from pl_powerlaw.atomic import write_json_atomic
from pl_powerlaw.callbacks.evaluation import evaluate_accuracy, test_loader
from pl_powerlaw.callbacks.glue import log_sparsity, log_to_loggers, net_of, run_dir, say
from pl_powerlaw.errors import InputError
from pl_powerlaw.nn.masked import masked_modules
from pl_powerlaw.pruning import hidden_layers


class SparseTrainingBase(Callback):
    """Layers, random stream, history and summary of a sparse-training callback.

    Args:
        layers: masked layers to sparsify (None: every masked layer but the output heads, or all
            of them with ``include_output``).
        include_output: also sparsify the output head(s) when ``layers`` is None.
        seed: seed of the callback's own CPU generator (the same on every rank).
        test_accuracy: record the test accuracy at the end of fit (``test_sparse/acc``).
    """

    summary_name = "sparse_training.json"

    def __init__(
        self,
        layers: list[str] | None = None,
        include_output: bool = False,
        seed: int = 0,
        test_accuracy: bool = True,
    ) -> None:
        if layers is not None and (
            not isinstance(layers, list | tuple)
            or not layers
            or not all(isinstance(name, str) for name in layers)
        ):
            raise InputError(
                f"Expected `layers` to be a non-empty list of names but got {layers!r}"
            )
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise InputError(f"Expected `seed` to be an int but got {seed!r}")
        self.layers = None if layers is None else list(layers)
        self.include_output = bool(include_output)
        self.seed = seed
        self.test_accuracy = test_accuracy
        self.generator = torch.Generator().manual_seed(seed)
        self.history: list[dict[str, Any]] = []
        self.accuracy: dict[str, float] = {}

    # -- layers --------------------------------------------------------------------------------
    def _net(self, pl_module: LightningModule) -> nn.Module:
        net = net_of(pl_module)
        if not any(True for _ in masked_modules(net)):
            raise InputError(
                f"Expected a model with masked layers (MaskedLinear/MaskedConv2d) but "
                f"{type(net).__name__} has none"
            )
        return net

    def _layer_names(self, net: nn.Module) -> list[str]:
        names = [name for name, _ in masked_modules(net)]
        if self.layers is not None:
            unknown = [name for name in self.layers if name not in names]
            if unknown:
                raise InputError(f"Unknown layer name(s) {unknown}; expected some of {names}")
            return list(self.layers)
        return names if self.include_output else hidden_layers(net)

    @staticmethod
    def _total_steps(trainer: Trainer) -> int:
        steps = trainer.estimated_stepping_batches
        if steps in (None, float("inf")):
            raise InputError(
                "Expected a finite training length (`max_epochs` or `max_steps`) for a sparse "
                f"training schedule but got {steps}"
            )
        return int(steps)

    # -- results -------------------------------------------------------------------------------
    @override
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        log_sparsity(pl_module, masked_modules(net_of(pl_module)))

    @override
    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.test_accuracy and not trainer.fast_dev_run:
            batches = test_loader(trainer.datamodule)
            if batches is None:
                rank_zero_warn(
                    f"{type(self).__name__}: no test set, `test_sparse/acc` not recorded"
                )
            else:
                accuracy = evaluate_accuracy(pl_module, batches, datamodule=trainer.datamodule)
                self.accuracy["test_sparse/acc"] = accuracy
                say(trainer, f"{type(self).__name__}: test_sparse/acc = {accuracy:.4f}")
                if trainer.is_global_zero:
                    log_to_loggers(trainer, {"test_sparse/acc": accuracy}, trainer.global_step)
        self._write_summary(trainer)

    def _settings(self) -> dict[str, Any]:
        """The callback's settings, for the summary and the HParams tab (plain values)."""
        return {"seed": self.seed}

    def _write_summary(self, trainer: Trainer) -> None:
        folder = run_dir(trainer)
        if not trainer.is_global_zero or folder is None:
            return
        summary = {
            "method": type(self).__name__,
            "settings": self._settings(),
            "updates": self.history,
            "accuracy": self.accuracy,
        }
        write_json_atomic(folder / self.summary_name, json.loads(json.dumps(summary)))

    def hparams(self) -> tuple[dict[str, Any], dict[str, float]]:
        """The settings and the final test accuracy, for the HParams tab."""
        params = {
            f"sparse/{key}": value if isinstance(value, int | float | str | bool) else str(value)
            for key, value in self._settings().items()
        }
        params["sparse/method"] = type(self).__name__
        metrics = {f"hparams/{k.replace('/', '_')}": v for k, v in self.accuracy.items()}
        return params, metrics

    # -- checkpoint state ----------------------------------------------------------------------
    @override
    def state_dict(self) -> dict[str, Any]:
        return {
            "generator": self.generator.get_state(),
            "history": list(self.history),
            "accuracy": dict(self.accuracy),
        }

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if "generator" in state_dict:
            self.generator.set_state(state_dict["generator"])
        self.history = list(state_dict.get("history", []))
        self.accuracy = dict(state_dict.get("accuracy", {}))
