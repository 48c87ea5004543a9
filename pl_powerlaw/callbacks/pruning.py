"""``MagnitudePruning``: the three steps of Han et al. (2015) as a Lightning callback.

Train dense for ``prune_epochs[0]`` epochs, prune each layer's smallest-magnitude weights, retrain
the survivors; several prune events give iterative pruning. The masks live in the masked layers'
buffers (so checkpoints carry them); this callback only decides when to prune, by how much, and
records the test accuracy of the dense and of the sparse model. The mathematics is in
:mod:`pl_powerlaw.pruning`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_warn
from torch import nn
from typing_extensions import override

from pl_powerlaw.atomic import write_json_atomic
from pl_powerlaw.callbacks.evaluation import evaluate_accuracy, test_loader
from pl_powerlaw.callbacks.glue import log_sparsity, log_to_loggers, net_of, run_dir, say
from pl_powerlaw.callbacks.phases import check_phases, check_schedule_fits
from pl_powerlaw.errors import InputError
from pl_powerlaw.nn.convert import to_masked
from pl_powerlaw.nn.recurrent import mask_key, prunable_weights
from pl_powerlaw.pruning import (
    check_fraction,
    clear_optimizer_state,
    hidden_layers,
    layer_fractions,
    prune_layers,
)

Amount = float | dict[str, float]


class MagnitudePruning(Callback):
    """Layer-wise magnitude pruning on a schedule (Han et al. 2015).

    Args:
        prune_epochs: epochs at whose start a prune event happens (``[10]``: 10 dense epochs,
            then prune, then retrain until ``max_epochs``).
        amount: target pruned fraction of each layer's weights, in [0, 1): one number for every
            pruned layer (every matrix of a recurrent module: ``lstm.weight_ih_l0``,
            ``lstm.weight_hh_l0``, ...), a ``{layer: fraction}`` mapping, or a list with one of those per event
            (cumulative targets for iterative pruning: ``[0.5, 0.8]``).
        preset: name of a per-layer preset (``pl_powerlaw.models.presets``) used instead of
            ``amount``; a preset may prune the output layer (Han et al.'s AlexNet and VGG-16 do).
        include_output: also prune the net's output layer(s) when ``amount`` is a number.
        reset_optimizer: clear the whole optimizer state at a prune; by default only the pruned
            entries' state (momentum, Adam moments) is zeroed.
        test_accuracy: record the test accuracy right before the first prune (``test_dense/acc``)
            and at the end of fit (``test_sparse/acc``), also in ``<log_dir>/pruning.json``.

    Example (YAML)::

        trainer:
          callbacks:
            - class_path: pl_powerlaw.callbacks.MagnitudePruning
              init_args: {prune_epochs: [20], amount: 0.92}
    """

    def __init__(
        self,
        prune_epochs: int | list[int] = 10,
        amount: Amount | list[Amount] | None = None,
        preset: str | None = None,
        include_output: bool = False,
        reset_optimizer: bool = False,
        test_accuracy: bool = True,
    ) -> None:
        epochs = [prune_epochs] if isinstance(prune_epochs, int) else list(prune_epochs)
        if not epochs or any(not isinstance(e, int) or e < 0 for e in epochs):
            raise ValueError(
                f"Expected `prune_epochs` to be non-negative ints but got {prune_epochs!r}"
            )
        if epochs != sorted(set(epochs)):
            raise ValueError(
                f"Expected strictly increasing `prune_epochs` but got {prune_epochs!r}"
            )
        if preset is None and amount is None:
            raise ValueError("Expected one of `amount` or `preset` but got neither")
        if preset is not None and amount is not None:
            raise ValueError(
                f"Expected only one of `amount` or `preset` but got both ({amount!r}, {preset!r})"
            )
        if preset is not None and len(epochs) != 1:
            raise ValueError(f"Expected one prune epoch with a `preset` but got {epochs}")
        amounts = [] if preset is not None else self._per_event(amount, len(epochs))
        self.prune_epochs = epochs
        self.amounts = amounts
        self.preset = preset
        self.include_output = include_output
        self.reset_optimizer = reset_optimizer
        self.test_accuracy = test_accuracy
        self.events_done: list[int] = []
        self.accuracy: dict[str, float] = {}
        self.kept: dict[str, dict[str, int]] = {}
        self._fractions: list[dict[str, float]] = []

    @staticmethod
    def _per_event(amount: Amount | list[Amount], n_events: int) -> list[Amount]:
        amounts = list(amount) if isinstance(amount, list) else [amount] * n_events
        if len(amounts) != n_events:
            raise ValueError(
                f"Expected one `amount` per prune epoch ({n_events}) but got {len(amounts)}: {amount!r}"
            )
        for value in amounts:
            values = value.values() if isinstance(value, Mapping) else [value]
            for fraction in values:
                check_fraction(fraction, "amount")
        return amounts

    @property
    def state_key(self) -> str:
        return self._generate_state_key(prune_epochs=self.prune_epochs, preset=self.preset)

    def phases(self) -> list[tuple[int, str]]:
        """Phases for the degree monitor: ``dense`` then ``retrain<i>`` after prune event ``i``."""
        first = [(0, "dense")] if self.prune_epochs[0] > 0 else []
        rest = [(epoch, f"retrain{i + 1}") for i, epoch in enumerate(self.prune_epochs)]
        return check_phases(first + rest, type(self).__name__)

    # -- setup -------------------------------------------------------------------------------
    @override
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        self._fractions = []
        if not self._after_torch_pruning(trainer):  # else: masked at the first prune, below
            self._mask_plain_layers(trainer, pl_module)
            self._fractions = self._resolve_fractions(self._net(pl_module))
        if stage == "fit":
            check_schedule_fits([self], trainer.max_epochs, bool(trainer.fast_dev_run))

    @staticmethod
    def _net(pl_module: LightningModule) -> nn.Module:
        net = net_of(pl_module)
        if not any(True for _ in prunable_weights(net)):
            raise InputError(
                f"Expected a model with masked layers (MaskedLinear/MaskedConv2d/MaskedLSTM) but "
                f"{type(net).__name__} has none"
            )
        return net

    @staticmethod
    def _after_torch_pruning(trainer: Trainer) -> bool:
        """Whether a ``ModelPruning`` callback prunes this run with ``torch.nn.utils.prune`` first.

        Its masks live in prune hooks until it stops; the layers are masked (and its pruning made
        permanent) only at this callback's first prune, so both can run in one schedule.
        """
        from lightning.pytorch.callbacks import ModelPruning

        return any(isinstance(callback, ModelPruning) for callback in trainer.callbacks)

    @staticmethod
    def _mask_plain_layers(trainer: Trainer, pl_module: LightningModule) -> None:
        """Give a model without masked layers masks (:func:`pl_powerlaw.nn.to_masked`), once.

        Called in ``setup``, before the optimizer exists; the weights stay the same Parameter
        objects and the state dict keeps its keys (plus the masks). A layer still pruned by
        ``torch.nn.utils.prune`` (e.g. by ``ModelPruning``) is made permanent first.
        """
        net = net_of(pl_module)
        if any(True for _ in prunable_weights(net)):
            return
        converted = to_masked(net)
        if converted:
            say(
                trainer,
                f"MagnitudePruning: masked the {len(converted)} plain Linear/Conv layers of "
                f"{type(net).__name__} ({', '.join(converted[:4])}{', ...' if len(converted) > 4 else ''})",
            )

    def _resolve_fractions(self, net: nn.Module) -> list[dict[str, float]]:
        if self.preset is not None:
            from pl_powerlaw.models.presets import preset_fractions

            return [dict(preset_fractions(self.preset, net))]
        names = [name for name, _ in prunable_weights(net)]
        default = names if self.include_output else hidden_layers(net)
        return [layer_fractions(amount, names, default) for amount in self.amounts]

    # -- schedule ----------------------------------------------------------------------------
    @override
    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        epoch = trainer.current_epoch
        if epoch not in self.prune_epochs or epoch in self.events_done:
            return
        event = self.prune_epochs.index(epoch)
        if event == 0 and self.test_accuracy:
            self._record_accuracy(trainer, pl_module, "test_dense/acc")
        if not self._fractions:  # after a torch-pruning phase: mask the layers now
            self._mask_plain_layers(trainer, pl_module)
            self._fractions = self._resolve_fractions(self._net(pl_module))
        net = self._net(pl_module)
        kept = prune_layers(net, self._fractions[event])
        for optimizer in trainer.optimizers:
            if self.reset_optimizer:
                optimizer.state.clear()
            else:
                clear_optimizer_state(optimizer, net)
        self.events_done.append(epoch)
        self.kept[str(epoch)] = kept
        total = {name: layer.weight.numel() for name, layer in prunable_weights(net)}
        summary = ", ".join(f"{name} {kept[name] / total[name]:.1%}" for name in kept)
        say(trainer, f"MagnitudePruning: epoch {epoch}, kept {summary}")
        self._write_summary(trainer)

    @override
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        log_sparsity(pl_module, prunable_weights(net_of(pl_module)))

    @override
    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.test_accuracy and self.events_done:
            self._record_accuracy(trainer, pl_module, "test_sparse/acc")
            self._write_summary(trainer)

    def _record_accuracy(self, trainer: Trainer, pl_module: LightningModule, key: str) -> None:
        batches = test_loader(trainer.datamodule)
        if batches is None:
            rank_zero_warn(f"MagnitudePruning: no test set in the datamodule, `{key}` not recorded")
            return
        accuracy = evaluate_accuracy(pl_module, batches, datamodule=trainer.datamodule)
        self.accuracy[key] = accuracy
        say(trainer, f"MagnitudePruning: {key} = {accuracy:.4f}")
        if trainer.is_global_zero:
            log_to_loggers(trainer, {key: accuracy}, trainer.global_step)

    def _write_summary(self, trainer: Trainer) -> None:
        folder = run_dir(trainer)
        if not trainer.is_global_zero or folder is None:
            return
        summary = {"prune_epochs": self.prune_epochs, "kept": self.kept, "accuracy": self.accuracy}
        write_json_atomic(folder / "pruning.json", json.loads(json.dumps(summary)))

    def hparams(self) -> tuple[dict[str, Any], dict[str, float]]:
        """The schedule and the dense/sparse test accuracies, for the HParams tab."""
        params = {"pruning/prune_epochs": str(self.prune_epochs)}
        if self.preset is not None:
            params["pruning/preset"] = self.preset
        else:
            params["pruning/amount"] = str(
                self.amounts[0] if len(self.amounts) == 1 else self.amounts
            )
        metrics = {
            f"hparams/{key.replace('/', '_')}": value for key, value in self.accuracy.items()
        }
        return params, metrics

    # -- checkpoint state --------------------------------------------------------------------
    @override
    def on_load_checkpoint(
        self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        """Refuse a checkpoint whose masks keep other counts than this callback's last prune."""
        state = checkpoint.get("callbacks", {}).get(self.state_key) or {}
        events, kept = state.get("events_done") or [], state.get("kept") or {}
        if not events or str(events[-1]) not in kept:
            return
        masks = checkpoint.get("state_dict", {})
        for layer, count in kept[str(events[-1])].items():
            key = next(
                (k for k in (f"net.{mask_key(layer)}", mask_key(layer)) if k in masks),
                None,
            )
            if key is not None and int(masks[key].count_nonzero()) != count:
                raise InputError(
                    f"Expected `{key}` to keep {count} weights (MagnitudePruning's prune at epoch "
                    f"{events[-1]}) but it keeps {int(masks[key].count_nonzero())}: the "
                    "checkpoint is damaged or its masks were changed"
                )

    @override
    def state_dict(self) -> dict[str, Any]:
        return {
            "events_done": list(self.events_done),
            "accuracy": dict(self.accuracy),
            "kept": self.kept,
        }

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.events_done = list(state_dict.get("events_done", []))
        self.accuracy = dict(state_dict.get("accuracy", {}))
        self.kept = dict(state_dict.get("kept", {}))
