"""A masked linear layer whose entries are owned by tasks (continual learning, paper Sec. 4).

Next to its ``weight_mask`` the layer carries a ``weight_owner`` buffer (int8, registered at
construction so checkpoints have the same keys in every phase; int8 because DDP broadcasts buffers
and neither gloo nor NCCL carries int16): ``-1`` marks a free entry, ``t`` an entry owned by task
``t``. The ownership schedule itself is in :mod:`pl_powerlaw.continual`. The task-owned recurrent
modules (:class:`~pl_powerlaw.nn.recurrent.TaskMaskedLSTM`, ...) carry one such buffer per matrix;
:func:`usable_entries` and :func:`task_weight` read a
:class:`~pl_powerlaw.nn.recurrent.RecurrentMatrix` of them like a layer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pl_powerlaw.nn.masked import MaskedLinear

OWNER_BUFFER = "weight_owner"
OWNER_DTYPE = torch.int8
FREE = -1
MAX_TASKS = torch.iinfo(OWNER_DTYPE).max + 1  # owners 0..127


def register_owner_buffer(layer: nn.Module) -> None:
    """Give a masked layer a ``weight_owner`` buffer (int8, all free) shaped like its weight."""
    layer.register_buffer(
        OWNER_BUFFER,
        torch.full(layer.weight.shape, FREE, dtype=OWNER_DTYPE, device=layer.weight.device),
    )


def usable_entries(layer: nn.Module, task: int | None) -> Tensor:
    """Boolean tensor of the entries that task ``task`` computes with (all kept ones if None).

    An entry is usable when its mask is set and it is not owned by a later task (free entries at
    mask 1 are the dense net before any task claimed them).
    """
    usable = layer.weight_mask != 0
    if task is not None:
        usable = usable & (getattr(layer, OWNER_BUFFER) <= task)
    return usable


def task_weight(layer: nn.Module, task: int | None) -> Tensor:
    """The effective weight of ``layer`` for task ``task``: its usable entries, exact zeros elsewhere."""
    return torch.where(usable_entries(layer, task), layer.weight, torch.zeros_like(layer.weight))


class TaskMaskedLinear(MaskedLinear):
    """A :class:`MaskedLinear` whose entries are owned by tasks (``weight_owner`` buffer, int8).

    ``forward(x, task)`` computes with the entries usable by ``task`` (mask set, not owned by a
    later task); ``task=None`` uses every kept entry, like :class:`MaskedLinear`.

    Example:
        >>> layer = TaskMaskedLinear(4, 3)
        >>> layer.weight_owner.unique().tolist()
        [-1]
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        register_owner_buffer(self)

    def forward(self, x: Tensor, task: int | None = None) -> Tensor:
        if task is None:
            return super().forward(x)
        return F.linear(x, task_weight(self, task), self.bias)
