"""torchvision models by name, for ``analyze --model`` and for training configs (``vision`` extra).

torchvision is optional: the base install has none (its wheels do not import beside the CPU torch
2.13.0 of ``constraints.txt``), and only the functions here import it, when they are called. The
README's "torchvision models" section gives the install (``constraints-vision.txt``).

* :func:`resolve_builder` turns ``"torchvision.models.resnet50"`` (or ``"resnet50"``) into the
  builder torchvision registers under that name; any ``torchvision.models`` builder is accepted.
* :func:`torchvision_model` builds it: random initial weights, or ``weights`` of torchvision's
  weights API (``"DEFAULT"``, ``"IMAGENET1K_V2"``, ``"ResNet50_Weights.IMAGENET1K_V2"``), which
  torchvision downloads once into ``$TORCH_HOME/hub/checkpoints``; without internet that is one
  plain error. The model gets an ``input_shape`` attribute (the crop size of its weights), so the
  degree tracer and the degree monitor know its input without ``--input-shape``.

A training config selects a torchvision net through :func:`torchvision_model` (jsonargparse takes a
function whose return type is an ``nn.Module`` as a ``class_path``)::

    net:
      class_path: pl_powerlaw.models.vision.torchvision_model
      init_args: {name: resnet18, num_classes: 10, input_shape: [3, 32, 32]}

Example:
    >>> net = torchvision_model("torchvision.models.resnet18", num_classes=10)  # doctest: +SKIP
    >>> net.input_shape  # doctest: +SKIP
    (3, 224, 224)
"""

from __future__ import annotations

import difflib
import importlib
import urllib.error
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from torch import nn

from pl_powerlaw.errors import InputError

PREFIX = "torchvision.models."
DEFAULT_SIDE = 224
INSTALL = 'pip install -c constraints-vision.txt -e ".[vision]" (README: torchvision models)'


class VisionError(InputError):
    """A torchvision model, weights name or download that cannot be used (one-line message)."""


def torchvision_available() -> bool:
    """True when torchvision imports beside the installed torch."""
    try:
        importlib.import_module("torchvision")
    except Exception:  # ImportError, or a RuntimeError of mismatched torch/torchvision builds
        return False
    return True


def _models() -> ModuleType:
    try:
        return importlib.import_module("torchvision.models")
    except Exception as error:
        detail = " ".join(str(error).split())[:160]
        raise VisionError(
            f"torchvision models need torchvision, which does not import here ({detail}): "
            f"install the vision extra into its own venv: {INSTALL}"
        ) from None


def is_torchvision_name(name: str) -> bool:
    """True for ``"torchvision.models.<builder>"`` names (the form ``--model`` and configs use)."""
    return name.startswith(PREFIX)


def model_name(name: str) -> str:
    """The builder's registered name: ``"torchvision.models.resnet50"`` -> ``"resnet50"``.

    A submodule path (``torchvision.models.segmentation.fcn_resnet50``) gives its last part.

    Example:
        >>> model_name("torchvision.models.resnet50"), model_name("mobilenet_v2")
        ('resnet50', 'mobilenet_v2')
    """
    return name.removeprefix(PREFIX).rpartition(".")[2]


def resolve_builder(name: str) -> Callable[..., nn.Module]:
    """The torchvision builder registered as ``name`` (``torchvision.models.X`` or ``X``).

    Raises:
        VisionError: torchvision is missing, or no builder has that name (close names are listed).
    """
    models = _models()
    short = model_name(name)
    known = models.list_models()
    if short not in known:
        close = difflib.get_close_matches(short, known, n=3)
        hint = f"; did you mean {', '.join(PREFIX + c for c in close)}?" if close else ""
        raise VisionError(
            f"Unknown torchvision model {name!r}: expected a builder of torchvision.models.list_models() "
            f"such as torchvision.models.resnet50{hint}"
        )
    return models.get_model_builder(short)


def resolve_weights(name: str, weights: str) -> Any:
    """The member of the model's weights enum named ``weights`` (``DEFAULT``, ``IMAGENET1K_V2`` or
    ``ResNet50_Weights.IMAGENET1K_V2``).

    Raises:
        VisionError: the model has no weights of that name (its names are listed).
    """
    models = _models()
    short = model_name(name)
    resolve_builder(name)
    try:
        enum = models.get_model_weights(short)
    except (ValueError, KeyError, AttributeError):
        raise VisionError(f"torchvision model {name!r} has no pretrained weights") from None
    member = weights.rpartition(".")[2] if weights.startswith(enum.__name__ + ".") else weights
    if "." in member or member not in enum.__members__:
        raise VisionError(
            f"Unknown weights {weights!r} of {PREFIX}{short}: expected one of "
            f"{sorted(enum.__members__)} (or {enum.__name__}.<name>)"
        )
    return enum[member]


def default_input_shape(name: str, weights: Any = None) -> tuple[int, int, int]:
    """``(3, S, S)`` with S the crop size of ``weights`` (else of the model's default weights),
    the size torchvision evaluates the model at; 224 when neither tells."""
    models = _models()
    if weights is None:
        try:
            weights = models.get_model_weights(model_name(name)).DEFAULT
        except (ValueError, KeyError, AttributeError):
            weights = None
    side = DEFAULT_SIDE
    try:
        crop = weights.transforms().crop_size if weights is not None else None
        if crop:
            side = int(crop[0] if isinstance(crop, Sequence) else crop)
    except (AttributeError, TypeError):
        pass
    return (3, side, side)


def _download_error(name: str, weights: Any, error: BaseException) -> VisionError:
    import torch.hub

    reason = " ".join(str(getattr(error, "reason", error)).split())[:160]
    if isinstance(error, urllib.error.HTTPError):  # the server was reached and refused
        why = f"the server answered HTTP {error.code} ({reason})"
    else:
        why = f"this machine has no internet access ({type(error).__name__}: {reason})"
    return VisionError(
        f"Cannot download the weights {weights} of {PREFIX}{model_name(name)} from {weights.url}: "
        f"{why}; download that "
        f"file on a machine with internet and pass it with --state-dict FILE, or put it into "
        f"{torch.hub.get_dir()}/checkpoints/"
    )


def torchvision_model(
    name: str,
    num_classes: int | None = None,
    weights: str | None = None,
    input_shape: tuple[int, int, int] | None = None,
    builder_args: dict[str, Any] | None = None,
) -> nn.Module:
    """Build the torchvision model ``name`` (plain layers; masks come later, ``nn.to_masked``).

    Args:
        name: ``torchvision.models.<builder>`` or the builder's name (``resnet18``).
        num_classes: outputs of the head; None: the builder's (1000, or the weights' classes).
        weights: a name of torchvision's weights API; None: random initial weights (from torch's
            global generator: seed it for reproducible weights).
        input_shape: the ``input_shape`` attribute to give the model; None: the crop size of the
            weights (see :func:`default_input_shape`).
        builder_args: more keyword arguments of the builder (``{"dropout": 0.0}``).

    Returns:
        The model, with an ``input_shape`` attribute.

    Raises:
        VisionError: torchvision missing, an unknown model or weights name, weights that cannot
            be downloaded (no internet), or arguments the builder rejects.
    """
    builder = resolve_builder(name)
    enum = None if weights is None else resolve_weights(name, weights)
    kwargs = dict(builder_args or {})
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    try:
        net = builder(weights=enum, progress=False, **kwargs)
    except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
        raise _download_error(name, enum, error) from None
    except (TypeError, ValueError) as error:
        message = " ".join(str(error).split())
        raise VisionError(f"Cannot build {PREFIX}{model_name(name)}: {message}") from None
    net.input_shape = tuple(input_shape) if input_shape else default_input_shape(name, enum)
    return net
