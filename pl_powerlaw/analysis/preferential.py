"""From a continual-learning net to its preferential attachment results, and their publication.

The pipeline of the paper's Section 4 study (no Lightning): the connections owned by tasks
``< t`` (the net at t = 0, after the earlier tasks' pruning) against the new connections owned by
task ``t`` (made at t = 1), counted with their multiplicities for every (producer, consumer) pair
by :func:`pl_powerlaw.connectivity.edge_counts`; the numbers come from
:mod:`pl_powerlaw.preferential`, the figures from :mod:`pl_powerlaw.plotting.preferential`.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from pl_powerlaw.analysis.degrees import to_numpy
from pl_powerlaw.analysis.publish import LogMetrics, log_scalars
from pl_powerlaw.connectivity import edge_counts, graph_degrees, trace_graph
from pl_powerlaw.continual import OWNER_BUFFER, owned_layers, task_kept
from pl_powerlaw.preferential import PreferentialAttachment, analyze_attachment_edges


def analyze_transition(net: nn.Module, task: int, n_bins: int = 8) -> PreferentialAttachment:
    """Preferential attachment from "owned by tasks < ``task``" (t = 0) to "owned by ``task``" (t = 1).

    Works on a net of any shape the connectivity code traces: every (producer, consumer) pair of
    node layers is an edge with its own ``Pi(k, k')``.

    Raises:
        ValueError: if ``task`` < 1 (a transition needs an earlier task).
    """
    if task < 1:
        raise ValueError(
            f"Expected `task` >= 1 (a transition needs an earlier task) but got {task}"
        )
    graph = trace_graph(net)
    old = task_kept(net, task - 1)
    new = task_kept(net, task, only=True)
    names = [layer.name for layer in graph.node_layers]
    return analyze_attachment_edges(
        names,
        {edge: c.cpu().numpy() for edge, c in edge_counts(graph, old).items()},
        {edge: c.cpu().numpy() for edge, c in edge_counts(graph, new).items()},
        to_numpy(graph_degrees(graph, old)),
        to_numpy(graph_degrees(graph, new)),
        n_bins,
    )


def owned_tasks(net: nn.Module) -> list[int]:
    """Tasks that own at least one trunk entry."""
    tasks: set[int] = set()
    for layer in owned_layers(net).values():
        tasks.update(int(t) for t in getattr(layer, OWNER_BUFFER).unique().tolist() if t >= 0)
    return sorted(tasks)


def attachment_scalars(task: int, result: PreferentialAttachment) -> dict[str, float]:
    """The Pi slopes and Delta k fits of one transition as ``preferential/task<t>/...`` scalars."""
    scalars: dict[str, float] = {}
    for kernel in result.kernels:
        if kernel.fit.slope is not None:
            key = f"preferential/task{task}/{kernel.lower}-{kernel.upper}/pi_slope"
            scalars[key] = kernel.fit.slope
    for inc in result.increments:
        for key in ("slope", "intercept", "r2", "pearson_r"):
            value = getattr(inc.fit, key)
            if value is not None:
                scalars[f"preferential/task{task}/{inc.name}/delta_k_{key}"] = value
    return scalars


def transition_record(task: int, n_bins: int, result: PreferentialAttachment) -> dict[str, Any]:
    """One entry of ``preferential_attachment.json``'s ``transitions``."""
    return {"from_task": task - 1, "to_task": task, "n_bins": n_bins, **result.as_dict()}


def publish_transition(
    task: int,
    result: PreferentialAttachment,
    step: int,
    writer: Any | None = None,
    log_metrics: LogMetrics | None = None,
    figures: bool = True,
) -> None:
    """Log one transition's scalars, ``Pi`` heatmaps and ``Delta k`` figure to TensorBoard."""
    from pl_powerlaw.plotting import delta_k_grid_figure, pi_heatmap_figure, render

    log_scalars(attachment_scalars(task, result), step, writer, log_metrics)
    if writer is None or not figures:
        return
    for kernel in result.kernels:
        pixels = render(pi_heatmap_figure(kernel, f"task {task}: {kernel.lower} -> {kernel.upper}"))
        tag = f"preferential/pi/{kernel.lower}-{kernel.upper}"  # the task is in the title
        writer.add_image(tag, pixels[..., :3], step, dataformats="HWC")
    pixels = render(delta_k_grid_figure(result.increments, f"task {task - 1} -> {task}"))
    writer.add_image("preferential/delta_k", pixels[..., :3], step, dataformats="HWC")


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
