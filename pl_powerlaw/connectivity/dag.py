"""Connection counts and node degrees of a directed acyclic net (paper Sec. 3: node degrees).

For a consumer layer with kept entries ``K`` (weight-shaped) the counts per output node ``d`` and
input group ``g`` (a channel; ``block`` consecutive features of a linear layer) are

* convolution with ``G`` groups: ``n[d, g] = R * sum_k K[d, g_local, k]`` for ``g`` in the group
  of ``d`` (``R = H_out * W_out``, the output length for ``Conv1d``);
* linear layer: ``n[d, g] = R * sum_p K[d, g * block + p]``.

Each group ``g`` has source nodes in the producer layers (:class:`~.graph.Source`); a kept weight
counts its connections with every one of them. So the degree of an output node is
``sum_g n[d, g] * (number of sources of g)`` and a source node ``u`` of a producer gains
``sum_d n[d, g]`` for every group ``g`` it feeds. Input nodes only have connections above; a node
layer read by no other node layer (e.g. the one below an output head) only has them below.

Everything is vectorised over whole weight tensors; sums of 0/1 entries run in the smallest exact
integer type, as in :mod:`pl_powerlaw.connectivity.counts`.

Example:
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 2), nn.Linear(2, 1))
    >>> {name: d.tolist() for name, d in node_degrees(net, (3,)).items()}
    {'input': [2, 2, 2], '0': [5, 5], '2': [2, 2]}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from pl_powerlaw.connectivity.counts import _count, kept_entries
from pl_powerlaw.connectivity.graph import ConnectivityGraph, Consumer, trace_graph
from pl_powerlaw.connectivity.recurrent import add_recurrent_degrees, recurrent_edge_counts


def _entries(consumer: Consumer, kept: Mapping[str, Tensor]) -> Tensor:
    if consumer.name not in kept:
        raise ValueError(
            f"Expected an entry for layer `{consumer.name}` in `kept` but got {list(kept)}"
        )
    entries = kept[consumer.name]
    if tuple(entries.shape) != consumer.weight_shape:
        raise ValueError(
            f"Expected kept entries of layer `{consumer.name}` of shape {consumer.weight_shape} "
            f"but got {tuple(entries.shape)}"
        )
    return entries if entries.dtype == torch.bool else entries != 0


def _grouped(consumer: Consumer, entries: Tensor) -> Tensor | None:
    """``n[d, g] / R`` as int64 ``(n_out, groups' width)``; None for a plain linear layer."""
    c = consumer
    if c.kind == "conv":
        per_kernel = entries.reshape(c.n_out, c.n_in // c.groups, -1)
        if per_kernel.shape[-1] == 1:
            return per_kernel.reshape(c.n_out, -1).to(torch.int64)
        return _count(per_kernel, -1)
    if c.block > 1:
        return _count(entries.reshape(c.n_out, c.n_in // c.block, c.block), -1)
    return None


def _rows(matrix: Tensor) -> Tensor:
    return _count(matrix, 1) if matrix.dtype == torch.bool else matrix.sum(1)


def _weighted_rows(matrix: Tensor, weights: Tensor) -> Tensor:
    """``(matrix * weights).sum(1)`` for a 0/1 or int64 matrix, one pass per distinct weight."""
    values = weights.unique().tolist()
    if len(values) == 1:
        return _rows(matrix) * int(values[0])
    total = torch.zeros(matrix.shape[0], dtype=torch.int64, device=matrix.device)
    for value in values:
        if value:
            columns = (weights == value).nonzero().squeeze(1).to(matrix.device)
            total += _rows(matrix.index_select(1, columns)) * int(value)
    return total


def consumer_degrees(consumer: Consumer, entries: Tensor) -> tuple[Tensor, Tensor]:
    """Connections of each output node (below) and of each input group (above) of one consumer.

    Args:
        consumer: a consumer of a :class:`~.graph.ConnectivityGraph`.
        entries: its weight-shaped kept entries (non-zero = kept).

    Returns:
        ``(down, up)``: int64 vectors of ``n_out`` and ``n_in // block`` entries; ``up[g]`` is what
        each source node of group ``g`` gains per position.
    """
    c = consumer
    grouped = _grouped(c, entries)
    weights = c.n_sources.to(entries.device)
    if c.kind == "conv":
        per_group = c.n_out // c.groups
        blocks = grouped.reshape(c.groups, per_group, -1)
        up = blocks.sum(1).reshape(-1)
        if bool((weights == weights[0]).all()):
            down = grouped.sum(1) * int(weights[0])
        else:
            down = (blocks * weights.view(c.groups, 1, -1)).sum(-1).reshape(-1)
    else:
        matrix = entries if grouped is None else grouped
        up = _count(matrix, 0) if grouped is None else grouped.sum(0)
        down = _weighted_rows(matrix, weights)
    return down * c.multiplicity, up * c.multiplicity


def graph_degrees(graph: ConnectivityGraph, kept: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Degree of every node of every node layer of ``graph`` (connections below plus above).

    Args:
        graph: from :func:`~.graph.trace_graph`.
        kept: ``{layer name: weight-shaped tensor}`` of the connections (non-zero = counted).

    Returns:
        ``{node layer name: int64 degrees}`` ordered like ``graph.node_layers``.

    Raises:
        ValueError: if an entry is missing or has the wrong shape.
    """
    device = next((kept[c.name].device for c in graph.consumers if c.name in kept), None)
    degrees = {
        layer.name: torch.zeros(layer.n_nodes, dtype=torch.int64, device=device)
        for layer in graph.node_layers
    }
    for consumer in graph.consumers:
        down, up = consumer_degrees(consumer, _entries(consumer, kept))
        degrees[consumer.name] += down
        for source in consumer.sources:
            nodes = source.nodes.to(up.device)
            degrees[source.layer].index_add_(0, nodes, up[source.columns.to(up.device)])
    for layer in graph.recurrent:
        add_recurrent_degrees(layer, kept, degrees)
    return degrees


def consumer_counts(consumer: Consumer, entries: Tensor) -> Tensor:
    """``(n_out, n_in // block)`` int64 connections per output node and input group."""
    c = consumer
    grouped = _grouped(c, entries)
    if c.kind == "conv":
        if c.groups == 1:
            full = grouped
        else:
            blocks = grouped.reshape(c.groups, c.n_out // c.groups, -1)
            full = torch.block_diag(*blocks.unbind(0))
    else:
        full = entries.to(torch.int64) if grouped is None else grouped
    return full * c.multiplicity


def edge_counts(
    graph: ConnectivityGraph, kept: Mapping[str, Tensor]
) -> dict[tuple[str, str], Tensor]:
    """Connection-count matrices of every (producer, consumer) pair of node layers.

    On a chain these are the matrices of :func:`~.counts.connection_counts`; on a DAG a pair is
    any producer read by a consumer (a residual block's output layer reads the block's input too).

    Args:
        graph: from :func:`~.graph.trace_graph`.
        kept: ``{layer name: weight-shaped tensor}`` of the connections (non-zero = counted).

    Returns:
        ``{(producer, consumer): int64 matrix (n_nodes of consumer, n_nodes of producer)}`` in
        ``graph.edges`` order.

    Example:
        >>> from torch import nn
        >>> net = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 2), nn.Linear(2, 1))
        >>> graph = trace_graph(net, (3,))
        >>> edge_counts(graph, kept_entries(net, graph))[("input", "0")].tolist()
        [[1, 1, 1], [1, 1, 1]]
    """
    sizes = {layer.name: layer.n_nodes for layer in graph.node_layers}
    out: dict[tuple[str, str], Tensor] = {}
    for consumer in graph.consumers:
        full = consumer_counts(consumer, _entries(consumer, kept))
        for source in consumer.sources:
            key = (source.layer, consumer.name)
            if key not in out:
                out[key] = full.new_zeros(consumer.n_out, sizes[source.layer])
            columns = full[:, source.columns.to(full.device)]
            out[key].index_add_(1, source.nodes.to(full.device), columns)
    for layer in graph.recurrent:
        for key, matrix in recurrent_edge_counts(layer, kept, sizes).items():
            out[key] = out[key] + matrix if key in out else matrix
    return out


def degrees_from_edge_counts(
    graph: ConnectivityGraph, counts: Mapping[tuple[str, str], Tensor]
) -> dict[str, Tensor]:
    """Node degrees from :func:`edge_counts`: row sums for the consumer, column sums for the
    producer of every pair (the slow path of :func:`graph_degrees`)."""
    degrees = {
        layer.name: torch.zeros(layer.n_nodes, dtype=torch.int64) for layer in graph.node_layers
    }
    for (producer, consumer), matrix in counts.items():
        degrees[consumer] = degrees[consumer].to(matrix.device) + matrix.sum(1)
        degrees[producer] = degrees[producer].to(matrix.device) + matrix.sum(0)
    return degrees


def node_degrees(
    net: nn.Module,
    input_shape: Sequence[int] | None = None,
    layers: Sequence[str] | None = None,
    reuse: str = "unrolled",
) -> dict[str, Tensor]:
    """Degree of every node of every node layer of ``net`` (paper Sec. 3).

    Works on any traceable feedforward net (chains, residual and concat blocks, grouped and
    depthwise convolutions) and on nets of ``nn.RNN``/``LSTM``/``GRU`` modules followed by a
    head (:mod:`~.recurrent`), whatever pruned it (see :mod:`~.masks`).

    Args:
        net: the network.
        input_shape: shape of one input sample (``(T, features)`` for a recurrent net);
            defaults to ``net.input_shape``.
        layers: learnable layers whose outputs are node layers (see :func:`~.graph.trace_graph`).
        reuse: ``"unrolled"`` or ``"none"``: how often a recurrent weight counts (see
            :mod:`~.recurrent`).

    Returns:
        ``{"input": ..., <layer name>: ...}`` int64 degree vectors, the layers in call order.

    Raises:
        UnsupportedNetError: for a net the tracer refuses (the message names the op).
        ValueError: for bad arguments.

    Example:
        >>> from pl_powerlaw.nn import MaskedLinear
        >>> net = torch.nn.Sequential(MaskedLinear(3, 2), MaskedLinear(2, 1), MaskedLinear(1, 1))
        >>> {name: d.tolist() for name, d in node_degrees(net, (3,)).items()}
        {'input': [2, 2, 2], '0': [4, 4], '1': [2]}
    """
    graph = trace_graph(net, input_shape, layers, reuse)
    return graph_degrees(graph, kept_entries(net, graph))
