"""Where callbacks write their files: ``trainer.log_dir``, read on every rank.

``Trainer.log_dir`` broadcasts rank 0's folder to all ranks: it is a collective. Read inside
rank-zero-only code it deadlocks DDP (rank 0 waits in the broadcast, the other ranks wait in
their next collective), so each callback reads it here, on every rank, before branching on rank.
"""

from __future__ import annotations

from pathlib import Path

from lightning.pytorch import Trainer


def run_dir(trainer: Trainer) -> Path | None:
    """The run's log folder, or None without one or in ``fast_dev_run``; call it on every rank.

    Example:
        >>> folder = run_dir(trainer)  # doctest: +SKIP
        >>> if trainer.is_global_zero and folder is not None:  # doctest: +SKIP
        ...     write_json_atomic(folder / "pruning.json", summary)
    """
    log_dir = trainer.log_dir  # a broadcast from rank 0: every rank must get here
    if log_dir is None or trainer.fast_dev_run:
        return None
    return Path(log_dir)
