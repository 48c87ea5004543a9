"""``DegreeDistributionMonitor``: JSON records equal hand-computed degrees; TensorBoard content."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from lightning.pytorch import Trainer, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger
from lightning_helpers import TinyData, TinyMLP
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from pl_powerlaw.callbacks import DegreeDistributionMonitor, MagnitudePruning
from pl_powerlaw.fitting import compare_alternatives
from pl_powerlaw.fitting.compare import ALTERNATIVES
from pl_powerlaw.models.classifier import ImageClassifier


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("monitor")
    seed_everything(0)
    model = ImageClassifier(TinyMLP(), num_classes=3)
    logger = TensorBoardLogger(save_dir=tmp_path, name="logs")
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    trainer = Trainer(
        max_epochs=4,
        accelerator="cpu",
        logger=logger,
        callbacks=[
            DegreeDistributionMonitor(n_boot=20, min_tail=4),
            MagnitudePruning(prune_epochs=[2], amount=0.6, test_accuracy=False),
            checkpoint,
        ],
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, TinyData())
    return Path(trainer.log_dir), tmp_path / "ckpt" / "last.ckpt"


def hand_degrees(state):
    kept1 = (state["net.fc1.weight_mask"] != 0) & (state["net.fc1.weight"] != 0)  # (16, 12)
    kept2 = (state["net.fc2.weight_mask"] != 0) & (state["net.fc2.weight"] != 0)  # (8, 16)
    return {
        "input": kept1.sum(0).tolist(),  # upward only
        "fc1": (kept1.sum(1) + kept2.sum(0)).tolist(),  # below + above
        "fc2": kept2.sum(1).tolist(),  # the last node layer: downward only
    }


def test_events_written_in_phase_order(run):
    log_dir, _ = run
    names = sorted(p.stem for p in (log_dir / "degrees").glob("*.json"))
    # the monitor is listed before the pruning callback: it must still see the pruned net
    assert names == ["dense_end", "fit_end", "retrain1_start"]
    record = json.loads((log_dir / "degrees" / "retrain1_start.json").read_text())
    assert record["event"] == "retrain1_start" and record["epoch"] == 2
    assert [layer["name"] for layer in record["layers"]] == ["input", "fc1", "fc2"]
    dense = json.loads((log_dir / "degrees" / "dense_end.json").read_text())
    assert dense["layers"][1]["degrees"] == [12 + 8] * 16  # dense: every fc1 unit fully connected


def test_fit_end_degrees_equal_hand_count_from_checkpoint(run):
    log_dir, ckpt = run
    record = json.loads((log_dir / "degrees" / "fit_end.json").read_text())
    state = torch.load(ckpt, weights_only=True)["state_dict"]
    expected = hand_degrees(state)
    for layer in record["layers"]:
        assert layer["degrees"] == expected[layer["name"]], layer["name"]
        assert layer["n_nodes"] == len(expected[layer["name"]])
        assert set(layer["fit"]) >= {"alpha", "xmin", "xmax", "ks", "p_value", "flagged"}


def test_tensorboard_holds_ccdf_images_and_scalars(run):
    log_dir, _ = run
    events = EventAccumulator(
        str(log_dir), size_guidance={"images": 0, "scalars": 0, "histograms": 0}
    ).Reload()
    images = set(events.Tags()["images"])
    # one tag per layer, the moments on the step axis (dense_end, retrain1_start, fit_end)
    assert images == {"ccdf/input", "ccdf/fc1", "ccdf/fc2", "ccdf_all_layers"}
    steps = [image.step for image in events.Images("ccdf/fc1")]
    assert len(steps) == 3 and steps == sorted(set(steps)), steps
    for name in ("input", "fc1", "fc2"):  # histograms at distinct steps: nothing collides
        hist_steps = [h.step for h in events.Histograms(f"degrees/{name}")]
        assert len(hist_steps) == 3 and len(set(hist_steps)) == 3, hist_steps
    scalars = set(events.Tags()["scalars"])
    assert {"sparsity/fc1", "val/acc", "train/loss_epoch"} <= scalars
    fit_scalars = {tag for tag in scalars if tag.startswith("powerlaw/")}
    assert fit_scalars, "no powerlaw/<layer>/... scalars were logged"
    lr = {f"lr_{a}" for a in ALTERNATIVES} | {f"lr_p_{a}" for a in ALTERNATIVES}
    names = {tag.split("/")[-1] for tag in fit_scalars}
    assert names <= {"alpha", "xmin", "xmax", "ks", "p_value", "n_tail"} | lr
    assert names & lr, "no likelihood-ratio scalars were logged"


def test_records_hold_the_likelihood_ratio_tests_of_unflagged_fits(run):
    log_dir, _ = run
    record = json.loads((log_dir / "degrees" / "fit_end.json").read_text())
    tested = 0
    for layer in record["layers"]:
        if layer["fit"]["flagged"]:
            assert "alternatives" not in layer
            continue
        expected = compare_alternatives(np.array(layer["degrees"]), layer["fit"])
        assert layer["alternatives"] == {k: t.as_dict() for k, t in expected.items()}
        tested += 1
    assert tested >= 1


def test_failing_likelihood_ratio_tests_warn_and_leave_the_fit(monkeypatch):
    from pl_powerlaw.analysis import degrees as report
    from pl_powerlaw.fitting import sample_tpl

    def broken(*args, **kwargs):
        raise ValueError("no convergence")

    monkeypatch.setattr(report, "compare_alternatives", broken)
    degrees = {"fc1": sample_tpl(300, 1.5, 1, 100, rng=0)}
    with pytest.warns(UserWarning, match="fc1: likelihood-ratio tests skipped: no convergence"):
        (layer,) = report.fit_layers(degrees, report.FitOptions(compare=True))
    assert layer.alternatives is None and not layer.fit.flagged
    assert "alternatives" not in layer.as_dict()
