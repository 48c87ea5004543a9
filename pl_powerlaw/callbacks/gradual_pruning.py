"""``GradualMagnitudePruning``: the cubic sparsity schedule of Zhu & Gupta (2017) as a callback.

The sparsity of every sparsified layer rises from ``s_i`` to ``s_f`` along their eq. 1, pruning by
magnitude (:func:`pl_powerlaw.pruning.prune_layers`, pruned weights never come back) at the start
of the steps ``t_0, t_0 + dt, ..., t_0 + n dt``; the optimizer state of pruned weights is zeroed.
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch import LightningModule, Trainer
from typing_extensions import override

from pl_powerlaw.callbacks.dynamic_common import SparseTrainingBase
from pl_powerlaw.callbacks.glue import net_of, say
from pl_powerlaw.dynamic import check_count, check_unit, gmp_prune_steps, gmp_sparsity
from pl_powerlaw.errors import InputError
from pl_powerlaw.pruning import clear_optimizer_state, prune_layers


class GradualMagnitudePruning(SparseTrainingBase):
    """Gradual magnitude pruning on the cubic schedule of Zhu & Gupta (2017, eq. 1).

    Args:
        final_sparsity: ``s_f``, the pruned share of each layer at the end, in [0, 1).
        initial_sparsity: ``s_i``, in [0, ``final_sparsity``].
        begin_step: ``t_0``, the first prune step.
        end_step: the last prune step, ``t_0 + n dt``.
        frequency: ``dt``, steps between prunes (must divide ``end_step - begin_step``).
        layers, include_output, seed, test_accuracy: see :class:`SparseTrainingBase`.

    Example (YAML)::

        pruning:
          class_path: pl_powerlaw.callbacks.GradualMagnitudePruning
          init_args: {final_sparsity: 0.9, begin_step: 0, end_step: 600, frequency: 60}
    """

    summary_name = "gradual_pruning.json"

    def __init__(
        self,
        final_sparsity: float,
        initial_sparsity: float = 0.0,
        begin_step: int = 0,
        end_step: int = 1000,
        frequency: int = 100,
        layers: list[str] | None = None,
        include_output: bool = False,
        seed: int = 0,
        test_accuracy: bool = True,
    ) -> None:
        super().__init__(layers, include_output, seed, test_accuracy)
        self.final_sparsity = check_unit(final_sparsity, "final_sparsity", high_open=True)
        self.initial_sparsity = check_unit(initial_sparsity, "initial_sparsity", high_open=True)
        if self.initial_sparsity > self.final_sparsity:
            raise InputError(
                f"Expected `initial_sparsity` <= `final_sparsity` ({final_sparsity!r}) but got "
                f"{initial_sparsity!r}"
            )
        self.begin_step = check_count(begin_step, "begin_step", 0)
        self.end_step = check_count(end_step, "end_step", begin_step + 1)
        self.frequency = check_count(frequency, "frequency", 1)
        if (end_step - begin_step) % frequency:
            raise InputError(
                f"Expected `frequency` ({frequency}) to divide `end_step - begin_step` "
                f"({end_step - begin_step}) so that the last prune reaches `final_sparsity`"
            )
        self.steps_done: list[int] = []

    @property
    def state_key(self) -> str:
        return self._generate_state_key(final_sparsity=self.final_sparsity, end_step=self.end_step)

    def sparsity(self, step: int) -> float:
        """The target sparsity of the prune at (or last before) ``step``."""
        return gmp_sparsity(
            step,
            self.initial_sparsity,
            self.final_sparsity,
            self.begin_step,
            self.end_step,
            self.frequency,
        )

    def _settings(self) -> dict[str, Any]:
        return {
            "initial_sparsity": self.initial_sparsity,
            "final_sparsity": self.final_sparsity,
            "begin_step": self.begin_step,
            "end_step": self.end_step,
            "frequency": self.frequency,
        }

    @override
    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._names = self._layer_names(self._net(pl_module))
        total = self._total_steps(trainer)
        if self.end_step >= total and not trainer.fast_dev_run:
            raise InputError(
                f"Expected `end_step` < the run's {total} training steps but got {self.end_step}: "
                "the last prune would never happen"
            )

    @override
    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int
    ) -> None:
        step = trainer.global_step
        if step in self.steps_done or step not in gmp_prune_steps(
            self.begin_step, self.end_step, self.frequency
        ):
            return
        net = net_of(pl_module)
        sparsity = self.sparsity(step)
        kept = prune_layers(net, dict.fromkeys(self._names, sparsity))
        for optimizer in trainer.optimizers:
            clear_optimizer_state(optimizer, net)
        self.steps_done.append(step)
        self.history.append({"step": step, "epoch": trainer.current_epoch, "kept": kept})
        if step == self.end_step:
            say(
                trainer,
                f"GradualMagnitudePruning: step {step}, sparsity {sparsity:.3f}, kept {kept}",
            )

    @override
    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "steps_done": list(self.steps_done)}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.steps_done = list(state_dict.get("steps_done", []))
