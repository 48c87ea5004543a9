"""The paper's LeNet-like CNN for MNIST (Hou & Kwok 2018, Section 3.2).

Architecture of Lasagne's ``examples/mnist.py`` ``build_cnn``: conv 32 @ 5x5, ReLU, max-pool 2,
conv 32 @ 5x5, ReLU, max-pool 2, dropout 0.5, dense 256, ReLU, dropout 0.5, dense 10. Weights are
Glorot-uniform and biases zero, as in Lasagne (:func:`~pl_powerlaw.models.common.init_glorot`).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from pl_powerlaw.models.common import check_num_classes, check_probability, init_glorot
from pl_powerlaw.nn.masked import MaskedConv2d, MaskedLinear


class LeNet(nn.Module):
    """Two 5x5 conv layers and two dense layers on 1 x 28 x 28 images (Lasagne's ``build_cnn``).

    Args:
        channels: feature maps of ``conv1`` and ``conv2``.
        hidden: units of ``fc1``.
        dropout: dropout probability before ``fc1`` and before ``fc2``.
        num_classes: outputs of ``fc2`` (the output head).

    Example:
        >>> import torch
        >>> LeNet()(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 10])
    """

    input_shape: tuple[int, int, int] = (1, 28, 28)
    output_layers: tuple[str, ...] = ("fc2",)

    def __init__(
        self,
        channels: tuple[int, int] = (32, 32),
        hidden: int = 256,
        dropout: float = 0.5,
        num_classes: int = 10,
    ) -> None:
        super().__init__()
        if len(channels) != 2 or not all(isinstance(c, int) and c > 0 for c in channels):
            raise ValueError(f"Expected `channels` to be two positive ints but got {channels!r}")
        if not isinstance(hidden, int) or hidden < 1:
            raise ValueError(f"Expected `hidden` to be an int >= 1 but got {hidden!r}")
        self.conv1 = MaskedConv2d(1, channels[0], kernel_size=5)
        self.conv2 = MaskedConv2d(channels[0], channels[1], kernel_size=5)
        self.dropout = nn.Dropout(check_probability(dropout, "dropout"))
        self.fc1 = MaskedLinear(channels[1] * 4 * 4, hidden)
        self.fc2 = MaskedLinear(hidden, check_num_classes(num_classes))
        init_glorot(self)

    def forward(self, x: Tensor) -> Tensor:
        x = F.max_pool2d(self.conv1(x).relu(), 2)  # (N, 32, 12, 12)
        x = F.max_pool2d(self.conv2(x).relu(), 2)  # (N, 32, 4, 4)
        x = self.fc1(self.dropout(x.flatten(1))).relu()  # (N, 256)
        return self.fc2(self.dropout(x))  # (N, 10)
