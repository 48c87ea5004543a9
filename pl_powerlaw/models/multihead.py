"""Multi-head MLP for continual learning (paper Sec. 4); :class:`MultiTaskClassifier` trains it.

The trunk is the paper's MLP without its output layer (784-1024-1024, ReLU, dropout 0.2 on the
input and 0.5 on the hidden layers, Glorot-uniform weights and zero biases as in Lasagne's
``mnist.py``), built from :class:`TaskMaskedLinear` layers that carry a ``weight_owner`` buffer next
to their ``weight_mask`` (see :mod:`pl_powerlaw.continual`). Each task has its own plain
``nn.Linear`` head (10 classes); heads are never pruned and are not node layers, so the
connectivity chain is input -> fc1 -> fc2.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from pl_powerlaw.models.common import check_num_tasks
from pl_powerlaw.nn.task_masked import TaskMaskedLinear


class MultiHeadMLP(nn.Module):
    """Shared masked trunk with one linear head per task.

    Args:
        num_tasks: number of heads.
        hidden: widths of the hidden layers (``fc1``, ``fc2``, ...).
        num_classes: classes per task.
        input_shape: shape ``(C, H, W)`` of one input (MNIST's by default); the trunk's first
            layer takes ``C * H * W`` features.
        in_dropout: dropout on the input.
        hidden_dropout: dropout after each hidden layer.

    Example:
        >>> net = MultiHeadMLP(num_tasks=2, hidden=(32, 16))
        >>> net(torch.zeros(5, 1, 28, 28), task=1).shape
        torch.Size([5, 10])
    """

    input_shape: tuple[int, int, int] = (1, 28, 28)
    output_layers: tuple[str, ...] = ()  # the heads are plain nn.Linear, never node layers

    def __init__(
        self,
        num_tasks: int = 2,
        hidden: Sequence[int] = (1024, 1024),
        num_classes: int = 10,
        input_shape: Sequence[int] = (1, 28, 28),
        in_dropout: float = 0.2,
        hidden_dropout: float = 0.5,
    ) -> None:
        super().__init__()
        check_num_tasks(num_tasks)
        if not hidden or any(int(width) < 1 for width in hidden):
            raise ValueError(f"Expected `hidden` to be positive widths but got {hidden!r}")
        if num_classes < 2:
            raise ValueError(f"Expected `num_classes` >= 2 but got {num_classes}")
        for name, p in (("in_dropout", in_dropout), ("hidden_dropout", hidden_dropout)):
            if not 0.0 <= p < 1.0:
                raise ValueError(f"Expected `{name}` in [0, 1) but got {p}")
        if len(input_shape) != 3 or any(int(n) < 1 for n in input_shape):
            raise ValueError(
                f"Expected `input_shape` to be three positive ints (C, H, W) but got {input_shape!r}"
            )
        if tuple(input_shape) != type(self).input_shape:
            self.input_shape = tuple(int(n) for n in input_shape)
        self.num_tasks = num_tasks
        self.num_classes = num_classes
        in_features = int(torch.Size(self.input_shape).numel())
        widths = [in_features, *[int(width) for width in hidden]]
        self.trunk_names = tuple(f"fc{i + 1}" for i in range(len(hidden)))
        for name, (n_in, n_out) in zip(
            self.trunk_names, zip(widths, widths[1:], strict=False), strict=True
        ):
            self.add_module(name, TaskMaskedLinear(n_in, n_out))
        self.in_dropout = nn.Dropout(in_dropout)
        self.hidden_dropout = nn.Dropout(hidden_dropout)
        self.heads = nn.ModuleList(nn.Linear(widths[-1], num_classes) for _ in range(num_tasks))
        self.reset_parameters()

    @staticmethod
    def init_weight(weight: Tensor) -> Tensor:
        """The weight initialiser (Glorot uniform, Lasagne's default), also used for re-initialising."""
        return nn.init.xavier_uniform_(weight)

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Glorot-uniform weights and zero biases for the trunk and the heads."""
        for layer in [*self.trunk(), *self.heads]:
            self.init_weight(layer.weight)
            nn.init.zeros_(layer.bias)

    def trunk(self) -> list[TaskMaskedLinear]:
        """The shared hidden layers in order."""
        return [getattr(self, name) for name in self.trunk_names]

    def forward(self, x: Tensor, task: int = 0) -> Tensor:
        """Logits of head ``task`` computed with the trunk entries owned by tasks ``<= task``."""
        if not 0 <= task < self.num_tasks:
            raise ValueError(f"Expected `task` in [0, {self.num_tasks}) but got {task}")
        x = self.in_dropout(x.flatten(1))  # (B, 784)
        for layer in self.trunk():
            x = self.hidden_dropout(torch.relu(layer(x, task)))  # (B, width)
        return self.heads[task](x)  # (B, num_classes)
