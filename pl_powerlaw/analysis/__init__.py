"""The analysis pipeline: ``net -> degrees -> fits -> report -> publish`` (no Lightning).

* :mod:`~pl_powerlaw.analysis.degrees`: :func:`analyze_net` -> :class:`DegreeReport`;
* :mod:`~pl_powerlaw.analysis.records`: the JSON record, the scalars and the summary table;
* :mod:`~pl_powerlaw.analysis.publish`: :func:`publish` writes them (JSON, PNG, TensorBoard);
* :mod:`~pl_powerlaw.analysis.preferential`: the same for internal preferential attachment.
"""

from pl_powerlaw.analysis.degrees import (
    AnalysisMemo,
    DegreeReport,
    FitOptions,
    LayerReport,
    analyze_net,
    fit_layers,
    random_pruning_degrees,
    to_numpy,
)
from pl_powerlaw.analysis.publish import publish
from pl_powerlaw.analysis.records import (
    FIT_SCALARS,
    degrees_record,
    fit_scalars,
    markdown_table,
    summary_table,
)

__all__ = [
    "FIT_SCALARS",
    "DegreeReport",
    "FitOptions",
    "LayerReport",
    "AnalysisMemo",
    "analyze_net",
    "degrees_record",
    "fit_layers",
    "random_pruning_degrees",
    "fit_scalars",
    "markdown_table",
    "publish",
    "summary_table",
    "to_numpy",
]
