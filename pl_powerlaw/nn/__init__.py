"""Masked (prunable) layers, and :func:`to_masked` to convert a plain model's layers."""

from pl_powerlaw.nn.convert import to_masked
from pl_powerlaw.nn.masked import (
    MASKED_TYPES,
    MaskedConv1d,
    MaskedConv2d,
    MaskedLayerMixin,
    MaskedLinear,
    is_masked,
    masked_modules,
    output_layer_names,
)
from pl_powerlaw.nn.task_masked import TaskMaskedLinear

__all__ = [
    "MASKED_TYPES",
    "MaskedConv1d",
    "MaskedConv2d",
    "MaskedLayerMixin",
    "MaskedLinear",
    "TaskMaskedLinear",
    "is_masked",
    "masked_modules",
    "output_layer_names",
    "to_masked",
]
