"""What a degree report publishes: its JSON record, its scalars and its one-screen table.

The JSON record (``degrees/<event>.json`` of a run, ``degrees.json`` of ``analyze``) is a stable
contract read by later tooling::

    {"event": str, "epoch": int | None, "global_step": int | None,
     "layers": [{"name": str, "n_nodes": int, "degrees": [int, ...], "fit": TPLFit.as_dict(),
                 "alternatives": {"power_law" | "exponential" | "lognormal":
                                  LikelihoodRatioTest.as_dict()}}]}

``alternatives`` is present only when the likelihood-ratio tests were asked for and the fit is not
flagged; ``null`` (:class:`~pl_powerlaw.fitting.NullComparison` of the random-pruning draws, with
``draws`` and the first draw's ``fit``) only when null draws were made; ``verdict``
(:class:`~pl_powerlaw.fitting.Verdict`: ``label``, ``reason``, ``facts``) always. Scalars are named
``powerlaw/<layer>/<key>`` (:data:`FIT_SCALARS`), ``powerlaw/<layer>/lr_<alternative>``,
``powerlaw/<layer>/lr_p_<alternative>`` and ``null/<layer>/<key>`` (:data:`NULL_SCALARS`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pl_powerlaw.analysis.degrees import DegreeReport, LayerReport

FIT_SCALARS = ("alpha", "xmin", "xmax", "ks", "p_value", "n_tail")
NULL_SCALARS = ("ks_p_value", "ad_p_value")  # the two-sample tests against the null
NULL_SPREADS = ("dispersion", "gini")  # each as <key> (the data) and <key>_null_mean


def degrees_record(report: DegreeReport) -> dict[str, Any]:
    """The JSON-ready record of one analysis (the ``degrees/<event>.json`` schema)."""
    return {
        "event": report.event,
        "epoch": report.epoch,
        "global_step": report.global_step,
        "layers": [layer.as_dict() for layer in report.layers],
    }


def fit_scalars(layers: Sequence[LayerReport]) -> dict[str, float]:
    """Every layer's fit and likelihood-ratio numbers as ``powerlaw/<layer>/<key>`` scalars."""
    scalars = {}
    for layer in layers:
        fit = layer.fit.as_dict()
        for key in FIT_SCALARS:
            if fit.get(key) is not None:
                scalars[f"powerlaw/{layer.name}/{key}"] = float(fit[key])
        for name, test in (layer.alternatives or {}).items():
            scalars[f"powerlaw/{layer.name}/lr_{name}"] = float(test.loglik_ratio)
            if test.p_value is not None:
                scalars[f"powerlaw/{layer.name}/lr_p_{name}"] = float(test.p_value)
        if layer.null is not None:
            null = layer.null.as_dict()
            for key in NULL_SCALARS:
                if null.get(key) is not None:
                    scalars[f"null/{layer.name}/{key}"] = float(null[key])
            for key in NULL_SPREADS:
                spread = null.get(key) or {}
                for part, suffix in (("value", ""), ("null_mean", "_null_mean")):
                    if spread.get(part) is not None:
                        scalars[f"null/{layer.name}/{key}{suffix}"] = float(spread[part])
    return scalars


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def summary_table(layers: Sequence[LayerReport]) -> str:
    """A one-screen table: layer, nodes, alpha, xmin, xmax, KS, p (flag reason when flagged)."""
    header = f"{'layer':<16} {'nodes':>7} {'alpha':>8} {'xmin':>9} {'xmax':>9} {'KS':>7} {'p':>6}"
    lines = [header, "-" * len(header)]
    for layer in layers:
        fit = layer.fit
        row = f"{layer.name:<16} {layer.n_nodes:>7d} "
        if fit.flagged:
            row += f"flagged: {fit.reason}"
        else:
            row += (
                f"{_fmt(fit.alpha, '8.3f')} {_fmt(fit.xmin, '9d')} {_fmt(fit.xmax, '9d')} "
                f"{_fmt(fit.ks, '7.4f')} {_fmt(fit.p_value, '6.3f')}"
            )
        lines.append(row)
    judged = [layer for layer in layers if layer.verdict is not None]
    if judged:
        lines += ["", "verdicts (docs/verdicts.md; the random-pruning null where it was drawn)"]
        for layer in judged:
            lines.append(f"{layer.name:<16} {layer.verdict.label}: {layer.verdict.reason}")
    tested = [layer for layer in layers if layer.alternatives]
    if tested:
        names = list(tested[0].alternatives)
        lines += ["", "likelihood ratios R (> 0 favours the TPL) and their p-values"]
        head = f"{'layer':<16} " + " ".join(f"{name:>19}" for name in names)
        lines += [head, "-" * len(head)]
        for layer in tested:
            cells = []
            for name in names:
                test = layer.alternatives[name]
                cells.append(f"{test.loglik_ratio:>+9.1f} p={_fmt(test.p_value, '.2g'):<7}")
            lines.append(f"{layer.name:<16} " + " ".join(cells))
    return "\n".join(lines)


def markdown_table(report: DegreeReport) -> str:
    """The analysis as a markdown table (TensorBoard's text tab): the numbers of the record."""
    names = list(next((layer.alternatives for layer in report.layers if layer.alternatives), {}))
    head = ["layer", "nodes", "alpha", "xmin", "xmax", "KS", "p", *[f"R {n}" for n in names]]
    rows = [
        f"**{report.event}** (epoch {report.epoch}, step {report.global_step})",
        "",
        "| " + " | ".join([*head, "verdict"]) + " |",
        "|" + "---|" * (len(head) + 1),
    ]
    for layer in report.layers:
        fit = layer.fit
        cells = [layer.name, str(layer.n_nodes)]
        if fit.flagged:
            cells += ["flagged", "-", "-", "-", "-"]
        else:
            cells += [
                _fmt(fit.alpha, ".3f"), _fmt(fit.xmin, "d"), _fmt(fit.xmax, "d"),
                _fmt(fit.ks, ".4f"), _fmt(fit.p_value, ".3f"),
            ]  # fmt: skip
        for name in names:
            test = (layer.alternatives or {}).get(name)
            cells.append(
                "-" if test is None else f"{test.loglik_ratio:+.1f} (p={_fmt(test.p_value, '.2g')})"
            )
        cells.append("-" if layer.verdict is None else layer.verdict.label)
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)
