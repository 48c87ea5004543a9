"""Batched CIFAR-10 augmentation of Keras's ``cifar10_cnn.py`` example, on any device.

Keras's example uses ``ImageDataGenerator(width_shift_range=0.1, height_shift_range=0.1,
horizontal_flip=True, fill_mode="nearest")``. For each image it draws a vertical shift
uniformly in [-0.1 H, 0.1 H] and a horizontal shift in [-0.1 W, 0.1 W] (in pixels), moves the
image with ``scipy.ndimage.affine_transform``, fills the uncovered border by repeating the
nearest edge pixel (``fill_mode="nearest"`` = edge replicate), and flips it left-right with
probability 0.5. The interpolation depends on the Keras release:

* ``"nearest"`` (the default here): ``order=0`` as in the Keras 2.0/2.1 releases of the time
  (the paper appeared in May 2018, before Keras 2.2): the shift is rounded to whole pixels.
* ``"bilinear"``: ``order=1`` as in keras-preprocessing (Keras >= 2.2): sub-pixel shifts with
  linear interpolation between the edge-extended pixels.

Here a whole batch is moved with ``gather`` calls: the random numbers are drawn on the CPU
from the given generator (so a seeded generator gives the same result on every device) and the
indexing runs on the batch's device, for uint8 or float batches.
"""

from __future__ import annotations

import torch
from torch import Tensor

INTERPOLATIONS = ("nearest", "bilinear")


def _check(x: Tensor, interpolation: str) -> None:
    if x.ndim != 4:
        raise ValueError(f"Expected `x` of shape (B, C, H, W) but got {tuple(x.shape)}")
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"Expected `interpolation` in {INTERPOLATIONS} but got {interpolation!r}")


def _source_index(size: int, shift: Tensor, flips: Tensor | None) -> Tensor:
    """(B, size) input coordinates ``k - shift`` with ``k = size-1-j`` for flipped images."""
    out = torch.arange(size, device=shift.device, dtype=shift.dtype)
    out = out[None, :].expand(shift.shape[0], size)
    if flips is not None:
        out = torch.where(flips[:, None], size - 1 - out, out)
    return out - shift[:, None]


def _gather(x: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
    """``x[b, :, rows[b, i], cols[b, j]]`` with the indices clamped to the image (edge replicate)."""
    b, c, h, w = x.shape
    rows = rows.clamp(0, h - 1)
    cols = cols.clamp(0, w - 1)
    x = x.gather(2, rows[:, None, :, None].expand(b, c, h, w))
    return x.gather(3, cols[:, None, None, :].expand(b, c, h, w))


def shift_flip_batch(
    x: Tensor, shifts: Tensor, flips: Tensor, interpolation: str = "nearest"
) -> Tensor:
    """Shift each image with edge replication, then flip the selected ones left-right.

    The content moves down by ``dy`` and right by ``dx`` (negative: up/left); pixels that come
    from outside the image repeat its nearest edge. With ``"nearest"``,
    ``out[b, :, i, j] = x[b, :, clamp(i - round(dy)), clamp(k - round(dx))]`` with
    ``k = W - 1 - j`` for flipped images, else ``j``; with ``"bilinear"`` the value at the
    fractional position is interpolated linearly from the clamped neighbours (as
    ``scipy.ndimage.shift(order=1, mode="nearest")``).

    Args:
        x: images (B, C, H, W), uint8 or float, any device.
        shifts: tensor (B, 2) of ``(dy, dx)`` in pixels per image.
        flips: bool tensor (B,): flip image b left-right (after the shift).
        interpolation: ``"nearest"`` or ``"bilinear"``.

    Returns:
        A new tensor of ``x``'s shape, dtype and device (bilinear uint8 results are rounded).

    Example:
        >>> x = torch.arange(4.0).reshape(1, 1, 1, 4)
        >>> shift_flip_batch(x, torch.tensor([[0, 1]]), torch.tensor([False])).tolist()
        [[[[0.0, 0.0, 1.0, 2.0]]]]
    """
    _check(x, interpolation)
    b, _, h, w = x.shape
    if shifts.shape != (b, 2) or flips.shape != (b,):
        raise ValueError(
            f"Expected `shifts` ({b}, 2) and `flips` ({b},) but got {tuple(shifts.shape)} "
            f"and {tuple(flips.shape)}"
        )
    flips = flips.to(device=x.device, dtype=torch.bool)
    if interpolation == "nearest":
        shifts = torch.round(shifts.double()).long().to(x.device)
        rows = _source_index(h, shifts[:, 0], None)
        return _gather(x, rows, _source_index(w, shifts[:, 1], flips))
    shifts = shifts.to(device=x.device, dtype=torch.float64)
    rows = _source_index(h, shifts[:, 0], None)  # fractional input coordinates (B, H)
    cols = _source_index(w, shifts[:, 1], flips)  # (B, W)
    rows0, cols0 = rows.floor(), cols.floor()
    wr = (rows - rows0).float()[:, None, :, None]  # weight of the next row
    wc = (cols - cols0).float()[:, None, None, :]
    rows0, cols0 = rows0.long(), cols0.long()
    xf = x.float()
    top = _gather(xf, rows0, cols0) * (1 - wc) + _gather(xf, rows0, cols0 + 1) * wc
    bottom = _gather(xf, rows0 + 1, cols0) * (1 - wc) + _gather(xf, rows0 + 1, cols0 + 1) * wc
    out = top * (1 - wr) + bottom * wr
    if x.dtype == torch.uint8:
        return out.round_().clamp_(0, 255).to(torch.uint8)
    return out.to(x.dtype)


def draw_shifts_and_flips(
    batch: int,
    height: int,
    width: int,
    generator: torch.Generator | None = None,
    shift: float = 0.1,
    flip: bool = True,
) -> tuple[Tensor, Tensor]:
    """The random parameters of :func:`augment_batch`, drawn on the CPU.

    Returns:
        ``(shifts, flips)``: float64 (batch, 2) ``(dy, dx)`` uniform in [-shift*H, shift*H] x
        [-shift*W, shift*W], and bool (batch,) with P(True) = 0.5 (all False without ``flip``).

    Example:
        >>> shifts, flips = draw_shifts_and_flips(4, 32, 32, torch.Generator().manual_seed(0))
        >>> bool(shifts.abs().max() <= 3.2)
        True
    """
    if not 0.0 <= shift < 1.0:
        raise ValueError(f"Expected `shift` in [0, 1) but got {shift}")
    u = torch.rand(batch, 3, generator=generator, dtype=torch.float64)
    limits = torch.tensor([shift * height, shift * width], dtype=torch.float64)
    shifts = (2.0 * u[:, :2] - 1.0) * limits
    flips = u[:, 2] < 0.5 if flip else torch.zeros(batch, dtype=torch.bool)
    return shifts, flips


def augment_batch(
    x: Tensor,
    generator: torch.Generator | None = None,
    shift: float = 0.1,
    flip: bool = True,
    interpolation: str = "nearest",
) -> Tensor:
    """Random shifts of up to ``shift`` x size and random horizontal flips (Keras cifar10_cnn).

    Args:
        x: images (B, C, H, W), uint8 or float, any device.
        generator: CPU generator of the random draws (None: torch's default generator).
        shift: largest shift as a fraction of height and width (0.1 in Keras's example).
        flip: flip each image left-right with probability 0.5.
        interpolation: ``"nearest"`` (whole-pixel shifts, Keras 2.0/2.1) or ``"bilinear"``
            (sub-pixel shifts, Keras >= 2.2).

    Returns:
        The augmented batch, same shape, dtype and device.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> augment_batch(torch.zeros(8, 3, 32, 32, dtype=torch.uint8), g).shape
        torch.Size([8, 3, 32, 32])
    """
    _check(x, interpolation)
    b, _, h, w = x.shape
    shifts, flips = draw_shifts_and_flips(b, h, w, generator, shift, flip)
    return shift_flip_batch(x, shifts, flips, interpolation)
