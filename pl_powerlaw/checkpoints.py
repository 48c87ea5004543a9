"""Read a net's weights from a Lightning checkpoint or a plain state dict, and put them in a net.

Two kinds of files are understood:

* a Lightning checkpoint (``{"state_dict": {"net.fc1.weight": ...}, "hyper_parameters": ...}``),
  as written by ``python -m pl_powerlaw fit``; the ``net.`` prefix of
  :class:`pl_powerlaw.models.ImageClassifier` is stripped;
* a plain state dict of the net alone, e.g. torchvision's ``vgg16-397923af.pth``, whose keys are
  the net's keys without the ``weight_mask`` buffers.

Masks missing from the file are taken as "kept where the weight is non-zero". Files are read
with ``torch.load(weights_only=True)`` (no code runs from the file) and memory-mapped when they
are zip archives, so a 528 MB VGG-16 file is not copied into memory before it is used.

Every failure raises :class:`CheckpointError` with a one-line message.
"""

from __future__ import annotations

import importlib
import os
import re
import warnings
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from pl_powerlaw.errors import InputError
from pl_powerlaw.nn.convert import to_masked
from pl_powerlaw.nn.masked import masked_modules
from pl_powerlaw.nn.recurrent import MASK_KEY, OWNER_KEY, mask_key, recurrent_matrices

PREFIX = "net."
CONFIG_NAME = "config.yaml"
MAX_LISTED = 5


class CheckpointError(InputError):
    """A checkpoint that cannot be read or does not fit the net (one-line message)."""


def read_checkpoint(path: str | os.PathLike) -> Any:
    """Load a checkpoint file on the CPU, safely (``weights_only``), memory-mapped when possible.

    Args:
        path: a ``.ckpt``/``.pt``/``.pth`` file written by ``torch.save``.

    Returns:
        The loaded object (usually a dict).

    Raises:
        CheckpointError: the file is missing, unreadable, or not a safe torch file.

    Example:
        >>> read_checkpoint("lightning_logs/version_0/checkpoints/last.ckpt")  # doctest: +SKIP
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"Expected a checkpoint file but {str(path)!r} is a folder")
    if not path.is_file():
        raise CheckpointError(f"Checkpoint file not found: {str(path)!r}")
    mmap = zipfile.is_zipfile(path)
    with open(path, "rb") as handle:
        head = handle.read(8)
    if not mmap and not head.startswith(PICKLE_MAGIC):
        raise CheckpointError(
            f"Cannot read {str(path)!r} as a torch checkpoint: expected a zip archive or a pickle "
            f"written by torch.save but got {path.stat().st_size} bytes beginning {head!r}"
        )
    try:
        with warnings.catch_warnings():  # torch warns about foreign pickles before it refuses them
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as error:  # torch raises many types for a corrupt or foreign file
        raise CheckpointError(_unreadable(path, error)) from None


PICKLE_MAGIC = b"\x80"  # pickle protocol 2+ (torch.save's legacy format)
_UNSUPPORTED = re.compile(r"Unsupported (global|operand)[: ]+(?:GLOBAL )?([^\s,]+)")


def _unreadable(path: Path, error: BaseException) -> str:
    """One line on why torch could not read ``path`` (never torch's advice to drop weights_only)."""
    text = " ".join(str(error).split())
    match = _UNSUPPORTED.search(text)
    if match and match.group(1) == "global":
        return (
            f"Cannot read {str(path)!r} as a torch checkpoint: expected tensors and plain Python "
            f"values but it holds the object {match.group(2)}, refused because loading it would "
            "run code from the file"
        )
    if match:
        detail = f"unknown pickle operand {match.group(2)}"
    elif "weights_only" in text or not text:
        detail = type(error).__name__
    else:
        detail = text[:200]
    return (
        f"Cannot read {str(path)!r} as a torch checkpoint: expected a file written by torch.save "
        f"but it is damaged or of another kind ({detail})"
    )


def extract_state_dict(obj: Any) -> tuple[dict[str, Tensor], bool]:
    """The net's state dict inside a loaded checkpoint.

    Args:
        obj: what :func:`read_checkpoint` returned.

    Returns:
        ``(state_dict, is_lightning)``: the net's tensors by key (``net.`` prefix removed) and
        whether ``obj`` was a Lightning checkpoint.

    Raises:
        CheckpointError: ``obj`` is neither a Lightning checkpoint nor a mapping of tensors.

    Example:
        >>> extract_state_dict({"state_dict": {"net.fc.weight": torch.zeros(2, 2)}})[0].keys()
        dict_keys(['fc.weight'])
    """
    if not isinstance(obj, Mapping):
        raise CheckpointError(
            f"Expected a state dict or a Lightning checkpoint but got {type(obj).__name__}"
        )
    is_lightning = isinstance(obj.get("state_dict"), Mapping)
    state = obj["state_dict"] if is_lightning else obj
    bad = [
        key
        for key, value in state.items()
        if not isinstance(key, str) or not torch.is_tensor(value)
    ]
    if bad:
        raise CheckpointError(
            f"Expected a state dict (names -> tensors) or a Lightning checkpoint but found "
            f"non-tensor entries {[str(key) for key in bad[:MAX_LISTED]]}"
        )
    if any(key.startswith(PREFIX) for key in state):
        state = {
            key[len(PREFIX) :]: value for key, value in state.items() if key.startswith(PREFIX)
        }
    if not state:
        raise CheckpointError("Expected a state dict with tensors but the checkpoint holds none")
    return dict(state), is_lightning


def find_saved_net(checkpoint: str | os.PathLike) -> tuple[str, dict[str, Any]] | None:
    """The net's class path and init args in the ``config.yaml`` our CLI saved beside a checkpoint.

    LightningCLI writes ``<log_dir>/config.yaml`` and ModelCheckpoint ``<log_dir>/checkpoints/*.ckpt``,
    so the checkpoint's folder and its parent are searched.

    Args:
        checkpoint: path of the checkpoint file.

    Returns:
        ``(class_path, init_args)`` of ``model.init_args.net``, or None when no config names one.

    Example:
        >>> find_saved_net("lightning_logs/version_0/checkpoints/last.ckpt")  # doctest: +SKIP
        ('pl_powerlaw.models.MLP', {})
    """
    import yaml

    folder = Path(checkpoint).resolve().parent
    for candidate in (folder / CONFIG_NAME, folder.parent / CONFIG_NAME):
        if not candidate.is_file():
            continue
        try:
            config = yaml.safe_load(candidate.read_text())
            net = config["model"]["init_args"]["net"]
        except (OSError, yaml.YAMLError, KeyError, TypeError):
            continue
        if isinstance(net, str):
            return net, {}
        if isinstance(net, Mapping) and isinstance(net.get("class_path"), str):
            return net["class_path"], dict(net.get("init_args") or {})
    return None


def net_from_class_path(class_path: str, init_args: Mapping[str, Any] | None = None) -> nn.Module:
    """Build the net named by a ``class_path`` (as in a saved config) with ``init_args``.

    The class is imported and called by Lightning's :func:`~lightning.pytorch.cli.instantiate_class`,
    as LightningCLI builds it from the same config.

    Raises:
        CheckpointError: the class cannot be imported, is not an ``nn.Module`` or rejects the args.

    Example:
        >>> net_from_class_path("torch.nn.Linear", {"in_features": 2, "out_features": 1})
        Linear(in_features=2, out_features=1, bias=True)
    """
    from lightning.pytorch.cli import instantiate_class

    module_name, _, class_name = class_path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError):
        raise CheckpointError(
            f"Cannot import the net class {class_path!r} named in the saved config"
        ) from None
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise CheckpointError(f"Expected an nn.Module class but {class_path!r} is {cls!r}")
    try:
        return instantiate_class((), {"class_path": class_path, "init_args": dict(init_args or {})})
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"Cannot build {class_path} from the saved config: {error}") from None


MASK_SUFFIX = "weight_mask"
OWNER_SUFFIX = "weight_owner"


def check_masks(state_dict: Mapping[str, Tensor]) -> None:
    """Refuse masks that are not exactly 0/1 and task owners outside [-1, 127].

    A damaged file (a flipped byte) can turn a mask entry into -4.0 and still load; the net would
    then compute with a scaled weight and every degree would be wrong, so this is checked on every
    load.

    Raises:
        CheckpointError: naming the tensor, the first bad entry and its value.

    Example:
        >>> check_masks({"fc.weight_mask": torch.tensor([1.0, -4.0])})
        Traceback (most recent call last):
        ...
        pl_powerlaw.checkpoints.CheckpointError: Expected `fc.weight_mask` to hold only 0 and 1 but entry 1 is -4.0: the checkpoint is damaged
    """
    from pl_powerlaw.nn.task_masked import FREE, MAX_TASKS

    for key, value in state_dict.items():
        if not torch.is_tensor(value) or value.is_meta:
            continue
        if key.endswith(MASK_SUFFIX) or MASK_KEY.search(key):  # a layer's or a recurrent matrix's
            bad = (value != 0) & (value != 1)
            what = "only 0 and 1"
        elif key.endswith(OWNER_SUFFIX) or OWNER_KEY.search(key):  # a layer's or a matrix's
            wide = value.long()  # int8 owners: 128 does not fit their type
            bad = (wide < FREE) | (wide >= MAX_TASKS)
            what = f"task owners in [{FREE}, {MAX_TASKS - 1}]"
        else:
            continue
        if bool(bad.any()):
            index = int(bad.reshape(-1).nonzero()[0, 0])
            entry = value.reshape(-1)[index].item()
            raise CheckpointError(
                f"Expected `{key}` to hold {what} but entry {index} is {entry}: the checkpoint "
                "is damaged"
            )


def _listed(keys: list[str]) -> str:
    more = f" (+{len(keys) - MAX_LISTED} more)" if len(keys) > MAX_LISTED else ""
    return ", ".join(keys[:MAX_LISTED]) + more


def check_state_dict(
    net: nn.Module, state_dict: Mapping[str, Tensor], net_name: str = "net"
) -> None:
    """Raise a one-line :class:`CheckpointError` if ``state_dict`` does not fit ``net``.

    Missing ``weight_mask`` keys of masked layers are allowed (they are derived from the weights).

    Example:
        >>> check_state_dict(nn.Linear(2, 1), {"weight": torch.zeros(1, 2)})
        Traceback (most recent call last):
        ...
        pl_powerlaw.checkpoints.CheckpointError: The state dict does not fit net: missing keys bias
    """
    expected = net.state_dict(keep_vars=True)
    derivable = {
        f"{name}.weight_mask" if name else "weight_mask" for name, _ in masked_modules(net)
    } | {mask_key(name) for name, _ in recurrent_matrices(net)}
    missing = [key for key in expected if key not in state_dict and key not in derivable]
    unexpected = [key for key in state_dict if key not in expected]
    shapes = [
        f"{key} {tuple(state_dict[key].shape)} vs {tuple(value.shape)}"
        for key, value in expected.items()
        if key in state_dict and state_dict[key].shape != value.shape
    ]
    problems = []
    if missing:
        problems.append(f"missing keys {_listed(missing)}")
    if unexpected:
        problems.append(f"unexpected keys {_listed(unexpected)}")
    if shapes:
        problems.append(f"shape mismatches (file vs net) {_listed(shapes)}")
    if problems:
        raise CheckpointError(f"The state dict does not fit {net_name}: " + "; ".join(problems))


def complete_masks(net: nn.Module, state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """``state_dict`` plus a ``weight_mask`` (weight != 0, the weight's dtype) for each masked layer
    that has none in it.

    Example:
        >>> from pl_powerlaw.nn import MaskedLinear
        >>> full = complete_masks(MaskedLinear(2, 1), {"weight": torch.tensor([[0.0, 3.0]]), "bias": torch.zeros(1)})
        >>> full["weight_mask"].tolist()
        [[0.0, 1.0]]
    """
    full = dict(state_dict)
    for name, _ in masked_modules(net):
        prefix = f"{name}." if name else ""
        weight = full.get(f"{prefix}weight")
        if f"{prefix}weight_mask" not in full and weight is not None:
            mask = torch.empty_like(weight, device="cpu" if weight.is_meta else weight.device)
            full[f"{prefix}weight_mask"] = torch.ne(weight, 0, out=mask)  # no bool temporary
    for name, _ in recurrent_matrices(net):  # masked recurrent modules: one mask per matrix
        weight = full.get(name)
        if mask_key(name) not in full and weight is not None:
            mask = torch.empty_like(weight, device="cpu" if weight.is_meta else weight.device)
            full[mask_key(name)] = torch.ne(weight, 0, out=mask)
    return full


def load_weights(
    net: nn.Module, state_dict: Mapping[str, Tensor], net_name: str = "net"
) -> nn.Module:
    """Check ``state_dict`` against ``net``, fill missing masks and load it (strictly).

    A net built on the ``meta`` device takes the file's tensors as they are (``assign``, no copy):
    with a memory-mapped file this is the fast path for large nets. Any other net is copied into.

    Args:
        net: the net, on the CPU or on the meta device.
        state_dict: the net's tensors by key (``weight_mask`` keys may be absent).
        net_name: how errors name the net.

    Returns:
        ``net`` with the weights loaded.

    Raises:
        CheckpointError: keys or shapes do not match (the first ones are listed).
    """
    check_state_dict(net, state_dict, net_name)
    check_masks(state_dict)
    full = complete_masks(net, state_dict)
    on_meta = any(t.is_meta for t in net.state_dict().values())
    try:
        net.load_state_dict(full, strict=True, assign=on_meta)
    except RuntimeError as error:
        first = str(error).strip().splitlines()
        raise CheckpointError(
            f"Cannot load the state dict into {net_name}: {' '.join(first[:2])}"
        ) from None
    if on_meta and any(t.is_meta for t in [*net.parameters(), *net.buffers()]):
        raise CheckpointError(f"The state dict leaves tensors of {net_name} without values")
    return net


def _on_meta(build: Callable[[], nn.Module]) -> nn.Module:
    """Build a net on the meta device (no memory, no init) when it can be; else on the CPU."""
    try:
        with torch.device("meta"):
            return build()
    except (RuntimeError, NotImplementedError, TypeError):
        return build()


def load_net(
    checkpoint: str | os.PathLike,
    build: Callable[[], nn.Module] | None = None,
    description: str | None = None,
) -> tuple[nn.Module, str, dict[str, Any]]:
    """Read ``checkpoint`` and load it into its net.

    Args:
        checkpoint: a Lightning checkpoint or a plain state dict.
        build: builds the net (e.g. a registered net by name); None to take the net class from
            the ``config.yaml`` our CLI saved beside a Lightning checkpoint.
        description: how messages name the net built by ``build``.

    Returns:
        ``(net, description, info)``: the loaded net (built on the meta device when it can be,
        so a memory-mapped file is used in place), a short name for messages, and
        ``{"epoch", "global_step"}`` of a Lightning checkpoint (None for a state dict), plus
        ``"converted"``: the plain layers turned into masked ones by
        :func:`pl_powerlaw.nn.to_masked` when the net had none (a torchvision-style model).

    Raises:
        CheckpointError: the file, the net or the state dict is unusable.
    """
    net = None if build is None else _on_meta(build)
    obj = read_checkpoint(checkpoint)
    state_dict, is_lightning = extract_state_dict(obj)
    info = {key: obj.get(key) if is_lightning else None for key in ("epoch", "global_step")}
    if net is not None:
        description = description or type(net).__name__
    else:
        saved = find_saved_net(checkpoint) if is_lightning else None
        if saved is None:
            raise CheckpointError(
                f"Expected `--net NAME`: {str(checkpoint)!r} has no config.yaml of our CLI beside it"
            )
        class_path, init_args = saved
        net = _on_meta(lambda: net_from_class_path(class_path, init_args))
        description = class_path
    if not any(True for _ in masked_modules(net)):  # a plain model: mask its layers
        info["converted"] = to_masked(net)
    load_weights(net, state_dict, description)
    return net, description, info
