"""The chain of node layers of a net and the links between them (paper Sec. 3).

A *node* is a unit of a linear layer or a feature map of a convolution; the input nodes are the
input units of an MLP (the 784 pixels of MNIST) or the input channels of a CNN. Each chosen masked
layer adds one node layer (its outputs) and one link (its weights) to the node layer below it.
Pooling, dropout, local response normalisation, activations and flattening sit between node
layers without adding any. Output heads are not node layers unless asked for.

A link records what is needed to turn a layer's kept weights into connection counts:

* ``"linear"``: one connection per kept weight;
* ``"conv"``: a kept kernel weight between maps ``i`` and ``j`` is used at every output position,
  so it counts ``H_out * W_out`` connections; with ``groups`` > 1 output map ``j`` only sees the
  input maps of its group;
* ``"linear"`` after a convolution (``inputs_per_node`` > 1): the linear inputs are the flattened
  maps in channel-major order (``nn.Flatten``, ``x.flatten(1)``, ``x.view(n, -1)``), so input
  ``f`` belongs to map ``f // inputs_per_node``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from torch import nn

from pl_powerlaw.connectivity.tracing import INPUT, LayerCall, record_calls
from pl_powerlaw.nn.masked import MaskedConv2d, MaskedLinear, masked_modules, output_layer_names


@dataclass(frozen=True)
class NodeLayer:
    """A layer of nodes.

    Attributes:
        name: ``"input"`` or the qualified name of the masked layer whose outputs these are.
        n_nodes: number of nodes (units or feature maps).
        kind: ``"unit"`` or ``"map"``.
        shape: shape of the activations of one sample (``(C, H, W)`` or ``(n,)``).
    """

    name: str
    n_nodes: int
    kind: str = "unit"
    shape: tuple[int, ...] = ()


@dataclass(frozen=True)
class Link:
    """The weights of one masked layer, between two adjacent node layers.

    Attributes:
        name: qualified name of the masked layer.
        kind: ``"linear"`` or ``"conv"``.
        n_in: nodes of the layer below.
        n_out: nodes of the layer above.
        weight_shape: shape of the layer's weight.
        groups: convolution groups (1 for a linear layer).
        spatial: ``H_out * W_out`` of a convolution (1 for a linear layer).
        inputs_per_node: linear inputs per node below (``H * W`` after a flattened convolution).
    """

    name: str
    kind: str
    n_in: int
    n_out: int
    weight_shape: tuple[int, ...]
    groups: int = 1
    spatial: int = 1
    inputs_per_node: int = 1


@dataclass(frozen=True)
class LayerChain:
    """Node layers ``node_layers[0..L]`` and links ``links[l]`` between ``l`` and ``l + 1``."""

    node_layers: list[NodeLayer]
    links: list[Link]
    input_shape: tuple[int, ...]

    @property
    def layer_names(self) -> list[str]:
        """Names of the masked layers of the links, bottom to top."""
        return [link.name for link in self.links]


def _check_input_shape(net: nn.Module, input_shape: Sequence[int] | None) -> tuple[int, ...]:
    if input_shape is None:
        input_shape = getattr(net, "input_shape", None)
        if input_shape is None:
            raise ValueError(
                f"Expected `input_shape` because {type(net).__name__} has no `input_shape` attribute"
            )
    shape = tuple(input_shape)
    if not shape or not all(isinstance(s, int) and s > 0 for s in shape):
        raise ValueError(f"Expected `input_shape` to be positive ints but got {input_shape!r}")
    return shape


def check_layer_names(layers: Sequence[str], names: Sequence[str]) -> list[str]:
    """``layers`` as a list if it names distinct layers among ``names``, else a ValueError."""
    if isinstance(layers, str):
        raise ValueError(
            f"Expected `layers` to be a sequence of names but got the string {layers!r}"
        )
    chosen = list(layers)
    unknown = [name for name in chosen if name not in names]
    if unknown:
        raise ValueError(
            f"Unknown layer name(s) {unknown} in `layers`; expected some of {list(names)}"
        )
    if len(set(chosen)) != len(chosen) or not chosen:
        raise ValueError(f"Expected distinct, at least one name in `layers` but got {chosen}")
    return chosen


def _check_layers(net: nn.Module, layers: Sequence[str] | None) -> list[str]:
    names = [name for name, _ in masked_modules(net)]
    if not names:
        raise ValueError(f"Expected a net with masked layers but {type(net).__name__} has none")
    if layers is None:
        outputs = set(output_layer_names(net))
        chosen = [name for name in names if name not in outputs]
        if not chosen:
            raise ValueError(
                f"Expected masked layers besides the output heads {sorted(outputs)}; pass `layers`"
            )
        return chosen
    return check_layer_names(layers, names)


def _input_layer(call: LayerCall, module: nn.Module, input_shape: tuple[int, ...]) -> NodeLayer:
    if isinstance(module, MaskedConv2d):
        return NodeLayer(INPUT, call.in_shape[0], "map", input_shape)
    return NodeLayer(INPUT, module.in_features, "unit", input_shape)


def _link(call: LayerCall, module: nn.Module, below: NodeLayer) -> tuple[Link, NodeLayer]:
    """The link of one layer call on top of node layer ``below`` and its node layer."""
    where = f"Layer `{call.name}`"
    if isinstance(module, MaskedConv2d):
        if below.kind != "map" or len(call.in_shape) != 3:
            raise ValueError(
                f"{where} is a convolution on top of {below.kind}s of `{below.name}` with input "
                f"shape {call.in_shape}; expected feature maps"
            )
        if call.in_shape[0] != below.n_nodes:
            raise ValueError(
                f"{where} takes {call.in_shape[0]} input maps but `{below.name}` has {below.n_nodes}"
            )
        link = Link(
            call.name,
            "conv",
            below.n_nodes,
            module.out_channels,
            tuple(module.weight.shape),
            groups=module.groups,
            spatial=math.prod(call.out_shape[1:]),
        )
        return link, NodeLayer(call.name, module.out_channels, "map", call.out_shape)
    if not isinstance(module, MaskedLinear):
        raise ValueError(
            f"{where} is a {type(module).__name__}; expected MaskedLinear/MaskedConv2d"
        )
    if len(call.in_shape) != 1:
        raise ValueError(
            f"{where} is a linear layer on an input of shape {call.in_shape}; expected (batch, features)"
        )
    per_node, remainder = divmod(module.in_features, below.n_nodes)
    if remainder or (below.kind == "unit" and per_node != 1):
        raise ValueError(
            f"{where} has {module.in_features} inputs, which do not match the {below.n_nodes} "
            f"{below.kind}s of `{below.name}`"
        )
    link = Link(
        call.name,
        "linear",
        below.n_nodes,
        module.out_features,
        tuple(module.weight.shape),
        inputs_per_node=per_node,
    )
    return link, NodeLayer(call.name, module.out_features, "unit", call.out_shape)


def trace_chain(
    net: nn.Module, input_shape: Sequence[int] | None = None, layers: Sequence[str] | None = None
) -> LayerChain:
    """Trace the chain of node layers of ``net`` (the paper's layered nets).

    Args:
        net: a net whose prunable layers are ``MaskedLinear``/``MaskedConv2d``.
        input_shape: shape of one input sample; defaults to ``net.input_shape``.
        layers: masked layers whose outputs are node layers; defaults to all masked layers but
            the output heads (``output_layer_names(net)``). An output head named here becomes the
            last node layer.

    Returns:
        The chain: node layer 0 is ``"input"``, then one per layer in call order.

    Raises:
        ValueError: for an unknown layer name, a layer never called or called twice, or a net that
            is not a simple chain at some layer (branches, merges, a skipped masked layer, an
            input size that does not match the node layer below).

    Example:
        >>> from pl_powerlaw.nn import MaskedLinear
        >>> net = nn.Sequential(nn.Flatten(), MaskedLinear(4, 3), nn.ReLU(), MaskedLinear(3, 2))
        >>> chain = trace_chain(net, (2, 2))
        >>> [(layer.name, layer.n_nodes) for layer in chain.node_layers]
        [('input', 4), ('1', 3)]
    """
    shape = _check_input_shape(net, input_shape)
    chosen = _check_layers(net, layers)
    modules = dict(masked_modules(net))
    calls = [call for call in record_calls(net, shape) if call.name in chosen]
    for name in chosen:
        count = sum(call.name == name for call in calls)
        if count != 1:
            raise ValueError(
                f"Layer `{name}` was called {count} times in the forward; expected exactly once"
            )
    node_layers: list[NodeLayer] = []
    links: list[Link] = []
    for call in calls:
        module = modules[call.name]
        if not node_layers:
            node_layers.append(_input_layer(call, module, shape))
        below = node_layers[-1]
        if call.sources != {below.name}:
            found = sorted(call.sources) or ["no traced tensor"]
            raise ValueError(
                f"Layer `{call.name}` is not in a simple chain: its input comes from {found} but "
                f"the node layer below it is `{below.name}` (branches and merges are not "
                f"supported; a masked layer in between must be in `layers`)"
            )
        link, node_layer = _link(call, module, below)
        links.append(link)
        node_layers.append(node_layer)
    return LayerChain(node_layers, links, shape)
