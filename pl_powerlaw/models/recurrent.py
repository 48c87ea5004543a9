"""A recurrent classifier of sequences: an RNN/LSTM/GRU followed by a linear head.

For sequential MNIST by rows (``MNISTDataModule(layout="rows")``): each 28x28 image is 28 time
steps of 28 pixels, the head reads the last step's hidden state. The 128-unit LSTM over 28 rows
is the set-up of the widely used row-by-row MNIST examples (TensorFlow-Examples'
``recurrent_network`` by A. Damien: 28 steps of 28 inputs, 128 hidden units, Adam with learning
rate 0.001); see ``docs/recurrent.md``. Weights keep PyTorch's default initialisation
(uniform in ``±1/sqrt(hidden)``).
"""

from __future__ import annotations

from torch import Tensor, nn

from pl_powerlaw.errors import InputError
from pl_powerlaw.models.common import check_num_classes
from pl_powerlaw.nn.masked import MaskedLinear
from pl_powerlaw.nn.recurrent import MaskedGRU, MaskedLSTM, MaskedRNN

CELLS: dict[str, tuple[type[nn.Module], type[nn.Module]]] = {
    "rnn": (nn.RNN, MaskedRNN),
    "lstm": (nn.LSTM, MaskedLSTM),
    "gru": (nn.GRU, MaskedGRU),
}


class RecurrentNet(nn.Module):
    """``(B, T, features)`` -> a stacked RNN/LSTM/GRU (``batch_first``) -> ``head`` on the last
    step's output.

    The recurrent module is called ``rnn`` whatever its cell (its matrices are ``rnn.weight_ih_l0``,
    ``rnn.weight_hh_l0``, ...; its node layers ``rnn.l0``, ``rnn.l1``, ...); the head is the
    output layer (not pruned by default, not a node layer).

    Args:
        cell: ``"lstm"``, ``"gru"`` or ``"rnn"`` (tanh).
        hidden: units per recurrent layer.
        num_layers: stacked recurrent layers.
        num_classes: outputs of the head.
        input_shape: ``(T, features)`` of one sample (``(28, 28)`` for MNIST by rows).
        masked: masked modules (our pruning); False builds plain ``nn`` modules.

    Example:
        >>> import torch
        >>> RecurrentNet(hidden=8)(torch.zeros(2, 28, 28)).shape
        torch.Size([2, 10])
    """

    output_layers: tuple[str, ...] = ("head",)

    def __init__(
        self,
        cell: str = "lstm",
        hidden: int = 128,
        num_layers: int = 1,
        num_classes: int = 10,
        input_shape: tuple[int, int] | list[int] = (28, 28),
        masked: bool = True,
    ) -> None:
        super().__init__()
        if cell not in CELLS:
            raise InputError(f"Expected `cell` in {sorted(CELLS)} but got {cell!r}")
        for name, value in (("hidden", hidden), ("num_layers", num_layers)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"Expected `{name}` to be a positive int but got {value!r}")
        shape = tuple(input_shape)
        if len(shape) != 2 or not all(isinstance(s, int) and s > 0 for s in shape):
            raise InputError(
                f"Expected `input_shape` to be (steps, features), positive ints, but got "
                f"{input_shape!r}"
            )
        self.input_shape = shape
        self.cell = cell
        plain, masked_type = CELLS[cell]
        self.rnn = (masked_type if masked else plain)(
            shape[1], hidden, num_layers=num_layers, batch_first=True
        )
        self.head = (MaskedLinear if masked else nn.Linear)(hidden, check_num_classes(num_classes))

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 3:
            raise InputError(
                f"Expected sequences (B, T, features) but got a tensor of shape {tuple(x.shape)} "
                "(for MNIST use MNISTDataModule(layout='rows'))"
            )
        out, _ = self.rnn(x)  # (B, T, hidden)
        return self.head(out[:, -1])  # (B, num_classes)
