"""Atomic file writes: a file appears complete under its final name, or not at all.

Shared by the data modules (downloads, caches) and every JSON record (``degrees/*.json``, ...);
plain standard library, no torch or Lightning.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_file(dest: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``dest``; on success rename it to ``dest``, else delete it.

    The temporary file lives in ``dest``'s folder (so :func:`os.replace` is atomic) and is named
    ``.<name>.<random>.part``. Any exception, ``KeyboardInterrupt`` included, removes it. The
    final file gets the usual permissions of a new file (0666 minus the umask).

    Args:
        dest: the final file; its folder is created when missing.

    Example:
        >>> import tempfile, pathlib
        >>> dest = pathlib.Path(tempfile.mkdtemp()) / "out.bin"
        >>> with atomic_file(dest) as tmp:
        ...     _ = tmp.write_bytes(b"done")
        >>> dest.read_bytes()
        b'done'
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json_atomic(path: str | os.PathLike, obj: Any) -> Path:
    r"""Write ``obj`` as JSON to ``path`` through :func:`atomic_file` (never half-written).

    NaN and infinities are refused (``allow_nan=False``): JSON has neither, and a record that
    other tools read must not hold them.

    Example:
        >>> import tempfile, pathlib
        >>> path = write_json_atomic(pathlib.Path(tempfile.mkdtemp()) / "r.json", {"ok": 1})
        >>> json.loads(path.read_text())
        {'ok': 1}
    """
    path = Path(path)
    with atomic_file(path) as tmp, open(tmp, "w") as handle:
        json.dump(obj, handle, indent=1, allow_nan=False)
        handle.write("\n")
    return path


@contextlib.contextmanager
def staged_folder(out: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty staging folder beside ``out``; on success move its files into ``out``.

    Everything is written into the hidden staging folder first and moved into ``out`` (created
    if missing) by :func:`os.replace` only when the block succeeds, so a failure leaves ``out``
    exactly as it was. The staging folder is removed in every case.

    Example:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "result"
        >>> with staged_folder(out) as staging:
        ...     _ = (staging / "a.txt").write_text("done")
        >>> sorted(p.name for p in out.iterdir())
        ['a.txt']
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        yield staging
        for path in sorted(p for p in staging.rglob("*") if p.is_file()):
            target = out / path.relative_to(staging)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
