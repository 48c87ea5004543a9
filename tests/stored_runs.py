"""The stored quick continual runs of docs/continual.md (``tests/data/preferential/``).

``continual_mnist_<s>_quick.npz`` holds the trunk of the net at the end of

    PL_POWERLAW_DATA=... python -m pl_powerlaw fit --config configs/continual_mnist_<s>_quick.yaml

(seed 0, 2 CPU threads, 2026-12-01): for ``fc1`` and ``fc2`` the kept entries (``<layer>_kept``:
mask set and weight non-zero, bool) and the task owners (``<layer>_owner``: int8, -1 free, 0 task
A, 1 task B), written with ``np.savez_compressed`` from ``last.ckpt``. The degree and
preferential-attachment analyses read nothing else.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pl_powerlaw.models import MultiHeadMLP

DATA = Path(__file__).parent / "data" / "preferential"


def load_run(name: str) -> dict[str, np.ndarray]:
    """The arrays of the stored run ``name`` (``"s8"`` or ``"s26"``)."""
    with np.load(DATA / f"continual_mnist_{name}_quick.npz") as arrays:
        return {key: arrays[key] for key in arrays.files}


def rebuilt_net(arrays: dict[str, np.ndarray]) -> MultiHeadMLP:
    """The paper's 784-1024-1024 two-task trunk with the stored kept entries and owners."""
    net = MultiHeadMLP(num_tasks=2)
    with torch.no_grad():
        for layer_name in ("fc1", "fc2"):
            layer = getattr(net, layer_name)
            kept = torch.from_numpy(arrays[f"{layer_name}_kept"])
            layer.weight.copy_(kept.float())  # any non-zero weight on a kept entry
            layer.set_mask(kept)
            layer.weight_owner.copy_(torch.from_numpy(arrays[f"{layer_name}_owner"]))
    return net
