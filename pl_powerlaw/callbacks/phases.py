"""How callbacks find each other: small protocols for the schedules they expose.

A callback that changes the network at epoch boundaries (pruning, a task switch) exposes
``phases()``: a sorted list of ``(start_epoch, phase_name)`` whose first entry starts at epoch 0,
e.g. ``[(0, "dense"), (5, "retrain1")]``. The change that opens a phase is made in that
callback's ``on_train_epoch_start`` of the phase's first epoch. The degree monitor analyses the
net at the end of every phase (``<phase>_end``) and right after each change (``<phase>_start``).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


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
class TaskSchedule(Protocol):
    """A callback that trains tasks one after another and prunes each (continual learning)."""

    def pruned_tasks(self) -> list[int]:
        """Tasks whose prune has been made, in order."""
        ...
