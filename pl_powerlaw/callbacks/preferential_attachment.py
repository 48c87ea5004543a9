"""``PreferentialAttachmentAnalysis``: the paper's internal preferential attachment study (Sec. 4).

At the end of fit, for every task ``t >= 1`` whose prune has been made, compares the connections
owned by tasks ``< t`` (the net at t = 0 of the paper, after task A's pruning) with the new
connections owned by task ``t`` (made at t = 1): the attachment kernel ``Pi(k, k')`` of every pair
of adjacent node layers (Figure 7) and ``Delta k(k)`` of every node layer with its linear fit
(Figure 8). Thin glue around :mod:`pl_powerlaw.analysis.preferential`: this callback writes
``<log_dir>/preferential_attachment.json`` and the TensorBoard summaries, on global rank 0.

Between events (``every_n_epochs`` or ``every_n_steps``): a snapshot of the connections is taken
at the start of training and at every N-th epoch end (``epoch<e>_end``) or step (``step<s>``); each
snapshot is compared with the one before (:func:`~pl_powerlaw.analysis.preferential.analyze_change`:
the connections made and those lost, against the degrees at the earlier event), under ``changes``
keyed by the event pair (``"epoch0_end->epoch1_end"``). The last snapshot is checkpointed, so a
resumed run continues the series.
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer
from torch import nn
from typing_extensions import override

from pl_powerlaw.analysis.preferential import (
    analyze_change,
    analyze_transition,
    change_lines,
    change_record,
    connection_snapshot,
    owned_tasks,
    publish_change,
    publish_transition,
    summary_lines,
    transition_record,
)
from pl_powerlaw.atomic import write_json_atomic
from pl_powerlaw.callbacks.glue import log_to_loggers, net_of, run_dir, say, tensorboard_writer
from pl_powerlaw.callbacks.phases import TaskSchedule
from pl_powerlaw.connectivity import trace_graph
from pl_powerlaw.connectivity.recurrent import check_reuse
from pl_powerlaw.errors import InputError
from pl_powerlaw.preferential import PreferentialAttachment


class PreferentialAttachmentAnalysis(Callback):
    """Measure ``Pi(k, k')`` and ``Delta k(k)`` for each new task at the end of fit (paper eqs. 6-10).

    Works with :class:`pl_powerlaw.callbacks.TaskFreezing` (it analyses the tasks that callback
    has pruned; without it, every task that owns weights).

    Args:
        n_bins: log-spaced degree bins per node layer.
        log_figures: log the ``Pi`` heatmaps and the ``Delta k`` figure to TensorBoard.
        every_n_epochs: also compare the connections at every N-th epoch end with those at the
            event before (0: off).
        every_n_steps: the same every N training steps (0: off; not with ``every_n_epochs``).
        reuse: recurrent layers: a kept weight counts once per time step it is used
            (``"unrolled"``: ``T`` for ``weight_ih``, ``T - 1`` for ``weight_hh``) or once
            (``"none"``), in the degrees and in ``Pi`` alike; see ``docs/recurrent.md``.

    Example (YAML)::

        trainer:
          callbacks:
            - class_path: pl_powerlaw.callbacks.PreferentialAttachmentAnalysis
              init_args: {n_bins: 8}
    """

    def __init__(
        self,
        n_bins: int = 8,
        log_figures: bool = True,
        every_n_epochs: int = 0,
        every_n_steps: int = 0,
        reuse: str = "unrolled",
    ) -> None:
        if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
            raise ValueError(f"Expected `n_bins` to be an int >= 1 but got {n_bins!r}")
        for name, value in (("every_n_epochs", every_n_epochs), ("every_n_steps", every_n_steps)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InputError(f"Expected `{name}` to be an int >= 0 but got {value!r}")
        if every_n_epochs and every_n_steps:
            raise InputError(
                f"Expected one of `every_n_epochs` ({every_n_epochs}) or `every_n_steps` "
                f"({every_n_steps}) but got both"
            )
        self.n_bins = n_bins
        self.reuse = check_reuse(reuse)
        self.log_figures = log_figures
        self.every_n_epochs = every_n_epochs
        self.every_n_steps = every_n_steps
        self.results: dict[int, PreferentialAttachment] = {}
        self.changes: dict[str, dict[str, Any]] = {}
        self._transitions: list[dict[str, Any]] = []
        self._last: dict[str, Any] | None = None  # {"event", "epoch", "global_step", "masks"}
        self._graph = None

    # -- between events ------------------------------------------------------------------------
    @override
    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not (self.every_n_epochs or self.every_n_steps) or trainer.fast_dev_run:
            return
        self._graph = trace_graph(net_of(pl_module), reuse=self.reuse)
        if self._last is None:
            self._snapshot(trainer, pl_module, f"step{trainer.global_step}_start", compare=False)

    @override
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        epoch = trainer.current_epoch
        if (
            self.every_n_epochs
            and self._graph is not None
            and (epoch + 1) % self.every_n_epochs == 0
        ):
            self._snapshot(trainer, pl_module, f"epoch{epoch}_end")

    @override
    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        step = trainer.global_step
        if self.every_n_steps and self._graph is not None and step % self.every_n_steps == 0:
            self._snapshot(trainer, pl_module, f"step{step}")

    def _snapshot(
        self, trainer: Trainer, pl_module: LightningModule, event: str, compare: bool = True
    ) -> None:
        folder = run_dir(trainer)  # a collective: on every rank
        current = {
            "event": event,
            "epoch": trainer.current_epoch,
            "global_step": trainer.global_step,
            "masks": connection_snapshot(net_of(pl_module), self._graph),
        }
        previous, self._last = self._last, current
        if not compare or previous is None or not trainer.is_global_zero:
            return
        pair = f"{previous['event']}->{event}"
        change = analyze_change(self._graph, previous["masks"], current["masks"], self.n_bins)
        meta = [{k: v for k, v in snap.items() if k != "masks"} for snap in (previous, current)]
        self.changes[pair] = change_record(meta[0], meta[1], self.n_bins, change)
        say(trainer, change_lines(pair, change))
        publish_change(
            pair,
            change,
            trainer.global_step,
            writer=tensorboard_writer(trainer),
            log_metrics=lambda scalars, at: log_to_loggers(trainer, scalars, at),
            figures=self.log_figures,
        )
        self._write(folder, trainer)

    def _write(self, folder, trainer: Trainer) -> None:
        if folder is None or not trainer.is_global_zero:
            return
        record = {
            "epoch": trainer.current_epoch,
            "global_step": trainer.global_step,
            "transitions": self._transitions,
        }
        if self.changes:
            record["changes"] = self.changes
        write_json_atomic(folder / "preferential_attachment.json", record)

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
        between_events = bool(self.every_n_epochs or self.every_n_steps)
        if between_events and not any(isinstance(c, TaskSchedule) for c in trainer.callbacks):
            return  # no tasks: the changes between events are all there is
        tasks = self._tasks(trainer, net)
        if not tasks and between_events:
            return
        if not tasks:
            say(
                trainer,
                "PreferentialAttachmentAnalysis: no task after the first was pruned, nothing to do",
            )
            return
        records = []
        step = trainer.global_step
        for task in tasks:
            result = analyze_transition(net, task, self.n_bins, self.reuse)
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
        self._transitions = records
        self._write(folder, trainer)

    @override
    def state_dict(self) -> dict[str, Any]:
        if not self.changes and self._last is None:
            return {}
        return {"changes": dict(self.changes), "last": self._last}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.changes = dict(state_dict.get("changes", {}))
        self._last = state_dict.get("last")
