"""What a degree report publishes: its JSON record, its scalars and its one-screen table.

The JSON record (``degrees/<event>.json`` of a run, ``degrees.json`` of ``analyze``) is a stable
contract read by later tooling::

    {"event": str, "epoch": int | None, "global_step": int | None,
     "layers": [{"name": str, "n_nodes": int, "degrees": [int, ...], "fit": TPLFit.as_dict(),
                 "alternatives": {"power_law" | "exponential" | "lognormal":
                                  LikelihoodRatioTest.as_dict()}}]}

``alternatives`` is present only when the likelihood-ratio tests were asked for and the fit is not
flagged. Scalars are named ``powerlaw/<layer>/<key>`` (:data:`FIT_SCALARS`) and
``powerlaw/<layer>/lr_<alternative>``, ``powerlaw/<layer>/lr_p_<alternative>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pl_powerlaw.analysis.degrees import DegreeReport, LayerReport

FIT_SCALARS = ("alpha", "xmin", "xmax", "ks", "p_value", "n_tail")


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
    tested = [layer for layer in layers if layer.alternatives]
    if tested:
        names = list(tested[0].alternatives)
        lines += ["", "likelihood ratios R (> 0 favours the TPL) and the p-value of their sign"]
        head = f"{'layer':<16} " + " ".join(f"{name:>19}" for name in names)
        lines += [head, "-" * len(head)]
        for layer in tested:
            cells = []
            for name in names:
                test = layer.alternatives[name]
                cells.append(f"{test.loglik_ratio:>+9.1f} p={_fmt(test.p_value, '.2g'):<7}")
            lines.append(f"{layer.name:<16} " + " ".join(cells))
    return "\n".join(lines)
