"""Checksummed, atomic downloads with a progress bar, trying a list of mirrors in turn.

A download streams into a temporary file next to its destination while computing the md5; the
file is renamed into place only when the byte count matches ``Content-Length`` and the md5
matches the expected one. Otherwise (wrong bytes, dropped connection, timeout, ``Ctrl-C``) the
temporary file is deleted and the next mirror is tried.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from tqdm.auto import tqdm

from pl_powerlaw.atomic import atomic_file
from pl_powerlaw.data.files import DATA_ROOT_ENV, CorruptFileError
from pl_powerlaw.errors import InputError

CHUNK_SIZE = 1 << 16


class DownloadError(FileNotFoundError, InputError):
    """Files are missing and none of the mirrors could provide a verified copy.

    Attributes:
        attempts: one ``"<url> (<reason>)"`` string per mirror tried.
    """

    def __init__(self, message: str, attempts: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.attempts = list(attempts)


def _reason(error: BaseException) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    return str(error) or type(error).__name__


def _fetch(url: str, dest: Path, md5: str, progress: bool, timeout: float) -> None:
    """Stream ``url`` into ``dest`` atomically; raise when the bytes are short or the md5 differs.

    The connection is opened before anything is created on disk, so an unreachable mirror
    leaves no folder behind.
    """
    with urllib.request.urlopen(url, timeout=timeout) as response, atomic_file(dest) as tmp:
        with open(tmp, "wb") as out:
            length = response.headers.get("Content-Length")
            total = int(length) if length else None
            digest = hashlib.md5()
            received = 0
            with tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=f"download {dest.name}",
                disable=not progress,
                leave=False,
            ) as bar:
                while chunk := response.read(CHUNK_SIZE):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
            if total is not None and received != total:
                raise CorruptFileError(f"connection closed after {received} of {total} bytes")
            if digest.hexdigest() != md5:
                raise CorruptFileError(f"md5 {digest.hexdigest()} differs from the expected {md5}")
            out.flush()
            os.fsync(out.fileno())


def download_file(
    urls: Sequence[str],
    dest: str | os.PathLike,
    md5: str,
    *,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Download the first verified copy of a file from a list of mirrors.

    Args:
        urls: full URLs of the same file, tried in order (``http(s)://`` or ``file://``).
        dest: the final path; its folder is created when missing.
        md5: the expected hexadecimal md5 of the file.
        progress: show a tqdm progress bar.
        timeout: seconds without data before a mirror is abandoned.

    Returns:
        ``dest`` as a :class:`~pathlib.Path`.

    Raises:
        DownloadError: every mirror failed; the message lists each URL with its reason.

    Example:
        >>> download_file(["https://ossci-datasets.s3.amazonaws.com/mnist/t10k-labels-idx1-ubyte.gz"],
        ...               "data/mnist/t10k-labels-idx1-ubyte.gz",
        ...               "ec29112dd5afa0611ce80d1b7f02629c")  # doctest: +SKIP
    """
    dest = Path(dest).absolute()
    if not urls:
        raise ValueError(f"Expected at least one URL for {dest} but got none")
    created = [folder for folder in (dest.parent, *dest.parent.parents) if not folder.exists()]
    attempts = []
    for url in urls:
        try:
            _fetch(url, dest, md5, progress, timeout)
            return dest
        except (OSError, ValueError, http.client.HTTPException) as error:
            attempts.append(f"{url} ({_reason(error)})")
    for folder in created:  # deepest first: leave no empty folder of ours behind
        with contextlib.suppress(OSError):
            folder.rmdir()
    raise DownloadError(f"could not download {dest}; tried: " + "; ".join(attempts), attempts)


def ensure_files(
    folder: str | os.PathLike,
    files: Mapping[str, str],
    base_urls: Sequence[str],
    *,
    download: bool = True,
    progress: bool = True,
    what: str = "data set",
    timeout: float = 60.0,
) -> list[Path]:
    """Make sure every file of ``files`` exists in ``folder``, downloading the missing ones.

    Existing files are not checked here (the readers verify them); missing ones are fetched
    from ``<base_url>/<name>`` for each base URL in turn and verified against their md5.

    Args:
        folder: where the files must be.
        files: file name -> expected md5.
        base_urls: mirror folders, tried in order.
        download: when False, missing files are an error instead of a download.
        progress: show a progress bar per download.
        what: the data set's name, for messages.
        timeout: seconds without data before a mirror is abandoned.

    Returns:
        The paths of all the files, in the order of ``files``.

    Raises:
        FileNotFoundError: files missing and ``download`` is False.
        DownloadError: files missing and no mirror provided a verified copy; the message names
            the full paths where the files must go and every URL tried.

    Example:
        >>> ensure_files("data/mnist", {"t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"},
        ...              ["https://ossci-datasets.s3.amazonaws.com/mnist/"])  # doctest: +SKIP
    """
    folder = Path(folder).absolute()
    paths = [folder / name for name in files]
    missing = [path for path in paths if not path.is_file()]
    where = f"(the data root is `--data.init_args.data_root`, else ${DATA_ROOT_ENV}, else ./data)"
    if missing and not download:
        raise FileNotFoundError(
            f"{what}: missing {', '.join(map(str, missing))}; put the official files there "
            f"or allow downloading (download=True) {where}"
        )
    for index, path in enumerate(missing):
        urls = [f"{base.rstrip('/')}/{path.name}" for base in base_urls]
        try:
            download_file(urls, path, files[path.name], progress=progress, timeout=timeout)
        except DownloadError as error:
            still = ", ".join(str(p) for p in missing[index:])
            raise DownloadError(
                f"{what}: could not download {path.name}; put the official files at {still} "
                f"{where}. Tried: {'; '.join(error.attempts)}",
                error.attempts,
            ) from None
    return paths
