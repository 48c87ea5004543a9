"""Time ``python -m pl_powerlaw analyze`` on a VGG-16 (138M weights) stage by stage.

A randomly initialised VGG-16 is saved with torchvision's key names (our net's state dict
without the ``weight_mask`` buffers, as in ``vgg16-397923af.pth``) into a temporary folder; that
is not timed. Then the stages of the command run one after the other, as ``analyze`` runs them,
with Han et al.'s (2015) preset and no bootstrap:

    load -> prune -> degrees -> fits -> plots (PNGs, degrees.json, TensorBoard)

Each stage's wall-clock seconds and the total are printed. Target: total under 10 s on 2 CPU
cores.

    python benchmarks/analyze_speed.py [--net vgg16] [--preset han2015_vgg16] [--legacy-format]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

from pl_powerlaw.analysis import DegreeReport, FitOptions, fit_layers, to_numpy
from pl_powerlaw.analyze import prune_net, write_outputs
from pl_powerlaw.checkpoints import load_net
from pl_powerlaw.connectivity import node_degrees
from pl_powerlaw.models.registry import build_net


def save_state_dict(net_name: str, path: Path, legacy: bool = False) -> int:
    """Save a random ``net_name`` without its masks (torchvision's key names); returns its weights."""
    torch.manual_seed(0)
    net = build_net(net_name)
    state = {k: v for k, v in net.state_dict().items() if not k.endswith("weight_mask")}
    torch.save(state, path, _use_new_zipfile_serialization=not legacy)
    return sum(p.numel() for p in net.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--net", default="vgg16")
    parser.add_argument("--preset", default="han2015_vgg16")
    parser.add_argument("--legacy-format", action="store_true", help="save without zip (no mmap)")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{args.net}.pth"
        t0 = time.perf_counter()
        n_weights = save_state_dict(args.net, path, args.legacy_format)
        size = path.stat().st_size / 2**20
        print(
            f"setup (not timed): {args.net}, {n_weights / 1e6:.1f}M parameters, "
            f"{size:.0f} MiB file, {time.perf_counter() - t0:.1f} s"
        )
        timings: dict[str, float] = {}

        def timed(stage: str, func, *a, **kw):
            start = time.perf_counter()
            result = func(*a, **kw)
            timings[stage] = time.perf_counter() - start
            return result

        net, _, info = timed("load", load_net, path, lambda: build_net(args.net))
        timed("prune", prune_net, net, None, args.preset)
        degrees = timed("degrees", lambda module: to_numpy(node_degrees(module)), net)
        del net
        layers = timed("fits", fit_layers, degrees, FitOptions(n_boot=0, compare=False))
        report = DegreeReport("analyze", tuple(layers), info["epoch"], info["global_step"])
        timed("plots", write_outputs, Path(tmp) / "out", report)
    nodes = sum(d.size for d in degrees.values())
    print(
        f"{len(degrees)} node layers, {nodes} nodes, n_boot=0, torch threads {torch.get_num_threads()}"
    )
    for stage, seconds in timings.items():
        print(f"{stage:<8} {seconds:7.2f} s")
    total = sum(timings.values())
    print(f"{'total':<8} {total:7.2f} s   (target < 10 s: {'met' if total < 10 else 'NOT met'})")
    sys.exit(0 if total < 10 else 1)


if __name__ == "__main__":
    main()
