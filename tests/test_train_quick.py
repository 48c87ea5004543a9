"""Slow end-to-end runs of the quick configs on the real MNIST (run in CI when the data is there)."""

import json
from pathlib import Path

import pytest
from conftest import CONFIGS

from pl_powerlaw.cli import lightning_main


def run_quick(config: str, tmp_path: Path, monkeypatch) -> tuple:
    monkeypatch.chdir(tmp_path)  # lightning_logs/ goes into the temporary folder
    cli = lightning_main(
        ["fit", "--config", str(CONFIGS / config), "--trainer.enable_progress_bar=false"]
    )
    return cli.trainer, Path(cli.trainer.log_dir)


@pytest.mark.slow
def test_mlp_quick_reaches_95_percent_and_writes_its_analysis(mnist_root, tmp_path, monkeypatch):
    trainer, log_dir = run_quick("mlp_mnist_quick.yaml", tmp_path, monkeypatch)
    assert float(trainer.callback_metrics["val/acc"]) >= 0.95
    summary = json.loads((log_dir / "pruning.json").read_text())
    assert summary["accuracy"]["test_dense/acc"] >= 0.95
    assert summary["accuracy"]["test_sparse/acc"] >= 0.95
    assert summary["kept"]["3"] == {
        "fc1": round(0.08 * 784 * 1024),
        "fc2": round(0.08 * 1024 * 1024),
    }
    events = {p.stem for p in (log_dir / "degrees").glob("*.json")}
    assert {"dense_end", "retrain1_start", "fit_end"} <= events
    assert (log_dir / "checkpoints" / "last.ckpt").exists()
    assert (log_dir / "config.yaml").exists()
