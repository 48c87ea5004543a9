"""``fit`` trains a torchvision net through ImageClassifier (configs/resnet18_cifar10.yaml)."""

from __future__ import annotations

import pytest
from conftest import CONFIGS, run_cli
from data_helpers import make_fake_cifar10

pytestmark = pytest.mark.vision
try:
    import torchvision  # noqa: F401
except Exception as error:  # missing, or built for another torch
    pytest.skip(f"torchvision does not import: {error}", allow_module_level=True)


def test_resnet18_cifar10_config_runs_on_generated_data(tmp_path):
    make_fake_cifar10(tmp_path / "data")
    result = run_cli(
        "fit",
        "--config",
        str(CONFIGS / "resnet18_cifar10.yaml"),
        "--trainer.fast_dev_run=true",
        "--trainer.enable_progress_bar=false",
        f"--trainer.default_root_dir={tmp_path}",
        f"--data.init_args.data_root={tmp_path / 'data'}",
        "--data.init_args.num_train=null",  # the generated set is small: 100 train, 20 test
        "--data.init_args.num_test=null",
        "--data.init_args.val_size=20",
        "--degrees.init_args.null_draws=0",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout + result.stderr
    # MagnitudePruning masked torchvision's plain layers, the monitor traced the net at 32 x 32
    assert "masked the 21 plain Linear/Conv layers of ResNet" in out
    assert "layer4.1.conv2" in out and "fc " not in out
    # conv1 (7x7, stride 2, padding 3): 32x32 -> 16x16, so each dense input channel has
    # 64 * 49 * 16 * 16 connections
    assert f"a single distinct positive value ({64 * 49 * 16 * 16}, 3 times)" in out


def test_print_config_names_the_torchvision_net(tmp_path):
    result = run_cli(
        "fit", "--config", str(CONFIGS / "resnet18_cifar10.yaml"), "--print_config", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "pl_powerlaw.models.vision.torchvision_model" in result.stdout
    assert "torchvision.models.resnet18" in result.stdout and "amount: 0.9" in result.stdout
