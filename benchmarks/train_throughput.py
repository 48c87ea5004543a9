"""One MLP training epoch through Lightning vs a minimal hand-written PyTorch loop.

Both run in this process, alternating, over the same in-memory tensors (the MNIST data module's
50,000 training images, or random tensors of the same shape when MNIST is not found), with the
same batch size, net, optimiser and batch construction (``InMemoryImageDataset.__getitems__``).
The Lightning epoch is timed from ``on_train_epoch_start`` to ``on_train_epoch_end`` (logging and
the torchmetrics accuracy included, no validation); the hand loop is timed around its epoch.
Prints each repeat, the samples per second and the median ratio Lightning / hand loop; exits 1
when it misses the target (<= 1.03 on the CPU, <= 1.05 on a GPU).

With ``--accelerator gpu`` the images live on the GPU (as the data modules put them there), both
loops gather their batches there, and the clocks synchronise with the device.

    python benchmarks/train_throughput.py [--repeats 5] [--batch-size 500] [--accelerator gpu]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from lightning.pytorch import Callback, Trainer, seed_everything

from pl_powerlaw.data.mnist import MNISTDataModule
from pl_powerlaw.data.tensors import InMemoryImageDataset, batch_loader
from pl_powerlaw.models import MLP, ImageClassifier

TARGETS = {"cpu": 1.03, "gpu": 1.05}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def sgd(params):
    return torch.optim.SGD(params, lr=0.01, momentum=0.9, nesterov=True)


def training_set() -> tuple[InMemoryImageDataset, str]:
    try:
        data = MNISTDataModule(download=False, progress=False)
        data.setup("fit")
        return data.train_set, "MNIST (50,000 training images)"
    except Exception as error:  # no data here: the same shapes, random pixels
        images = torch.randint(0, 256, (50_000, 1, 28, 28), dtype=torch.uint8)
        return InMemoryImageDataset(images, torch.randint(0, 10, (50_000,))), f"random ({error})"


class EpochTimer(Callback):
    def on_train_epoch_start(self, trainer, pl_module):
        sync(pl_module.device)
        self.start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module):
        sync(pl_module.device)
        self.seconds = time.perf_counter() - self.start


def lightning_epoch(dataset, batch_size: int, accelerator: str) -> float:
    model = ImageClassifier(MLP(), optimizer=sgd)
    loader = batch_loader(
        dataset, batch_size, shuffle=True, generator=torch.Generator().manual_seed(0)
    )
    timer = EpochTimer()
    trainer = Trainer(
        max_epochs=1,
        accelerator=accelerator,
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        callbacks=[timer],
    )
    trainer.fit(model, train_dataloaders=loader)
    return timer.seconds


def hand_epoch(dataset, batch_size: int, device: torch.device) -> float:
    net = MLP().to(device)
    net.train()
    optimizer = sgd(net.parameters())
    generator = torch.Generator().manual_seed(0)
    sync(device)
    start = time.perf_counter()
    order = torch.randperm(len(dataset), generator=generator)
    for begin in range(0, len(dataset), batch_size):
        x, y = dataset.__getitems__(order[begin : begin + batch_size])
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        optimizer.step()
    sync(device)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--accelerator", choices=sorted(TARGETS), default="cpu")
    args = parser.parse_args()
    seed_everything(0, verbose=False)
    device = torch.device("cuda" if args.accelerator == "gpu" else "cpu")
    dataset, what = training_set()
    dataset.to_device(device)
    print(
        f"data: {what} on {device}; batch {args.batch_size}; torch threads {torch.get_num_threads()}"
    )
    hand_epoch(dataset, args.batch_size, device)  # warm-up (allocator, kernels)
    ratios, rates = [], []
    for repeat in range(args.repeats):
        hand = hand_epoch(dataset, args.batch_size, device)
        lightning = lightning_epoch(dataset, args.batch_size, args.accelerator)
        ratios.append(lightning / hand)
        rates.append(len(dataset) / lightning)
        print(
            f"repeat {repeat}: hand loop {hand:6.2f} s  lightning {lightning:6.2f} s  ratio "
            f"{ratios[-1]:.3f}  ({rates[-1]:,.0f} samples/s)"
        )
    median = statistics.median(ratios)
    target = TARGETS[args.accelerator]
    met = median <= target
    print(
        f"median ratio lightning / hand loop ({args.accelerator}): {median:.3f} "
        f"(target <= {target}: {'met' if met else 'NOT met'}); "
        f"{statistics.median(rates):,.0f} samples/s through Lightning"
    )
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
