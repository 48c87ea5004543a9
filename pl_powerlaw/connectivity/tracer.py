"""Trace where every activation of a net comes from, in one forward pass on the meta device.

Design (an extension of the torch-function tracer of :mod:`pl_powerlaw.connectivity.tracing`, not
torch.fx): the net runs once with meta copies of its parameters and buffers put in place (and the
originals put back afterwards) and a meta input of batch size 2, so shapes are computed and no
arithmetic is done. Unlike a symbolic trace this follows whatever Python the forward runs (helper functions,
loops over blocks, ``x.view(x.size(0), -1)``), and it sees the real order of the calls.

* Two global module hooks keep the module path (for error messages) and record every call of a
  learnable layer (``Linear``/``Conv1d``/``Conv2d``, ours or plain, pruned or not): the
  :class:`~pl_powerlaw.connectivity.routes.Route` of its input, its input and output shapes. Its
  output gets a fresh route: channel ``i`` comes from node ``i`` of that layer. What runs inside a
  learnable layer (the mask product, a pruning hook) is not looked at.
* A :class:`~torch.overrides.TorchFunctionMode` routes every other op by the rules of
  :mod:`pl_powerlaw.connectivity.ops`, or refuses it with a
  :class:`~pl_powerlaw.connectivity.errors.UnsupportedNetError` naming the op and the module.

Data-dependent control flow is refused: an op reading the values of an activation (``bool``,
``item``, ``nonzero``, ...) raises, and any other value read fails on the meta device with an
error saying so. There is no fallback to a real forward, whose branches could differ per input.
The net's state, modes, hooks and attributes are left unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.modules import module as module_hooks
from torch.overrides import TorchFunctionMode

from pl_powerlaw.connectivity import ops, rules
from pl_powerlaw.connectivity.errors import UnsupportedNetError
from pl_powerlaw.connectivity.routes import EMPTY, Route, Term, align, channel_route, union
from pl_powerlaw.nn.recurrent import recurrent_problem

INPUT = "input"
LEARNABLE_TYPES: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv1d, nn.Conv2d)
#: recurrent modules the tracer follows (their units are node layers, see ``recurrent.py``)
SEQUENCE_TYPES: tuple[type[nn.Module], ...] = (nn.RNN, nn.LSTM, nn.GRU)
RECURRENT_TYPES: tuple[type[nn.Module], ...] = (nn.RNNBase, nn.RNNCellBase)
TRACE_BATCH = 2


@dataclass(frozen=True, eq=False)
class TracedCall:
    """One call of a learnable layer: the route of its input and its shapes (without the batch;
    for a recurrent module ``in_shape`` is ``(T, features)`` whatever ``batch_first``)."""

    name: str
    module: nn.Module
    route: Route
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]


@dataclass(frozen=True, eq=False)
class Trace:
    """The learnable-layer calls of one forward, in call order, and what reaches the output."""

    calls: list[TracedCall]
    output_producers: frozenset[str]
    input_mode: str


def tensors_in(value: Any) -> list[Tensor]:
    """The tensors in ``value`` (nested tuples, lists and dicts), in order; cheaper than pytree."""
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for item in value for t in tensors_in(item)]
    if isinstance(value, dict):
        return [t for item in value.values() for t in tensors_in(item)]
    return []


def _first_tensor(value: Any, where: str) -> Tensor:
    found = tensors_in(value)
    if not found:
        raise UnsupportedNetError(f"Expected a tensor among the inputs/outputs of {where}")
    return found[0]


class _Tracker(TorchFunctionMode):
    """Routes every op of the forward and records the learnable-layer calls."""

    def __init__(self, names: dict[int, str], root: str) -> None:
        super().__init__()
        self._routes: dict[int, tuple[Tensor, Route]] = {}
        self._names = names
        self._root = root
        self._stack: list[str] = []
        self._inside: nn.Module | None = None
        self._pending: tuple[Route, tuple[int, ...]] = (EMPTY, ())
        self.calls: list[TracedCall] = []

    def route_of(self, tensor: Tensor) -> Route | None:
        entry = self._routes.get(id(tensor))
        return entry[1] if entry is not None and entry[0] is tensor else None

    def mark(self, tensor: Tensor, route: Route) -> None:
        self._routes[id(tensor)] = (tensor, route)

    def where(self) -> str:
        name = self._stack[-1] if self._stack else ""
        return f"`{name}`" if name else f"the root module ({self._root})"

    def _label(self, module: nn.Module) -> str:
        name = self._names.get(id(module), "")
        return f"`{name}`" if name else f"the root module ({type(module).__name__})"

    def pre_hook(self, module: nn.Module, args: tuple) -> None:
        self._stack.append(self._names.get(id(module), "?"))
        learnable = isinstance(module, LEARNABLE_TYPES + SEQUENCE_TYPES)
        if self._inside is not None:
            if learnable:
                raise UnsupportedNetError(
                    f"Expected learnable layers called from parameter-free code but "
                    f"{self._label(module)} is called inside {self._label(self._inside)}"
                )
            return
        if isinstance(module, SEQUENCE_TYPES):
            self._enter_recurrent(module, args)
            return
        if isinstance(module, RECURRENT_TYPES):
            raise UnsupportedNetError(
                f"Expected nn.RNN/nn.LSTM/nn.GRU modules but got {self._label(module)} "
                f"({type(module).__name__}): recurrent cells (and subclasses of RNNBase) are not "
                "supported, a cell called step by step shares its weights between calls"
            )
        if isinstance(module, nn.MultiheadAttention):
            raise UnsupportedNetError(
                f"Expected no attention but {self._label(module)} is a MultiheadAttention "
                "(a product of two activations has no connection count)"
            )
        if learnable:
            x = _first_tensor(args, self._label(module))
            self._pending = (self.route_of(x) or EMPTY, tuple(x.shape))
            self._inside = module

    def _enter_recurrent(self, module: nn.Module, args: tuple) -> None:
        label = self._label(module)
        problem = recurrent_problem(module)
        if problem is not None:
            raise UnsupportedNetError(
                f"Expected a unidirectional RNN/LSTM/GRU but {label} is {problem}"
            )
        x = args[0] if args else None
        if not isinstance(x, Tensor) or x.ndim != 3:
            got = type(x).__name__ if not isinstance(x, Tensor) else f"a {x.ndim}-d tensor"
            raise UnsupportedNetError(
                f"Expected a batched 3-d sequence into {label} but got {got} (packed sequences "
                "and unbatched inputs are not supported)"
            )
        if any(self.route_of(t) is not None for t in tensors_in(args[1:])):
            raise UnsupportedNetError(
                f"Expected the initial state of {label} to be constant but it is computed from "
                "activations (a state fed by other layers has no connection count)"
            )
        route = self.route_of(x) or EMPTY
        if not module.batch_first and not route.mixed:  # (T, B, F) -> (B, T, F) for the record
            route = Route(
                tuple(Term(t.layer, align(t.index, 3).transpose(0, 1)) for t in route.terms),
                None,
                route.producers,
            )
        shape = tuple(x.shape) if module.batch_first else (x.shape[1], x.shape[0], x.shape[2])
        self._pending = (route, shape)
        self._inside = module

    def _exit_recurrent(self, module: nn.Module, name: str, output: Any) -> None:
        route, in_shape = self._pending
        hidden, layers = module.hidden_size, module.num_layers
        sequence, state = output
        self.calls.append(TracedCall(name, module, route, in_shape[1:], tuple(sequence.shape[1:])))
        self.mark(sequence, channel_route(f"{name}.l{layers - 1}", hidden, sequence.ndim, 2))
        terms = []
        for k in range(layers):  # h_n / c_n (layers, B, H): row k holds the units of layer k
            index = torch.full((layers, 1, hidden), -1, dtype=torch.int64)
            index[k, 0] = torch.arange(hidden)
            terms.append(Term(f"{name}.l{k}", index))
        for tensor in tensors_in(state):
            self.mark(tensor, Route.of(terms))

    def post_hook(self, module: nn.Module, args: tuple, output: Any) -> None:
        self._stack.pop()
        if module is not self._inside:
            return
        self._inside = None
        name = self._names.get(id(module), "")
        if isinstance(module, SEQUENCE_TYPES):
            self._exit_recurrent(module, name, output)
            return
        y = _first_tensor(output, self._label(module))
        dim = y.ndim - 1 if isinstance(module, nn.Linear) else 1
        route, in_shape = self._pending
        self.calls.append(TracedCall(name, module, route, in_shape[1:], tuple(y.shape[1:])))
        self.mark(y, channel_route(name, y.shape[dim], y.ndim, dim))

    def _assign(self, op: ops.OpCall, target: Tensor, route: Route) -> None:
        if target._base is not None and route is not self.route_of(target):
            raise op.fail(
                "in-place ops that change sources to act on a whole tensor",
                "an in-place op on a view (the tracer does not follow writes through views)",
            )
        self.mark(target, route)

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        kwargs = kwargs or {}
        if self._inside is not None:
            return func(*args, **kwargs)
        tracked = []
        for tensor in tensors_in(args) + (tensors_in(kwargs) if kwargs else []):
            route = self.route_of(tensor)
            if route is not None:
                tracked.append((tensor, route))
        if not tracked:
            return func(*args, **kwargs)
        op = ops.OpCall(func, args, kwargs, self.route_of, self.where())
        rule = ops.rule_of(func)
        if rule == "data":
            raise op.fail("no data-dependent control flow", "an op reading activation values")
        if rule == "product":
            n = len({id(t) for t, _ in tracked})
            got = "two activations" if n > 1 else "an activation and a tensor (a hidden weight)"
            raise op.fail("matmuls/products only inside Linear/Conv1d/Conv2d modules", got)
        if rule == "learnable":
            raise op.fail(
                "learnable ops inside Linear/Conv1d/Conv2d modules", "a functional call outside one"
            )
        result = ops.meta_result(func, args, kwargs)
        if result is None:
            result = func(*args, **kwargs)
        if rule == "setitem":
            self._assign(op, args[0], rules.route_setitem(op, tracked))
            return result
        if rule == "copy":
            source = self.route_of(args[1]) if isinstance(args[1], Tensor) else None
            self._assign(op, args[0], union([source or EMPTY], args[0].ndim))
            return result
        if rule == "clear":
            self._assign(op, args[0], EMPTY)
            return result
        outs = tensors_in(result)
        if not outs or rule == "fresh":
            return result
        if rule is None:
            raise op.fail(
                "an op the connectivity tracer can follow", "an unknown op on an activation"
            )
        routes = _route(rule, op, tracked, outs)
        for out, route in zip(outs, routes, strict=True):
            if any(out is t for t, _ in tracked):
                self._assign(op, out, route)
            else:
                self.mark(out, route)
        return result


def _route(rule: str, op: ops.OpCall, tracked: list, outs: list[Tensor]) -> list[Route]:
    try:
        if rule in ("cat", "stack"):
            return rules.route_cat(op, tracked, outs, stack=rule == "stack")
        handler = {
            "same": rules.route_same,
            "union": rules.route_union,
            "scale": rules.route_scale,
            "structural": rules.route_structural,
            "pool": rules.route_pool,
            "reduce": rules.route_reduce,
            "pad": rules.route_pad,
        }[rule]
        return handler(op, tracked, outs)
    except UnsupportedNetError:
        raise
    except Exception as error:  # noqa: BLE001 - reported as one line naming the op
        raise op.fail(
            "an op whose effect on channels the tracer can follow",
            f"{type(error).__name__}: {error}",
        ) from error


def input_route(shape: tuple[int, ...], mode: str) -> Route:
    """The route of the net's input: its channels (dim 1), its features (the last dim, a
    sequence's) or every element are the input nodes."""
    ndim = len(shape) + 1
    if mode == "channels":
        return channel_route(INPUT, shape[0], ndim, 1)
    if mode == "features":
        return channel_route(INPUT, shape[-1], ndim, ndim - 1)
    index = torch.arange(math.prod(shape)).view(1, *shape)
    return Route.of([Term(INPUT, index)])


def _to_meta(modules: list[nn.Module], saved: list[tuple[dict, str, Any]]) -> None:
    """Put meta copies of the parameters and buffers of ``modules`` in place (tied tensors stay
    tied), appending what to put back to ``saved``."""
    copies: dict[int, Tensor] = {}
    for m in modules:
        for store in (m._parameters, m._buffers):
            for key, tensor in store.items():
                if tensor is None:
                    continue
                copy = copies.get(id(tensor))
                if copy is None:
                    copy = torch.empty(tensor.shape, dtype=tensor.dtype, device="meta")
                    copies[id(tensor)] = copy
                saved.append((store, key, tensor))
                store[key] = copy


def trace_routes(net: nn.Module, input_shape: Sequence[int], mode: str = "channels") -> Trace:
    """Run ``net`` once on a meta input of shape ``(2, *input_shape)`` and route every activation.

    Args:
        net: the network (its state, modes and attributes are left unchanged).
        input_shape: shape of one input sample.
        mode: ``"channels"`` (the input's channels are its nodes), ``"features"`` (the last
            dim, the features of a sequence read by a recurrent module) or ``"elements"`` (each
            input element is a node, as the pixels of an MLP).

    Returns:
        The learnable-layer calls in call order and the producers reaching the output.

    Raises:
        UnsupportedNetError: for an op or module the tracer refuses (the message names it).
        ValueError: if the net has no parameters or its forward fails on such an input.

    Example:
        >>> net = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1))
        >>> [(c.name, sorted(c.route.producers)) for c in trace_routes(net, (3,)).calls]
        [('0', ['input']), ('2', ['0'])]
    """
    reference = next(iter(net.parameters()), None)
    if reference is None:
        raise ValueError(f"Expected a net with parameters but {type(net).__name__} has none")
    shape = tuple(int(s) for s in input_shape)
    modules = list(net.named_modules())
    lazy = [name for name, m in modules if isinstance(m, nn.modules.lazy.LazyModuleMixin)]
    if lazy:
        raise ValueError(f"Expected initialised layers but {lazy} are lazy; run one forward first")
    names = {id(m): name for name, m in modules}
    tracker = _Tracker(names, type(net).__name__)
    attributes = [  # plain tensor attributes, e.g. the `weight` a pruning hook recomputes
        (m, key, value)
        for _, m in modules
        for key, value in vars(m).items()
        if isinstance(value, Tensor)
    ]
    modes = {m: m.training for _, m in modules}
    saved: list[tuple[dict, str, Any]] = []
    handles = [
        module_hooks.register_module_forward_pre_hook(tracker.pre_hook),
        module_hooks.register_module_forward_hook(tracker.post_hook),
    ]
    try:
        for m in modes:
            m.training = False
        x = torch.zeros((TRACE_BATCH, *shape), dtype=reference.dtype, device="meta")
        _to_meta([m for _, m in modules], saved)
        with torch.no_grad(), tracker:
            tracker.mark(x, input_route(shape, mode))
            output = net(x)
    except UnsupportedNetError:
        raise
    except Exception as error:  # noqa: BLE001 - reported as one line naming the net
        raise ValueError(
            f"Could not trace {type(net).__name__} on a meta input of shape "
            f"({TRACE_BATCH}, *{shape}): {type(error).__name__}: {error} (the tracer runs on the "
            "meta device, without values: data-dependent control flow is not supported)"
        ) from error
    finally:
        for store, key, tensor in saved:
            store[key] = tensor
        for handle in handles:
            handle.remove()
        for m, training in modes.items():
            m.training = training
        for m, key, value in attributes:
            setattr(m, key, value)
    producers: frozenset[str] = frozenset()
    for leaf in tensors_in(output):
        if (route := tracker.route_of(leaf)) is not None:
            producers |= route.producers
    return Trace(tracker.calls, producers, mode)
