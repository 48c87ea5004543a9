"""``analyze --prune`` prunes each matrix of a recurrent net (a state dict of the LSTM on MNIST rows).

Reference by hand: 90% of the 14,336 entries of ``weight_ih_l0`` pruned keeps 1,434; each kept
input weight is used at all 28 steps, so the input nodes' degrees sum to 28 x 1,434.
"""

from __future__ import annotations

import json

import torch
from conftest import run_cli

from pl_powerlaw.models import RecurrentNet


def test_analyze_prunes_every_recurrent_matrix(tmp_path):
    torch.manual_seed(0)
    torch.save(RecurrentNet().state_dict(), tmp_path / "lstm.pt")
    result = run_cli("analyze", "lstm.pt", "--net", "recurrent", "--prune", "0.9", "--null", "0",
                     "--out", "out", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    layers = {layer["name"]: layer for layer in json.loads((tmp_path / "out/degrees.json").read_text())["layers"]}
    assert set(layers) == {"input", "rnn.l0"}
    assert len(layers["input"]["degrees"]) == 28 and len(layers["rnn.l0"]["degrees"]) == 128
    assert sum(layers["input"]["degrees"]) == 28 * 1434
