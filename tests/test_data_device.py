"""In-memory splits live where the batches are used: on the trainer's GPU, with no workers.

The GPU itself is exercised by ``benchmarks/gpu_check.sh``; here the device choice and the move
are checked on the CPU (the ``meta`` device stands in for a GPU: it has shapes and no data).
"""

from __future__ import annotations

from types import SimpleNamespace

import torch
from data_helpers import make_fake_mnist

from pl_powerlaw.data import MNISTDataModule, PermutedMNISTDataModule
from pl_powerlaw.data.tensors import InMemoryImageDataset


def fake_trainer(device: str):
    return SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device(device)))


def module(root, cls=MNISTDataModule, **kwargs):
    return cls(
        data_root=str(root), check_md5=False, val_size=20, cache=False, batch_size=10, **kwargs
    )


def test_batches_are_gathered_on_the_trainers_gpu_only_without_workers(tmp_path):
    data = module(tmp_path)
    assert data.batch_device() == torch.device("cpu")  # no trainer
    data.trainer = fake_trainer("cuda:1")
    assert data.batch_device() == torch.device("cuda:1")
    data.trainer = fake_trainer("cpu")
    assert data.batch_device() == torch.device("cpu")
    workers = module(tmp_path, num_workers=2)
    workers.trainer = fake_trainer("cuda:0")
    assert workers.batch_device() == torch.device("cpu")  # workers gather on the host


def test_a_moved_dataset_gathers_on_its_device_and_is_not_copied_twice():
    images = torch.randint(0, 256, (6, 1, 4, 4), dtype=torch.uint8)
    dataset = InMemoryImageDataset(images, torch.arange(6), mean=0.5, std=0.25,
                                   pixel_permutation=torch.randperm(16))  # fmt: skip
    expected = dataset.__getitems__([4, 1])
    assert dataset.to_device("cpu") is dataset and dataset.images is images  # no copy
    dataset.to_device("meta")
    x, y = dataset.__getitems__([4, 1])
    assert x.device.type == y.device.type == "meta"
    assert x.shape == expected[0].shape and x.dtype == torch.float32 and y.shape == (2,)
    moved = dataset.images
    dataset.to_device("meta")
    assert dataset.images is moved


def test_cpu_trainer_loaders_keep_the_data_on_the_host(tmp_path):
    make_fake_mnist(tmp_path, n_train=60, n_test=20)
    data = module(tmp_path, cls=PermutedMNISTDataModule)
    data.trainer = fake_trainer("cpu")
    data.setup("fit")
    x, y = next(iter(data.train_dataloader()))
    assert x.device.type == "cpu" and x.shape == (10, 1, 28, 28)
    assert data.train_set.images.device.type == "cpu"
