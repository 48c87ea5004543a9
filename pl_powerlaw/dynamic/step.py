"""One prune-and-regrow update of a net's masks, and the initial random masks (torch only).

:func:`prune_and_regrow` drops in every layer first, then (for preferential growth) reads the
degrees of the net with the drops made, then grows in every layer: the degrees a new connection
attaches to are those of the net it joins. :func:`install_random_masks` draws the Erdos-Renyi
masks sparse training starts from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from pl_powerlaw.connectivity import ConnectivityGraph, kept_entries
from pl_powerlaw.dynamic.degrees import entry_degrees
from pl_powerlaw.dynamic.schedules import kept_count
from pl_powerlaw.dynamic.updates import (
    drop_magnitude,
    drop_signed,
    grow_gradient,
    grow_preferential,
    grow_random,
    random_mask,
    reset_entries,
)
from pl_powerlaw.pruning import resolve_layers

DROPS = ("magnitude", "signed")
GROWS = ("random", "gradient", "preferential")


@dataclass(frozen=True)
class MaskUpdate:
    """What one update did per layer: the entries dropped and grown (boolean, weight-shaped)."""

    dropped: dict[str, Tensor]
    grown: dict[str, Tensor]
    kept: dict[str, int]

    def counts(self) -> dict[str, dict[str, int]]:
        """``{layer: {"dropped": n, "grown": n, "kept": n}}``."""
        return {
            name: {
                "dropped": int(self.dropped[name].sum()),
                "grown": int(self.grown[name].sum()),
                "kept": self.kept[name],
            }
            for name in self.kept
        }


@torch.no_grad()
def install_random_masks(
    net: nn.Module, densities: Mapping[str, float], generator: torch.Generator
) -> dict[str, int]:
    """Give each named masked layer a uniformly random mask at its density (Erdos-Renyi topology).

    Returns:
        Layer name -> kept count (``round(density * n)``, at least 1).
    """
    layers = resolve_layers(net, list(densities))
    kept = {}
    for name, layer in layers.items():
        n_kept = kept_count(densities[name], layer.weight.numel())
        mask = random_mask(tuple(layer.weight.shape), n_kept, generator)
        layer.set_mask(mask.to(layer.weight.device))
        kept[name] = n_kept
    return kept


@torch.no_grad()
def prune_and_regrow(
    net: nn.Module,
    layers: Sequence[str],
    fraction: float,
    drop: str,
    grow: str,
    generator: torch.Generator,
    gradients: Mapping[str, Tensor] | None = None,
    graph: ConnectivityGraph | None = None,
    beta: float = 1.0,
    optimizers: Sequence[torch.optim.Optimizer] = (),
) -> MaskUpdate:
    """Drop ``fraction`` of each layer's connections and grow as many, keeping the counts exact.

    Args:
        net: a net of masked layers.
        layers: the layers updated.
        fraction: the drop fraction (``zeta`` of SET, RigL's ``f(t)``), in [0, 1].
        drop: ``"magnitude"`` (the ``round(fraction n)`` smallest ``|w|``) or ``"signed"`` (SET).
        grow: ``"random"``, ``"gradient"`` (needs ``gradients``: the dense gradient of each layer)
            or ``"preferential"`` (needs ``graph``; ``P ~ (k_i k_j)^beta``).
        generator: CPU generator of the random draws.
        gradients: layer -> dense gradient, for ``grow="gradient"``.
        graph: the net's traced graph, for ``grow="preferential"``.
        beta: the preferential exponent.
        optimizers: their state at dropped and grown entries is zeroed.

    Returns:
        The dropped and grown entries and the kept counts (unchanged by construction).

    Raises:
        ValueError: an unknown ``drop``/``grow`` or a missing gradient or graph.
    """
    if drop not in DROPS or grow not in GROWS:
        raise ValueError(f"Expected drop in {DROPS} and grow in {GROWS} but got {drop!r}, {grow!r}")
    modules = resolve_layers(net, list(layers))
    before = {name: layer.weight_mask != 0 for name, layer in modules.items()}
    after = {}
    for name, layer in modules.items():
        if drop == "signed":
            after[name] = drop_signed(layer.weight, before[name], fraction)
        else:
            n_drop = int(round(fraction * int(before[name].sum())))
            after[name] = drop_magnitude(layer.weight, before[name], n_drop)
    current = None
    if grow == "preferential":
        if graph is None:
            raise ValueError("Expected the traced `graph` for preferential growth but got None")
        current = {**kept_entries(net, graph), **after}
    grown, dropped, kept = {}, {}, {}
    for name, layer in modules.items():
        n_grow = int(before[name].sum()) - int(after[name].sum())
        free = ~before[name]
        if int(free.sum()) < n_grow:  # a dense layer: the dropped entries may grow back
            free = ~after[name]
        if grow == "random":
            new = grow_random(free, n_grow, generator)
        elif grow == "gradient":
            if gradients is None or name not in gradients:
                raise ValueError(f"Expected the dense gradient of {name!r} for gradient growth")
            new = grow_gradient(gradients[name], free, n_grow)
        else:
            out_degrees, in_degrees = entry_degrees(graph, current, name)
            new = grow_preferential(out_degrees, in_degrees, free, n_grow, beta, generator)
        new = new.to(layer.weight.device)
        dropped[name] = before[name] & ~after[name] & ~new
        grown[name] = new
        layer.set_mask(after[name] | new)
        reset_entries(layer, dropped[name] | new, list(optimizers))
        kept[name] = int((after[name] | new).sum())
    return MaskUpdate(dropped, grown, kept)
