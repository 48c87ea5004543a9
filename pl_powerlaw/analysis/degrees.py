"""From a net to a degree report: degrees per node layer, TPL fits and their comparisons.

The first half of the one analysis pipeline (``net -> degrees -> fits -> report -> publish``)
that both :class:`pl_powerlaw.callbacks.DegreeDistributionMonitor` and ``python -m pl_powerlaw
analyze`` call; it knows nothing of Lightning. The degrees come from
:func:`pl_powerlaw.connectivity.node_degrees`, the fits from :mod:`pl_powerlaw.fitting`;
:mod:`pl_powerlaw.analysis.records` turns a report into its JSON record, scalars and table, and
:func:`pl_powerlaw.analysis.publish.publish` writes them.

Example:
    >>> import torch
    >>> from pl_powerlaw.nn import MaskedLinear
    >>> net = torch.nn.Sequential(MaskedLinear(30, 20), MaskedLinear(20, 2))
    >>> report = analyze_net(net, "fit_end", FitOptions(compare=False), input_shape=(30,))
    >>> [layer.name for layer in report.layers], report.layers[0].n_nodes
    (['input', '0'], 30)
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from pl_powerlaw.connectivity import graph_degrees, kept_entries, trace_graph
from pl_powerlaw.fitting import (
    LikelihoodRatioTest,
    NullComparison,
    TPLFit,
    Verdict,
    compare_alternatives,
    compare_to_null,
    fit_truncated_power_law,
    layer_verdict,
)
from pl_powerlaw.pruning import random_kept


@dataclass(frozen=True)
class FitOptions:
    """How every layer's degrees are fitted (shared by the monitor and ``analyze``).

    Args:
        n_boot: bootstrap replicates of the goodness-of-fit p-value (0 skips it).
        seed: seed of the bootstrap.
        r: the xmin/xmax search fraction (None: the engine's default).
        min_tail: least points in a candidate range (None: the engine's default).
        min_distinct: least distinct values in a candidate range (None: the engine's default).
        compare: also test each fit against a pure power law, an exponential and a log-normal.
        n_jobs: worker processes of the bootstrap (the p-values do not depend on it).
        progress: show a progress bar over the bootstrap replicates.
        null_draws: random-pruning draws of the null model (the same kept count per layer,
            positions uniformly at random), each measured and compared like the real net; 0 skips
            the null.
        null_seed: seed of the null draws.
    """

    n_boot: int = 0
    seed: int = 0
    r: float | None = None
    min_tail: int | None = None
    min_distinct: int | None = None
    compare: bool = True
    n_jobs: int = 1
    progress: bool = False
    null_draws: int = 0
    null_seed: int = 0

    def __post_init__(self) -> None:
        for name in ("n_boot", "n_jobs", "null_draws"):
            value, least = getattr(self, name), 1 if name == "n_jobs" else 0
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"Expected `{name}` to be an int >= {least} but got {value!r}")

    def fit_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`~pl_powerlaw.fitting.fit_truncated_power_law`."""
        optional = {"r": self.r, "min_tail": self.min_tail, "min_distinct": self.min_distinct}
        kwargs = {key: value for key, value in optional.items() if value is not None}
        if self.n_boot and self.n_jobs > 1:
            kwargs["n_jobs"] = self.n_jobs
        return {"n_boot": self.n_boot, "seed": self.seed, "progress": self.progress, **kwargs}


@dataclass(frozen=True)
class LayerReport:
    """Degrees of one node layer, their truncated power-law fit and its likelihood-ratio tests."""

    name: str
    degrees: np.ndarray
    fit: TPLFit
    alternatives: dict[str, LikelihoodRatioTest] | None = None
    verdict: Verdict | None = None
    null: NullComparison | None = None
    null_fit: TPLFit | None = None
    null_degrees: tuple[np.ndarray, ...] | None = None

    @property
    def n_nodes(self) -> int:
        return int(self.degrees.size)

    def as_dict(self) -> dict[str, Any]:
        """The layer's entry of the JSON record (see :mod:`pl_powerlaw.analysis.records`)."""
        out = {
            "name": self.name,
            "n_nodes": self.n_nodes,
            "degrees": [int(d) for d in self.degrees],
            "fit": self.fit.as_dict(),
        }
        if self.alternatives is not None:
            out["alternatives"] = {k: t.as_dict() for k, t in self.alternatives.items()}
        if self.null is not None:
            out["null"] = {
                "draws": len(self.null_degrees or ()),
                **self.null.as_dict(),
                "fit": None if self.null_fit is None else self.null_fit.as_dict(),
            }
        if self.verdict is not None:
            out["verdict"] = self.verdict.as_dict()
        return out


@dataclass(frozen=True)
class DegreeReport:
    """One analysis of a net at one moment (``event``): a :class:`LayerReport` per node layer."""

    event: str
    layers: tuple[LayerReport, ...] = field(default_factory=tuple)
    epoch: int | None = None
    global_step: int | None = None


def to_numpy(degrees: Mapping[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """The hand-off from torch to the fitting layer: each layer's degrees as an int64 array."""
    return {name: value.detach().cpu().numpy().astype(np.int64) for name, value in degrees.items()}


def fit_layers(
    degrees: Mapping[str, np.ndarray],
    options: FitOptions | None = None,
    null_degrees: Mapping[str, Sequence[np.ndarray]] | None = None,
    memo: AnalysisMemo | None = None,
) -> list[LayerReport]:
    """Fit, compare and judge each layer's degrees.

    Each layer gets its truncated power-law fit; with ``options.compare``, each fit that is not
    flagged is also tested against a pure power law, an exponential and a log-normal
    (:func:`~pl_powerlaw.fitting.compare_alternatives`; a failing test warns and leaves the fit,
    an auxiliary statistic must not stop a long run). With ``null_degrees`` (the same layer under
    random pruning) the real degrees are compared with the null's
    (:func:`~pl_powerlaw.fitting.compare_to_null`) and the first null draw is fitted the same way.
    Every layer then gets its :func:`~pl_powerlaw.fitting.layer_verdict`. With ``memo``, a layer
    whose degrees, options and null are those of an earlier call gets that call's report (every
    step of the fit is deterministic, so the numbers are the same).
    """
    options = options or FitOptions()
    reports = []
    for name, layer_degrees in degrees.items():
        draws = tuple(null_degrees.get(name, ())) if null_degrees else ()
        if memo is None:
            reports.append(fit_layer(name, layer_degrees, options, draws))
        else:
            reports.append(memo.layer(name, layer_degrees, options, draws))
    return reports


def fit_layer(
    name: str, degrees: np.ndarray, options: FitOptions, null_degrees: Sequence[np.ndarray] = ()
) -> LayerReport:
    """One layer's :class:`LayerReport`: fit, comparisons, null and verdict (see :func:`fit_layers`)."""
    fit = fit_truncated_power_law(degrees, **options.fit_kwargs())
    tests = None
    if options.compare and not fit.flagged and fit.discrete:
        try:
            tests = compare_alternatives(degrees, fit)
        except (ValueError, ArithmeticError, np.linalg.LinAlgError) as error:
            warnings.warn(f"{name}: likelihood-ratio tests skipped: {error}", stacklevel=3)
    draws = tuple(null_degrees) if not fit.flagged else ()
    null = null_fit = None
    if draws:
        try:
            null = compare_to_null(degrees, draws)
        except ValueError as error:  # e.g. one value everywhere: nothing to compare
            warnings.warn(f"{name}: random-pruning null skipped: {error}", stacklevel=3)
            draws = ()
    if draws:
        null_kwargs = {**options.fit_kwargs(), "n_boot": 0, "progress": False}
        null_kwargs.pop("n_jobs", None)
        null_fit = fit_truncated_power_law(draws[0], **null_kwargs)
    return LayerReport(
        name,
        np.asarray(degrees, dtype=np.int64),
        fit,
        tests,
        verdict=layer_verdict(fit, tests, null),
        null=null,
        null_fit=null_fit,
        null_degrees=draws or None,
    )


def random_pruning_degrees(
    graph: Any, kept: Mapping[str, torch.Tensor], draws: int, seed: int = 0
) -> dict[str, list[np.ndarray]]:
    """Degrees of ``draws`` random-pruning nulls of one net: the same graph and kept counts.

    Args:
        graph: the net's :func:`~pl_powerlaw.connectivity.trace_graph`.
        kept: its kept entries (:func:`~pl_powerlaw.connectivity.kept_entries`).
        draws: number of null nets.
        seed: seed of the draws (one CPU generator for all of them).
    """
    if draws and all(bool(torch.all(entries != 0)) for entries in kept.values()):
        # nothing pruned: every random subset of n of n entries is all of them
        degrees = to_numpy(graph_degrees(graph, kept))
        return {name: [values.copy() for _ in range(draws)] for name, values in degrees.items()}
    generator = torch.Generator().manual_seed(seed)
    out: dict[str, list[np.ndarray]] = {}
    for _ in range(draws):
        for name, values in to_numpy(graph_degrees(graph, random_kept(kept, generator))).items():
            out.setdefault(name, []).append(values)
    return out


def degrees_digest(degrees: np.ndarray, null_degrees: Sequence[np.ndarray] = ()) -> str:
    """A fingerprint of a layer's degrees and its null draws (what its fits and figures show)."""
    digest = hashlib.sha1(np.ascontiguousarray(degrees, dtype=np.int64).tobytes())
    for draw in null_degrees:
        digest.update(b"|" + np.ascontiguousarray(draw, dtype=np.int64).tobytes())
    return digest.hexdigest()


class AnalysisMemo:
    """What repeated analyses of one net can share: its random-pruning null and its layer fits.

    * **The null** depends only on the traced graph, the kept count of each layer, the number of
      draws and the seed, not on which entries are kept. While retraining (or under
      prune-and-regrow) the counts stay fixed, so the draws are made once and reused, with the
      same numbers.
    * **A layer's report** (fit, comparisons, null comparison, verdict) depends only on its
      degrees, the fit options and its null draws. Between two analyses of a static sparse net
      (every epoch of a retraining phase, ``epoch<N>`` and ``<phase>_end`` at one step) nothing
      of that changes, so it is computed once.

    * **The traced graph** depends on the net's modules and forward, not on its weights or
      masks: it is traced once per net and structure (module names and types), input shape,
      node layers and reuse rule.

    Keep one memo per net (the degree monitor does); it holds the last ``size`` distinct entries
    of each kind.

    Example:
        >>> from pl_powerlaw.nn import MaskedLinear
        >>> from pl_powerlaw.connectivity import trace_graph, kept_entries
        >>> net = torch.nn.Sequential(MaskedLinear(30, 20), MaskedLinear(20, 2))
        >>> graph, memo = trace_graph(net, (30,)), AnalysisMemo()
        >>> first = memo.null_degrees(graph, kept_entries(net, graph), 3, seed=0)
        >>> memo.null_degrees(graph, kept_entries(net, graph), 3, seed=0) is first
        True
    """

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._null: dict[tuple, dict[str, list[np.ndarray]]] = {}
        self._layers: dict[tuple, LayerReport] = {}
        self._graphs: dict[tuple, Any] = {}

    def _remember(self, entries: dict, key: tuple, compute: Callable[[], Any]) -> Any:
        if key not in entries:
            if len(entries) >= self.size:
                entries.pop(next(iter(entries)))
            entries[key] = compute()
        return entries[key]

    def graph(
        self,
        net: nn.Module,
        input_shape: Sequence[int] | None = None,
        layers: Sequence[str] | None = None,
        reuse: str = "unrolled",
    ) -> Any:
        """:func:`~pl_powerlaw.connectivity.trace_graph` of ``net``, traced once per structure."""
        structure = tuple((name, type(module)) for name, module in net.named_modules())
        key = (
            id(net),
            structure,
            None if input_shape is None else tuple(input_shape),
            None if layers is None else tuple(layers),
            reuse,
        )
        return self._remember(
            self._graphs, key, lambda: trace_graph(net, input_shape, layers, reuse)
        )

    @staticmethod
    def null_key(graph: Any, kept: Mapping[str, torch.Tensor], draws: int, seed: int) -> tuple:
        counts = tuple(
            (name, tuple(entries.shape), int(torch.count_nonzero(entries)))
            for name, entries in kept.items()
        )
        layers = tuple((layer.name, layer.n_nodes, layer.shape) for layer in graph.node_layers)
        return (tuple(graph.input_shape), layers, tuple(graph.layer_names), counts, draws, seed)

    def null_degrees(
        self, graph: Any, kept: Mapping[str, torch.Tensor], draws: int, seed: int = 0
    ) -> dict[str, list[np.ndarray]]:
        """:func:`random_pruning_degrees` of these arguments, drawn once per distinct key."""
        key = self.null_key(graph, kept, draws, seed)
        return self._remember(
            self._null, key, lambda: random_pruning_degrees(graph, kept, draws, seed)
        )

    def layer(
        self,
        name: str,
        degrees: np.ndarray,
        options: FitOptions,
        null_degrees: Sequence[np.ndarray] = (),
    ) -> LayerReport:
        """:func:`fit_layer` of these arguments, computed once per distinct degrees and null."""
        key = (
            name,
            np.shape(degrees),
            len(null_degrees),
            degrees_digest(degrees, null_degrees),
            options,
        )
        return self._remember(
            self._layers, key, lambda: fit_layer(name, degrees, options, null_degrees)
        )


def analyze_net(
    net: nn.Module,
    event: str,
    options: FitOptions | None = None,
    input_shape: Sequence[int] | None = None,
    layers: Sequence[str] | None = None,
    epoch: int | None = None,
    global_step: int | None = None,
    graph: Any | None = None,
    reuse: str = "unrolled",
    memo: AnalysisMemo | None = None,
) -> DegreeReport:
    """Degrees of every node layer of ``net``, their fits, comparisons, null and verdicts.

    Args:
        net: the (pruned) net, any traceable feedforward net (see
            :func:`pl_powerlaw.connectivity.node_degrees`).
        event: the moment's name (``dense_end``, ``analyze``, ...).
        options: how the fits are made and how many random-pruning draws are compared.
        input_shape: shape of one input without the batch dimension (default: the net's).
        layers: learnable layers whose outputs are node layers (default: all but output heads).
        epoch: training epoch of the moment, if any.
        global_step: optimizer step of the moment, if any.
        graph: the net's :func:`~pl_powerlaw.connectivity.trace_graph`, when the caller traced
            it already (then ``input_shape``, ``layers`` and ``reuse`` are not used).
        reuse: how often a kept weight of a recurrent module counts, ``"unrolled"`` (once per
            time step it is used) or ``"none"`` (once); see
            :mod:`pl_powerlaw.connectivity.recurrent`.
        memo: remembers the random-pruning null and the layer fits of earlier analyses of the
            same net (the same numbers, computed once while they cannot change).
    """
    options = options or FitOptions()
    if graph is None:
        trace = trace_graph if memo is None else memo.graph
        graph = trace(net, input_shape, layers, reuse)
    kept = kept_entries(net, graph)
    degrees = to_numpy(graph_degrees(graph, kept))
    null = None
    if options.null_draws:
        draw = random_pruning_degrees if memo is None else memo.null_degrees
        null = draw(graph, kept, options.null_draws, options.null_seed)
    layers = fit_layers(degrees, options, null, memo)
    return DegreeReport(event, tuple(layers), epoch, global_step)
