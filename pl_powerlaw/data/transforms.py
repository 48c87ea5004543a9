"""The usual ImageNet transforms on PIL images, without torchvision.

* Training: a random crop covering a fraction ``scale`` of the image area with aspect ratio in
  ``ratio`` (log-uniform), resized to ``size x size`` (the "RandomResizedCrop" of Szegedy et al.
  2015, "Going deeper with convolutions"), then a left-right flip with probability 0.5.
* Evaluation: resize so that the shorter side is ``resize_size`` (256), then crop the central
  ``crop_size x crop_size`` (224; 227 for the Caffe AlexNet).

Both return uint8 tensors (3, H, W); normalisation happens on the device, per batch
(:func:`normalize_batch`), which moves a quarter of the bytes of float32 through the loader.
Randomness comes from torch's default generator, which PyTorch seeds differently in every
DataLoader worker.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image
from torch import Tensor

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _uniform(low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand(()))


def _randint(low: int, high: int) -> int:
    """A random int in [low, high] (both included)."""
    return int(torch.randint(low, high + 1, ()))


def random_resized_crop_box(
    width: int,
    height: int,
    scale: Sequence[float] = (0.08, 1.0),
    ratio: Sequence[float] = (3 / 4, 4 / 3),
    attempts: int = 10,
) -> tuple[int, int, int, int]:
    """A random crop box ``(left, top, w, h)`` of area fraction in ``scale``, aspect in ``ratio``.

    Up to ``attempts`` boxes are drawn (area uniform in ``scale`` x image area, aspect ratio
    w/h log-uniform in ``ratio``); the first that fits is placed uniformly at random. When none
    fits, the central box of the whole image with its aspect ratio clamped into ``ratio`` is used.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> left, top, w, h = random_resized_crop_box(100, 80)
        >>> 0 <= left <= 100 - w and 0 <= top <= 80 - h
        True
    """
    area = width * height
    log_low, log_high = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(attempts):
        target = area * _uniform(scale[0], scale[1])
        aspect = math.exp(_uniform(log_low, log_high))
        w = round(math.sqrt(target * aspect))
        h = round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            return _randint(0, width - w), _randint(0, height - h), w, h
    aspect = width / height
    if aspect < ratio[0]:
        w, h = width, round(width / ratio[0])
    elif aspect > ratio[1]:
        w, h = round(height * ratio[1]), height
    else:
        w, h = width, height
    return (width - w) // 2, (height - h) // 2, w, h


def resize_shorter_side(image: Image.Image, size: int) -> Image.Image:
    """Resize (bilinear) so that the shorter side is ``size``, keeping the aspect ratio.

    The longer side becomes ``int(size * long / short)`` (truncated).

    Example:
        >>> resize_shorter_side(Image.new("RGB", (400, 300)), 256).size
        (341, 256)
    """
    width, height = image.size
    if min(width, height) == size:
        return image
    if width <= height:
        new = (size, int(size * height / width))
    else:
        new = (int(size * width / height), size)
    return image.resize(new, Image.BILINEAR)


def center_crop_box(width: int, height: int, size: int) -> tuple[int, int, int, int]:
    """The central ``size x size`` box ``(left, top, right, bottom)`` of a width x height image.

    The offsets are ``round((width - size) / 2)`` and ``round((height - size) / 2)``.

    Example:
        >>> center_crop_box(300, 256, 224)
        (38, 16, 262, 240)
    """
    if size > width or size > height:
        raise ValueError(f"Expected a crop `size` <= {min(width, height)} but got {size}")
    left = int(round((width - size) / 2.0))
    top = int(round((height - size) / 2.0))
    return left, top, left + size, top + size


def to_uint8_tensor(image: Image.Image) -> Tensor:
    """An RGB PIL image as a contiguous uint8 tensor (3, H, W)."""
    array = np.asarray(image.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))


class TrainTransform:
    """Random resized crop to ``size``, random left-right flip, uint8 tensor (3, size, size).

    Args:
        size: output side (224).
        scale: range of the crop's area fraction.
        ratio: range of the crop's aspect ratio w/h.
        flip: flip left-right with probability 0.5.
    """

    def __init__(
        self,
        size: int = 224,
        scale: Sequence[float] = (0.08, 1.0),
        ratio: Sequence[float] = (3 / 4, 4 / 3),
        flip: bool = True,
    ) -> None:
        self.size, self.scale, self.ratio, self.flip = size, tuple(scale), tuple(ratio), flip

    def __call__(self, image: Image.Image) -> Tensor:
        image = image.convert("RGB")
        left, top, w, h = random_resized_crop_box(*image.size, self.scale, self.ratio)
        image = image.resize(
            (self.size, self.size), Image.BILINEAR, box=(left, top, left + w, top + h)
        )
        if self.flip and float(torch.rand(())) < 0.5:
            image = image.transpose(Image.FLIP_LEFT_RIGHT)
        return to_uint8_tensor(image)


class EvalTransform:
    """Resize the shorter side to ``resize_size``, crop the central ``crop_size`` square.

    Args:
        crop_size: output side (224; 227 for the Caffe AlexNet).
        resize_size: shorter side after resizing (256), >= ``crop_size``.
    """

    def __init__(self, crop_size: int = 224, resize_size: int = 256) -> None:
        if resize_size < crop_size:
            raise ValueError(
                f"Expected `resize_size` >= `crop_size` ({crop_size}) but got {resize_size}"
            )
        self.crop_size, self.resize_size = crop_size, resize_size

    def __call__(self, image: Image.Image) -> Tensor:
        image = resize_shorter_side(image.convert("RGB"), self.resize_size)
        return to_uint8_tensor(image.crop(center_crop_box(*image.size, self.crop_size)))


def normalize_batch(
    x: Tensor, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
) -> Tensor:
    """uint8 images (B, C, H, W) -> float32 ``(x / 255 - mean) / std`` per channel, on x's device.

    Example:
        >>> normalize_batch(torch.full((1, 3, 1, 1), 255, dtype=torch.uint8), (0.5,) * 3, (0.5,) * 3)
        tensor([[[[1.]],
        <BLANKLINE>
                 [[1.]],
        <BLANKLINE>
                 [[1.]]]])
    """
    mean_t = torch.as_tensor(mean, dtype=torch.float32, device=x.device).reshape(1, -1, 1, 1)
    std_t = torch.as_tensor(std, dtype=torch.float32, device=x.device).reshape(1, -1, 1, 1)
    return x.to(torch.float32).div_(255.0).sub_(mean_t).div_(std_t)
