"""Networks by name (state dicts load with :func:`pl_powerlaw.checkpoints.load_weights`).

Example:
    >>> net = build_net("lenet", num_classes=10)
    >>> type(net).__name__
    'LeNet'
"""

from __future__ import annotations

from typing import Any

from torch import nn

from pl_powerlaw.models.alexnet import AlexNet, AlexNetTorchvision
from pl_powerlaw.models.cifar_cnn import CifarCNN
from pl_powerlaw.models.lenet import LeNet
from pl_powerlaw.models.mlp import MLP
from pl_powerlaw.models.multihead import MultiHeadMLP
from pl_powerlaw.models.recurrent import MultiHeadRecurrentNet, RecurrentNet
from pl_powerlaw.models.vgg import VGG16

NETS: dict[str, type[nn.Module]] = {
    "mlp": MLP,
    "lenet": LeNet,
    "cifar_cnn": CifarCNN,
    "alexnet": AlexNet,
    "alexnet_torchvision": AlexNetTorchvision,
    "vgg16": VGG16,
    "recurrent": RecurrentNet,
    "multihead_mlp": MultiHeadMLP,
    "multihead_recurrent": MultiHeadRecurrentNet,
}


def build_net(name: str, **kwargs: Any) -> nn.Module:
    """Build the network registered as ``name`` in :data:`NETS` with ``kwargs``.

    Raises:
        ValueError: for an unknown name (the message lists the valid ones).
    """
    if name not in NETS:
        raise ValueError(f"Unknown net {name!r}; expected one of {sorted(NETS)}")
    return NETS[name](**kwargs)
