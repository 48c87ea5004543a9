"""Weight ownership for continual learning by pruning and freezing (PackNet; paper Sec. 4, Fig. 6).

Plain functions on nets and optimizers, no Lightning. The masked layers of a net's shared trunk
carry, next to their ``weight_mask``, a ``weight_owner`` buffer (int8, registered at construction
so checkpoints have the same keys in every phase; int8 because DDP broadcasts buffers and neither
gloo nor NCCL carries int16): ``-1`` marks a free entry, ``t`` an entry owned
by task ``t``. The matrices of a task-owned recurrent module (``weight_ih_l0``, ``weight_hh_l0``,
...) carry ``weight_ih_l0_owner``, ... in the same way and are handled as layers of their own
(:func:`owned_layers`). One mask mechanism serves every task: pruning is
:func:`pl_powerlaw.pruning.prune_layers` restricted to the current task's entries.

The life of task ``t``:

1. :func:`claim_free_weights`: every free entry is re-initialised (for ``t > 0``), unmasked and
   owned by ``t``; the optimizer state is cleared (:func:`reset_optimizer_state`).
2. Train. After every optimizer step :func:`restore_frozen` puts back the entries owned by earlier
   tasks, the shared parameters other than the trunk weights (biases; they belong to task 0) and
   the other tasks' heads, exactly as they were (:func:`freeze_plan` takes the snapshot; a
   recurrent module's biases are shared parameters too). Masking the gradient is not enough:
   weight decay and momentum would still move them.
3. :func:`prune_task`: magnitude-prune a fraction of the entries owned by ``t``; the pruned ones
   go back to free.
4. Retrain, still restoring after every step.

Evaluating task ``t`` uses the entries owned by tasks ``<= t`` (:func:`task_weight`) and head ``t``,
so later tasks never change an earlier task's outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from pl_powerlaw.nn.recurrent import RecurrentMatrix, prunable_weights
from pl_powerlaw.nn.task_masked import (
    FREE,
    MAX_TASKS,
    OWNER_BUFFER,
    OWNER_DTYPE,
    register_owner_buffer,
    task_weight,
    usable_entries,
)
from pl_powerlaw.pruning import prune_layers

InitFn = Callable[[Tensor], object]
__all__ = [
    "FREE",
    "MAX_TASKS",
    "OWNER_BUFFER",
    "OWNER_DTYPE",
    "register_owner_buffer",
    "task_weight",
    "usable_entries",
]


def owned_layers(net: nn.Module) -> dict[str, nn.Module | RecurrentMatrix]:
    """The prunable weights of ``net`` that carry an owner buffer, by qualified name.

    Masked layers by module name (``fc1``) and the matrices of task-owned recurrent modules
    (``rnn.weight_ih_l0``, a :class:`~pl_powerlaw.nn.recurrent.RecurrentMatrix` whose
    ``weight_owner`` is the module's ``weight_ih_l0_owner`` buffer): every function of this module
    treats the two alike.

    Raises:
        ValueError: if ``net`` has none.
    """
    layers = {name: m for name, m in prunable_weights(net) if hasattr(m, OWNER_BUFFER)}
    if not layers:
        raise ValueError(
            f"Expected a net whose masked layers carry a `{OWNER_BUFFER}` buffer but "
            f"{type(net).__name__} has none"
        )
    return layers


def check_task(task: int, name: str = "task") -> int:
    """Return ``task`` if it is an int >= 0, else raise ``ValueError``."""
    if isinstance(task, bool) or not isinstance(task, int) or task < 0:
        raise ValueError(f"Expected `{name}` to be an int >= 0 but got {task!r}")
    return task


@torch.no_grad()
def task_kept(net: nn.Module, task: int, only: bool = False) -> dict[str, Tensor]:
    """Connections owned by tasks ``0..task`` (or by ``task`` alone with ``only``), per owned layer."""
    check_task(task)
    kept = {}
    for name, layer in owned_layers(net).items():
        owner = getattr(layer, OWNER_BUFFER)
        owned = owner == task if only else (owner >= 0) & (owner <= task)
        kept[name] = layer.kept() & owned
    return kept


@torch.no_grad()
def claim_free_weights(
    net: nn.Module, task: int, init: InitFn | None = None, seed: int | None = None
) -> dict[str, int]:
    """Hand every free entry to ``task``: re-initialise it (if ``init``), unmask it, own it.

    Args:
        net: a net whose trunk layers carry owner buffers.
        task: the task that starts.
        init: in-place initialiser applied to a fresh tensor shaped like each weight (e.g.
            ``nn.init.xavier_uniform_``); its values are copied into the free entries only.
            None keeps the current values (task 0 starts from the net's own initialisation).
        seed: seed of the re-initialisation (drawn on the CPU from a forked generator, so the
            values do not depend on the device or on the global random state, and a resumed run
            draws the same ones); None draws from the global CPU generator.

    Returns:
        Layer name -> number of entries claimed.
    """
    check_task(task)
    claimed = {}
    with torch.random.fork_rng(devices=[], enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        fresh = {}
        if init is not None:
            for name, layer in owned_layers(net).items():
                fresh[name] = torch.empty(layer.weight.shape, dtype=layer.weight.dtype)
                init(fresh[name])
    for name, layer in owned_layers(net).items():
        owner = getattr(layer, OWNER_BUFFER)
        free = owner == FREE
        if init is not None:
            values = fresh[name].to(layer.weight.device)
            layer.weight.copy_(torch.where(free, values, layer.weight))
        layer.weight_mask.masked_fill_(free, 1)
        owner.masked_fill_(free, task)
        claimed[name] = int(free.sum())
    return claimed


@torch.no_grad()
def prune_task(net: nn.Module, task: int, fractions: Mapping[str, float]) -> dict[str, int]:
    """Magnitude-prune ``fractions`` of the entries owned by ``task``; the pruned entries become free.

    Entries of other tasks are neither pruned nor counted (``eligible`` of
    :func:`pl_powerlaw.pruning.prune_layers`).

    Returns:
        Layer name -> number of entries ``task`` keeps.
    """
    check_task(task)
    layers = owned_layers(net)
    unknown = sorted(set(fractions) - set(layers))
    if unknown:
        raise ValueError(f"Unknown layer name(s) {unknown}; expected some of {sorted(layers)}")
    eligible = {name: getattr(layers[name], OWNER_BUFFER) == task for name in fractions}
    prune_layers(net, fractions, eligible=eligible)
    kept = {}
    for name in fractions:
        layer = layers[name]
        owner = getattr(layer, OWNER_BUFFER)
        owner.masked_fill_((owner == task) & (layer.weight_mask == 0), FREE)
        kept[name] = int((owner == task).sum())
    return kept


def head_of(net: nn.Module, task: int) -> nn.Module | None:
    """Head ``task`` of a multi-head net (``net.heads[task]``), or None for a single-head net."""
    heads = getattr(net, "heads", None)
    return None if heads is None else heads[task]


@dataclass
class FrozenParameter:
    """One parameter to restore after each step: ``where(frozen, snapshot, p) * zero_mask``."""

    param: nn.Parameter
    snapshot: Tensor | None  # None: nothing frozen, only the mask is enforced
    frozen: Tensor | None  # None with a snapshot: the whole parameter is frozen
    zero_mask: Tensor | None  # the layer's live weight_mask: pruned entries stay exactly 0


@dataclass
class FreezePlan:
    """What :func:`restore_frozen` puts back after every optimizer step of task ``task``."""

    task: int
    entries: list[FrozenParameter]

    def n_frozen(self) -> int:
        """Number of scalar parameters held fixed."""
        total = 0
        for entry in self.entries:
            if entry.snapshot is not None:
                total += entry.param.numel() if entry.frozen is None else int(entry.frozen.sum())
        return total


@torch.no_grad()
def freeze_plan(net: nn.Module, task: int) -> FreezePlan:
    """Snapshot what training task ``task`` must not change.

    Frozen: trunk entries owned by tasks ``< task``; for ``task > 0`` every other shared parameter
    (the trunk biases, which belong to task 0 as in PackNet); every head but head ``task``.
    """
    check_task(task)
    layers = owned_layers(net)
    weights = {id(layer.weight): layer for layer in layers.values()}
    head = head_of(net, task)
    current_head = set() if head is None else {id(p) for p in head.parameters()}
    heads = getattr(net, "heads", None)
    all_heads = set() if heads is None else {id(p) for p in heads.parameters()}
    entries = []
    for param in net.parameters():
        layer = weights.get(id(param))
        if layer is not None:
            owner = getattr(layer, OWNER_BUFFER)
            frozen = (owner >= 0) & (owner < task)
            snapshot = param.detach().clone() if bool(frozen.any()) else None
            entries.append(
                FrozenParameter(
                    param, snapshot, frozen if snapshot is not None else None, layer.weight_mask
                )
            )
        elif id(param) in current_head:
            continue
        elif id(param) in all_heads or task > 0:
            entries.append(FrozenParameter(param, param.detach().clone(), None, None))
    return FreezePlan(task, entries)


@torch.no_grad()
def restore_frozen(plan: FreezePlan) -> None:
    """Put every frozen value back bit for bit and re-zero pruned entries (after a step)."""
    for entry in plan.entries:
        param = entry.param
        if entry.snapshot is not None:
            if entry.frozen is None:
                param.copy_(entry.snapshot)
            else:
                param.copy_(torch.where(entry.frozen, entry.snapshot, param))
        if entry.zero_mask is not None:
            param.mul_(entry.zero_mask)


def reset_optimizer_state(optimizers: Iterable[torch.optim.Optimizer]) -> None:
    """Forget every per-parameter state (momentum buffers, Adam moments and step counts)."""
    for optimizer in optimizers:
        optimizer.state.clear()


def ownership_counts(net: nn.Module, num_tasks: int) -> dict[str, dict[str, int]]:
    """Per owned layer: how many entries are free and owned by each task (plain ints)."""
    counts = {}
    for name, layer in owned_layers(net).items():
        owner = getattr(layer, OWNER_BUFFER)
        row = {"free": int((owner == FREE).sum())}
        row.update({f"task{t}": int((owner == t).sum()) for t in range(num_tasks)})
        counts[name] = row
    return counts
