"""The routing functions of the DAG tracer, one per rule of :mod:`pl_powerlaw.connectivity.ops`.

Each takes the :class:`~pl_powerlaw.connectivity.ops.OpCall`, the routed tensors among its
arguments and the op's tensor results, and returns one :class:`~.routes.Route` per result (or
raises :class:`~.errors.UnsupportedNetError` naming the op and the module).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils._pytree import tree_leaves

from pl_powerlaw.connectivity.ops import SHAPE_ONLY_OPS, VIEWS, WITH_INDICES_OPS, OpCall
from pl_powerlaw.connectivity.routes import (
    EMPTY,
    Route,
    Term,
    align,
    constant_along,
    follow,
    union,
)


def _distinct(pairs: Sequence[tuple[Tensor, Route]]) -> list[tuple[Tensor, Route]]:
    seen: dict[int, tuple[Tensor, Route]] = {}
    for tensor, route in pairs:
        seen.setdefault(id(tensor), (tensor, route))
    return list(seen.values())


def _aligned(route: Route, ndim: int) -> Route:
    if route.mixed or all(t.index.ndim == ndim for t in route.terms):
        return route
    return Route.of([Term(t.layer, align(t.index, ndim)) for t in route.terms])


def route_same(op: OpCall, tracked: list, outs: list[Tensor]) -> list[Route]:
    distinct = _distinct(tracked)
    if len(distinct) > 1:
        raise op.fail("an element-wise op of one activation", f"{len(distinct)} activations")
    return [_aligned(distinct[0][1], out.ndim) for out in outs]


def route_union(op: OpCall, tracked: list, outs: list[Tensor]) -> list[Route]:
    routes = [route for _, route in _distinct(tracked)]
    return [union(routes, out.ndim) for out in outs]


def route_scale(op: OpCall, tracked: list, outs: list[Tensor]) -> list[Route]:
    distinct = _distinct(tracked)
    if len(distinct) > 1:
        raise op.fail(
            "at most one activation in a product (a scale by constants or parameters)",
            "a product of two activations (gating or attention has no connection count)",
        )
    return [_aligned(distinct[0][1], out.ndim) for out in outs]


def _structural_index_call(op: OpCall) -> Callable[[list[Tensor]], object]:
    func = VIEWS.get(op.func, op.func)
    rest, kwargs = op.args[1:], op.kwargs

    def apply(indexes: list[Tensor]) -> object:
        try:
            return func(indexes[0], *rest, **kwargs)
        except RuntimeError:  # e.g. a view of an expanded tensor
            return func(indexes[0].contiguous(), *rest, **kwargs)

    return apply


def route_structural(op: OpCall, tracked: list, outs: list[Tensor]) -> list[Route]:
    data = op.args[0] if op.args else None
    others = [t for t, _ in tracked if t is not data]
    if (
        not isinstance(data, Tensor)
        or op.route_of(data) is None
        or (others and op.func not in SHAPE_ONLY_OPS)
    ):
        raise op.fail("index arguments known at trace time", "indices computed from activations")
    if op.func is torch.Tensor.view and (
        any(isinstance(a, torch.dtype) for a in op.args[1:]) or "dtype" in op.kwargs
    ):
        return [op.route_of(data)] * len(outs)
    return follow(_structural_index_call(op), [op.route_of(data)], [data.shape], outs)


def route_cat(op: OpCall, tracked: list, outs: list[Tensor], stack: bool) -> list[Route]:
    tensors = op.args[0] if op.args else op.kwargs.get("tensors")
    dim = op.args[1] if len(op.args) > 1 else op.kwargs.get("dim", 0)
    if any(t is tensors for t, _ in tracked) or not isinstance(tensors, (list, tuple)):
        raise op.fail("a sequence of tensors", type(tensors).__name__)
    routes = [op.route_of(t) or EMPTY for t in tensors]
    shapes: list[list[int]] = [list(t.shape) for t in tensors]
    func = op.func
    if not stack and tensors and all(t.ndim == tensors[0].ndim for t in tensors):
        ndim = tensors[0].ndim
        d = dim % ndim
        for j in range(ndim):
            if j != d and all(_size_one(r, j, ndim) for r in routes):
                for shape in shapes:
                    shape[j] = 1

    def apply(indexes: list[Tensor]) -> object:
        return func(indexes, dim) if op.args[1:] or "dim" in op.kwargs else func(indexes)

    return follow(apply, routes, shapes, outs)


def _size_one(route: Route, dim: int, ndim: int) -> bool:
    return all(align(t.index, ndim).shape[dim] == 1 for t in route.terms)


def route_pool(op: OpCall, tracked: list, outs: list[Tensor]) -> list[Route]:
    data = op.args[0]
    route = op.route_of(data) if isinstance(data, Tensor) else None
    if route is None or len(_distinct(tracked)) > 1:
        raise op.fail("pooling of one activation", "several activations")
    name = op.name
    digits = re.search(r"([123])d(_with_indices)?$", name)
    k = int(digits.group(1)) if digits else data.ndim - 2
    spatial = list(range(data.ndim - k, data.ndim))
    if not constant_along(route, spatial):
        route = route.mix(f"`{name}` in {op.where} pools positions fed by different nodes")
    routes = [_aligned(route, outs[0].ndim)]
    indices = route.mix(f"the indices returned by `{name}` in {op.where} (data-dependent)")
    return routes + [indices] * (len(outs) - 1)


def _reduced_dims(op: OpCall, data: Tensor) -> list[int]:
    if op.name.endswith(".norm"):
        dim = op.kwargs.get("dim", op.args[2] if len(op.args) > 2 else None)
    else:
        dim = op.kwargs.get("dim", op.args[1] if len(op.args) > 1 else None)
    if isinstance(dim, bool) or not isinstance(dim, (int, tuple, list, torch.Size)):
        dim = None
    if dim is None:
        return list(range(data.ndim))
    dims = [dim] if isinstance(dim, int) else list(dim)
    return sorted({d % data.ndim for d in dims}) if data.ndim else []


def route_reduce(op: OpCall, tracked: list, outs: list[Tensor]) -> list[Route]:
    data = op.args[0]
    if op.func in WITH_INDICES_OPS and len(op.args) > 1 and isinstance(op.args[1], Tensor):
        return route_union(op, tracked, outs)  # torch.max(a, b) is element-wise
    route = op.route_of(data) if isinstance(data, Tensor) else None
    if route is None or len(_distinct(tracked)) > 1:
        raise op.fail("a reduction of one activation", "several activations")
    dims = _reduced_dims(op, data)
    values = outs[0]
    if not constant_along(route, dims):
        mixed = route.mix(
            f"`{op.name}` in {op.where} reduces over dims {dims}, where the sources differ "
            "(a channel mix the tracer cannot follow)"
        )
        return [mixed] * len(outs)
    if values.ndim == data.ndim:
        reduced = route
    else:
        terms = [
            Term(
                t.layer, t.index.reshape([s for j, s in enumerate(t.index.shape) if j not in dims])
            )
            for t in route.terms
        ]
        reduced = Route.of(terms)
    if op.func in WITH_INDICES_OPS and len(outs) == 2:
        return [reduced, route.mix(f"the indices returned by `{op.name}` in {op.where}")]
    return [reduced] * len(outs)


def route_pad(op: OpCall, tracked: list, outs: list[Tensor]) -> list[Route]:
    data = op.args[0]
    route = op.route_of(data) if isinstance(data, Tensor) else None
    if route is None or len(_distinct(tracked)) > 1:
        raise op.fail("padding of one activation", "several activations")
    if route.mixed:
        return [route]
    pad = list(op.args[1] if len(op.args) > 1 else op.kwargs["pad"])
    mode = op.args[2] if len(op.args) > 2 else op.kwargs.get("mode", "constant")
    terms = []
    for term in route.terms:
        index = align(term.index, data.ndim)
        spec = list(pad)
        for i in range(len(pad) // 2):  # pairs from the last dim backwards
            if index.shape[data.ndim - 1 - i] == 1:  # same sources along it: padding inherits
                spec[2 * i] = spec[2 * i + 1] = 0
        if any(spec):
            if mode == "constant":
                index = F.pad(index, spec, value=-1)
            else:
                index = F.pad(index.double(), spec, mode=mode).long()
        terms.append(Term(term.layer, index))
    return [Route.of(terms)]


def route_setitem(op: OpCall, tracked: list) -> Route:
    target, key, value = op.args[0], op.args[1], op.args[2]
    tracked_keys = [t for t, _ in op.tracked(tree_leaves(key))]
    if tracked_keys:
        raise op.fail("index arguments known at trace time", "indices computed from activations")
    routes = [op.route_of(target) or EMPTY]
    shapes = [target.shape]
    if isinstance(value, Tensor):
        routes.append(op.route_of(value) or EMPTY)
        shapes.append(value.shape)

    def apply(indexes: list[Tensor]) -> object:
        base = indexes[0].clone()
        base[key] = indexes[1] if len(indexes) > 1 else -1
        return base

    return follow(apply, routes, shapes, [target])[0]
