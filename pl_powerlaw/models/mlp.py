"""The paper's multilayer perceptron for MNIST (Hou & Kwok 2018, Section 3.1).

Architecture of Lasagne's ``examples/mnist.py`` ``build_mlp`` with 1024 units per hidden layer, as
the paper uses: dropout 0.2 on the input, two dense ReLU layers each followed by dropout 0.5, and a
dense output layer. Weights are Glorot-uniform and biases zero, as in Lasagne
(:func:`~pl_powerlaw.models.common.init_glorot`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise

from torch import Tensor, nn

from pl_powerlaw.models.common import check_num_classes, check_probability, init_glorot
from pl_powerlaw.nn.masked import MaskedLinear


class MLP(nn.Module):
    """784 -> 1024 -> 1024 -> 10 perceptron with ReLU and dropout (Lasagne's ``build_mlp``).

    Layers are named ``fc1``, ``fc2``, ... in order; the last one is the output head.

    Args:
        hidden: units of each hidden layer.
        in_dropout: dropout probability on the input.
        hidden_dropout: dropout probability after each hidden layer.
        num_classes: outputs of the last layer.
        input_shape: shape of one input sample, flattened to ``prod(input_shape)`` units.
        masked: build :class:`~pl_powerlaw.nn.MaskedLinear` layers (our pruning); False builds
            plain ``nn.Linear`` layers, for pruners that bring their own masks
            (``torch.nn.utils.prune``, Lightning's ``ModelPruning``).

    Example:
        >>> import torch
        >>> MLP()(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 10])
    """

    input_shape: tuple[int, int, int] = (1, 28, 28)
    output_layers: tuple[str, ...] = ("fc3",)

    def __init__(
        self,
        hidden: Sequence[int] = (1024, 1024),
        in_dropout: float = 0.2,
        hidden_dropout: float = 0.5,
        num_classes: int = 10,
        input_shape: Sequence[int] = (1, 28, 28),
        masked: bool = True,
    ) -> None:
        super().__init__()
        hidden = tuple(hidden)
        if not hidden or not all(isinstance(h, int) and h > 0 for h in hidden):
            raise ValueError(
                f"Expected `hidden` to be a non-empty tuple of positive ints but got {hidden!r}"
            )
        shape = tuple(input_shape)
        if not shape or not all(isinstance(s, int) and s > 0 for s in shape):
            raise ValueError(f"Expected `input_shape` to be positive ints but got {input_shape!r}")
        self.input_shape = shape  # type: ignore[assignment]
        widths = (math.prod(shape), *hidden, check_num_classes(num_classes))
        self.output_layers = (f"fc{len(widths) - 1}",)
        self.in_dropout = nn.Dropout(check_probability(in_dropout, "in_dropout"))
        check_probability(hidden_dropout, "hidden_dropout")
        self.layer_names = [f"fc{i}" for i in range(1, len(widths))]
        for i, (n_in, n_out) in enumerate(pairwise(widths), start=1):
            self.add_module(f"fc{i}", (MaskedLinear if masked else nn.Linear)(n_in, n_out))
        self.hidden_dropout = nn.Dropout(hidden_dropout)
        init_glorot(self)

    def forward(self, x: Tensor) -> Tensor:
        x = self.in_dropout(x.flatten(1))  # (N, 784)
        *hidden, output = self.layer_names
        for name in hidden:
            x = self.hidden_dropout(getattr(self, name)(x).relu())  # (N, hidden[i])
        return getattr(self, output)(x)  # (N, num_classes)
