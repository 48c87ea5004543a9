"""Data readers and LightningDataModules: MNIST, Fashion-MNIST, permuted MNIST, CIFAR-10, ImageNet.

Every data set is read from its official distribution format under a data root (the option
``data_root``; default ``$PL_POWERLAW_DATA``, else ``./data``). Missing MNIST, Fashion-MNIST and
CIFAR-10 files are downloaded from the official mirrors, verified against their md5 and written
atomically. MNIST-like sets and CIFAR-10 live in memory as uint8 tensors and form each batch with
one indexing operation (:mod:`pl_powerlaw.data.tensors`).
"""

from pl_powerlaw.data.augment import augment_batch
from pl_powerlaw.data.cifar10 import CIFAR10DataModule
from pl_powerlaw.data.download import DownloadError
from pl_powerlaw.data.files import CorruptFileError
from pl_powerlaw.data.idx import read_idx
from pl_powerlaw.data.imagenet import ImageNetDataModule
from pl_powerlaw.data.mnist import MNISTDataModule
from pl_powerlaw.data.permuted import PermutedMNISTDataModule

__all__ = [
    "CIFAR10DataModule",
    "CorruptFileError",
    "DownloadError",
    "ImageNetDataModule",
    "MNISTDataModule",
    "PermutedMNISTDataModule",
    "augment_batch",
    "read_idx",
]
