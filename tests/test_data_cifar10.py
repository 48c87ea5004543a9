"""CIFAR-10 on generated official-format batches: loading, splits, archives, safety, download."""

from __future__ import annotations

import hashlib
import pickle
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from data_helpers import Response, local_http_server, make_fake_cifar10, tar_with_member
from lightning.pytorch import LightningModule, Trainer
from torch import nn

from pl_powerlaw.data import CIFAR10DataModule, CorruptFileError, DownloadError
from pl_powerlaw.data.augment import augment_batch
from pl_powerlaw.data.base import derived_seed
from pl_powerlaw.data.cifar10 import read_cifar_batch
from pl_powerlaw.data.files import extract_tar_safely

PER_BATCH, N_TEST = 20, 15  # 100 training images, 15 test images


def fake_module(root, **kwargs) -> CIFAR10DataModule:
    options = dict(data_root=str(root), num_train=5 * PER_BATCH, num_test=N_TEST, val_size=10,
                   batch_size=8, download=False, progress=False)  # fmt: skip
    return CIFAR10DataModule(**{**options, **kwargs})


def test_batches_load_in_order_with_channels_first(tmp_path):
    folder = make_fake_cifar10(tmp_path, PER_BATCH, N_TEST)
    with open(folder / "data_batch_2", "rb") as f:
        raw = pickle.load(f, encoding="bytes")
    images, labels = read_cifar_batch(folder / "data_batch_2")
    assert images.shape == (PER_BATCH, 3, 32, 32) and images.dtype == torch.uint8
    assert labels.tolist() == raw[b"labels"]
    # row i of b"data" is 1024 red, 1024 green, 1024 blue values, each 32x32 row-major
    data = raw[b"data"]
    assert np.array_equal(images[3, 1].numpy(), data[3, 1024:2048].reshape(32, 32))
    assert images[3, 2, 0, 5].item() == data[3, 2048 + 5]


def test_splits_are_first_training_images_then_last_for_validation(tmp_path):
    make_fake_cifar10(tmp_path, PER_BATCH, N_TEST)
    dm = fake_module(tmp_path)
    dm.setup("fit")
    assert (len(dm.train_set), len(dm.val_set), len(dm.test_set)) == (90, 10, N_TEST)
    # first pixel of training image k is k % 256 and its label k % 10 (data_helpers)
    assert dm.train_set.labels.tolist() == [k % 10 for k in range(90)]
    assert dm.val_set.images[:, 0, 0, 0].tolist() == list(range(90, 100))
    assert dm.test_set.images[:, 0, 0, 0].tolist() == list(range(N_TEST))
    x, y = next(iter(dm.val_dataloader()))
    assert x.dtype == torch.float32 and x.shape == (8, 3, 32, 32)
    assert torch.equal(x, dm.val_set.images[:8].float() / 255)
    assert dm.classes[0] == "airplane" and dm.classes[9] == "truck"


def test_normalize_per_channel_with_training_statistics(tmp_path):
    make_fake_cifar10(tmp_path, PER_BATCH, N_TEST)
    dm = fake_module(tmp_path, normalize=True)
    dm.setup("fit")
    train = dm.train_set.images.numpy().astype(np.float64) / 255
    assert np.allclose(dm.mean.numpy(), train.mean(axis=(0, 2, 3)), atol=1e-6)
    assert np.allclose(dm.std.numpy(), train.std(axis=(0, 2, 3)), atol=1e-6)
    x, _ = dm.train_set.__getitems__(list(range(90)))
    assert torch.allclose(x.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5)


def test_unexpected_counts_are_a_clear_error(tmp_path):
    make_fake_cifar10(tmp_path, PER_BATCH, N_TEST)
    with pytest.raises(CorruptFileError, match=r"expected 50000 train images .* found 100"):
        fake_module(tmp_path, num_train=50_000).setup("fit")
    dm = fake_module(tmp_path, num_train=None, num_test=None)  # any size accepted
    dm.setup("fit")
    assert len(dm.test_set) == N_TEST


def test_official_sizes_are_the_defaults():
    dm = CIFAR10DataModule(download=False)
    assert (dm.num_train, dm.num_test, dm.val_size, dm.batch_size) == (50_000, 10_000, 5_000, 32)


def test_a_batch_with_the_wrong_content_names_the_file(tmp_path):
    folder = make_fake_cifar10(tmp_path, PER_BATCH, N_TEST)
    (folder / "data_batch_3").write_bytes(pickle.dumps({b"data": np.zeros((2, 100), np.uint8)}))
    with pytest.raises(CorruptFileError, match=r"data_batch_3: expected b'data' uint8"):
        fake_module(tmp_path).setup("fit")


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    folder = make_fake_cifar10(tmp_path, PER_BATCH, N_TEST)
    (folder / "test_batch").write_bytes(pickle.dumps(print))  # a global outside the allow-list
    with pytest.raises(CorruptFileError, match="refusing to load builtins.print"):
        read_cifar_batch(folder / "test_batch")


def test_the_archive_is_verified_and_extracted(tmp_path):
    archive = make_fake_cifar10(tmp_path, PER_BATCH, N_TEST, archive=True)
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    dm = fake_module(tmp_path, md5=md5)
    dm.prepare_data()
    dm.setup("fit")
    assert len(dm.train_set) == 90
    assert sorted(p.name for p in archive.parent.iterdir()) == sorted(
        [archive.name, "cifar-10-batches-py"]
    )


def test_an_archive_with_a_bad_md5_is_refused_and_nothing_is_extracted(tmp_path):
    archive = make_fake_cifar10(tmp_path, PER_BATCH, N_TEST, archive=True)
    with pytest.raises(CorruptFileError) as info:
        fake_module(tmp_path).prepare_data()  # official md5
    assert str(archive) in str(info.value) and "c58f30108f718f92721af3b95e74349a" in str(info.value)
    assert [p.name for p in archive.parent.iterdir()] == [archive.name]


def test_a_truncated_archive_errors_and_leaves_nothing_behind(tmp_path):
    archive = make_fake_cifar10(tmp_path, PER_BATCH, N_TEST, archive=True)
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(CorruptFileError) as info:
        fake_module(tmp_path, check_md5=False).prepare_data()
    assert str(archive) in str(info.value) and "cannot extract" in str(info.value)
    assert [p.name for p in archive.parent.iterdir()] == [archive.name]


@pytest.mark.parametrize(
    ("name", "kind", "target", "message"),
    [
        pytest.param("../evil", "file", "", "leaves the folder", id="dotdot"),
        pytest.param(
            "cifar-10-batches-py/../../evil", "file", "", "leaves the folder", id="nested-dotdot"
        ),
        pytest.param("/tmp/evil", "file", "", "leaves the folder", id="absolute"),
        pytest.param(
            "cifar-10-batches-py/link", "symlink", "/etc/passwd", "refusing link", id="symlink"
        ),
        pytest.param(
            "cifar-10-batches-py/hard", "hardlink", "/etc/passwd", "refusing link", id="hardlink"
        ),
        pytest.param("cifar-10-batches-py/dev", "device", "", "refusing special file", id="device"),
        pytest.param("cifar-10-batches-py/fifo", "fifo", "", "refusing special file", id="fifo"),
    ],
)
def test_unsafe_tar_members_are_refused(tmp_path, name, kind, target, message):
    archive = tar_with_member(tmp_path / "a.tar.gz", name, kind, target)
    out = tmp_path / "out"
    with pytest.raises(CorruptFileError, match=message):
        extract_tar_safely(archive, out, "cifar-10-batches-py")
    assert list(out.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tar.gz", "out"]


def test_downloads_the_archive_from_a_local_mirror(tmp_path):
    source = make_fake_cifar10(tmp_path / "src", PER_BATCH, N_TEST, archive=True)
    payload = source.read_bytes()
    routes = {
        "/good.tar.gz": Response(payload),
        "/drop.tar.gz": Response(payload[:500], len(payload)),
    }
    md5 = hashlib.md5(payload).hexdigest()
    with local_http_server(routes) as (url, requests):
        dm = fake_module(tmp_path, download=True, md5=md5,
                         urls=[f"{url}/drop.tar.gz", f"{url}/good.tar.gz"])  # fmt: skip
        dm.prepare_data()
    assert requests == ["/drop.tar.gz", "/good.tar.gz"]
    assert sorted(p.name for p in (tmp_path / "cifar10").iterdir()) == [
        "cifar-10-batches-py",
        "cifar-10-python.tar.gz",
    ]


def test_offline_error_says_where_the_files_go(tmp_path):
    with local_http_server({}) as (url, _):
        with pytest.raises(DownloadError) as info:
            fake_module(tmp_path, download=True, urls=[f"{url}/x.tar.gz"]).prepare_data()
    message = str(info.value)
    assert str(tmp_path / "cifar10" / "cifar-10-python.tar.gz") in message
    assert f"{url}/x.tar.gz (HTTP 404" in message
    assert not (tmp_path / "cifar10").exists()  # a failed download creates no (empty) folder
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py"):
        fake_module(tmp_path, download=False).prepare_data()


class RecordingModel(LightningModule):
    def __init__(self):
        super().__init__()
        self.net = nn.Linear(3 * 32 * 32, 10)
        self.batches: dict[str, list[torch.Tensor]] = {"train": [], "val": []}

    def training_step(self, batch, batch_idx):
        self.batches["train"].append(batch[0])
        return nn.functional.cross_entropy(self.net(batch[0].flatten(1)), batch[1])

    def validation_step(self, batch, batch_idx):
        self.batches["val"].append(batch[0])

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0)


class RecordingCIFAR10(CIFAR10DataModule):
    """Also records the batches as they leave the loader (before augmentation)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.raw: list[torch.Tensor] = []

    def on_before_batch_transfer(self, batch, dataloader_idx):
        if self.trainer.training:
            self.raw.append(batch[0].clone())
        return batch


def test_trainer_augments_training_batches_only_with_the_seeded_stream(tmp_path):
    make_fake_cifar10(tmp_path, PER_BATCH, N_TEST)
    options = dict(data_root=str(tmp_path), num_train=5 * PER_BATCH, num_test=N_TEST,
                   val_size=8, batch_size=8, download=False, seed=4)  # fmt: skip
    dm = RecordingCIFAR10(**options)
    model = RecordingModel()
    trainer = Trainer(
        max_epochs=1, limit_train_batches=3, limit_val_batches=1, num_sanity_val_steps=0,
        accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, default_root_dir=tmp_path,
    )  # fmt: skip
    trainer.fit(model, datamodule=dm)
    assert torch.equal(model.batches["val"][0], dm.val_set.images.float() / 255)
    assert len(model.batches["train"]) == len(dm.raw) == 3
    generator = torch.Generator().manual_seed(derived_seed(4, 1, 0))  # rank 0's stream
    for raw, seen in zip(dm.raw, model.batches["train"], strict=True):
        assert torch.equal(seen, augment_batch(raw, generator, 0.1, True))
    assert not torch.equal(torch.cat(dm.raw), torch.cat(model.batches["train"]))


def test_hook_does_not_augment_when_the_module_is_in_eval_mode(tmp_path):
    # a callback's evaluation loop inside fit: trainer.training is True, the module is in eval
    make_fake_cifar10(tmp_path, PER_BATCH, N_TEST)
    dm = fake_module(tmp_path)
    dm.setup("fit")
    module = nn.Linear(1, 1)
    dm.trainer = SimpleNamespace(training=True, lightning_module=module)
    x = dm.val_set.__getitems__(list(range(8)))[0]
    module.eval()
    assert torch.equal(dm.on_after_batch_transfer((x, None), 0)[0], x)
    module.train()
    assert not torch.equal(dm.on_after_batch_transfer((x, None), 0)[0], x)
