"""Shared fixtures: the real-data root (skips when absent) and a tiny, fast trainer."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"


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
