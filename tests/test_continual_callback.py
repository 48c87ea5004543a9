"""``TaskFreezing`` and ``MultiTaskClassifier`` in real (tiny, CPU) Lightning fits.

The data are Gaussian blobs in 12 dimensions; task t permutes the 12 features with a seeded
permutation (a stand-in for permuted MNIST with the same interface as ``PermutedMNISTDataModule``).
Training is deterministic (no shuffle, no dropout), so an interrupted and resumed fit must end with
exactly the same masks, owners and weights as an uninterrupted one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Callback, LightningDataModule, Trainer, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from torch.utils.data import DataLoader, TensorDataset

from pl_powerlaw.callbacks.task_freezing import TaskFreezing
from pl_powerlaw.models import MultiHeadMLP, MultiTaskClassifier

TASKS = [
    {"dense_epochs": 2, "retrain_epochs": 1, "amount": 0.5},
    {"dense_epochs": 2, "retrain_epochs": 2, "amount": {"fc1": 0.6, "fc2": 0.4}},
]
TOTAL = 7


class TinyTasks(LightningDataModule):
    """Permuted-feature tasks over 3 Gaussian blobs (interface of ``PermutedMNISTDataModule``)."""

    def __init__(self, num_tasks: int = 2, n: int = 96, batch_size: int = 16) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.num_tasks = num_tasks
        self.current_task = 0
        centres = torch.randn(3, 12, generator=generator) * 2
        self.sets = {}
        for split in ("train", "val", "test"):
            y = torch.arange(n) % 3
            self.sets[split] = (centres[y] + torch.randn(n, 12, generator=generator), y)
        self.perms = [torch.arange(12)] + [
            torch.randperm(12, generator=generator) for _ in range(num_tasks - 1)
        ]
        self.batch_size = batch_size

    def set_task(self, task: int) -> None:
        self.current_task = task

    def _loader(self, split: str, task: int) -> DataLoader:
        x, y = self.sets[split]
        return DataLoader(
            TensorDataset(x[:, self.perms[task]].view(-1, 1, 3, 4), y), batch_size=self.batch_size
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", self.current_task)

    def val_dataloader(self) -> list[DataLoader]:
        return [self._loader("val", t) for t in range(self.current_task + 1)]

    def test_dataloader(self) -> list[DataLoader]:
        return [self._loader("test", t) for t in range(self.current_task + 1)]


class Snapshots(Callback):
    """Copies of the net's state at the end of every epoch, and the train batches' tasks."""

    def __init__(self) -> None:
        self.states: dict[int, dict[str, torch.Tensor]] = {}
        self.heads: dict[int, int] = {}

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.states[trainer.current_epoch] = {
            k: v.clone() for k, v in pl_module.net.state_dict().items()
        }
        self.heads[trainer.current_epoch] = pl_module.task


class StopAfter(Callback):
    """Interrupt the fit at the end of an epoch (as a killed job would, after its checkpoint)."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if trainer.current_epoch == self.epoch:
            trainer.should_stop = True


def make_model(optimizer=None) -> MultiTaskClassifier:
    seed_everything(0)
    net = MultiHeadMLP(
        num_tasks=2, hidden=(16, 8), input_shape=(1, 3, 4), in_dropout=0.0, hidden_dropout=0.0
    )
    if optimizer is None:
        return MultiTaskClassifier(
            net, optimizer=lambda p: torch.optim.Adam(p, lr=1e-2, weight_decay=1e-3)
        )
    return MultiTaskClassifier(net, optimizer=optimizer)


def fit(
    tmp_path: Path, callbacks=(), max_epochs: int = TOTAL, ckpt_path=None, model=None, **kwargs
):
    freezing = TaskFreezing(TASKS)
    trainer = Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=max_epochs,
        default_root_dir=str(tmp_path),
        enable_progress_bar=False,
        enable_model_summary=False,
        reload_dataloaders_every_n_epochs=1,
        logger=CSVLogger(str(tmp_path), name="logs"),
        callbacks=[freezing, *callbacks],
        **kwargs,
    )
    model = model or make_model()
    trainer.fit(model, datamodule=TinyTasks(), ckpt_path=ckpt_path)
    return trainer, model, freezing


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("full")
    snapshots = Snapshots()
    trainer, model, freezing = fit(tmp_path, [snapshots])
    return tmp_path, trainer, model, freezing, snapshots


def test_schedule_phases_and_heads(full_run) -> None:
    _, trainer, model, freezing, snapshots = full_run
    assert freezing.phases() == [
        (0, "task0_dense"),
        (2, "task0_retrain"),
        (3, "task1_dense"),
        (5, "task1_retrain"),
    ]
    assert snapshots.heads == {0: 0, 1: 0, 2: 0, 3: 1, 4: 1, 5: 1, 6: 1}
    assert freezing.events_done == ["task0_start", "task0_prune", "task1_start", "task1_prune"]
    assert trainer.current_epoch == TOTAL


def test_task0_weights_frozen_during_task1(full_run) -> None:
    _, _, model, _, snapshots = full_run
    end_a = snapshots.states[2]  # end of task 0's retraining
    for epoch in (3, 4, 5, 6):
        state = snapshots.states[epoch]
        for name in ("fc1", "fc2"):
            owned = end_a[f"{name}.weight_owner"] == 0
            assert torch.equal(state[f"{name}.weight_owner"] == 0, owned)
            assert torch.equal(state[f"{name}.weight"][owned], end_a[f"{name}.weight"][owned])
            assert torch.equal(state[f"{name}.bias"], end_a[f"{name}.bias"])
        assert torch.equal(state["heads.0.weight"], end_a["heads.0.weight"])
    final = snapshots.states[6]
    assert not torch.equal(final["heads.1.weight"], end_a["heads.1.weight"])  # task 1 did train


def test_new_connections_only_where_task0_left_entries_free(full_run) -> None:
    _, _, _, _, snapshots = full_run
    end_a, final = snapshots.states[2], snapshots.states[6]
    for name, fraction in (("fc1", 0.6), ("fc2", 0.4)):
        free_after_a = end_a[f"{name}.weight_owner"] == -1
        task1 = final[f"{name}.weight_owner"] == 1
        assert task1.any() and not (task1 & ~free_after_a).any()
        n_free = int(free_after_a.sum())
        assert int(task1.sum()) == n_free - round(fraction * n_free)  # pruned only task 1's entries
        assert torch.equal(final[f"{name}.weight_mask"] != 0, final[f"{name}.weight_owner"] >= 0)


def test_table1_and_task0_accuracy_unchanged_after_task1(full_run) -> None:
    tmp_path, trainer, model, freezing, _ = full_run
    acc = freezing.accuracy
    assert set(acc) == {
        f"table1/task{t}_{stage}_test_acc" for t in (0, 1) for stage in ("dense", "sparse", "final")
    }
    assert acc["table1/task0_final_test_acc"] == acc["table1/task0_sparse_test_acc"]  # exactly
    assert acc["table1/task1_final_test_acc"] == acc["table1/task1_sparse_test_acc"]
    assert acc["table1/task0_sparse_test_acc"] > 0.6 and acc["table1/task1_sparse_test_acc"] > 0.6
    table = json.loads((Path(trainer.log_dir) / "table1.json").read_text())
    assert table["table1"]["task0"]["sparse"] == acc["table1/task0_sparse_test_acc"]
    assert table["ownership"]["fc1"]["task0"] == int((model.net.fc1.weight_owner == 0).sum())


def test_logs_per_task_validation_and_test_metrics(full_run) -> None:
    _, trainer, model, _, _ = full_run
    metrics = trainer.callback_metrics
    for key in (
        "val/acc/task_0",
        "val/acc/task_1",
        "val/loss/task_1",
        "train/loss",
        "sparsity/fc1",
    ):
        assert key in metrics, key
    results = trainer.test(model, datamodule=trainer.datamodule, verbose=False)
    assert {"test/acc/task_0", "test/acc/task_1"} <= set(results[0]) | set(results[-1])


def test_test_stage_logits_of_task0_bit_identical_to_end_of_task0(full_run) -> None:
    _, trainer, model, _, snapshots = full_run
    x = trainer.datamodule.sets["test"][0].view(-1, 1, 3, 4)
    final = model.net.state_dict()
    end_a = MultiHeadMLP(
        num_tasks=2, hidden=(16, 8), input_shape=(1, 3, 4), in_dropout=0.0, hidden_dropout=0.0
    )
    end_a.load_state_dict(snapshots.states[2])
    model.net.eval()
    end_a.eval()
    with torch.no_grad():
        assert torch.equal(model.net(x, 0), end_a(x, 0))
    model.net.load_state_dict(final)


@pytest.mark.parametrize(
    "resume_epoch",
    [
        pytest.param(2, id="task-boundary"),
        pytest.param(3, id="task1-dense"),
        pytest.param(5, id="task1-retrain"),
    ],
)
def test_resume_in_task1_gives_the_same_final_state(full_run, tmp_path, resume_epoch: int) -> None:
    _, _, _, freezing_full, snapshots = full_run
    checkpoint = ModelCheckpoint(
        dirpath=tmp_path / "ckpt", save_top_k=-1, every_n_epochs=1, filename="{epoch}"
    )
    first, _, _ = fit(tmp_path / "first", [checkpoint, StopAfter(resume_epoch)])
    assert first.current_epoch == resume_epoch + 1
    ckpt = tmp_path / "ckpt" / f"epoch={resume_epoch}.ckpt"
    resumed_snapshots = Snapshots()
    trainer, model, freezing = fit(tmp_path / "second", [resumed_snapshots], ckpt_path=str(ckpt))
    expected = snapshots.states[TOTAL - 1]
    state = model.net.state_dict()
    for key in expected:
        assert torch.equal(state[key], expected[key]), key
    assert freezing.events_done == freezing_full.events_done
    assert freezing.accuracy == freezing_full.accuracy
    assert trainer.datamodule.current_task == 1


def test_frozen_with_sgd_momentum_weight_decay(tmp_path) -> None:
    snapshots = Snapshots()
    model = make_model(
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2)
    )
    fit(tmp_path, [snapshots], model=model)
    end_a, final = snapshots.states[2], snapshots.states[TOTAL - 1]
    for name in ("fc1", "fc2"):
        owned = end_a[f"{name}.weight_owner"] == 0
        assert torch.equal(final[f"{name}.weight"][owned], end_a[f"{name}.weight"][owned])


def test_state_dict_round_trip() -> None:
    callback = TaskFreezing(TASKS)
    callback.events_done = ["task0_start"]
    callback.data_task = 1
    callback.accuracy = {"table1/task0_dense_test_acc": 0.5}
    other = TaskFreezing(TASKS)
    other.load_state_dict(callback.state_dict())
    assert other.state_dict() == callback.state_dict()
    other.load_state_dict({})  # older checkpoints: defaults
    assert other.events_done == [] and other.data_task == 0


@pytest.mark.parametrize(
    ("tasks", "match"),
    [
        pytest.param([], "non-empty", id="empty"),
        pytest.param(
            [{"dense_epochs": 0, "retrain_epochs": 1, "amount": 0.5}],
            "dense_epochs",
            id="zero-dense",
        ),
        pytest.param(
            [{"dense_epochs": 1, "retrain_epochs": -1, "amount": 0.5}], "retrain_epochs", id="neg"
        ),
        pytest.param(
            [{"dense_epochs": 1, "retrain_epochs": 1, "amount": 1.0}], "amount", id="fraction-one"
        ),
        pytest.param(
            [{"dense_epochs": 1, "retrain_epochs": 1, "amount": {"fc1": -0.1}}], "fc1", id="dict"
        ),
        pytest.param([{"dense_epochs": 1, "retrain_epochs": 1}], "keys", id="missing-key"),
        pytest.param(
            [{"dense_epochs": 1, "retrain_epochs": 1, "amount": 0.5, "lr": 1}],
            "keys",
            id="extra-key",
        ),
    ],
)
def test_bad_task_lists_raise_at_construction(tasks, match) -> None:
    with pytest.raises(ValueError, match=match):
        TaskFreezing(tasks)


@pytest.mark.parametrize(
    ("kwargs", "datamodule_tasks", "match"),
    [
        pytest.param(
            {"reload_dataloaders_every_n_epochs": 0}, 2, "reload_dataloaders", id="no-reload"
        ),
        pytest.param({"max_epochs": 5}, 2, "max_epochs", id="too-few-epochs"),
        pytest.param({}, 3, "num_tasks", id="task-count-mismatch"),
    ],
)
def test_bad_setups_raise_clear_errors(tmp_path, kwargs, datamodule_tasks, match) -> None:
    options = {"max_epochs": TOTAL, "reload_dataloaders_every_n_epochs": 1, **kwargs}
    trainer = Trainer(
        accelerator="cpu",
        default_root_dir=str(tmp_path),
        logger=False,
        callbacks=[TaskFreezing(TASKS)],
        **options,
    )
    with pytest.raises(ValueError, match=match):
        trainer.fit(make_model(), datamodule=TinyTasks(num_tasks=datamodule_tasks))


def test_unknown_layer_in_amount_raises(tmp_path) -> None:
    tasks = [dict(TASKS[0], amount={"fc3": 0.5}), TASKS[1]]
    trainer = Trainer(
        accelerator="cpu",
        max_epochs=TOTAL,
        reload_dataloaders_every_n_epochs=1,
        logger=False,
        callbacks=[TaskFreezing(tasks)],
    )
    with pytest.raises(ValueError, match="fc3"):
        trainer.fit(make_model(), datamodule=TinyTasks())


def test_fast_dev_run_survives(tmp_path) -> None:
    trainer = Trainer(
        accelerator="cpu",
        fast_dev_run=True,
        reload_dataloaders_every_n_epochs=1,
        default_root_dir=str(tmp_path),
        callbacks=[TaskFreezing(TASKS)],
    )
    trainer.fit(make_model(), datamodule=TinyTasks())
    assert trainer.state.finished
