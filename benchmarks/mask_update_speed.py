"""Time one mask update (drop + grow) on the paper's MLP against one training epoch.

The MLP of Section 3 (784-1024-1024-10, dropout, SGD with Nesterov momentum) at 90% sparsity of
its hidden layers (ERK masks), batch 500, 100 steps an epoch (50,000 MNIST images; random
images here, no download). Timed, as medians over ``--repeats`` rounds:

* ``epoch``: ``--steps`` training steps (forward, backward, optimizer step) scaled to 100;
* one update of each method by :func:`pl_powerlaw.dynamic.step.prune_and_regrow`: SET (signed
  drop, random growth), preferential regrowth (signed drop, ``(k_i k_j)^beta`` growth, with the
  degrees read through the traced graph) and RigL (magnitude drop, top-|gradient| growth);
* RigL's dense-gradient step: a training step with the masks opened (how
  :class:`pl_powerlaw.callbacks.RigL` gets the dense gradient) minus an ordinary step, against
  the backward pass alone.

Targets: an update at most 5% of an epoch (one update per epoch), RigL's dense gradient at most
one extra backward pass. Prints the ratios; exits with status 1 when a target is missed.

    python benchmarks/mask_update_speed.py [--repeats 5] [--threads 2] [--steps 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
import torch.nn.functional as F

from pl_powerlaw.connectivity import trace_graph
from pl_powerlaw.dynamic import layer_densities
from pl_powerlaw.dynamic.step import install_random_masks, prune_and_regrow
from pl_powerlaw.models import MLP

LAYERS = ("fc1", "fc2")
STEPS_PER_EPOCH = 100


def setup():
    torch.manual_seed(0)
    net = MLP()
    shapes = {name: tuple(net.get_submodule(name).weight.shape) for name in LAYERS}
    install_random_masks(net, layer_densities(shapes, 0.1), torch.Generator().manual_seed(0))
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    x, y = torch.randn(500, 1, 28, 28), torch.randint(0, 10, (500,))
    return net, optimizer, x, y


def step(net, optimizer, x, y) -> float:
    start = time.perf_counter()
    optimizer.zero_grad()
    F.cross_entropy(net(x), y).backward()
    optimizer.step()
    return time.perf_counter() - start


def backward_time(net, x, y) -> float:
    loss = F.cross_entropy(net(x), y)
    start = time.perf_counter()
    loss.backward()
    return time.perf_counter() - start


def opened_step(net, optimizer, x, y) -> tuple[float, dict]:
    """A step with the masks opened for the backward (RigL's dense gradient), masks closed again."""
    start = time.perf_counter()
    masks = {n: net.get_submodule(n).weight_mask.clone() for n in LAYERS}
    for n in LAYERS:
        net.get_submodule(n).weight_mask.fill_(1)
    optimizer.zero_grad()
    F.cross_entropy(net(x), y).backward()
    grads = {}
    for n in LAYERS:
        layer = net.get_submodule(n)
        grads[n] = layer.weight.grad.clone()
        layer.weight_mask.copy_(masks[n])
        layer.weight.grad.mul_(masks[n])
    optimizer.step()
    return time.perf_counter() - start, grads


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10, help="steps timed for the epoch")
    parser.add_argument("--update-target", type=float, default=0.05)
    parser.add_argument("--backward-target", type=float, default=1.0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    net, optimizer, x, y = setup()
    graph = trace_graph(net)
    generator = torch.Generator().manual_seed(1)
    step(net, optimizer, x, y)  # warm-up
    times: dict[str, list[float]] = {
        k: [] for k in ("epoch", "SET", "preferential", "RigL", "dense_extra", "backward")
    }
    for _ in range(args.repeats):
        steps = [step(net, optimizer, x, y) for _ in range(args.steps)]
        times["epoch"].append(statistics.median(steps) * STEPS_PER_EPOCH)
        ordinary = statistics.median([step(net, optimizer, x, y) for _ in range(5)])
        runs = [opened_step(net, optimizer, x, y) for _ in range(5)]
        opened, grads = statistics.median(t for t, _ in runs), runs[-1][1]
        times["dense_extra"].append(max(opened - ordinary, 0.0))
        times["backward"].append(backward_time(net, x, y))
        for name, drop, grow in (
            ("SET", "signed", "random"),
            ("preferential", "signed", "preferential"),
            ("RigL", "magnitude", "gradient"),
        ):
            start = time.perf_counter()
            prune_and_regrow(
                net,
                LAYERS,
                0.3,
                drop,
                grow,
                generator,
                gradients=grads,
                graph=graph,
                optimizers=[optimizer],
            )
            times[name].append(time.perf_counter() - start)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(
        f"MLP 784-1024-1024-10, 90% sparse hidden layers, {args.threads} threads, "
        f"{args.repeats} rounds (medians)"
    )
    print(f"  epoch (100 steps of batch 500): {med['epoch']:.3f} s")
    failed = False
    for name in ("SET", "preferential", "RigL"):
        ratio = med[name] / med["epoch"]
        ok = ratio <= args.update_target
        failed |= not ok
        print(
            f"  {name:13s} update {med[name] * 1000:7.1f} ms = {ratio:6.2%} of an epoch "
            f"(target <= {args.update_target:.0%}) {'ok' if ok else 'MISSED'}"
        )
    ratio = med["dense_extra"] / med["backward"]
    ok = ratio <= args.backward_target
    failed |= not ok
    print(
        f"  RigL dense gradient: +{med['dense_extra'] * 1000:.1f} ms over an ordinary step = "
        f"{ratio:.2f} backward passes ({med['backward'] * 1000:.1f} ms; target <= "
        f"{args.backward_target:g}) {'ok' if ok else 'MISSED'}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
