"""File plumbing shared by the data modules: data root, md5 sums, safe tar extraction.

Every file the data modules create appears in one step (written to a temporary file in the same
folder, then renamed with :func:`os.replace`, see :mod:`pl_powerlaw.atomic`), so an interrupted run (error, full disk,
``KeyboardInterrupt``) never leaves a partial file that a later run could mistake for a good one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path

from pl_powerlaw.errors import InputError

DATA_ROOT_ENV = "PL_POWERLAW_DATA"
DEFAULT_DATA_ROOT = "./data"


class CorruptFileError(InputError):
    """A data file exists but its content is wrong (checksum, header, size or counts)."""


def resolve_data_root(data_root: str | os.PathLike | None) -> Path:
    """The data root: ``data_root`` if given, else ``$PL_POWERLAW_DATA``, else ``./data``.

    Args:
        data_root: an explicit folder, or None for the default.

    Returns:
        The folder as an absolute path (it need not exist).

    Example:
        >>> resolve_data_root("/tmp/somewhere")
        PosixPath('/tmp/somewhere')
    """
    if data_root is None or str(data_root) == "":
        data_root = os.environ.get(DATA_ROOT_ENV) or DEFAULT_DATA_ROOT
    return Path(data_root).expanduser().absolute()


def md5sum(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """The hexadecimal md5 digest of a file, read in chunks.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "x"
        >>> _ = p.write_bytes(b"abc")
        >>> md5sum(p)
        '900150983cd24fb0d6963f7d28e17f72'
    """
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def _check_member(member: tarfile.TarInfo, archive: Path) -> None:
    """Refuse tar members that are not plain files/folders or whose path leaves the target."""
    name = member.name
    parts = Path(name).parts
    if not (member.isfile() or member.isdir()):
        kind = "link" if (member.issym() or member.islnk()) else "special file"
        raise CorruptFileError(f"{archive}: refusing {kind} member {name!r} (only plain files)")
    if name.startswith(("/", "\\")) or os.path.isabs(name) or ".." in parts:
        raise CorruptFileError(f"{archive}: refusing member {name!r} whose path leaves the folder")


def extract_tar_safely(
    archive: str | os.PathLike, target: str | os.PathLike, member_root: str
) -> Path:
    """Extract the folder ``member_root`` of a tar archive into ``target`` in one atomic step.

    Every member is checked before anything is written: only plain files and folders whose
    relative paths stay inside the target are accepted (no absolute paths, no ``..``, no links,
    no devices). The archive is extracted into a temporary folder next to ``target``, and
    ``<tmp>/<member_root>`` is then renamed to ``<target>/<member_root>``; on any failure the
    temporary folder is removed and nothing is left behind.

    Args:
        archive: the ``.tar`` / ``.tar.gz`` file.
        target: the folder that receives ``member_root``.
        member_root: the top-level folder the archive must contain (e.g. ``cifar-10-batches-py``).

    Returns:
        The path ``<target>/<member_root>``.

    Raises:
        CorruptFileError: unreadable or truncated archive, unsafe member, or no ``member_root``.

    Example:
        >>> extract_tar_safely("cifar-10-python.tar.gz", "data/cifar10", "cifar-10-batches-py")  # doctest: +SKIP
    """
    archive, target = Path(archive), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    final = target / member_root
    tmp = Path(tempfile.mkdtemp(dir=target, prefix=f".{member_root}.", suffix=".extract"))
    try:
        try:
            with tarfile.open(archive, "r:*") as tar:
                members = tar.getmembers()  # reads the whole archive: detects truncation early
                for member in members:
                    _check_member(member, archive)
                if not any(Path(m.name).parts[:1] == (member_root,) for m in members):
                    raise CorruptFileError(f"{archive}: no folder {member_root!r} in the archive")
                # the "data" filter (Python >= 3.10.12 / 3.11.4) re-checks what _check_member did
                extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                tar.extractall(tmp, members=members, **extra)
        except (tarfile.TarError, EOFError, OSError, zlib.error) as error:
            raise CorruptFileError(f"{archive}: cannot extract ({error}); delete it") from error
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp / member_root, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final
