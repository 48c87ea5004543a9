"""ImageNetDataModule(backend="torchvision"): ImageFolder and transforms.v2 against our reader."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from data_helpers import make_fake_imagenet
from PIL import Image

from pl_powerlaw.data import ImageNetDataModule
from pl_powerlaw.data.transforms import EvalTransform

pytestmark = pytest.mark.vision
try:
    from torchvision.transforms import v2
except Exception as error:  # missing, or built for another torch
    pytest.skip(f"torchvision does not import: {error}", allow_module_level=True)

SMALL = {"crop_size": 32, "resize_size": 40, "batch_size": 2, "num_workers": 0}


def both(root, **kwargs) -> tuple[ImageNetDataModule, ImageNetDataModule]:
    modules = tuple(
        ImageNetDataModule(root=str(root), backend=backend, **{**SMALL, **kwargs})
        for backend in ("pil", "torchvision")
    )
    for module in modules:
        module.setup("fit")
    return modules


@pytest.mark.parametrize("size", [(500, 375), (300, 256), (256, 401), (1024, 683)])
def test_our_eval_transform_is_torchvisions_resize_and_center_crop(size):
    array = np.random.default_rng(sum(size)).integers(0, 256, (size[1], size[0], 3), np.uint8)
    image = Image.fromarray(array)
    theirs = v2.Compose([v2.Resize(256), v2.CenterCrop(224), v2.PILToTensor()])(image)
    ours = EvalTransform(crop_size=224, resize_size=256)(image)
    assert ours.dtype == theirs.dtype == torch.uint8
    assert torch.equal(ours, theirs)


def test_validation_batches_are_bit_identical_to_our_reader(tmp_path):
    ours, theirs = both(make_fake_imagenet(tmp_path))
    assert theirs.classes == ours.classes
    assert theirs.val_set.samples == ours.val_set.samples  # same files, same order and labels
    for (x, y), (a, b) in zip(ours.val_dataloader(), theirs.val_dataloader(), strict=True):
        assert torch.equal(x, a) and torch.equal(y, b)
        assert torch.equal(ours.on_after_batch_transfer((x, y), 0)[0],
                           theirs.on_after_batch_transfer((a, b), 0)[0])  # fmt: skip
    x, y = next(iter(theirs.train_dataloader()))
    assert x.shape == (2, 3, 32, 32) and x.dtype == torch.uint8 and y.dtype == torch.int64


def test_a_validation_folder_missing_a_class_keeps_the_training_indices(tmp_path):
    root = make_fake_imagenet(tmp_path, n_classes=3)
    shutil.rmtree(root / "val" / "n00000000")
    ours, theirs = both(root)
    assert [label for _, label in theirs.val_set.samples] == [1, 1, 2, 2]
    assert theirs.val_set.samples == ours.val_set.samples
    (root / "val" / "n00000009").mkdir()
    (root / "val" / "n00000009" / "x.JPEG").write_bytes((root / "train" / "n00000001" /
                                                         "n00000001_0.JPEG").read_bytes())  # fmt: skip
    module = ImageNetDataModule(root=str(root), backend="torchvision", **SMALL)
    with pytest.raises(ValueError, match="n00000009"):
        module.setup("fit")


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="backend"):
        ImageNetDataModule(root="x", backend="opencv")
