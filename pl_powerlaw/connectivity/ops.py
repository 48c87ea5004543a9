"""How each torch op moves the sources of activations (the rules of the DAG tracer).

Every torch function or ``Tensor`` method that receives an activation is looked up here; an op that
is not listed is refused (never guessed). The rules, after the paper's node definition (nodes are
the outputs of weight layers; everything without weights only routes them):

* ``same``: element-wise ops of one activation (activations, dropout, BatchNorm/LayerNorm/GroupNorm/
  LRN, softmax, casts): the sources do not change;
* ``union``: element-wise ops of several activations (``+``, ``-``, ``max``, comparisons): an element
  has the union of its sources in every operand;
* ``scale``: ``*``, ``/``, ``**`` of one activation with constants or parameters (a scale is not a
  connection); of two activations it is refused (a product: gating, attention);
* ``structural``: views, reshapes, flatten, permutes, slicing, splits, flips, channel shuffles,
  ``torch.cat``/``stack``, padding, item assignment: the same op is applied to the index tensors;
* ``pool``: pooling and resizing over the trailing spatial dims (sources must not vary there);
* ``reduce``: reductions; over dims where the sources differ the result is *mixed* (refused when a
  layer reads it);
* refused at once: products and matmuls of activations, functional learnable ops outside their
  modules, and data-dependent control flow (``item``, ``bool``, ``nonzero``, ``sort``, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from pl_powerlaw.connectivity.errors import UnsupportedNetError
from pl_powerlaw.connectivity.routes import Route

NAMESPACES = (torch, torch.Tensor, F, torch.special)

SAME = """relu relu_ relu6 elu elu_ selu selu_ celu celu_ gelu silu mish sigmoid sigmoid_ tanh tanh_
hardtanh hardtanh_ hardswish hardsigmoid leaky_relu leaky_relu_ rrelu rrelu_ prelu softplus softsign
softshrink hardshrink tanhshrink logsigmoid threshold threshold_ dropout dropout_ dropout1d dropout2d
dropout3d alpha_dropout alpha_dropout_ feature_alpha_dropout feature_dropout batch_norm instance_norm
layer_norm group_norm local_response_norm rms_norm normalize softmax log_softmax softmin abs abs_
neg neg_ negative exp exp_ exp2 log log_ log2 log10 log1p expm1 sqrt sqrt_ rsqrt square sign sgn
clamp clamp_ clip clip_ clamp_min clamp_max floor ceil round trunc frac reciprocal sin cos erf logit
sinc nan_to_num masked_fill masked_fill_ to float double half bfloat16 type type_as contiguous
clone detach detach_ requires_grad_ cpu cuda __neg__ __abs__ __pos__ positive""".split()
UNION = """add add_ __add__ __radd__ __iadd__ sub sub_ __sub__ __rsub__ __isub__ rsub subtract
maximum minimum fmax fmin eq ne gt ge lt le __eq__ __ne__ __gt__ __ge__ __lt__ __le__ greater
greater_equal less less_equal not_equal logical_and logical_or""".split()
SCALE = """mul mul_ __mul__ __rmul__ __imul__ multiply div div_ __truediv__ __rtruediv__
__itruediv__ __div__ __rdiv__ divide true_divide floor_divide __floordiv__ __rfloordiv__ remainder
fmod __mod__ pow pow_ __pow__ __rpow__ __ipow__ float_power""".split()
STRUCTURAL = """view reshape flatten unflatten permute transpose transpose_ swapaxes swapdims movedim
moveaxis t squeeze squeeze_ unsqueeze unsqueeze_ expand expand_as broadcast_to repeat tile
repeat_interleave narrow select __getitem__ split split_with_sizes chunk tensor_split unbind flip
fliplr flipud roll rot90 pixel_shuffle pixel_unshuffle channel_shuffle native_channel_shuffle
view_as reshape_as ravel index_select take_along_dim gather unfold diagonal""".split()
SHAPE_ONLY = "expand_as view_as reshape_as type_as".split()  # the second tensor gives a shape
CAT = "cat concat concatenate".split()
STACK = "stack hstack vstack dstack column_stack".split()
POOL = """max_pool1d max_pool2d max_pool3d avg_pool1d avg_pool2d avg_pool3d adaptive_avg_pool1d
adaptive_avg_pool2d adaptive_avg_pool3d adaptive_max_pool1d adaptive_max_pool2d adaptive_max_pool3d
lp_pool1d lp_pool2d lp_pool3d max_pool1d_with_indices max_pool2d_with_indices
max_pool3d_with_indices adaptive_max_pool1d_with_indices adaptive_max_pool2d_with_indices
adaptive_max_pool3d_with_indices fractional_max_pool2d fractional_max_pool3d interpolate upsample
upsample_nearest upsample_bilinear""".split()
REDUCE = """sum mean nansum nanmean amax amin max min std var norm logsumexp prod median nanmedian
count_nonzero all any aminmax""".split()
WITH_INDICES = "max min median nanmedian".split()
FRESH = """zeros_like ones_like empty_like full_like rand_like randn_like randint_like new_zeros
new_ones new_empty new_full new_tensor new_empty_strided""".split()
PRODUCT = """matmul mm bmm einsum __matmul__ __rmatmul__ baddbmm addmm addbmm addmv addr mv dot vdot
inner outer ger tensordot kron chain_matmul bilinear scaled_dot_product_attention
multi_head_attention_forward cdist cosine_similarity pairwise_distance glu addcmul addcmul_ addcdiv
addcdiv_""".split()
LEARNABLE = """linear conv1d conv2d conv3d conv_transpose1d conv_transpose2d conv_transpose3d
conv_tbc embedding embedding_bag lstm gru rnn_tanh rnn_relu lstm_cell gru_cell rnn_tanh_cell
rnn_relu_cell""".split()
DATA_DEPENDENT = """item tolist __bool__ __int__ __float__ __index__ __complex__ numpy nonzero
argwhere unique unique_consecutive masked_select equal allclose is_nonzero bincount histc argmax
argmin topk sort argsort msort multinomial kthvalue mode""".split()
ATTRIBUTES = {"T": "structural", "mT": "structural", "H": "structural", "mH": "structural"}
ATTRIBUTES |= {"data": "same", "real": "same"}


def _table() -> dict[Any, str]:
    table: dict[Any, str] = {}
    groups = [
        ("same", SAME),
        ("union", UNION),
        ("scale", SCALE),
        ("structural", STRUCTURAL),
        ("cat", CAT),
        ("stack", STACK),
        ("pool", POOL),
        ("reduce", REDUCE),
        ("fresh", FRESH),
        ("product", PRODUCT),
        ("learnable", LEARNABLE),
        ("data", DATA_DEPENDENT),
        ("setitem", ["__setitem__"]),
        ("copy", ["copy_"]),
        ("clear", ["zero_", "fill_", "normal_", "uniform_"]),
        ("pad", ["pad", "constant_pad_nd"]),
    ]
    for rule, names in groups:
        for name in names:
            for namespace in NAMESPACES:
                obj = getattr(namespace, name, None)
                if callable(obj):
                    table.setdefault(obj, rule)
    return table


RULES = _table()
# shape-preserving ops whose meta implementations are slow Python decompositions: on the meta
# device the tracer only needs their result's shape, the input's
SHAPE_PRESERVING = {
    getattr(F, name)
    for name in ("batch_norm", "instance_norm", "layer_norm", "group_norm", "local_response_norm")
} | {torch.relu, torch.Tensor.relu}
IN_PLACE = {torch.relu_, torch.Tensor.relu_}  # return their input


def meta_result(func: Any, args: tuple, kwargs: dict) -> Tensor | None:
    """The result of a shape-preserving ``func`` on a meta activation without running it (its
    meta implementation is a slow Python decomposition); None when it must run."""
    x = args[0] if args else None
    if not isinstance(x, Tensor) or not x.is_meta:
        return None
    if func in IN_PLACE or (func is F.relu and (kwargs.get("inplace") or args[1:2] == (True,))):
        return x
    if func in SHAPE_PRESERVING or func is F.relu:
        return torch.empty(x.shape, dtype=x.dtype, device="meta")
    return None


SHAPE_ONLY_OPS = {getattr(torch.Tensor, name) for name in SHAPE_ONLY}
WITH_INDICES_OPS = {
    obj for name in WITH_INDICES for ns in NAMESPACES if callable(obj := getattr(ns, name, None))
}
VIEWS = {torch.Tensor.view: torch.Tensor.reshape, torch.Tensor.view_as: torch.Tensor.reshape_as}


def op_key(func: Any) -> Any:
    """The table key of ``func`` (a property getter is keyed by its attribute name)."""
    owner = getattr(func, "__self__", None)
    if type(func).__name__ == "method-wrapper" and hasattr(owner, "__name__"):
        return ("attr", owner.__name__)
    return func


def rule_of(func: Any) -> str | None:
    """The rule of ``func`` (see the module doc), None for an op the tracer does not know."""
    key = op_key(func)
    if isinstance(key, tuple):
        return ATTRIBUTES.get(key[1])
    try:
        return RULES.get(key)
    except TypeError:  # unhashable callable
        return None


def op_name(func: Any) -> str:
    """A readable name of ``func``: ``torch.cat``, ``Tensor.view``, ``torch.nn.functional.relu``."""
    key = op_key(func)
    if isinstance(key, tuple):
        return f"Tensor.{key[1]}"
    qualname = getattr(func, "__qualname__", None) or getattr(func, "__name__", repr(func))
    head, _, tail = qualname.partition(".")
    if head in ("TensorBase", "Tensor") and tail:
        return f"Tensor.{tail}"
    if head == "_VariableFunctionsClass" and tail:
        return f"torch.{tail}"
    module = getattr(func, "__module__", None) or "torch"
    if module == "torch._C._nn":  # builtins behind torch.nn.functional
        module = "torch.nn.functional"
    return f"{module}.{getattr(func, '__name__', qualname)}"


class OpCall:
    """One call of an op on routed activations, with what a rule needs to route its results."""

    def __init__(
        self,
        func: Any,
        args: tuple,
        kwargs: dict,
        route_of: Callable[[Tensor], Route | None],
        where: str,
    ) -> None:
        self.func, self.args, self.kwargs = func, args, kwargs
        self.route_of = route_of
        self.where = where
        self.name = op_name(func)

    def fail(self, expected: str, got: str) -> UnsupportedNetError:
        return UnsupportedNetError(
            f"Expected {expected} but got {got} (`{self.name}` in {self.where})"
        )

    def tracked(self, values: Iterable[Any]) -> list[tuple[Tensor, Route]]:
        found = []
        for value in values:
            if isinstance(value, Tensor):
                route = self.route_of(value)
                if route is not None:
                    found.append((value, route))
        return found
