"""The IDX reader against hand-built files (headers written with struct, see data_helpers)."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import torch
from data_helpers import idx_bytes, write_idx

from pl_powerlaw.data import CorruptFileError, read_idx
from pl_powerlaw.data.idx import IMAGES_MAGIC, LABELS_MAGIC


@pytest.mark.parametrize("compress", [pytest.param(True, id="gz"), pytest.param(False, id="plain")])
def test_reads_uint8_images_exactly(tmp_path, compress):
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    path = write_idx(tmp_path / "images.idx", images, compress=compress)
    result = read_idx(path, IMAGES_MAGIC, (None, 28, 28))
    assert result.dtype == torch.uint8
    assert np.array_equal(result.numpy(), images)


def test_header_matches_the_mnist_magic_numbers():
    # the official files start with 0x00000803 (images) and 0x00000801 (labels)
    assert idx_bytes(np.zeros((1, 28, 28), np.uint8))[:4] == struct.pack(">I", IMAGES_MAGIC)
    assert idx_bytes(np.zeros(1, np.uint8))[:4] == struct.pack(">I", LABELS_MAGIC)


@pytest.mark.parametrize(
    "array",
    [
        pytest.param(np.array([-3, 0, 7], dtype=np.int8), id="int8"),
        pytest.param(np.array([[-300, 2], [5, 32767]], dtype=np.int16), id="int16"),
        pytest.param(np.array([1, -(2**31)], dtype=np.int32), id="int32"),
        pytest.param(np.array([1.5, -2.25], dtype=np.float32), id="float32"),
        pytest.param(np.array([np.pi], dtype=np.float64), id="float64"),
    ],
)
def test_reads_big_endian_types_into_native_values(tmp_path, array):
    result = read_idx(write_idx(tmp_path / "a.idx.gz", array))
    assert result.dtype == torch.from_numpy(array).dtype
    assert np.array_equal(result.numpy(), array)


def test_zero_images_is_a_valid_file(tmp_path):
    result = read_idx(write_idx(tmp_path / "a.gz", np.zeros((0, 28, 28), np.uint8)))
    assert result.shape == (0, 28, 28)


def _corrupt(tmp_path, kind):
    """Write a damaged IDX file of the given kind; return its path."""
    good = idx_bytes((np.arange(2 * 28 * 28) % 256).astype(np.uint8).reshape(2, 28, 28))
    path = tmp_path / f"{kind}.gz"
    if kind == "not-idx":
        path.write_bytes(gzip.compress(b"\x12\x34\x08\x03" + good[4:]))
    elif kind == "bad-type":
        path.write_bytes(gzip.compress(b"\x00\x00\x07\x03" + good[4:]))
    elif kind == "labels-as-images":
        write_idx(path, np.zeros(3, np.uint8))
    elif kind == "truncated-payload":
        path.write_bytes(gzip.compress(good[:-5]))
    elif kind == "truncated-header":
        path.write_bytes(gzip.compress(good[:6]))
    elif kind == "trailing-bytes":
        path.write_bytes(gzip.compress(good + b"\x00"))
    elif kind == "truncated-gzip":
        path.write_bytes(gzip.compress(good)[:-20])
    elif kind == "wrong-size":
        write_idx(path, np.zeros((2, 27, 28), np.uint8))
    elif kind == "empty":
        path.write_bytes(b"")
    return path


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        pytest.param("not-idx", "not an IDX file", id="not-idx"),
        pytest.param("bad-type", "not an IDX file", id="bad-type-code"),
        pytest.param("labels-as-images", "expected IDX magic number 2051 but got 2049", id="magic"),
        pytest.param("truncated-payload", "truncated payload", id="truncated-payload"),
        pytest.param("truncated-header", "truncated header", id="truncated-header"),
        pytest.param("trailing-bytes", "unexpected bytes after", id="trailing-bytes"),
        pytest.param("truncated-gzip", "damaged gzip stream", id="truncated-gzip"),
        pytest.param("wrong-size", "expected shape (None, 28, 28) but got (2, 27, 28)", id="shape"),
        pytest.param("empty", "truncated header", id="empty"),
    ],
)
def test_corrupt_files_raise_a_clear_error_naming_the_file(tmp_path, kind, message):
    path = _corrupt(tmp_path, kind)
    with pytest.raises(CorruptFileError) as info:
        read_idx(path, IMAGES_MAGIC, (None, 28, 28))
    assert str(info.value).startswith(str(path))
    assert message in str(info.value)
    assert "\n" not in str(info.value)
