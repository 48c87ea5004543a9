"""Masked (prunable) layers."""

from pl_powerlaw.nn.masked import (
    MASKED_TYPES,
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
    "MaskedConv2d",
    "MaskedLayerMixin",
    "MaskedLinear",
    "TaskMaskedLinear",
    "is_masked",
    "masked_modules",
    "output_layer_names",
]
