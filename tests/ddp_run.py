"""A two-process DDP fit on CPU (gloo), run as a script by ``tests/test_ddp_cpu.py``.

    python tests/ddp_run.py {prune,continual} OUT

Lightning's DDP launcher re-runs this script once per extra rank. Every rank saves its final net
state to ``OUT/rank<r>.pt``; rank 0 alone writes the degree records into the logger's folder.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from lightning.pytorch import Trainer, seed_everything
from lightning.pytorch.loggers import CSVLogger

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lightning_helpers import TinyData, TinyMLP  # noqa: E402
from test_continual_callback import TASKS, TOTAL, TinyTasks, make_model  # noqa: E402

from pl_powerlaw.callbacks import DegreeDistributionMonitor, MagnitudePruning  # noqa: E402
from pl_powerlaw.callbacks.task_freezing import TaskFreezing  # noqa: E402
from pl_powerlaw.models import ImageClassifier  # noqa: E402


def main(kind: str, out: Path) -> None:
    seed_everything(0)
    monitor = DegreeDistributionMonitor(n_boot=20)
    if kind == "prune":
        model = ImageClassifier(
            TinyMLP(), num_classes=3, optimizer=lambda p: torch.optim.SGD(p, lr=0.1)
        )
        data, epochs = TinyData(), 4
        callbacks = [MagnitudePruning(prune_epochs=[1, 2], amount=[0.5, 0.75]), monitor]
    else:
        model, data, epochs = make_model(), TinyTasks(), TOTAL
        callbacks = [TaskFreezing(TASKS), monitor]
    trainer = Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp",
        max_epochs=epochs,
        callbacks=callbacks,
        logger=CSVLogger(out, name="logs", version=0),
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        reload_dataloaders_every_n_epochs=1 if kind == "continual" else 0,
    )
    trainer.fit(model, datamodule=data)
    state = {k: v.detach().clone() for k, v in model.net.state_dict().items()}
    torch.save(state, out / f"rank{trainer.global_rank}.pt")


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
