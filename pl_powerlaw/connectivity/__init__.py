"""Connectivity of pruned nets: node layers, connection counts and node degrees (torch only).

Example:
    >>> from pl_powerlaw.nn import MaskedLinear
    >>> import torch
    >>> net = torch.nn.Sequential(MaskedLinear(3, 2), MaskedLinear(2, 1), MaskedLinear(1, 1))
    >>> chain = trace_chain(net, (3,))
    >>> [d.tolist() for d in degrees_from_counts(connection_counts(chain, kept_entries(net, chain)))]
    [[2, 2, 2], [4, 4], [2]]
"""

from pl_powerlaw.connectivity.chain import LayerChain, Link, NodeLayer, trace_chain
from pl_powerlaw.connectivity.counts import (
    chain_degrees,
    connection_counts,
    degrees_from_counts,
    kept_entries,
    link_counts,
    link_degrees,
    node_degrees,
)
from pl_powerlaw.connectivity.tracing import LayerCall, record_calls

__all__ = [
    "LayerCall",
    "LayerChain",
    "Link",
    "NodeLayer",
    "chain_degrees",
    "connection_counts",
    "degrees_from_counts",
    "kept_entries",
    "link_counts",
    "link_degrees",
    "node_degrees",
    "record_calls",
    "trace_chain",
]
