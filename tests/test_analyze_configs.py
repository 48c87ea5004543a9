"""The CIFAR-10 and ImageNet configs run one ``fast_dev_run`` batch on generated data.

The ImageNet configs are made for GPUs with DDP and bf16; on the CPU they run with the
overrides a user would give for a laptop check (single device, fp32, batch 2, no workers). The
shipped DDP and bf16 settings themselves are built into a Trainer, unchanged, in
``test_imagenet_trainer.py``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import CONFIGS, run_cli
from data_helpers import make_fake_cifar10, make_fake_imagenet

CPU_OVERRIDES = [
    "--trainer.fast_dev_run=true",
    "--trainer.accelerator=cpu",
    "--trainer.devices=1",
    "--trainer.strategy=auto",
    "--trainer.precision=32-true",
    "--trainer.enable_progress_bar=false",
]


def run_fit(config: str, *overrides: str, cwd: Path) -> subprocess.CompletedProcess:
    args = ["fit", "--config", str(CONFIGS / config), *overrides]
    return run_cli(*args, f"--trainer.default_root_dir={cwd}", cwd=cwd)


def test_cnn_cifar10_config_runs_on_generated_data(tmp_path):
    make_fake_cifar10(tmp_path / "data")
    result = run_fit(
        "cnn_cifar10.yaml",
        *CPU_OVERRIDES,
        f"--data.init_args.data_root={tmp_path / 'data'}",
        "--data.init_args.num_train=null",  # the generated set is small: 100 train, 20 test
        "--data.init_args.num_test=null",
        "--data.init_args.val_size=20",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "fc1" in result.stdout + result.stderr  # the degree monitor's summary table


@pytest.mark.slow
@pytest.mark.parametrize(
    ("config", "extra"),
    [
        pytest.param("alexnet_imagenet.yaml", [], id="alexnet"),  # Caffe's AlexNet needs 227 x 227
        pytest.param(
            "vgg16_imagenet.yaml",
            ["--data.init_args.crop_size=32", "--data.init_args.resize_size=40"],
            id="vgg16",
        ),
    ],
)
def test_imagenet_configs_run_on_generated_data(config, extra, tmp_path):
    root = make_fake_imagenet(tmp_path / "data")
    result = run_fit(
        config,
        *CPU_OVERRIDES,
        f"--data.init_args.root={root}",
        "--data.init_args.batch_size=2",
        "--data.init_args.num_workers=0",
        *extra,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "fc7" in result.stdout + result.stderr or "classifier.3" in result.stdout + result.stderr
