"""Turn the plain layers of any model into masked layers, in place (torch only).

Recurrent modules: a plain ``nn.RNN``/``nn.LSTM``/``nn.GRU`` becomes
:class:`~pl_powerlaw.nn.recurrent.MaskedRNN`/``MaskedLSTM``/``MaskedGRU`` with one
``weight_{ih,hh}_l{k}_mask`` buffer per matrix (bidirectional ones and projections are refused).

:func:`to_masked` changes the class of every plain ``nn.Linear``/``nn.Conv1d``/``nn.Conv2d`` to
:class:`~pl_powerlaw.nn.masked.MaskedLinear`/``MaskedConv1d``/``MaskedConv2d`` and registers a
``weight_mask`` buffer. The module objects, their parameters (so an optimizer's references) and
their hooks stay; the state dict keeps every key and only gains the ``<layer>.weight_mask`` keys,
so a torchvision or timm state dict loads before and after the conversion
(with ``strict=False``, or :func:`pl_powerlaw.checkpoints.load_weights`, which fills the missing
masks from the weights' exact zeros).

The mask starts as the current sparsity pattern: the exact zeros of a plain (or permanently
pruned) weight, or the mask of a layer pruned with ``torch.nn.utils.prune`` (Lightning's
``ModelPruning`` while not permanent). Such a layer is first made permanent (``weight_orig *
weight_mask`` becomes ``weight``, as ``prune.remove`` does), so its keys become those of the plain
layer (``weight`` instead of ``weight_orig``) plus the mask.
"""

from __future__ import annotations

from torch import nn
from torch.nn.utils import parametrize, prune

from pl_powerlaw.nn.masked import MASKED_TYPES, MaskedConv1d, MaskedConv2d, MaskedLinear
from pl_powerlaw.nn.recurrent import (
    MASK_SUFFIX,
    MASKED_RECURRENT_TYPES,
    RECURRENT_MASKED,
    matrix_names,
    recurrent_problem,
)

CONVERTIBLE: dict[type[nn.Module], type[nn.Module]] = {
    nn.Linear: MaskedLinear,
    nn.Conv1d: MaskedConv1d,
    nn.Conv2d: MaskedConv2d,
}
LAYER_TYPES = tuple(CONVERTIBLE)
RECURRENT_TYPES = tuple(RECURRENT_MASKED)


def _label(name: str) -> str:
    return f"`{name}`" if name else "the root module"


def _problem(name: str, module: nn.Module) -> str | None:
    """Why ``module`` cannot be converted (None if it can)."""
    kind = f"{type(module).__module__}.{type(module).__qualname__}"
    if isinstance(module, nn.modules.lazy.LazyModuleMixin):
        return f"{_label(name)} is an uninitialised lazy layer ({kind}); run one forward first"
    if parametrize.is_parametrized(module):
        return (
            f"{_label(name)} is parametrised ({sorted(module.parametrizations)}); remove the "
            "parametrizations first (torch.nn.utils.parametrize.remove_parametrizations)"
        )
    if type(module) not in CONVERTIBLE and type(module) not in RECURRENT_MASKED:
        return f"{_label(name)} is a {kind} (a subclass with its own behaviour)"
    if type(module) in RECURRENT_MASKED and (problem := recurrent_problem(module)):
        return f"{_label(name)} is {problem}"
    return None


def _prune_hook_of(module: nn.Module, tensor: str) -> prune.BasePruningMethod | None:
    for hook in module._forward_pre_hooks.values():
        if isinstance(hook, prune.BasePruningMethod) and hook._tensor_name == tensor:
            return hook
    return None


def _mask_recurrent(layer: nn.Module) -> None:
    """Turn a plain ``nn.RNN``/``LSTM``/``GRU`` into its masked type, masks from its sparsity."""
    masks = {}
    for matrix in matrix_names(layer):
        if _prune_hook_of(layer, matrix) is not None:  # torch.nn.utils.prune: make permanent
            masks[matrix] = getattr(layer, matrix + MASK_SUFFIX).detach().clone()
            prune.remove(layer, matrix)
        else:
            masks[matrix] = getattr(layer, matrix).detach() != 0
    order = [key for key in layer._flat_weights_names if key in layer._parameters]
    order += [key for key in layer._parameters if key not in order]
    layer._parameters = type(layer._parameters)((key, layer._parameters[key]) for key in order)
    layer._init_flat_weights()
    layer.__class__ = RECURRENT_MASKED[type(layer)]
    for matrix, mask in masks.items():
        layer.register_buffer(matrix + MASK_SUFFIX, mask.to(getattr(layer, matrix).dtype))


def _pruned_weight(module: nn.Module) -> bool:
    """True if ``torch.nn.utils.prune`` re-parametrises ``module.weight``."""
    return any(
        isinstance(hook, prune.BasePruningMethod) and hook._tensor_name == "weight"
        for hook in module._forward_pre_hooks.values()
    )


def _make_permanent(module: nn.Module) -> None:
    """``prune.remove`` on ``weight``, with ``weight`` registered first again (state-dict order)."""
    prune.remove(module, "weight")
    order = ["weight", *(key for key in module._parameters if key != "weight")]
    module._parameters = type(module._parameters)((key, module._parameters[key]) for key in order)


def to_masked(module: nn.Module, strict: bool = True) -> list[str]:
    """Convert the plain ``Linear``/``Conv1d``/``Conv2d`` (and ``RNN``/``LSTM``/``GRU``) layers of
    ``module`` to masked layers, in place.

    Args:
        module: any model (also a bare layer, converted itself).
        strict: refuse, before converting anything, a model with a ``Linear``/``Conv`` layer that
            cannot be converted (a subclass with its own forward, a parametrised or lazy layer);
            with False such layers are left as they are (the connectivity still reads their
            exact zeros).

    Returns:
        Qualified names of the converted layers (``""`` for ``module`` itself), in registration
        order; empty when there is nothing left to convert (the conversion is idempotent).

    Raises:
        ValueError: with ``strict``, naming every layer that cannot be converted.

    Example:
        >>> net = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1))
        >>> to_masked(net), type(net[0]).__name__, list(net.state_dict())[:3]
        (['0', '2'], 'MaskedLinear', ['0.weight', '0.bias', '0.weight_mask'])
        >>> to_masked(net)
        []
    """
    todo, problems = [], []
    for name, layer in module.named_modules():
        if isinstance(layer, (*MASKED_TYPES, *MASKED_RECURRENT_TYPES)) or not isinstance(
            layer, (*LAYER_TYPES, *RECURRENT_TYPES)
        ):
            continue
        problem = _problem(name, layer)
        if problem is None:
            todo.append((name, layer))
        else:
            problems.append(problem)
    if problems and strict:
        raise ValueError(
            "Expected plain nn.Linear/nn.Conv1d/nn.Conv2d layers (or nn.RNN/nn.LSTM/nn.GRU) but "
            + "; ".join(problems)
            + "; convert these by hand or pass strict=False to leave them as they are"
        )
    for _, layer in todo:
        if type(layer) in RECURRENT_MASKED:
            _mask_recurrent(layer)
            continue
        if _pruned_weight(layer):  # a prune of the bias stays as it is
            mask = layer.weight_mask.detach().clone()
            _make_permanent(layer)
        else:
            mask = layer.weight.detach() != 0
        layer.__class__ = CONVERTIBLE[type(layer)]
        layer.register_buffer("weight_mask", mask.to(layer.weight.dtype))
    return [name for name, _ in todo]
