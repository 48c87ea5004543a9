"""Layer-wise magnitude pruning (Han et al. 2015, "Learning both Weights and Connections").

Plain functions on tensors and nets; the Lightning callback
:class:`pl_powerlaw.callbacks.MagnitudePruning` only decides *when* to call them.

Semantics of a fraction: ``fraction`` is the *target* share of a layer's (eligible) weights that are
pruned after the call, so iterative schedules give cumulative targets (0.5 then 0.8). The entries
removed are the currently kept eligible ones of smallest ``|w|``; ties are broken by flat index
(lower index pruned first), so every process computes the same mask from the same weights.
A pruned entry never grows back: a target below the current sparsity prunes nothing.

Selection: the k-th smallest magnitude is found by numpy's introselect (``np.partition``) for CPU
tensors and by ``torch.kthvalue`` on other devices (no copy to the host). ``selection="partition"``
or ``"kthvalue"`` picks one path whatever the device (the tests run both on the CPU); both give
the same mask, because only the threshold value comes from the selection and ties are then broken
by flat index.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

from pl_powerlaw.errors import InputError
from pl_powerlaw.nn.masked import output_layer_names
from pl_powerlaw.nn.recurrent import prunable_weights

Selection = Literal["auto", "partition", "kthvalue"]
SELECTIONS = ("auto", "partition", "kthvalue")


def check_fraction(fraction: float, name: str = "fraction") -> float:
    """Return ``fraction`` as a float if it lies in [0, 1), else raise ``ValueError``."""
    try:
        value = float(fraction)
    except (TypeError, ValueError):
        raise InputError(
            f"Expected `{name}` to be a number in [0, 1) but got {fraction!r}"
        ) from None
    if not 0.0 <= value < 1.0:
        raise InputError(f"Expected `{name}` in [0, 1) but got {fraction!r}")
    return value


def n_to_prune(fraction: float, n_eligible: int) -> int:
    """Number of entries pruned in total when ``fraction`` of ``n_eligible`` entries go."""
    return int(round(check_fraction(fraction) * n_eligible))


@torch.no_grad()
def magnitude_mask(
    weight: Tensor,
    mask: Tensor,
    fraction: float,
    eligible: Tensor | None = None,
    selection: Selection = "auto",
) -> Tensor:
    """Mask that prunes the smallest-magnitude entries until ``fraction`` of the eligible ones are gone.

    Args:
        weight: the layer's weight.
        mask: its current mask (0/1, any dtype); entries already at 0 stay at 0.
        fraction: target pruned share of the eligible entries, in [0, 1).
        eligible: boolean tensor of the entries this call may prune and counts against
            (default: every entry). Continual learning passes "owned by the current task".
        selection: how the k-th smallest magnitude is found: ``"auto"`` (numpy's
            ``np.partition`` on the CPU, ``torch.kthvalue`` elsewhere), ``"partition"`` or
            ``"kthvalue"`` (either on any device; the masks are the same).

    Returns:
        A boolean tensor shaped like ``weight``: True where the entry is kept.

    Raises:
        ValueError: a fraction outside [0, 1), a mask or ``eligible`` of another shape, NaN
            weights among the candidates, or an unknown ``selection``.

    Example:
        >>> w = torch.tensor([0.3, -0.1, 0.2, 0.0])
        >>> magnitude_mask(w, torch.ones(4), 0.5).tolist()
        [True, False, True, False]
    """
    if selection not in SELECTIONS:
        raise ValueError(f"Expected `selection` in {SELECTIONS} but got {selection!r}")
    if mask.shape != weight.shape:
        raise ValueError(
            f"Expected a mask of shape {tuple(weight.shape)} but got {tuple(mask.shape)}"
        )
    kept = mask != 0
    if eligible is None:
        candidates, n_eligible = kept, weight.numel()
    elif eligible.shape != weight.shape:
        raise ValueError(
            f"Expected `eligible` of shape {tuple(weight.shape)} but got {tuple(eligible.shape)}"
        )
    else:
        candidates, n_eligible = eligible & kept, int(torch.count_nonzero(eligible))
    n_candidates = int(torch.count_nonzero(candidates))
    k = n_to_prune(fraction, n_eligible) - (n_eligible - n_candidates)
    if k <= 0:
        return kept.clone()
    # O(n) selection with no gather or scatter of the (up to 10^8) candidates: non-candidates
    # become +inf, a selection finds the k-th smallest magnitude, everything strictly below it
    # goes, and the remaining ties go in ascending flat-index order.
    flat = weight.detach().float().abs().reshape(-1)
    if n_candidates < flat.numel():
        flat.masked_fill_(~candidates.reshape(-1), float("inf"))
    nan = torch.isnan(flat)
    if bool(nan.any()):
        index = int(nan.nonzero()[0, 0])
        raise ValueError(f"Expected finite weights to rank but got NaN at flat index {index}")
    if selection == "auto":  # numpy's introselect: ~3x faster than torch.kthvalue on the CPU
        selection = "partition" if flat.device.type == "cpu" else "kthvalue"
    if selection == "partition":
        threshold = float(np.partition(flat.cpu().numpy(), k - 1)[k - 1])
    else:
        threshold = float(torch.kthvalue(flat, k).values)
    prune = flat < threshold
    n_ties = k - int(torch.count_nonzero(prune))
    if n_ties > 0:
        ties = (flat == threshold).nonzero().squeeze(1)  # ascending flat index order
        prune[ties[:n_ties]] = True
    return kept & ~prune.reshape(weight.shape)


def resolve_layers(net: nn.Module, names: Mapping[str, object] | list[str]) -> dict[str, nn.Module]:
    """Map each name to its prunable weight in ``net``; an unknown name raises ``ValueError``.

    Names are those of :func:`~pl_powerlaw.nn.recurrent.prunable_weights`: a masked layer's
    module name (``fc1``) or a recurrent matrix (``lstm.weight_ih_l0``).
    """
    layers = dict(prunable_weights(net))
    if not layers:
        raise ValueError(
            f"Expected a net with masked layers (MaskedLinear/MaskedConv2d/MaskedLSTM) but "
            f"{type(net).__name__} has none"
        )
    unknown = [name for name in names if name not in layers]
    if unknown:
        raise InputError(f"Unknown layer name(s) {unknown}; expected some of {sorted(layers)}")
    return {name: layers[name] for name in names}


def hidden_layers(net: nn.Module) -> list[str]:
    """The prunable weights of ``net`` that are not output heads, in registration order (masked
    layers by name, recurrent matrices as ``lstm.weight_ih_l0``)."""
    outputs = set(output_layer_names(net))
    return [name for name, _ in prunable_weights(net) if name not in outputs]


def layer_fractions(
    amount: float | Mapping[str, float],
    layers: Sequence[str],
    default: Sequence[str] | None = None,
    name: str = "amount",
) -> dict[str, float]:
    """Per-layer pruned fractions from one ``amount``, the form every pruning schedule takes.

    Args:
        amount: one fraction in [0, 1) for every layer of ``default``, or ``{layer: fraction}``
            (layers not named are not pruned).
        layers: the layers that may be named.
        default: the layers one number applies to (default: ``layers``).
        name: how errors name ``amount``.

    Returns:
        Layer name -> fraction.

    Raises:
        ValueError: a fraction outside [0, 1) or a layer name not in ``layers``.

    Example:
        >>> layer_fractions(0.9, ["fc1", "fc2", "fc3"], default=["fc1", "fc2"])
        {'fc1': 0.9, 'fc2': 0.9}
        >>> layer_fractions({"fc2": 0.5}, ["fc1", "fc2"])
        {'fc2': 0.5}
    """
    if isinstance(amount, Mapping):
        unknown = sorted(set(amount) - set(layers))
        if unknown:
            raise InputError(
                f"Unknown layer name(s) {unknown} in `{name}`; expected some of {sorted(layers)}"
            )
        return {str(k): check_fraction(v, f"{name}[{k}]") for k, v in amount.items()}
    fraction = check_fraction(amount, name)
    return dict.fromkeys(layers if default is None else default, fraction)


@torch.no_grad()
def prune_layers(
    net: nn.Module,
    fractions: Mapping[str, float],
    eligible: Mapping[str, Tensor] | None = None,
    selection: Selection = "auto",
) -> dict[str, int]:
    """Prune each named masked layer of ``net`` by magnitude, layer by layer.

    Args:
        net: a net built from masked layers.
        fractions: layer name -> target pruned fraction of that layer's (eligible) weights.
        eligible: optional layer name -> boolean tensor of prunable entries.
        selection: the selection path of :func:`magnitude_mask` (default: by device).

    Returns:
        Layer name -> number of kept weights after the call.
    """
    layers = resolve_layers(net, list(fractions))
    kept_counts = {}
    for name, layer in layers.items():
        fraction = check_fraction(fractions[name], f"fraction of {name}")
        allowed = None if eligible is None else eligible.get(name)
        try:
            kept = magnitude_mask(layer.weight, layer.weight_mask, fraction, allowed, selection)
        except ValueError as error:  # name the layer (e.g. NaN weights after a divergence)
            raise ValueError(f"Cannot prune layer {name!r}: {error}") from None
        layer.set_mask(kept)
        kept_counts[name] = int(torch.count_nonzero(kept))
    return kept_counts


@torch.no_grad()
def clear_optimizer_state(optimizer: torch.optim.Optimizer, net: nn.Module) -> None:
    """Zero the per-entry optimizer state (momentum, Adam moments, ...) of pruned weights.

    Every state tensor shaped like a masked weight is multiplied by the mask, so a pruned weight,
    whose gradient is exactly zero, is never moved again by momentum or adaptive steps.
    """
    for _, layer in prunable_weights(net):
        state = optimizer.state.get(layer.weight)
        if not state:
            continue
        for value in state.values():
            if torch.is_tensor(value) and value.shape == layer.weight.shape:
                value.mul_(layer.weight_mask.to(value.dtype))


@torch.no_grad()
def random_kept(kept: Mapping[str, Tensor], generator: torch.Generator) -> dict[str, Tensor]:
    """Random pruning with the same kept count per layer: the null model of magnitude pruning.

    Args:
        kept: ``{layer: weight-shaped tensor}`` of the kept entries (non-zero = kept).
        generator: a CPU generator; the draws depend only on its state and the shapes and counts.

    Returns:
        ``{layer: bool tensor}`` with exactly as many True entries per layer as ``kept``, at
        positions drawn uniformly at random without replacement, on ``kept``'s devices.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> mask = random_kept({"fc": torch.tensor([[1, 0, 0], [1, 1, 0]])}, g)["fc"]
        >>> int(mask.sum()), mask.shape
        (3, torch.Size([2, 3]))
    """
    out = {}
    for name, entries in kept.items():
        n, k = entries.numel(), int(torch.count_nonzero(entries))
        chosen = torch.randperm(n, generator=generator)[:k]
        mask = torch.zeros(n, dtype=torch.bool)
        mask[chosen] = True
        out[name] = mask.reshape(entries.shape).to(entries.device)
    return out
