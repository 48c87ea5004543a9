"""``PreferentialAttachmentAnalysis``: the paper's internal preferential attachment study (Sec. 4).

At the end of fit, for every task ``t >= 1`` whose prune has been made, compares the connections
owned by tasks ``< t`` (the net at t = 0 of the paper, after task A's pruning) with the new
connections owned by task ``t`` (made at t = 1): the attachment kernel ``Pi(k, k')`` of every pair
of adjacent node layers (Figure 7) and ``Delta k(k)`` of every node layer with its linear fit
(Figure 8). The numbers come from :mod:`pl_powerlaw.analysis.preferential`, the figures from
:mod:`pl_powerlaw.analysis.pa_plots`; this callback only collects the connection counts and writes
``<log_dir>/preferential_attachment.json`` and the TensorBoard figures, on global rank 0.
"""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from lightning.pytorch import Callback, LightningModule, Trainer  # noqa: E402
from lightning.pytorch.loggers import TensorBoardLogger  # noqa: E402
from lightning.pytorch.utilities import rank_zero_info  # noqa: E402
from torch import nn  # noqa: E402

from pl_powerlaw.analysis.pa_plots import delta_k_grid_figure, pi_heatmap_figure  # noqa: E402
from pl_powerlaw.analysis.preferential import PreferentialAttachment, analyze_attachment  # noqa: E402
from pl_powerlaw.analysis.report import write_json_atomic  # noqa: E402
from pl_powerlaw.callbacks.rundir import run_dir
from pl_powerlaw.connectivity import connection_counts, trace_chain  # noqa: E402
from pl_powerlaw.continual import OWNER_BUFFER, owned_layers, task_kept  # noqa: E402


def analyze_transition(net: nn.Module, task: int, n_bins: int = 8) -> PreferentialAttachment:
    """Preferential attachment from "owned by tasks < ``task``" (t = 0) to "owned by ``task``" (t = 1).

    Connections are counted with their multiplicities by
    :func:`pl_powerlaw.connectivity.connection_counts`, on the chain of the net's node layers.
    """
    if task < 1:
        raise ValueError(
            f"Expected `task` >= 1 (a transition needs an earlier task) but got {task}"
        )
    chain = trace_chain(net)
    old = task_kept(net, task - 1)
    new = task_kept(net, task, only=True)
    old_counts = [c.cpu().numpy() for c in connection_counts(chain, old)]
    new_counts = [c.cpu().numpy() for c in connection_counts(chain, new)]
    names = [node.name for node in chain.node_layers]
    return analyze_attachment(names, old_counts, new_counts, n_bins=n_bins)


def owned_tasks(net: nn.Module) -> list[int]:
    """Tasks that own at least one trunk entry."""
    tasks: set[int] = set()
    for layer in owned_layers(net).values():
        tasks.update(int(t) for t in getattr(layer, OWNER_BUFFER).unique().tolist() if t >= 0)
    return sorted(tasks)


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

    def _tasks(self, trainer: Trainer, net: nn.Module) -> list[int]:
        for callback in trainer.callbacks:
            if hasattr(callback, "pruned_tasks") and hasattr(callback, "events_done"):
                return [t for t in callback.pruned_tasks() if t >= 1]
        return [t for t in owned_tasks(net) if t >= 1]

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        folder = run_dir(trainer)
        if not trainer.is_global_zero or trainer.fast_dev_run:
            return
        net = getattr(pl_module, "net", pl_module)
        tasks = self._tasks(trainer, net)
        if not tasks:
            rank_zero_info(
                "PreferentialAttachmentAnalysis: no task after the first was pruned, nothing to do"
            )
            return
        records = []
        for task in tasks:
            result = analyze_transition(net, task, self.n_bins)
            self.results[task] = result
            records.append(
                {"from_task": task - 1, "to_task": task, "n_bins": self.n_bins, **result.as_dict()}
            )
            rank_zero_info(summary_lines(task, result))
            self._log(trainer, task, result)
        if folder is not None:
            write_json_atomic(
                folder / "preferential_attachment.json",
                {
                    "epoch": trainer.current_epoch,
                    "global_step": trainer.global_step,
                    "transitions": records,
                },
            )

    def _log(self, trainer: Trainer, task: int, result: PreferentialAttachment) -> None:
        scalars: dict[str, float] = {}
        for kernel in result.kernels:
            if kernel.fit.slope is not None:
                scalars[f"preferential/task{task}/{kernel.lower}-{kernel.upper}/pi_slope"] = (
                    kernel.fit.slope
                )
        for inc in result.increments:
            for key in ("slope", "intercept", "r2", "pearson_r"):
                value = getattr(inc.fit, key)
                if value is not None:
                    scalars[f"preferential/task{task}/{inc.name}/delta_k_{key}"] = value
        step = trainer.global_step
        for logger in trainer.loggers:
            logger.log_metrics(scalars, step=step)
            if self.log_figures and isinstance(logger, TensorBoardLogger):
                writer = logger.experiment
                for kernel in result.kernels:
                    fig = pi_heatmap_figure(
                        kernel, f"task {task}: {kernel.lower} -> {kernel.upper}"
                    )
                    writer.add_figure(
                        f"preferential/pi/{kernel.lower}-{kernel.upper}/task{task}", fig, step
                    )
                    plt.close(fig)
                fig = delta_k_grid_figure(result.increments)
                writer.add_figure(f"preferential/delta_k/task{task}", fig, step)
                plt.close(fig)

    def state_dict(self) -> dict[str, Any]:
        return {}


def summary_lines(task: int, result: PreferentialAttachment) -> str:
    """A few text lines: the Delta k fit of every layer and the Pi slope of every layer pair."""

    def fmt(value: float | None) -> str:
        return "-" if value is None else f"{value:.3g}"

    lines = [f"Preferential attachment, task {task - 1} -> {task}:"]
    for inc in result.increments:
        fit = inc.fit
        lines.append(
            f"  Delta k({inc.name}) = {fmt(fit.slope)} k + {fmt(fit.intercept)}, R^2 {fmt(fit.r2)}, "
            f"r {fmt(fit.pearson_r)} ({fit.n} bins; node-level r {fmt(inc.node_fit.pearson_r)})"
        )
    for kernel in result.kernels:
        lines.append(
            f"  Pi({kernel.lower}, {kernel.upper}): slope of log Pi vs log kk' {fmt(kernel.fit.slope)}, "
            f"r {fmt(kernel.fit.pearson_r)}"
        )
    return "\n".join(lines)
