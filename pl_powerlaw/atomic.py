"""Atomic file writes: a file appears complete under its final name, or not at all.

Shared by the data modules (downloads, caches) and the analysis records (``degrees/*.json``);
plain standard library, no torch or Lightning.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

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
