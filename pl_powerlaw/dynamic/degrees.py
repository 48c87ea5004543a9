"""The node degrees at both ends of every entry of a linear layer, for preferential regrowth.

Degrees are those of the whole net (:func:`pl_powerlaw.connectivity.graph_degrees`: connections
below plus above each node, the paper's eq. 6), read through the traced graph: the output node
``i`` of a layer is node ``i`` of its node layer and its input ``j`` the node feeding input feature
``j``. A layer that is not a node layer (an output head) uses the degrees within its own mask.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from pl_powerlaw.connectivity import ConnectivityGraph, Consumer, graph_degrees
from pl_powerlaw.errors import InputError


def check_preferential_layer(graph: ConnectivityGraph, name: str, shape: tuple[int, ...]) -> None:
    """Refuse a layer whose entries do not join one output node to one input node.

    Raises:
        InputError: a convolution, or a linear layer reading several node layers or several
            positions per feature (e.g. after a flatten of feature maps).
    """
    if len(shape) != 2:
        raise InputError(
            f"Expected linear layers for preferential regrowth but {name!r} has weight shape "
            f"{tuple(shape)}; use grow='random' or 'gradient' for convolutions"
        )
    consumer = _consumer(graph, name)
    if consumer is None:
        return
    if len(consumer.sources) != 1 or consumer.block != 1 or consumer.sources[0].index.shape[0] != 1:
        raise InputError(
            f"Expected layer {name!r} to read one node layer feature by feature for preferential "
            f"regrowth but it reads {[s.layer for s in consumer.sources]} in blocks of "
            f"{consumer.block}"
        )


def _consumer(graph: ConnectivityGraph, name: str) -> Consumer | None:
    return next((c for c in graph.consumers if c.name == name), None)


def entry_degrees(
    graph: ConnectivityGraph, kept: Mapping[str, Tensor], name: str
) -> tuple[Tensor, Tensor]:
    """``(out_degrees, in_degrees)`` of a linear layer's output and input nodes at ``kept``.

    Args:
        graph: the net's traced graph.
        kept: ``{layer: weight-shaped bool}`` of the connections now (every consumer's layer, and
            ``name``).
        name: the layer (checked by :func:`check_preferential_layer`).

    Returns:
        Two int64 vectors, ``(n_out,)`` and ``(n_in,)``; an input feature fed by no node has 0.
    """
    consumer = _consumer(graph, name)
    if consumer is None:  # an output head: the degrees within its own mask
        mask = kept[name]
        return mask.sum(1).to(torch.int64), mask.sum(0).to(torch.int64)
    degrees = graph_degrees(graph, kept)
    source = consumer.sources[0]
    index = source.index[0]
    producer = degrees[source.layer]
    feed = torch.zeros(index.numel(), dtype=torch.int64, device=producer.device)
    fed = index >= 0
    feed[fed.to(feed.device)] = producer[index[fed].to(producer.device)]
    return degrees[name], feed
