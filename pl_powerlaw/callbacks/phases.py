"""How callbacks find each other: small protocols for the schedules they expose.

A callback that changes the network at epoch boundaries (pruning, a task switch) exposes
``phases()``: a sorted list of ``(start_epoch, phase_name)`` whose first entry starts at epoch 0,
e.g. ``[(0, "dense"), (5, "retrain1")]``. The change that opens a phase is made in that
callback's ``on_train_epoch_start`` of the phase's first epoch. The degree monitor analyses the
net at the end of every phase (``<phase>_end``) and right after each change (``<phase>_start``).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from pl_powerlaw.errors import InputError


@runtime_checkable
class PhaseSource(Protocol):
    """A callback whose schedule splits training into named phases."""

    def phases(self) -> list[tuple[int, str]]:
        """``(start_epoch, name)`` pairs, sorted by epoch, the first starting at epoch 0."""
        ...


def check_phases(phases: list[tuple[int, str]], owner: str) -> list[tuple[int, str]]:
    """Validate a phase list (sorted, unique epochs and names, first at epoch 0)."""
    if not phases or phases[0][0] != 0:
        raise ValueError(f"Expected the phases of {owner} to start at epoch 0 but got {phases}")
    epochs = [epoch for epoch, _ in phases]
    names = [name for _, name in phases]
    if epochs != sorted(set(epochs)) or len(set(names)) != len(names):
        raise ValueError(
            f"Expected strictly increasing epochs and unique names in the phases of {owner} "
            f"but got {phases}"
        )
    return phases


@runtime_checkable
class FixedLength(Protocol):
    """A schedule that needs a set number of epochs to complete (e.g. every task's epochs)."""

    def schedule_epochs(self) -> int:
        """Epochs the schedule needs; ``max_epochs`` must be at least this."""
        ...


@runtime_checkable
class TaskSchedule(Protocol):
    """A callback that trains tasks one after another and prunes each (continual learning)."""

    def pruned_tasks(self) -> list[int]:
        """Tasks whose prune has been made, in order."""
        ...


@runtime_checkable
class RunSummary(Protocol):
    """A callback whose settings and results belong in TensorBoard's HParams tab."""

    def hparams(self) -> tuple[dict[str, Any], dict[str, float]]:
        """``(params, metrics)``: plain settings (str, int, float, bool) and final numbers."""
        ...


def check_schedule_fits(
    callbacks: list, max_epochs: int | None, fast_dev_run: bool = False
) -> None:
    """Refuse a run that ends before the last phase of a schedule starts (it would be silent).

    Args:
        callbacks: the trainer's callbacks; every :class:`PhaseSource` among them is checked.
        max_epochs: the trainer's ``max_epochs`` (None or -1: no limit).
        fast_dev_run: a smoke run, which is never refused.

    A :class:`FixedLength` schedule must also fit whole: ``max_epochs`` at least its
    ``schedule_epochs()``.

    Raises:
        InputError: naming the callback, its phases and ``max_epochs``.
    """
    if fast_dev_run or max_epochs in (None, -1):
        return
    for callback in callbacks:
        if isinstance(callback, FixedLength):
            needed = callback.schedule_epochs()
            if max_epochs < needed:
                raise InputError(
                    f"Expected `trainer.max_epochs` >= {needed} (the epochs "
                    f"{type(callback).__name__}'s schedule needs) but got {max_epochs}: the run "
                    "would end before the schedule completes"
                )
        if not isinstance(callback, PhaseSource):
            continue
        phases = callback.phases()
        last_epoch, last_phase = phases[-1]
        if last_epoch >= max_epochs:
            raise InputError(
                f"Expected `trainer.max_epochs` > {last_epoch} (where {type(callback).__name__}'s "
                f"phase {last_phase!r} starts) but got {max_epochs}: the run would end before "
                f"it; shorten the schedule too (its phases: {phases})"
            )
