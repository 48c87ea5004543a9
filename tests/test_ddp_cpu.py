"""Two-process DDP on CPU (gloo): pruning, task freezing and the degree monitor across ranks.

The ranks must end with bit-identical masks, owners and weights (each rank ranks |w| itself, with
deterministic ties), the kept counts must be the targets, the fit must not hang (no collective in
rank-zero-only code), and the degree records must be written once, by rank 0.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).resolve().parent


def run_ddp(kind: str, out: Path) -> tuple[dict, dict]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
    env.pop("LOCAL_RANK", None)
    proc = subprocess.run(
        [sys.executable, str(HERE / "ddp_run.py"), kind, str(out)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=out,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return torch.load(out / "rank0.pt"), torch.load(out / "rank1.pt")


def assert_identical(rank0: dict, rank1: dict) -> None:
    assert rank0.keys() == rank1.keys()
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), f"{key} differs between the ranks"


@pytest.mark.parametrize("kind", ["prune", "continual"])
def test_ranks_agree_and_rank_zero_writes_the_records(kind, tmp_path):
    rank0, rank1 = run_ddp(kind, tmp_path)
    assert_identical(rank0, rank1)
    if kind == "prune":  # cumulative targets 50% then 75% of fc1 (12x16) and fc2 (16x8)
        assert int(rank0["fc1.weight_mask"].sum()) == 12 * 16 - round(0.75 * 12 * 16)
        assert int(rank0["fc2.weight_mask"].sum()) == 16 * 8 - round(0.75 * 16 * 8)
        assert int(rank0["fc3.weight_mask"].sum()) == 8 * 3  # the output layer is not pruned
        assert torch.all(rank0["fc1.weight"][rank0["fc1.weight_mask"] == 0] == 0)
    else:  # both tasks own entries; no entry is owned by a task and pruned
        owner = rank0["fc1.weight_owner"]
        assert {-1, 0, 1} <= set(owner.unique().tolist())
        assert torch.all(rank0["fc1.weight_mask"][owner >= 0] == 1)
    records = sorted((tmp_path / "logs" / "version_0" / "degrees").glob("*.json"))
    assert "fit_end.json" in [p.name for p in records]
    final = json.loads((tmp_path / "logs" / "version_0" / "degrees" / "fit_end.json").read_text())
    assert [layer["name"] for layer in final["layers"]][:1] == ["input"]
    leftovers = [p for p in (tmp_path / "logs").rglob(".*") if p.is_file()]
    assert not leftovers
