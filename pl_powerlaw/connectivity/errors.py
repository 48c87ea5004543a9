"""The error raised for a net whose connectivity cannot be counted exactly."""

from __future__ import annotations


class UnsupportedNetError(ValueError):
    """A net, or an op in its forward, that the connectivity tracer refuses rather than miscount.

    Raised for a product of two activations (gating, attention), a matmul between activations,
    data-dependent control flow, a channel mix the tracer cannot follow, a recurrent module, or a
    learnable op outside a ``Linear``/``Conv1d``/``Conv2d`` module. The message names the op and
    the module path where it happened.

    Example:
        >>> str(UnsupportedNetError("Expected ... but got ..."))
        'Expected ... but got ...'
    """
