"""A net named by an import path (``analyze --model``, a saved config's ``class_path``) with its weights.

``torchvision.models.X`` is built by :func:`pl_powerlaw.models.vision.torchvision_model` (the
``vision`` extra); an ``nn.Module`` class by :func:`pl_powerlaw.checkpoints.net_from_class_path`;
a function returning an ``nn.Module`` (a config's function ``class_path``, e.g.
``pl_powerlaw.models.vision.torchvision_model``) is called with the saved ``init_args``. Weights come
from a file (:func:`pl_powerlaw.checkpoints.load_net`), from torchvision's weights API, or are
random, seeded.

Example:
    >>> net, description, info = build_model("pl_powerlaw.models.LeNet", seed=0)
    >>> description
    'pl_powerlaw.models.LeNet with random initial weights (seed 0; not trained)'
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pl_powerlaw.checkpoints import find_saved_net, net_from_class_path
from pl_powerlaw.errors import InputError
from pl_powerlaw.models import vision
from pl_powerlaw.nn import prunable_weights
from pl_powerlaw.nn.convert import to_masked

Builder = Callable[[], nn.Module]


class ModelError(InputError):
    """A ``--model`` or weights choice that cannot be used (one-line message)."""


def model_source(
    checkpoint: str | None,
    state_dict: str | None,
    model: str | None,
    net: str | None,
    weights: str | None,
) -> tuple[Path | None, str]:
    """Check which weights ``analyze``'s arguments ask for.

    Args:
        checkpoint: the positional file argument.
        state_dict: ``--state-dict``.
        model: ``--model``.
        net: ``--net`` (a registered name).
        weights: ``--weights``.

    Returns:
        ``(file, stem)``: the weights file (None: torchvision's weights or random ones) and the
        name of the default output folder (the file's stem, ``<model>_<weights>`` or
        ``<model>_random``).

    Raises:
        ModelError: contradicting or missing arguments, naming them.
    """
    if checkpoint is not None and state_dict is not None:
        raise ModelError(
            f"checkpoint {checkpoint!r} and --state-dict {state_dict!r}: both name the weights "
            "file, give one of them"
        )
    file = checkpoint if checkpoint is not None else state_dict
    if model is None:
        for flag, value in (("--weights", weights), ("--state-dict", state_dict)):
            if value is not None:
                raise ModelError(f"{flag} {value!r}: expected --model with it")
        if file is None:
            raise ModelError(
                "Expected a checkpoint file, or --model (torchvision.models.NAME or an nn.Module "
                "class path)"
            )
        return Path(file), Path(file).stem
    if net is not None:
        raise ModelError(f"--net {net!r} and --model {model!r}: give one of them")
    if weights is not None and file is not None:
        raise ModelError(f"--weights {weights!r} and the weights file {file!r}: give one of them")
    name = model.rpartition(".")[2]
    if file is not None:
        return Path(file), Path(file).stem
    if weights is not None:
        return None, f"{name}_{weights.rpartition('.')[2]}"
    return None, f"{name}_random"


def _import(path: str) -> Any:
    module, _, attr = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError):
        raise ModelError(
            f"Cannot import {path!r}: expected torchvision.models.NAME or the import path of an "
            "nn.Module class"
        ) from None


def _call(function: Callable[..., Any], path: str, kwargs: dict[str, Any]) -> nn.Module:
    try:
        net = function(**kwargs)
    except TypeError as error:
        raise ModelError(f"Cannot build {path}: {' '.join(str(error).split())}") from None
    if not isinstance(net, nn.Module):
        raise ModelError(f"Expected {path} to return an nn.Module but got {type(net).__name__}")
    return net


def model_builder(path: str, init_args: dict[str, Any] | None = None) -> Builder:
    """A function that builds the net named by ``path`` with ``init_args`` (random weights).

    Raises:
        ModelError, vision.VisionError: ``path`` cannot be imported (torchvision missing, an
            unknown builder) or is neither a class nor a function.
    """
    kwargs = dict(init_args or {})
    if vision.is_torchvision_name(path):
        vision.resolve_builder(path)  # torchvision missing or an unknown name: one line, now
        return lambda: vision.torchvision_model(path, builder_args=kwargs)
    target = _import(path)
    if isinstance(target, type):
        return lambda: net_from_class_path(path, kwargs)
    if callable(target):
        return lambda: _call(target, path, kwargs)
    raise ModelError(f"Expected {path!r} to be an nn.Module class or a function returning one")


def saved_builder(checkpoint: str | os.PathLike) -> tuple[Builder, str] | None:
    """``(builder, class_path)`` when the config saved beside ``checkpoint`` names its net by a
    function (a torchvision builder): :func:`pl_powerlaw.checkpoints.load_net` builds classes only.
    None otherwise (then ``load_net`` reads the config itself)."""
    saved = find_saved_net(checkpoint)
    if saved is None:
        return None
    try:
        if isinstance(_import(saved[0]), type):
            return None
    except ModelError:
        return None  # load_net names the class that cannot be imported
    return model_builder(*saved), saved[0]


def build_model(
    path: str, weights: str | None = None, seed: int = 0
) -> tuple[nn.Module, str, dict[str, Any]]:
    """Build the net ``path`` with torchvision's ``weights``, or random ones seeded by ``seed``.

    Returns:
        ``(net, description, info)`` as :func:`pl_powerlaw.checkpoints.load_net` returns them:
        plain layers are masked (``info["converted"]``); the description says where the weights
        came from ("random initial weights ... not trained").

    Raises:
        ModelError, vision.VisionError: an unusable name, weights for a non-torchvision net, or
            weights that cannot be downloaded.
    """
    if weights is not None:
        if not vision.is_torchvision_name(path):
            raise ModelError(f"--weights: expected a torchvision --model but got {path!r}")
        net = vision.torchvision_model(path, weights=weights)
        description = f"{path} with weights {weights}"
    else:
        build = model_builder(path)
        torch.manual_seed(seed)
        net = build()
        description = f"{path} with random initial weights (seed {seed}; not trained)"
    converted = [] if any(True for _ in prunable_weights(net)) else to_masked(net)
    return net, description, {"epoch": None, "global_step": None, "converted": converted}
