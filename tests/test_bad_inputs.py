"""A catalogue of bad input: each is one line on stderr, exit code 2, no traceback, no file made.

Every case runs the real command line (``python -m pl_powerlaw ...``) in a fresh folder, as a user
would, on fake MNIST files (random pixels in the official IDX format) so no test downloads.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from conftest import CONFIGS, run_cli
from data_helpers import make_fake_mnist

QUICK = str(CONFIGS / "mlp_mnist_quick.yaml")


@pytest.fixture
def fake_data(tmp_path_factory) -> list[str]:
    """CLI options pointing the MNIST data module at fake files (no md5, small split, no cache)."""
    root = tmp_path_factory.mktemp("fake_data")
    make_fake_mnist(root, n_train=60, n_test=20)
    return [
        f"--data.init_args.data_root={root}",
        "--data.init_args.check_md5=false",
        "--data.init_args.val_size=20",
        "--data.init_args.cache=false",
        "--data.init_args.batch_size=20",
    ]


def files_in(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*")}


def assert_clean_failure(result, folder: Path, before: set[Path], *words: str) -> str:
    """Exit 2, no traceback, the last stderr line holds ``words``, nothing created in ``folder``."""
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    line = result.stderr.strip().splitlines()[-1]
    for word in words:
        assert word in line, (word, line)
    assert files_in(folder) == before, sorted(map(str, files_in(folder) - before))
    return line


def test_a_schedule_longer_than_max_epochs_is_refused(tmp_path, fake_data):
    before = files_in(tmp_path)
    result = run_cli("fit", "--config", QUICK, "--trainer.max_epochs=1", *fake_data, cwd=tmp_path)
    line = assert_clean_failure(result, tmp_path, before, "max_epochs", "> 3", "got 1")
    assert "MagnitudePruning" in line and "retrain1" in line


def test_a_continual_schedule_longer_than_max_epochs_is_refused_before_any_file(
    tmp_path, fake_data
):
    # TaskFreezing needs every task's epochs: its last phase starts at epoch 8 of 10, so 9 epochs
    # pass the generic "last phase starts" check but would cut task 1's retraining short
    config = str(CONFIGS / "continual_mnist_s8_quick.yaml")
    before = files_in(tmp_path)
    result = run_cli("fit", "--config", config, "--trainer.max_epochs=9", *fake_data, cwd=tmp_path)
    line = assert_clean_failure(result, tmp_path, before, "max_epochs", ">= 10", "got 9")
    assert "TaskFreezing" in line


def test_missing_data_names_the_data_root_options_and_creates_nothing(tmp_path):
    missing = tmp_path / "no" / "such" / "root"
    before = files_in(tmp_path)
    result = run_cli(
        "fit",
        "--config",
        QUICK,
        f"--data.init_args.data_root={missing}",
        "--data.init_args.mirrors=[file:///nonexistent/mirror/]",
        cwd=tmp_path,
    )
    assert_clean_failure(
        result, tmp_path, before, str(missing / "mnist"), "PL_POWERLAW_DATA", "data_root"
    )
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize(
    ("content", "words"),
    [
        pytest.param(None, ["not found", "missing.ckpt"], id="missing"),
        pytest.param(b"hello\n", ["Cannot read", "zip archive or a pickle"], id="text"),
        pytest.param(os.urandom(4096), ["Cannot read", "torch checkpoint"], id="random-bytes"),
    ],
)
def test_an_unusable_checkpoint_is_one_line(content, words, tmp_path, fake_data):
    path = tmp_path / "missing.ckpt"
    if content is not None:
        path.write_bytes(content)
    before = files_in(tmp_path)
    result = run_cli("test", "--config", QUICK, f"--ckpt_path={path}", *fake_data, cwd=tmp_path)
    line = assert_clean_failure(result, tmp_path, before, *words)
    assert "weights_only=False" not in result.stderr and "will likely succeed" not in line


def test_a_damaged_mask_is_refused_by_validate_and_analyze(tmp_path, fake_data):
    from pl_powerlaw.models import MLP, ImageClassifier

    model = ImageClassifier(MLP())
    model.net.fc1.weight_mask[3, 5] = -4.0  # what a flipped byte did to a real checkpoint
    path = tmp_path / "damaged.ckpt"
    torch.save(
        {
            "state_dict": model.state_dict(),
            "pytorch-lightning_version": "2.6.6",
            "epoch": 1,
            "global_step": 10,
            "hyper_parameters": {},
            "callbacks": {},
            "optimizer_states": [],
            "lr_schedulers": [],
            "loops": {},
        },
        path,
    )
    before = files_in(tmp_path)
    result = run_cli("validate", "--config", QUICK, f"--ckpt_path={path}", *fake_data, cwd=tmp_path)
    assert_clean_failure(result, tmp_path, before, "fc1.weight_mask", "-4.0", "damaged")
    result = run_cli("analyze", str(path), "--net", "mlp", "--out", "out", cwd=tmp_path)
    assert_clean_failure(result, tmp_path, before, "fc1.weight_mask", "-4.0")


def test_a_yaml_error_names_the_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("trainer:\n  max_epochs: [\n")
    before = files_in(tmp_path)
    result = run_cli("fit", "--config", str(bad), cwd=tmp_path)
    assert_clean_failure(result, tmp_path, before, "bad.yaml", "line 3")


def test_a_config_error_is_one_line_naming_the_program(tmp_path):
    before = files_in(tmp_path)
    result = run_cli("fit", "--config", QUICK, "--trainer.max_epochz=3", cwd=tmp_path)
    assert_clean_failure(
        result, tmp_path, before, "python -m pl_powerlaw fit: error:", "max_epochz"
    )
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr  # no usage dump first
    assert "__main__.py" not in result.stderr


@pytest.mark.parametrize(
    ("make", "words"),
    [
        pytest.param(lambda p: p.mkdir(), ["is a folder"], id="folder"),
        pytest.param(lambda p: p.write_text("hello\n"), ["zip archive or a pickle"], id="text"),
    ],
)
def test_analyze_says_what_a_file_is_not(make, words, tmp_path):
    target = tmp_path / "thing.ckpt"
    make(target)
    before = files_in(tmp_path)
    result = run_cli("analyze", str(target), "--net", "mlp", "--out", "out", cwd=tmp_path)
    assert_clean_failure(result, tmp_path, before, "analyze: error:", *words)


def test_check_masks_accepts_every_valid_owner_and_refuses_the_rest():
    from pl_powerlaw.checkpoints import CheckpointError, check_masks

    owners = torch.tensor([-1, 0, 1, 127], dtype=torch.int8)  # free and the first/last tasks
    check_masks({"net.fc1.weight_owner": owners, "net.fc1.weight_mask": torch.tensor([0.0, 1.0])})
    with pytest.raises(CheckpointError, match=r"`net.fc1.weight_owner` .* entry 1 is -2"):
        check_masks({"net.fc1.weight_owner": torch.tensor([0, -2], dtype=torch.int8)})
    with pytest.raises(CheckpointError, match=r"`fc.weight_mask` .* entry 0 is 0.5"):
        check_masks({"fc.weight_mask": torch.tensor([0.5, 1.0])})


def test_a_torchvision_config_without_the_extra_is_one_line_naming_the_install(tmp_path):
    try:
        import torchvision  # noqa: F401
    except Exception:  # the base install: the case under test
        pass
    else:
        pytest.skip("torchvision imports here")
    before = files_in(tmp_path)
    result = run_cli("fit", "--config", str(CONFIGS / "resnet18_cifar10.yaml"), cwd=tmp_path)
    line = assert_clean_failure(result, tmp_path, before, "torchvision", "constraints-vision.txt")
    assert "Union" not in line and "Namespace" not in line
