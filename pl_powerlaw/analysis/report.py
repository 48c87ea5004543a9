"""Degree analysis of a net: degrees per node layer, TPL fits, the JSON record and a summary table.

Shared by the Lightning callback :class:`pl_powerlaw.callbacks.DegreeDistributionMonitor` and by
``python -m pl_powerlaw analyze``; it knows nothing of Lightning.

The JSON record is a stable contract read by later tooling::

    {"event": str, "epoch": int | None, "global_step": int | None,
     "layers": [{"name": str, "n_nodes": int, "degrees": [int, ...], "fit": TPLFit.as_dict(),
                 "alternatives": {"power_law" | "exponential" | "lognormal":
                                  LikelihoodRatioTest.as_dict()}}]}

``alternatives`` is present only when the likelihood-ratio tests were asked for and the fit is not
flagged.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from pl_powerlaw.atomic import atomic_file
from pl_powerlaw.connectivity import node_degrees
from pl_powerlaw.fitting import (
    LikelihoodRatioTest,
    TPLFit,
    compare_alternatives,
    fit_truncated_power_law,
)


@dataclass(frozen=True)
class LayerReport:
    """Degrees of one node layer, their truncated power-law fit and its likelihood-ratio tests."""

    name: str
    degrees: np.ndarray
    fit: TPLFit
    alternatives: dict[str, LikelihoodRatioTest] | None = None

    @property
    def n_nodes(self) -> int:
        return int(self.degrees.size)

    def as_dict(self) -> dict[str, Any]:
        out = {
            "name": self.name,
            "n_nodes": self.n_nodes,
            "degrees": [int(d) for d in self.degrees],
            "fit": self.fit.as_dict(),
        }
        if self.alternatives is not None:
            out["alternatives"] = {k: t.as_dict() for k, t in self.alternatives.items()}
        return out


def fit_layers(
    degrees: dict[str, np.ndarray],
    n_boot: int = 0,
    seed: int = 0,
    progress: bool = False,
    compare: bool = False,
    **fit_kwargs: Any,
) -> list[LayerReport]:
    """Fit a truncated power law to each layer's degrees (``fit_kwargs`` go to the fit).

    With ``compare``, each fit that is not flagged is also tested against a pure power law, an
    exponential and a log-normal (:func:`~pl_powerlaw.fitting.compare_alternatives`).
    """
    reports = []
    for name, layer_degrees in degrees.items():
        fit = fit_truncated_power_law(
            layer_degrees, n_boot=n_boot, seed=seed, progress=progress, **fit_kwargs
        )
        tests = None
        if compare and not fit.flagged and fit.discrete:
            try:
                tests = compare_alternatives(layer_degrees, fit)
            except (ValueError, ArithmeticError, np.linalg.LinAlgError) as error:
                # an auxiliary statistic must not stop a long training run: say so and go on
                warnings.warn(f"{name}: likelihood-ratio tests skipped: {error}", stacklevel=2)
        reports.append(LayerReport(name, np.asarray(layer_degrees, dtype=np.int64), fit, tests))
    return reports


def analyze_net(
    net: nn.Module,
    input_shape: Sequence[int] | None = None,
    layers: Sequence[str] | None = None,
    n_boot: int = 0,
    seed: int = 0,
    progress: bool = False,
    compare: bool = False,
    **fit_kwargs: Any,
) -> list[LayerReport]:
    """Degrees of every node layer of ``net`` and their fits (see :func:`node_degrees`)."""
    degrees = node_degrees(net, input_shape=input_shape, layers=layers)
    as_numpy = {name: d.cpu().numpy() for name, d in degrees.items()}
    return fit_layers(
        as_numpy, n_boot=n_boot, seed=seed, progress=progress, compare=compare, **fit_kwargs
    )


def degrees_record(
    event: str,
    reports: Sequence[LayerReport],
    epoch: int | None = None,
    global_step: int | None = None,
) -> dict[str, Any]:
    """The JSON-ready record of one analysis (the ``degrees/<event>.json`` schema)."""
    return {
        "event": event,
        "epoch": epoch,
        "global_step": global_step,
        "layers": [report.as_dict() for report in reports],
    }


def write_json_atomic(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as JSON to ``path`` through a temporary file and a rename (never half-written)."""
    path = Path(path)
    with atomic_file(path) as tmp, open(tmp, "w") as handle:
        json.dump(obj, handle, indent=1, allow_nan=False)
        handle.write("\n")
    return path


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def summary_table(reports: Sequence[LayerReport]) -> str:
    """A one-screen table: layer, nodes, alpha, xmin, xmax, KS, p (flag reason when flagged)."""
    header = f"{'layer':<16} {'nodes':>7} {'alpha':>8} {'xmin':>9} {'xmax':>9} {'KS':>7} {'p':>6}"
    lines = [header, "-" * len(header)]
    for report in reports:
        fit = report.fit
        row = f"{report.name:<16} {report.n_nodes:>7d} "
        if fit.flagged:
            row += f"flagged: {fit.reason}"
        else:
            row += (
                f"{_fmt(fit.alpha, '8.3f')} {_fmt(fit.xmin, '9d')} {_fmt(fit.xmax, '9d')} "
                f"{_fmt(fit.ks, '7.4f')} {_fmt(fit.p_value, '6.3f')}"
            )
        lines.append(row)
    tested = [r for r in reports if r.alternatives]
    if tested:
        names = list(tested[0].alternatives)
        lines += ["", "likelihood ratios R (> 0 favours the TPL) and the p-value of their sign"]
        head = f"{'layer':<16} " + " ".join(f"{name:>19}" for name in names)
        lines += [head, "-" * len(head)]
        for report in tested:
            cells = []
            for name in names:
                test = report.alternatives[name]
                cells.append(f"{test.loglik_ratio:>+9.1f} p={_fmt(test.p_value, '.2g'):<7}")
            lines.append(f"{report.name:<16} " + " ".join(cells))
    return "\n".join(lines)
