"""The degree monitor on a net without ``input_shape`` (a plain torch model), and its null memo.

A plain ``nn.Sequential`` (as a torchvision net) has no ``input_shape``: the monitor takes the
data module's. With every-epoch monitoring over dense -> prune -> retrain, the random-pruning null
is drawn once per distinct kept counts (dense, pruned), and its numbers equal fresh draws.
"""

from __future__ import annotations

import json

import torch
from data_helpers import make_fake_mnist
from lightning.pytorch import Trainer, seed_everything
from torch import nn

from pl_powerlaw.analysis import analyze_net, degrees_record
from pl_powerlaw.callbacks import DegreeDistributionMonitor, MagnitudePruning
from pl_powerlaw.data import MNISTDataModule
from pl_powerlaw.models import ImageClassifier


def test_monitor_reads_the_input_shape_from_the_data_and_draws_each_null_once(tmp_path):
    seed_everything(0)
    make_fake_mnist(tmp_path / "data", n_train=60, n_test=20)
    data = MNISTDataModule(data_root=str(tmp_path / "data"), check_md5=False, val_size=20,
                           cache=False, batch_size=20)  # fmt: skip
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))
    assert not hasattr(net, "input_shape")
    model = ImageClassifier(net, optimizer=lambda p: torch.optim.SGD(p, lr=0.1))
    monitor = DegreeDistributionMonitor(every_n_epochs=1, null_draws=4, compare=False)
    pruning = MagnitudePruning(prune_epochs=[2], amount=0.8, test_accuracy=False)
    trainer = Trainer(max_epochs=4, accelerator="cpu", default_root_dir=str(tmp_path),
                      callbacks=[pruning, monitor], enable_progress_bar=False,
                      enable_model_summary=False, enable_checkpointing=False)  # fmt: skip
    trainer.fit(model, data)
    records = sorted(p.name for p in (tmp_path / "lightning_logs/version_0/degrees").iterdir())
    assert "fit_end.json" in records and "epoch3.json" in records
    # the input layer has the data module's 784 pixels; kept counts: dense once, pruned once
    fit_end = json.loads((tmp_path / "lightning_logs/version_0/degrees/fit_end.json").read_text())
    assert [len(layer["degrees"]) for layer in fit_end["layers"]] == [784, 32]
    assert len(monitor._memo._null) == 2
    fresh = analyze_net(net, "fit_end", monitor.options, input_shape=(1, 28, 28),
                        epoch=fit_end["epoch"], global_step=fit_end["global_step"])  # fmt: skip
    assert degrees_record(fresh)["layers"] == fit_end["layers"]
