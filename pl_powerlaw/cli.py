"""Command line: ``python -m pl_powerlaw fit|validate|test|predict --config ...`` and ``analyze``.

The Lightning subcommands go through LightningCLI (omegaconf interpolation on, configs saved
beside the logs, TensorBoard under ``lightning_logs/``). ``analyze`` studies an existing
checkpoint or state dict (see :mod:`pl_powerlaw.analyze`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from lightning.pytorch.cli import LightningCLI

TENSORBOARD_LOGGER = {
    "class_path": "lightning.pytorch.loggers.TensorBoardLogger",
    "init_args": {"save_dir": ".", "name": "lightning_logs"},
}


class PowerLawCLI(LightningCLI):
    """LightningCLI whose instantiation errors are one clear line and exit code 2."""

    def instantiate_classes(self) -> None:
        try:
            super().instantiate_classes()
        except (ValueError, TypeError, FileNotFoundError, KeyError) as error:
            self.parser.error(f"{type(error).__name__}: {error}")


def lightning_main(args: Sequence[str] | None = None) -> PowerLawCLI:
    """Run a Lightning subcommand (``fit``, ``validate``, ``test``, ``predict``)."""
    from lightning.pytorch import LightningDataModule, LightningModule

    return PowerLawCLI(
        LightningModule,
        LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        parser_kwargs={"parser_mode": "omegaconf"},
        trainer_defaults={"logger": TENSORBOARD_LOGGER},
        save_config_kwargs={"overwrite": True},
        args=None if args is None else list(args),
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``python -m pl_powerlaw`` and of the ``pl-powerlaw`` script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "analyze":
        from pl_powerlaw.analyze import main as analyze_main

        sys.exit(analyze_main(argv[1:]))
    lightning_main(argv)
