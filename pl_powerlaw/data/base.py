"""What the in-memory data modules (MNIST, permuted MNIST, CIFAR-10) share.

:class:`InMemoryDataModule` checks the common options, holds the three splits as
:class:`~pl_powerlaw.data.tensors.InMemoryImageDataset` objects and serves them through
:func:`~pl_powerlaw.data.tensors.batch_loader`. Training batches are shuffled with one seeded
generator that lives as long as the data module, so re-created loaders continue the sequence
of epochs instead of repeating the first one; its state goes into checkpoints.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from lightning.pytorch import LightningDataModule
from torch import Tensor
from torch.utils.data import DataLoader

from pl_powerlaw.data.tensors import InMemoryImageDataset, batch_loader


def check_int(name: str, value: Any, minimum: int, optional: bool = False) -> None:
    """Raise ``ValueError`` unless ``value`` is an int >= ``minimum`` (or None when optional)."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        expected = f"an int >= {minimum}" + (" or None" if optional else "")
        raise ValueError(f"Expected `{name}` to be {expected} but got {value!r}")


def derived_seed(*entropy: int) -> int:
    """A 32-bit seed derived from several integers (independent streams per tuple)."""
    return int(np.random.SeedSequence([int(e) for e in entropy]).generate_state(1)[0])


def take_first(images: Tensor, labels: Tensor, n: int | None, name: str) -> tuple[Tensor, Tensor]:
    """The first ``n`` samples (views, no copy); an error when fewer are available."""
    if n is None:
        return images, labels
    if n > images.shape[0]:
        raise ValueError(f"Expected `{name}` <= {images.shape[0]} (the split's size) but got {n}")
    return images[:n], labels[:n]


def pixel_mean_std(images: Tensor, divisor: float = 255.0) -> tuple[Tensor, Tensor]:
    """Exact per-channel mean and (population) standard deviation of uint8 images / ``divisor``.

    Computed from the per-channel histogram of the 256 byte values, so no float copy of the
    images is made.

    Args:
        images: uint8 tensor (N, C, H, W).
        divisor: the pixel values are divided by it.

    Returns:
        ``(mean, std)``, float32 tensors of C values.

    Example:
        >>> pixel_mean_std(torch.tensor([0, 255], dtype=torch.uint8).reshape(2, 1, 1, 1))
        (tensor([0.5000]), tensor([0.5000]))
    """
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError(
            f"Expected uint8 `images` (N, C, H, W) but got {images.dtype} {tuple(images.shape)}"
        )
    values = torch.arange(256, dtype=torch.float64) / divisor
    means, stds = [], []
    for c in range(images.shape[1]):
        counts = torch.bincount(images[:, c].reshape(-1), minlength=256).double()
        total = counts.sum()
        mean = (counts * values).sum() / total
        var = (counts * (values - mean) ** 2).sum() / total
        means.append(mean)
        stds.append(var.sqrt())
    return torch.stack(means).float(), torch.stack(stds).float()


class InMemoryDataModule(LightningDataModule):
    """Base of the data modules whose splits are in-memory uint8 tensors.

    Subclasses load their tensors in ``setup`` and call :meth:`build_splits`, which fills
    ``self.train_set``, ``self.val_set`` and ``self.test_set``.

    On a GPU trainer with ``num_workers=0`` the splits are moved to the GPU once, when their first
    loader is made, and batches are gathered there: no per-batch host-to-device copy of images
    (MNIST's splits take 55 MB, CIFAR-10's 184 MB).

    Args:
        val_size: the last ``val_size`` training images validate.
        normalize: standardise each channel with the training split's mean and std.
        batch_size: training batch size.
        eval_batch_size: validation/test batch size (default: ``batch_size``).
        num_workers: DataLoader workers (0 is fastest for in-memory indexing).
        pin_memory: page-locked batches; None: when CUDA is available.
        seed: seed of the training shuffle.
        train_subset: use only the first N training samples (after the train/val split).
        val_subset: use only the first N validation samples.
        test_subset: use only the first N test samples.
    """

    def __init__(
        self,
        val_size: int,
        normalize: bool,
        batch_size: int,
        eval_batch_size: int | None,
        num_workers: int,
        pin_memory: bool | None,
        seed: int,
        train_subset: int | None,
        val_subset: int | None,
        test_subset: int | None,
    ) -> None:
        super().__init__()
        check_int("val_size", val_size, 1)
        check_int("batch_size", batch_size, 1)
        check_int("eval_batch_size", eval_batch_size, 1, optional=True)
        check_int("num_workers", num_workers, 0)
        check_int("seed", seed, 0)
        for name, value in [
            ("train_subset", train_subset),
            ("val_subset", val_subset),
            ("test_subset", test_subset),
        ]:
            check_int(name, value, 1, optional=True)
        self.val_size = val_size
        self.normalize = normalize
        self.mean: Tensor | None = None
        self.std: Tensor | None = None
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.pin_memory = torch.cuda.is_available() if pin_memory is None else bool(pin_memory)
        self.seed = seed
        self.train_subset = train_subset
        self.val_subset = val_subset
        self.test_subset = test_subset
        self.train_set: InMemoryImageDataset | None = None
        self.val_set: InMemoryImageDataset | None = None
        self.test_set: InMemoryImageDataset | None = None
        self.shuffle_generator = torch.Generator().manual_seed(derived_seed(seed, 0))

    def make_dataset(
        self, images: Tensor, labels: Tensor, pixel_permutation: Tensor | None = None
    ) -> InMemoryImageDataset:
        """A dataset over ``images`` with this module's scaling to [0, 1] and normalisation."""
        return InMemoryImageDataset(
            images, labels, mean=self.mean, std=self.std, pixel_permutation=pixel_permutation
        )

    def build_splits(self, tensors: dict[str, Tensor]) -> None:
        """Build the train, validation and test datasets from the decoded tensors.

        The first training images train, the last ``val_size`` validate; then the subsets are
        applied and, when ``normalize``, the training split's statistics are computed (once).

        Args:
            tensors: ``train_images``, ``train_labels``, ``test_images``, ``test_labels``
                (uint8 images (N, C, H, W), integer labels).
        """
        train_images, train_labels = tensors["train_images"], tensors["train_labels"]
        n_train = train_images.shape[0] - self.val_size
        if n_train < 1:
            raise ValueError(
                f"Expected `val_size` < {train_images.shape[0]} (the training images) but got "
                f"{self.val_size}"
            )
        if self.normalize and self.mean is None:
            self.mean, self.std = pixel_mean_std(train_images[:n_train])
        splits = {
            "train": (train_images[:n_train], train_labels[:n_train], self.train_subset),
            "val": (train_images[n_train:], train_labels[n_train:], self.val_subset),
            "test": (tensors["test_images"], tensors["test_labels"], self.test_subset),
        }
        for split, (images, labels, subset) in splits.items():
            images, labels = take_first(images, labels, subset, f"{split}_subset")
            setattr(self, f"{split}_set", self.make_dataset(images, labels))

    def batch_device(self) -> torch.device:
        """Where batches are gathered: the trainer's GPU when there are no workers, else the CPU."""
        trainer = self.trainer
        if trainer is None or self.num_workers > 0:
            return torch.device("cpu")
        device = trainer.strategy.root_device
        return device if device.type == "cuda" else torch.device("cpu")

    def _require(self, split: str) -> InMemoryImageDataset:
        dataset = getattr(self, f"{split}_set")
        if dataset is None:
            raise RuntimeError(f"{type(self).__name__}: call setup() before {split}_dataloader()")
        return dataset.to_device(self.batch_device())

    def make_loader(self, dataset: InMemoryImageDataset, train: bool) -> DataLoader:
        """A batch loader over ``dataset``: shuffled with ``batch_size`` when ``train``."""
        device = self.batch_device()
        dataset.to_device(device)
        return batch_loader(
            dataset,
            self.batch_size if train else self.eval_batch_size,
            shuffle=train,
            generator=self.shuffle_generator if train else None,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory and device.type == "cpu",  # GPU tensors are not pinned
        )

    def train_dataloader(self) -> DataLoader:
        return self.make_loader(self._require("train"), train=True)

    def val_dataloader(self) -> DataLoader:
        return self.make_loader(self._require("val"), train=False)

    def test_dataloader(self) -> DataLoader:
        return self.make_loader(self._require("test"), train=False)

    def state_dict(self) -> dict[str, Any]:
        """The shuffle generator's state (a uint8 tensor), so a resumed run continues the order."""
        return {"shuffle_generator_state": self.shuffle_generator.get_state()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = state_dict.get("shuffle_generator_state")
        if state is not None:
            self.shuffle_generator.set_state(state)
