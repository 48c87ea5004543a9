"""Connection counts between adjacent node layers and node degrees (paper Sec. 3).

All reductions are vectorised over whole weight tensors; nothing loops over nodes.

* linear: ``counts[j, i] = kept[j, i]``;
* linear after a flattened convolution with ``P = H * W`` inputs per map:
  ``counts[j, c] = sum_p kept[j, c * P + p]`` (``kept.view(out, C, P).sum(-1)``);
* convolution with ``g`` groups: ``counts[j, i] = H_out * W_out * sum_k kept[j, i_local, k]`` for
  ``i`` in the group of ``j`` and 0 elsewhere (a block-diagonal matrix of ``g`` blocks).

The degree of a node is the number of its connections below plus above:
``degree_l = counts[l - 1].sum(1) + counts[l].sum(0)``; the input layer only has the second term
and the last node layer only the first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from pl_powerlaw.connectivity.chain import LayerChain, Link, trace_chain  # noqa: F401 (doctests)
from pl_powerlaw.connectivity.masks import layer_kept, weight_kept  # noqa: F401 (re-export)

if TYPE_CHECKING:
    from pl_powerlaw.connectivity.graph import ConnectivityGraph

# (largest number of 0/1 terms, exact accumulator type) for :func:`_count`
SUM_TYPES = (
    (255, torch.uint8),
    (2**15 - 1, torch.int16),
    (2**31 - 1, torch.int32),
    (2**63 - 1, torch.int64),
)


def kept_entries(net: nn.Module, chain: LayerChain | ConnectivityGraph) -> dict[str, Tensor]:
    """The kept weights (mask set and weight non-zero) of every layer of ``chain``.

    Args:
        net: the traced net.
        chain: its chain from :func:`trace_chain` or its graph from
            :func:`~pl_powerlaw.connectivity.graph.trace_graph`.

    Returns:
        ``{layer name: bool tensor shaped like the weight}`` in chain order, read by
        :func:`~pl_powerlaw.connectivity.masks.layer_kept` (masked layers, ``torch.nn.utils.prune``,
        parametrisations or exact zeros); for a graph with recurrent modules also one entry per
        matrix (``lstm.weight_ih_l0``, read by :func:`~pl_powerlaw.connectivity.masks.matrix_kept`).

    Example:
        >>> from pl_powerlaw.nn import MaskedLinear
        >>> net = torch.nn.Sequential(MaskedLinear(3, 2), MaskedLinear(2, 1))
        >>> kept_entries(net, trace_chain(net, (3,)))["0"].shape
        torch.Size([2, 3])
    """
    names = getattr(chain, "weight_names", chain.layer_names)
    return {name: weight_kept(net, name) for name in names}


def _lookup(link: Link, kept: Mapping[str, Tensor]) -> Tensor:
    if link.name not in kept:
        raise ValueError(
            f"Expected an entry for layer `{link.name}` in `kept` but got {list(kept)}"
        )
    return kept[link.name]


def _validated(link: Link, entries: Tensor) -> Tensor:
    """``entries`` as a bool tensor (non-zero = kept) after checking its shape."""
    if tuple(entries.shape) != link.weight_shape:
        raise ValueError(
            f"Expected kept entries of layer `{link.name}` of shape {link.weight_shape} but got "
            f"{tuple(entries.shape)}"
        )
    return entries if entries.dtype == torch.bool else entries != 0


def _count(entries: Tensor, dim: int) -> Tensor:
    """Number of kept entries along ``dim`` (int64).

    The sum runs in the smallest integer type that holds it exactly (``uint8`` for up to 255
    terms, then ``int16``, ``int32``): on CPU a ``bool -> int64`` reduction is several times slower.
    """
    n = entries.shape[dim]
    dtype = next(t for limit, t in SUM_TYPES if n <= limit)
    return entries.view(torch.uint8).sum(dim, dtype=dtype).to(torch.int64)


def _grouped_counts(link: Link, entries: Tensor) -> Tensor | None:
    """Counts per (output node, input node of its group), ``(n_out, n_in / groups)``; None for a
    plain linear layer, whose counts are the kept entries themselves."""
    if link.kind == "conv":
        per_kernel = _count(entries.reshape(link.n_out, link.n_in // link.groups, -1), -1)
        return per_kernel * link.spatial
    if link.inputs_per_node > 1:
        return _count(entries.reshape(link.n_out, link.n_in, link.inputs_per_node), -1)
    return None


def link_counts(link: Link, entries: Tensor) -> Tensor:
    """The ``(n_out, n_in)`` int64 connection-count matrix of one link (see the module doc).

    Args:
        link: one link of a :class:`LayerChain`.
        entries: weight-shaped tensor of the connections to count (non-zero = counted).

    Returns:
        The count matrix.
    """
    entries = _validated(link, entries)
    grouped = _grouped_counts(link, entries)
    if grouped is None:
        return entries.to(torch.int64)
    if link.groups == 1:
        return grouped
    blocks = grouped.reshape(link.groups, link.n_out // link.groups, link.n_in // link.groups)
    return torch.block_diag(*blocks.unbind(0))


def link_degrees(link: Link, entries: Tensor) -> tuple[Tensor, Tensor]:
    """Connections of each node above (row sums) and below (column sums) of one link.

    Equal to ``counts.sum(1), counts.sum(0)`` of :func:`link_counts`, without building the dense
    matrix of a large linear layer.

    Args:
        link: one link of a :class:`LayerChain`.
        entries: weight-shaped tensor of the connections to count (non-zero = counted).

    Returns:
        ``(down, up)``: int64 vectors of ``link.n_out`` and ``link.n_in`` entries.
    """
    entries = _validated(link, entries)
    grouped = _grouped_counts(link, entries)
    if grouped is None:
        return _count(entries, 1), _count(entries, 0)
    down = grouped.sum(1)
    per_group = link.n_out // link.groups
    up = grouped.reshape(link.groups, per_group, -1).sum(1).reshape(link.n_in)
    return down, up


def connection_counts(chain: LayerChain, kept: Mapping[str, Tensor]) -> list[Tensor]:
    """Connection-count matrices between adjacent node layers.

    Args:
        chain: the chain from :func:`trace_chain`.
        kept: ``{layer name: weight-shaped tensor}`` of the connections to count (non-zero =
            counted), e.g. :func:`kept_entries` or only the entries new in a second task.

    Returns:
        One int64 matrix per link: element ``l`` has shape ``(n_nodes of node_layers[l + 1],
        n_nodes of node_layers[l])``.

    Raises:
        ValueError: if an entry is missing or has the wrong shape.

    Example:
        >>> from pl_powerlaw.nn import MaskedLinear
        >>> net = torch.nn.Sequential(MaskedLinear(3, 2), MaskedLinear(2, 1))
        >>> chain = trace_chain(net, (3,))
        >>> connection_counts(chain, kept_entries(net, chain))[0].tolist()
        [[1, 1, 1], [1, 1, 1]]
    """
    return [link_counts(link, _lookup(link, kept)) for link in chain.links]


def degrees_from_counts(counts: Sequence[Tensor]) -> list[Tensor]:
    """Node degrees from the count matrices of a chain: connections below plus above.

    Args:
        counts: matrices as returned by :func:`connection_counts`, bottom to top.

    Returns:
        One int64 vector per node layer (``len(counts) + 1`` of them).

    Raises:
        ValueError: if ``counts`` is empty or consecutive shapes do not chain.

    Example:
        >>> counts = [torch.tensor([[1, 0], [2, 1]]), torch.tensor([[1, 3]])]
        >>> [d.tolist() for d in degrees_from_counts(counts)]
        [[3, 1], [2, 6], [4]]
    """
    if len(counts) == 0:
        raise ValueError("Expected at least one count matrix in `counts` but got none")
    for below, above in pairwise(counts):
        if below.shape[0] != above.shape[1]:
            raise ValueError(
                f"Expected count matrices chained by shape but got {tuple(below.shape)} then "
                f"{tuple(above.shape)}"
            )
    pairs = [(c.sum(1, dtype=torch.int64), c.sum(0, dtype=torch.int64)) for c in counts]
    return _combine(pairs)


def _combine(pairs: Sequence[tuple[Tensor, Tensor]]) -> list[Tensor]:
    """Degrees from ``(down of the layer above, up of the layer below)`` per link."""
    degrees = [pairs[0][1].to(torch.int64)]
    for (down, _), (_, up) in pairwise(pairs):
        degrees.append(down.to(torch.int64) + up.to(torch.int64))
    degrees.append(pairs[-1][0].to(torch.int64))
    return degrees


def chain_degrees(chain: LayerChain, kept: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Degrees of every node layer of ``chain`` from ``kept`` (the fast path of
    ``degrees_from_counts(connection_counts(chain, kept))``).

    Args:
        chain: the chain from :func:`trace_chain`.
        kept: weight-shaped tensors of the connections (non-zero = counted).

    Returns:
        ``{node layer name: int64 degrees}`` ordered like ``chain.node_layers``.
    """
    pairs = [link_degrees(link, _lookup(link, kept)) for link in chain.links]
    return {layer.name: d for layer, d in zip(chain.node_layers, _combine(pairs), strict=True)}


def node_degrees(
    net: nn.Module, input_shape: Sequence[int] | None = None, layers: Sequence[str] | None = None
) -> dict[str, Tensor]:
    """Degree of every node of every node layer of ``net``; see
    :func:`pl_powerlaw.connectivity.dag.node_degrees` (chains and DAGs alike).

    Example:
        >>> from pl_powerlaw.nn import MaskedLinear
        >>> net = torch.nn.Sequential(MaskedLinear(3, 2), MaskedLinear(2, 1), MaskedLinear(1, 1))
        >>> {name: d.tolist() for name, d in node_degrees(net, (3,)).items()}
        {'input': [2, 2, 2], '0': [4, 4], '1': [2]}
    """
    from pl_powerlaw.connectivity.dag import node_degrees as dag_node_degrees

    return dag_node_degrees(net, input_shape, layers)
