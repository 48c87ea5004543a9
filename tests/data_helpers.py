"""Generated data in the official formats, and a local HTTP server, for the data tests.

``make_fake_mnist``, ``make_fake_cifar10`` and ``make_fake_imagenet`` write small but valid
files in the layout the data modules read (other tests use them too). ``local_http_server``
serves byte strings from 127.0.0.1 in a thread and can misbehave on purpose (wrong bytes, a
connection dropped mid-file); nothing here touches the internet.
"""

from __future__ import annotations

import contextlib
import gzip
import http.server
import io
import pickle
import struct
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

MNIST_NAMES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
IDX_CODES = {np.dtype("u1"): 0x08, np.dtype("i1"): 0x09, np.dtype(">i2"): 0x0B,
             np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D, np.dtype(">f8"): 0x0E}  # fmt: skip


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """The IDX encoding of ``array`` written by hand with struct (big-endian header)."""
    array = np.asarray(array)
    big = array.astype(array.dtype.newbyteorder(">")) if array.dtype.itemsize > 1 else array
    code = IDX_CODES[big.dtype]
    header = (
        struct.pack(">BBBB", 0, 0, code, array.ndim) if magic is None else struct.pack(">I", magic)
    )
    return header + struct.pack(f">{array.ndim}I", *array.shape) + big.tobytes()


def write_idx(
    path: Path, array: np.ndarray, compress: bool = True, magic: int | None = None
) -> Path:
    """Write ``array`` as an IDX file (gzip-compressed when ``compress``)."""
    data = idx_bytes(array, magic)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data, mtime=0) if compress else data)
    return path


def make_fake_mnist(
    root: Path, dataset: str = "mnist", n_train: int = 120, n_test: int = 30, seed: int = 0
) -> Path:
    """Write the four MNIST gzip IDX files with random pixels; labels are ``i % 10``.

    Returns the folder ``<root>/<dataset>``.
    """
    rng = np.random.default_rng(seed)
    folder = Path(root) / dataset
    for split, n in [("train", n_train), ("test", n_test)]:
        images_name, labels_name = MNIST_NAMES[split]
        write_idx(folder / images_name, rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(folder / labels_name, (np.arange(n) % 10).astype(np.uint8))
    return folder


def _cifar_pickle(path: Path, data: np.ndarray, labels: list[int], batch_label: str) -> None:
    content = {
        b"batch_label": batch_label.encode(),
        b"labels": labels,
        b"data": data,
        b"filenames": [f"img_{i}.png".encode() for i in range(len(labels))],
    }
    path.write_bytes(pickle.dumps(content, protocol=2))


def make_fake_cifar10(
    root: Path, n_train_per_batch: int = 20, n_test: int = 20, seed: int = 0, archive: bool = False
) -> Path:
    """Write CIFAR-10 python batches (pickled dicts, b'data' uint8 (N, 3072), b'labels' list).

    Image k of the training set (in batch order) has label ``k % 10`` and its first pixel value
    (red channel, top-left) is ``k % 256``; test image k likewise.

    Args:
        root: the data root; files go to ``<root>/cifar10/cifar-10-batches-py/``.
        n_train_per_batch: images in each of the five training batches.
        n_test: images in ``test_batch``.
        seed: seed of the random pixels.
        archive: instead of the folder, write ``<root>/cifar10/cifar-10-python.tar.gz``.

    Returns:
        The batches folder, or the archive when ``archive``.
    """
    rng = np.random.default_rng(seed)
    folder = Path(root) / "cifar10" / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for b in range(6):
        n = n_test if b == 5 else n_train_per_batch
        first = 0 if b == 5 else b * n_train_per_batch
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        data[:, 0] = (first + np.arange(n)) % 256
        labels = [int((first + i) % 10) for i in range(n)]
        name = "test_batch" if b == 5 else f"data_batch_{b + 1}"
        _cifar_pickle(folder / name, data, labels, name)
    names = "airplane automobile bird cat deer dog frog horse ship truck".split()
    meta = {b"label_names": [n.encode() for n in names], b"num_cases_per_batch": n_train_per_batch}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    if not archive:
        return folder
    path = folder.parent / "cifar-10-python.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    for file in folder.iterdir():
        file.unlink()
    folder.rmdir()
    return path


def tar_with_member(path: Path, name: str, kind: str = "file", target: str = "") -> Path:
    """A tar.gz with a valid ``cifar-10-batches-py/`` entry plus one member of the given kind."""
    with tarfile.open(path, "w:gz") as tar:
        ok = tarfile.TarInfo("cifar-10-batches-py/readme.txt")
        ok.size = 2
        tar.addfile(ok, io.BytesIO(b"ok"))
        info = tarfile.TarInfo(name)
        if kind == "file":
            info.size = 4
            tar.addfile(info, io.BytesIO(b"evil"))
        else:
            info.type = {"symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE,
                         "device": tarfile.CHRTYPE, "fifo": tarfile.FIFOTYPE}[kind]  # fmt: skip
            info.linkname = target
            tar.addfile(info)
    return path


def class_color(k: int) -> tuple[int, int, int]:
    """The fill colour of the fake ImageNet images of class ``k`` (distinct per class)."""
    return (40 * k) % 256, 255 - (40 * k) % 256, (90 * k) % 256


def make_fake_imagenet(
    root: Path,
    n_classes: int = 3,
    n_per_class: int = 4,
    n_val_per_class: int = 2,
    seed: int = 0,
) -> Path:
    """Write ``<root>/imagenet/{train,val}/<wnid>/*.JPEG`` (PIL JPEGs of various sizes).

    Class k has wnid ``n{k:08d}`` and its images are filled with ``class_color(k)`` (so a test
    can recover the label from the pixels); sizes vary from 40 to 90 pixels per side.

    Returns:
        The ImageNet root ``<root>/imagenet``.
    """
    rng = np.random.default_rng(seed)
    base = Path(root) / "imagenet"
    for split, n in [("train", n_per_class), ("val", n_val_per_class)]:
        for k in range(n_classes):
            folder = base / split / f"n{k:08d}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                size = (int(rng.integers(40, 91)), int(rng.integers(40, 91)))
                Image.new("RGB", size, class_color(k)).save(
                    folder / f"n{k:08d}_{i}.JPEG", quality=95
                )
    return base


@dataclass
class Response:
    """What the local server sends for a path: ``body``, announcing ``length`` bytes."""

    body: bytes
    length: int | None = None  # None: len(body); larger: the connection drops mid-file
    status: int = 200


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, Response] = {}
    requests: list[str] = []

    def do_GET(self) -> None:
        self.requests.append(self.path)
        response = self.routes.get(self.path)
        if response is None:
            self.send_error(404)
            return
        self.send_response(response.status)
        length = len(response.body) if response.length is None else response.length
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(response.body)
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def local_http_server(routes: dict[str, Response]) -> Iterator[tuple[str, list[str]]]:
    """Serve ``routes`` (path -> Response) on 127.0.0.1 in a thread.

    Yields:
        ``(base_url, requests)``: e.g. ``"http://127.0.0.1:43210"`` and the list of requested
        paths (filled as requests arrive).
    """
    handler = type("Handler", (_Handler,), {"routes": dict(routes), "requests": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler.requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
