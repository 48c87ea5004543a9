"""Shared fixtures: the real-data root (skips when absent) and a tiny, fast trainer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import matplotlib
import pytest

from pl_powerlaw.provenance import PINNED_KERNELS

matplotlib.use("Agg")

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
PUBLISHED_THREADS = "2"  # the torch threads of the runs behind the docs' numbers (2 cores)


def run_cli(
    *args: str, cwd: Path, timeout: int = 300, pinned_kernels: bool = False
) -> subprocess.CompletedProcess:
    """``python -m pl_powerlaw <args>`` in a subprocess (warnings off, Agg backend), captured.

    ``pinned_kernels`` runs it with :data:`pl_powerlaw.provenance.PINNED_KERNELS` and
    :data:`PUBLISHED_THREADS` threads, as the published runs that a test re-derives were made.
    """
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "MPLBACKEND": "Agg"}
    if pinned_kernels:
        env.update(PINNED_KERNELS, OMP_NUM_THREADS=PUBLISHED_THREADS)
    return subprocess.run(
        [sys.executable, "-m", "pl_powerlaw", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def real_data_root() -> Path | None:
    """The data root of the real MNIST files (``PL_POWERLAW_DATA``), or None when missing."""
    root = os.environ.get("PL_POWERLAW_DATA")
    if root and (Path(root) / "mnist" / "train-images-idx3-ubyte.gz").exists():
        return Path(root)
    return None


@pytest.fixture
def mnist_root() -> Path:
    """The real MNIST data root; the test is skipped when ``PL_POWERLAW_DATA`` has no MNIST."""
    root = real_data_root()
    if root is None:
        pytest.skip("real MNIST not found: set PL_POWERLAW_DATA to a folder holding mnist/")
    return root


@pytest.fixture
def tiny_trainer_kwargs(tmp_path: Path) -> dict:
    """Keyword arguments for a tiny CPU trainer that logs into ``tmp_path``."""
    return {
        "accelerator": "cpu",
        "devices": 1,
        "default_root_dir": str(tmp_path),
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "logger": False,
    }
