"""ImageNet folder module and its transforms, on tiny generated JPEG folders."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from data_helpers import class_color, make_fake_imagenet
from PIL import Image

from pl_powerlaw.data import ImageNetDataModule
from pl_powerlaw.data.imagenet import scan_image_folder
from pl_powerlaw.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    EvalTransform,
    TrainTransform,
    center_crop_box,
    random_resized_crop_box,
    resize_shorter_side,
)


def coordinate_image(width: int, height: int) -> tuple[Image.Image, np.ndarray]:
    """An RGB image whose red channel is the column (mod 256) and green the row (mod 256)."""
    array = np.zeros((height, width, 3), dtype=np.uint8)
    array[:, :, 0] = np.arange(width)[None, :] % 256
    array[:, :, 1] = np.arange(height)[:, None] % 256
    return Image.fromarray(array), array


def test_center_crop_geometry_on_a_hand_made_image():
    # shorter side already 256: no resize; crop offsets round((300 - 224) / 2) = 38, (256-224)/2 = 16
    image, array = coordinate_image(300, 256)
    out = EvalTransform(crop_size=224, resize_size=256)(image)
    assert out.shape == (3, 224, 224) and out.dtype == torch.uint8
    assert np.array_equal(out.permute(1, 2, 0).numpy(), array[16:240, 38:262])
    assert center_crop_box(300, 256, 227) == (36, 14, 263, 241)  # Caffe AlexNet crop


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        pytest.param((400, 300), (341, 256), id="landscape"),  # int(256 * 400 / 300) = 341
        pytest.param((300, 500), (256, 426), id="portrait"),  # int(256 * 500 / 300) = 426
        pytest.param((100, 100), (256, 256), id="upscale"),
    ],
)
def test_resize_shorter_side(size, expected):
    assert resize_shorter_side(Image.new("RGB", size), 256).size == expected


def test_random_resized_crop_boxes_respect_scale_and_ratio():
    torch.manual_seed(0)
    for _ in range(200):
        left, top, w, h = random_resized_crop_box(500, 375, (0.08, 1.0), (3 / 4, 4 / 3))
        assert 0 <= left <= 500 - w and 0 <= top <= 375 - h
        # rounding w and h to pixels moves area and aspect by a little
        assert 0.08 * 0.97 <= w * h / (500 * 375) <= 1.0
        assert 3 / 4 * 0.97 <= w / h <= 4 / 3 * 1.03


def test_random_resized_crop_falls_back_to_a_central_clamped_box():
    # a 1000 x 10 strip: no box of aspect <= 4/3 with 8%+ of the area fits -> central 13 x 10
    assert random_resized_crop_box(1000, 10) == (493, 0, 13, 10)


def test_train_transform_is_a_crop_of_the_image_flipped_half_the_time():
    image, _ = coordinate_image(64, 48)
    torch.manual_seed(0)
    outs = [TrainTransform(size=16, scale=(0.5, 0.5), ratio=(1.0, 1.0))(image) for _ in range(40)]
    assert all(o.shape == (3, 16, 16) and o.dtype == torch.uint8 for o in outs)
    # the red channel (column index) increases left to right, or decreases when flipped
    increasing = [bool(o[0, 8, -1] > o[0, 8, 0]) for o in outs]
    assert 10 <= sum(increasing) <= 30


def test_module_loads_sorted_classes_and_labels(tmp_path):
    root = make_fake_imagenet(tmp_path, n_classes=3, n_per_class=4, n_val_per_class=2)
    dm = ImageNetDataModule(
        root=str(root), batch_size=4, num_workers=0, crop_size=32, resize_size=36
    )
    dm.setup("fit")
    assert dm.classes == ["n00000000", "n00000001", "n00000002"] and dm.num_classes == 3
    assert (len(dm.train_set), len(dm.val_set)) == (12, 6)
    x, y = next(iter(dm.val_dataloader()))
    assert x.shape == (4, 3, 32, 32) and x.dtype == torch.uint8
    assert y.tolist() == [0, 0, 1, 1]
    for image, label in zip(x, y, strict=True):  # the colour of each image tells its class
        assert torch.allclose(
            image.float().mean(dim=(1, 2)), torch.tensor(class_color(label)).float(), atol=4
        )
    normalized, _ = dm.on_after_batch_transfer((x, y), 0)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    assert torch.allclose(normalized, (x.float() / 255 - mean) / std, atol=1e-6)
    labels = torch.cat([y for _, y in dm.train_dataloader()])
    assert sorted(labels.tolist()) == [0] * 4 + [1] * 4 + [2] * 4
    assert next(iter(dm.train_dataloader()))[0].shape == (4, 3, 32, 32)


def test_module_decodes_in_worker_processes(tmp_path):
    root = make_fake_imagenet(tmp_path, n_classes=2, n_per_class=3, n_val_per_class=2)
    dm = ImageNetDataModule(
        root=str(root), batch_size=3, num_workers=2, crop_size=24, resize_size=28
    )
    dm.setup("fit")
    batches = list(dm.train_dataloader())
    assert [x.shape[0] for x, _ in batches] == [3, 3]


def test_root_defaults_to_the_data_root(monkeypatch, tmp_path):
    monkeypatch.setenv("PL_POWERLAW_DATA", str(tmp_path))
    assert ImageNetDataModule().root == tmp_path / "imagenet"


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        pytest.param("none", "train not found", id="missing"),
        pytest.param("no-classes", "no class folders in", id="no-classes"),
        pytest.param("no-images", "no images in the class folders", id="no-images"),
        pytest.param("unknown-val-class", "are not training classes", id="unknown-val-class"),
    ],
)
def test_missing_or_empty_folders_are_a_clear_error(tmp_path, layout, message):
    root = tmp_path / "imagenet"
    if layout != "none":
        (root / "train").mkdir(parents=True)
    if layout in ("no-images", "unknown-val-class"):
        (root / "train" / "n1").mkdir()
        (root / "train" / "n1" / "notes.txt").write_text("not an image")
    if layout == "unknown-val-class":
        Image.new("RGB", (8, 8)).save(root / "train" / "n1" / "a.JPEG")
        (root / "val" / "n2").mkdir(parents=True)
    with pytest.raises((FileNotFoundError, ValueError), match=message):
        ImageNetDataModule(root=str(root), num_workers=0).setup("fit")


def test_scan_sorts_samples_by_class_then_name(tmp_path):
    root = make_fake_imagenet(tmp_path, n_classes=2, n_per_class=3, n_val_per_class=1)
    classes, samples = scan_image_folder(root / "train")
    assert [label for _, label in samples] == [0, 0, 0, 1, 1, 1]
    assert [p.rsplit("/", 1)[1] for p, _ in samples][:3] == [
        f"n00000000_{i}.JPEG" for i in range(3)
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"resize_size": 200}, "`resize_size`", id="resize-below-crop"),
        pytest.param({"scale": (0.5, 0.1)}, "`scale`", id="scale"),
        pytest.param({"ratio": (0.0, 1.0)}, "`ratio`", id="ratio"),
        pytest.param({"num_workers": -1}, "`num_workers`", id="workers"),
    ],
)
def test_bad_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ImageNetDataModule(**kwargs)
