"""Command line: ``python -m pl_powerlaw fit|validate|test|predict --config ...`` and ``analyze``.

The Lightning subcommands go through LightningCLI (omegaconf interpolation on, configs saved
beside the logs, TensorBoard under ``<default_root_dir>/lightning_logs/``). ``analyze`` studies an
existing checkpoint or state dict (see :mod:`pl_powerlaw.analyze`). The CLI only wires; three
things are ours:

* **Named callback slots.** The package's callbacks are top-level keys, not entries of
  ``trainer.callbacks``: ``pruning`` (any pruner, e.g. ``MagnitudePruning``), ``continual``
  (``TaskFreezing``), ``attachment`` (``PreferentialAttachmentAnalysis``), ``degrees``
  (``DegreeDistributionMonitor``) and ``checkpoint`` (``ModelCheckpoint``). Each is optional and
  takes a ``class_path``/``init_args`` like ``model``, so a config overlay or the command line can
  change one option of one callback: ``--pruning.init_args.amount 0.5``. ``trainer.callbacks``
  still takes any other callback.
* **Config overlays.** A config file may start with ``extends: [base.yaml, ...]`` (paths relative
  to the file): ``--config FILE`` then reads the bases first, recursively, and FILE's values win,
  as with repeated ``--config``. Experiment files hold only their differences.
* **One root folder.** The TensorBoard logger's ``save_dir`` defaults to
  ``trainer.default_root_dir``, so logs, records and checkpoints all go where the root dir says
  (unless the logger's ``save_dir`` is set explicitly).

Beside ``config.yaml`` each run folder gets ``environment.json``: the commit, the libraries and
the CPU kernels of every process that ran in it (:mod:`pl_powerlaw.provenance`).
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import yaml
from jsonargparse import ArgumentError
from lightning.fabric.plugins.environments import SLURMEnvironment
from lightning.pytorch import Callback
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback

from pl_powerlaw.callbacks.phases import check_schedule_fits
from pl_powerlaw.checkpoints import check_masks, extract_state_dict, read_checkpoint
from pl_powerlaw.errors import DEBUG_ENV, InputError
from pl_powerlaw.provenance import append_environment

PROG = "python -m pl_powerlaw"
EXTENDS = "extends"
CALLBACK_SLOTS = ("pruning", "continual", "attachment", "degrees", "checkpoint")
FOLLOW_ROOT_DIR = ""  # the logger's save_dir that means "trainer.default_root_dir"
TENSORBOARD_LOGGER = {
    "class_path": "lightning.pytorch.loggers.TensorBoardLogger",
    "init_args": {"save_dir": FOLLOW_ROOT_DIR, "name": "lightning_logs"},
}


# Lightning's console lines that are neither progress, results nor warnings about the run.
BOILERPLATE = ("\U0001f4a1 Tip:", "GPU available:", "TPU available:", "HPU available:")
NOISY_WARNINGS = (r"`isinstance\(treespec, LeafSpec\)` is deprecated",)  # Lightning vs torch 2.13


class _DropBoilerplate(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith(BOILERPLATE)


def quiet_console() -> None:
    """Keep the console to progress, results and real warnings: drop Lightning's tips and banners."""
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropBoilerplate) for f in logger.filters):
            logger.addFilter(_DropBoilerplate())
    for message in NOISY_WARNINGS:
        warnings.filterwarnings("ignore", message=message)


class ConfigError(InputError):
    """A config file that cannot be composed (a missing base, a cycle, a bad ``extends``)."""


def config_chain(path: str | Path, seen: tuple[Path, ...] = ()) -> list[Path]:
    """The config files that ``--config path`` stands for: its bases first (depth first), then it.

    Args:
        path: a YAML config file, whose optional top-level ``extends`` lists base files relative
            to its folder.
        seen: the files on the way here (cycle detection).

    Raises:
        ConfigError: a base is missing, ``extends`` is not a list of strings, or files extend each
            other in a cycle.

    Example:
        >>> config_chain("configs/mlp_mnist_quick.yaml")[-2:]  # doctest: +SKIP
        [PosixPath('.../configs/mlp_mnist.yaml'), PosixPath('.../configs/mlp_mnist_quick.yaml')]
    """
    path = Path(path).resolve()
    if path in seen:
        cycle = " -> ".join(str(p) for p in (*seen, path))
        raise ConfigError(f"Config files extend each other in a cycle: {cycle}")
    if not path.is_file():
        return [path]  # LightningCLI reports a missing file itself, with its name
    try:
        content = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or type(error).__name__
        raise ConfigError(f"Cannot parse the config file {path}{where}: {problem}") from None
    bases = content.get(EXTENDS) if isinstance(content, dict) else None
    if bases is None:
        return [path]
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, list) or not all(isinstance(base, str) for base in bases):
        raise ConfigError(
            f"Expected `{EXTENDS}` in {path} to be a list of config file paths but got {bases!r}"
        )
    chain: list[Path] = []
    for base in bases:
        base_path = (path.parent / base).resolve()
        if not base_path.is_file():
            raise ConfigError(f"Config file {base_path} (in `{EXTENDS}` of {path}) not found")
        chain += [p for p in config_chain(base_path, (*seen, path)) if p not in chain]
    return [*chain, path]


def expand_configs(argv: Sequence[str]) -> list[str]:
    """``argv`` with every ``--config FILE`` replaced by the chain of :func:`config_chain`."""
    out: list[str] = []
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--config" and i + 1 < len(args):
            files, i = [args[i + 1]], i + 2
        elif arg.startswith("--config="):
            files, i = [arg.split("=", 1)[1]], i + 1
        else:
            out.append(arg)
            i += 1
            continue
        for path in config_chain(files[0]) if Path(files[0]).suffix in (".yaml", ".yml") else files:
            out += ["--config", str(path)]
    return out


def run_folder_of(ckpt_path: str | None) -> tuple[Path, str, int] | None:
    """``(save_dir, name, version)`` of a checkpoint inside ``<save_dir>/<name>/version_N/checkpoints/``.

    Example:
        >>> run_folder_of("runs/lightning_logs/version_3/checkpoints/last.ckpt")
        (PosixPath('runs'), 'lightning_logs', 3)
    """
    if ckpt_path is None or str(ckpt_path) in ("last", "best", "hpc", "registry"):
        return None
    path = Path(ckpt_path)
    if len(path.parents) < 4 or path.parent.name != "checkpoints":
        return None
    version = path.parents[1].name
    if not version.startswith("version_") or not version[len("version_") :].isdigit():
        return None
    return path.parents[3], path.parents[2].name, int(version[len("version_") :])


def input_error_in(error: BaseException) -> InputError | None:
    """The :class:`InputError` that ``error`` wraps (its causes, then contexts), if any."""
    seen = 0
    while error is not None and seen < 20:
        if isinstance(error, InputError):
            return error
        error, seen = error.__cause__ or error.__context__, seen + 1
    return None


def requeue_checkpoint(root_dir: str | Path) -> Path | None:
    """The newest ``hpc_ckpt_<n>.ckpt`` in ``root_dir`` when this process is a SLURM job step.

    Lightning's SLURM plugin saves it on the requeue signal (``--signal=SIGUSR1@90``) and restores
    it when the requeued job starts with the same command. Naming it lets the CLI check it like any
    ``--ckpt_path`` and continue the run in its own folder.
    """
    if not SLURMEnvironment.detect():
        return None
    found = []
    for path in Path(root_dir).glob("hpc_ckpt_*.ckpt"):
        number = path.stem[len("hpc_ckpt_") :]
        if number.isdigit():
            found.append((int(number), path))
    return max(found)[1] if found else None


def run_folder_in(checkpoint: dict) -> tuple[Path, str, int] | None:
    """The run folder of a checkpoint saved outside it, from its ``ModelCheckpoint``'s folder."""
    for key, state in (checkpoint.get("callbacks") or {}).items():
        if str(key).startswith("ModelCheckpoint") and isinstance(state, dict):
            if state.get("dirpath"):
                return run_folder_of(str(Path(state["dirpath"]) / "last.ckpt"))
    return None


class SaveConfigAndEnvironment(SaveConfigCallback):
    """Lightning's ``config.yaml``, and this process's entry in ``environment.json`` beside it."""

    def setup(self, trainer, pl_module, stage: str) -> None:
        first = self.save_to_log_dir and not self.already_saved
        log_dir = trainer.log_dir if first else None  # a broadcast: on every rank
        super().setup(trainer, pl_module, stage)
        if log_dir is not None and trainer.is_global_zero:
            append_environment(log_dir)


class PowerLawCLI(LightningCLI):
    """LightningCLI with named callback slots, config overlays and one root folder."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument(
            f"--{EXTENDS}",
            type=list[str] | None,
            default=None,
            help="base config files of a config file (read before it; see pl_powerlaw.cli)",
        )
        for slot in CALLBACK_SLOTS:
            parser.add_lightning_class_args(Callback, slot, subclass_mode=True, required=False)

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        config[EXTENDS] = None  # the saved config.yaml is complete by itself
        logger = config.get("trainer.logger")
        if isinstance(logger, list) or logger is None or isinstance(logger, bool):
            return
        init_args = getattr(logger, "init_args", None)
        if init_args is None:
            return
        if getattr(init_args, "save_dir", None) == FOLLOW_ROOT_DIR:
            init_args.save_dir = config.get("trainer.default_root_dir") or "."
        run = self._resume_folder if self.subcommand == "fit" else None
        if run is not None and getattr(init_args, "version", None) is None:
            # a resumed run continues in its own folder: one run, one place for its records
            init_args.save_dir, init_args.name, init_args.version = str(run[0]), run[1], run[2]

    def _parse_ckpt_path(self) -> None:
        # LightningCLI reads the checkpoint's hyperparameters here, first of all: check the file
        # before, so a missing, foreign or damaged checkpoint is one clear line
        self._resume_folder = None
        subcommand = self.config.get("subcommand")
        path = self.config[subcommand].get("ckpt_path") if subcommand else None
        if subcommand == "fit" and path is None:
            # a requeued SLURM job: resume its requeue checkpoint by name, checked as any other
            path = requeue_checkpoint(
                self.config[subcommand].get("trainer.default_root_dir") or "."
            )
            if path is not None:
                self.config[subcommand]["ckpt_path"] = path = str(path)
        if path is not None and str(path) not in ("last", "best", "hpc", "registry"):
            checkpoint = read_checkpoint(path)
            state, _ = extract_state_dict(checkpoint)
            check_masks(state)
            self._resume_folder = run_folder_of(path) or run_folder_in(checkpoint)
        super()._parse_ckpt_path()

    def before_fit(self) -> None:
        # before the loggers create their folders: a refused run leaves nothing behind
        trainer = self.trainer
        check_schedule_fits(trainer.callbacks, trainer.max_epochs, bool(trainer.fast_dev_run))

    def instantiate_classes(self) -> None:
        try:
            super().instantiate_classes()
        except (ValueError, TypeError, FileNotFoundError, KeyError) as error:
            ours = input_error_in(error)
            if ours is not None:  # our one-line message, not jsonargparse's wrapping of it
                raise ours from None
            self.parser.error(f"{type(error).__name__}: {error}")

    def instantiate_trainer(self, **kwargs):
        slots = [self._get(self.config_init, key) for key in CALLBACK_SLOTS]
        extra = [callback for callback in slots if callback is not None]
        trainer_config = {**self._get(self.config_init, "trainer", default={}), **kwargs}
        return self._instantiate_trainer(trainer_config, extra)


def lightning_main(args: Sequence[str] | None = None, run: bool = True) -> PowerLawCLI:
    """Run a Lightning subcommand (``fit``, ``validate``, ``test``, ``predict``).

    ``args`` (None: ``sys.argv``) may name overlay configs (``extends``); they are expanded here.
    With ``run=False`` (no subcommand in ``args``) the trainer, model and data module are built
    and returned in the CLI object without running anything.

    Raises:
        ConfigError: a config file's ``extends`` cannot be followed.
    """
    if args is not None:
        args = expand_configs(args)
    from lightning.pytorch import LightningDataModule, LightningModule

    return PowerLawCLI(
        LightningModule,
        LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        parser_kwargs={"parser_mode": "omegaconf", "exit_on_error": False},
        trainer_defaults={"logger": TENSORBOARD_LOGGER},
        seed_everything_default=0,
        save_config_callback=SaveConfigAndEnvironment,
        save_config_kwargs={"overwrite": True},
        args=None if args is None else list(args),
        run=run,
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``python -m pl_powerlaw`` and of the ``pl-powerlaw`` script."""
    from_command_line = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "analyze":
        from pl_powerlaw.analyze import main as analyze_main

        sys.exit(analyze_main(argv[1:]))
    quiet_console()
    try:
        if from_command_line:  # LightningCLI reads sys.argv itself: no "both args" warning
            sys.argv = [PROG, *expand_configs(argv)]
            lightning_main()
        else:
            lightning_main(argv)
    except (InputError, FileNotFoundError, ArgumentError) as error:
        if os.environ.get(DEBUG_ENV):
            raise
        message = " ".join(str(error).split()) or type(error).__name__
        command = f"{PROG} {argv[0]}" if argv and not argv[0].startswith("-") else PROG
        print(f"{command}: error: {message}", file=sys.stderr)
        sys.exit(2)
