"""``PreferentialAttachmentAnalysis``: the paper's internal preferential attachment study (Sec. 4).

At the end of fit, for every task ``t >= 1`` whose prune has been made, compares the connections
owned by tasks ``< t`` (the net at t = 0 of the paper, after task A's pruning) with the new
connections owned by task ``t`` (made at t = 1): the attachment kernel ``Pi(k, k')`` of every pair
of adjacent node layers (Figure 7) and ``Delta k(k)`` of every node layer with its linear fit
(Figure 8). Thin glue around :mod:`pl_powerlaw.analysis.preferential`: this callback writes
``<log_dir>/preferential_attachment.json`` and the TensorBoard summaries, on global rank 0.
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer
from torch import nn
from typing_extensions import override

from pl_powerlaw.analysis.preferential import (
    analyze_transition,
    owned_tasks,
    publish_transition,
    summary_lines,
    transition_record,
)
from pl_powerlaw.atomic import write_json_atomic
from pl_powerlaw.callbacks.glue import log_to_loggers, net_of, run_dir, say, tensorboard_writer
from pl_powerlaw.callbacks.phases import TaskSchedule
from pl_powerlaw.preferential import PreferentialAttachment


class PreferentialAttachmentAnalysis(Callback):
    """Measure ``Pi(k, k')`` and ``Delta k(k)`` for each new task at the end of fit (paper eqs. 6-10).

    Works with :class:`pl_powerlaw.callbacks.TaskFreezing` (it analyses the tasks that callback
    has pruned; without it, every task that owns weights).

    Args:
        n_bins: log-spaced degree bins per node layer.
        log_figures: log the ``Pi`` heatmaps and the ``Delta k`` figure to TensorBoard.

    Example (YAML)::

        trainer:
          callbacks:
            - class_path: pl_powerlaw.callbacks.PreferentialAttachmentAnalysis
              init_args: {n_bins: 8}
    """

    def __init__(self, n_bins: int = 8, log_figures: bool = True) -> None:
        if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
            raise ValueError(f"Expected `n_bins` to be an int >= 1 but got {n_bins!r}")
        self.n_bins = n_bins
        self.log_figures = log_figures
        self.results: dict[int, PreferentialAttachment] = {}

    @staticmethod
    def _tasks(trainer: Trainer, net: nn.Module) -> list[int]:
        for callback in trainer.callbacks:
            if isinstance(callback, TaskSchedule):
                return [t for t in callback.pruned_tasks() if t >= 1]
        return [t for t in owned_tasks(net) if t >= 1]

    @override
    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        folder = run_dir(trainer)
        if not trainer.is_global_zero or trainer.fast_dev_run:
            return
        net = net_of(pl_module)
        tasks = self._tasks(trainer, net)
        if not tasks:
            say(
                trainer,
                "PreferentialAttachmentAnalysis: no task after the first was pruned, nothing to do",
            )
            return
        records = []
        step = trainer.global_step
        for task in tasks:
            result = analyze_transition(net, task, self.n_bins)
            self.results[task] = result
            records.append(transition_record(task, self.n_bins, result))
            say(trainer, summary_lines(task, result))
            publish_transition(
                task,
                result,
                step,
                writer=tensorboard_writer(trainer),
                log_metrics=lambda scalars, at: log_to_loggers(trainer, scalars, at),
                figures=self.log_figures,
            )
        if folder is not None:
            write_json_atomic(
                folder / "preferential_attachment.json",
                {"epoch": trainer.current_epoch, "global_step": step, "transitions": records},
            )

    @override
    def state_dict(self) -> dict[str, Any]:
        return {}
