"""The kept weights of a layer, whatever pruned it.

A weight is a connection of the pruned net when it is kept by the mask *and* non-zero (the paper
counts the connections that survive pruning). Four ways of pruning are read, in this order:

* our masked layers (:mod:`pl_powerlaw.nn.masked`): ``weight_mask`` AND ``weight != 0``;
* :mod:`torch.nn.utils.prune` (also what Lightning's ``ModelPruning`` installs while pruning is not
  made permanent): a ``weight_orig`` parameter, a ``weight_mask`` buffer and a forward pre-hook
  recomputing ``weight = weight_orig * weight_mask``; kept = ``weight_mask AND weight_orig != 0``;
* :mod:`torch.nn.utils.parametrize`: the parametrised ``weight`` is evaluated, kept = ``!= 0``;
* a plain module (also a permanently pruned one, after ``prune.remove``): ``weight != 0``.

The same sparsity pattern gives the same kept entries through every route.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize, prune

from pl_powerlaw.nn.masked import MaskedLayerMixin
from pl_powerlaw.nn.recurrent import MASK_SUFFIX, MATRIX_NAME, is_masked_recurrent

MASKED = "masked"
PRUNE = "torch.nn.utils.prune"
PARAMETRIZE = "torch.nn.utils.parametrize"
ZEROS = "zeros"


def _prune_hook(module: nn.Module, name: str = "weight") -> prune.BasePruningMethod | None:
    """The ``torch.nn.utils.prune`` method re-parametrising ``module.<name>``, if any."""
    for hook in module._forward_pre_hooks.values():
        # a PruningContainer (several prunes of one tensor) is a BasePruningMethod too
        if isinstance(hook, prune.BasePruningMethod) and hook._tensor_name == name:
            return hook
    return None


def mask_source(module: nn.Module) -> str:
    """How the kept weights of ``module`` are read (one of the four routes of the module doc).

    Args:
        module: a layer with a ``weight``.

    Returns:
        ``"masked"``, ``"torch.nn.utils.prune"``, ``"torch.nn.utils.parametrize"`` or ``"zeros"``.

    Example:
        >>> mask_source(nn.Linear(2, 1))
        'zeros'
    """
    if isinstance(module, MaskedLayerMixin):
        return MASKED
    if _prune_hook(module) is not None and hasattr(module, "weight_orig"):
        return PRUNE
    if parametrize.is_parametrized(module, "weight"):
        return PARAMETRIZE
    return ZEROS


def weight_shape(module: nn.Module) -> tuple[int, ...]:
    """Shape of the effective weight of ``module`` (without evaluating a parametrisation)."""
    if mask_source(module) == PRUNE:
        return tuple(module.weight_orig.shape)
    if parametrize.is_parametrized(module, "weight"):
        return tuple(module.parametrizations.weight.original.shape)
    return tuple(module.weight.shape)


@torch.no_grad()
def layer_kept(module: nn.Module) -> Tensor:
    """Boolean tensor, shaped like the weight, of the weights of ``module`` that are connections.

    Args:
        module: a ``Linear``/``Conv1d``/``Conv2d`` (ours, pruned by ``torch.nn.utils.prune``,
            parametrised, or plain).

    Returns:
        ``True`` where the weight is kept by its mask and non-zero.

    Raises:
        ValueError: if ``module`` has no weight tensor.

    Example:
        >>> layer = nn.Linear(3, 1)
        >>> with torch.no_grad():
        ...     _ = layer.weight.copy_(torch.tensor([[0.0, 2.0, -1.0]]))
        >>> layer_kept(layer).tolist()
        [[False, True, True]]
    """
    source = mask_source(module)
    if source == MASKED:
        return module.kept()
    if source == PRUNE:
        return torch.logical_and(module.weight_mask, module.weight_orig)
    weight = getattr(module, "weight", None)
    if not isinstance(weight, Tensor):
        raise ValueError(
            f"Expected a layer with a weight tensor but got {type(module).__name__} with "
            f"weight {type(weight).__name__}"
        )
    return weight != 0


@torch.no_grad()
def matrix_kept(module: nn.Module, matrix: str) -> Tensor:
    """Boolean tensor of the kept entries of weight matrix ``matrix`` of a recurrent module.

    Read like :func:`layer_kept`: our masked recurrent modules (``<matrix>_mask`` AND the weight),
    ``torch.nn.utils.prune`` on ``<matrix>`` (``<matrix>_mask`` AND ``<matrix>_orig``), else the
    non-zero entries (a plain or parametrised module).

    Example:
        >>> rnn = nn.RNN(2, 3)
        >>> with torch.no_grad():
        ...     _ = rnn.weight_hh_l0.zero_()
        >>> int(matrix_kept(rnn, "weight_hh_l0").sum()), int(matrix_kept(rnn, "weight_ih_l0").sum())
        (0, 6)
    """
    if is_masked_recurrent(module):
        return torch.logical_and(getattr(module, matrix + MASK_SUFFIX), getattr(module, matrix))
    if _prune_hook(module, matrix) is not None and hasattr(module, matrix + "_orig"):
        return torch.logical_and(
            getattr(module, matrix + MASK_SUFFIX), getattr(module, matrix + "_orig")
        )
    return getattr(module, matrix) != 0


def weight_kept(net: nn.Module, name: str) -> Tensor:
    """The kept entries of the weight called ``name`` in ``net``: a layer (``fc1``, read by
    :func:`layer_kept`) or a recurrent matrix (``lstm.weight_ih_l0``, :func:`matrix_kept`)."""
    parent, _, last = name.rpartition(".")
    if MATRIX_NAME.match(last):
        module = net.get_submodule(parent)
        if isinstance(module, nn.RNNBase):
            return matrix_kept(module, last)
    return layer_kept(net.get_submodule(name))
