"""What produced a run: the code, the libraries and the CPU kernels (``environment.json``).

Training numbers are reproducible bit for bit only on the same kernel path. On a CPU, torch's
results depend on the instruction set its kernels use (ATen's vector code, oneDNN's
convolutions), on which code path MKL takes for its matrix products, and on the number of
threads. A seeded run gives other weights with other kernels or another thread count, and after
training, other masks, fits and even verdicts (docs/section3.md).

Setting :data:`PINNED_KERNELS` in the environment before Python starts makes every machine with
AVX2 take the AVX2 path, with MKL in its reproducible mode; with it, an MLP's training no longer
depends on the number of threads (1, 2 and 4 give the same weights), while oneDNN's
convolutions still may, so a published number names its thread count too (docs/section3.md,
"Reproducing a number exactly"):

    MKL_CBWR=AVX2 ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 OMP_NUM_THREADS=2 \
        python -m pl_powerlaw fit ...

Every ``fit`` run appends one :func:`environment` entry to ``<log_dir>/environment.json`` (a
resumed run appends another), and ``analyze`` writes one beside its ``degrees.json``, so a
published number can name the commit and the kernels that produced it.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from pl_powerlaw.atomic import write_json_atomic
from pl_powerlaw.errors import InputError

FILENAME = "environment.json"

#: the environment variables that choose the CPU kernels, and their pinned values
PINNED_KERNELS = {"MKL_CBWR": "AVX2", "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
#: recorded as well: they set the number of threads, which changes results outside pinned mode
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def git_state(where: Path | None = None) -> dict[str, Any]:
    """The commit of the git work tree that holds the package, and whether it has changes.

    Both are None when the package does not sit in a work tree (an installed wheel, an export).
    """
    where = where or Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
        status = subprocess.run(
            ["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit or None, "dirty": bool(status.strip())}


def package_version(name: str) -> str | None:
    """The installed version of the distribution ``name`` (None when it is not installed)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else :func:`platform.processor`)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict[str, Any]:
    """One entry of ``environment.json``: when, which code, which libraries, which kernels."""
    import torch

    from pl_powerlaw import __version__

    variables = (*PINNED_KERNELS, *THREAD_VARIABLES)
    kernel_env = {name: os.environ.get(name) for name in variables}
    # the device of a run that uses CUDA (Lightning set it up before this is called); never
    # initialise CUDA here only to name it
    cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
    return {
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "pl_powerlaw": __version__,
        **git_state(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        **{name: package_version(name) for name in ("lightning", "numpy", "scipy")},
        "cpu": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_threads": torch.get_num_threads(),
        "kernel_variables": kernel_env,
        "pinned_kernels": all(kernel_env[k] == v for k, v in PINNED_KERNELS.items()),
        "cuda_device": torch.cuda.get_device_name() if cuda else None,
    }


def append_environment(folder: str | os.PathLike) -> Path:
    """Add this process's :func:`environment` to ``folder/environment.json`` (a JSON list).

    Earlier entries (of the runs this one resumes) are kept; the file is replaced atomically.

    Raises:
        InputError: the file exists but is not a JSON list (it is left as it is).
    """
    path = Path(folder) / FILENAME
    entries: list[Any] = []
    if path.exists():
        try:
            entries = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise InputError(f"Cannot read {str(path)!r}: {error}; expected a JSON list") from None
        if not isinstance(entries, list):
            raise InputError(
                f"{str(path)!r} holds a {type(entries).__name__}: expected a JSON list of entries"
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_json_atomic(path, [*entries, environment()])
