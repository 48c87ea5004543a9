"""The shipped ImageNet configs, unchanged, build their Trainer: DDP, bf16 mixed precision, the
Han schedule and the pruning preset (nothing runs; on a machine without a GPU only the accelerator
is set to the CPU).

``test_analyze_configs.py`` runs these configs with a laptop's overrides (single device, fp32), so
this is where the DDP and bf16 settings are parsed into a Trainer.
"""

from __future__ import annotations

import pytest
import torch
from conftest import CONFIGS
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.strategies import DDPStrategy

from pl_powerlaw.callbacks import DegreeDistributionMonitor, MagnitudePruning
from pl_powerlaw.cli import lightning_main
from pl_powerlaw.models import ImageClassifier
from pl_powerlaw.nn.masked import masked_modules


@pytest.mark.parametrize(
    ("config", "net", "preset", "batch_size", "crop_size"),
    [
        pytest.param("alexnet_imagenet.yaml", "AlexNet", "han2015_alexnet", 64, 227, id="alexnet"),
        pytest.param(  # 138M weights to initialise: ~10 s on 2 cores
            "vgg16_imagenet.yaml",
            "VGG16",
            "han2015_vgg16",
            32,
            224,
            id="vgg16",
            marks=pytest.mark.slow,
        ),
    ],
)
def test_shipped_ddp_bf16_settings_build_a_trainer(
    config, net, preset, batch_size, crop_size, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", ["python -m pl_powerlaw"])
    args = ["--config", str(CONFIGS / config), "--trainer.default_root_dir", str(tmp_path)]
    if not torch.cuda.is_available():
        args += ["--trainer.accelerator", "cpu"]
    cli = lightning_main(args, run=False)
    trainer = cli.trainer
    assert isinstance(trainer.strategy, DDPStrategy)
    assert trainer.precision == "bf16-mixed"
    assert (trainer.num_nodes, trainer.max_epochs) == (1, 120)
    expected_devices = torch.cuda.device_count() if torch.cuda.is_available() else 1
    assert trainer.num_devices == expected_devices
    callbacks = trainer.callbacks
    (pruning,) = [c for c in callbacks if isinstance(c, MagnitudePruning)]
    assert pruning.prune_epochs == [90] and pruning.preset == preset
    (monitor,) = [c for c in callbacks if isinstance(c, DegreeDistributionMonitor)]
    assert monitor.options.n_boot == 1000
    (lr_monitor,) = [c for c in callbacks if isinstance(c, LearningRateMonitor)]
    assert lr_monitor.logging_interval == "epoch"
    assert any(isinstance(c, ModelCheckpoint) and c.save_last for c in callbacks)
    model = cli.model
    assert isinstance(model, ImageClassifier) and type(model.net).__name__ == net
    *_, (_, head) = masked_modules(model.net)
    assert head.out_features == 1000
    optimizers = model.configure_optimizers()
    group = optimizers["optimizer"].param_groups[0]
    assert (group["lr"], group["momentum"], group["weight_decay"]) == (0.01, 0.9, 5.0e-4)
    scheduler = optimizers["lr_scheduler"]
    assert isinstance(scheduler, torch.optim.lr_scheduler.MultiStepLR)
    assert (dict(scheduler.milestones), scheduler.gamma) == ({30: 1, 60: 1}, 0.1)
    data = cli.datamodule
    assert (data.batch_size, data.num_workers) == (batch_size, 8)
    assert data.input_shape == (3, crop_size, crop_size)
