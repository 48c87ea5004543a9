"""``DegreeDistributionMonitor``: degree distributions and truncated power-law fits during training.

Thin glue: the degrees come from :mod:`pl_powerlaw.connectivity`, the fits from
:mod:`pl_powerlaw.fitting`, the record and table from :mod:`pl_powerlaw.analysis.report`, the
figures from :mod:`pl_powerlaw.plotting`. Everything runs on global rank 0 only, and no collective
is called there.

When: at the end of every phase and right after every change of a schedule-owning callback (any
callback with ``phases()``, see :mod:`pl_powerlaw.callbacks.phases`: ``dense_end``,
``retrain1_start``, ...), every ``every_n_epochs`` epochs (``epoch<N>``) and at the end of fit
(``fit_end``). Each analysis writes ``<log_dir>/degrees/<event>.json`` and logs to TensorBoard.
"""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from lightning.pytorch import Callback, LightningModule, Trainer  # noqa: E402
from lightning.pytorch.loggers import TensorBoardLogger  # noqa: E402
from lightning.pytorch.utilities import rank_zero_info  # noqa: E402

from pl_powerlaw.analysis.report import (  # noqa: E402
    LayerReport,
    analyze_net,
    degrees_record,
    summary_table,
    write_json_atomic,
)
from pl_powerlaw.callbacks.phases import PhaseSource  # noqa: E402
from pl_powerlaw.callbacks.rundir import run_dir
from pl_powerlaw.plotting import ccdf_figure, ccdf_grid_figure  # noqa: E402

FIT_SCALARS = ("alpha", "xmin", "xmax", "ks", "p_value", "n_tail")


class DegreeDistributionMonitor(Callback):
    """Measure each node layer's degrees, fit a truncated power law, log CCDFs and scalars.

    Args:
        every_n_epochs: also analyse every N training epochs (0: only at phase changes and at
            the end of fit).
        n_boot: bootstrap replicates of the goodness-of-fit p-value (0 skips it).
        r: the xmin/xmax search fraction of the fit (None: the engine's default).
        min_tail: least points in a candidate range (None: the engine's default).
        min_distinct: least distinct values in a candidate range (None: the engine's default).
        layers: masked layers whose outputs are node layers (None: all but the output heads).
        seed: seed of the bootstrap.
        compare: also test each fit against a pure power law, an exponential and a log-normal
            (Vuong's likelihood ratios: ``alternatives`` in the records, scalars
            ``powerlaw/<layer>/lr_<alternative>`` and ``.../lr_p_<alternative>``).
        log_figures: log the CCDF figures (one per layer and a grid) to TensorBoard.
        log_histograms: log a histogram of each layer's degrees to TensorBoard.

    Example (YAML)::

        trainer:
          callbacks:
            - class_path: pl_powerlaw.callbacks.DegreeDistributionMonitor
              init_args: {n_boot: 200}
    """

    def __init__(
        self,
        every_n_epochs: int = 0,
        n_boot: int = 0,
        r: float | None = None,
        min_tail: int | None = None,
        min_distinct: int | None = None,
        layers: list[str] | None = None,
        seed: int = 0,
        compare: bool = True,
        log_figures: bool = True,
        log_histograms: bool = True,
    ) -> None:
        if not isinstance(every_n_epochs, int) or every_n_epochs < 0:
            raise ValueError(
                f"Expected `every_n_epochs` to be an int >= 0 but got {every_n_epochs!r}"
            )
        if not isinstance(n_boot, int) or n_boot < 0:
            raise ValueError(f"Expected `n_boot` to be an int >= 0 but got {n_boot!r}")
        self.every_n_epochs = every_n_epochs
        self.n_boot = n_boot
        self.fit_kwargs = {
            key: value
            for key, value in {"r": r, "min_tail": min_tail, "min_distinct": min_distinct}.items()
            if value is not None
        }
        self.layers = layers
        self.seed = seed
        self.compare = compare
        self.log_figures = log_figures
        self.log_histograms = log_histograms
        self.events_done: list[str] = []
        self._boundaries: dict[int, tuple[str, str]] = {}

    @property
    def state_key(self) -> str:
        return self._generate_state_key(layers=self.layers)

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Collect the phase boundaries of the schedule-owning callbacks."""
        self._boundaries = {}
        for callback in trainer.callbacks:
            if callback is self or not isinstance(callback, PhaseSource):
                continue
            phases = callback.phases()
            for (_, previous), (epoch, name) in zip(phases, phases[1:], strict=False):
                self._boundaries[epoch] = (previous, name)

    # -- when --------------------------------------------------------------------------------
    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int
    ) -> None:
        # All ``on_train_epoch_start`` hooks (where prunes happen) have run by the first batch.
        epoch = trainer.current_epoch
        if batch_idx == 0 and epoch in self._boundaries:
            self._analyze(trainer, pl_module, f"{self._boundaries[epoch][1]}_start")

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        epoch = trainer.current_epoch
        if epoch + 1 in self._boundaries:
            self._analyze(trainer, pl_module, f"{self._boundaries[epoch + 1][0]}_end")
        if self.every_n_epochs and (epoch + 1) % self.every_n_epochs == 0:
            self._analyze(trainer, pl_module, f"epoch{epoch}")

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._analyze(trainer, pl_module, "fit_end")

    # -- what --------------------------------------------------------------------------------
    def _analyze(self, trainer: Trainer, pl_module: LightningModule, event: str) -> None:
        if event in self.events_done:
            return
        self.events_done.append(event)
        folder = run_dir(trainer)
        if not trainer.is_global_zero:
            return
        net = getattr(pl_module, "net", pl_module)
        rank_zero_info(f"DegreeDistributionMonitor: analysing degrees ({event})")
        reports = analyze_net(
            net,
            layers=self.layers,
            n_boot=self.n_boot,
            seed=self.seed,
            progress=self.n_boot > 0,
            compare=self.compare,
            **self.fit_kwargs,
        )
        rank_zero_info(summary_table(reports))
        step = trainer.global_step
        if folder is not None:
            record = degrees_record(event, reports, epoch=trainer.current_epoch, global_step=step)
            write_json_atomic(folder / "degrees" / f"{event}.json", record)
        for logger in trainer.loggers:
            logger.log_metrics(self._scalars(reports), step=step)
            if isinstance(logger, TensorBoardLogger):
                self._log_tensorboard(logger, reports, event, step)

    @staticmethod
    def _scalars(reports: list[LayerReport]) -> dict[str, float]:
        scalars = {}
        for report in reports:
            fit = report.fit.as_dict()
            for key in FIT_SCALARS:
                if fit.get(key) is not None:
                    scalars[f"powerlaw/{report.name}/{key}"] = float(fit[key])
            for name, test in (report.alternatives or {}).items():
                scalars[f"powerlaw/{report.name}/lr_{name}"] = test.loglik_ratio
                if test.p_value is not None:
                    scalars[f"powerlaw/{report.name}/lr_p_{name}"] = test.p_value
        return scalars

    def _log_tensorboard(
        self, logger: TensorBoardLogger, reports: list[LayerReport], event: str, step: int
    ) -> None:
        writer = logger.experiment
        if self.log_figures:
            for report in reports:
                figure = ccdf_figure(report.degrees, report.fit, f"{report.name} ({event})")
                writer.add_figure(f"ccdf/{report.name}/{event}", figure, global_step=step)
                plt.close(figure)
            grid = ccdf_grid_figure([(r.name, r.degrees, r.fit) for r in reports])
            writer.add_figure(f"ccdf_all_layers/{event}", grid, global_step=step)
            plt.close(grid)
        if self.log_histograms:
            for report in reports:
                if report.degrees.size:
                    writer.add_histogram(f"degrees/{report.name}", report.degrees, global_step=step)

    # -- checkpoint state --------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"events_done": list(self.events_done)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.events_done = list(state_dict.get("events_done", []))
