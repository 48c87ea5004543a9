"""Reader of the IDX format of MNIST and Fashion-MNIST (plain or gzip-compressed).

An IDX file is a big-endian header, then the payload in row-major order:

* 2 zero bytes, 1 byte with the element type (0x08 unsigned byte, 0x09 signed byte,
  0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64), 1 byte with the number of dimensions d;
* d unsigned 32-bit integers, the size of each dimension;
* the elements.

The 4 header bytes read as one big-endian integer give the "magic number": 2051 (0x00000803)
for MNIST images (ubyte, 3 dimensions), 2049 (0x00000801) for labels (ubyte, 1 dimension).
Source: http://yann.lecun.com/exdb/mnist/ (section "The IDX file format").
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

from pl_powerlaw.data.files import CorruptFileError

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
IDX_TYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
GZIP_MAGIC = b"\x1f\x8b"


def _read_exact(f: BinaryIO, n: int, path: Path, what: str) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise CorruptFileError(f"{path}: truncated {what} ({len(data)} of {n} bytes)")
    return data


def _read_payload(f: BinaryIO, array: np.ndarray, path: Path) -> None:
    """Fill ``array`` from ``f``; raise when the file holds fewer or more bytes."""
    view = memoryview(array.reshape(-1)).cast("B")
    filled = 0
    while filled < len(view):
        n = f.readinto(view[filled:])
        if not n:
            raise CorruptFileError(
                f"{path}: truncated payload ({filled} of {len(view)} bytes for shape "
                f"{tuple(array.shape)})"
            )
        filled += n
    if f.read(1):
        raise CorruptFileError(f"{path}: unexpected bytes after the {len(view)}-byte payload")


def _parse(f: BinaryIO, path: Path, expected_magic: int | None) -> np.ndarray:
    header = _read_exact(f, 4, path, "header")
    magic = int.from_bytes(header, "big")
    if header[:2] != b"\x00\x00" or header[2] not in IDX_TYPES:
        raise CorruptFileError(f"{path}: not an IDX file (magic number {magic:#010x})")
    if expected_magic is not None and magic != expected_magic:
        raise CorruptFileError(
            f"{path}: expected IDX magic number {expected_magic} but got {magic}"
        )
    ndim = header[3]
    shape = struct.unpack(f">{ndim}I", _read_exact(f, 4 * ndim, path, "header"))
    array = np.empty(shape, dtype=np.dtype(IDX_TYPES[header[2]]))
    _read_payload(f, array, path)
    return array.astype(array.dtype.newbyteorder("="), copy=False)


def read_idx(
    path: str | os.PathLike,
    expected_magic: int | None = None,
    expected_shape: Sequence[int | None] | None = None,
) -> torch.Tensor:
    """Read an IDX file (``.gz`` or plain, detected from its first bytes) into a tensor.

    Args:
        path: the file.
        expected_magic: when given, the file's magic number must equal it (2051 for images,
            2049 for labels).
        expected_shape: when given, the shape must match; ``None`` entries match any size.

    Returns:
        A tensor of the file's shape and element type (``uint8`` for MNIST), native byte order.

    Raises:
        CorruptFileError: not an IDX file, wrong magic number or shape, truncated payload,
            trailing bytes, or a damaged gzip stream. The message starts with the file path.

    Example:
        >>> images = read_idx("data/mnist/t10k-images-idx3-ubyte.gz", IMAGES_MAGIC)  # doctest: +SKIP
        >>> images.shape, images.dtype  # doctest: +SKIP
        (torch.Size([10000, 28, 28]), torch.uint8)
    """
    path = Path(path)
    with open(path, "rb") as raw:
        compressed = raw.read(2) == GZIP_MAGIC
    try:
        with gzip.open(path, "rb") if compressed else open(path, "rb") as f:
            array = _parse(f, path, expected_magic)
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise CorruptFileError(f"{path}: damaged gzip stream ({error})") from error
    if expected_shape is not None:
        expected = tuple(expected_shape)
        if len(expected) != array.ndim or any(
            e is not None and e != s for e, s in zip(expected, array.shape, strict=True)
        ):
            raise CorruptFileError(
                f"{path}: expected shape {expected} but got {tuple(array.shape)}"
            )
    return torch.from_numpy(array)
