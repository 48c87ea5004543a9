"""A recurrent classifier of sequences: an RNN/LSTM/GRU followed by a linear head.

For sequential MNIST by rows (``MNISTDataModule(layout="rows")``): each 28x28 image is 28 time
steps of 28 pixels, the head reads the last step's hidden state. The 128-unit LSTM over 28 rows
is the set-up of the widely used row-by-row MNIST examples (TensorFlow-Examples'
``recurrent_network`` by A. Damien: 28 steps of 28 inputs, 128 hidden units, Adam with learning
rate 0.001); see ``docs/recurrent.md``. Weights keep PyTorch's default initialisation
(uniform in ``±1/sqrt(hidden)``).

:class:`MultiHeadRecurrentNet` is the continual-learning variant (paper Sec. 4): a task-owned
recurrent trunk and one head per task, trained by
:class:`~pl_powerlaw.models.multitask.MultiTaskClassifier`.
"""

from __future__ import annotations

import math
from typing import Any

from torch import Tensor, nn

from pl_powerlaw.errors import InputError
from pl_powerlaw.models.common import check_num_classes, check_num_tasks
from pl_powerlaw.nn.masked import MaskedLinear
from pl_powerlaw.nn.recurrent import (
    MaskedGRU,
    MaskedLSTM,
    MaskedRNN,
    TaskMaskedGRU,
    TaskMaskedLSTM,
    TaskMaskedRNN,
)

CELLS: dict[str, tuple[type[nn.Module], type[nn.Module]]] = {
    "rnn": (nn.RNN, MaskedRNN),
    "lstm": (nn.LSTM, MaskedLSTM),
    "gru": (nn.GRU, MaskedGRU),
}


def check_recurrent_args(
    cell: str, cells: dict, hidden: int, num_layers: int, input_shape: Any
) -> tuple[int, int]:
    """The checked ``input_shape`` of a recurrent net; an ``InputError`` for a bad argument."""
    if cell not in cells:
        raise InputError(f"Expected `cell` in {sorted(cells)} but got {cell!r}")
    for name, value in (("hidden", hidden), ("num_layers", num_layers)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"Expected `{name}` to be a positive int but got {value!r}")
    shape = tuple(input_shape)
    if len(shape) != 2 or not all(isinstance(s, int) and s > 0 for s in shape):
        raise InputError(
            f"Expected `input_shape` to be (steps, features), positive ints, but got "
            f"{input_shape!r}"
        )
    return shape  # type: ignore[return-value]


class RecurrentNet(nn.Module):
    """``(B, T, features)`` -> a stacked RNN/LSTM/GRU (``batch_first``) -> ``head`` on the last
    step's output.

    The recurrent module is called ``rnn`` whatever its cell (its matrices are ``rnn.weight_ih_l0``,
    ``rnn.weight_hh_l0``, ...; its node layers ``rnn.l0``, ``rnn.l1``, ...); the head is the
    output layer (not pruned by default, not a node layer).

    Args:
        cell: ``"lstm"``, ``"gru"`` or ``"rnn"`` (tanh).
        hidden: units per recurrent layer.
        num_layers: stacked recurrent layers.
        num_classes: outputs of the head.
        input_shape: ``(T, features)`` of one sample (``(28, 28)`` for MNIST by rows).
        masked: masked modules (our pruning); False builds plain ``nn`` modules.

    Example:
        >>> import torch
        >>> RecurrentNet(hidden=8)(torch.zeros(2, 28, 28)).shape
        torch.Size([2, 10])
    """

    output_layers: tuple[str, ...] = ("head",)

    def __init__(
        self,
        cell: str = "lstm",
        hidden: int = 128,
        num_layers: int = 1,
        num_classes: int = 10,
        input_shape: tuple[int, int] | list[int] = (28, 28),
        masked: bool = True,
    ) -> None:
        super().__init__()
        shape = check_recurrent_args(cell, CELLS, hidden, num_layers, input_shape)
        self.input_shape = shape
        self.cell = cell
        plain, masked_type = CELLS[cell]
        self.rnn = (masked_type if masked else plain)(
            shape[1], hidden, num_layers=num_layers, batch_first=True
        )
        self.head = (MaskedLinear if masked else nn.Linear)(hidden, check_num_classes(num_classes))

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 3:
            raise InputError(
                f"Expected sequences (B, T, features) but got a tensor of shape {tuple(x.shape)} "
                "(for MNIST use MNISTDataModule(layout='rows'))"
            )
        out, _ = self.rnn(x)  # (B, T, hidden)
        return self.head(out[:, -1])  # (B, num_classes)


TASK_CELLS: dict[str, type[nn.Module]] = {
    "rnn": TaskMaskedRNN,
    "lstm": TaskMaskedLSTM,
    "gru": TaskMaskedGRU,
}


class MultiHeadRecurrentNet(nn.Module):
    """A task-owned recurrent trunk with one linear head per task (continual learning, paper Sec. 4).

    The recurrent analogue of :class:`~pl_powerlaw.models.multihead.MultiHeadMLP`: the trunk ``rnn``
    is a :class:`~pl_powerlaw.nn.recurrent.TaskMaskedLSTM` (or RNN/GRU) whose matrices
    ``rnn.weight_ih_l{k}``/``rnn.weight_hh_l{k}`` carry owner buffers next to their masks (see
    :mod:`pl_powerlaw.continual`); each task has its own plain ``nn.Linear`` head on the last
    step's hidden state (never pruned, not a node layer: the node layers are ``input`` and
    ``rnn.l0``, ``rnn.l1``, ...). Weights keep PyTorch's default initialisation (uniform in
    ``±1/sqrt(hidden)``), which :meth:`init_weight` also draws for re-initialising.

    Input: sequences ``(B, T, features)``, or single-channel images ``(B, 1, T, features)`` read
    one row per step (what :class:`~pl_powerlaw.data.PermutedMNISTDataModule` serves in its
    image layout: row ``t`` of the permuted image is step ``t``).

    Args:
        num_tasks: number of heads.
        cell: ``"lstm"``, ``"gru"`` or ``"rnn"`` (tanh).
        hidden: units per recurrent layer.
        num_layers: stacked recurrent layers.
        num_classes: classes per task.
        input_shape: ``(T, features)`` of one sequence (``(28, 28)`` for MNIST by rows).

    Example:
        >>> import torch
        >>> net = MultiHeadRecurrentNet(num_tasks=2, hidden=8)
        >>> net(torch.zeros(3, 28, 28), task=1).shape, net(torch.zeros(3, 1, 28, 28)).shape
        (torch.Size([3, 10]), torch.Size([3, 10]))
    """

    output_layers: tuple[str, ...] = ()  # the heads are plain nn.Linear, never node layers

    def __init__(
        self,
        num_tasks: int = 2,
        cell: str = "lstm",
        hidden: int = 128,
        num_layers: int = 1,
        num_classes: int = 10,
        input_shape: tuple[int, int] | list[int] = (28, 28),
    ) -> None:
        super().__init__()
        check_num_tasks(num_tasks)
        shape = check_recurrent_args(cell, TASK_CELLS, hidden, num_layers, input_shape)
        self.input_shape = shape
        self.cell = cell
        self.num_tasks = num_tasks
        self.num_classes = check_num_classes(num_classes)
        self.hidden = hidden
        self.rnn = TASK_CELLS[cell](shape[1], hidden, num_layers=num_layers, batch_first=True)
        self.heads = nn.ModuleList(nn.Linear(hidden, self.num_classes) for _ in range(num_tasks))

    def init_weight(self, weight: Tensor) -> Tensor:
        """PyTorch's initialisation of recurrent weights, uniform in ``±1/sqrt(hidden)`` (in place);
        :class:`~pl_powerlaw.callbacks.TaskFreezing` re-initialises the free entries with it."""
        bound = 1.0 / math.sqrt(self.hidden)
        return nn.init.uniform_(weight, -bound, bound)

    def forward(self, x: Tensor, task: int = 0) -> Tensor:
        """Logits of head ``task`` computed with the recurrent entries owned by tasks ``<= task``."""
        if isinstance(task, bool) or not isinstance(task, int) or not 0 <= task < self.num_tasks:
            raise InputError(f"Expected `task` in [0, {self.num_tasks}) but got {task!r}")
        if x.ndim == 4 and x.shape[1] == 1:
            x = x[:, 0]  # (B, 1, T, F) images read by rows -> (B, T, F)
        if x.ndim != 3:
            raise InputError(
                f"Expected sequences (B, T, features) or images (B, 1, T, features) but got a "
                f"tensor of shape {tuple(x.shape)}"
            )
        out, _ = self.rnn(x, None, task)  # (B, T, hidden)
        return self.heads[task](out[:, -1])  # (B, num_classes)
