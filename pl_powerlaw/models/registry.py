"""Networks by name, and loading of plain (mask-less) state dicts into masked nets.

Example:
    >>> net = build_net("lenet", num_classes=10)
    >>> type(net).__name__
    'LeNet'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from pl_powerlaw.models.alexnet import AlexNet, AlexNetTorchvision
from pl_powerlaw.models.cifar_cnn import CifarCNN
from pl_powerlaw.models.lenet import LeNet
from pl_powerlaw.models.mlp import MLP
from pl_powerlaw.models.vgg import VGG16
from pl_powerlaw.nn.masked import masked_modules

NETS: dict[str, type[nn.Module]] = {
    "mlp": MLP,
    "lenet": LeNet,
    "cifar_cnn": CifarCNN,
    "alexnet": AlexNet,
    "alexnet_torchvision": AlexNetTorchvision,
    "vgg16": VGG16,
}

MAX_LISTED = 5


def build_net(name: str, **kwargs: Any) -> nn.Module:
    """Build the network registered as ``name`` in :data:`NETS` with ``kwargs``.

    Raises:
        ValueError: for an unknown name (the message lists the valid ones).
    """
    if name not in NETS:
        raise ValueError(f"Unknown net {name!r}; expected one of {sorted(NETS)}")
    return NETS[name](**kwargs)


def _listed(keys: list[str]) -> str:
    more = f" and {len(keys) - MAX_LISTED} more" if len(keys) > MAX_LISTED else ""
    return f"{keys[:MAX_LISTED]}{more}"


def load_plain_state_dict(net: nn.Module, state_dict: Mapping[str, Tensor]) -> None:
    """Load a state dict without ``weight_mask`` entries (e.g. torchvision's) into a masked net.

    A missing ``<layer>.weight_mask`` of a masked layer is filled with ``weight != 0`` of the
    loaded weight, so a checkpoint with exact zeros loads as a pruned net. Every other key must
    match exactly (a strict load).

    Args:
        net: the masked net, changed in place.
        state_dict: parameters and buffers keyed by qualified name.

    Raises:
        ValueError: if keys are missing or unexpected (the first few are listed) or shapes differ.

    Example:
        >>> from pl_powerlaw.models.lenet import LeNet
        >>> plain = {k: v for k, v in LeNet().state_dict().items() if not k.endswith("_mask")}
        >>> load_plain_state_dict(LeNet(), plain)
    """
    expected = net.state_dict()
    full = dict(state_dict)
    for name, _ in masked_modules(net):
        prefix = f"{name}." if name else ""
        mask_key, weight_key = f"{prefix}weight_mask", f"{prefix}weight"
        if mask_key not in full and weight_key in full:
            weight = full[weight_key]
            full[mask_key] = (weight != 0).to(expected[mask_key].dtype)
    missing = [key for key in expected if key not in full]
    unexpected = [key for key in full if key not in expected]
    if missing or unexpected:
        raise ValueError(
            f"State dict does not fit {type(net).__name__}: missing keys {_listed(missing)}, "
            f"unexpected keys {_listed(unexpected)}"
        )
    mismatched = [
        f"{key}: {tuple(full[key].shape)} vs {tuple(value.shape)}"
        for key, value in expected.items()
        if tuple(full[key].shape) != tuple(value.shape)
    ]
    if mismatched:
        raise ValueError(
            f"State dict does not fit {type(net).__name__}: shape mismatch (given vs expected) "
            f"{_listed(mismatched)}"
        )
    with torch.no_grad():
        net.load_state_dict(full, strict=True)
