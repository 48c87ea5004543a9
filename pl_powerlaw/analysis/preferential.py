"""From a continual-learning net to its preferential attachment results, and their publication.

The pipeline of the paper's Section 4 study (no Lightning): the connections owned by tasks
``< t`` (the net at t = 0, after the earlier tasks' pruning) against the new connections owned by
task ``t`` (made at t = 1), counted with their multiplicities for every (producer, consumer) pair
by :func:`pl_powerlaw.connectivity.edge_counts`; the numbers come from
:mod:`pl_powerlaw.preferential`, the figures from :mod:`pl_powerlaw.plotting.preferential`.

Between any two events of a run (:func:`analyze_change`, e.g. two epochs of dynamic sparse
training) the same numbers compare the connections present at t2 and not at t1 (``added``) with
the degrees at t1, and likewise the connections present at t1 and gone at t2 (``removed``): does
pruning hit the low-degree nodes? Connections are read as everywhere else
(:func:`pl_powerlaw.connectivity.kept_entries`: mask set and weight non-zero).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from pl_powerlaw.analysis.degrees import to_numpy
from pl_powerlaw.analysis.publish import LogMetrics, log_scalars, publish_image
from pl_powerlaw.connectivity import (
    ConnectivityGraph,
    edge_counts,
    graph_degrees,
    kept_entries,
    trace_graph,
)
from pl_powerlaw.continual import OWNER_BUFFER, owned_layers, task_kept
from pl_powerlaw.preferential import PreferentialAttachment, analyze_attachment_edges


def analyze_transition(
    net: nn.Module, task: int, n_bins: int = 8, reuse: str = "unrolled"
) -> PreferentialAttachment:
    """Preferential attachment from "owned by tasks < ``task``" (t = 0) to "owned by ``task``" (t = 1).

    Works on a net of any shape the connectivity code traces: every (producer, consumer) pair of
    node layers is an edge with its own ``Pi(k, k')``. A recurrent layer ``m.l{k}`` also has the
    within-layer pair ``(m.l{k}, m.l{k})``: a kept entry of ``weight_hh`` in a row of unit ``j``
    and column ``k'`` is a directed connection from unit ``k'`` (step ``t - 1``) to unit ``j``
    (step ``t``) and enters ``Pi`` once, at (degree of ``k'`` on the lower axis, degree of ``j``
    on the upper axis), with the multiplicity that the degrees give it (``T - 1`` under
    ``reuse="unrolled"``, 1 under ``"none"``; see ``docs/recurrent.md``).

    Args:
        net: a net whose trunk carries owner buffers (:mod:`pl_powerlaw.continual`).
        task: the later task (t = 1); tasks ``< task`` make t = 0.
        n_bins: log-spaced degree bins per node layer.
        reuse: how often a kept recurrent weight counts (:mod:`pl_powerlaw.connectivity.recurrent`).

    Raises:
        ValueError: if ``task`` < 1 (a transition needs an earlier task).
    """
    if task < 1:
        raise ValueError(
            f"Expected `task` >= 1 (a transition needs an earlier task) but got {task}"
        )
    graph = trace_graph(net, reuse=reuse)
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
    return prefixed_scalars(f"preferential/task{task}", result)


def prefixed_scalars(prefix: str, result: PreferentialAttachment) -> dict[str, float]:
    """The Pi slopes, the Delta k fits and the node-level r as ``<prefix>/<layer(s)>/...`` scalars."""
    scalars: dict[str, float] = {}
    for kernel in result.kernels:
        if kernel.fit.slope is not None:
            scalars[f"{prefix}/{kernel.lower}-{kernel.upper}/pi_slope"] = kernel.fit.slope
    for inc in result.increments:
        for key in ("slope", "intercept", "r2", "pearson_r"):
            value = getattr(inc.fit, key)
            if value is not None:
                scalars[f"{prefix}/{inc.name}/delta_k_{key}"] = value
        if inc.node_fit.pearson_r is not None:
            scalars[f"{prefix}/{inc.name}/node_r"] = inc.node_fit.pearson_r
    return scalars


@dataclass(frozen=True)
class AttachmentChange:
    """The connections made and those lost between two events, each against the degrees at t1."""

    added: PreferentialAttachment
    removed: PreferentialAttachment
    n_added: int
    n_removed: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "n_added": self.n_added,
            "n_removed": self.n_removed,
            "added": self.added.as_dict(),
            "removed": self.removed.as_dict(),
        }


def connection_snapshot(net: nn.Module, graph: ConnectivityGraph) -> dict[str, Tensor]:
    """The connections of every layer of ``graph`` now, as CPU boolean tensors (a copy)."""
    return {name: kept.detach().cpu().clone() for name, kept in kept_entries(net, graph).items()}


def analyze_change(
    graph: ConnectivityGraph,
    before: Mapping[str, Tensor],
    after: Mapping[str, Tensor],
    n_bins: int = 8,
) -> AttachmentChange:
    """Preferential attachment of the connections made, and of those lost, between two snapshots.

    ``added`` = present at t2 and not at t1, ``removed`` = present at t1 and not at t2; both are
    measured against the degrees at t1 (``Pi(k, k')``, ``Delta k(k)`` and its node-level line,
    exactly as at a task boundary; for ``removed`` ``Delta k`` is the number of connections a node
    lost).

    Args:
        graph: the net's traced graph.
        before: ``{layer: weight-shaped bool}`` at t1 (:func:`connection_snapshot`).
        after: the same at t2.
        n_bins: log-spaced degree bins per node layer.

    Raises:
        ValueError: snapshots of other layers or shapes.
    """
    if set(before) != set(after) or any(before[k].shape != after[k].shape for k in before):
        raise ValueError(
            f"Expected two snapshots of the same layers and shapes but got {sorted(before)} and "
            f"{sorted(after)}"
        )
    old = {name: before[name].bool() for name in before}
    new = {name: after[name].bool() for name in after}
    added = {name: new[name] & ~old[name] for name in old}
    removed = {name: old[name] & ~new[name] for name in old}
    names = [layer.name for layer in graph.node_layers]
    degrees = to_numpy(graph_degrees(graph, old))
    old_counts = {edge: c.cpu().numpy() for edge, c in edge_counts(graph, old).items()}

    def study(change: Mapping[str, Tensor]) -> PreferentialAttachment:
        return analyze_attachment_edges(
            names,
            old_counts,
            {edge: c.cpu().numpy() for edge, c in edge_counts(graph, change).items()},
            degrees,
            to_numpy(graph_degrees(graph, change)),
            n_bins,
        )

    return AttachmentChange(
        study(added),
        study(removed),
        int(sum(int(t.sum()) for t in added.values())),
        int(sum(int(t.sum()) for t in removed.values())),
    )


def change_record(
    first: Mapping[str, Any], second: Mapping[str, Any], n_bins: int, change: AttachmentChange
) -> dict[str, Any]:
    """One entry of ``preferential_attachment.json``'s ``changes`` (events as ``{event, epoch, global_step}``)."""
    return {"from": dict(first), "to": dict(second), "n_bins": n_bins, **change.as_dict()}


def publish_change(
    pair: str,
    change: AttachmentChange,
    step: int,
    writer: Any | None = None,
    log_metrics: LogMetrics | None = None,
    figures: bool = True,
) -> None:
    """Log a change's scalars (``preferential/added/...``, ``preferential/removed/...``) and figures.

    The scalars are time series on TensorBoard's step axis (the step of the later event); the
    figures' titles name the event pair.
    """
    from pl_powerlaw.plotting import delta_k_grid_figure, pi_heatmap_figure, render

    for kind, result in (("added", change.added), ("removed", change.removed)):
        log_scalars(prefixed_scalars(f"preferential/{kind}", result), step, writer, log_metrics)
        if writer is None or not figures:
            continue
        for kernel in result.kernels:
            title = f"{kind}, {pair}: {kernel.lower} -> {kernel.upper}"
            pixels = render(pi_heatmap_figure(kernel, title))
            tag = f"preferential/{kind}/pi/{kernel.lower}-{kernel.upper}"
            publish_image(writer, tag, pixels, step)
        pixels = render(delta_k_grid_figure(result.increments, f"{kind}, {pair}"))
        publish_image(writer, f"preferential/{kind}/delta_k", pixels, step)


def change_lines(pair: str, change: AttachmentChange) -> str:
    """Text lines: the Delta k fits and Pi slopes of the added and of the removed connections."""

    def fmt(value: float | None) -> str:
        return "-" if value is None else f"{value:.3g}"

    lines = [f"Attachment {pair}: {change.n_added} added, {change.n_removed} removed"]
    for kind, result in (("added", change.added), ("removed", change.removed)):
        for inc in result.increments:
            lines.append(
                f"  {kind} Delta k({inc.name}) = {fmt(inc.fit.slope)} k + {fmt(inc.fit.intercept)}, "
                f"r {fmt(inc.fit.pearson_r)}; node-level r {fmt(inc.node_fit.pearson_r)}"
            )
        for kernel in result.kernels:
            lines.append(
                f"  {kind} Pi({kernel.lower}, {kernel.upper}): slope {fmt(kernel.fit.slope)}"
            )
    return "\n".join(lines)


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
        publish_image(writer, tag, pixels, step)
    pixels = render(delta_k_grid_figure(result.increments, f"task {task - 1} -> {task}"))
    publish_image(writer, "preferential/delta_k", pixels, step)


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
