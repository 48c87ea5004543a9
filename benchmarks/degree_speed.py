"""Time all node degrees of VGG-16 and ResNet-50 against one ``torch.count_nonzero`` pass.

* VGG-16 (138M weights, random init) gets random masks with Han et al.'s (2015) kept fractions
  (``han2015_vgg16``, output layer included); a chain of our masked layers.
* ResNet-50 (25.5M weights; bottleneck blocks [3, 4, 6, 3], 1x1 downsampling shortcuts, BatchNorm)
  is built here from plain torch layers (no torchvision needed), pruned to 10% kept by random exact
  zeros and converted with :func:`pl_powerlaw.nn.to_masked`: a DAG of masked layers.

In one run, ``--repeats`` interleaved rounds (one call of each candidate per round) of

* the floor: ``torch.count_nonzero`` of every learnable layer's weight (reads each weight once);
* ``trace`` (the meta-device trace of the forward);
* ``node_degrees`` end to end (trace + kept entries + degrees), the number compared to the floor;
* the path through the dense count matrices (``connection_counts`` / ``edge_counts``);

and the median times and median per-round ratios to the floor are printed. Target: ``node_degrees`` within 3x the floor for both
nets; the script exits with status 1 when a target is missed.

    python benchmarks/degree_speed.py [--repeats 5] [--threads 1] [--target 3.0] [--nets ...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import torch
from torch import Tensor, nn

from pl_powerlaw.connectivity import (
    connection_counts,
    degrees_from_counts,
    degrees_from_edge_counts,
    edge_counts,
    kept_entries,
    learnable_layers,
    node_degrees,
    trace_chain,
    trace_graph,
)
from pl_powerlaw.models.presets import preset_fractions
from pl_powerlaw.models.vgg import VGG16
from pl_powerlaw.nn import masked_modules, to_masked


class Bottleneck(nn.Module):
    """ResNet-50's bottleneck: 1x1 reduce, 3x3 (stride), 1x1 expand x4, shortcut, add, ReLU."""

    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        width = planes * self.expansion
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, width, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_planes != width:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_planes, width, 1, stride=stride, bias=False), nn.BatchNorm2d(width)
            )

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += identity
        return self.relu(out)


class ResNet50(nn.Module):
    """A ResNet-50 (He et al., 2016) on 3 x 224 x 224 inputs, from plain torch layers."""

    input_shape = (3, 224, 224)

    def __init__(self, num_classes: int = 1000, blocks: tuple[int, ...] = (3, 4, 6, 3)) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        stages, in_planes = [], 64
        for i, n in enumerate(blocks):
            planes = 64 * 2**i
            stage = []
            for j in range(n):
                stage.append(Bottleneck(in_planes, planes, stride=2 if i > 0 and j == 0 else 1))
                in_planes = planes * Bottleneck.expansion
            stages.append(nn.Sequential(*stage))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_planes, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


DEVICE = torch.device("cpu")  # --device: where the nets live and the degrees are counted


def sync() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize(DEVICE)


def interleaved(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Seconds of each of ``fns`` over ``repeats`` rounds (one call of each per round, after one
    warm-up round), so that a load spike on this shared machine hits every candidate alike."""
    for fn in fns.values():
        fn()
    sync()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            sync()
            times[name].append(time.perf_counter() - start)
    return times


def report(times: dict[str, list[float]], floor: str = "count_nonzero floor") -> dict[str, float]:
    """Print the median time of each candidate and its median per-round ratio to ``floor``."""
    ratios = {}
    for name, values in times.items():
        ratio = statistics.median(v / f for v, f in zip(values, times[floor], strict=True))
        ratios[name] = ratio
        print(f"  {name:<30}{statistics.median(values) * 1e3:9.1f} ms   {ratio:5.2f}x")
    return ratios


def sparse_vgg16(seed: int = 0) -> VGG16:
    """A VGG-16 with random masks keeping Han et al.'s fractions of every layer."""
    torch.manual_seed(seed)
    net = VGG16()
    fractions = preset_fractions("han2015_vgg16", net)
    for name, layer in masked_modules(net):
        layer.set_mask(torch.rand_like(layer.weight) >= fractions[name])
    return net


def sparse_resnet50(seed: int = 0, kept: float = 0.1) -> ResNet50:
    """A ResNet-50 with ``kept`` of every weight left by random exact zeros, then masked layers."""
    torch.manual_seed(seed)
    net = ResNet50()
    with torch.no_grad():
        for name in learnable_layers(net):
            weight = net.get_submodule(name).weight
            weight.mul_(torch.rand_like(weight) < kept)
    to_masked(net)
    return net


def bench_vgg16(repeats: int) -> float:
    start = time.perf_counter()
    net = sparse_vgg16().to(DEVICE)
    weights = [layer.weight for _, layer in masked_modules(net)]
    n_weights = sum(w.numel() for w in weights)
    kept = sum(int(layer.weight_mask.sum()) for _, layer in masked_modules(net))
    print(
        f"VGG-16: {n_weights:,} masked weights, {kept / n_weights:.1%} kept "
        f"(built in {time.perf_counter() - start:.1f} s)"
    )
    layers = [name for name, _ in masked_modules(net)]  # fc8 too, as the preset prunes it
    chain = trace_chain(net, layers=layers)

    def via_counts() -> list:
        return degrees_from_counts(connection_counts(chain, kept_entries(net, chain)))

    with torch.no_grad():
        times = interleaved(
            {
                "count_nonzero floor": lambda: [torch.count_nonzero(w) for w in weights],
                "trace_graph": lambda: trace_graph(net, layers=layers),
                "node_degrees (all layers)": lambda: node_degrees(net, layers=layers),
                "counts -> degrees_from_counts": via_counts,
            },
            repeats,
        )
    fast = list(node_degrees(net, layers=layers).values())
    assert all(torch.equal(a, b) for a, b in zip(fast, via_counts(), strict=True))
    ratios = report(times)
    return ratios["node_degrees (all layers)"]


def same_shapes_as_torchvision(net: nn.Module) -> str:
    """Check that ``net``'s tensors have the names and shapes of torchvision's ``resnet50``
    (when torchvision imports: the vision extra); returns what was checked, for the log."""
    try:
        from torchvision.models import resnet50
    except Exception:  # the base install has no torchvision
        return "torchvision not importable: shapes not compared"
    with torch.device("meta"):
        theirs = {k: v.shape for k, v in resnet50().state_dict().items()}
    ours = {k: v.shape for k, v in net.state_dict().items() if not k.endswith("weight_mask")}
    assert ours == theirs, "the ResNet-50 here differs from torchvision's"
    return f"names and shapes of all {len(theirs)} tensors equal torchvision's resnet50"


def bench_resnet50(repeats: int) -> float:
    start = time.perf_counter()
    net = sparse_resnet50()
    print(f"ResNet-50: {same_shapes_as_torchvision(net)}")
    net = net.to(DEVICE)
    names = learnable_layers(net)
    weights = [net.get_submodule(name).weight for name in names]
    n_weights = sum(w.numel() for w in weights)
    kept = sum(int(torch.count_nonzero(w)) for w in weights)
    print(
        f"ResNet-50: {n_weights:,} weights in {len(names)} layers, {kept / n_weights:.1%} kept "
        f"(built in {time.perf_counter() - start:.1f} s)"
    )
    graph = trace_graph(net)

    def via_counts() -> dict:
        return degrees_from_edge_counts(graph, edge_counts(graph, kept_entries(net, graph)))

    with torch.no_grad():
        times = interleaved(
            {
                "count_nonzero floor": lambda: [torch.count_nonzero(w) for w in weights],
                "trace_graph": lambda: trace_graph(net),
                "node_degrees (all layers)": lambda: node_degrees(net),
                "edge_counts -> degrees": via_counts,
            },
            repeats,
        )
    fast = node_degrees(net)
    slow = via_counts()
    assert list(fast) == list(slow) and all(torch.equal(fast[k], slow[k]) for k in fast)
    connections = sum(int(m.sum()) for m in edge_counts(graph, kept_entries(net, graph)).values())
    assert sum(int(d.sum()) for d in fast.values()) == 2 * connections
    print(f"  {len(graph.node_layers)} node layers, {len(graph.edges)} (producer, consumer) pairs")
    ratios = report(times)
    return ratios["node_degrees (all layers)"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads for both sides (default 1: on a shared 2-core machine two threads "
        "stall at every parallel region whenever another process runs, which swamps the ratio)",
    )
    parser.add_argument("--target", type=float, default=3.0, help="largest ratio to the floor")
    parser.add_argument("--nets", nargs="+", default=["vgg16", "resnet50"])
    parser.add_argument("--device", default="cpu", help="cpu or cuda: where the nets live")
    args = parser.parse_args()
    global DEVICE
    DEVICE = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"{torch.get_num_threads()} threads, {args.repeats} interleaved rounds, on {DEVICE}")
    benches = {"vgg16": bench_vgg16, "resnet50": bench_resnet50}
    missed = []
    for name in args.nets:
        ratio = benches[name](args.repeats)
        if ratio > args.target:
            missed.append(f"{name} {ratio:.2f}x")
    if missed:
        print(f"MISSED the target of {args.target}x: {', '.join(missed)}")
        return 1
    print(f"all within {args.target}x of the floor")
    return 0


if __name__ == "__main__":
    sys.exit(main())
