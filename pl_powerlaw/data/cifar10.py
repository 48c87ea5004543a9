"""CIFAR-10 from the official python batches, with Keras cifar10_cnn.py's batched augmentation.

Files, under ``<data_root>/cifar10/``: the folder ``cifar-10-batches-py/`` (``data_batch_1`` ..
``data_batch_5``, ``test_batch``, ``batches.meta``) or the official archive
``cifar-10-python.tar.gz`` (md5 ``c58f30108f718f92721af3b95e74349a``), which is verified and
extracted safely (see :func:`~pl_powerlaw.data.files.extract_tar_safely`); when both are
missing the archive is downloaded from https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz.

Each batch is a pickled dict with ``b"data"`` (uint8 array (N, 3072): 1024 red, then 1024 green,
then 1024 blue values of a 32x32 image in row-major order) and ``b"labels"`` (N ints in 0..9).
The pickles are read with an unpickler that only accepts plain containers and numpy arrays.

Split: the 50,000 training images in batch order; the last 5,000 validate, the first 45,000
train; ``test_batch`` tests.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from pl_powerlaw.data.augment import INTERPOLATIONS, augment_batch
from pl_powerlaw.data.base import InMemoryDataModule, check_int, derived_seed
from pl_powerlaw.data.download import DownloadError, download_file
from pl_powerlaw.data.files import CorruptFileError, extract_tar_safely, md5sum, resolve_data_root

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
ARCHIVE = "cifar-10-python.tar.gz"
BATCHES_DIR = "cifar-10-batches-py"
TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_BATCH = "test_batch"
CIFAR10_CLASSES = [
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
]  # fmt: skip
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that builds only plain containers, bytes/str/numbers and numpy arrays."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _unpickle(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            content = _RestrictedUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as error:
        raise CorruptFileError(f"{path}: not a CIFAR python batch ({error})") from error
    if not isinstance(content, dict):
        raise CorruptFileError(f"{path}: expected a pickled dict but got {type(content).__name__}")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in content.items()}


def read_cifar_batch(path: str | os.PathLike) -> tuple[Tensor, Tensor]:
    """Read one official CIFAR-10 python batch.

    Args:
        path: e.g. ``cifar-10-batches-py/data_batch_1``.

    Returns:
        ``(images, labels)``: uint8 (N, 3, 32, 32) and int64 (N,).

    Raises:
        CorruptFileError: not a batch, wrong array shape or dtype, or bad labels (names the file).

    Example:
        >>> images, labels = read_cifar_batch("data/cifar10/cifar-10-batches-py/test_batch")  # doctest: +SKIP
        >>> images.shape  # doctest: +SKIP
        torch.Size([10000, 3, 32, 32])
    """
    path = Path(path)
    content = _unpickle(path)
    data, labels = content.get("data"), content.get("labels")
    if (
        not isinstance(data, np.ndarray)
        or data.dtype != np.uint8
        or data.ndim != 2
        or data.shape[1] != 3072
    ):
        got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise CorruptFileError(f"{path}: expected b'data' uint8 of shape (N, 3072) but got {got}")
    try:
        labels = torch.as_tensor(np.asarray(labels, dtype=np.int64))
    except (TypeError, ValueError) as error:
        raise CorruptFileError(f"{path}: b'labels' is not a list of ints ({error})") from error
    if labels.shape != (data.shape[0],):
        raise CorruptFileError(
            f"{path}: {data.shape[0]} images but b'labels' has shape {tuple(labels.shape)}"
        )
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) > 9):
        raise CorruptFileError(f"{path}: labels outside 0..9")
    images = torch.from_numpy(np.ascontiguousarray(data).reshape(-1, 3, 32, 32).copy())
    return images, labels


def _batches_present(folder: Path) -> bool:
    return all((folder / name).is_file() for name in [*TRAIN_BATCHES, TEST_BATCH])


def ensure_cifar10(
    folder: str | os.PathLike,
    *,
    download: bool = True,
    urls: list[str] | None = None,
    md5: str = CIFAR10_MD5,
    check_md5: bool = True,
    progress: bool = True,
) -> Path:
    """Make sure ``<folder>/cifar-10-batches-py`` holds the batches: extract or download them.

    Args:
        folder: the ``cifar10`` folder of the data root.
        download: download the archive when neither batches nor archive are present.
        urls: archive URLs tried in order (default: the official one).
        md5: the archive's expected md5.
        check_md5: verify an archive already present before extracting it.
        progress: show the download progress bar.

    Returns:
        The batches folder.

    Raises:
        FileNotFoundError: nothing present and ``download`` is False.
        DownloadError: the download failed (the message says where the files must go).
        CorruptFileError: the archive has the wrong md5 or cannot be extracted safely.
    """
    folder = Path(folder).absolute()
    batches, archive = folder / BATCHES_DIR, folder / ARCHIVE
    if _batches_present(batches):
        return batches
    where = f"put {ARCHIVE} at {archive} or its {BATCHES_DIR}/ folder at {batches}"
    if not archive.is_file():
        if not download:
            raise FileNotFoundError(f"CIFAR-10 not found: {where} (or set download=True)")
        try:
            download_file(urls or [CIFAR10_URL], archive, md5, progress=progress)
        except DownloadError as error:
            raise DownloadError(
                f"CIFAR-10: could not download; {where}. Tried: {'; '.join(error.attempts)}",
                error.attempts,
            ) from None
    elif check_md5 and (digest := md5sum(archive)) != md5:
        raise CorruptFileError(
            f"{archive}: md5 {digest} differs from the official {md5}; delete it to download again"
        )
    extract_tar_safely(archive, folder, BATCHES_DIR)
    if not _batches_present(batches):
        raise CorruptFileError(f"{archive}: the archive lacks some of the batch files")
    return batches


class CIFAR10DataModule(InMemoryDataModule):
    """CIFAR-10: 45,000 train / 5,000 validation / 10,000 test, Keras-style augmentation.

    Batches are ``(x, y)`` with ``x`` float32 (B, 3, 32, 32) in [0, 1] (or standardised per
    channel with the training split's statistics when ``normalize``). Training batches are
    augmented after they reach their device (:meth:`on_after_batch_transfer`, training only)
    with :func:`~pl_powerlaw.data.augment.augment_batch`: shifts of up to 10% of height and
    width with edge replication (Keras's ``fill_mode="nearest"``) and left-right flips.

    Args:
        data_root: folder holding ``cifar10/``; default ``$PL_POWERLAW_DATA``, else ``./data``.
        batch_size: training batch size (32 as in Keras's example).
        eval_batch_size: validation/test batch size (default: ``batch_size``).
        num_workers: DataLoader workers (0: batches are formed by indexing in memory).
        augment: augment training batches.
        shift: largest shift as a fraction of the size.
        flip: random horizontal flips.
        interpolation: ``"nearest"`` (whole-pixel shifts, Keras 2.0/2.1, default) or
            ``"bilinear"`` (sub-pixel shifts, Keras >= 2.2); see :mod:`pl_powerlaw.data.augment`.
        normalize: standardise each channel with the training split's mean and std.
        val_size: the last ``val_size`` training images validate.
        num_train: expected number of images in the five training batches (None: any).
        num_test: expected number of images in ``test_batch`` (None: any).
        train_subset: use only the first N training images (after the split).
        val_subset: use only the first N validation images.
        test_subset: use only the first N test images.
        seed: seed of the shuffle and of the augmentation.
        download: download the archive when missing.
        urls: archive URLs tried in order (default: the official one).
        md5: the archive's expected md5.
        check_md5: verify an archive already present before extracting it.
        pin_memory: page-locked batches; None: when CUDA is available.
        progress: show the download progress bar.

    Example:
        >>> dm = CIFAR10DataModule(data_root="/data")  # doctest: +SKIP
        >>> dm.prepare_data(); dm.setup("fit")  # doctest: +SKIP
    """

    num_classes = 10
    input_shape = (3, 32, 32)

    def __init__(
        self,
        data_root: str | None = None,
        batch_size: int = 32,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        augment: bool = True,
        shift: float = 0.1,
        flip: bool = True,
        interpolation: str = "nearest",
        normalize: bool = False,
        val_size: int = 5_000,
        num_train: int | None = 50_000,
        num_test: int | None = 10_000,
        train_subset: int | None = None,
        val_subset: int | None = None,
        test_subset: int | None = None,
        seed: int = 0,
        download: bool = True,
        urls: list[str] | None = None,
        md5: str = CIFAR10_MD5,
        check_md5: bool = True,
        pin_memory: bool | None = None,
        progress: bool = True,
    ) -> None:
        super().__init__(
            val_size, normalize, batch_size, eval_batch_size, num_workers, pin_memory, seed,
            train_subset, val_subset, test_subset,
        )  # fmt: skip
        check_int("num_train", num_train, 2, optional=True)
        check_int("num_test", num_test, 1, optional=True)
        if not 0.0 <= shift < 1.0:
            raise ValueError(f"Expected `shift` in [0, 1) but got {shift}")
        if interpolation not in INTERPOLATIONS:
            raise ValueError(
                f"Expected `interpolation` in {INTERPOLATIONS} but got {interpolation!r}"
            )
        if num_train is not None and val_size >= num_train:
            raise ValueError(f"Expected `val_size` < `num_train` ({num_train}) but got {val_size}")
        if urls is not None and (isinstance(urls, str) or not urls):
            raise ValueError(f"Expected `urls` to be a non-empty list of URLs but got {urls!r}")
        self.data_root = resolve_data_root(data_root)
        self.folder = self.data_root / "cifar10"
        self.augment, self.shift, self.flip = augment, shift, flip
        self.interpolation = interpolation
        self.num_train, self.num_test = num_train, num_test
        self.download, self.urls, self.md5, self.check_md5 = download, urls, md5, check_md5
        self.progress = progress
        self.classes = list(CIFAR10_CLASSES)
        self.augment_generator = torch.Generator().manual_seed(derived_seed(seed, 1, 0))
        self._tensors: dict[str, Tensor] | None = None
        self._rank_seeded = False

    def _ensure(self) -> Path:
        return ensure_cifar10(
            self.folder, download=self.download, urls=self.urls, md5=self.md5,
            check_md5=self.check_md5, progress=self.progress,
        )  # fmt: skip

    def prepare_data(self) -> None:
        """Download and extract the archive when needed (once per node)."""
        self._ensure()

    def _read(self, batches: Path) -> dict[str, Tensor]:
        parts = [read_cifar_batch(batches / name) for name in TRAIN_BATCHES]
        tensors = {
            "train_images": torch.cat([images for images, _ in parts]),
            "train_labels": torch.cat([labels for _, labels in parts]),
        }
        tensors["test_images"], tensors["test_labels"] = read_cifar_batch(batches / TEST_BATCH)
        for split, expected in [("train", self.num_train), ("test", self.num_test)]:
            found = tensors[f"{split}_images"].shape[0]
            if expected is not None and found != expected:
                files = "data_batch_1..5" if split == "train" else TEST_BATCH
                raise CorruptFileError(
                    f"{batches}: expected {expected} {split} images in {files} but found {found} "
                    f"(set `num_{split}` for other sizes)"
                )
        meta = batches / "batches.meta"
        if meta.is_file():
            names = _unpickle(meta).get("label_names")
            if isinstance(names, list) and len(names) == 10:
                self.classes = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
        return tensors

    def setup(self, stage: str | None = None) -> None:
        """Read the batches (once) and build the three splits."""
        if self._tensors is None:
            self._tensors = self._read(self._ensure())
        if self.trainer is not None and not self._rank_seeded:
            # one augmentation stream per DDP rank, seeded once
            self.augment_generator.manual_seed(derived_seed(self.seed, 1, self.trainer.global_rank))
            self._rank_seeded = True
        self.build_splits(self._tensors)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Augment training batches on their device (Keras cifar10_cnn.py); others unchanged.

        A batch counts as a training batch when the trainer is training and the LightningModule
        is in train mode, so evaluation loops run by callbacks in the middle of ``fit`` (with the
        module in eval mode) may call this hook safely.
        """
        trainer = self.trainer
        if self.augment and trainer is not None and trainer.training:
            module = trainer.lightning_module
            if module is not None and module.training:
                x, y = batch
                x = augment_batch(
                    x, self.augment_generator, self.shift, self.flip, self.interpolation
                )
                return x, y
        return batch

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "augment_generator_state": self.augment_generator.get_state(),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        state = state_dict.get("augment_generator_state")
        if state is not None:
            self.augment_generator.set_state(state)
