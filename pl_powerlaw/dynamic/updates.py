"""Drop and grow on weight masks: the prune-and-regrow step of dynamic sparse training (torch only).

One update of a layer is ``drop`` then ``grow``: the dropped entries leave the mask, as many new
entries join it, so the kept count is exact after every update. New entries are chosen among the
entries that were free *before* the update (a just-dropped connection is not regrown at once), and
start with weight 0 and zero optimizer state (:func:`reset_entries`).

* drop by magnitude (RigL, gradual pruning): :func:`pl_powerlaw.pruning.magnitude_mask` (ties by
  flat index);
* drop by sign (SET, Mocanu et al. 2018): :func:`drop_signed`, the fraction ``zeta`` of the
  smallest positive and of the largest negative weights;
* grow at random (SET): :func:`grow_random`; by gradient magnitude (RigL, Evci et al. 2020):
  :func:`grow_gradient`; preferentially, ``P(i, j) ~ (k_i k_j)^beta`` at the current degrees:
  :func:`grow_preferential` (``beta = 0`` is SET's uniform regrowth).

Every random draw comes from an explicit CPU ``torch.Generator``, so processes seeded alike (DDP
ranks) draw the same masks, and a checkpoint of the generator resumes the same stream.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from pl_powerlaw.errors import InputError
from pl_powerlaw.pruning import magnitude_mask


def _flat_choice(candidates: Tensor, n: int) -> Tensor:
    if n < 0 or n > int(candidates.numel()):
        raise ValueError(f"Expected to choose 0..{int(candidates.numel())} entries but got {n}")
    return candidates


@torch.no_grad()
def random_mask(shape: tuple[int, ...], n_kept: int, generator: torch.Generator) -> Tensor:
    """A boolean mask of ``shape`` with exactly ``n_kept`` True entries, uniformly at random.

    Example:
        >>> int(random_mask((4, 5), 7, torch.Generator().manual_seed(0)).sum())
        7
    """
    n = 1
    for size in shape:
        n *= int(size)
    if not 0 <= n_kept <= n:
        raise ValueError(f"Expected 0 <= n_kept <= {n} but got {n_kept}")
    mask = torch.zeros(n, dtype=torch.bool)
    mask[torch.randperm(n, generator=generator)[:n_kept]] = True
    return mask.reshape(shape)


@torch.no_grad()
def drop_magnitude(weight: Tensor, kept: Tensor, n_drop: int) -> Tensor:
    """``kept`` without its ``n_drop`` entries of smallest ``|w|`` (ties: lower flat index first).

    Example:
        >>> w = torch.tensor([0.5, -0.1, 0.3, 0.2])
        >>> drop_magnitude(w, torch.ones(4, dtype=torch.bool), 2).tolist()
        [True, False, True, False]
    """
    n_kept = int(kept.sum())
    if not 0 <= n_drop <= n_kept:
        raise ValueError(f"Expected 0 <= n_drop <= {n_kept} (kept entries) but got {n_drop}")
    if n_drop == 0:
        return kept.clone()
    if n_drop == n_kept:
        return torch.zeros_like(kept)
    # magnitude_mask prunes round(fraction * n_eligible) of the eligible (= kept) entries
    return magnitude_mask(weight, kept, n_drop / n_kept, eligible=kept)


@torch.no_grad()
def drop_signed(weight: Tensor, kept: Tensor, zeta: float) -> Tensor:
    """SET's drop: the ``zeta`` fraction of the smallest positive and of the largest negative weights.

    Of the kept entries with ``w > 0`` the ``round(zeta n_pos)`` smallest go, of those with
    ``w < 0`` the ``round(zeta n_neg)`` closest to zero (Mocanu et al. 2018, Methods); kept entries
    that are exactly 0 (grown and never updated) lie between both and go too.

    Example:
        >>> w = torch.tensor([0.5, 0.1, -0.2, -0.9])
        >>> drop_signed(w, torch.ones(4, dtype=torch.bool), 0.5).tolist()
        [True, False, False, True]
    """
    if not 0.0 <= zeta <= 1.0:
        raise ValueError(f"Expected `zeta` in [0, 1] but got {zeta}")
    out = kept & (weight != 0)
    for eligible in (kept & (weight > 0), kept & (weight < 0)):
        n = int(eligible.sum())
        k = int(round(zeta * n))
        if k == 0:
            continue
        if k == n:
            out &= ~eligible
            continue
        out &= magnitude_mask(weight, eligible, zeta, eligible=eligible) | ~eligible
    return out


@torch.no_grad()
def grow_random(free: Tensor, n_grow: int, generator: torch.Generator) -> Tensor:
    """``n_grow`` of the ``free`` entries, uniformly without replacement (SET's regrowth)."""
    index = _flat_choice(free.reshape(-1).nonzero().squeeze(1), n_grow)
    grown = torch.zeros(free.numel(), dtype=torch.bool)
    grown[index[torch.randperm(index.numel(), generator=generator)[:n_grow]]] = True
    return grown.reshape(free.shape).to(free.device)


@torch.no_grad()
def grow_gradient(gradient: Tensor, free: Tensor, n_grow: int) -> Tensor:
    """The ``n_grow`` free entries of largest ``|gradient|`` (RigL's growth; ties: lower flat index).

    Example:
        >>> g = torch.tensor([0.1, -0.9, 0.4, 0.9])
        >>> grow_gradient(g, torch.tensor([True, True, True, False]), 2).tolist()
        [False, True, True, False]
    """
    flat_free = free.reshape(-1)
    index = _flat_choice(flat_free.nonzero().squeeze(1), n_grow)
    score = gradient.detach().reshape(-1)[index].abs().float()
    if bool(torch.isnan(score).any()):
        raise ValueError("Expected finite gradients to rank but got NaN")
    grown = torch.zeros_like(flat_free)
    if n_grow == 0:
        return grown.reshape(free.shape)
    # the n-th largest score by a partial selection, then the ties at it in flat-index order
    threshold = torch.topk(score, n_grow, sorted=False).values.min()
    above = score > threshold
    ties = (score == threshold).nonzero().squeeze(1)[: n_grow - int(above.sum())]
    above[ties] = True
    grown[index[above]] = True
    return grown.reshape(free.shape)


def attachment_weights(out_degrees: Tensor, in_degrees: Tensor, beta: float) -> Tensor:
    """``(k_i k_j)^beta`` for every entry ``(i, j)`` of an ``(out, in)`` weight (``0^0 = 1``)."""
    kk = out_degrees.double().reshape(-1, 1) * in_degrees.double().reshape(1, -1)
    return kk.pow(beta)


@torch.no_grad()
def grow_preferential(
    out_degrees: Tensor,
    in_degrees: Tensor,
    free: Tensor,
    n_grow: int,
    beta: float,
    generator: torch.Generator,
) -> Tensor:
    """``n_grow`` free entries drawn in turn with probability ``~ (k_i k_j)^beta`` among those left.

    ``k_i`` is the degree of output node ``i`` and ``k_j`` that of input node ``j`` at the current
    mask (the paper's internal preferential attachment put to work, Sec. 4: ``Pi(k, k') ~ k k'``
    for ``beta = 1``). ``beta = 0`` gives every free entry the same weight: SET's regrowth. Draws
    without replacement (``torch.multinomial``): each new entry is drawn with probability
    proportional to its weight among the free entries not drawn yet. Entries of weight 0 (a node
    of degree 0 when ``beta > 0``) are drawn only once no other entry is left.

    Args:
        out_degrees: ``(n_out,)`` degrees of the layer's output nodes.
        in_degrees: ``(n_in,)`` degrees of its input nodes.
        free: ``(n_out, n_in)`` boolean, the entries that may grow.
        n_grow: how many grow.
        beta: the exponent, >= 0.
        generator: CPU generator of the draws.

    Returns:
        A boolean tensor like ``free``, True at the grown entries.
    """
    if free.dim() != 2 or free.shape != (out_degrees.numel(), in_degrees.numel()):
        raise ValueError(
            f"Expected `free` of shape {(out_degrees.numel(), in_degrees.numel())} but got "
            f"{tuple(free.shape)}"
        )
    flat_free = free.reshape(-1).cpu()
    index = _flat_choice(flat_free.nonzero().squeeze(1), n_grow)
    grown = torch.zeros_like(flat_free)
    if n_grow == 0:
        return grown.reshape(free.shape).to(free.device)
    weights = attachment_weights(out_degrees.cpu(), in_degrees.cpu(), beta).reshape(-1)[index]
    positive = int((weights > 0).sum())
    if positive >= n_grow:
        chosen = torch.multinomial(weights, n_grow, replacement=False, generator=generator)
    else:  # every entry of positive weight, then the rest uniformly
        first = (weights > 0).nonzero().squeeze(1)
        rest = (weights <= 0).nonzero().squeeze(1)
        pick = torch.randperm(rest.numel(), generator=generator)[: n_grow - positive]
        chosen = torch.cat([first, rest[pick]])
    grown[index[chosen]] = True
    return grown.reshape(free.shape).to(free.device)


@torch.no_grad()
def reset_entries(layer: nn.Module, entries: Tensor, optimizers: list) -> None:
    """Zero ``layer.weight`` and every weight-shaped optimizer state (momentum, Adam moments) at ``entries``."""
    keep = (~entries).to(layer.weight.dtype)
    layer.weight.mul_(keep)
    for optimizer in optimizers:
        state = optimizer.state.get(layer.weight)
        for value in (state or {}).values():
            if torch.is_tensor(value) and value.shape == layer.weight.shape:
                value.mul_(keep.to(value.dtype))


def check_beta(beta: float) -> float:
    """Return ``beta`` as a float if it is a number >= 0, else an InputError."""
    if isinstance(beta, bool) or not isinstance(beta, int | float) or not beta >= 0:
        raise InputError(f"Expected `beta` to be a number >= 0 but got {beta!r}")
    return float(beta)
