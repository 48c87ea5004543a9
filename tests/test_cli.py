"""The command line: clean errors (exit 2, no traceback), --print_config, and every config runs."""

from __future__ import annotations

import pytest
import torch
import yaml
from conftest import CONFIGS, real_data_root, run_cli


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(
            ["fit", "--config", "does/not/exist.yaml"], "does/not/exist.yaml", id="missing-config"
        ),
        pytest.param(
            ["fit", "--config", str(CONFIGS / "mlp_mnist.yaml"), "--trainer.max_epochz", "3"],
            "max_epochz",
            id="bad-key",
        ),
        pytest.param(
            ["fit", "--config", str(CONFIGS / "mlp_mnist.yaml"), "--trainer.max_epochs", "three"],
            "three",
            id="bad-value",
        ),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(args, expected, tmp_path):
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_callback_value_is_one_clear_line(tmp_path):
    result = run_cli(
        "fit",
        "--config",
        str(CONFIGS / "mlp_mnist_quick.yaml"),
        "--trainer.callbacks+=pl_powerlaw.callbacks.MagnitudePruning",
        "--trainer.callbacks.amount=1.5",
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "Expected `amount` in [0, 1) but got 1.5" in result.stderr
    assert "Traceback" not in result.stderr


def test_print_config_resolves_the_full_config(tmp_path):
    result = run_cli(
        "fit", "--config", str(CONFIGS / "mlp_mnist.yaml"), "--print_config", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    assert config["model"]["init_args"]["net"]["class_path"].endswith("MLP")
    assert config["trainer"]["logger"]["class_path"].endswith("TensorBoardLogger")


CONFIG_FILES = sorted(CONFIGS.glob("*.yaml"))
MNIST_CONFIGS = [c for c in CONFIG_FILES if "mnist" in c.name]


@pytest.mark.parametrize("config", MNIST_CONFIGS, ids=[c.stem for c in MNIST_CONFIGS])
def test_every_mnist_config_runs_fast_dev_run(config, tmp_path):
    if real_data_root() is None:
        pytest.skip("real MNIST not found (PL_POWERLAW_DATA)")
    result = run_cli(
        "fit",
        "--config",
        str(config),
        "--trainer.fast_dev_run=true",
        "--trainer.default_root_dir",
        str(tmp_path),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def built_cli(*args: str, tmp_path):
    """The CLI's trainer, model and data module for ``args``, built without running."""
    from pl_powerlaw.cli import lightning_main

    return lightning_main(list(args), run=False)


def test_default_root_dir_decides_where_the_logs_go(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", ["python -m pl_powerlaw"])
    root = tmp_path / "runs"
    config = str(CONFIGS / "mlp_mnist_quick.yaml")
    cli = built_cli("--config", config, "--trainer.default_root_dir", str(root), tmp_path=tmp_path)
    assert cli.trainer.logger.save_dir == str(root)
    assert cli.trainer.log_dir == str(root / "lightning_logs" / "version_0")
    explicit = tmp_path / "elsewhere"
    cli = built_cli(
        "--config",
        config,
        "--trainer.default_root_dir",
        str(root),
        "--trainer.logger.init_args.save_dir",
        str(explicit),
        tmp_path=tmp_path,
    )
    assert cli.trainer.logger.save_dir == str(explicit)  # set explicitly: kept
    cli = built_cli("--config", config, tmp_path=tmp_path)
    assert cli.trainer.logger.save_dir == "."


def test_callback_slots_build_the_configured_callbacks(tmp_path, monkeypatch):
    from lightning.pytorch.callbacks import ModelCheckpoint

    from pl_powerlaw.callbacks import DegreeDistributionMonitor, MagnitudePruning

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", ["python -m pl_powerlaw"])
    config = str(CONFIGS / "mlp_mnist_quick.yaml")
    cli = built_cli("--config", config, "--pruning.init_args.amount", "0.5", tmp_path=tmp_path)
    (pruning,) = [c for c in cli.trainer.callbacks if isinstance(c, MagnitudePruning)]
    assert pruning.amounts == [0.5] and pruning.prune_epochs == [3]
    assert sum(isinstance(c, DegreeDistributionMonitor) for c in cli.trainer.callbacks) == 1
    checkpoints = [c for c in cli.trainer.callbacks if isinstance(c, ModelCheckpoint)]
    assert len(checkpoints) == 1 and checkpoints[0].save_last is True


def test_the_console_shows_no_boilerplate(tmp_path):
    result = run_cli(
        "fit",
        "--config",
        str(CONFIGS / "mlp_mnist_quick.yaml"),
        "--trainer.fast_dev_run=true",
        "--data.init_args.data_root",
        str(tmp_path / "missing"),
        "--data.init_args.download=false",
        cwd=tmp_path,
    )
    for boilerplate in ("not recommended to provide both", "Tip:", "litlogger", "TPU available"):
        assert boilerplate not in result.stderr, boilerplate


def test_a_resumed_run_continues_in_its_own_folder(tmp_path):
    from data_helpers import make_fake_mnist

    root = tmp_path / "data"
    make_fake_mnist(root, n_train=60, n_test=20)
    fake = [
        f"--data.init_args.data_root={root}",
        "--data.init_args.check_md5=false",
        "--data.init_args.val_size=20",
        "--data.init_args.cache=false",
        "--data.init_args.batch_size=20",
        "--degrees.init_args.n_boot=0",
        "--trainer.enable_progress_bar=false",
        "--pruning.init_args.prune_epochs=[1]",
    ]
    config = str(CONFIGS / "mlp_mnist_quick.yaml")
    first = run_cli("fit", "--config", config, "--trainer.max_epochs=2", *fake, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    run = tmp_path / "lightning_logs" / "version_0"
    ckpt = run / "checkpoints" / "last.ckpt"
    second = run_cli(
        "fit",
        "--config",
        config,
        "--trainer.max_epochs=3",
        f"--ckpt_path={ckpt}",
        *fake,
        cwd=tmp_path,
    )
    assert second.returncode == 0, second.stderr[-3000:]
    assert [p.name for p in (tmp_path / "lightning_logs").iterdir()] == ["version_0"]
    assert len(list(run.glob("events.out.tfevents.*"))) == 2  # both parts of the run, one folder
    assert (run / "degrees" / "fit_end.json").exists()
    assert torch.load(ckpt, weights_only=True)["epoch"] == 2
