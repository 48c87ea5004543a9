"""Internal preferential attachment between two snapshots of a layered net (paper Sec. 4, eqs. 6-10).

Numpy and scipy (degrees from counts come from :mod:`pl_powerlaw.connectivity`). The inputs are connection-count matrices, one per pair of adjacent node layers, shaped
``(n_nodes of the upper layer, n_nodes of the lower layer)`` as
:func:`pl_powerlaw.connectivity.connection_counts` returns them (a convolution contributes its
spatial multiplicity):

* ``old_counts``: the connections at t = 0 (after task A's pruning);
* ``new_counts``: the connections made between t = 0 and t = 1 (kept after task B, not before).

Two measurements follow Barabasi et al. (2002, "Evolution of the social network of scientific
collaborations"), adapted to the bipartite links between adjacent layers:

* the attachment kernel ``Pi(k, k')`` (their eq. 2, the paper's eqs. 7-8): for the node pairs whose
  t = 0 degrees fall in the bins of ``k`` (lower layer) and ``k'`` (upper layer), the number of new
  connections between them divided by the number of such pairs, ``N(k) N(k')``. Internal
  preferential attachment predicts ``Pi(k, k') ~ k k'``, a slope of 1 of ``log Pi`` against
  ``log(k k')``;
* the degree increment ``Delta k(k)`` (the paper's eqs. 9-10): the new connections made by the
  degree-``k`` nodes of a layer divided by the number of those nodes, which the model predicts to
  be linear in ``k``.

Degrees are binned on log-spaced integer bins ``[e_i, e_{i+1})`` from the smallest to the largest
positive t = 0 degree of each layer; nodes of degree 0 at t = 0 fall in no bin and are reported
apart.

A recurrent layer also pairs with itself (``(rnn.l0, rnn.l0)``): its count matrix holds each
recurrent connection once, from its source unit (lower axis) to its target unit (upper axis); both
axes then use the layer's one degree binning (see ``docs/recurrent.md``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from pl_powerlaw.connectivity import degrees_from_counts
from pl_powerlaw.preferential.bins import bin_degrees, bin_means, log_degree_bins
from pl_powerlaw.preferential.lines import LineFit, fit_line


@dataclass(frozen=True)
class AttachmentKernel:
    """``Pi(k, k')`` between a lower and an upper node layer; matrices are ``(upper bins, lower bins)``."""

    lower: str
    upper: str
    edges_lower: np.ndarray
    edges_upper: np.ndarray
    k_lower: np.ndarray  # mean t = 0 degree of the nodes in each lower bin (NaN if empty)
    k_upper: np.ndarray
    n_lower: np.ndarray  # nodes per bin
    n_upper: np.ndarray
    new_links: np.ndarray  # new connections between the two bins
    pairs: np.ndarray  # N(k') * N(k)
    pi: np.ndarray  # new_links / pairs, NaN where there are no pairs
    fit: LineFit  # log10 Pi against log10(k k') over the cells with Pi > 0
    new_links_unbinned: int  # new connections touching a node of t = 0 degree 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "lower": self.lower,
            "upper": self.upper,
            "edges_lower": self.edges_lower.tolist(),
            "edges_upper": self.edges_upper.tolist(),
            "k_lower": _nan_to_none(self.k_lower),
            "k_upper": _nan_to_none(self.k_upper),
            "n_lower": self.n_lower.tolist(),
            "n_upper": self.n_upper.tolist(),
            "new_links": self.new_links.tolist(),
            "pairs": self.pairs.tolist(),
            "pi": _nan_to_none(self.pi),
            "fit_log_pi_vs_log_kk": self.fit.as_dict(),
            "new_links_unbinned": self.new_links_unbinned,
        }


def attachment_kernel(
    new_counts: np.ndarray,
    degrees_lower: np.ndarray,
    degrees_upper: np.ndarray,
    edges_lower: np.ndarray,
    edges_upper: np.ndarray,
    lower: str = "lower",
    upper: str = "upper",
) -> AttachmentKernel:
    """The attachment kernel ``Pi(k, k')`` of one pair of adjacent node layers (Barabasi et al. eq. 2).

    ``Pi(k, k') = new_links(k, k') / (N(k) N(k'))`` where ``new_links`` sums ``new_counts`` over the
    node pairs with t = 0 degrees in the bins of ``k`` (lower) and ``k'`` (upper), and ``N`` counts
    the nodes per bin. The slope of ``log10 Pi`` against ``log10(k k')`` (bin-mean degrees) is 1 for
    linear internal preferential attachment, ``Pi ~ k k'`` (paper eq. 8).

    Args:
        new_counts: new connections, shape ``(n_upper, n_lower)``.
        degrees_lower: t = 0 degrees of the lower layer's nodes.
        degrees_upper: t = 0 degrees of the upper layer's nodes.
        edges_lower: bin edges of the lower layer (:func:`log_degree_bins`).
        edges_upper: bin edges of the upper layer.
        lower: name of the lower layer.
        upper: name of the upper layer.

    Returns:
        The kernel with per-bin counts, pairs, ``Pi`` and the log-log fit.

    Example:
        >>> kernel = attachment_kernel(np.array([[1, 0]]), np.array([1, 2]), np.array([3]),
        ...                            np.array([1, 2, 3]), np.array([1, 4]))
        >>> kernel.pi.tolist()
        [[1.0, 0.0]]
    """
    new_counts = np.asarray(new_counts)
    degrees_lower, degrees_upper = np.asarray(degrees_lower), np.asarray(degrees_upper)
    if new_counts.shape != (degrees_upper.size, degrees_lower.size):
        raise ValueError(
            f"Expected `new_counts` of shape {(degrees_upper.size, degrees_lower.size)} but got "
            f"{new_counts.shape}"
        )
    n_bins_lower, n_bins_upper = len(edges_lower) - 1, len(edges_upper) - 1
    index_lower = bin_degrees(degrees_lower, edges_lower)
    index_upper = bin_degrees(degrees_upper, edges_upper)
    n_lower, k_lower = bin_means(degrees_lower, index_lower, n_bins_lower)
    n_upper, k_upper = bin_means(degrees_upper, index_upper, n_bins_upper)
    one_hot_lower = np.zeros((degrees_lower.size, n_bins_lower), dtype=np.float64)
    one_hot_upper = np.zeros((degrees_upper.size, n_bins_upper), dtype=np.float64)
    inside_lower, inside_upper = index_lower >= 0, index_upper >= 0
    one_hot_lower[np.flatnonzero(inside_lower), index_lower[inside_lower]] = 1.0
    one_hot_upper[np.flatnonzero(inside_upper), index_upper[inside_upper]] = 1.0
    counts = new_counts.astype(np.float64)
    new_links = np.rint(one_hot_upper.T @ counts @ one_hot_lower).astype(np.int64)
    pairs = np.outer(n_upper, n_lower).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        pi = np.where(pairs > 0, new_links / np.maximum(pairs, 1), np.nan)  # Barabasi et al. eq. 2
    cells = np.isfinite(pi) & (pi > 0)
    kk = np.outer(k_upper, k_lower)
    fit = fit_line(np.log10(kk[cells]), np.log10(pi[cells]))  # paper eq. 8: Pi ~ k k'
    return AttachmentKernel(
        lower=lower,
        upper=upper,
        edges_lower=np.asarray(edges_lower),
        edges_upper=np.asarray(edges_upper),
        k_lower=k_lower,
        k_upper=k_upper,
        n_lower=n_lower,
        n_upper=n_upper,
        new_links=new_links,
        pairs=pairs,
        pi=pi,
        fit=fit,
        new_links_unbinned=int(counts.sum() - new_links.sum()),
    )


@dataclass(frozen=True)
class DegreeIncrement:
    """``Delta k(k)`` of one node layer on its degree bins, and its linear fit (paper eq. 10)."""

    name: str
    edges: np.ndarray
    k_mean: np.ndarray  # mean t = 0 degree per bin (NaN if empty)
    n_nodes: np.ndarray  # nodes per bin
    new_links: np.ndarray  # new connections made by the bin's nodes
    delta_k: np.ndarray  # new_links / n_nodes (NaN if empty)
    fit: LineFit  # delta_k against k_mean over the non-empty bins
    node_fit: LineFit  # new connections against degree over the nodes of degree >= 1
    n_zero: int  # nodes of t = 0 degree 0 (in no bin)
    delta_k_zero: float | None  # their mean number of new connections

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "edges": self.edges.tolist(),
            "k_mean": _nan_to_none(self.k_mean),
            "n_nodes": self.n_nodes.tolist(),
            "new_links": self.new_links.tolist(),
            "delta_k": _nan_to_none(self.delta_k),
            "fit": self.fit.as_dict(),
            "node_fit": self.node_fit.as_dict(),
            "n_zero": self.n_zero,
            "delta_k_zero": self.delta_k_zero,
        }


def degree_increment(
    degrees: np.ndarray, increments: np.ndarray, edges: np.ndarray, name: str = ""
) -> DegreeIncrement:
    """``Delta k(k)``: mean number of new connections of the nodes of t = 0 degree ``k`` (eqs. 9-10).

    Args:
        degrees: t = 0 degree of each node.
        increments: new connections made by each node between t = 0 and t = 1.
        edges: degree bin edges (:func:`log_degree_bins`).
        name: the node layer's name.

    Returns:
        Per-bin ``Delta k`` and the least-squares line of ``Delta k`` against the bin-mean degree
        (linear preferential attachment, paper eq. 10, predicts a good fit); ``node_fit`` is the same
        line over the individual nodes.

    Example:
        >>> inc = degree_increment(np.array([1, 1, 4]), np.array([1, 3, 8]), np.array([1, 2, 5]))
        >>> inc.delta_k.tolist()
        [2.0, 8.0]
    """
    degrees, increments = np.asarray(degrees), np.asarray(increments)
    if degrees.shape != increments.shape or degrees.ndim != 1:
        raise ValueError(
            f"Expected 1-d `degrees` and `increments` of equal length but got {degrees.shape} "
            f"and {increments.shape}"
        )
    n_bins = len(edges) - 1
    index = bin_degrees(degrees, edges)
    n_nodes, k_mean = bin_means(degrees, index, n_bins)
    _, delta_k = bin_means(increments, index, n_bins)  # paper eq. 9, binned
    inside = index >= 0
    new_links = np.bincount(index[inside], weights=increments[inside], minlength=n_bins)
    filled = n_nodes > 0
    zero = degrees == 0
    return DegreeIncrement(
        name=name,
        edges=np.asarray(edges),
        k_mean=k_mean,
        n_nodes=n_nodes,
        new_links=np.rint(new_links).astype(np.int64),
        delta_k=delta_k,
        fit=fit_line(k_mean[filled], delta_k[filled]),
        node_fit=fit_line(degrees[degrees >= 1], increments[degrees >= 1]),
        n_zero=int(zero.sum()),
        delta_k_zero=float(increments[zero].mean()) if zero.any() else None,
    )


@dataclass(frozen=True)
class PreferentialAttachment:
    """The analysis of one transition t = 0 -> t = 1: one kernel per layer pair, one increment per layer."""

    kernels: list[AttachmentKernel]
    increments: list[DegreeIncrement]

    def as_dict(self) -> dict[str, Any]:
        return {
            "layer_pairs": [kernel.as_dict() for kernel in self.kernels],
            "node_layers": [increment.as_dict() for increment in self.increments],
        }


def analyze_attachment(
    names: Sequence[str],
    old_counts: Sequence[np.ndarray],
    new_counts: Sequence[np.ndarray],
    n_bins: int = 8,
) -> PreferentialAttachment:
    """``Pi(k, k')`` for every adjacent pair and ``Delta k(k)`` for every node layer of a chain.

    Args:
        names: node layer names, one more than count matrices.
        old_counts: connections at t = 0, ``(n_{l+1}, n_l)`` per layer pair.
        new_counts: connections made between t = 0 and t = 1, same shapes.
        n_bins: log-spaced degree bins per node layer.

    Returns:
        The kernels and increments, in layer order (:func:`analyze_attachment_edges` on the
        chain's edges).

    Example:
        >>> old = [np.array([[1, 1], [0, 1]])]
        >>> new = [np.array([[0, 0], [1, 0]])]
        >>> result = analyze_attachment(["in", "out"], old, new, n_bins=2)
        >>> [inc.n_zero for inc in result.increments]
        [0, 0]
    """
    if len(names) != len(old_counts) + 1 or len(old_counts) != len(new_counts):
        raise ValueError(
            f"Expected {len(old_counts) + 1} names and {len(old_counts)} new count matrices but "
            f"got {len(names)} and {len(new_counts)}"
        )
    edges = list(zip(names, names[1:], strict=False))
    degrees = dict(zip(names, _degrees(old_counts), strict=True))  # t = 0 degrees (paper eq. 6)
    increments = dict(zip(names, _degrees(new_counts), strict=True))  # old links are frozen
    return analyze_attachment_edges(
        names,
        dict(zip(edges, old_counts, strict=True)),
        dict(zip(edges, new_counts, strict=True)),
        degrees,
        increments,
        n_bins,
    )


def analyze_attachment_edges(
    names: Sequence[str],
    old_counts: Mapping[tuple[str, str], np.ndarray],
    new_counts: Mapping[tuple[str, str], np.ndarray],
    degrees: Mapping[str, np.ndarray],
    increments: Mapping[str, np.ndarray],
    n_bins: int = 8,
) -> PreferentialAttachment:
    """``Pi(k, k')`` for every (producer, consumer) edge and ``Delta k(k)`` for every node layer.

    The general form for a net of any shape (a residual block's output layer also reads the
    block's input: that pair is an edge too). The degrees are those of the whole net, over all
    its edges (from :func:`pl_powerlaw.connectivity.graph_degrees` or
    :func:`~pl_powerlaw.connectivity.degrees_from_edge_counts`).

    Args:
        names: node layer names, in order.
        old_counts: ``{(producer, consumer): (n_consumer, n_producer)}`` connections at t = 0.
        new_counts: the connections made between t = 0 and t = 1, same keys and shapes.
        degrees: t = 0 degree of every node of every layer (paper eq. 6).
        increments: new connections of every node, ``k(t = 1) - k(t = 0)``.
        n_bins: log-spaced degree bins per node layer.

    Returns:
        One kernel per edge (``lower`` = producer, ``upper`` = consumer) in ``old_counts`` order,
        one increment per node layer in ``names`` order.
    """
    if set(old_counts) != set(new_counts):
        raise ValueError(
            f"Expected the same edges at t = 0 and t = 1 but got {sorted(old_counts)} and "
            f"{sorted(new_counts)}"
        )
    for edge, old in old_counts.items():
        if np.shape(old) != np.shape(new_counts[edge]):
            raise ValueError(
                f"Expected old and new counts of equal shape but got {np.shape(old)} and "
                f"{np.shape(new_counts[edge])} for {edge}"
            )
    degrees = {name: np.asarray(degrees[name]) for name in names}
    edges = {name: log_degree_bins(degrees[name], n_bins) for name in names}
    kernels = [
        attachment_kernel(
            new_counts[(lower, upper)],
            degrees[lower],
            degrees[upper],
            edges[lower],
            edges[upper],
            lower,
            upper,
        )
        for lower, upper in old_counts
    ]
    layer_increments = [
        degree_increment(degrees[name], np.asarray(increments[name]), edges[name], name)
        for name in names
    ]
    return PreferentialAttachment(kernels, layer_increments)


def _nan_to_none(values: np.ndarray) -> list:
    """Nested list with NaN replaced by None (JSON has no NaN)."""
    array = np.asarray(values, dtype=np.float64)
    return np.where(np.isfinite(array), array, None).tolist()


def _degrees(counts: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Node degrees of a chain of count matrices, by :func:`pl_powerlaw.connectivity.degrees_from_counts`."""
    tensors = [torch.as_tensor(np.asarray(matrix)) for matrix in counts]
    return [d.numpy() for d in degrees_from_counts(tensors)]
