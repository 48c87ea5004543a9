"""What a user sees in TensorBoard, read through TensorBoard's own HTTP data API.

A short run (dense -> prune -> retrain, every-epoch monitoring) is logged; TensorBoard is started
on a loopback port over its logs, and its data endpoints must show one image tag per layer with
several steps, histograms at distinct steps, the text table, the custom-scalars layout and the
HParams of the run.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest
from lightning.pytorch import Trainer, seed_everything
from lightning.pytorch.loggers import TensorBoardLogger
from lightning_helpers import TinyData, TinyMLP

from pl_powerlaw.callbacks import DegreeDistributionMonitor, MagnitudePruning
from pl_powerlaw.models.classifier import ImageClassifier


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    root = tmp_path_factory.mktemp("board")
    seed_everything(0)
    Trainer(
        max_epochs=4,
        accelerator="cpu",
        logger=TensorBoardLogger(root, name="runs"),
        callbacks=[
            MagnitudePruning(prune_epochs=[2], amount=0.6, test_accuracy=True),
            DegreeDistributionMonitor(every_n_epochs=1, n_boot=20, min_tail=4, null_draws=3),
        ],
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    ).fit(ImageClassifier(TinyMLP(), num_classes=3), TinyData())
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", str(root / "runs"),
         "--host", "127.0.0.1", "--port", str(port), "--reload_interval", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(url + "/data/runs", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def get(url: str, path: str, **query: str) -> object:
    full = f"{url}{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
    for _ in range(60):  # TensorBoard loads the event files in the background
        with urllib.request.urlopen(full, timeout=10) as response:
            data = json.loads(response.read())
        if data:
            return data
        time.sleep(0.5)
    return data


def test_images_are_one_tag_per_layer_scrubbed_by_step(board):
    tags = get(board, "/data/plugin/images/tags")["version_0"]
    assert set(tags) == {"ccdf/input", "ccdf/fc1", "ccdf/fc2", "ccdf_all_layers"}
    images = get(board, "/data/plugin/images/images", run="version_0", tag="ccdf/fc1")
    steps = [image["step"] for image in images]
    assert len(steps) >= 5 and len(set(steps)) == len(steps), steps  # every analysis, in order


def test_histograms_have_distinct_steps(board):
    tags = get(board, "/data/plugin/histograms/tags")["version_0"]
    assert {"degrees/input", "degrees/fc1", "degrees/fc2"} <= set(tags)
    data = get(board, "/data/plugin/histograms/histograms", run="version_0", tag="degrees/fc1")
    steps = [entry[1] for entry in data]
    assert len(steps) >= 5 and len(set(steps)) == len(steps), steps


def test_text_tab_holds_the_tables_and_hparams_the_run(board):
    tags = get(board, "/data/plugin/text/tags")["version_0"]
    assert "degrees/text_summary" in tags  # add_text("degrees") as TensorBoard names it
    texts = get(board, "/data/plugin/text/text", run="version_0", tag="degrees/text_summary")
    assert any("verdict" in entry["text"] and "fc1" in entry["text"] for entry in texts)
    layout = get(board, "/data/plugin/custom_scalars/layout")
    titles = {chart["title"] for category in layout["category"] for chart in category["chart"]}
    assert {"alpha", "KS distance", "bootstrap p"} <= titles
    req = urllib.request.Request(
        board + "/data/plugin/hparams/experiment",
        data=json.dumps({"experimentName": ""}).encode(),
        headers={"Content-Type": "application/json", "X-XSRF-Protected": "1"},
    )
    with urllib.request.urlopen(req, timeout=10) as response:
        experiment = json.loads(response.read())
    names = {h["name"] for h in experiment.get("hparamInfos", [])}
    assert {"net", "pruning/prune_epochs", "verdict/fc1"} <= names, names
    metrics = {m["name"]["tag"] for m in experiment.get("metricInfos", [])}
    assert {"hparams/fc1/alpha", "hparams/test_sparse_acc"} <= metrics, metrics
