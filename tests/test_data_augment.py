"""Batched Keras-style augmentation: shifts with edge replication, flips, seeding, distribution.

References: hand-written expected images, and scipy.ndimage.shift(order=0 or 1, mode="nearest"),
the edge-replicating shifts that Keras's ImageDataGenerator applies through scipy.ndimage
(order 0 in Keras 2.0/2.1, order 1 in Keras >= 2.2).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from pl_powerlaw.data.augment import augment_batch, draw_shifts_and_flips, shift_flip_batch

IMAGE = torch.tensor(
    [[1, 2, 3, 4, 5],
     [6, 7, 8, 9, 10],
     [11, 12, 13, 14, 15],
     [16, 17, 18, 19, 20]], dtype=torch.uint8,
).reshape(1, 1, 4, 5)  # fmt: skip


def test_shift_on_a_hand_made_image():
    # content moves down 1 and left 2; the top row and right columns repeat the nearest edge
    expected = [[3, 4, 5, 5, 5],
                [3, 4, 5, 5, 5],
                [8, 9, 10, 10, 10],
                [13, 14, 15, 15, 15]]  # fmt: skip
    out = shift_flip_batch(IMAGE, torch.tensor([[1, -2]]), torch.tensor([False]))
    assert out[0, 0].tolist() == expected


def test_flip_on_a_hand_made_image():
    out = shift_flip_batch(IMAGE, torch.tensor([[0, 0]]), torch.tensor([True]))
    assert out[0, 0, 0].tolist() == [5, 4, 3, 2, 1]
    assert out[0, 0, 3].tolist() == [20, 19, 18, 17, 16]


@pytest.mark.parametrize(
    ("interpolation", "order"),
    [pytest.param("nearest", 0, id="nearest"), pytest.param("bilinear", 1, id="bilinear")],
)
def test_shift_and_flip_match_scipy_shift_then_flip(interpolation, order):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(16, 3, 32, 32, generator=g, dtype=torch.float64)
    shifts, flips = draw_shifts_and_flips(16, 32, 32, g)
    if interpolation == "nearest":
        shifts = torch.round(shifts)  # scipy's order 0 picks the nearest pixel as well
    out = shift_flip_batch(x, shifts, flips, interpolation)
    for b in range(16):
        dy, dx = shifts[b].tolist()
        expected = ndimage.shift(x[b].numpy(), (0, dy, dx), order=order, mode="nearest")
        if flips[b]:
            expected = expected[:, :, ::-1]
        assert np.allclose(out[b].numpy(), expected, atol=1e-12), b


def test_bilinear_half_pixel_shift_on_a_hand_made_row():
    x = torch.tensor([[[[0.0, 2.0, 4.0, 8.0]]]])
    out = shift_flip_batch(x, torch.tensor([[0.0, 0.5]]), torch.tensor([False]), "bilinear")
    assert out.flatten().tolist() == [0.0, 1.0, 3.0, 6.0]  # averages of the left neighbours


def test_bilinear_uint8_is_rounded():
    x = torch.tensor([[[[0, 3, 255, 255]]]], dtype=torch.uint8)
    out = shift_flip_batch(x, torch.tensor([[0.0, 0.5]]), torch.tensor([False]), "bilinear")
    assert out.dtype == torch.uint8 and out.flatten().tolist() == [0, 2, 129, 255]


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32], ids=["uint8", "float32"])
def test_augment_keeps_shape_dtype_and_range(dtype, interpolation):
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 256, (8, 3, 32, 32), generator=g).to(dtype)
    out = augment_batch(x, torch.Generator().manual_seed(2), interpolation=interpolation)
    assert out.shape == x.shape and out.dtype == dtype and out.device == x.device
    assert out.min() >= x.min() and out.max() <= x.max()
    if interpolation == "nearest":  # no new pixel values
        for b in range(8):
            assert set(out[b].unique().tolist()) <= set(x[b].unique().tolist())


def test_seeded_generator_is_deterministic():
    x = torch.randint(
        0, 256, (32, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )
    a = augment_batch(x, torch.Generator().manual_seed(7))
    b = augment_batch(x, torch.Generator().manual_seed(7))
    c = augment_batch(x, torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_no_shift_and_no_flip_is_the_identity():
    x = torch.rand(4, 3, 8, 8)
    assert torch.equal(augment_batch(x, torch.Generator().manual_seed(0), shift=0.0, flip=False), x)


def test_shift_and_flip_frequencies_match_keras():
    # shift ~ U[-3.2, 3.2] pixels (10% of 32), rounded: P(k) = 1/6.4 for |k| <= 2 and 0.7/6.4
    # for |k| = 3; flips with probability 1/2. 40,000 draws: standard errors < 0.0025.
    shifts, flips = draw_shifts_and_flips(40_000, 32, 32, torch.Generator().manual_seed(0))
    assert shifts.abs().max() <= 3.2
    shifts = torch.round(shifts).long()
    expected = {k: (0.7 if abs(k) == 3 else 1.0) / 6.4 for k in range(-3, 4)}
    for axis in range(2):
        counts = torch.bincount(shifts[:, axis] + 3, minlength=7).double() / 40_000
        assert counts.tolist() == pytest.approx([expected[k] for k in range(-3, 4)], abs=0.01)
    assert flips.double().mean().item() == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        pytest.param(lambda: augment_batch(torch.zeros(3, 4, 4)), "Expected `x` of shape", id="3d"),
        pytest.param(
            lambda: augment_batch(torch.zeros(1, 1, 4, 4), shift=1.0), "`shift` in", id="shift"
        ),
        pytest.param(
            lambda: augment_batch(torch.zeros(1, 1, 4, 4), interpolation="cubic"),
            "`interpolation` in",
            id="interpolation",
        ),
    ],
)
def test_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_same_result_on_the_gpu(interpolation):
    x = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8)
    cpu = augment_batch(x, torch.Generator().manual_seed(3), interpolation=interpolation)
    gpu = augment_batch(x.cuda(), torch.Generator().manual_seed(3), interpolation=interpolation)
    assert gpu.is_cuda and (gpu.cpu().int() - cpu.int()).abs().max() <= 1
