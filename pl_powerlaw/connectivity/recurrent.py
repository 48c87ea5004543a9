"""Node layers, connection counts and degrees of recurrent modules (``nn.RNN``/``LSTM``/``GRU``).

Node layers: the units of each stacked layer ``k`` of a recurrent module ``m`` are the node layer
``m.l{k}`` (``hidden_size`` nodes); layer 0 reads what the module reads (the input's features, the
28 pixels of an MNIST row), layer ``k`` reads layer ``k - 1``. The initial state is not a node.

Connections (every gate's entry is its own connection; ``G`` gates per unit: RNN 1, GRU 3,
LSTM 4, rows ``g * H + j`` of a matrix feed unit ``j``):

* a kept entry of ``weight_ih_l{k}`` in a row of unit ``j`` and column ``i`` connects input node
  ``i`` (a unit of layer ``k - 1`` for ``k > 0``) with unit ``j``:
  ``c_ih[j, i] = sum_g K_ih[g * H + j, i]``;
* a kept entry of ``weight_hh_l{k}`` connects unit ``k'`` with unit ``j`` of the same layer:
  ``c_hh[j, k'] = sum_g K_hh[g * H + j, k']``. It counts for both endpoints, so a
  self-connection adds 2 to its unit (a loop in an undirected graph).

Multiplicity (``reuse``): in the network unrolled over the ``T`` steps of the traced input every
input weight is used ``T`` times and every recurrent weight ``T - 1`` times (step 1 reads the
initial state, which is not a node): ``reuse="unrolled"`` counts each kept weight that often, the
recurrent analogue of a convolution weight's ``H_out * W_out``; ``reuse="none"`` counts it once.

Degrees: unit ``j`` of layer ``k`` has ``m_ih * sum_i c_ih[j, i] * n_sources(i)`` below,
``m_hh * (sum_k' c_hh[j, k'] + sum_k' c_hh[k', j])`` within its layer, and whatever the layer
above (or the head) adds; input node ``i`` gains ``m_ih * sum_j c_ih[j, i]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import torch
from torch import Tensor

from pl_powerlaw.connectivity.counts import _count
from pl_powerlaw.connectivity.errors import UnsupportedNetError
from pl_powerlaw.connectivity.graph import Source
from pl_powerlaw.connectivity.routes import align
from pl_powerlaw.errors import InputError
from pl_powerlaw.nn.recurrent import n_gates

if TYPE_CHECKING:
    from pl_powerlaw.connectivity.tracer import TracedCall

Reuse = Literal["unrolled", "none"]
REUSES = ("unrolled", "none")


def check_reuse(reuse: str) -> str:
    """``reuse`` if it is one of :data:`REUSES`, else an :class:`~pl_powerlaw.errors.InputError`."""
    if reuse not in REUSES:
        raise InputError(f"Expected `reuse` in {REUSES} but got {reuse!r}")
    return reuse


@dataclass(frozen=True, eq=False)
class RecurrentLayer:
    """One stacked layer of a recurrent module: a node layer and its two weight matrices.

    Attributes:
        name: the node layer (``lstm.l0``).
        module: qualified name of the recurrent module (``lstm``).
        index: the layer's number ``k``.
        gates: gates per unit ``G``.
        hidden: units ``H``.
        n_in: input features (columns of ``weight_ih``).
        ih: name of the input matrix (``lstm.weight_ih_l0``).
        hh: name of the recurrent matrix (``lstm.weight_hh_l0``).
        sources: the node layers the input features come from.
        n_sources: ``(n_in,)`` int64 source nodes of each input feature.
        steps: time steps ``T`` of the traced input.
        m_ih: connections per kept input weight (``T`` or 1).
        m_hh: connections per kept recurrent weight (``T - 1`` or 1).
    """

    name: str
    module: str
    index: int
    gates: int
    hidden: int
    n_in: int
    ih: str
    hh: str
    sources: tuple[Source, ...]
    n_sources: Tensor
    steps: int
    m_ih: int
    m_hh: int

    @property
    def matrices(self) -> tuple[str, str]:
        return self.ih, self.hh

    @property
    def shapes(self) -> dict[str, tuple[int, int]]:
        return {
            self.ih: (self.gates * self.hidden, self.n_in),
            self.hh: (self.gates * self.hidden, self.hidden),
        }


def _input_sources(call: TracedCall, nodes: Mapping[str, int]) -> tuple[tuple[Source, ...], Tensor]:
    """Sources of the features read by layer 0 (constant along the batch and the time steps)."""
    if call.route.mixed:
        raise UnsupportedNetError(
            f"Expected the input of `{call.name}` to have known sources but {call.route.mixed}"
        )
    n_in = call.in_shape[-1]
    order = {name: i for i, name in enumerate(nodes)}
    pairs = []
    for term in call.route.terms:
        if term.layer not in nodes:
            raise ValueError(
                f"Recurrent module `{call.name}` reads the outputs of `{term.layer}`, which is "
                f"not a node layer; expected its sources to be node layers (add `{term.layer}` "
                "to `layers`)"
            )
        index = align(term.index, 3)
        if index.shape[0] != 1 or index.shape[1] != 1:
            raise UnsupportedNetError(
                f"Expected the sources of recurrent module `{call.name}` to be the same for "
                "every sample and time step but they change along the batch or the time steps "
                "(a sequence whose steps come from different nodes)"
            )
        pairs.append((term.layer, index.reshape(1, -1).expand(1, n_in).contiguous()))
    sources, n_sources = [], torch.zeros(n_in, dtype=torch.int64)
    for layer, index in sorted(pairs, key=lambda pair: order[pair[0]]):
        if bool((index >= nodes[layer]).any()):
            raise UnsupportedNetError(f"Expected node indices below {nodes[layer]} for `{layer}`")
        sources.append(Source.of(layer, index))
        n_sources += (index >= 0).sum(0)
    return tuple(sources), n_sources


def recurrent_layers(
    call: TracedCall, nodes: Mapping[str, int], reuse: str
) -> list[RecurrentLayer]:
    """The node layers of one traced recurrent call (a :class:`~.tracer.TracedCall`).

    Args:
        call: the traced call of an ``nn.RNN``/``LSTM``/``GRU``.
        nodes: node layers so far -> their number of nodes.
        reuse: ``"unrolled"`` or ``"none"`` (see the module doc).

    Returns:
        One :class:`RecurrentLayer` per stacked layer, bottom to top.
    """
    reuse = check_reuse(reuse)
    module = call.module
    steps = int(call.in_shape[0])
    m_ih, m_hh = (steps, steps - 1) if reuse == "unrolled" else (1, 1)
    sources, n_sources = _input_sources(call, nodes)
    hidden, out = module.hidden_size, []
    for k in range(module.num_layers):
        if k > 0:
            below = out[-1].name
            sources = (Source.of(below, torch.arange(hidden).view(1, hidden)),)
            n_sources = torch.ones(hidden, dtype=torch.int64)
        prefix = f"{call.name}." if call.name else ""
        out.append(
            RecurrentLayer(
                f"{prefix}l{k}",
                call.name,
                k,
                n_gates(module),
                hidden,
                int(n_sources.numel()),
                f"{prefix}weight_ih_l{k}",
                f"{prefix}weight_hh_l{k}",
                sources,
                n_sources,
                steps,
                m_ih,
                m_hh,
            )
        )
    return out


def _per_unit(layer: RecurrentLayer, kept: Mapping[str, Tensor], matrix: str) -> Tensor:
    """``(H, columns)`` int64: kept entries of ``matrix`` per unit, summed over the gates."""
    if matrix not in kept:
        raise ValueError(f"Expected an entry for matrix `{matrix}` in `kept` but got {list(kept)}")
    entries = kept[matrix]
    shape = layer.shapes[matrix]
    if tuple(entries.shape) != shape:
        raise ValueError(
            f"Expected kept entries of `{matrix}` of shape {shape} but got {tuple(entries.shape)}"
        )
    entries = entries if entries.dtype == torch.bool else entries != 0
    return _count(entries.reshape(layer.gates, layer.hidden, shape[1]), 0)


def add_recurrent_degrees(
    layer: RecurrentLayer, kept: Mapping[str, Tensor], degrees: dict[str, Tensor]
) -> None:
    """Add the connections of ``layer``'s two matrices to ``degrees`` (in place)."""
    c_ih = _per_unit(layer, kept, layer.ih)
    c_hh = _per_unit(layer, kept, layer.hh)
    weights = layer.n_sources.to(c_ih.device)
    own = degrees[layer.name]
    own += (c_ih * weights).sum(1) * layer.m_ih
    own += (c_hh.sum(1) + c_hh.sum(0)) * layer.m_hh
    up = c_ih.sum(0) * layer.m_ih
    for source in layer.sources:
        nodes = source.nodes.to(up.device)
        degrees[source.layer].index_add_(0, nodes, up[source.columns.to(up.device)])


def recurrent_edge_counts(
    layer: RecurrentLayer, kept: Mapping[str, Tensor], sizes: Mapping[str, int]
) -> dict[tuple[str, str], Tensor]:
    """Count matrices ``(consumer nodes, producer nodes)`` of ``layer``: one per source layer and
    ``(layer, layer)`` for the recurrent connections (row ``j`` reads unit ``k'``).

    The within-layer matrix holds each kept ``weight_hh`` entry once, as a directed connection
    from unit ``k'`` (step ``t - 1``, the producer) to unit ``j`` (step ``t``, the consumer), with
    multiplicity ``m_hh``: this is how it enters the attachment kernel ``Pi(k, k')`` of the pair
    ``(layer, layer)`` (:mod:`pl_powerlaw.preferential`), the degrees counting it at both ends."""
    c_ih = _per_unit(layer, kept, layer.ih) * layer.m_ih
    out: dict[tuple[str, str], Tensor] = {}
    for source in layer.sources:
        matrix = c_ih.new_zeros(layer.hidden, sizes[source.layer])
        matrix.index_add_(1, source.nodes.to(c_ih.device), c_ih[:, source.columns.to(c_ih.device)])
        out[(source.layer, layer.name)] = matrix
    out[(layer.name, layer.name)] = _per_unit(layer, kept, layer.hh) * layer.m_hh
    return out
