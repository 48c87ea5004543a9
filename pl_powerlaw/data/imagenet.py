"""ImageNet (ILSVRC 2012) from the standard folder layout, decoded with PIL in worker processes.

Layout (``root`` defaults to ``<data_root>/imagenet``)::

    <root>/train/<wnid>/*.JPEG      e.g. train/n01440764/n01440764_10026.JPEG
    <root>/val/<wnid>/*.JPEG        the 50,000 validation images, one folder per class

The class index of a wnid is its position in the sorted list of training folders.

Laying out the official validation set: ``ILSVRC2012_img_val.tar`` unpacks into 50,000 files
``ILSVRC2012_val_00000001.JPEG`` ... in one folder. The devkit (``ILSVRC2012_devkit_t12``)
gives their classes: line i of ``data/ILSVRC2012_validation_ground_truth.txt`` is the
ILSVRC2012_ID (1..1000) of image i, and ``data/meta.mat`` maps each ILSVRC2012_ID to its wnid.
Move every image into ``val/<wnid>/``, e.g.::

    import shutil, scipy.io
    from pathlib import Path
    synsets = scipy.io.loadmat("ILSVRC2012_devkit_t12/data/meta.mat", squeeze_me=True)["synsets"]
    wnid = {int(s["ILSVRC2012_ID"]): str(s["WNID"]) for s in synsets}
    ids = Path("ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt").read_text().split()
    val = Path("imagenet/val")
    for i, ilsvrc_id in enumerate(ids, start=1):
        (val / wnid[int(ilsvrc_id)]).mkdir(exist_ok=True)
        name = f"ILSVRC2012_val_{i:08d}.JPEG"
        shutil.move(val / name, val / wnid[int(ilsvrc_id)] / name)

The validation folder serves both ``val_dataloader`` and ``test_dataloader`` (the test labels of
ILSVRC 2012 are not public). Batches leave the loader as uint8 (B, 3, S, S) and are normalised
with the ImageNet mean and std on their device (:meth:`ImageNetDataModule.on_after_batch_transfer`).

``backend="torchvision"`` (the ``vision`` extra) reads the folders with
``torchvision.datasets.ImageFolder`` and transforms with ``torchvision.transforms.v2``
(``RandomResizedCrop``, ``RandomHorizontalFlip``; ``Resize`` + ``CenterCrop``), for runs that
must match torchvision's reference pipeline. Its evaluation batches are bit-identical to ours
(tests/test_vision_imagenet.py); its training crops draw other random numbers, and ImageFolder also
lists ``.bmp``, ``.ppm``, ``.tif`` and ``.webp`` files. The default ``"pil"`` needs no torchvision.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import LightningDataModule
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from pl_powerlaw.data.base import check_int, derived_seed
from pl_powerlaw.data.files import resolve_data_root
from pl_powerlaw.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    EvalTransform,
    TrainTransform,
    normalize_batch,
)
from pl_powerlaw.errors import InputError

IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png")
BACKENDS = ("pil", "torchvision")


def scan_image_folder(
    folder: str | os.PathLike, classes: Sequence[str] | None = None
) -> tuple[list[str], list[tuple[str, int]]]:
    """List ``<folder>/<class>/<image>`` files with their class indices.

    Args:
        folder: a split folder (``train`` or ``val``).
        classes: the class names in index order; None: the sorted subfolder names of ``folder``.

    Returns:
        ``(classes, samples)`` with samples ``(path, class_index)`` sorted by class, then name.

    Raises:
        FileNotFoundError: the folder is missing, has no class folders, or holds no images.
        ValueError: a class folder is not among ``classes``.

    Example:
        >>> classes, samples = scan_image_folder("data/imagenet/train")  # doctest: +SKIP
    """
    folder = Path(folder)
    layout = "<root>/{train,val}/<wnid>/*.JPEG"
    if not folder.is_dir():
        raise FileNotFoundError(f"ImageNet: folder {folder} not found (expected {layout})")
    found = sorted(entry.name for entry in os.scandir(folder) if entry.is_dir())
    if not found:
        raise FileNotFoundError(f"ImageNet: no class folders in {folder} (expected {layout})")
    if classes is None:
        classes = found
    index = {name: i for i, name in enumerate(classes)}
    unknown = [name for name in found if name not in index]
    if unknown:
        raise ValueError(
            f"ImageNet: class folders {unknown[:5]} of {folder} are not training classes"
        )
    samples = []
    for name in found:
        files = sorted(
            entry.name
            for entry in os.scandir(folder / name)
            if entry.is_file() and entry.name.lower().endswith(IMAGE_EXTENSIONS)
        )
        samples.extend((str(folder / name / file), index[name]) for file in files)
    if not samples:
        raise FileNotFoundError(f"ImageNet: no images in the class folders of {folder}")
    return list(classes), samples


class ImageFileDataset(Dataset):
    """Images decoded from files with PIL, then transformed (to a uint8 tensor).

    Args:
        samples: ``(path, class_index)`` pairs.
        transform: PIL image -> tensor.
    """

    def __init__(
        self, samples: Sequence[tuple[str, int]], transform: Callable[[Image.Image], Tensor]
    ) -> None:
        self.samples = list(samples)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        path, label = self.samples[index]
        with Image.open(path) as image:
            return self.transform(image), label


def torchvision_transforms(
    crop_size: int,
    resize_size: int,
    scale: Sequence[float],
    ratio: Sequence[float],
    flip: bool,
) -> tuple[Callable[[Image.Image], Tensor], Callable[[Image.Image], Tensor]]:
    """``(train, eval)`` transforms of ``torchvision.transforms.v2``, PIL image -> uint8 (3, S, S).

    The same recipe as :class:`~pl_powerlaw.data.transforms.TrainTransform` and
    :class:`~pl_powerlaw.data.transforms.EvalTransform` (bilinear resizes on the PIL image).
    """
    from torchvision.transforms import v2

    train = [v2.RandomResizedCrop(crop_size, scale=tuple(scale), ratio=tuple(ratio))]
    if flip:
        train.append(v2.RandomHorizontalFlip())
    evaluate = [v2.Resize(resize_size), v2.CenterCrop(crop_size)]
    return v2.Compose([*train, v2.PILToTensor()]), v2.Compose([*evaluate, v2.PILToTensor()])


def torchvision_image_folder(
    folder: Path, transform: Callable[[Image.Image], Tensor], classes: Sequence[str] | None = None
) -> Dataset:
    """``torchvision.datasets.ImageFolder`` of ``folder`` with the class indices of ``classes``
    (the training classes; a validation folder may lack some of them).

    Raises:
        FileNotFoundError: the folder is missing (the same message as :func:`scan_image_folder`).
        ValueError: a class folder is not among ``classes``.
    """
    from torchvision.datasets import ImageFolder

    if not folder.is_dir():
        raise FileNotFoundError(
            f"ImageNet: folder {folder} not found (expected <root>/{{train,val}}/<wnid>/*.JPEG)"
        )

    class TrainClasses(ImageFolder):
        def find_classes(self, directory: str) -> tuple[list[str], dict[str, int]]:
            found, index = super().find_classes(directory)
            if classes is None:
                return found, index
            unknown = [name for name in found if name not in classes]
            if unknown:
                raise ValueError(
                    f"ImageNet: class folders {unknown[:5]} of {folder} are not training classes"
                )
            return list(classes), {name: i for i, name in enumerate(classes)}

    return TrainClasses(str(folder), transform=transform, allow_empty=classes is not None)


class ImageNetDataModule(LightningDataModule):
    """ImageNet with the usual augmentation, PIL decoding in workers and on-device normalisation.

    Args:
        root: the folder with ``train/`` and ``val/``; default ``<data_root>/imagenet``.
        data_root: default ``$PL_POWERLAW_DATA``, else ``./data`` (used when ``root`` is None).
        batch_size: training batch size (per device).
        eval_batch_size: validation/test batch size (default: ``batch_size``).
        num_workers: DataLoader worker processes decoding the JPEGs.
        crop_size: side of the network input (224; 227 for the Caffe AlexNet).
        resize_size: shorter side before the evaluation centre crop (256).
        scale: area fraction range of the training crop.
        ratio: aspect ratio range of the training crop.
        flip: random left-right flips in training.
        mean: per-channel mean (of images in [0, 1]).
        std: per-channel standard deviation.
        seed: seed of the training shuffle.
        pin_memory: page-locked batches; None: when CUDA is available.
        persistent_workers: keep the workers alive between epochs.
        backend: ``"pil"`` (our reader and transforms) or ``"torchvision"`` (``ImageFolder`` and
            ``transforms.v2``; needs the ``vision`` extra).

    Example:
        >>> dm = ImageNetDataModule(root="/data/imagenet", crop_size=227)  # doctest: +SKIP
        >>> dm.setup("fit")  # doctest: +SKIP
    """

    input_shape = (3, 224, 224)

    def __init__(
        self,
        root: str | None = None,
        data_root: str | None = None,
        batch_size: int = 256,
        eval_batch_size: int | None = None,
        num_workers: int = 8,
        crop_size: int = 224,
        resize_size: int = 256,
        scale: tuple[float, float] = (0.08, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        flip: bool = True,
        mean: tuple[float, float, float] = IMAGENET_MEAN,
        std: tuple[float, float, float] = IMAGENET_STD,
        seed: int = 0,
        pin_memory: bool | None = None,
        persistent_workers: bool = True,
        backend: str = "pil",
    ) -> None:
        super().__init__()
        if backend not in BACKENDS:
            raise ValueError(f"Expected `backend` in {list(BACKENDS)} but got {backend!r}")
        check_int("batch_size", batch_size, 1)
        check_int("eval_batch_size", eval_batch_size, 1, optional=True)
        check_int("num_workers", num_workers, 0)
        check_int("crop_size", crop_size, 1)
        check_int("resize_size", resize_size, crop_size)
        check_int("seed", seed, 0)
        if len(scale) != 2 or not 0.0 < scale[0] <= scale[1] <= 1.0:
            raise ValueError(
                f"Expected `scale` (low, high) with 0 < low <= high <= 1 but got {scale}"
            )
        if len(ratio) != 2 or not 0.0 < ratio[0] <= ratio[1]:
            raise ValueError(f"Expected `ratio` (low, high) with 0 < low <= high but got {ratio}")
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(
                f"Expected 3 `mean` values and 3 positive `std` values but got {mean}, {std}"
            )
        self.root = Path(root) if root else resolve_data_root(data_root) / "imagenet"
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.backend = backend
        if backend == "torchvision":
            try:
                import torchvision  # noqa: F401
            except Exception:  # missing, or built for another torch
                raise InputError(
                    "ImageNet: backend 'torchvision' needs torchvision, which does not import "
                    "here: install the vision extra (README: pip install -c constraints-vision.txt "
                    '-e ".[vision]")'
                ) from None
            self.train_transform, self.eval_transform = torchvision_transforms(
                crop_size, resize_size, scale, ratio, flip
            )
        else:
            self.train_transform = TrainTransform(crop_size, scale, ratio, flip)
            self.eval_transform = EvalTransform(crop_size, resize_size)
        self.mean, self.std = tuple(mean), tuple(std)
        self.pin_memory = torch.cuda.is_available() if pin_memory is None else bool(pin_memory)
        self.persistent_workers = persistent_workers and num_workers > 0
        self.input_shape = (3, crop_size, crop_size)
        self.shuffle_generator = torch.Generator().manual_seed(derived_seed(seed, 0))
        self.classes: list[str] = []
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None

    @property
    def num_classes(self) -> int:
        """Number of classes found (1000 for ILSVRC 2012); 0 before :meth:`setup`."""
        return len(self.classes)

    def setup(self, stage: str | None = None) -> None:
        """Scan the folders (once): classes from ``train/``, validation samples from ``val/``."""
        if self.val_set is not None:
            return
        if self.backend == "torchvision":
            self.train_set = torchvision_image_folder(self.root / "train", self.train_transform)
            self.classes = list(self.train_set.classes)
            self.val_set = torchvision_image_folder(
                self.root / "val", self.eval_transform, self.classes
            )
            return
        self.classes, train = scan_image_folder(self.root / "train")
        _, val = scan_image_folder(self.root / "val", self.classes)
        self.train_set = ImageFileDataset(train, self.train_transform)
        self.val_set = ImageFileDataset(val, self.eval_transform)

    def _loader(self, dataset: Dataset | None, train: bool) -> DataLoader:
        if dataset is None:
            raise RuntimeError("ImageNetDataModule: call setup() before asking for a dataloader")
        return DataLoader(
            dataset,
            batch_size=self.batch_size if train else self.eval_batch_size,
            shuffle=train,
            generator=self.shuffle_generator if train else None,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.persistent_workers,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, train=False)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """uint8 images -> float32 normalised with ``mean``/``std``, on the batch's device."""
        x, y = batch
        return normalize_batch(x, self.mean, self.std), y

    def state_dict(self) -> dict[str, Any]:
        return {"shuffle_generator_state": self.shuffle_generator.get_state()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = state_dict.get("shuffle_generator_state")
        if state is not None:
            self.shuffle_generator.set_state(state)
