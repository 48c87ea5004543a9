"""Time all node degrees of a VGG-16 against one ``torch.count_nonzero`` pass over its weights.

A VGG-16 (138M weights, random init) gets random masks with Han et al.'s (2015) kept fractions
(``han2015_vgg16``, output layer included). Then, in one run, the median of ``--repeats`` timings of

* the floor: ``torch.count_nonzero`` of every masked layer's weight (reads each weight once);
* ``trace_chain`` (meta-device trace of the forward);
* ``node_degrees`` end to end (trace + kept entries + degrees), the number to compare to the floor;
* ``degrees_from_counts(connection_counts(...))``, the path through the dense count matrices;

and the ratios to the floor are printed. Target: ``node_degrees`` within a few x of the floor.

    python benchmarks/degree_speed.py [--repeats 5] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from pl_powerlaw.connectivity import (
    connection_counts,
    degrees_from_counts,
    kept_entries,
    node_degrees,
    trace_chain,
)
from pl_powerlaw.models.presets import preset_fractions
from pl_powerlaw.models.vgg import VGG16
from pl_powerlaw.nn import masked_modules


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Median wall-clock seconds of ``repeats`` calls of ``fn`` after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def sparse_vgg16(seed: int = 0) -> VGG16:
    """A VGG-16 with random masks keeping Han et al.'s fractions of every layer."""
    torch.manual_seed(seed)
    net = VGG16()
    fractions = preset_fractions("han2015_vgg16", net)
    for name, layer in masked_modules(net):
        layer.set_mask(torch.rand_like(layer.weight) >= fractions[name])
    return net


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    net = sparse_vgg16()
    weights = [layer.weight for _, layer in masked_modules(net)]
    n_weights = sum(w.numel() for w in weights)
    kept = sum(int(layer.weight_mask.sum()) for _, layer in masked_modules(net))
    print(
        f"VGG-16: {n_weights:,} masked weights, {kept / n_weights:.1%} kept "
        f"(built in {time.perf_counter() - start:.1f} s), {torch.get_num_threads()} threads, "
        f"median of {args.repeats}"
    )
    layers = [name for name, _ in masked_modules(net)]  # fc8 too, as the preset prunes it

    def floor() -> int:
        return sum(int(torch.count_nonzero(w)) for w in weights)

    def degrees() -> dict:
        return node_degrees(net, layers=layers)

    chain = trace_chain(net, layers=layers)

    def via_counts() -> list:
        return degrees_from_counts(connection_counts(chain, kept_entries(net, chain)))

    with torch.no_grad():
        t_floor = median_seconds(floor, args.repeats)
        t_trace = median_seconds(lambda: trace_chain(net, layers=layers), args.repeats)
        t_degrees = median_seconds(degrees, args.repeats)
        t_counts = median_seconds(via_counts, args.repeats)
    fast = list(degrees().values())
    assert all(torch.equal(a, b) for a, b in zip(fast, via_counts(), strict=True))
    print(f"count_nonzero floor          {t_floor * 1e3:8.1f} ms   1.00x")
    print(f"trace_chain                  {t_trace * 1e3:8.1f} ms   {t_trace / t_floor:.2f}x")
    print(f"node_degrees (all layers)    {t_degrees * 1e3:8.1f} ms   {t_degrees / t_floor:.2f}x")
    print(f"counts -> degrees_from_counts{t_counts * 1e3:8.1f} ms   {t_counts / t_floor:.2f}x")


if __name__ == "__main__":
    main()
