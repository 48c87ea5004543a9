"""The global random states as checkpoint content: a resumed run continues the same streams.

Dropout and any unseeded shuffle draw from torch's, numpy's and python's global generators;
:class:`pl_powerlaw.models.ImageClassifier` stores them in every checkpoint (``RNG_KEY``) and
restores them on load, so an interrupted run resumes bit for bit. Only types that
``torch.load(weights_only=True)`` accepts are stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

RNG_KEY = "pl_powerlaw_rng_states"


def rng_state() -> dict[str, Any]:
    """The global random states (torch CPU and CUDA, numpy, python) as checkpoint-safe values.

    Dropout and any unseeded shuffle draw from these states; a checkpoint that holds them resumes
    bit for bit. Only types that ``torch.load(weights_only=True)`` accepts are used (tensors,
    lists, ints, floats, strings).
    """
    import random

    import numpy as np

    kind, keys, pos, has_gauss, gauss = np.random.get_state()  # noqa: NPY002 (the global one)
    version, python_state, python_gauss = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": [
            str(kind),
            torch.from_numpy(keys.astype(np.int64)),
            int(pos),
            int(has_gauss),
            float(gauss),
        ],
        "python": [int(version), list(python_state), python_gauss],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore the states taken by :func:`rng_state` (absent entries are left as they are)."""
    import random

    import numpy as np

    if "torch" in state:
        torch.set_rng_state(state["torch"])
    if "numpy" in state:
        kind, keys, pos, has_gauss, gauss = state["numpy"]
        np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))  # noqa: NPY002
    if "python" in state:
        version, python_state, python_gauss = state["python"]
        random.setstate((version, tuple(python_state), python_gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
