"""``python -m pl_powerlaw analyze``: degree distributions and power-law fits of a saved net.

Reads a Lightning checkpoint of our CLI or a plain state dict (e.g. torchvision's pretrained
``vgg16-397923af.pth``), optionally prunes it by magnitude first (Han et al. 2015; the paper
studies a pruned pretrained VGG-16 this way), measures each node layer's degrees, fits a
truncated power law p(x) ∝ x^-α on [xmin, xmax] (Hou & Kwok 2018, Eq. 1) and writes into
``--out``:

* ``degrees.json``: the ``degrees/<event>.json`` record of :mod:`pl_powerlaw.analysis.report`
  (event ``"analyze"``);
* ``ccdf_<layer>.png`` per node layer and ``ccdf_all_layers.png``;
* ``tensorboard/``: the same figures, ``powerlaw/<layer>/<key>`` scalars and degree histograms.

Nothing is written until every stage has succeeded; files then move into ``--out`` by rename.
Bad input is one line on stderr and exit code 2.

Example::

    python -m pl_powerlaw analyze vgg16-397923af.pth --net vgg16 --preset han2015_vgg16 --out vgg
    python -m pl_powerlaw analyze lightning_logs/version_0/checkpoints/last.ckpt --n-boot 500
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from pl_powerlaw.analysis.checkpoints import (
    CheckpointError,
    extract_state_dict,
    find_saved_net,
    load_weights,
    net_from_class_path,
    read_checkpoint,
)
from pl_powerlaw.analysis.report import (
    LayerReport,
    degrees_record,
    fit_layers,
    summary_table,
    write_json_atomic,
)
from pl_powerlaw.nn.masked import masked_modules, output_layer_names
from pl_powerlaw.pruning import check_fraction, prune_layers

EVENT = "analyze"
FIT_SCALARS = ("alpha", "xmin", "xmax", "ks", "p_value", "n_tail")
Log = Callable[[str], None]


class AnalyzeError(ValueError):
    """Bad input to ``analyze``: reported as one line on stderr with exit code 2."""


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors raise :class:`AnalyzeError` instead of exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise AnalyzeError(message)


def _input_shape(text: str) -> tuple[int, int, int]:
    parts = text.replace("x", ",").split(",")
    try:
        shape = tuple(int(part) for part in parts)
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"expected C,H,W (three positive ints) but got {text!r}")
    return shape  # type: ignore[return-value]


def _int_at_least(least: int) -> Callable[[str], int]:
    """An argparse ``type``: an int >= ``least``, else a one-line error naming the value."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = least - 1
        if value < least:
            raise argparse.ArgumentTypeError(f"expected an int >= {least} but got {text!r}")
        return value

    return parse


_non_negative_int = _int_at_least(0)
_positive_int = _int_at_least(1)


def _fraction(text: str) -> float:
    try:
        return check_fraction(text, "--prune")
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m pl_powerlaw analyze``."""
    parser = _Parser(
        prog="python -m pl_powerlaw analyze",
        description="Degree distributions and truncated power-law fits of a saved net.",
    )
    parser.add_argument("checkpoint", type=Path, help="Lightning checkpoint or plain state dict")
    parser.add_argument(
        "--net",
        help="registered net name (pl_powerlaw.models.NETS); needed unless the checkpoint lies in "
        "a log dir of our CLI with its config.yaml",
    )
    prune = parser.add_mutually_exclusive_group()
    prune.add_argument(
        "--prune",
        type=_fraction,
        metavar="FRACTION",
        help="prune this fraction of each hidden layer first",
    )
    prune.add_argument("--preset", help="prune with a per-layer preset first (e.g. han2015_vgg16)")
    parser.add_argument(
        "--layers",
        nargs="+",
        help="masked layers whose outputs are node layers (default: all but outputs)",
    )
    parser.add_argument(
        "--r", type=float, help="xmin/xmax search fraction of the fit (default: the engine's)"
    )
    parser.add_argument("--min-tail", type=int, help="least points in a fitted range")
    parser.add_argument("--min-distinct", type=int, help="least distinct degrees in a fitted range")
    parser.add_argument(
        "--n-boot", type=_non_negative_int, default=0, help="bootstrap replicates of the p-value"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    parser.add_argument(
        "--compare",
        action="store_true",
        help="also test each fit against a pure power law, an exponential and a log-normal",
    )
    parser.add_argument(
        "--n-jobs",
        type=_positive_int,
        default=1,
        help="worker processes of the bootstrap (same p-values for any number)",
    )
    parser.add_argument(
        "--out", type=Path, help="output folder (default: analysis/<checkpoint name>)"
    )
    parser.add_argument(
        "--input-shape", type=_input_shape, metavar="C,H,W", help="override the net's input shape"
    )
    return parser


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parse and check the arguments; raises :class:`AnalyzeError` on a bad one."""
    args = build_parser().parse_args(list(argv))
    if args.out is None:
        args.out = Path("analysis") / args.checkpoint.stem
    if args.layers:
        args.layers = [name for item in args.layers for name in item.split(",") if name]
    return args


# -- stages -----------------------------------------------------------------------------------
def _registered_net(name: str) -> nn.Module:
    from pl_powerlaw.models.registry import build_net

    return build_net(name)  # ValueError naming the valid nets for an unknown name


def _on_meta(build: Callable[[], nn.Module]) -> nn.Module:
    """Build a net on the meta device (no memory, no init) when it can be; else on the CPU."""
    try:
        with torch.device("meta"):
            return build()
    except (RuntimeError, NotImplementedError, TypeError):
        return build()


def load_net(
    checkpoint: Path, net_name: str | None = None
) -> tuple[nn.Module, str, dict[str, Any]]:
    """Read ``checkpoint`` and load it into its net.

    Args:
        checkpoint: a Lightning checkpoint or a plain state dict.
        net_name: registered net name; None to take the net class from the ``config.yaml`` our
            CLI saved beside the checkpoint.

    Returns:
        ``(net, description, info)``: the loaded net, a short name for messages, and
        ``{"epoch", "global_step"}`` of a Lightning checkpoint (None for a state dict).

    Raises:
        AnalyzeError: the file, the net name or the state dict is unusable.
    """
    net = None if net_name is None else _on_meta(lambda: _registered_net(net_name))
    obj = read_checkpoint(checkpoint)
    state_dict, is_lightning = extract_state_dict(obj)
    info = {key: obj.get(key) if is_lightning else None for key in ("epoch", "global_step")}
    if net is not None:
        description = str(net_name)
    else:
        saved = find_saved_net(checkpoint) if is_lightning else None
        if saved is None:
            raise AnalyzeError(
                f"Expected `--net NAME`: {str(checkpoint)!r} has no config.yaml of our CLI beside it"
            )
        class_path, init_args = saved
        net = _on_meta(lambda: net_from_class_path(class_path, init_args))
        description = class_path
    if not any(True for _ in masked_modules(net)):
        raise AnalyzeError(f"Expected a net with masked layers but {description} has none")
    load_weights(net, state_dict, description)
    return net, description, info


def prune_net(
    net: nn.Module, fraction: float | None = None, preset: str | None = None
) -> dict[str, int]:
    """Prune ``net`` by magnitude: ``fraction`` of every hidden layer, or a named ``preset``.

    Returns:
        Layer name -> kept weights ({} when neither is given).
    """
    if preset is not None:
        from pl_powerlaw.models.presets import preset_fractions

        return prune_layers(net, preset_fractions(preset, net))
    if fraction is not None:
        outputs = set(output_layer_names(net))
        hidden = [name for name, _ in masked_modules(net) if name not in outputs]
        return prune_layers(net, dict.fromkeys(hidden, fraction))
    return {}


def measure_degrees(
    net: nn.Module, input_shape: Sequence[int] | None = None, layers: Sequence[str] | None = None
) -> dict[str, np.ndarray]:
    """Each node layer's degrees (:func:`pl_powerlaw.connectivity.node_degrees`) as numpy arrays."""
    from pl_powerlaw.connectivity import node_degrees

    try:
        degrees = node_degrees(net, input_shape=input_shape, layers=layers)
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0]
        raise AnalyzeError(
            f"Cannot trace the net with input shape {input_shape}: {first}"
        ) from None
    return {name: value.cpu().numpy() for name, value in degrees.items()}


def _png_name(layer: str) -> str:
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in layer)
    return f"ccdf_{safe}.png"


def _render(figure: Any) -> np.ndarray:
    """Draw a matplotlib figure once; its RGBA pixels (H, W, 4) serve both the PNG and TensorBoard."""
    import matplotlib.pyplot as plt

    figure.canvas.draw()
    pixels = np.asarray(figure.canvas.buffer_rgba()).copy()
    plt.close(figure)
    return pixels


def _save_png(pixels: np.ndarray, path: Path) -> None:
    from PIL import Image

    Image.fromarray(pixels).save(path, format="png", compress_level=1)


def write_outputs(
    out: Path, reports: Sequence[LayerReport], info: dict[str, Any], log: Log
) -> list[Path]:
    """Write the record, the figures and the TensorBoard events; all appear in ``out`` at once.

    Everything is first written into a hidden staging folder beside ``out`` and moved into
    ``out`` by ``os.replace`` only when complete, so a failure leaves ``out`` as it was.

    Returns:
        The written paths, relative to ``out``.
    """
    import matplotlib

    matplotlib.use("Agg")
    from torch.utils.tensorboard import SummaryWriter

    from pl_powerlaw.plotting import ccdf_figure, ccdf_grid_figure, tile_images

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        record = degrees_record(
            EVENT, reports, epoch=info.get("epoch"), global_step=info.get("global_step")
        )
        write_json_atomic(staging / "degrees.json", record)
        step = int(info.get("global_step") or 0)
        writer = SummaryWriter(log_dir=str(staging / "tensorboard"))
        try:
            panels = []
            for report in reports:
                pixels = _render(
                    ccdf_figure(report.degrees, report.fit, f"{report.name} ({EVENT})")
                )
                panels.append(pixels)
                _save_png(pixels, staging / _png_name(report.name))
                writer.add_image(
                    f"ccdf/{report.name}/{EVENT}", pixels[..., :3], step, dataformats="HWC"
                )
                fit = report.fit.as_dict()
                for key in FIT_SCALARS:
                    if fit.get(key) is not None:
                        writer.add_scalar(f"powerlaw/{report.name}/{key}", float(fit[key]), step)
                if report.degrees.size:
                    writer.add_histogram(f"degrees/{report.name}", report.degrees, step)
            # the panels above, not drawn a second time
            grid = tile_images(panels) if panels else _render(ccdf_grid_figure([]))
            _save_png(grid, staging / "ccdf_all_layers.png")
            writer.add_image(f"ccdf_all_layers/{EVENT}", grid[..., :3], step, dataformats="HWC")
        finally:
            writer.close()
        written = sorted(p.relative_to(staging) for p in staging.rglob("*") if p.is_file())
        for relative in written:
            target = out / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / relative, target)
        log(f"wrote {len(written)} files into {out}")
        return written
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def run_analysis(args: argparse.Namespace, log: Log) -> list[LayerReport]:
    """Run every stage for parsed ``args``, logging one line per stage; returns the fits."""
    start = time.perf_counter()

    def stage(message: str) -> None:
        log(f"[{time.perf_counter() - start:6.1f} s] {message}")

    stage(f"loading {args.checkpoint}")
    net, description, info = load_net(args.checkpoint, args.net)
    stage(f"loaded {description} ({sum(p.numel() for p in net.parameters()):,} parameters)")
    if args.prune is not None or args.preset is not None:
        how = f"preset {args.preset}" if args.preset else f"{args.prune:.0%} of each hidden layer"
        stage(f"pruning by magnitude ({how})")
        kept = prune_net(net, args.prune, args.preset)
        total = {name: layer.weight.numel() for name, layer in masked_modules(net)}
        stage("kept " + ", ".join(f"{name} {kept[name] / total[name]:.1%}" for name in kept))
    stage("measuring node degrees")
    degrees = measure_degrees(net, args.input_shape, args.layers)
    del net
    fit_kwargs = {
        key: value
        for key, value in {
            "r": args.r,
            "min_tail": args.min_tail,
            "min_distinct": args.min_distinct,
            "n_jobs": args.n_jobs if args.n_boot else None,
        }.items()
        if value is not None
    }
    stage(f"fitting truncated power laws to {len(degrees)} node layers (n_boot={args.n_boot})")
    reports = fit_layers(
        degrees,
        n_boot=args.n_boot,
        seed=args.seed,
        progress=args.n_boot > 0,
        compare=args.compare,
        **fit_kwargs,
    )
    stage("plotting and writing")
    write_outputs(args.out, reports, info, log)
    stage("done")
    return reports


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m pl_powerlaw analyze``; returns the exit code (0, or 2 on bad input).

    Example:
        >>> main(["--help"])  # doctest: +SKIP
    """
    argv = list(sys.argv[1:] if argv is None else argv)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    try:
        args = parse_args(argv)
        reports = run_analysis(args, log)
    except SystemExit as exit_:  # --help
        return int(exit_.code or 0)
    except (AnalyzeError, CheckpointError, ValueError, KeyError, OSError) as error:
        message = " ".join(str(error).split()) or type(error).__name__
        if isinstance(error, KeyError) and error.args:
            message = str(error.args[0])
        print(f"analyze: error: {message}", file=sys.stderr, flush=True)
        return 2
    print(summary_table(reports), flush=True)
    return 0
