"""MNIST and Fashion-MNIST from the official IDX files, split as in Lasagne's mnist.py example.

Files: ``<data_root>/mnist/`` (or ``<data_root>/fashion-mnist/``) holds the four official
gzip files ``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``. Missing files are downloaded from
the mirrors, verified against the official md5 and written atomically.

Split (Lasagne's ``examples/mnist.py``): the first 50,000 training images train, the last 10,000
validate, and the 10,000 test images test. Pixels are scaled to [0, 1] (float32).

The decoded uint8 tensors are cached in one ``decoded-<key>.pt`` file whose key is derived from
the md5 of the four files, in a cache folder, never next to the user's data: ``cache_dir`` if
given, else ``$PL_POWERLAW_CACHE``, else ``$XDG_CACHE_HOME/pl_powerlaw`` (``~/.cache/pl_powerlaw``);
a second load memory-maps it.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import torch
from torch import Tensor

from pl_powerlaw.atomic import atomic_file
from pl_powerlaw.data.base import InMemoryDataModule
from pl_powerlaw.data.download import ensure_files
from pl_powerlaw.data.files import CorruptFileError, md5sum, resolve_data_root
from pl_powerlaw.data.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx
from pl_powerlaw.data.tensors import InMemoryImageDataset

#: split name -> (images file, labels file)
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
#: official md5 of each gzip file (see the data README)
MNIST_MD5 = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}
MNIST_MIRRORS = {
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ],
    "fashion-mnist": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
}
MNIST_CLASSES = {
    "mnist": [str(digit) for digit in range(10)],
    "fashion-mnist": [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ],
}  # fmt: skip
OFFICIAL_SIZES = {"train": 60_000, "test": 10_000}
CACHE_VERSION = 1


CACHE_ENV = "PL_POWERLAW_CACHE"


def default_cache_dir(folder: Path) -> Path:
    """The cache folder of a data folder: ``$PL_POWERLAW_CACHE/<folder name>``, else
    ``$XDG_CACHE_HOME/pl_powerlaw/<folder name>`` (``~/.cache/...``); never the data folder itself.

    The cache file's name holds the md5 of the data files, so two data sets with the same folder
    name never share a cache file.
    """
    base = os.environ.get(CACHE_ENV)
    if base:
        return Path(base) / folder.name
    xdg = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return xdg / "pl_powerlaw" / folder.name


def _decode(folder: Path, check_counts: bool) -> dict[str, Tensor]:
    tensors = {}
    for split, (images_name, labels_name) in MNIST_FILES.items():
        images = read_idx(folder / images_name, IMAGES_MAGIC, (None, 28, 28))
        labels = read_idx(folder / labels_name, LABELS_MAGIC, (None,))
        if images.shape[0] != labels.shape[0]:
            raise CorruptFileError(
                f"{folder / images_name}: {images.shape[0]} images but {labels.shape[0]} labels "
                f"in {labels_name}"
            )
        if check_counts and images.shape[0] != OFFICIAL_SIZES[split]:
            raise CorruptFileError(
                f"{folder / images_name}: expected {OFFICIAL_SIZES[split]} images but got "
                f"{images.shape[0]}"
            )
        if labels.numel() and int(labels.max()) > 9:
            raise CorruptFileError(f"{folder / labels_name}: labels outside 0..9")
        tensors[f"{split}_images"] = images.unsqueeze(1)  # (N, 1, 28, 28)
        tensors[f"{split}_labels"] = labels.long()
    return tensors


def _load_cache(path: Path) -> dict[str, Tensor] | None:
    try:
        tensors = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as error:  # a damaged cache is rebuilt, never trusted
        warnings.warn(f"ignoring unreadable cache {path} ({error})", stacklevel=3)
        return None
    keys = {f"{split}_{kind}" for split in MNIST_FILES for kind in ("images", "labels")}
    if not isinstance(tensors, dict) or set(tensors) != keys:
        warnings.warn(f"ignoring cache {path} with unexpected content", stacklevel=3)
        return None
    return tensors


def load_mnist(
    folder: str | os.PathLike,
    dataset: str = "mnist",
    *,
    check_md5: bool = True,
    cache: bool = True,
    cache_dir: str | os.PathLike | None = None,
) -> dict[str, Tensor]:
    """Decode the four IDX files of a folder (or read them from the cache).

    Args:
        folder: the folder with the four official ``.gz`` files.
        dataset: ``"mnist"`` or ``"fashion-mnist"`` (selects the official md5 table).
        check_md5: compare each file with its official md5 (and the counts with 60,000/10,000);
            turn off only for hand-made files.
        cache: read/write the decoded tensors from/to a cache file.
        cache_dir: folder of the cache file (default: :func:`default_cache_dir`).

    Returns:
        ``{"train_images": uint8 (60000, 1, 28, 28), "train_labels": int64 (60000,),
        "test_images": ..., "test_labels": ...}``.

    Raises:
        CorruptFileError: wrong md5, bad header, truncated file or inconsistent counts; the
            message names the file.

    Example:
        >>> tensors = load_mnist("data/mnist")  # doctest: +SKIP
        >>> tensors["train_images"].shape  # doctest: +SKIP
        torch.Size([60000, 1, 28, 28])
    """
    folder = Path(folder).absolute()
    if dataset not in MNIST_MD5:
        raise ValueError(f"Expected `dataset` in {sorted(MNIST_MD5)} but got {dataset!r}")
    digests = {}
    for name, official in MNIST_MD5[dataset].items():
        digests[name] = md5sum(folder / name)
        if check_md5 and digests[name] != official:
            raise CorruptFileError(
                f"{folder / name}: md5 {digests[name]} differs from the official {official}; "
                "delete the file to download it again"
            )
    key = hashlib.md5(f"v{CACHE_VERSION}:{sorted(digests.items())}".encode()).hexdigest()[:16]
    cache_file = Path(cache_dir or default_cache_dir(folder)) / f"decoded-{key}.pt"
    if cache and cache_file.is_file():
        tensors = _load_cache(cache_file)
        if tensors is not None:
            return tensors
    tensors = _decode(folder, check_counts=check_md5)
    if cache:
        try:
            with atomic_file(cache_file) as tmp:
                torch.save(tensors, tmp)
        except OSError as error:
            warnings.warn(f"could not write the cache {cache_file} ({error})", stacklevel=2)
    return tensors


LAYOUTS = ("image", "rows")


class RowSequenceDataset(InMemoryImageDataset):
    """MNIST read one row per time step: ``x`` is (B, 28, 28), step ``t`` holds row ``t``'s 28
    pixels (scaled, normalised and permuted as by :class:`InMemoryImageDataset`).

    Example:
        >>> ds = RowSequenceDataset(torch.zeros(4, 1, 28, 28, dtype=torch.uint8), torch.arange(4))
        >>> ds.__getitems__([0, 2])[0].shape
        torch.Size([2, 28, 28])
    """

    def __init__(self, images: Tensor, labels: Tensor, **kwargs) -> None:
        if images.ndim == 4 and images.shape[1] != 1:
            raise ValueError(
                f"Expected one channel for a row sequence but got {images.shape[1]} channels"
            )
        super().__init__(images, labels, **kwargs)

    def __getitems__(self, indices) -> tuple[Tensor, Tensor]:  # noqa: ANN001
        x, y = super().__getitems__(indices)
        return x.squeeze(1), y  # (B, H, W): H steps of W pixels


class MNISTDataModule(InMemoryDataModule):
    """MNIST or Fashion-MNIST, split 50,000 / 10,000 / 10,000 as in Lasagne's mnist.py.

    Batches are ``(x, y)`` with ``x`` float32 (B, 1, 28, 28) in [0, 1] (or standardised with
    the training split's mean and std when ``normalize``) and ``y`` int64 class indices.

    Args:
        data_root: folder holding ``mnist/`` and ``fashion-mnist/``; default
            ``$PL_POWERLAW_DATA``, else ``./data``.
        dataset: ``"mnist"`` or ``"fashion-mnist"``.
        batch_size: training batch size (500 as in Lasagne's example).
        eval_batch_size: validation/test batch size (default: ``batch_size``).
        num_workers: DataLoader workers (0: batches are formed by indexing in memory).
        normalize: subtract the mean and divide by the std of the 50,000 training images
            (one scalar each, computed exactly, independent of ``train_subset``).
        val_size: the last ``val_size`` training images validate (10,000 in Lasagne).
        train_subset: use only the first N training images (after the split).
        val_subset: use only the first N validation images.
        test_subset: use only the first N test images.
        seed: seed of the training shuffle.
        download: download missing files (else a missing file is an error).
        mirrors: base URLs tried in order (default: the official mirrors of ``dataset``).
        check_md5: verify the files against the official md5 (off only for hand-made files).
        cache: cache the decoded tensors (see :func:`load_mnist`).
        cache_dir: folder of the cache file (default: next to the data if writable).
        pin_memory: page-locked batches; None: when CUDA is available.
        progress: show download progress bars.
        layout: ``"image"`` (x is (B, 1, 28, 28)) or ``"rows"`` (sequential MNIST by rows: x is
            (B, 28, 28), 28 time steps of 28 pixels, for recurrent nets).

    Raises:
        ValueError: an option is out of range (checked at construction).

    Example:
        >>> dm = MNISTDataModule(data_root="/data", train_subset=1000)  # doctest: +SKIP
        >>> dm.prepare_data(); dm.setup("fit")  # doctest: +SKIP
        >>> x, y = next(iter(dm.train_dataloader()))  # doctest: +SKIP
        >>> x.shape  # doctest: +SKIP
        torch.Size([500, 1, 28, 28])
    """

    num_classes = 10
    input_shape = (1, 28, 28)

    def __init__(
        self,
        data_root: str | None = None,
        dataset: str = "mnist",
        batch_size: int = 500,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        normalize: bool = False,
        val_size: int = 10_000,
        train_subset: int | None = None,
        val_subset: int | None = None,
        test_subset: int | None = None,
        seed: int = 0,
        download: bool = True,
        mirrors: list[str] | None = None,
        check_md5: bool = True,
        cache: bool = True,
        cache_dir: str | None = None,
        pin_memory: bool | None = None,
        progress: bool = True,
        layout: str = "image",
    ) -> None:
        super().__init__(
            val_size, normalize, batch_size, eval_batch_size, num_workers, pin_memory, seed,
            train_subset, val_subset, test_subset,
        )  # fmt: skip
        if dataset not in MNIST_MD5:
            raise ValueError(f"Expected `dataset` in {sorted(MNIST_MD5)} but got {dataset!r}")
        if layout not in LAYOUTS:
            raise ValueError(f"Expected `layout` in {LAYOUTS} but got {layout!r}")
        self.layout = layout
        if layout == "rows":
            self.input_shape = (28, 28)
        if mirrors is not None and (isinstance(mirrors, str) or not mirrors):
            raise ValueError(
                f"Expected `mirrors` to be a non-empty list of URLs but got {mirrors!r}"
            )
        self.data_root = resolve_data_root(data_root)
        self.dataset = dataset
        self.folder = self.data_root / dataset
        self.download = download
        self.mirrors = list(mirrors) if mirrors is not None else MNIST_MIRRORS[dataset]
        self.check_md5 = check_md5
        self.cache = cache
        self.cache_dir = cache_dir
        self.progress = progress
        self.classes = MNIST_CLASSES[dataset]
        self._tensors: dict[str, Tensor] | None = None

    def make_dataset(
        self, images: Tensor, labels: Tensor, pixel_permutation: Tensor | None = None
    ) -> InMemoryImageDataset:
        """A dataset over ``images``; with ``layout="rows"`` its samples are row sequences."""
        if self.layout != "rows":
            return super().make_dataset(images, labels, pixel_permutation)
        return RowSequenceDataset(
            images, labels, mean=self.mean, std=self.std, pixel_permutation=pixel_permutation
        )

    def _ensure_files(self) -> None:
        ensure_files(
            self.folder,
            MNIST_MD5[self.dataset],
            self.mirrors,
            download=self.download,
            progress=self.progress,
            what=self.dataset,
        )

    def _load(self) -> dict[str, Tensor]:
        return load_mnist(
            self.folder,
            self.dataset,
            check_md5=self.check_md5,
            cache=self.cache,
            cache_dir=self.cache_dir,
        )

    def prepare_data(self) -> None:
        """Download missing files and build the cache (once per node, before ``setup``)."""
        self._ensure_files()
        if self.cache:
            self._load()

    def setup(self, stage: str | None = None) -> None:
        """Load (or reuse) the tensors and build the three splits; cheap when called again."""
        if self._tensors is None:
            self._ensure_files()
            self._tensors = self._load()
        self.build_splits(self._tensors)
