"""Schedules and layer densities of sparse training (torch-free arithmetic on numbers and shapes).

* :func:`gmp_sparsity`: the cubic sparsity schedule of gradual magnitude pruning (Zhu & Gupta 2017,
  "To prune, or not to prune", eq. 1);
* :func:`cosine_update_fraction`: the decaying drop fraction of RigL (Evci et al. 2020, "Rigging
  the Lottery", eq. 1);
* :func:`layer_densities`: per-layer densities for one overall density, uniform or
  Erdos-Renyi(-Kernel) (Mocanu et al. 2018, Evci et al. 2020 Sec. 3), and
  :func:`epsilon_densities`, SET's own rule ``epsilon (n_in + n_out) / (n_in n_out)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from pl_powerlaw.errors import InputError

DISTRIBUTIONS = ("uniform", "erk")


def check_unit(value: float, name: str, low_open: bool = False, high_open: bool = False) -> float:
    """Return ``value`` as a float if it lies in [0, 1] (ends open as asked), else an InputError."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"Expected `{name}` to be a number in [0, 1] but got {value!r}") from None
    low_ok = number > 0.0 if low_open else number >= 0.0
    high_ok = number < 1.0 if high_open else number <= 1.0
    if isinstance(value, bool) or not (low_ok and high_ok) or math.isnan(number):
        interval = f"{'(' if low_open else '['}0, 1{')' if high_open else ']'}"
        raise InputError(f"Expected `{name}` in {interval} but got {value!r}")
    return number


def check_count(value: int, name: str, minimum: int = 1) -> int:
    """Return ``value`` if it is an int >= ``minimum``, else an InputError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError(f"Expected `{name}` to be an int >= {minimum} but got {value!r}")
    return value


def gmp_sparsity(
    step: int, initial: float, final: float, begin_step: int, end_step: int, frequency: int
) -> float:
    """Target sparsity at ``step`` of gradual magnitude pruning (Zhu & Gupta 2017, eq. 1).

    ``s_t = s_f + (s_i - s_f) (1 - (t - t_0) / (n dt))^3`` for ``t`` in
    ``{t_0, t_0 + dt, ..., t_0 + n dt}`` with ``t_0 = begin_step`` and ``t_0 + n dt = end_step``;
    between prune steps the last value holds, before ``t_0`` it is ``s_i``, after ``end_step`` ``s_f``.

    Args:
        step: the training step.
        initial: ``s_i``, in [0, 1).
        final: ``s_f``, in [``initial``, 1).
        begin_step: ``t_0``, >= 0.
        end_step: the last prune step, ``t_0 + n dt`` (> ``begin_step``).
        frequency: ``dt``, steps between prunes (>= 1, dividing ``end_step - begin_step``).

    Returns:
        The sparsity the prune at (or last before) ``step`` targets.

    Example:
        >>> gmp_sparsity(50, 0.0, 0.8, 0, 100, 10)
        0.7
    """
    if step < begin_step:
        return float(initial)
    span = end_step - begin_step
    t = min(step, end_step) - begin_step
    t -= t % frequency  # the value of the last prune step
    return float(final + (initial - final) * (1.0 - t / span) ** 3)


def gmp_prune_steps(begin_step: int, end_step: int, frequency: int) -> list[int]:
    """The prune steps ``t_0, t_0 + dt, ..., end_step`` of :func:`gmp_sparsity`."""
    return list(range(begin_step, end_step + 1, frequency))


def cosine_update_fraction(step: int, initial: float, end_step: int) -> float:
    """RigL's drop fraction ``f(t) = alpha / 2 (1 + cos(pi t / T_end))`` (Evci et al. 2020, eq. 1).

    Example:
        >>> cosine_update_fraction(50, 0.3, 100)
        0.15
    """
    if step >= end_step:
        return 0.0
    return float(initial / 2.0 * (1.0 + math.cos(math.pi * step / end_step)))


def _fan_sum_over_product(shape: Sequence[int], kernel: bool) -> float:
    """``sum(dims) / prod(dims)``: ER for a matrix (``n_in + n_out`` over ``n_in n_out``), ERK with kernels."""
    dims = list(shape) if kernel else list(shape[:2])
    return sum(dims) / math.prod(dims)


def layer_densities(
    shapes: Mapping[str, Sequence[int]], density: float, distribution: str = "erk"
) -> dict[str, float]:
    """Per-layer densities whose kept total is ``density`` of all the weights of ``shapes``.

    ``"uniform"``: every layer at ``density``. ``"erk"`` (Evci et al. 2020, Sec. 3, from Mocanu et
    al.'s Erdos-Renyi rule): layer ``l`` at ``eps * sum(dims_l) / prod(dims_l)`` (for a linear layer
    ``eps (n_in + n_out) / (n_in n_out)``), one ``eps`` for all, solved so that the kept total is
    exact; a layer whose density would exceed 1 is dense and ``eps`` is solved again for the rest.

    Args:
        shapes: layer name -> weight shape (``(out, in)`` or ``(out, in, *kernel)``).
        density: overall kept share, in (0, 1].
        distribution: ``"uniform"`` or ``"erk"``.

    Returns:
        Layer name -> density in (0, 1].

    Raises:
        InputError: a density outside (0, 1] or an unknown distribution.

    Example:
        >>> d = layer_densities({"a": (100, 100), "b": (10, 100)}, 0.2)
        >>> round(d["a"] * 10000 + d["b"] * 1000)
        2200
    """
    density = check_unit(density, "density", low_open=True)
    if distribution not in DISTRIBUTIONS:
        raise InputError(f"Expected `distribution` in {DISTRIBUTIONS} but got {distribution!r}")
    if distribution == "uniform":
        return dict.fromkeys(shapes, density)
    sizes = {name: math.prod(shape) for name, shape in shapes.items()}
    raw = {name: _fan_sum_over_product(shape, kernel=True) for name, shape in shapes.items()}
    target = density * sum(sizes.values())
    dense: set[str] = set()
    while True:
        rest = [name for name in shapes if name not in dense]
        budget = target - sum(sizes[name] for name in dense)
        eps = budget / sum(raw[name] * sizes[name] for name in rest)
        over = {name for name in rest if eps * raw[name] > 1.0}
        if not over:
            break
        dense |= over
    return {name: 1.0 if name in dense else eps * raw[name] for name in shapes}


def epsilon_densities(shapes: Mapping[str, Sequence[int]], epsilon: float) -> dict[str, float]:
    """SET's densities: ``epsilon (n_in + n_out) / (n_in n_out)`` per layer (Mocanu et al. 2018, eq. 1).

    Raises:
        InputError: ``epsilon`` not > 0, or a layer whose density would exceed 1.

    Example:
        >>> epsilon_densities({"fc": (1000, 1000)}, 20)
        {'fc': 0.04}
    """
    if isinstance(epsilon, bool) or not isinstance(epsilon, int | float) or not epsilon > 0:
        raise InputError(f"Expected `epsilon` to be a number > 0 but got {epsilon!r}")
    out = {}
    for name, shape in shapes.items():
        value = epsilon * _fan_sum_over_product(shape, kernel=False)
        if value > 1.0:
            raise InputError(
                f"Expected `epsilon` to give layer {name!r} {tuple(shape)} a density <= 1 but it "
                f"gives {value:.3g}; use a smaller epsilon (at most "
                f"{1.0 / _fan_sum_over_product(shape, kernel=False):.3g})"
            )
        out[name] = value
    return out


def kept_count(density: float, n_entries: int) -> int:
    """The number of entries a layer of ``n_entries`` keeps at ``density`` (rounded, at least 1)."""
    return max(1, min(n_entries, int(round(density * n_entries))))
