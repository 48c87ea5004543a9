"""A test-only callback that plays SLURM's part in a requeue: the signal, then the kill.

SLURM sends ``--signal=SIGUSR1@90`` before the time limit; Lightning's SLURM plugin then saves
``hpc_ckpt_<n>.ckpt`` and calls ``scontrol requeue $SLURM_JOB_ID``; later SLURM kills the job and
starts it again with the same command. This callback sends the signal to its own process at the end
of a given epoch and then ends the process without any clean-up, as the kill would.
"""

from __future__ import annotations

import os
import signal

from lightning.pytorch import Callback, LightningModule, Trainer


class RequeueAt(Callback):
    """At the end of training epoch ``epoch``: SIGUSR1 to this process, then exit at once."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            os.kill(os.getpid(), signal.SIGUSR1)  # the handler runs before the next line
            os._exit(143)  # 128 + SIGTERM, as a job killed by SLURM ends
