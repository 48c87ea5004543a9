"""``python -m pl_powerlaw analyze``: degree distributions and power-law fits of a saved net.

Reads a Lightning checkpoint of our CLI or a plain state dict (e.g. torchvision's pretrained
``vgg16-397923af.pth``), optionally prunes it by magnitude first (Han et al. 2015; the paper
studies a pruned pretrained VGG-16 this way), and runs the one analysis pipeline that training
runs use too (:mod:`pl_powerlaw.analysis`: degrees, truncated power-law fits, likelihood-ratio
tests). It writes into ``--out``:

* ``degrees.json``: the record of :mod:`pl_powerlaw.analysis.records` (event ``"analyze"``);
* ``ccdf_<layer>.png`` per node layer and ``ccdf_all_layers.png``;
* ``tensorboard/``: the same figures, ``powerlaw/<layer>/<key>`` scalars and degree histograms;
* ``environment.json``: the commit, libraries and CPU kernels (:mod:`pl_powerlaw.provenance`).

Nothing is written until every stage has succeeded; files then move into ``--out`` by rename.
Without ``--out`` each run gets a new folder ``analysis/<checkpoint name>/version_N``, so results
of two checkpoints with the same file name never mix. An ``--out`` folder that is not empty is
refused unless ``--overwrite`` is given; then analyze's earlier results in it (``degrees.json``,
``environment.json``, ``ccdf_*.png``, ``tensorboard/``) are replaced by the new ones once those
are complete, and other files are left alone.

The net comes from the checkpoint (``--net NAME``, or the ``config.yaml`` our CLI saved beside it),
or from ``--model``: ``torchvision.models.<builder>`` (the ``vision`` extra) or the import path of
any ``nn.Module`` class, with ``--weights NAME`` (torchvision's weights API: needs internet once),
``--state-dict FILE`` (or the checkpoint argument), or neither: random initial weights seeded by
``--seed`` (said so in the log and in the default output folder's name, ``<model>_random``).
Bad input is one line on stderr and exit code 2. This module only wires: options are parsed by
jsonargparse (so ``--help``, ``--print_config`` and ``--config FILE.yaml`` work as for ``fit``).

Example::

    python -m pl_powerlaw analyze vgg16-397923af.pth --net vgg16 --preset han2015_vgg16 --out vgg
    python -m pl_powerlaw analyze lightning_logs/version_0/checkpoints/last.ckpt --n-boot 500
    python -m pl_powerlaw analyze --model torchvision.models.resnet50 --weights DEFAULT --prune 0.9
    python -m pl_powerlaw analyze lstm.pt --net recurrent --prune 0.9 --reuse none
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonargparse import ActionConfigFile, ArgumentParser
from torch import nn

from pl_powerlaw.analysis import (
    DegreeReport,
    FitOptions,
    LayerReport,
    analyze_net,
    publish,
    summary_table,
)
from pl_powerlaw.atomic import staged_folder
from pl_powerlaw.checkpoints import CheckpointError, load_net
from pl_powerlaw.connectivity import trace_graph
from pl_powerlaw.connectivity.recurrent import REUSES
from pl_powerlaw.errors import InputError
from pl_powerlaw.nn import prunable_weights
from pl_powerlaw.provenance import append_environment
from pl_powerlaw.pruning import check_fraction, hidden_layers, layer_fractions, prune_layers

EVENT = "analyze"
Log = Callable[[str], None]


class AnalyzeError(InputError):
    """Bad input to ``analyze``: reported as one line on stderr with exit code 2."""


@dataclass(frozen=True)
class AnalyzeOptions:
    """The checked options of one ``analyze`` run (see :func:`build_parser` for their meaning)."""

    checkpoint: Path | None
    out: Path
    net: str | None = None
    model: str | None = None
    weights: str | None = None
    overwrite: bool = False
    seed: int = 0
    prune: float | None = None
    preset: str | None = None
    layers: list[str] | None = None
    input_shape: tuple[int, int, int] | None = None
    reuse: str = "unrolled"
    fit: FitOptions = FitOptions(compare=False)


def build_parser() -> ArgumentParser:
    """The argument parser of ``python -m pl_powerlaw analyze`` (jsonargparse)."""
    parser = ArgumentParser(
        prog="python -m pl_powerlaw analyze",
        description="Degree distributions and truncated power-law fits of a saved or named net.",
        exit_on_error=False,
    )
    parser.add_argument("--config", action=ActionConfigFile, help="a YAML file of these options")
    parser.add_argument(
        "checkpoint",
        type=str | None,
        nargs="?",
        default=None,
        help="Lightning checkpoint or plain state dict (optional with --model)",
    )
    parser.add_argument(
        "--net",
        type=str | None,
        help="registered net name (pl_powerlaw.models.NETS); needed unless the checkpoint lies in "
        "a log dir of our CLI with its config.yaml",
    )
    parser.add_argument(
        "--model",
        type=str | None,
        help="torchvision.models.<builder> (needs the vision extra) or the import path of an "
        "nn.Module class; weights from --weights, --state-dict, or random (seeded by --seed)",
    )
    parser.add_argument(
        "--weights",
        type=str | None,
        help="with a torchvision --model: a name of torchvision's weights API (DEFAULT, "
        "IMAGENET1K_V2, ResNet50_Weights.IMAGENET1K_V2); downloaded once, needs internet",
    )
    parser.add_argument(
        "--state-dict", type=str | None, help="with --model: a state dict or checkpoint file"
    )
    parser.add_argument(
        "--prune", type=float | None, help="prune this fraction of each hidden layer first"
    )
    parser.add_argument(
        "--preset", type=str | None, help="prune with a per-layer preset first (han2015_vgg16)"
    )
    parser.add_argument(
        "--layers",
        type=str,
        nargs="+",
        help="masked layers whose outputs are node layers (default: all but outputs)",
    )
    parser.add_argument("--r", type=float | None, help="xmin/xmax search fraction of the fit")
    parser.add_argument("--min-tail", type=int | None, help="least points in a fitted range")
    parser.add_argument("--min-distinct", type=int | None, help="least distinct degrees in a range")
    parser.add_argument("--n-boot", type=int, default=0, help="bootstrap replicates of the p-value")
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the bootstrap, the random-pruning null and a random initialisation",
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="also test each fit against a pure power law, an exponential and a log-normal",
    )
    parser.add_argument(
        "--n-jobs", type=int, default=1, help="bootstrap worker processes (same p-values)"
    )
    parser.add_argument(
        "--null",
        type=int,
        default=20,
        help="random-pruning draws to compare with (same kept counts; 0: no null)",
    )
    parser.add_argument(
        "--out",
        type=str | None,
        help="output folder (default: a new analysis/<checkpoint name>/version_N); refused when "
        "it is not empty, unless --overwrite",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace analyze's earlier results (degrees.json, environment.json, ccdf_*.png, "
        "tensorboard/) in --out",
    )
    parser.add_argument("--input-shape", type=str | None, help="C,H,W: override the input shape")
    parser.add_argument(
        "--reuse",
        type=str,
        default="unrolled",
        help="recurrent layers: a kept weight counts once per time step it is used ('unrolled') "
        "or once ('none')",
    )
    return parser


def _int_at_least(value: Any, least: int, flag: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise AnalyzeError(f"{flag}: expected an int >= {least} but got {value!r}")
    return value


def _input_shape(text: str | None) -> tuple[int, int, int] | None:
    if text is None:
        return None
    try:
        shape = tuple(int(part) for part in str(text).replace("x", ",").split(","))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise AnalyzeError(f"--input-shape: expected C,H,W (three positive ints) but got {text!r}")
    return shape  # type: ignore[return-value]


def _reuse(text: str) -> str:
    if text not in REUSES:
        raise AnalyzeError(f"--reuse: expected one of {', '.join(REUSES)} but got {text!r}")
    return text


def parse_args(argv: Sequence[str]) -> AnalyzeOptions:
    """Parse and check the arguments; raises :class:`AnalyzeError` on a bad one."""
    try:
        args = build_parser().parse_args(list(argv))
    except Exception as error:  # jsonargparse's ArgumentError, with exit_on_error=False
        raise AnalyzeError(" ".join(str(error).split())) from None
    if args.prune is not None and args.preset is not None:
        raise AnalyzeError("--prune and --preset: not allowed together, give one of them")
    prune = None if args.prune is None else check_fraction(args.prune, "--prune")
    layers = None
    if args.layers:
        layers = [name for item in args.layers for name in str(item).split(",") if name]
    from pl_powerlaw.models.loading import model_source

    checkpoint, stem = model_source(
        args.checkpoint, args.state_dict, args.model, args.net, args.weights
    )
    fit = FitOptions(
        n_boot=_int_at_least(args.n_boot, 0, "--n-boot"),
        seed=args.seed,
        r=args.r,
        min_tail=args.min_tail,
        min_distinct=args.min_distinct,
        compare=bool(args.compare),
        n_jobs=_int_at_least(args.n_jobs, 1, "--n-jobs"),
        progress=args.n_boot > 0,
        null_draws=_int_at_least(args.null, 0, "--null"),
        null_seed=args.seed,
    )
    out = Path(args.out) if args.out else next_version(Path("analysis") / stem)
    check_out(out, bool(args.overwrite))
    return AnalyzeOptions(
        checkpoint=checkpoint,
        out=out,
        net=args.net,
        model=args.model,
        weights=args.weights,
        overwrite=bool(args.overwrite),
        seed=args.seed,
        prune=prune,
        preset=args.preset,
        layers=layers,
        input_shape=_input_shape(args.input_shape),
        reuse=_reuse(args.reuse),
        fit=fit,
    )


RESULT_FILES = ("degrees.json", "environment.json", "ccdf_*.png", "tensorboard")


def check_out(out: Path, overwrite: bool) -> None:
    """Refuse an ``--out`` that is a file, or a folder that is not empty unless ``overwrite``.

    Raises:
        AnalyzeError: naming the folder, what it holds and ``--overwrite``.
    """
    if out.exists() and not out.is_dir():
        raise AnalyzeError(f"--out {str(out)!r} is a file: expected a new or empty folder")
    held = []
    if out.is_dir():  # the record first: it tells that these are results
        held = sorted((p.name for p in out.iterdir()), key=lambda n: (n != "degrees.json", n))
    if held and not overwrite:
        listed = ", ".join(held[:3]) + (f" (+{len(held) - 3} more)" if len(held) > 3 else "")
        raise AnalyzeError(
            f"--out {str(out)!r} already holds {listed}: expected a new or empty folder; pass "
            "--overwrite to replace analyze's results in it"
        )


def _remove_results(out: Path) -> None:
    """Delete analyze's earlier outputs in ``out`` (only :data:`RESULT_FILES`)."""
    for pattern in RESULT_FILES:
        for path in out.glob(pattern):
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()


def next_version(folder: Path) -> Path:
    """``folder/version_N`` with the first N not taken, so a default output never overwrites."""
    n = 0
    while (folder / f"version_{n}").exists():
        n += 1
    return folder / f"version_{n}"


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
        names = [name for name, _ in prunable_weights(net)]
        return prune_layers(net, layer_fractions(fraction, names, hidden_layers(net), "--prune"))
    return {}


def _builder(name: str | None) -> Callable[[], nn.Module] | None:
    if name is None:
        return None
    from pl_powerlaw.models.registry import build_net

    return lambda: build_net(name)  # an unknown name: ValueError listing the valid nets


def load_model(options: AnalyzeOptions) -> tuple[nn.Module, str, dict[str, Any]]:
    """The net of ``options``, with masked layers: ``(net, description, info)`` as
    :func:`pl_powerlaw.checkpoints.load_net` returns them."""
    from pl_powerlaw.models.loading import build_model, model_builder, saved_builder

    if options.model is None:
        build, description = _builder(options.net), options.net
        if build is None and options.checkpoint is not None:
            build, description = saved_builder(options.checkpoint) or (None, None)
        return load_net(options.checkpoint, build, description)
    if options.checkpoint is not None:
        return load_net(options.checkpoint, model_builder(options.model), options.model)
    return build_model(options.model, options.weights, options.seed)


def write_outputs(out: Path, report: DegreeReport, overwrite: bool = False) -> int:
    """Publish ``report`` into ``out`` (record, PNG figures, ``tensorboard/``) all at once.

    Args:
        out: the output folder: new or empty, or with ``overwrite`` one whose earlier results
            (:data:`RESULT_FILES`) are deleted once the new ones are complete.
        report: what to publish.
        overwrite: allow a folder that is not empty.

    Returns:
        The number of files written.

    Raises:
        AnalyzeError: ``out`` is not empty and ``overwrite`` is False (nothing is written).
    """
    from torch.utils.tensorboard import SummaryWriter

    check_out(out, overwrite)
    with staged_folder(out) as staging:
        writer = SummaryWriter(log_dir=str(staging / "tensorboard"))
        try:
            publish(report, writer, record_path=staging / "degrees.json", figure_dir=staging)
        finally:
            writer.close()
        append_environment(staging)
        if overwrite and out.is_dir():
            _remove_results(out)  # no stale layer figures or event files mix with the new ones
        return sum(1 for p in staging.rglob("*") if p.is_file())


def run_analysis(options: AnalyzeOptions, log: Log) -> list[LayerReport]:
    """Run every stage for ``options``, logging one line per stage; returns the layer reports."""
    start = time.perf_counter()

    def stage(message: str) -> None:
        log(f"[{time.perf_counter() - start:6.1f} s] {message}")

    stage(f"loading {options.checkpoint or options.model}")
    net, description, info = load_model(options)
    stage(f"loaded {description} ({sum(p.numel() for p in net.parameters()):,} parameters)")
    if info.get("converted"):
        stage(f"masked the {len(info['converted'])} plain Linear/Conv layers of {description}")
    if options.prune is not None or options.preset is not None:
        how = (
            f"preset {options.preset}"
            if options.preset
            else f"{options.prune:.0%} of each hidden layer"
        )
        stage(f"pruning by magnitude ({how})")
        kept = prune_net(net, options.prune, options.preset)
        total = {name: layer.weight.numel() for name, layer in prunable_weights(net)}
        stage("kept " + ", ".join(f"{name} {kept[name] / total[name]:.1%}" for name in kept))
    stage(f"measuring node degrees and fitting (n_boot={options.fit.n_boot})")
    try:
        graph = trace_graph(net, options.input_shape, options.layers, options.reuse)
    except (RuntimeError, ValueError) as error:  # the tracer names the op or the bad argument
        first = str(error).strip().splitlines()[0]
        raise AnalyzeError(
            f"Cannot trace the net with input shape {options.input_shape}: {first}"
        ) from None
    report = analyze_net(
        net,
        EVENT,
        options.fit,
        graph=graph,
        epoch=info.get("epoch"),
        global_step=info.get("global_step"),
    )
    del net
    stage("plotting and writing")
    n_files = write_outputs(options.out, report, options.overwrite)
    log(f"wrote {n_files} files into {options.out}")
    stage("done")
    return list(report.layers)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m pl_powerlaw analyze``; returns the exit code (0, or 2 on bad input).

    Example:
        >>> main(["--help"])  # doctest: +SKIP
    """
    argv = list(sys.argv[1:] if argv is None else argv)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    try:
        options = parse_args(argv)
        reports = run_analysis(options, log)
    except SystemExit as exit_:  # --help, --print_config
        return int(exit_.code or 0)
    except (AnalyzeError, CheckpointError, ValueError, KeyError, OSError) as error:
        message = " ".join(str(error).split()) or type(error).__name__
        if isinstance(error, KeyError) and error.args:
            message = str(error.args[0])
        print(f"analyze: error: {message}", file=sys.stderr, flush=True)
        return 2
    print(summary_table(reports), flush=True)
    return 0
