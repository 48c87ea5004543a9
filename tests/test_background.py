"""Figures drawn off the training thread: the queue's order and errors, and the monitor's output.

``BackgroundQueue`` runs jobs in order on one worker; an error is raised again in the caller's
thread. With ``background=True`` (the default) the degree monitor writes the same records and the
same PNG files, pixel for pixel, as with ``background=False``, all of them by the end of fit; a
figure that fails to draw fails the fit.
"""

from __future__ import annotations

import copy
import json
import pickle
import threading
import time

import numpy as np
import pytest
import torch
from data_helpers import make_fake_mnist
from lightning.pytorch import Trainer, seed_everything
from PIL import Image

from pl_powerlaw.background import BackgroundQueue
from pl_powerlaw.callbacks import DegreeDistributionMonitor, MagnitudePruning
from pl_powerlaw.data import MNISTDataModule
from pl_powerlaw.models import MLP, ImageClassifier


def test_jobs_run_in_order_on_one_worker_thread():
    queue = BackgroundQueue("test")
    seen, threads = [], set()

    def job(i):
        time.sleep(0.01 * (3 - i % 3))  # later jobs are quicker: order must not follow speed
        seen.append(i)
        threads.add(threading.current_thread().name)

    for i in range(9):
        queue.submit(job, i)
    queue.wait()
    assert seen == list(range(9))
    assert len(threads) == 1 and threads.pop().startswith("test")
    assert queue.pending == 0


def test_an_error_is_raised_in_the_callers_thread_and_later_jobs_still_run():
    queue = BackgroundQueue("test")
    seen, gate = [], threading.Event()

    def fail():
        raise RuntimeError("figure broke")

    queue.submit(gate.wait)  # the worker holds until both jobs below are queued
    queue.submit(fail)
    queue.submit(seen.append, 1)
    gate.set()
    with pytest.raises(RuntimeError, match="figure broke"):
        queue.wait()
    queue.wait()
    assert seen == [1]
    queue.submit(fail)
    time.sleep(0.05)
    with pytest.raises(RuntimeError, match="figure broke"):  # at the next submit
        queue.submit(seen.append, 2)


def test_disabled_runs_at_once_and_a_copy_has_no_thread():
    queue = BackgroundQueue("test", enabled=False)
    seen = []
    queue.submit(seen.append, 1)
    assert seen == [1] and queue._executor is None
    live = BackgroundQueue("test")
    live.submit(time.sleep, 0.05)
    for clone in (copy.deepcopy(live), pickle.loads(pickle.dumps(live))):
        assert clone._executor is None and clone.pending == 0
    live.close()
    assert live._executor is None


def run_monitor(root, background: bool, monkeypatch=None):
    seed_everything(0)
    make_fake_mnist(root / "data", n_train=80, n_test=20)
    data = MNISTDataModule(data_root=str(root / "data"), check_md5=False, val_size=20,
                           cache=False, batch_size=20)  # fmt: skip
    model = ImageClassifier(MLP(hidden=(48, 48)), optimizer=lambda p: torch.optim.SGD(p, lr=0.1))
    monitor = DegreeDistributionMonitor(every_n_epochs=1, null_draws=3, background=background)
    pruning = MagnitudePruning(prune_epochs=[2], amount=0.8, test_accuracy=False)
    trainer = Trainer(max_epochs=4, accelerator="cpu", default_root_dir=str(root),
                      callbacks=[pruning, monitor], enable_progress_bar=False,
                      enable_model_summary=False, enable_checkpointing=False)  # fmt: skip
    trainer.fit(model, data)
    return root / "lightning_logs" / "version_0", monitor


def test_the_monitor_writes_the_same_records_and_figures_in_the_background(tmp_path):
    on, monitor = run_monitor(tmp_path / "on", background=True)
    off, _ = run_monitor(tmp_path / "off", background=False)
    assert monitor._figures.pending == 0 and monitor._figures._executor is None
    records = sorted(p.name for p in (on / "degrees").iterdir())
    assert records == sorted(p.name for p in (off / "degrees").iterdir())
    assert {"dense_end.json", "retrain1_start.json", "epoch3.json", "fit_end.json"} <= set(records)
    for name in records:
        assert (on / "degrees" / name).read_text() == (off / "degrees" / name).read_text()
    pngs = sorted(p.relative_to(on / "figures") for p in (on / "figures").rglob("*.png"))
    assert pngs == sorted(p.relative_to(off / "figures") for p in (off / "figures").rglob("*.png"))
    assert len(pngs) == 4 * len(records)  # 3 node layers and the grid per analysis
    for path in pngs:
        a = np.asarray(Image.open(on / "figures" / path))
        b = np.asarray(Image.open(off / "figures" / path))
        assert a.shape == b.shape and np.array_equal(a, b), path


def test_a_figure_that_fails_fails_the_fit(tmp_path, monkeypatch):
    from pl_powerlaw.callbacks import degree_monitor

    def broken(*args, **kwargs):
        raise RuntimeError("no room for figures")

    monkeypatch.setattr(degree_monitor, "publish_figures", broken)
    with pytest.raises(RuntimeError, match="no room for figures"):
        run_monitor(tmp_path, background=True)
    # the records of the analyses made before the error are complete
    records = list((tmp_path / "lightning_logs" / "version_0" / "degrees").glob("*.json"))
    assert records and all(json.loads(path.read_text())["layers"] for path in records)


def test_the_end_of_fit_analysis_is_printed_with_a_progress_bar(tmp_path, capsys):
    """Lightning's tqdm bar drops ``print`` once training ended: the ``fit_end`` table was lost."""
    seed_everything(0)
    make_fake_mnist(tmp_path / "data", n_train=40, n_test=20)
    data = MNISTDataModule(data_root=str(tmp_path / "data"), check_md5=False, val_size=20,
                           cache=False, batch_size=20)  # fmt: skip
    model = ImageClassifier(MLP(hidden=(24, 24)), optimizer=lambda p: torch.optim.SGD(p, lr=0.1))
    pruning = MagnitudePruning(prune_epochs=[1], amount=0.8, test_accuracy=True)
    monitor = DegreeDistributionMonitor(null_draws=0, compare=False, log_figures=False)
    trainer = Trainer(max_epochs=2, accelerator="cpu", default_root_dir=str(tmp_path),
                      callbacks=[pruning, monitor], enable_progress_bar=True,
                      enable_model_summary=False, enable_checkpointing=False)  # fmt: skip
    trainer.fit(model, data)
    out = capsys.readouterr().out
    assert "analysing degrees (fit_end)" in out
    assert "test_sparse/acc" in out  # MagnitudePruning's end-of-fit accuracy
    end = out.index("analysing degrees (fit_end)")
    assert "fc2" in out[end:]  # the table follows it


def test_a_figure_is_encoded_once_for_its_file_and_tensorboard(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from torch.utils.tensorboard import SummaryWriter

    from pl_powerlaw.analysis.publish import publish_image

    pixels = np.zeros((30, 40, 4), np.uint8)
    pixels[..., 3] = 255
    pixels[5:10, 5:30, 0] = 200
    writer = SummaryWriter(str(tmp_path / "tb"))
    publish_image(writer, "ccdf/fc1", pixels, 7, tmp_path / "fc1.png")
    writer.close()
    events = EventAccumulator(str(tmp_path / "tb"), size_guidance={"images": 0})
    events.Reload()
    (image,) = events.Images("ccdf/fc1")
    assert (image.step, image.width, image.height) == (7, 40, 30)
    assert image.encoded_image_string == (tmp_path / "fc1.png").read_bytes()
    assert np.array_equal(np.asarray(Image.open(tmp_path / "fc1.png")), pixels)

    class OtherWriter:  # not a SummaryWriter: its own add_image gets the RGB pixels
        def add_image(self, tag, value, step, dataformats):
            self.seen = (tag, value.shape, step, dataformats)

    other = OtherWriter()
    publish_image(other, "t", pixels, 3)
    assert other.seen == ("t", (30, 40, 3), 3, "HWC")
