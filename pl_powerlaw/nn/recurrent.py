"""Recurrent layers (``nn.RNN``/``nn.LSTM``/``nn.GRU``) that carry one mask per weight matrix.

A recurrent module has several weight matrices: ``weight_ih_l{k}`` (input to the gates of layer
``k``, shape ``(G * H, n_in)``) and ``weight_hh_l{k}`` (hidden state to the gates, ``(G * H, H)``),
with ``G`` gates (RNN 1, GRU 3, LSTM 4). The masked versions register one buffer per matrix,
``weight_ih_l{k}_mask`` and ``weight_hh_l{k}_mask`` (all ones at construction, the names
``torch.nn.utils.prune`` gives its masks), and their forward runs the module's own kernel with
``weight * mask`` in place of each matrix. As for :mod:`pl_powerlaw.nn.masked`:

* checkpoints hold the same keys in every phase;
* the gradient of a masked entry is exactly zero, so a pruned weight stays exactly zero through
  retraining once its optimizer state is cleared;
* biases are never masked.

A matrix is addressed by ``<module>.<matrix>`` (``lstm.weight_ih_l0``); :class:`RecurrentMatrix`
gives it the interface of a masked layer (``weight``, ``weight_mask``, ``set_mask``, ``kept``) so
the pruning functions treat it as one. :func:`prunable_weights` lists the masked layers and these
matrices together. Bidirectional modules and LSTMs with ``proj_size`` are refused at construction
(see ``docs/recurrent.md``).

Continual learning (paper Sec. 4): the task-owned variants :class:`TaskMaskedRNN`,
:class:`TaskMaskedLSTM` and :class:`TaskMaskedGRU` also register one owner buffer per matrix,
``weight_ih_l{k}_owner`` and ``weight_hh_l{k}_owner`` (int8, ``-1`` free, ``t`` owned by task ``t``;
see :mod:`pl_powerlaw.nn.task_masked`). A :class:`RecurrentMatrix` of such a module exposes it as
``weight_owner``, so :mod:`pl_powerlaw.continual` treats each matrix exactly like the weight of a
:class:`~pl_powerlaw.nn.task_masked.TaskMaskedLinear`; ``forward(x, hx, task=t)`` computes with the
entries owned by tasks ``<= t`` (and the free ones at mask 1). Biases are never owned.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from pl_powerlaw.nn.masked import MaskedLayerMixin, masked_modules
from pl_powerlaw.nn.task_masked import FREE, OWNER_DTYPE

MASK_SUFFIX = "_mask"
#: the owner buffer of matrix ``weight_ih_l0`` of a task-owned module is ``weight_ih_l0_owner``
OWNER_SUFFIX = "_owner"
#: the weight matrices of a recurrent module (biases and projections excluded)
MATRIX_NAME = re.compile(r"^weight_(ih|hh)_l(\d+)$")
#: a recurrent mask's state-dict key ends like this
MASK_KEY = re.compile(r"(^|\.)weight_(ih|hh)_l\d+(_reverse)?_mask$")
#: the state-dict key of a recurrent matrix's owner buffer (``rnn.weight_hh_l0_owner``)
OWNER_KEY = re.compile(r"(^|\.)weight_(ih|hh)_l\d+(_reverse)?_owner$")
GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}
#: the cuDNN warning about non-contiguous weights, raised on every masked forward on a GPU
_CHUNK_WARNING = "RNN module weights are not part of single contiguous chunk"


def recurrent_problem(module: nn.Module) -> str | None:
    """Why the matrices of recurrent ``module`` have no unit layout here (None if they have)."""
    if getattr(module, "bidirectional", False):
        return (
            f"a bidirectional {type(module).__name__} (bidirectional layers are not supported; "
            "see docs/recurrent.md)"
        )
    if getattr(module, "proj_size", 0):
        return f"an LSTM with proj_size={module.proj_size} (projections are not supported)"
    if getattr(module, "mode", None) not in GATES:
        return f"a recurrent module of unknown mode {getattr(module, 'mode', None)!r}"
    return None


def check_recurrent(module: nn.Module, name: str = "") -> None:
    """Refuse a recurrent module whose matrices have no unit layout of this package.

    Raises:
        ValueError: for a bidirectional module, an LSTM with ``proj_size`` or an unknown mode.
    """
    problem = recurrent_problem(module)
    if problem is not None:
        label = f"`{name}`" if name else type(module).__name__
        raise ValueError(f"Expected a unidirectional RNN/LSTM/GRU but {label} is {problem}")


def matrix_names(module: nn.RNNBase) -> list[str]:
    """The weight matrices of ``module`` in layer order (``weight_ih_l0, weight_hh_l0, ...``)."""
    return [name for name in module._flat_weights_names if MATRIX_NAME.match(name)]


def n_gates(module: nn.RNNBase) -> int:
    """Gates per unit: rows ``g * hidden_size + j`` of every matrix feed unit ``j``."""
    return GATES[module.mode]


class MaskedRecurrentMixin:
    """The masks of a recurrent module: one buffer per weight matrix, applied in forward."""

    def _init_masks(self) -> None:
        check_recurrent(self)  # type: ignore[arg-type]
        for name in matrix_names(self):  # type: ignore[arg-type]
            weight = getattr(self, name)
            self.register_buffer(name + MASK_SUFFIX, torch.ones_like(weight, requires_grad=False))

    def _matrix_factor(self, name: str, task: int | None) -> Tensor:
        """What matrix ``name`` is multiplied by in forward (its mask; ``task`` is ignored here)."""
        return getattr(self, name + MASK_SUFFIX)

    def _masked_forward(
        self, input: Tensor, hx: Tensor | tuple[Tensor, Tensor] | None, task: int | None
    ):  # noqa: A002, ANN202
        self._update_flat_weights()  # type: ignore[attr-defined]
        saved = self._flat_weights  # type: ignore[has-type]
        self._flat_weights = [
            weight * self._matrix_factor(name, task)
            if weight is not None and MATRIX_NAME.match(name)
            else weight
            for name, weight in zip(self._flat_weights_names, saved, strict=True)  # type: ignore[attr-defined]
        ]
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=_CHUNK_WARNING)
                return super().forward(input, hx)  # type: ignore[misc]
        finally:
            self._flat_weights = saved

    def forward(self, input: Tensor, hx: Tensor | tuple[Tensor, Tensor] | None = None):  # noqa: A002, ANN201
        return self._masked_forward(input, hx, None)


class MaskedRNN(MaskedRecurrentMixin, nn.RNN):
    """``nn.RNN`` whose forward uses ``weight * mask`` for every weight matrix.

    Example:
        >>> rnn = MaskedRNN(3, 4, batch_first=True)
        >>> rnn.weight_hh_l0_mask.shape, rnn(torch.zeros(2, 5, 3))[0].shape
        (torch.Size([4, 4]), torch.Size([2, 5, 4]))
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._init_masks()


class MaskedLSTM(MaskedRecurrentMixin, nn.LSTM):
    """``nn.LSTM`` whose forward uses ``weight * mask`` for every weight matrix.

    Example:
        >>> lstm = MaskedLSTM(3, 4, num_layers=2)
        >>> lstm.weight_ih_l1_mask.shape
        torch.Size([16, 4])
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._init_masks()


class MaskedGRU(MaskedRecurrentMixin, nn.GRU):
    """``nn.GRU`` whose forward uses ``weight * mask`` for every weight matrix.

    Example:
        >>> MaskedGRU(3, 4).weight_ih_l0_mask.shape
        torch.Size([12, 3])
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._init_masks()


class TaskMaskedRecurrentMixin:
    """Task ownership of a masked recurrent module: one owner buffer per matrix (int8, all free).

    ``forward(input, hx, task)`` computes with the entries usable by ``task`` (mask set, not owned
    by a later task), as :func:`pl_powerlaw.nn.task_masked.usable_entries`; ``task=None`` uses every
    kept entry, like the plain masked module.
    """

    def _init_owners(self) -> None:
        for name in matrix_names(self):  # type: ignore[arg-type]
            weight = getattr(self, name)
            self.register_buffer(
                name + OWNER_SUFFIX,
                torch.full(weight.shape, FREE, dtype=OWNER_DTYPE, device=weight.device),
            )

    def _matrix_factor(self, name: str, task: int | None) -> Tensor:
        mask = getattr(self, name + MASK_SUFFIX)
        if task is None:
            return mask
        later = getattr(self, name + OWNER_SUFFIX) > task
        return mask.masked_fill(later, 0)

    def forward(  # noqa: ANN201
        self,
        input: Tensor,  # noqa: A002
        hx: Tensor | tuple[Tensor, Tensor] | None = None,
        task: int | None = None,
    ):
        return self._masked_forward(input, hx, task)  # type: ignore[attr-defined]


class TaskMaskedRNN(TaskMaskedRecurrentMixin, MaskedRNN):
    """A :class:`MaskedRNN` whose matrices are owned by tasks (``weight_ih_l0_owner``, ...)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._init_owners()


class TaskMaskedLSTM(TaskMaskedRecurrentMixin, MaskedLSTM):
    """A :class:`MaskedLSTM` whose matrices are owned by tasks (``weight_ih_l0_owner``, ...).

    Example:
        >>> lstm = TaskMaskedLSTM(3, 4, batch_first=True)
        >>> lstm.weight_hh_l0_owner.unique().tolist(), lstm(torch.zeros(2, 5, 3), task=0)[0].shape
        ([-1], torch.Size([2, 5, 4]))
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._init_owners()


class TaskMaskedGRU(TaskMaskedRecurrentMixin, MaskedGRU):
    """A :class:`MaskedGRU` whose matrices are owned by tasks (``weight_ih_l0_owner``, ...)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._init_owners()


RECURRENT_MASKED: dict[type[nn.Module], type[nn.Module]] = {
    nn.RNN: MaskedRNN,
    nn.LSTM: MaskedLSTM,
    nn.GRU: MaskedGRU,
}
MASKED_RECURRENT_TYPES = tuple(RECURRENT_MASKED.values())


def is_masked_recurrent(module: nn.Module) -> bool:
    """True if ``module`` is one of the masked recurrent types."""
    return isinstance(module, MASKED_RECURRENT_TYPES)


@dataclass(frozen=True, eq=False)
class RecurrentMatrix(MaskedLayerMixin):
    """One weight matrix of a masked recurrent module, with the interface of a masked layer
    (``masked_weight``, ``kept`` and ``set_mask`` come from :class:`MaskedLayerMixin`).

    Attributes:
        module: the masked recurrent module.
        matrix: the matrix's name in it (``weight_ih_l0``).
    """

    module: nn.Module
    matrix: str

    @property
    def weight(self) -> nn.Parameter:
        return getattr(self.module, self.matrix)

    @property
    def weight_mask(self) -> Tensor:
        return getattr(self.module, self.matrix + MASK_SUFFIX)

    @property
    def weight_owner(self) -> Tensor:
        """The matrix's owner buffer (a task-owned module only; else ``AttributeError``, so
        ``hasattr(matrix, "weight_owner")`` tells the two apart)."""
        name = self.matrix + OWNER_SUFFIX
        owner = getattr(self.module, name, None)
        if owner is None:
            raise AttributeError(
                f"{type(self.module).__name__} has no owner buffer `{name}` (not task-owned)"
            )
        return owner


def recurrent_matrices(net: nn.Module) -> Iterator[tuple[str, RecurrentMatrix]]:
    """Yield ``("<module>.<matrix>", matrix)`` for every matrix of every masked recurrent module."""
    for name, module in net.named_modules():
        if is_masked_recurrent(module):
            for matrix in matrix_names(module):
                yield (f"{name}.{matrix}" if name else matrix), RecurrentMatrix(module, matrix)


def prunable_weights(net: nn.Module) -> Iterator[tuple[str, nn.Module | RecurrentMatrix]]:
    """Every prunable weight of ``net`` in registration order: the masked layers (by module name)
    and the matrices of the masked recurrent modules (``lstm.weight_ih_l0``).

    Each item has ``weight``, ``weight_mask``, ``set_mask`` and ``kept``.

    Example:
        >>> from pl_powerlaw.nn.masked import MaskedLinear
        >>> net = nn.ModuleDict({"rnn": MaskedRNN(2, 3), "head": MaskedLinear(3, 1)})
        >>> [name for name, _ in prunable_weights(net)]
        ['rnn.weight_ih_l0', 'rnn.weight_hh_l0', 'head']
    """
    masked = dict(masked_modules(net))
    for name, module in net.named_modules():
        if name in masked and masked[name] is module:
            yield name, module
        elif is_masked_recurrent(module):
            for matrix in matrix_names(module):
                yield (f"{name}.{matrix}" if name else matrix), RecurrentMatrix(module, matrix)


def mask_key(name: str) -> str:
    """The state-dict key of the mask of prunable weight ``name`` (see :func:`prunable_weights`).

    Example:
        >>> mask_key("fc1"), mask_key("lstm.weight_hh_l1")
        ('fc1.weight_mask', 'lstm.weight_hh_l1_mask')
    """
    if MATRIX_NAME.match(name.rsplit(".", 1)[-1]):
        return name + MASK_SUFFIX
    return f"{name}.weight_mask" if name else "weight_mask"
