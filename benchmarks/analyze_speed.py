"""Time ``python -m pl_powerlaw analyze`` on VGG-16 (138M weights) and ResNet-50 stage by stage.

A randomly initialised net is saved with torchvision's key names (a plain state dict without
``weight_mask`` buffers, as in ``vgg16-397923af.pth``) into a temporary folder; that is not timed.
Then the stages of the command run one after the other, as ``analyze`` runs them, with no
bootstrap:

    load -> prune -> degrees -> fits -> plots (PNGs, degrees.json, TensorBoard)

* VGG-16: our chain of masked layers, Han et al.'s (2015) preset. Target: total under 10 s.
* ResNet-50: torchvision's ``resnet50`` when torchvision imports (the vision extra), else the
  same net from plain torch layers (``benchmarks/degree_speed.py``, whose layer shapes equal
  torchvision's); plain layers, so ``load`` masks them (``nn.to_masked``) as for a torchvision
  file; 90% of each hidden layer pruned (``--prune 0.9``). Target: total under 15 s.

Each stage's wall-clock seconds and the total are printed; the exit status is 1 when a target
is missed.

    python benchmarks/analyze_speed.py [--nets vgg16 resnet50] [--legacy-format]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from pl_powerlaw.analysis import DegreeReport, FitOptions, fit_layers, to_numpy
from pl_powerlaw.analyze import prune_net, write_outputs
from pl_powerlaw.checkpoints import load_net
from pl_powerlaw.connectivity import node_degrees
from pl_powerlaw.models.registry import build_net

# the target of each net: total seconds of all stages
TARGETS = {"vgg16": 10.0, "resnet50": 15.0}


def resnet50_builder() -> tuple[Callable[[], nn.Module], str]:
    """torchvision's ResNet-50 when torchvision imports, else degree_speed.py's (same shapes)."""
    from pl_powerlaw.models.vision import torchvision_available, torchvision_model

    if torchvision_available():
        return (lambda: torchvision_model("resnet50")), "torchvision.models.resnet50"
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # no torchvision: the base install
    from degree_speed import ResNet50

    return ResNet50, "benchmarks/degree_speed.py ResNet50 (torchvision not importable)"


def setup(name: str) -> tuple[Callable[[], nn.Module], float | None, str | None, str]:
    """``(builder, prune fraction, preset, description)`` of a benchmarked net."""
    if name == "vgg16":
        return (lambda: build_net("vgg16")), None, "han2015_vgg16", "VGG-16 (ours, masked layers)"
    if name == "resnet50":
        build, description = resnet50_builder()
        return build, 0.9, None, description
    raise SystemExit(f"unknown net {name!r}: expected one of {sorted(TARGETS)}")


def save_state_dict(build: Callable[[], nn.Module], path: Path, legacy: bool = False) -> int:
    """Save a random net without its masks (torchvision's key names); returns its weights."""
    torch.manual_seed(0)
    net = build()
    state = {k: v for k, v in net.state_dict().items() if not k.endswith("weight_mask")}
    torch.save(state, path, _use_new_zipfile_serialization=not legacy)
    return sum(p.numel() for p in net.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", nargs="+", default=list(TARGETS), choices=list(TARGETS))
    parser.add_argument("--legacy-format", action="store_true", help="save without zip (no mmap)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda: where prune and degrees run")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    missed = [name for name in args.nets if not bench(name, args.legacy_format, args.device)]
    sys.exit(1 if missed else 0)


def bench(name: str, legacy: bool, device: str = "cpu") -> bool:
    """Time every stage of ``analyze`` on ``name``; True when the total meets its target."""
    build, fraction, preset, description = setup(name)
    how = f"preset {preset}" if preset else f"--prune {fraction}"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.pth"
        t0 = time.perf_counter()
        n_weights = save_state_dict(build, path, legacy)
        size = path.stat().st_size / 2**20
        print(
            f"== {name}: {description}, {how}\nsetup (not timed): {n_weights / 1e6:.1f}M "
            f"parameters, {size:.0f} MiB file, {time.perf_counter() - t0:.1f} s"
        )
        timings: dict[str, float] = {}

        def timed(stage: str, func, *a, **kw):
            start = time.perf_counter()
            result = func(*a, **kw)
            timings[stage] = time.perf_counter() - start
            return result

        net, _, info = timed("load", load_net, path, build)
        net = timed("to device", net.to, device) if device != "cpu" else net
        timed("prune", prune_net, net, fraction, preset)
        degrees = timed("degrees", lambda module: to_numpy(node_degrees(module)), net)
        del net
        layers = timed("fits", fit_layers, degrees, FitOptions(n_boot=0, compare=False))
        report = DegreeReport("analyze", tuple(layers), info["epoch"], info["global_step"])
        timed("plots", write_outputs, Path(tmp) / "out", report)
    nodes = sum(d.size for d in degrees.values())
    print(
        f"{len(degrees)} node layers, {nodes} nodes, n_boot=0, torch threads "
        f"{torch.get_num_threads()}, prune and degrees on {device}"
    )
    for stage, seconds in timings.items():
        print(f"{stage:<8} {seconds:7.2f} s")
    total = sum(timings.values())
    target = TARGETS[name]
    met = total < target
    print(f"{'total':<8} {total:7.2f} s   (target < {target:g} s: {'met' if met else 'NOT met'})")
    return met


if __name__ == "__main__":
    main()
