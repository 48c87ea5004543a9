"""Routes: which node of which node layer each element of an activation comes from.

The tracer of :mod:`pl_powerlaw.connectivity.dag` attaches a :class:`Route` to every activation.
A route is a tuple of :class:`Term`; a term names one producer (``"input"`` or a learnable layer)
and holds an int64 *index* tensor with the activation's number of dimensions: element ``e`` of the
activation has node ``index[e]`` of that producer among its sources (``-1``: none). Along a
dimension where the node does not change (the spatial positions of a feature map, the batch) the
index has size 1 and broadcasts, so a conv output carries a ``(1, C, 1, 1)`` index.

An element may have several sources: a residual add ``a + b`` gives every channel the union of its
sources in ``a`` and in ``b`` (one term per producer, duplicates removed). A route whose sources
cannot be told apart element by element (a sum over channels, the indices of a max) is *mixed*:
it keeps the reason, so the layer that reads it can refuse with a message naming the op.

Index tensors live on the CPU and are manipulated by the same torch ops as the activations
(a reshape of an activation reshapes its index tensors), which is how flatten, views, slicing,
``torch.cat`` along channels (offsets), flips and channel shuffles are followed exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor
from torch.utils._pytree import tree_leaves

NO_NODE = -1


@dataclass(frozen=True, eq=False)
class Term:
    """Node ``index[e]`` of ``layer`` is a source of element ``e`` (``-1``: no source)."""

    layer: str
    index: Tensor


@dataclass(frozen=True, eq=False)
class Route:
    """The sources of every element of one activation.

    Attributes:
        terms: one per producer (a producer appears twice only where one element reads two of
            its nodes, e.g. after ``x[:, :2] + x[:, 2:]``).
        mixed: why the sources of an element are unknown (None when they are known).
        producers: names of every producer upstream of the activation (also for a mixed route).
    """

    terms: tuple[Term, ...] = ()
    mixed: str | None = None
    producers: frozenset[str] = field(default=frozenset())

    @staticmethod
    def of(terms: Sequence[Term]) -> Route:
        """A known route made of ``terms``."""
        return Route(tuple(terms), None, frozenset(t.layer for t in terms))

    def mix(self, reason: str) -> Route:
        """This route with its per-element sources given up for ``reason`` (the first one stays)."""
        return self if self.mixed else Route((), reason, self.producers)


EMPTY = Route()


def channel_route(layer: str, n: int, ndim: int, dim: int) -> Route:
    """Node ``i`` of ``layer`` feeds index ``i`` of dimension ``dim`` of an ``ndim``-d tensor."""
    shape = [1] * ndim
    shape[dim] = n
    return Route.of([Term(layer, torch.arange(n).view(shape))])


def align(index: Tensor, ndim: int) -> Tensor:
    """``index`` with leading size-1 dimensions up to ``ndim`` (broadcasting alignment)."""
    if index.ndim == ndim:
        return index
    if index.ndim > ndim:
        raise ValueError(f"Expected an index of at most {ndim} dims but got {index.ndim}")
    return index.view((1,) * (ndim - index.ndim) + tuple(index.shape))


def compact(index: Tensor) -> Tensor:
    """``index`` with every dimension along which it does not change reduced to size 1."""
    for dim in range(index.ndim):
        if index.shape[dim] > 1 and index.stride(dim) == 0:
            index = index.narrow(dim, 0, 1)
    for dim in range(index.ndim):
        if index.shape[dim] > 1:
            first = index.narrow(dim, 0, 1)
            if torch.equal(index, first.expand_as(index)):
                index = first
    return index


def dedupe(terms: Sequence[Term]) -> tuple[Term, ...]:
    """``terms`` with a node that already feeds an element through an earlier term dropped there."""
    out: list[Term] = []
    for term in terms:
        index: Tensor | None = term.index
        for earlier in out:
            if earlier.layer != term.layer or index is None:
                continue
            if index is earlier.index or (
                index.shape == earlier.index.shape and torch.equal(index, earlier.index)
            ):
                index = None
            else:
                index = torch.where(index == earlier.index, NO_NODE, index)
        if index is not None:
            index = compact(index)
            if bool((index >= 0).any()):
                out.append(Term(term.layer, index))
    return tuple(out)


def union(routes: Sequence[Route], ndim: int) -> Route:
    """The route of an element-wise combination (``+``, ``max``) of activations of ``ndim`` dims."""
    producers = frozenset().union(*(route.producers for route in routes))
    mixed = next((route.mixed for route in routes if route.mixed), None)
    if mixed:
        return Route((), mixed, producers)
    if len(routes) == 1:
        terms = routes[0].terms
        return Route.of([Term(t.layer, align(t.index, ndim)) for t in terms])
    terms = [Term(t.layer, align(t.index, ndim)) for route in routes for t in route.terms]
    return Route(dedupe(terms), None, producers)


def slots(routes: Sequence[Route]) -> list[tuple[str, int]]:
    """``(layer, k)`` for the k-th term of each layer over ``routes`` (one output term per slot)."""
    found: dict[str, int] = {}
    for route in routes:
        counts: dict[str, int] = {}
        for term in route.terms:
            counts[term.layer] = counts.get(term.layer, 0) + 1
        for layer, count in counts.items():
            found[layer] = max(found.get(layer, 0), count)
    return [(layer, k) for layer, count in found.items() for k in range(count)]


def slot_index(route: Route, slot: tuple[str, int], shape: Sequence[int]) -> Tensor:
    """The index of ``route`` for ``slot`` broadcast to ``shape`` (all ``-1`` if it has none)."""
    layer, k = slot
    matches = [t.index for t in route.terms if t.layer == layer]
    if k < len(matches):
        return align(matches[k], len(shape)).expand(*shape)
    return torch.full((1,) * len(shape), NO_NODE, dtype=torch.int64).expand(*shape)


def follow(
    apply: Callable[[list[Tensor]], object],
    routes: Sequence[Route],
    shapes: Sequence[Sequence[int]],
    results: Sequence[Tensor],
) -> list[Route]:
    """Routes of ``results`` of a structural op (view, slice, cat, ...) of the routed inputs.

    Args:
        apply: runs the op on one index tensor per input (each broadcast to its input's shape)
            and returns the result(s) in the structure of the real op.
        routes: routes of the inputs.
        shapes: shapes the inputs' indexes are broadcast to before ``apply`` (the inputs' own
            shapes, or smaller ones where every index has size 1).
        results: the tensor results of the real op, flattened.

    Returns:
        One route per result.

    Raises:
        ValueError: if an index result does not have the shape of the real result.
    """
    producers = frozenset().union(*(route.producers for route in routes))
    mixed = next((route.mixed for route in routes if route.mixed), None)
    if mixed:
        return [Route((), mixed, producers) for _ in results]
    per_result: list[list[Term]] = [[] for _ in results]
    for slot in slots(routes):
        indexes = [slot_index(r, slot, shape) for r, shape in zip(routes, shapes, strict=True)]
        out = [leaf for leaf in tree_leaves(apply(indexes)) if isinstance(leaf, Tensor)]
        if len(out) != len(results):
            raise ValueError(f"Expected {len(results)} index results but got {len(out)}")
        for terms, index, result in zip(per_result, out, results, strict=True):
            if index.ndim != result.ndim or any(
                i not in (1, r) for i, r in zip(index.shape, result.shape, strict=True)
            ):
                raise ValueError(
                    f"Expected an index broadcasting to {tuple(result.shape)} but got "
                    f"{tuple(index.shape)}"
                )
            index = compact(index)
            if bool((index >= 0).any()):
                terms.append(Term(slot[0], index))
    return [Route(dedupe(terms), None, producers) for terms in per_result]


def constant_along(route: Route, dims: Sequence[int]) -> bool:
    """True if no element's sources change along ``dims`` (every index has size 1 there)."""
    return not route.mixed and all(
        term.index.shape[d] == 1 for term in route.terms for d in dims if d < term.index.ndim
    )
