"""The node layers of a directed acyclic net and what each learnable layer reads (paper Sec. 2-3).

Node layers are the input's channels (or its elements when only linear layers read it, as the
pixels of the paper's MLP) and the output channels (units) of every learnable ``Linear``/
``Conv1d``/``Conv2d`` layer except the output heads. Parameter-free ops between them only route
channels (see :mod:`pl_powerlaw.connectivity.ops`), so a layer may read several node layers at
once (a residual add, a concat) and a node layer may feed several layers.

Each node layer above the input is a :class:`Consumer`: its layer's weights, and for every node
layer it reads a :class:`Source` telling, per input channel (per input feature of a linear layer),
which node of that layer feeds it. A kept weight between input channel ``c`` and output channel
``d`` then counts ``R`` connections between ``d`` and every source node of ``c``, with ``R`` the
number of output positions of a convolution (``H_out * W_out``, the length for ``Conv1d``) or of a
linear layer applied at several positions (1 for an ordinary linear layer).

Output heads: a net may declare them (``output_layers``, names of masked layers); otherwise a
learnable layer whose output feeds no other learnable layer (it reaches the net's output, or
nothing) is a head. ``layers=`` chooses the node layers explicitly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from pl_powerlaw.connectivity.chain import NodeLayer, _check_input_shape, check_layer_names
from pl_powerlaw.connectivity.errors import UnsupportedNetError
from pl_powerlaw.connectivity.masks import weight_shape
from pl_powerlaw.connectivity.routes import align
from pl_powerlaw.connectivity.tracer import (
    INPUT,
    LEARNABLE_TYPES,
    SEQUENCE_TYPES,
    TracedCall,
    trace_routes,
)
from pl_powerlaw.nn.masked import masked_modules

if TYPE_CHECKING:
    from pl_powerlaw.connectivity.recurrent import RecurrentLayer


@dataclass(frozen=True, eq=False)
class Source:
    """The nodes of one producer node layer read by a consumer.

    Attributes:
        layer: the producer (``"input"`` or a layer name).
        index: ``(positions, groups)`` int64: node of ``layer`` feeding input group ``g`` (a
            channel, or a block of ``block`` features) at position ``s``; ``-1`` for none.
        flat: positions in ``index.flatten()`` with a node.
        nodes: the nodes at those positions.
        columns: the input group of each of those positions.
    """

    layer: str
    index: Tensor
    flat: Tensor
    nodes: Tensor
    columns: Tensor

    @staticmethod
    def of(layer: str, index: Tensor) -> Source:
        flat = (index.reshape(-1) >= 0).nonzero().squeeze(1)
        return Source(layer, index, flat, index.reshape(-1)[flat], flat % index.shape[1])


@dataclass(frozen=True, eq=False)
class Consumer:
    """A node layer above the input: the learnable layer making it and the node layers it reads.

    Attributes:
        name: qualified name of the layer.
        kind: ``"conv"`` or ``"linear"``.
        weight_shape: shape of its weight.
        n_in: input channels (conv) or features (linear).
        n_out: output channels or units (the nodes of this layer).
        groups: convolution groups (1 for a linear layer).
        multiplicity: connections per kept weight and source node (``R`` of the module doc).
        block: consecutive input features sharing their sources (``H * W`` after a flatten).
        sources: one per producer read.
        n_sources: ``(n_in // block,)`` int64, the source nodes of each input group (all
            positions).
        in_shape: input shape without the batch.
        out_shape: output shape without the batch.
    """

    name: str
    kind: str
    weight_shape: tuple[int, ...]
    n_in: int
    n_out: int
    groups: int
    multiplicity: int
    block: int
    sources: tuple[Source, ...]
    n_sources: Tensor
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]


@dataclass(frozen=True, eq=False)
class ConnectivityGraph:
    """Node layers (input first, then in call order) and the consumers above the input.

    The units of a recurrent module's stacked layers are node layers too; their matrices are in
    ``recurrent`` (:class:`~pl_powerlaw.connectivity.recurrent.RecurrentLayer`), not in
    ``consumers``.
    """

    node_layers: list[NodeLayer]
    consumers: list[Consumer]
    input_shape: tuple[int, ...]
    heads: tuple[str, ...]
    recurrent: tuple[RecurrentLayer, ...] = ()

    @property
    def layer_names(self) -> list[str]:
        """Names of the learnable layers of the node layers, in call order."""
        return [consumer.name for consumer in self.consumers]

    @property
    def weight_names(self) -> list[str]:
        """Names of every weight whose kept entries are counted: the consumers' layers, then the
        recurrent matrices (``lstm.weight_ih_l0``, ``lstm.weight_hh_l0``, ...)."""
        return self.layer_names + [m for layer in self.recurrent for m in layer.matrices]

    @property
    def edges(self) -> list[tuple[str, str]]:
        """``(producer, consumer)`` node-layer pairs joined by connections, in call order (a
        recurrent layer's pairs after the feedforward ones, ``(lstm.l0, lstm.l0)`` included)."""
        pairs = [(s.layer, c.name) for c in self.consumers for s in c.sources]
        for layer in self.recurrent:
            pairs += [(s.layer, layer.name) for s in layer.sources] + [(layer.name, layer.name)]
        return pairs


def learnable_layers(net: nn.Module) -> list[str]:
    """Qualified names of the ``Linear``/``Conv1d``/``Conv2d`` layers and of the ``RNN``/``LSTM``/
    ``GRU`` modules of ``net`` (registration order).

    Example:
        >>> learnable_layers(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Linear(2, 1)))
        ['0', '2']
    """
    return [
        name for name, m in net.named_modules() if isinstance(m, LEARNABLE_TYPES + SEQUENCE_TYPES)
    ]


def _check_layers(net: nn.Module, layers: Sequence[str] | None) -> list[str] | None:
    names = learnable_layers(net)
    if not names:
        raise ValueError(
            f"Expected a net with Linear/Conv1d/Conv2d layers but {type(net).__name__} has none"
        )
    if layers is None:
        return None
    return check_layer_names(layers, names)


def _heads(net: nn.Module, calls: list[TracedCall]) -> set[str]:
    feeders = frozenset().union(*(call.route.producers for call in calls))
    dead_ends = {  # a recurrent module is never a head: its units are node layers
        call.name
        for call in calls
        if call.name not in feeders and not isinstance(call.module, SEQUENCE_TYPES)
    }
    declared = getattr(net, "output_layers", None)
    if declared is None:
        return dead_ends
    masked = {name for name, _ in masked_modules(net)}
    return set(declared) | {name for name in dead_ends if name not in masked}


def _block(indexes: list[Tensor], n: int) -> int:
    """Largest ``P`` dividing ``n`` such that every index is constant on blocks of ``P`` features."""
    if n <= 1 or not indexes:
        return max(n, 1)
    change = torch.zeros(n - 1, dtype=torch.bool)
    for index in indexes:
        change |= (index[:, 1:] != index[:, :-1]).any(0)
    return math.gcd(n, *(change.nonzero().squeeze(1) + 1).tolist())


def _conv_sources(call: TracedCall) -> tuple[list[tuple[str, Tensor]], int]:
    n_in = call.in_shape[0]
    found = []
    for term in call.route.terms:
        index = align(term.index, len(call.in_shape) + 1)
        if any(size != 1 for j, size in enumerate(index.shape) if j != 1):
            raise UnsupportedNetError(
                f"Expected the sources of convolution `{call.name}` to be the same at every "
                "position of a channel but they change along positions or the batch (its input "
                "is not a stack of feature maps, e.g. units viewed as an image)"
            )
        found.append((term.layer, index.reshape(-1).expand(n_in).reshape(1, n_in)))
    return found, math.prod(call.out_shape[1:])


def _linear_sources(call: TracedCall) -> tuple[list[tuple[str, Tensor]], int]:
    """Per-term ``(positions, features)`` indexes of a linear layer and its multiplicity.

    A linear layer applied to ``(batch, *positions, features)`` uses each weight at every
    position; along the position dims where no index changes the uses are counted as a
    multiplicity, along the others each position keeps its own row of sources.
    """
    ndim = len(call.in_shape) + 1
    indexes = [(term.layer, align(term.index, ndim)) for term in call.route.terms]
    for _, index in indexes:
        if index.shape[0] != 1:
            raise UnsupportedNetError(
                f"Expected the sources of linear layer `{call.name}` to be the same for every "
                "sample but they change along the batch"
            )
    common = [
        1 if all(index.shape[j] == 1 for _, index in indexes) else call.in_shape[j - 1]
        for j in range(1, ndim - 1)
    ]
    shape = (1, *common, call.in_shape[-1])
    found = [(layer, index.expand(shape).reshape(-1, shape[-1])) for layer, index in indexes]
    return found, math.prod(call.in_shape[:-1]) // math.prod(common)


def _consumer(call: TracedCall, nodes: dict[str, int]) -> Consumer:
    module = call.module
    if call.route.mixed:
        raise UnsupportedNetError(
            f"Expected the input of layer `{call.name}` to have known sources but {call.route.mixed}"
        )
    for term in call.route.terms:
        if term.layer not in nodes:
            raise ValueError(
                f"Layer `{call.name}` reads the outputs of `{term.layer}`, which is not a node "
                f"layer; expected its sources to be node layers (add `{term.layer}` to `layers`)"
            )
    if isinstance(module, nn.Linear):
        kind, groups, n_out = "linear", 1, module.out_features
        pairs, multiplicity = _linear_sources(call)
    else:
        kind, groups, n_out = "conv", module.groups, module.out_channels
        pairs, multiplicity = _conv_sources(call)
    n_in = call.in_shape[-1] if kind == "linear" else call.in_shape[0]
    block = _block([index for _, index in pairs], n_in) if kind == "linear" else 1
    sources = []
    n_sources = torch.zeros(n_in // block, dtype=torch.int64)
    order = {name: i for i, name in enumerate(nodes)}  # producers in node-layer order
    for layer, index in sorted(pairs, key=lambda pair: order[pair[0]]):
        index = index[:, ::block].contiguous()
        if bool((index >= nodes[layer]).any()):
            raise UnsupportedNetError(f"Expected node indices below {nodes[layer]} for `{layer}`")
        source = Source.of(layer, index)
        n_sources += (index >= 0).sum(0)
        sources.append(source)
    return Consumer(
        call.name,
        kind,
        weight_shape(module),
        n_in,
        n_out,
        groups,
        multiplicity,
        block,
        tuple(sources),
        n_sources,
        call.in_shape,
        call.out_shape,
    )


def trace_graph(
    net: nn.Module,
    input_shape: Sequence[int] | None = None,
    layers: Sequence[str] | None = None,
    reuse: str = "unrolled",
) -> ConnectivityGraph:
    """Trace the node layers of a directed acyclic ``net`` and what each of them reads.

    Args:
        net: any traceable feedforward net whose learnable layers are ``Linear``/``Conv1d``/
            ``Conv2d`` (masked, pruned by ``torch.nn.utils.prune``, parametrised or plain).
        input_shape: shape of one input sample; defaults to ``net.input_shape``.
        layers: learnable layers whose outputs are node layers; defaults to all but the output
            heads (see the module doc). A recurrent module (``lstm``) gives one node layer per
            stacked layer (``lstm.l0``, ``lstm.l1``, ...).
        reuse: how often a kept weight of a recurrent module counts: ``"unrolled"`` (``T`` times
            for ``weight_ih``, ``T - 1`` for ``weight_hh``, with ``T`` the time steps of
            ``input_shape``) or ``"none"`` (once); see :mod:`~pl_powerlaw.connectivity.recurrent`.

    Returns:
        The graph: node layer 0 is ``"input"`` (the features of a sequence read by a recurrent
        module), then one per chosen layer in call order.

    Raises:
        UnsupportedNetError: for an op the tracer refuses (products or matmuls of activations,
            data-dependent control flow, channel mixes, recurrent cells, bidirectional recurrent
            modules, shared layers).
        ValueError: for bad arguments, a chosen layer never called, or a chosen layer reading a
            learnable layer that is not a node layer.

    Example:
        >>> net = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 2), nn.Linear(2, 1))
        >>> graph = trace_graph(net, (3,))
        >>> [(layer.name, layer.n_nodes) for layer in graph.node_layers], graph.heads
        ([('input', 3), ('0', 2), ('2', 2)], ('3',))
    """
    from pl_powerlaw.connectivity.recurrent import check_reuse, recurrent_layers  # (a cycle)

    check_reuse(reuse)
    shape = _check_input_shape(net, input_shape)
    chosen = _check_layers(net, layers)
    trace = trace_routes(net, shape, "channels" if len(shape) > 1 else "elements")
    if any(
        INPUT in call.route.producers and isinstance(call.module, SEQUENCE_TYPES)
        for call in trace.calls
    ):  # a recurrent module reads the input: the features of a step are the input nodes
        if len(shape) > 1:
            trace = trace_routes(net, shape, "features")
    elif len(shape) > 1 and not any(
        INPUT in call.route.producers and not isinstance(call.module, nn.Linear)
        for call in trace.calls
    ):  # only linear layers read the input: its elements are the nodes (the MLP's pixels)
        trace = trace_routes(net, shape, "elements")
    counts: dict[str, int] = {}
    for call in trace.calls:
        counts[call.name] = counts.get(call.name, 0) + 1
    for name, count in counts.items():
        if count > 1:
            raise UnsupportedNetError(
                f"Expected each learnable layer to be called once but `{name}` was called "
                f"{count} times (shared weights are not supported)"
            )
    called = [call.name for call in trace.calls]
    heads = _heads(net, trace.calls)
    if chosen is None:
        chosen = [name for name in called if name not in heads]
        if not chosen:
            raise ValueError(
                f"Expected learnable layers besides the output heads {sorted(heads)}; pass `layers`"
            )
    never = [name for name in chosen if name not in counts]
    if never:
        raise ValueError(f"Expected layer(s) {never} to be called in the forward but they were not")
    chosen_set = set(chosen)
    if trace.input_mode == "channels":
        input_layer = NodeLayer(INPUT, shape[0], "map", shape)
    elif trace.input_mode == "features":
        input_layer = NodeLayer(INPUT, shape[-1], "unit", shape)
    else:
        input_layer = NodeLayer(INPUT, math.prod(shape), "unit", shape)
    nodes = {INPUT: input_layer.n_nodes}
    node_layers = [input_layer]
    consumers, recurrent = [], []
    for call in trace.calls:
        if call.name not in chosen_set:
            continue
        if isinstance(call.module, SEQUENCE_TYPES):
            for layer in recurrent_layers(call, nodes, reuse):
                node_layers.append(NodeLayer(layer.name, layer.hidden, "unit", (layer.hidden,)))
                nodes[layer.name] = layer.hidden
                recurrent.append(layer)
            continue
        consumer = _consumer(call, nodes)
        kind = "unit" if consumer.kind == "linear" else "map"
        node_layers.append(NodeLayer(call.name, consumer.n_out, kind, call.out_shape))
        nodes[call.name] = consumer.n_out
        consumers.append(consumer)
    reached = tuple(
        name for name in called if name not in chosen_set and name in trace.output_producers
    )
    return ConnectivityGraph(node_layers, consumers, shape, reached, tuple(recurrent))
