"""``DegreeDistributionMonitor``: degree distributions and truncated power-law fits during training.

Thin glue around the analysis pipeline: :func:`pl_powerlaw.analysis.analyze_net` measures and
fits, :func:`pl_powerlaw.analysis.publish` writes the record, the figures and the TensorBoard
summaries, exactly as ``python -m pl_powerlaw analyze`` does. Everything runs on global rank 0
only, and no collective is called there.

When: at the end of every phase and right after every change of a schedule-owning callback (any
callback with ``phases()``, see :mod:`pl_powerlaw.callbacks.phases`: ``dense_end``,
``retrain1_start``, ...), every ``every_n_epochs`` epochs (``epoch<N>``), every ``every_n_steps``
steps (``step<S>``) and at the end of fit (``fit_end``). Each analysis writes
``<log_dir>/degrees/<event>.json``, the CCDF figures ``<log_dir>/figures/<event>/*.png`` and logs
to TensorBoard. At the end of fit the CCDFs of several moments (read back from the records, so a
resumed run has them all) go in one figure, a panel per layer:
``<log_dir>/figures/ccdf_trajectory.png`` and the TensorBoard image ``ccdf_trajectory``.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from typing_extensions import override

from pl_powerlaw.analysis import (
    AnalysisMemo,
    DegreeReport,
    FitOptions,
    analyze_net,
    summary_table,
)
from pl_powerlaw.analysis.publish import publish_figures, publish_numbers, publish_trajectory
from pl_powerlaw.background import BackgroundQueue
from pl_powerlaw.callbacks.glue import log_to_loggers, net_of, run_dir, say, tensorboard_writer
from pl_powerlaw.callbacks.phases import PhaseSource, RunSummary
from pl_powerlaw.connectivity.recurrent import check_reuse
from pl_powerlaw.plotting.canvas import TitledRenders

# TensorBoard's custom-scalars layout: one chart per quantity with every layer in it
CUSTOM_SCALARS = {
    "power law": {
        "alpha": ["Multiline", [r"powerlaw/[^/]+/alpha$"]],
        "KS distance": ["Multiline", [r"powerlaw/[^/]+/ks$"]],
        "bootstrap p": ["Multiline", [r"powerlaw/[^/]+/p_value$"]],
        "xmin and xmax": ["Multiline", [r"powerlaw/[^/]+/xm(in|ax)$"]],
    },
    "random-pruning null": {
        "KS p": ["Multiline", [r"null/[^/]+/ks_p_value$"]],
        "dispersion": ["Multiline", [r"null/[^/]+/dispersion(_null_mean)?$"]],
        "Gini": ["Multiline", [r"null/[^/]+/gini(_null_mean)?$"]],
    },
}


def data_input_shape(trainer: Trainer) -> tuple[int, ...] | None:
    """The data module's ``input_shape`` (one sample, no batch dimension), if it has one."""
    shape = getattr(trainer.datamodule, "input_shape", None)
    return None if shape is None else tuple(shape)


class DegreeDistributionMonitor(Callback):
    """Measure each node layer's degrees, fit a truncated power law, log CCDFs and scalars.

    Args:
        every_n_epochs: also analyse every N training epochs (0: only at phase changes and at
            the end of fit).
        every_n_steps: also analyse every N training steps (0: off), e.g. during a gradual
            pruning schedule.
        trajectory_moments: the most moments drawn in the end-of-fit trajectory figure (0: no
            figure).
        analyze_start: also analyse the net right before the first training step (``fit_start``:
            the random masks a sparse training run starts from).
        n_boot: bootstrap replicates of the goodness-of-fit p-value (0 skips it).
        r: the xmin/xmax search fraction of the fit (None: the engine's default).
        min_tail: least points in a candidate range (None: the engine's default).
        min_distinct: least distinct values in a candidate range (None: the engine's default).
        layers: masked layers whose outputs are node layers (None: all but the output heads).
        seed: seed of the bootstrap.
        compare: also test each fit against a pure power law, an exponential and a log-normal
            (likelihood-ratio tests: ``alternatives`` in the records, scalars
            ``powerlaw/<layer>/lr_<alternative>`` and ``.../lr_p_<alternative>``).
        null_draws: random-pruning draws compared with each analysis (the same kept count per
            layer at random positions; ``null`` in the records, ``null/<layer>/...`` scalars, a
            grey band in the CCDF figures); 0 skips the null.
        log_figures: log the CCDF figures (one per layer and a grid) to TensorBoard.
        log_histograms: log a histogram of each layer's degrees to TensorBoard.
        reuse: how often a kept weight of a recurrent layer counts: ``"unrolled"`` (once per time
            step it is used) or ``"none"`` (once); see :mod:`pl_powerlaw.connectivity.recurrent`.
        background: draw and write the figures on a worker thread while training goes on (in
            order; all are written by the end of fit, and an error in one is raised in training's
            thread at the next analysis or at the end of fit). False draws them at once.

    The net's input shape is its ``input_shape`` attribute, else the data module's (so a
    torchvision net needs no attribute). The random-pruning null is drawn once per distinct
    kept counts and reused while they do not change, and a layer whose degrees and null are
    those of an earlier analysis is not fitted again (the same numbers; ``analysis.AnalysisMemo``).

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
        null_draws: int = 20,
        log_figures: bool = True,
        log_histograms: bool = True,
        every_n_steps: int = 0,
        trajectory_moments: int = 0,
        analyze_start: bool = False,
        reuse: str = "unrolled",
        background: bool = True,
    ) -> None:
        for name, value in (
            ("every_n_epochs", every_n_epochs),
            ("every_n_steps", every_n_steps),
            ("trajectory_moments", trajectory_moments),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"Expected `{name}` to be an int >= 0 but got {value!r}")
        self.every_n_epochs = every_n_epochs
        self.every_n_steps = every_n_steps
        self.trajectory_moments = trajectory_moments
        self.analyze_start = bool(analyze_start)
        self.reuse = check_reuse(reuse)
        self._memo = AnalysisMemo()
        self._figures = BackgroundQueue("degree-figures", enabled=background)
        self._renders = TitledRenders()
        self.options = FitOptions(
            n_boot=n_boot,
            seed=seed,
            r=r,
            min_tail=min_tail,
            min_distinct=min_distinct,
            compare=compare,
            null_draws=null_draws,
            null_seed=seed,
        )
        self.n_boot = n_boot
        self.layers = layers
        self.log_figures = log_figures
        self.log_histograms = log_histograms
        self.events_done: list[str] = []
        self._boundaries: dict[int, tuple[str, str]] = {}
        self._tensorboard_steps: set[int] = set()
        self._last_report: DegreeReport | None = None

    @property
    def state_key(self) -> str:
        return self._generate_state_key(layers=self.layers)

    @override
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
    @override
    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int
    ) -> None:
        # All ``on_train_epoch_start`` hooks (where prunes happen) have run by the first batch.
        epoch = trainer.current_epoch
        if self.analyze_start and trainer.global_step == 0 and batch_idx == 0:
            self._analyze(trainer, pl_module, "fit_start")
        if batch_idx == 0 and epoch in self._boundaries:
            self._analyze(trainer, pl_module, f"{self._boundaries[epoch][1]}_start")

    @override
    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        step = trainer.global_step
        if self.every_n_steps and step % self.every_n_steps == 0:
            self._analyze(trainer, pl_module, f"step{step}")

    @override
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        epoch = trainer.current_epoch
        if epoch + 1 in self._boundaries:
            self._analyze(trainer, pl_module, f"{self._boundaries[epoch + 1][0]}_end")
        if self.every_n_epochs and (epoch + 1) % self.every_n_epochs == 0:
            self._analyze(trainer, pl_module, f"epoch{epoch}")

    @override
    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        writer = tensorboard_writer(trainer) if trainer.is_global_zero else None
        if writer is not None:
            writer.add_custom_scalars(CUSTOM_SCALARS)

    @override
    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._analyze(trainer, pl_module, "fit_end")
        self._figures.close()  # every figure is written before the run's last figures and hparams
        folder = run_dir(trainer)
        if trainer.is_global_zero and self._last_report is not None:
            self._log_hparams(trainer, pl_module, self._last_report)
        if trainer.is_global_zero and folder is not None and self.trajectory_moments:
            self._trajectory(trainer, folder)

    def _trajectory(self, trainer: Trainer, folder) -> None:
        """The CCDFs of several analyses of this run in one figure (read from the records)."""
        records = []
        for path in sorted((folder / "degrees").glob("*.json")):
            try:
                records.append(json.loads(path.read_text()))
            except (OSError, ValueError):
                continue
        if len(records) < 2:
            return
        publish_trajectory(
            records,
            writer=tensorboard_writer(trainer),
            path=folder / "figures" / "ccdf_trajectory.png" if self.log_figures else None,
            step=trainer.global_step,
            most=self.trajectory_moments,
        )

    def _log_hparams(self, trainer: Trainer, pl_module: LightningModule, report) -> None:
        """The run's settings and final numbers (per-layer fits and verdicts) for HParams."""
        params: dict[str, Any] = {
            "net": type(net_of(pl_module)).__name__,
            "seed": int(torch.initial_seed()),
            "degrees/r": "default" if self.options.r is None else self.options.r,
            "degrees/n_boot": self.options.n_boot,
            "degrees/null_draws": self.options.null_draws,
        }
        metrics: dict[str, float] = {}
        for callback in trainer.callbacks:
            if callback is not self and isinstance(callback, RunSummary):
                more_params, more_metrics = callback.hparams()
                params.update(more_params)
                metrics.update(more_metrics)
        for layer in report.layers:
            if layer.verdict is not None:
                params[f"verdict/{layer.name}"] = layer.verdict.label
            fit = layer.fit.as_dict()
            for key in ("alpha", "ks", "p_value"):
                if fit.get(key) is not None:
                    metrics[f"hparams/{layer.name}/{key}"] = float(fit[key])
        writer = tensorboard_writer(trainer)
        if writer is not None:  # its own session ("<version>/hparams"): Lightning's is the model's
            writer.add_hparams(params, metrics, run_name="hparams")

    # -- what --------------------------------------------------------------------------------
    def _analyze(self, trainer: Trainer, pl_module: LightningModule, event: str) -> None:
        if event in self.events_done:
            return
        self.events_done.append(event)
        folder = run_dir(trainer)
        if not trainer.is_global_zero:
            return
        say(trainer, f"DegreeDistributionMonitor: analysing degrees ({event})")
        step = trainer.global_step
        # TensorBoard's step of the analysis: right after a change (``_start``) the net is the
        # one the next optimizer step trains, so it goes one step later than the ``_end`` before
        # it; two analyses at one step (``epoch<N>`` and ``<phase>_end``) are published once.
        board_step = step + 1 if event.endswith("_start") else step
        first = board_step not in self._tensorboard_steps
        self._tensorboard_steps.add(board_step)
        net = net_of(pl_module)
        report = analyze_net(
            net,
            event,
            self.options,
            input_shape=None if hasattr(net, "input_shape") else data_input_shape(trainer),
            layers=self.layers,
            epoch=trainer.current_epoch,
            global_step=step,
            reuse=self.reuse,
            memo=self._memo,
        )
        say(trainer, summary_table(report.layers))
        self._last_report = report
        writer = tensorboard_writer(trainer) if first else None
        publish_numbers(
            report,
            writer=writer,
            record_path=None if folder is None else folder / "degrees" / f"{event}.json",
            log_metrics=(lambda scalars, at: log_to_loggers(trainer, scalars, at))
            if first
            else None,
            histograms=self.log_histograms,
            step=board_step,
        )
        figure_dir = None if folder is None else folder / "figures" / event
        if self.log_figures and (writer is not None or figure_dir is not None):
            self._figures.submit(
                publish_figures, report, writer, figure_dir, board_step, self._renders
            )

    @override
    def teardown(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        # a run that stops early (an exception, Ctrl-C) still gets the figures already analysed;
        # a figure's error must not hide the error that stopped the run
        try:
            self._figures.close()
        except Exception as error:  # noqa: BLE001 - reported, the run's own error goes on
            warnings.warn(
                f"DegreeDistributionMonitor: a figure was not written: {error}", stacklevel=2
            )

    # -- checkpoint state --------------------------------------------------------------------
    @override
    def state_dict(self) -> dict[str, Any]:
        return {"events_done": list(self.events_done)}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.events_done = list(state_dict.get("events_done", []))
