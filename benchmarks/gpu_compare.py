"""Compare a GPU run's final degree record with a CPU analysis of the same checkpoint.

    python benchmarks/gpu_compare.py GPU_RUN_DIR CPU_ANALYZE_DIR

``GPU_RUN_DIR`` is a run folder (``lightning_logs/version_N``) whose degree monitor wrote
``degrees/fit_end.json`` on the GPU; ``CPU_ANALYZE_DIR`` holds the ``degrees.json`` that
``python -m pl_powerlaw analyze <GPU_RUN_DIR>/checkpoints/last.ckpt --out CPU_ANALYZE_DIR`` wrote on
the CPU. Degrees must be equal exactly; alpha, the KS distance and the log-likelihood to 1e-9.
Prints one line per layer and exits 1 on any difference.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

TOLERANCE = 1e-9
FIELDS = ("alpha", "ks", "loglik")


def layers(path: Path) -> dict[str, dict]:
    return {layer["name"]: layer for layer in json.loads(path.read_text())["layers"]}


def close(a, b) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=TOLERANCE, abs_tol=TOLERANCE)


def main() -> None:
    gpu = layers(Path(sys.argv[1]) / "degrees" / "fit_end.json")
    cpu = layers(Path(sys.argv[2]) / "degrees.json")
    ok = gpu.keys() == cpu.keys()
    if not ok:
        print(f"layers differ: GPU {sorted(gpu)} vs CPU {sorted(cpu)}")
    for name in sorted(gpu.keys() & cpu.keys()):
        g, c = gpu[name], cpu[name]
        same_degrees = g["degrees"] == c["degrees"]
        fits = {f: close(g["fit"].get(f), c["fit"].get(f)) for f in FIELDS}
        bounds = (g["fit"]["xmin"], g["fit"]["xmax"]) == (c["fit"]["xmin"], c["fit"]["xmax"])
        good = same_degrees and bounds and all(fits.values())
        ok &= good
        print(f"{name:12s} degrees {'equal' if same_degrees else 'DIFFER'}  "
              f"xmin/xmax {'equal' if bounds else 'DIFFER'}  "
              + "  ".join(f"{f} {'ok' if v else 'DIFFER'}" for f, v in fits.items()))  # fmt: skip
    print("GPU vs CPU:", "identical within 1e-9" if ok else "DIFFERENT")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
