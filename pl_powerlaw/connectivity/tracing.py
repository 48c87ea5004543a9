"""Record the calls of a net's masked layers without running a real forward.

The net runs once through :func:`torch.func.functional_call` with meta-device copies of its
parameters and buffers and a meta input of batch size 1: shapes are computed, no arithmetic is
done, so VGG-16 at 224 x 224 traces in milliseconds. Forward hooks on the masked layers record the
order of the calls (the real order, whatever the net's ``forward`` looks like) and the input and
output shapes.

A torch-function mode follows where every tensor comes from: the net's input and every masked
layer's output are *sources*, and any other op's result inherits the union of the sources of its
tensor arguments. The set of sources of a masked layer's input tells whether the net is a simple
chain at that layer (exactly one source: the previous node layer) or branches and merges.

If an op has no meta implementation (data-dependent control flow such as ``.item()``), the trace
falls back to one real forward of a zero input (batch 1, no grad, eval mode) on the parameters'
device.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_leaves

from pl_powerlaw.nn.masked import masked_modules

INPUT = "input"


@dataclass(frozen=True)
class LayerCall:
    """One call of a masked layer seen by the trace.

    Attributes:
        name: qualified name of the layer in the net.
        sources: names of the sources its input derives from (``"input"`` or masked layers).
        in_shape: shape of its input without the batch dimension.
        out_shape: shape of its output without the batch dimension.
    """

    name: str
    sources: frozenset[str]
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]


class _SourceTracker(TorchFunctionMode):
    """Propagate the set of sources of every tensor through every torch function."""

    def __init__(self) -> None:
        super().__init__()
        # id -> (tensor, sources); the tensor is held so that its id is never reused meanwhile.
        self._sources: dict[int, tuple[Tensor, frozenset[str]]] = {}

    def sources_of(self, tensor: Tensor) -> frozenset[str]:
        entry = self._sources.get(id(tensor))
        return entry[1] if entry is not None and entry[0] is tensor else frozenset()

    def mark(self, tensor: Tensor, sources: frozenset[str]) -> None:
        self._sources[id(tensor)] = (tensor, sources)

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        inputs = [leaf for leaf in tree_leaves((args, kwargs)) if isinstance(leaf, Tensor)]
        sources = frozenset().union(*(self.sources_of(t) for t in inputs))
        if sources:
            for leaf in tree_leaves(result):
                if isinstance(leaf, Tensor):
                    self.mark(leaf, sources | self.sources_of(leaf))
        return result


def _first_tensor(value: Any) -> Tensor:
    for leaf in tree_leaves(value):
        if isinstance(leaf, Tensor):
            return leaf
    raise ValueError(f"Expected a tensor among the layer's inputs/outputs but got {type(value)}")


def _run(
    net: nn.Module, input_shape: tuple[int, ...], device: torch.device | str
) -> list[LayerCall]:
    """One forward of a batch of 1 on ``device`` with hooks on every masked layer."""
    tracker = _SourceTracker()
    calls: list[LayerCall] = []
    pending: dict[str, tuple[frozenset[str], tuple[int, ...]]] = {}
    handles = []

    def pre_hook(name: str):
        def hook(module: nn.Module, args: tuple) -> None:
            x = _first_tensor(args)
            pending[name] = (tracker.sources_of(x), tuple(x.shape[1:]))

        return hook

    def post_hook(name: str):
        def hook(module: nn.Module, args: tuple, output: Any) -> None:
            y = _first_tensor(output)
            sources, in_shape = pending.pop(name)
            calls.append(LayerCall(name, sources, in_shape, tuple(y.shape[1:])))
            tracker.mark(y, frozenset({name}))

        return hook

    for name, module in masked_modules(net):
        handles.append(module.register_forward_pre_hook(pre_hook(name)))
        handles.append(module.register_forward_hook(post_hook(name)))
    modes = {module: module.training for module in net.modules()}
    reference = next(iter(net.parameters()))
    try:
        net.eval()
        with torch.no_grad():
            x = torch.zeros((1, *input_shape), dtype=reference.dtype, device=device)
            if str(device) == "meta":
                state = {
                    name: torch.empty_like(t, device="meta")
                    for name, t in (*net.named_parameters(), *net.named_buffers())
                }
                with tracker:
                    tracker.mark(x, frozenset({INPUT}))
                    torch.func.functional_call(net, state, (x,))
            else:
                with tracker:
                    tracker.mark(x, frozenset({INPUT}))
                    net(x)
    finally:
        for handle in handles:
            handle.remove()
        for module, training in modes.items():
            module.train(training)
    return calls


def record_calls(net: nn.Module, input_shape: Sequence[int]) -> list[LayerCall]:
    """Trace the masked-layer calls of ``net`` on an input of shape ``(1, *input_shape)``.

    Args:
        net: the network (its state, modes and parameters are left unchanged).
        input_shape: shape of one input sample, e.g. ``(1, 28, 28)``.

    Returns:
        The calls in the order they happened.

    Raises:
        ValueError: if ``net`` has no parameters or its forward fails on such an input.

    Example:
        >>> from pl_powerlaw.nn import MaskedLinear
        >>> net = nn.Sequential(nn.Flatten(), MaskedLinear(4, 3))
        >>> record_calls(net, (2, 2))[0].in_shape
        (4,)
    """
    if next(iter(net.parameters()), None) is None:
        raise ValueError(f"Expected a net with parameters but {type(net).__name__} has none")
    shape = tuple(int(s) for s in input_shape)
    try:
        return _run(net, shape, "meta")
    except (NotImplementedError, RuntimeError):
        pass
    device = next(iter(net.parameters())).device
    try:
        return _run(net, shape, device)
    except Exception as error:  # noqa: BLE001 - reported as one line naming the net
        raise ValueError(
            f"Could not trace {type(net).__name__} on an input of shape (1, *{shape}): "
            f"{type(error).__name__}: {error}"
        ) from error
