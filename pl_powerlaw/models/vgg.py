"""VGG-16 (Simonyan & Zisserman 2015, configuration D) with torchvision's parameter names.

The architecture is data: ``VGG16_CONFIG`` lists the conv widths and ``"M"`` for max-pool 2/2,
built by one loop into ``features`` (3x3 convs, padding 1, each followed by ReLU); then adaptive
average pooling to 7 x 7 and ``classifier`` = fc6 4096, ReLU, dropout, fc7 4096, ReLU, dropout,
fc8. Indices and names follow torchvision's ``vgg16`` (``features.0.weight``, ...,
``classifier.6.weight``) so that its state dict loads with
:func:`~pl_powerlaw.checkpoints.load_weights`; readable aliases (``conv1_1`` ->
``features.0``, ..., ``fc8`` -> ``classifier.6``) are in ``VGG16.layer_aliases``. Han et al. (2015)
pruned this network; the paper (Hou & Kwok 2018, Section 3.3) analyses its sparse version.
Initialisation as torchvision: Kaiming-normal (fan-out, ReLU) conv weights, N(0, 0.01) linear
weights, zero biases.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from pl_powerlaw.models.common import check_num_classes, check_probability
from pl_powerlaw.nn.masked import MaskedConv2d, MaskedLinear

VGG16_CONFIG: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"
)  # fmt: skip


def build_features(config: Sequence[int | str], in_channels: int = 3) -> nn.Sequential:
    """Conv 3x3 (padding 1) + ReLU per int of ``config``, max-pool 2/2 per ``"M"``."""
    layers: list[nn.Module] = []
    for item in config:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [
                MaskedConv2d(in_channels, int(item), kernel_size=3, padding=1),
                nn.ReLU(True),
            ]
            in_channels = int(item)
    return nn.Sequential(*layers)


def conv_aliases(config: Sequence[int | str]) -> dict[str, str]:
    """``conv<block>_<i>`` -> ``features.<index>`` for a VGG configuration (blocks end at "M")."""
    aliases, block, position, index = {}, 1, 1, 0
    for item in config:
        if item == "M":
            block, position, index = block + 1, 1, index + 1
        else:
            aliases[f"conv{block}_{position}"] = f"features.{index}"
            position, index = position + 1, index + 2
    return aliases


class VGG16(nn.Module):
    """VGG-16 (configuration D) on 3 x 224 x 224 images, torchvision's layout.

    Args:
        num_classes: outputs of ``classifier.6`` (fc8).
        dropout: dropout probability after fc6 and fc7.

    Example:
        >>> import torch
        >>> VGG16().to("meta")(torch.zeros(2, 3, 224, 224, device="meta")).shape
        torch.Size([2, 1000])
    """

    input_shape: tuple[int, int, int] = (3, 224, 224)
    output_layers: tuple[str, ...] = ("classifier.6",)
    layer_aliases: dict[str, str] = {
        **conv_aliases(VGG16_CONFIG),
        "fc6": "classifier.0",
        "fc7": "classifier.3",
        "fc8": "classifier.6",
    }

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = build_features(VGG16_CONFIG)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            MaskedLinear(512 * 7 * 7, 4096),
            nn.ReLU(True),
            nn.Dropout(check_probability(dropout, "dropout")),
            MaskedLinear(4096, 4096),
            nn.ReLU(True),
            nn.Dropout(dropout),
            MaskedLinear(4096, check_num_classes(num_classes)),
        )
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0.0, 0.01)
                nn.init.zeros_(module.bias)

    def forward(self, x: Tensor) -> Tensor:
        x = self.avgpool(self.features(x))  # (N, 512, 7, 7)
        return self.classifier(x.flatten(1))  # (N, num_classes)
