"""A SLURM requeue keeps the run: the same phase, the same masks, the same final weights.

The job runs the quick MLP config (dense -> prune at epoch 3 -> retrain to epoch 5) on fake MNIST
files under simulated SLURM variables, with a fake ``scontrol`` on the PATH that records its
arguments. At the end of epoch 3 (the first retraining epoch) it receives SIGUSR1 and is killed
(``slurm_signal.RequeueAt``). The requeued job is the same command line again. Lightning's SLURM
plugin does the signal handling and the restore; the test proves that our callbacks' state and the
run folder survive it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import CONFIGS
from data_helpers import make_fake_mnist

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGUSR1 is POSIX only")

TESTS = Path(__file__).resolve().parent


def job(folder: Path, data_root: Path, *extra: str) -> subprocess.CompletedProcess:
    """One SLURM job step of the quick MLP config in ``folder`` (its default_root_dir)."""
    bin_dir = folder / "bin"
    env = {
        **os.environ,
        "PYTHONWARNINGS": "ignore",
        "MPLBACKEND": "Agg",
        "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
        "PATH": os.pathsep.join([str(bin_dir), os.environ["PATH"]]),
        "SLURM_JOB_ID": "4242",
        "SLURM_JOB_NAME": "mlp_quick",
        "SLURM_NTASKS": "1",
        "SLURM_NTASKS_PER_NODE": "1",
        "SLURM_PROCID": "0",
        "SLURM_LOCALID": "0",
        "SLURM_NODEID": "0",
        "SLURM_NODELIST": "localhost",
    }
    command = [
        sys.executable, "-m", "pl_powerlaw", "fit",
        "--config", str(CONFIGS / "mlp_mnist_quick.yaml"),
        f"--data.init_args.data_root={data_root}",
        "--data.init_args.check_md5=false",
        "--data.init_args.val_size=20",
        "--data.init_args.cache=false",
        "--data.init_args.batch_size=20",
        "--degrees.init_args.n_boot=0",
        "--degrees.init_args.null_draws=0",
        "--trainer.enable_progress_bar=false",
        *extra,
    ]  # fmt: skip
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=300)


def make_scontrol(folder: Path) -> Path:
    """A fake ``scontrol`` that appends its arguments to ``folder/scontrol.log``."""
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    log = folder / "scontrol.log"
    script = bin_dir / "scontrol"
    script.write_text(f'#!/bin/sh\necho "$@" >> "{log}"\n')
    script.chmod(0o755)
    return log


def final_state(folder: Path) -> dict[str, torch.Tensor]:
    (ckpt,) = folder.glob("lightning_logs/version_*/checkpoints/last.ckpt")
    return torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    data_root = tmp_path_factory.mktemp("data")
    make_fake_mnist(data_root, n_train=60, n_test=20)
    requeued = tmp_path_factory.mktemp("requeued")
    log = make_scontrol(requeued)
    first = job(requeued, data_root, "--trainer.callbacks+=slurm_signal.RequeueAt",
                "--trainer.callbacks.epoch=3")  # fmt: skip
    hpc = sorted(requeued.glob("hpc_ckpt_*.ckpt"))
    hpc_state = torch.load(hpc[0], map_location="cpu", weights_only=True) if hpc else None
    second = job(requeued, data_root)
    reference = tmp_path_factory.mktemp("uninterrupted")
    make_scontrol(reference)
    whole = job(reference, data_root)
    return dict(first=first, second=second, whole=whole, log=log, hpc=hpc,
                hpc_state=hpc_state, requeued=requeued, reference=reference)  # fmt: skip


def test_the_signal_saves_a_checkpoint_and_requeues_the_job(runs):
    first = runs["first"]
    assert first.returncode == 143, first.stderr[-3000:]
    assert [p.name for p in runs["hpc"]] == ["hpc_ckpt_1.ckpt"]
    assert runs["log"].read_text().split() == ["requeue", "4242"]
    state = runs["hpc_state"]
    assert state["epoch"] == 3
    masks = {k: v for k, v in state["state_dict"].items() if k.endswith("weight_mask")}
    assert masks and all(torch.equal(m, m.bool().to(m.dtype)) for m in masks.values())
    assert any(float(m.mean()) < 0.5 for m in masks.values())  # pruned before the signal


def test_the_requeued_job_resumes_the_same_phase_and_run_folder(runs):
    second = runs["second"]
    assert second.returncode == 0, second.stderr[-3000:]
    out = second.stdout + second.stderr
    assert "hpc_ckpt_1.ckpt" in out  # Lightning restored the requeue checkpoint
    assert "kept fc1" not in out  # MagnitudePruning did not prune again
    assert "kept fc1 8.0%" in runs["first"].stdout + runs["first"].stderr
    versions = sorted(p.name for p in (runs["requeued"] / "lightning_logs").iterdir())
    assert versions == ["version_0"], versions  # one run, one folder for its records
    records = sorted(
        p.name for p in (runs["requeued"] / "lightning_logs/version_0/degrees").iterdir()
    )
    assert records == ["dense_end.json", "fit_end.json", "retrain1_start.json"]


def test_the_requeued_job_ends_as_the_uninterrupted_one(runs):
    assert runs["whole"].returncode == 0, runs["whole"].stderr[-3000:]
    hpc_masks = {k: v for k, v in runs["hpc_state"]["state_dict"].items() if k.endswith("_mask")}
    got, expected = final_state(runs["requeued"]), final_state(runs["reference"])
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert torch.equal(got[key], value), key
    for key, mask in hpc_masks.items():
        assert torch.equal(got[key], mask), key  # the retraining kept the masks of the prune


def test_each_job_of_the_run_adds_its_environment(runs):
    """environment.json: one entry per job that ran in the folder, the first kept on requeue."""
    import json

    requeued = json.loads(
        (runs["requeued"] / "lightning_logs/version_0/environment.json").read_text()
    )
    whole = json.loads(
        (runs["reference"] / "lightning_logs/version_0/environment.json").read_text()
    )
    assert len(requeued) == 2 and len(whole) == 1
    assert requeued[0]["time"] <= requeued[1]["time"]
    for entry in (*requeued, *whole):
        assert entry["torch"] == torch.__version__
        assert entry["torch_threads"] >= 1 and entry["cpu_capability"]
