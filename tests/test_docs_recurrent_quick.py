"""docs/recurrent.md's quick-config numbers are what the code gives today (real MNIST, slow).

Both quick runs of the page are rerun as the page says they were made (pinned kernels, 2
threads): ``configs/lstm_mnist_rows_quick.yaml`` (about a minute) and
``configs/continual_lstm_rows_s8_quick.yaml`` (about 80 s). Their records are formatted as the
page prints them (``published``) and each row must be on the page: the accuracies and kept counts,
the fit table of the quick LSTM, its ``reuse="none"`` fits (through ``analyze --reuse none`` on
the run's checkpoint, the user's path), and the continual run's Table I, kept counts and
preferential-attachment numbers.
"""

from __future__ import annotations

import json

import pytest
from conftest import run_cli
from published import fit_row, fit_summary, layers_of, page_section, rerun

pytestmark = pytest.mark.slow

T = 28  # MNIST rows: 28 steps


def test_quick_lstm_reproduces_the_published_tables(tmp_path, mnist_root):
    run = rerun("lstm_mnist_rows_quick.yaml", cwd=tmp_path, data_root=mnist_root)
    pruning = json.loads((run / "pruning.json").read_text())
    dense, sparse = (
        100 * pruning["accuracy"][key] for key in ("test_dense/acc", "test_sparse/acc")
    )
    assert pruning["kept"] == {"3": {"rnn.weight_ih_l0": 1434, "rnn.weight_hh_l0": 6554}}
    accuracy = page_section("recurrent.md", "## Accuracy", "## Truncated power-law fits")
    assert (
        f"| LSTM-128, quick (3 + 2 epochs, 10k images) | {dense:.2f} | {sparse:.2f} |" in accuracy
    )

    unrolled = layers_of(run / "degrees" / "fit_end.json")
    assert sorted(unrolled) == ["input", "rnn.l0"]
    table = page_section("recurrent.md", "**LSTM-128, quick**", "**2-layer LSTM-128, full**")
    for record in unrolled.values():
        assert fit_row(record) in table, fit_row(record)

    result = run_cli(
        "analyze", str(run / "checkpoints" / "last.ckpt"), "--reuse", "none", "--n-boot", "200",
        "--compare", "--out", str(tmp_path / "none"), cwd=tmp_path, pinned_kernels=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    none = layers_of(tmp_path / "none" / "degrees.json")
    # the page's reading of the rule: an input's unrolled degree is exactly T times its count
    assert unrolled["input"]["degrees"] == [T * k for k in none["input"]["degrees"]]
    rules = page_section("recurrent.md", "## How the `reuse` rule", 'With `reuse="none"`')
    for name in ("input", "rnn.l0"):
        (line,) = [line for line in rules.splitlines() if line.startswith(f"| quick | {name} |")]
        assert f"| {fit_summary(unrolled[name])}, " in line, (line, fit_summary(unrolled[name]))
        assert f"| {fit_summary(none[name])}, " in line, (line, fit_summary(none[name]))
        assert none[name]["verdict"]["label"] == unrolled[name]["verdict"]["label"], name


def test_quick_continual_lstm_reproduces_the_published_tables(tmp_path, mnist_root):
    run = rerun("continual_lstm_rows_s8_quick.yaml", cwd=tmp_path, data_root=mnist_root)
    table1 = json.loads((run / "table1.json").read_text())
    section = page_section("recurrent.md", "**One run on the real MNIST**", "## Tests")
    cells = [
        " / ".join(f"{table1['table1'][task][key]:.4f}" for key in ("dense", "sparse", "final"))
        for task in ("task0", "task1")
    ]
    assert f"| test accuracy dense / sparse / final | {cells[0]} | {cells[1]} |" in section
    kept = [
        " / ".join(f"{table1['kept'][task][m]:,}" for m in ("rnn.weight_ih_l0", "rnn.weight_hh_l0"))
        for task in ("task0", "task1")
    ]
    assert f"| kept `weight_ih_l0` / `weight_hh_l0` | {kept[0]} | {kept[1]} |" in section

    (transition,) = json.loads((run / "preferential_attachment.json").read_text())["transitions"]
    for pair in transition["layer_pairs"]:
        line = pair["fit_log_pi_vs_log_kk"]
        row = (
            f"| Pi({pair['lower']}, {pair['upper']}): log Pi vs log kk' | {line['slope']:.3f} | "
            f"{line['r2']:.3f} | {line['pearson_r']:.3f} | {line['n']} cells |"
        )
        assert row in section, row
    for layer in transition["node_layers"]:
        line, node = layer["fit"], layer["node_fit"]
        row = (
            f"| Delta k({layer['name']}) vs k | {line['slope']:.3f} | {line['r2']:.3f} | "
            f"{line['pearson_r']:.3f} | {line['n']} bins (node-level r {node['pearson_r']:.3f}) |"
        )
        assert row in section, row
    # the page's count of the new links: T per new input weight, T - 1 per recurrent one
    input_pair, recurrent_pair = transition["layer_pairs"]
    new_ih, new_hh = (table1["kept"]["task1"][m] for m in ("rnn.weight_ih_l0", "rnn.weight_hh_l0"))
    binned = sum(map(sum, input_pair["new_links"]))
    assert binned + input_pair["new_links_unbinned"] == T * new_ih
    assert sum(map(sum, recurrent_pair["new_links"])) == (T - 1) * new_hh
    assert (
        f"{binned:,} binned + {input_pair['new_links_unbinned']} unbinned = {T} x {new_ih:,}"
        in section
    )
