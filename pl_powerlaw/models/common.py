"""Small helpers shared by the network definitions: initialisation and argument checks."""

from __future__ import annotations

from torch import nn

from pl_powerlaw.errors import InputError


def init_glorot(net: nn.Module) -> None:
    """Glorot-uniform weights and zero biases for every linear and conv layer of ``net``.

    Lasagne's ``GlorotUniform()`` (gain 1) and Keras's ``glorot_uniform`` equal
    ``nn.init.xavier_uniform_``: U(-b, b) with b = sqrt(6 / (fan_in + fan_out)), where a
    convolution's fans include the kernel size.
    """
    for module in net.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


def check_probability(value: float, name: str) -> float:
    """Return ``value`` if it lies in [0, 1), else raise a ``ValueError`` naming ``name``."""
    if not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"Expected `{name}` in [0, 1) but got {value!r}")
    return float(value)


def check_num_classes(value: int) -> int:
    """Return ``value`` if it is an int >= 1, else raise a ``ValueError``."""
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"Expected `num_classes` to be an int >= 1 but got {value!r}")
    return value


def check_num_tasks(value: int) -> int:
    """Return ``value`` if it is an int in [1, MAX_TASKS] (the int8 owners' limit), else raise an
    :class:`~pl_powerlaw.errors.InputError` (a ``ValueError``)."""
    from pl_powerlaw.nn.task_masked import MAX_TASKS

    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TASKS:
        raise InputError(f"Expected `num_tasks` to be an int in [1, {MAX_TASKS}] but got {value!r}")
    return value
