"""``TaskFreezing``: the continual-learning schedule of the paper's Figure 6 as a Lightning callback.

For each task in turn: train dense -> prune a fraction of the task's own weights -> retrain ->
freeze. Task ``t > 0`` starts by re-initialising the free (pruned) weights and trains them with the
earlier tasks' weights frozen. Thin glue: ownership, pruning and freezing are the plain functions
of :mod:`pl_powerlaw.continual`; ownership lives in the net's ``weight_owner`` buffers, so the
callback's own state is a few ints and strings.

Timing (the :mod:`~pl_powerlaw.callbacks.phases` protocol): the task switch and the prune are made
in ``on_train_epoch_start`` of the first epoch of their phase. The data module is switched to the
next task at the end of the task's last epoch, before Lightning reloads the dataloaders for the
next epoch (the trainer needs ``reload_dataloaders_every_n_epochs=1``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from torch import nn
from typing_extensions import override

from pl_powerlaw.atomic import write_json_atomic
from pl_powerlaw.callbacks.evaluation import evaluate_accuracy, test_loader
from pl_powerlaw.callbacks.glue import log_sparsity, log_to_loggers, net_of, run_dir, say
from pl_powerlaw.callbacks.phases import check_phases, check_schedule_fits
from pl_powerlaw.continual import (
    claim_free_weights,
    freeze_plan,
    owned_layers,
    ownership_counts,
    prune_task,
    reset_optimizer_state,
    restore_frozen,
)
from pl_powerlaw.errors import InputError
from pl_powerlaw.pruning import check_fraction, clear_optimizer_state, layer_fractions

TASK_KEYS = ("dense_epochs", "retrain_epochs", "amount")


def check_tasks(tasks: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Validate the task list of :class:`TaskFreezing` and return plain dicts."""
    if not isinstance(tasks, (list, tuple)) or not tasks:
        raise ValueError(f"Expected `tasks` to be a non-empty list of task dicts but got {tasks!r}")
    checked = []
    for t, task in enumerate(tasks):
        if not isinstance(task, Mapping):
            raise ValueError(
                f"Expected `tasks[{t}]` to be a dict with keys {TASK_KEYS} but got {task!r}"
            )
        unknown = sorted(set(task) - set(TASK_KEYS))
        missing = [key for key in TASK_KEYS if key not in task]
        if unknown or missing:
            raise ValueError(
                f"Expected `tasks[{t}]` to have the keys {TASK_KEYS} but got {sorted(task)}"
            )
        for key in ("dense_epochs", "retrain_epochs"):
            value = task[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Expected `tasks[{t}].{key}` to be an int >= 1 but got {value!r}")
        amount = task["amount"]
        if isinstance(amount, Mapping):
            amount = {
                str(k): check_fraction(v, f"tasks[{t}].amount[{k}]") for k, v in amount.items()
            }
        else:
            amount = check_fraction(amount, f"tasks[{t}].amount")
        checked.append(
            {
                "dense_epochs": task["dense_epochs"],
                "retrain_epochs": task["retrain_epochs"],
                "amount": amount,
            }
        )
    return checked


class TaskFreezing(Callback):
    """Continual learning by pruning and freezing, one task after another (PackNet; paper Fig. 6).

    Task ``t`` trains head ``t`` (``pl_module.set_task``) on the data module's task ``t``
    (``datamodule.set_task``). It owns every free trunk entry when it starts (re-initialised with
    ``net.init_weight`` for ``t > 0``), prunes ``amount`` of its own entries after
    ``dense_epochs``, then retrains for ``retrain_epochs``. After every optimizer step the entries
    of earlier tasks, the shared biases (``t > 0``) and the other heads are restored bit for bit;
    the optimizer state is reset at each task switch.

    Records the test accuracy of task ``t`` at the end of its dense phase
    (``table1/task<t>_dense_test_acc``), at the end of its sparse phase
    (``table1/task<t>_sparse_test_acc``) and of every task at the end of the schedule
    (``table1/task<t>_final_test_acc``), also in ``<log_dir>/table1.json``.

    Args:
        tasks: one dict per task: ``dense_epochs`` (int >= 1), ``retrain_epochs`` (int >= 1) and
            ``amount`` (pruned fraction of the task's entries in [0, 1), or ``{layer: fraction}``;
            layers not named are not pruned).
        reinit: re-initialise the free entries when a task ``t > 0`` starts (the paper does).
        seed: seed of the re-initialisations (task ``t`` draws from ``seed + t``); None takes
            ``torch.initial_seed()`` (set by ``seed_everything``) at the start of fit. Saved in the
            checkpoint, so a run resumed at a task boundary draws the same values.
        test_accuracy: record the Table I accuracies.

    Example (YAML)::

        trainer:
          reload_dataloaders_every_n_epochs: 1
          callbacks:
            - class_path: pl_powerlaw.callbacks.TaskFreezing
              init_args:
                tasks:
                  - {dense_epochs: 10, retrain_epochs: 10, amount: 0.9}
                  - {dense_epochs: 10, retrain_epochs: 10, amount: 0.9}
    """

    def __init__(
        self,
        tasks: list[dict[str, Any]],
        reinit: bool = True,
        seed: int | None = None,
        test_accuracy: bool = True,
    ) -> None:
        self.tasks = check_tasks(tasks)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise ValueError(f"Expected `seed` to be an int >= 0 or None but got {seed!r}")
        self.reinit = reinit
        self.seed = seed
        self.test_accuracy = test_accuracy
        starts, epoch = [], 0
        for task in self.tasks:
            starts.append((epoch, epoch + task["dense_epochs"]))
            epoch += task["dense_epochs"] + task["retrain_epochs"]
        self.starts: list[tuple[int, int]] = starts  # (dense start, retrain start) per task
        self.total_epochs = epoch
        self.events_done: list[str] = []
        self.data_task = 0
        self.accuracy: dict[str, float] = {}
        self.kept: dict[str, dict[str, int]] = {}
        self._fractions: list[dict[str, float]] = []
        self._plan = None
        self._handles: list[Any] = []

    @property
    def num_tasks(self) -> int:
        return len(self.tasks)

    @property
    def state_key(self) -> str:
        return self._generate_state_key(num_tasks=self.num_tasks)

    def phases(self) -> list[tuple[int, str]]:
        """``task<t>_dense`` and ``task<t>_retrain`` for every task, for the degree monitor."""
        phases = []
        for t, (dense, retrain) in enumerate(self.starts):
            phases += [(dense, f"task{t}_dense"), (retrain, f"task{t}_retrain")]
        return check_phases(phases, type(self).__name__)

    def schedule_epochs(self) -> int:
        """Every task's dense and retraining epochs: the run needs all of them."""
        return self.total_epochs

    def task_of_epoch(self, epoch: int) -> int:
        """The task trained at ``epoch`` (the last task after the schedule)."""
        return max(t for t, (dense, _) in enumerate(self.starts) if dense <= epoch)

    def pruned_tasks(self) -> list[int]:
        """Tasks whose prune has been made."""
        return [t for t in range(self.num_tasks) if f"task{t}_prune" in self.events_done]

    def current_task(self) -> int:
        """The last task started (0 before any)."""
        started = [t for t in range(self.num_tasks) if f"task{t}_start" in self.events_done]
        return started[-1] if started else 0

    # -- setup -------------------------------------------------------------------------------
    @override
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        net = self._net(pl_module)
        layers = owned_layers(net)
        heads = getattr(net, "num_tasks", None)
        if heads is not None and heads < self.num_tasks:
            raise InputError(
                f"Expected a net with >= {self.num_tasks} heads (one per task) but got {heads}"
            )
        self._fractions = [
            layer_fractions(task["amount"], list(layers), name=f"tasks[{t}].amount")
            for t, task in enumerate(self.tasks)
        ]
        if stage != "fit":
            return
        datamodule = trainer.datamodule
        data_tasks = getattr(datamodule, "num_tasks", None)
        if data_tasks is not None and data_tasks != self.num_tasks:
            raise InputError(
                f"Expected the data module to serve {self.num_tasks} tasks (one per entry of "
                f"`tasks`) but its `num_tasks` is {data_tasks}"
            )
        if self.num_tasks > 1:
            if not hasattr(datamodule, "set_task"):
                raise InputError(
                    f"Expected a data module with `set_task(t)` for {self.num_tasks} tasks but got "
                    f"{type(datamodule).__name__}"
                )
            if trainer.reload_dataloaders_every_n_epochs != 1:
                raise InputError(
                    "Expected `trainer.reload_dataloaders_every_n_epochs` = 1 (the task switches "
                    f"need fresh dataloaders) but got {trainer.reload_dataloaders_every_n_epochs}"
                )
        if not hasattr(pl_module, "set_task"):
            raise InputError(
                f"Expected a LightningModule with `set_task(t)` (e.g. MultiTaskClassifier) but got "
                f"{type(pl_module).__name__}"
            )
        # the CLI makes the same check before any folder exists; this covers plain Trainer use
        check_schedule_fits([self], trainer.max_epochs, bool(trainer.fast_dev_run))

    @staticmethod
    def _net(pl_module: LightningModule) -> nn.Module:
        return net_of(pl_module)

    # -- the schedule ------------------------------------------------------------------------
    @override
    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # Runs after a checkpoint's modules and callback state are restored, before the first
        # train dataloader is built: point the data module and the model at the right task.
        if self.num_tasks > 1 and trainer.datamodule is not None:
            trainer.datamodule.set_task(self.data_task)
        pl_module.set_task(self.current_task())
        if self.seed is None:  # fixed before the first checkpoint, so every resume draws the same
            self.seed = torch.initial_seed() % 2**31

    @override
    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._plan = freeze_plan(self._net(pl_module), self.current_task())
        self._remove_hooks()
        self._handles = [
            opt.register_step_post_hook(self._after_step) for opt in trainer.optimizers
        ]

    def _after_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        if self._plan is not None:
            restore_frozen(self._plan)

    @override
    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        epoch = trainer.current_epoch
        for t, (dense, retrain) in enumerate(self.starts):
            if dense <= epoch and f"task{t}_start" not in self.events_done:
                self._start_task(trainer, pl_module, t)
            if retrain <= epoch and f"task{t}_prune" not in self.events_done:
                self._prune(trainer, pl_module, t)

    def _start_task(self, trainer: Trainer, pl_module: LightningModule, t: int) -> None:
        net = self._net(pl_module)
        init = getattr(net, "init_weight", None) if self.reinit and t > 0 else None
        claimed = claim_free_weights(net, t, init=init, seed=self.seed + t)
        reset_optimizer_state(trainer.optimizers)
        pl_module.set_task(t)
        self._plan = freeze_plan(net, t)
        self.events_done.append(f"task{t}_start")
        summary = ", ".join(f"{name} {n}" for name, n in claimed.items())
        say(
            trainer,
            f"TaskFreezing: epoch {trainer.current_epoch}, task {t} starts, claims {summary} weights, "
            f"{self._plan.n_frozen()} parameters frozen",
        )

    def _prune(self, trainer: Trainer, pl_module: LightningModule, t: int) -> None:
        net = self._net(pl_module)
        kept = prune_task(net, t, self._fractions[t])
        for optimizer in trainer.optimizers:
            clear_optimizer_state(optimizer, net)
        self._plan = freeze_plan(net, t)
        self.events_done.append(f"task{t}_prune")
        self.kept[f"task{t}"] = kept
        say(trainer, f"TaskFreezing: epoch {trainer.current_epoch}, task {t} pruned, keeps {kept}")
        self._write_summary(trainer)

    @override
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        log_sparsity(pl_module, owned_layers(self._net(pl_module)).items())
        epoch = trainer.current_epoch
        t = self.task_of_epoch(epoch)
        dense, retrain = self.starts[t]
        last_epoch = retrain + self.tasks[t]["retrain_epochs"] - 1
        if epoch == retrain - 1:
            self._record(trainer, pl_module, t, f"table1/task{t}_dense_test_acc")
        if epoch == last_epoch:
            self._record(trainer, pl_module, t, f"table1/task{t}_sparse_test_acc")
            if t + 1 < self.num_tasks:
                self.data_task = t + 1
                trainer.datamodule.set_task(t + 1)
            else:
                for j in range(self.num_tasks):
                    self._record(trainer, pl_module, j, f"table1/task{j}_final_test_acc")
                if trainer.max_epochs is not None and trainer.max_epochs > self.total_epochs:
                    say(
                        trainer,
                        f"TaskFreezing: schedule done after {self.total_epochs} epochs, stopping",
                    )
                    trainer.should_stop = True
            self._write_summary(trainer)

    @override
    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._remove_hooks()

    @override
    def teardown(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        self._remove_hooks()
        self._plan = None

    def _remove_hooks(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    # -- Table I -----------------------------------------------------------------------------
    def _record(self, trainer: Trainer, pl_module: LightningModule, t: int, key: str) -> None:
        if not self.test_accuracy or trainer.fast_dev_run or key in self.accuracy:
            return
        loader = test_loader(trainer.datamodule, t)
        if loader is None:
            return
        accuracy = evaluate_accuracy(
            pl_module, loader, forward=lambda x: pl_module(x, t), datamodule=trainer.datamodule
        )
        self.accuracy[key] = accuracy
        say(trainer, f"TaskFreezing: {key} = {accuracy:.4f}")
        if trainer.is_global_zero:
            log_to_loggers(trainer, {key: accuracy}, trainer.global_step)

    def table(self) -> dict[str, dict[str, float]]:
        """Table I: per task, its dense, sparse and final test accuracies recorded so far."""
        rows = {}
        for t in range(self.num_tasks):
            row = {}
            for stage in ("dense", "sparse", "final"):
                key = f"table1/task{t}_{stage}_test_acc"
                if key in self.accuracy:
                    row[stage] = self.accuracy[key]
            rows[f"task{t}"] = row
        return rows

    def _write_summary(self, trainer: Trainer) -> None:
        folder = run_dir(trainer)
        if not trainer.is_global_zero or folder is None:
            return
        net = self._net(trainer.lightning_module)
        summary = {
            "tasks": self.tasks,
            "table1": self.table(),
            "kept": self.kept,
            "ownership": ownership_counts(net, self.num_tasks),
        }
        write_json_atomic(folder / "table1.json", summary)

    def hparams(self) -> tuple[dict[str, Any], dict[str, float]]:
        """The task schedule and Table I's accuracies, for the HParams tab."""
        params = {"continual/tasks": str(self.tasks), "continual/reinit": self.reinit}
        metrics = {f"hparams/{key.split('/', 1)[1]}": value for key, value in self.accuracy.items()}
        return params, metrics

    # -- checkpoint state --------------------------------------------------------------------
    @override
    def state_dict(self) -> dict[str, Any]:
        return {
            "events_done": list(self.events_done),
            "data_task": self.data_task,
            "seed": self.seed,
            "accuracy": dict(self.accuracy),
            "kept": {task: dict(kept) for task, kept in self.kept.items()},
        }

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.events_done = list(state_dict.get("events_done", []))
        self.data_task = int(state_dict.get("data_task", 0))
        self.seed = state_dict.get("seed", self.seed)
        self.accuracy = dict(state_dict.get("accuracy", {}))
        self.kept = {task: dict(kept) for task, kept in state_dict.get("kept", {}).items()}
