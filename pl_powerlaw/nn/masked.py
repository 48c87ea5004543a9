"""Linear and convolutional layers that carry a weight mask.

Every prunable layer registers a ``weight_mask`` buffer at construction (all ones), and its
forward multiplies it into the weight. Because the buffer exists from the start:

* checkpoints hold the same keys in every phase (dense, pruned, retrained), so a strict
  ``load_state_dict`` works at any point of a run and pruned weights never grow back on resume;
* DDP broadcasts the buffer with the other buffers;
* the gradient of a masked entry is exactly zero, so a weight that was zeroed at the prune stays
  exactly zero under SGD (with momentum and weight decay) once its optimizer state is cleared.

The mask has the dtype and device of the weight and holds only 0 and 1.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class MaskedLayerMixin:
    """Shared behaviour of the masked layers: the mask buffer and what is kept."""

    weight: nn.Parameter
    weight_mask: Tensor

    def _init_mask(self) -> None:
        self.register_buffer("weight_mask", torch.ones_like(self.weight, requires_grad=False))

    def masked_weight(self) -> Tensor:
        """The effective weight, ``weight * weight_mask``."""
        return self.weight * self.weight_mask

    @torch.no_grad()
    def kept(self) -> Tensor:
        """Boolean tensor of the entries that are connections: mask set and weight non-zero."""
        return torch.logical_and(self.weight_mask, self.weight)

    @torch.no_grad()
    def set_mask(self, mask: Tensor) -> None:
        """Install ``mask`` (any dtype, same shape as the weight) and zero the pruned weights."""
        if mask.shape != self.weight.shape:
            raise ValueError(
                f"Expected a mask of shape {tuple(self.weight.shape)} but got {tuple(mask.shape)}"
            )
        self.weight_mask.copy_(mask if mask.dtype == torch.bool else mask != 0)
        self.weight.mul_(self.weight_mask)


class MaskedLinear(MaskedLayerMixin, nn.Linear):
    """``nn.Linear`` whose forward uses ``weight * weight_mask``.

    Example:
        >>> layer = MaskedLinear(4, 3)
        >>> layer.weight_mask.shape
        torch.Size([3, 4])
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._init_mask()

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.masked_weight(), self.bias)


class MaskedConv2d(MaskedLayerMixin, nn.Conv2d):
    """``nn.Conv2d`` whose forward uses ``weight * weight_mask`` (stride, padding, dilation and
    groups as in ``nn.Conv2d``).

    Example:
        >>> conv = MaskedConv2d(1, 8, kernel_size=5)
        >>> conv(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 8, 24, 24])
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._init_mask()

    def forward(self, x: Tensor) -> Tensor:
        return self._conv_forward(x, self.masked_weight(), self.bias)


class MaskedConv1d(MaskedLayerMixin, nn.Conv1d):
    """``nn.Conv1d`` whose forward uses ``weight * weight_mask`` (stride, padding, dilation and
    groups as in ``nn.Conv1d``).

    Example:
        >>> conv = MaskedConv1d(2, 4, kernel_size=3)
        >>> conv(torch.zeros(1, 2, 10)).shape
        torch.Size([1, 4, 8])
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._init_mask()

    def forward(self, x: Tensor) -> Tensor:
        return self._conv_forward(x, self.masked_weight(), self.bias)


MASKED_TYPES: tuple[type[nn.Module], ...] = (MaskedLinear, MaskedConv2d, MaskedConv1d)


def is_masked(module: nn.Module) -> bool:
    """True if ``module`` is one of the masked layer types."""
    return isinstance(module, MASKED_TYPES)


def masked_modules(
    net: nn.Module,
) -> Iterator[tuple[str, MaskedLinear | MaskedConv2d | MaskedConv1d]]:
    """Yield ``(qualified_name, module)`` for every masked layer of ``net``, in registration order."""
    for name, module in net.named_modules():
        if is_masked(module):
            yield name, module  # type: ignore[misc]


def output_layer_names(net: nn.Module) -> tuple[str, ...]:
    """Names of the layers that are output heads of ``net``.

    A net declares them with the attribute ``output_layers`` (a tuple of qualified module names);
    without it, the last masked layer in registration order is taken as the output head.
    """
    declared = getattr(net, "output_layers", None)
    if declared is not None:
        return tuple(declared)
    names = [name for name, _ in masked_modules(net)]
    return (names[-1],) if names else ()
