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
    layers = {
        layer["name"]: layer
        for layer in json.loads((tmp_path / "out/degrees.json").read_text())["layers"]
    }
    assert set(layers) == {"input", "rnn.l0"}
    assert len(layers["input"]["degrees"]) == 28 and len(layers["rnn.l0"]["degrees"]) == 128
    assert sum(layers["input"]["degrees"]) == 28 * 1434


def test_analyze_reuse_none_counts_each_kept_weight_once(tmp_path):
    torch.manual_seed(0)
    torch.save(RecurrentNet().state_dict(), tmp_path / "lstm.pt")
    degrees = {}
    for reuse in ("unrolled", "none"):
        result = run_cli("analyze", "lstm.pt", "--net", "recurrent", "--prune", "0.9",
                         "--null", "0", "--reuse", reuse, "--out", reuse, cwd=tmp_path)  # fmt: skip
        assert result.returncode == 0, result.stderr[-2000:]
        record = json.loads((tmp_path / reuse / "degrees.json").read_text())
        degrees[reuse] = {layer["name"]: layer["degrees"] for layer in record["layers"]}
    # by hand: an input node's kept weights (over the 4 gates' rows) are used at each of 28 steps
    assert sum(degrees["none"]["input"]) == 1434
    assert [28 * d for d in degrees["none"]["input"]] == degrees["unrolled"]["input"]
    # a unit: its kept input weights once plus its kept recurrent weights, in and out
    assert sum(degrees["none"]["rnn.l0"]) == 1434 + 2 * round(0.1 * 4 * 128 * 128)
    bad = run_cli("analyze", "lstm.pt", "--net", "recurrent", "--reuse", "twice",
                  "--out", "bad", cwd=tmp_path)  # fmt: skip
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "--reuse: expected one of unrolled, none but got 'twice'" in bad.stderr
    assert not (tmp_path / "bad").exists()
