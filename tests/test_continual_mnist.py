"""Slow end-to-end run of the quick continual config on the real MNIST (skipped without the data).

The schedule of ``configs/continual_mnist_s8_quick.yaml`` is run unchanged on a 10,000-image
training subset (20 batches per epoch) through the command line, so it stays within a few minutes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import CONFIGS

from pl_powerlaw.cli import lightning_main


@pytest.mark.slow
@pytest.mark.parametrize("config", ["continual_mnist_s8_quick.yaml"])
def test_quick_continual_config_end_to_end(mnist_root, tmp_path, monkeypatch, config: str) -> None:
    monkeypatch.chdir(tmp_path)
    cli = lightning_main(
        [
            "fit",
            "--config",
            str(CONFIGS / config),
            f"--data.init_args.data_root={mnist_root}",
            "--data.init_args.train_subset=10000",
            "--trainer.enable_progress_bar=false",
        ]
    )
    trainer = cli.trainer
    log_dir = Path(trainer.log_dir)
    table = json.loads((log_dir / "table1.json").read_text())["table1"]
    for task in ("task0", "task1"):
        assert table[task]["dense"] >= 0.9 and table[task]["sparse"] >= 0.9, table
    assert (
        table["task0"]["final"] == table["task0"]["sparse"]
    )  # task A untouched by task B, exactly
    metrics = trainer.callback_metrics
    assert {"val/acc/task_0", "val/acc/task_1"} <= set(metrics)
    pa = json.loads((log_dir / "preferential_attachment.json").read_text())
    (transition,) = pa["transitions"]
    assert [layer["name"] for layer in transition["node_layers"]] == ["input", "fc1", "fc2"]
    events = {p.stem for p in (log_dir / "degrees").glob("*.json")}
    assert {"task0_dense_end", "task1_dense_start", "task1_retrain_start", "fit_end"} <= events
