"""The CNN of Keras's ``examples/cifar10_cnn.py`` for CIFAR-10 (3 x 32 x 32 images).

conv 32 @ 3x3 same, ReLU, conv 32 @ 3x3 valid, ReLU, max-pool 2, dropout 0.25, conv 64 @ 3x3
same, ReLU, conv 64 @ 3x3 valid, ReLU, max-pool 2, dropout 0.25, dense 512, ReLU, dropout 0.5,
dense 10. Weights are Glorot-uniform and biases zero (Keras's defaults, see
:func:`~pl_powerlaw.models.common.init_glorot`). Keras flattens channels-last; this net flattens
channel-major, which only permutes the inputs of ``fc1``.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from pl_powerlaw.models.common import check_num_classes, init_glorot
from pl_powerlaw.nn.masked import MaskedConv2d, MaskedLinear


class CifarCNN(nn.Module):
    """Four 3x3 conv layers and two dense layers (Keras's ``cifar10_cnn.py``).

    Args:
        num_classes: outputs of ``fc2`` (the output head).

    Example:
        >>> import torch
        >>> CifarCNN()(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """

    input_shape: tuple[int, int, int] = (3, 32, 32)
    output_layers: tuple[str, ...] = ("fc2",)

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = MaskedConv2d(3, 32, kernel_size=3, padding=1)
        self.conv2 = MaskedConv2d(32, 32, kernel_size=3)
        self.conv3 = MaskedConv2d(32, 64, kernel_size=3, padding=1)
        self.conv4 = MaskedConv2d(64, 64, kernel_size=3)
        self.conv_dropout = nn.Dropout(0.25)
        self.fc1 = MaskedLinear(64 * 6 * 6, 512)
        self.fc_dropout = nn.Dropout(0.5)
        self.fc2 = MaskedLinear(512, check_num_classes(num_classes))
        init_glorot(self)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv2(self.conv1(x).relu()).relu()  # (N, 32, 30, 30)
        x = self.conv_dropout(F.max_pool2d(x, 2))  # (N, 32, 15, 15)
        x = self.conv4(self.conv3(x).relu()).relu()  # (N, 64, 13, 13)
        x = self.conv_dropout(F.max_pool2d(x, 2))  # (N, 64, 6, 6)
        x = self.fc_dropout(self.fc1(x.flatten(1)).relu())  # (N, 512)
        return self.fc2(x)  # (N, 10)
