"""Masked (prunable) layers, masked recurrent modules, and :func:`to_masked` to convert a plain model's layers."""

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
from pl_powerlaw.nn.recurrent import (
    MaskedGRU,
    MaskedLSTM,
    MaskedRNN,
    RecurrentMatrix,
    is_masked_recurrent,
    mask_key,
    prunable_weights,
    recurrent_matrices,
)
from pl_powerlaw.nn.task_masked import TaskMaskedLinear

__all__ = [
    "MASKED_TYPES",
    "MaskedConv1d",
    "MaskedGRU",
    "MaskedLSTM",
    "MaskedRNN",
    "MaskedConv2d",
    "MaskedLayerMixin",
    "MaskedLinear",
    "RecurrentMatrix",
    "TaskMaskedLinear",
    "is_masked",
    "is_masked_recurrent",
    "mask_key",
    "masked_modules",
    "output_layer_names",
    "prunable_weights",
    "recurrent_matrices",
    "to_masked",
]
