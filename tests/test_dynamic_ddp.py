"""Two-process DDP on CPU (gloo): RigL's masks are identical on both ranks.

The hardest case of the dynamic methods: each rank sees other batches, so the masks agree only if
the dense gradient used for growth is the all-reduced one (see :mod:`pl_powerlaw.callbacks.dynamic`).
The attachment analysis between epochs runs too and must not hang (no collective in rank-zero
code). This file is also the script the test runs: ``python tests/test_dynamic_ddp.py OUT``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).resolve().parent


@pytest.mark.slow  # two processes: about 35 s on 2 shared cores
def test_rigl_masks_agree_across_two_ranks(tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
    env.pop("LOCAL_RANK", None)
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rank0, rank1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    assert rank0.keys() == rank1.keys()
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), f"{key} differs between the ranks"
    history = torch.load(tmp_path / "history0.pt")
    assert sum(h["layers"]["fc1"]["grown"] for h in history if "layers" in h) > 0
    assert (tmp_path / "logs" / "version_0" / "preferential_attachment.json").is_file()


def main(out: Path) -> None:
    from lightning.pytorch import Trainer, seed_everything
    from lightning.pytorch.loggers import CSVLogger

    sys.path.insert(0, str(HERE))
    from lightning_helpers import TinyData, TinyMLP

    from pl_powerlaw.callbacks import PreferentialAttachmentAnalysis, RigL
    from pl_powerlaw.models import ImageClassifier

    seed_everything(0)
    model = ImageClassifier(
        TinyMLP(), num_classes=3, optimizer=lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)
    )
    rigl = RigL(density=0.3, every_n_steps=1, stop_fraction=1.0, test_accuracy=False)
    trainer = Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp",
        max_epochs=3,
        callbacks=[rigl, PreferentialAttachmentAnalysis(every_n_epochs=1, log_figures=False)],
        logger=CSVLogger(out, name="logs", version=0),
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, datamodule=TinyData())
    state = {k: v.detach().clone() for k, v in model.net.state_dict().items()}
    torch.save(state, out / f"rank{trainer.global_rank}.pt")
    torch.save(rigl.history, out / f"history{trainer.global_rank}.pt")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
