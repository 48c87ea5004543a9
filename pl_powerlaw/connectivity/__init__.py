"""Connectivity of pruned nets: node layers, connection counts and node degrees (torch only).

Chains (the paper's nets) and directed acyclic nets (residual, concat, depthwise blocks) alike:
:func:`node_degrees` traces the net once (:mod:`~pl_powerlaw.connectivity.tracer`) and counts the
kept weights of every learnable layer, whatever pruned it (:mod:`~pl_powerlaw.connectivity.masks`).

Example:
    >>> from pl_powerlaw.nn import MaskedLinear
    >>> import torch
    >>> net = torch.nn.Sequential(MaskedLinear(3, 2), MaskedLinear(2, 1), MaskedLinear(1, 1))
    >>> chain = trace_chain(net, (3,))
    >>> [d.tolist() for d in degrees_from_counts(connection_counts(chain, kept_entries(net, chain)))]
    [[2, 2, 2], [4, 4], [2]]
    >>> graph = trace_graph(net, (3,))
    >>> {pair: c.tolist() for pair, c in edge_counts(graph, kept_entries(net, graph)).items()}
    {('input', '0'): [[1, 1, 1], [1, 1, 1]], ('0', '1'): [[1, 1]]}
"""

from pl_powerlaw.connectivity.chain import LayerChain, Link, NodeLayer, trace_chain
from pl_powerlaw.connectivity.counts import (
    chain_degrees,
    connection_counts,
    degrees_from_counts,
    kept_entries,
    link_counts,
    link_degrees,
)
from pl_powerlaw.connectivity.dag import (
    consumer_counts,
    consumer_degrees,
    degrees_from_edge_counts,
    edge_counts,
    graph_degrees,
    node_degrees,
)
from pl_powerlaw.connectivity.errors import UnsupportedNetError
from pl_powerlaw.connectivity.graph import (
    ConnectivityGraph,
    Consumer,
    Source,
    learnable_layers,
    trace_graph,
)
from pl_powerlaw.connectivity.masks import layer_kept, mask_source
from pl_powerlaw.connectivity.tracer import trace_routes
from pl_powerlaw.connectivity.tracing import LayerCall, record_calls

__all__ = [
    "ConnectivityGraph",
    "Consumer",
    "LayerCall",
    "LayerChain",
    "Link",
    "NodeLayer",
    "Source",
    "UnsupportedNetError",
    "chain_degrees",
    "connection_counts",
    "consumer_counts",
    "consumer_degrees",
    "degrees_from_counts",
    "degrees_from_edge_counts",
    "edge_counts",
    "graph_degrees",
    "kept_entries",
    "layer_kept",
    "learnable_layers",
    "link_counts",
    "link_degrees",
    "mask_source",
    "node_degrees",
    "record_calls",
    "trace_chain",
    "trace_graph",
    "trace_routes",
]
