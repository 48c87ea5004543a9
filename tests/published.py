"""The docs' tables as a run's records print them, for the tests that re-derive a page.

A test reruns the run behind a page (pinned kernels, ``conftest.run_cli(pinned_kernels=True)``),
formats its records with these functions exactly as the page prints them, and requires each row
on the page. So a change that moves a printed digit, or a row the page lost, fails the test, and
the numbers live in one place: the page.
"""

from __future__ import annotations

import json
from pathlib import Path

from conftest import CONFIGS, run_cli

DOCS = Path(__file__).resolve().parents[1] / "docs"


def rerun(config: str, *args: str, cwd: Path, data_root: Path) -> Path:
    """``fit --config configs/<config> <args>`` as the published runs were made; its log dir.

    Pinned kernels and 2 threads (``run_cli(pinned_kernels=True)``), which the run's
    environment.json must confirm, so a test cannot re-derive a page with other kernels.
    """
    result = run_cli(
        "fit", "--config", str(CONFIGS / config), *args,
        f"--data.init_args.data_root={data_root}", "--trainer.enable_progress_bar=false",
        cwd=cwd, timeout=1800, pinned_kernels=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    run = cwd / "lightning_logs" / "version_0"
    (environment,) = json.loads((run / "environment.json").read_text())
    assert environment["pinned_kernels"] and environment["torch_threads"] == 2, environment
    return run


def layers_of(path: Path) -> dict:
    """A degrees record (``degrees.json`` or a monitor's ``degrees/<event>.json``) by layer name."""
    return {layer["name"]: layer for layer in json.loads(path.read_text())["layers"]}


def close(value: float, printed: float, decimals: int) -> bool:
    """Whether ``value`` rounds to ``printed`` at ``decimals`` decimals."""
    return abs(value - printed) <= 0.5 * 10**-decimals + 1e-12


def page_section(page: str, start: str, end: str | None = None) -> str:
    """The text of ``docs/<page>`` from the line ``start`` up to ``end`` (or the page's end)."""
    text = (DOCS / page).read_text()
    section = text[text.index(start) :]
    return section if end is None else section[: section.index(end)]


def ratio(record: dict, model: str) -> str:
    """``"+6.3, 0.0069"``: the likelihood ratio R of the fit against ``model`` and its p."""
    test = record["alternatives"][model]
    return f"{test['loglik_ratio']:+.1f}, {test['p_value']:.2g}"


def fit_row(record: dict) -> str:
    """A layer of ``degrees/<event>.json`` as a row of the fit tables.

    The columns of docs/recurrent.md's fit tables: layer, nodes, alpha, xmin, xmax, fitted nodes
    in range (of the nodes with a degree), KS, bootstrap p, R and p against the power law, the
    exponential and the log-normal, the random-pruning null's KS and AD p, dispersion and Gini
    (null mean), verdict.
    """
    fit, null = record["fit"], record["null"]
    return (
        f"| {record['name']} | {record['n_nodes']} | {fit['alpha']:.3f} | {fit['xmin']} | "
        f"{fit['xmax']} | {fit['n_tail']}/{fit['n']} | {fit['ks']:.4f} | {fit['p_value']:.3f} | "
        f"{ratio(record, 'power_law')} | {ratio(record, 'exponential')} | "
        f"{ratio(record, 'lognormal')} | {null['ks_p_value']:.2g} | {null['ad_p_value']:.2g} | "
        f"{null['dispersion']['value']:.2f} ({null['dispersion']['null_mean']:.2f}) | "
        f"{null['gini']['value']:.3f} ({null['gini']['null_mean']:.3f}) | "
        f"{record['verdict']['label']} |"
    )


def fit_summary(record: dict) -> str:
    """``"1.222 [812, 2800], 24/27, 0.450"``: alpha, range, nodes in range and p of a layer."""
    fit = record["fit"]
    return (
        f"{fit['alpha']:.3f} [{fit['xmin']}, {fit['xmax']}], {fit['n_tail']}/{fit['n']}, "
        f"{fit['p_value']:.3f}"
    )


def attachment_rows(changes: dict) -> list[str]:
    """The between-events records (``changes`` of preferential_attachment.json) as table rows.

    docs/dynamic.md's columns: the pair, added / removed, the kind, then per node layer the
    ``Delta k`` slope with its binned r, the node-level r, and per layer pair the ``Pi`` slope.
    A pair in which nothing changed (before the first update, after the last) is not printed.
    """
    rows = []
    for pair, change in changes.items():
        if change["n_added"] == change["n_removed"] == 0:
            continue
        for kind in ("added", "removed"):
            layers, pairs = change[kind]["node_layers"], change[kind]["layer_pairs"]
            delta_k = ", ".join(
                f"{n['fit']['slope']:.2f} ({n['fit']['pearson_r']:.2f})" for n in layers
            )
            node_r = ", ".join(f"{n['node_fit']['pearson_r']:.2f}" for n in layers)
            pi = ", ".join(f"{p['fit_log_pi_vs_log_kk']['slope']:.2f}" for p in pairs)
            counts = f"{change['n_added']} / {change['n_removed']}"
            rows.append(f"| {pair} | {counts} | {kind} | {delta_k} | {node_r} | {pi} |")
    return rows
