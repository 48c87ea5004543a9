"""Publish a degree report: its JSON record, its PNG figures and its TensorBoard summaries.

The last step of the analysis pipeline, the same for a training run and for ``analyze``:

* the record (:func:`pl_powerlaw.analysis.records.degrees_record`) as JSON, written atomically;
* one CCDF figure per node layer (paper Figure 1) and the grid of all of them, each rendered
  once, as PNG files and as TensorBoard images ``ccdf/<layer>`` and ``ccdf_all_layers``: one tag
  per layer, time on TensorBoard's step axis (the event is in each figure's title), so the step
  slider scrubs through dense -> prune -> retrain;
* the CCDFs of every layer at several moments of a run (:func:`publish_trajectory`, one panel
  per layer, TensorBoard image ``ccdf_trajectory``);
* the scalars ``powerlaw/<layer>/...`` and ``null/<layer>/...``, a histogram ``degrees/<layer>``
  per layer, and the markdown table of the analysis as text ``degrees``, all at the same step.

The ``writer`` is anything with TensorBoard's ``SummaryWriter`` methods (``add_image``,
``add_scalar``, ``add_histogram``); Lightning's ``TensorBoardLogger.experiment`` is one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pl_powerlaw.analysis.degrees import DegreeReport, LayerReport, degrees_digest
from pl_powerlaw.analysis.records import degrees_record, fit_scalars, markdown_table
from pl_powerlaw.atomic import write_json_atomic

if TYPE_CHECKING:  # matplotlib is imported when a figure is drawn, not with the package
    from pl_powerlaw.plotting.canvas import TitledRenders

LogMetrics = Callable[[Mapping[str, float], int], None]


def png_name(layer: str) -> str:
    """The file name of a layer's CCDF figure: ``ccdf_<layer>.png`` with unsafe characters as ``_``."""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in layer)
    return f"ccdf_{safe}.png"


def log_scalars(
    scalars: Mapping[str, float],
    step: int,
    writer: Any | None = None,
    log_metrics: LogMetrics | None = None,
) -> None:
    """Log ``scalars`` at ``step`` through ``log_metrics`` if given, else ``writer.add_scalar``."""
    if log_metrics is not None:
        log_metrics(scalars, step)
    elif writer is not None:
        for key, value in scalars.items():
            writer.add_scalar(key, value, step)


def panel_key(layer: LayerReport) -> tuple:
    """What a layer's CCDF panel shows, but its title: name, degrees, fit, null and verdict."""
    fit = json.dumps(layer.fit.as_dict(), sort_keys=True, default=str)
    label = None if layer.verdict is None else layer.verdict.label
    return layer.name, degrees_digest(layer.degrees, layer.null_degrees or ()), fit, label


def publish_image(
    writer: Any | None,
    tag: str,
    pixels: np.ndarray,
    step: int,
    path: str | os.PathLike | None = None,
) -> None:
    """A rendered figure as the PNG file ``path`` and the TensorBoard image ``tag``, encoded once.

    A TensorBoard ``SummaryWriter`` gets the same PNG bytes as the file in an image summary (its
    ``add_image`` would encode the pixels a second time, more slowly); any other writer gets
    ``add_image`` of the RGB pixels.
    """
    from pl_powerlaw.plotting.canvas import encode_png

    if path is None and writer is None:
        return
    png = encode_png(pixels)
    if path is not None:
        Path(path).write_bytes(png)
    if writer is None:
        return
    file_writer = getattr(writer, "_get_file_writer", None)
    if file_writer is None:
        writer.add_image(tag, pixels[..., :3], step, dataformats="HWC")
        return
    from tensorboard.compat.proto.summary_pb2 import Summary

    height, width, channels = pixels.shape
    image = Summary.Image(height=height, width=width, colorspace=channels, encoded_image_string=png)
    file_writer().add_summary(Summary(value=[Summary.Value(tag=tag, image=image)]), step)


def grid_columns(n_panels: int) -> int:
    """Columns of the all-layers figure: one for up to 4 layers, so that TensorBoard's image card
    (which scales an image to its width) shows every panel as large as a one-layer figure; 2 for
    up to 16 layers, 4 beyond (VGG-16's 16 panels in 8 rows of 2)."""
    return 1 if n_panels <= 4 else 2 if n_panels <= 16 else 4


def publish(
    report: DegreeReport,
    writer: Any | None = None,
    record_path: str | os.PathLike | None = None,
    figure_dir: str | os.PathLike | None = None,
    log_metrics: LogMetrics | None = None,
    figures: bool = True,
    histograms: bool = True,
    step: int | None = None,
) -> list[Path]:
    """Write ``report``'s record, figures and summaries; returns the files written.

    :func:`publish_numbers` then, with ``figures``, :func:`publish_figures` (a caller that must
    not wait for the drawing, such as the degree monitor, calls the two itself).

    Args:
        report: the analysis.
        writer: a TensorBoard ``SummaryWriter`` (or None: no TensorBoard output).
        record_path: where the JSON record goes (None: no record).
        figure_dir: folder of the PNG figures (None: no PNG files).
        log_metrics: how the scalars are logged (``(scalars, step)``); by default through
            ``writer.add_scalar``.
        figures: draw the CCDF figures (for the PNG files and the TensorBoard images).
        histograms: log a histogram of each layer's degrees to TensorBoard.
        step: TensorBoard's step of the summaries (default: the report's ``global_step``).
    """
    written = publish_numbers(report, writer, record_path, log_metrics, histograms, step)
    if figures:
        written += publish_figures(report, writer, figure_dir, step)
    return written


def publish_numbers(
    report: DegreeReport,
    writer: Any | None = None,
    record_path: str | os.PathLike | None = None,
    log_metrics: LogMetrics | None = None,
    histograms: bool = True,
    step: int | None = None,
) -> list[Path]:
    """The record (JSON, atomic), the scalars, the markdown table and the degree histograms."""
    step = int(report.global_step or 0) if step is None else int(step)
    written: list[Path] = []
    if record_path is not None:
        written.append(write_json_atomic(record_path, degrees_record(report)))
    log_scalars(fit_scalars(report.layers), step, writer, log_metrics)
    if writer is not None:
        writer.add_text("degrees", markdown_table(report), step)
    if histograms and writer is not None:
        for layer in report.layers:
            if layer.degrees.size:
                writer.add_histogram(f"degrees/{layer.name}", layer.degrees, step)
    return written


def publish_figures(
    report: DegreeReport,
    writer: Any | None = None,
    figure_dir: str | os.PathLike | None = None,
    step: int | None = None,
    renders: TitledRenders | None = None,
) -> list[Path]:
    """The CCDF figure of each layer and the grid of all of them, each drawn once, as PNG files
    in ``figure_dir`` and as TensorBoard images ``ccdf/<layer>`` and ``ccdf_all_layers``.

    With ``renders`` (kept across the analyses of one run), a layer whose degrees, fit, null and
    verdict were drawn before is not drawn again: only its title (the moment) is (the same
    pixels; see :class:`~pl_powerlaw.plotting.canvas.TitledRenders`).
    """
    from pl_powerlaw.plotting import ccdf_figure, ccdf_grid_figure, render, tile_images

    step = int(report.global_step or 0) if step is None else int(step)
    written: list[Path] = []
    if writer is None and figure_dir is None:
        return written
    folder = None if figure_dir is None else Path(figure_dir)
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    panels = []
    for layer in report.layers:
        title = f"{layer.name} ({report.event})"
        label = None if layer.verdict is None else layer.verdict.label
        if renders is None:
            pixels = render(ccdf_figure(layer.degrees, layer.fit, title, layer.null_degrees, label))
        else:
            pixels = renders.render(
                panel_key(layer),
                lambda layer=layer, label=label: ccdf_figure(
                    layer.degrees, layer.fit, None, layer.null_degrees, label
                ),
                title,
            )
        panels.append(pixels)
        path = None if folder is None else folder / png_name(layer.name)
        publish_image(writer, f"ccdf/{layer.name}", pixels, step, path)
        written += [] if path is None else [path]
    grid = (
        tile_images(panels, grid_columns(len(panels))) if panels else render(ccdf_grid_figure([]))
    )
    path = None if folder is None else folder / "ccdf_all_layers.png"
    publish_image(writer, "ccdf_all_layers", grid, step, path)
    written += [] if path is None else [path]
    return written


def trajectory_moments(
    records: Sequence[Mapping[str, Any]], most: int = 6
) -> list[Mapping[str, Any]]:
    """At most ``most`` of the degree records (``degrees/<event>.json``), evenly spread in time.

    Records are ordered by ``global_step`` (at one step an ``_end`` record before a ``_start`` one,
    which sees the net after the change), one per step and kind (``epoch4`` and ``fit_end`` at one
    step are the same net: the first by name is kept); the first and the last are always kept.
    """
    from pl_powerlaw.plotting import pick_moments

    def key(record: Mapping[str, Any]) -> tuple[int, bool]:
        return int(record.get("global_step") or 0), str(record.get("event", "")).endswith("_start")

    ordered, seen = [], set()
    for record in sorted(records, key=key):  # one net per key: ``epoch4`` and ``fit_end`` alike
        if key(record) not in seen:
            seen.add(key(record))
            ordered.append(record)
    return [ordered[i] for i in pick_moments(len(ordered), most)]


def publish_trajectory(
    records: Sequence[Mapping[str, Any]],
    writer: Any | None = None,
    path: str | os.PathLike | None = None,
    step: int = 0,
    most: int = 6,
) -> Path | None:
    """Draw the CCDFs of every layer at several moments of a run (one panel per layer).

    Args:
        records: the run's degree records (the ``degrees/<event>.json`` schema).
        writer: TensorBoard writer; the figure is logged as ``ccdf_trajectory`` at ``step``.
        path: PNG file to write (None: none).
        step: TensorBoard's step.
        most: the most moments drawn (evenly spread, first and last always).

    Returns:
        The PNG path written, or None.
    """
    from pl_powerlaw.plotting import ccdf_trajectory_figure, render

    chosen = trajectory_moments(records, most)
    if not chosen:
        return None
    moments = [
        (str(r["event"]), {layer["name"]: layer["degrees"] for layer in r["layers"]})
        for r in chosen
    ]
    alphas = [
        {layer["name"]: (layer.get("fit") or {}).get("alpha") for layer in r["layers"]}
        for r in chosen
    ]
    pixels = render(ccdf_trajectory_figure(moments, alphas, "degree CCDFs during training"))
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    publish_image(writer, "ccdf_trajectory", pixels, step, path)
    return None if path is None else Path(path)
