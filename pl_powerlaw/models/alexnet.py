"""AlexNet in two forms: the Caffe BVLC model of Deep Compression and torchvision's variant.

``AlexNet`` is Caffe's ``models/bvlc_alexnet`` (Krizhevsky et al. 2012 with grouped convolutions),
the network Han et al. (2015) pruned and whose sparse version the paper (Hou & Kwok 2018,
Section 3.3) analyses: 3 x 227 x 227 input; conv1 96 @ 11x11 stride 4, ReLU, LRN, max-pool 3/2;
conv2 256 @ 5x5 pad 2 groups 2, ReLU, LRN, max-pool 3/2; conv3 384 @ 3x3 pad 1; conv4 384 @ 3x3
pad 1 groups 2; conv5 256 @ 3x3 pad 1 groups 2, max-pool 3/2; fc6 4096, dropout; fc7 4096,
dropout; fc8 1000. The initialisation is Caffe's ``train_val.prototxt``: Gaussian weights (std 0.01,
fc6 and fc7 0.005), biases 0.1 for conv2, conv4, conv5, fc6, fc7 and 0 elsewhere. Caffe's LRN
(``local_size`` 5, alpha 1e-4, beta 0.75, k 1, alpha divided by the size) is
``nn.LocalResponseNorm(5, 1e-4, 0.75, 1.0)``.

``AlexNetTorchvision`` is torchvision's ``alexnet`` (64-192-384-256-256 maps, no groups, no LRN,
adaptive average pooling to 6 x 6) with torchvision's parameter names, so that its state dict
loads with :func:`~pl_powerlaw.checkpoints.load_weights`; PyTorch's default init.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from pl_powerlaw.models.common import check_num_classes, check_probability
from pl_powerlaw.nn.masked import MaskedConv2d, MaskedLinear

# Caffe bvlc_alexnet init: layer -> (weight std, bias).
CAFFE_INIT = {
    "conv1": (0.01, 0.0),
    "conv2": (0.01, 0.1),
    "conv3": (0.01, 0.0),
    "conv4": (0.01, 0.1),
    "conv5": (0.01, 0.1),
    "fc6": (0.005, 0.1),
    "fc7": (0.005, 0.1),
    "fc8": (0.01, 0.0),
}


class AlexNet(nn.Module):
    """Caffe's BVLC AlexNet with grouped convolutions (the paper's sparse AlexNet).

    Args:
        num_classes: outputs of ``fc8``.
        dropout: dropout probability after ``fc6`` and ``fc7``.

    Example:
        >>> import torch
        >>> AlexNet().to("meta")(torch.zeros(2, 3, 227, 227, device="meta")).shape
        torch.Size([2, 1000])
    """

    input_shape: tuple[int, int, int] = (3, 227, 227)
    output_layers: tuple[str, ...] = ("fc8",)
    layer_aliases: dict[str, str] = {}

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.conv1 = MaskedConv2d(3, 96, kernel_size=11, stride=4)
        self.conv2 = MaskedConv2d(96, 256, kernel_size=5, padding=2, groups=2)
        self.conv3 = MaskedConv2d(256, 384, kernel_size=3, padding=1)
        self.conv4 = MaskedConv2d(384, 384, kernel_size=3, padding=1, groups=2)
        self.conv5 = MaskedConv2d(384, 256, kernel_size=3, padding=1, groups=2)
        self.lrn = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)
        self.fc6 = MaskedLinear(256 * 6 * 6, 4096)
        self.fc7 = MaskedLinear(4096, 4096)
        self.fc8 = MaskedLinear(4096, check_num_classes(num_classes))
        self.dropout = nn.Dropout(check_probability(dropout, "dropout"))
        for name, (std, bias) in CAFFE_INIT.items():
            layer = getattr(self, name)
            nn.init.normal_(layer.weight, 0.0, std)
            nn.init.constant_(layer.bias, bias)

    def forward(self, x: Tensor) -> Tensor:
        x = F.max_pool2d(self.lrn(self.conv1(x).relu()), 3, 2)  # (N, 96, 27, 27)
        x = F.max_pool2d(self.lrn(self.conv2(x).relu()), 3, 2)  # (N, 256, 13, 13)
        x = self.conv4(self.conv3(x).relu()).relu()  # (N, 384, 13, 13)
        x = F.max_pool2d(self.conv5(x).relu(), 3, 2)  # (N, 256, 6, 6)
        x = self.dropout(self.fc6(x.flatten(1)).relu())  # (N, 4096)
        x = self.dropout(self.fc7(x).relu())  # (N, 4096)
        return self.fc8(x)  # (N, 1000)


class AlexNetTorchvision(nn.Module):
    """torchvision's AlexNet with torchvision's parameter names (``features.0.weight``, ...).

    Readable names map to the modules through ``layer_aliases`` (``conv1`` -> ``features.0``,
    ..., ``fc8`` -> ``classifier.6``).

    Args:
        num_classes: outputs of ``classifier.6``.
        dropout: dropout probability before ``classifier.1`` and ``classifier.4``.

    Example:
        >>> import torch
        >>> AlexNetTorchvision()(torch.zeros(1, 3, 224, 224)).shape
        torch.Size([1, 1000])
    """

    input_shape: tuple[int, int, int] = (3, 224, 224)
    output_layers: tuple[str, ...] = ("classifier.6",)
    layer_aliases: dict[str, str] = {
        "conv1": "features.0",
        "conv2": "features.3",
        "conv3": "features.6",
        "conv4": "features.8",
        "conv5": "features.10",
        "fc6": "classifier.1",
        "fc7": "classifier.4",
        "fc8": "classifier.6",
    }

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            MaskedConv2d(3, 64, kernel_size=11, stride=4, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            MaskedConv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            MaskedConv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            MaskedConv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            MaskedConv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(check_probability(dropout, "dropout")),
            MaskedLinear(256 * 6 * 6, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            MaskedLinear(4096, 4096),
            nn.ReLU(inplace=True),
            MaskedLinear(4096, check_num_classes(num_classes)),
        )

    def forward(self, x: Tensor) -> Tensor:
        x = self.avgpool(self.features(x))  # (N, 256, 6, 6)
        return self.classifier(x.flatten(1))  # (N, num_classes)
