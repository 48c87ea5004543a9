"""``analyze --out DIR`` never replaces earlier results silently (issue #12): refused, or --overwrite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from test_analyze_command import plain_state_dict, pruned_mlp

from pl_powerlaw.analyze import main


@pytest.fixture
def state_dict_file(tmp_path: Path) -> Path:
    path = tmp_path / "mlp.pt"
    torch.save(plain_state_dict(pruned_mlp()), path)
    return path


def contents(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def analyze(path: Path, out: Path, *args: str) -> int:
    return main([str(path), "--net", "mlp", "--null", "0", "--out", str(out), *args])


def test_out_holding_results_is_refused_and_left_as_it_was(state_dict_file, tmp_path, capsys):
    out = tmp_path / "out"
    assert analyze(state_dict_file, out) == 0
    before = contents(out)
    assert "degrees.json" in before
    capsys.readouterr()
    assert analyze(state_dict_file, out, "--prune", "0.5") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("analyze: error: --out "), err
    assert str(out) in err[0] and "--overwrite" in err[0] and "degrees.json" in err[0]
    assert contents(out) == before  # not one byte replaced
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlp.pt", "out"]  # no staging left


def test_overwrite_replaces_the_results_and_keeps_other_files(state_dict_file, tmp_path):
    out = tmp_path / "out"
    assert analyze(state_dict_file, out) == 0  # node layers input, fc1, fc2
    (out / "notes.txt").write_text("mine")
    assert analyze(state_dict_file, out, "--layers", "fc1", "--overwrite") == 0
    names = sorted(p.name for p in out.iterdir())
    # the stale figure of fc2 and the first run's TensorBoard events are gone
    assert names == ["ccdf_all_layers.png", "ccdf_fc1.png", "ccdf_input.png", "degrees.json",
                     "environment.json", "notes.txt", "tensorboard"]  # fmt: skip
    assert len(list((out / "tensorboard").iterdir())) == 1
    assert len(json.loads((out / "environment.json").read_text())) == 1  # replaced, not appended
    record = json.loads((out / "degrees.json").read_text())
    assert [layer["name"] for layer in record["layers"]] == ["input", "fc1"]
    assert (out / "notes.txt").read_text() == "mine"


def test_an_empty_folder_is_used_and_a_file_is_refused(state_dict_file, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert analyze(state_dict_file, empty) == 0
    assert (empty / "degrees.json").is_file()
    afile = tmp_path / "afile"
    afile.write_text("x")
    capsys.readouterr()
    assert analyze(state_dict_file, afile, "--overwrite") == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "is a file" in line and str(afile) in line
    assert afile.read_text() == "x"


def test_a_folder_filled_while_analyze_ran_is_not_overwritten(
    state_dict_file, tmp_path, monkeypatch
):
    """The check is made again right before the files move in (another run may have written)."""
    from pl_powerlaw import analyze as module

    out = tmp_path / "out"
    real = module.analyze_net

    def meanwhile(*args, **kwargs):
        out.mkdir()
        (out / "degrees.json").write_text("{}")
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "analyze_net", meanwhile)
    assert analyze(state_dict_file, out) == 2
    assert contents(out) == {"degrees.json": b"{}"}
