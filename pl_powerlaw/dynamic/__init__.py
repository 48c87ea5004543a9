"""Dynamic sparse training on weight masks: schedules, layer densities, drop and grow (torch only).

The numerics behind :mod:`pl_powerlaw.callbacks.dynamic` (gradual magnitude pruning, SET, RigL,
preferential regrowth); no Lightning. See docs/dynamic.md.
"""

from pl_powerlaw.dynamic.degrees import check_preferential_layer, entry_degrees
from pl_powerlaw.dynamic.schedules import (
    DISTRIBUTIONS,
    check_count,
    check_unit,
    cosine_update_fraction,
    epsilon_densities,
    gmp_prune_steps,
    gmp_sparsity,
    kept_count,
    layer_densities,
)
from pl_powerlaw.dynamic.updates import (
    attachment_weights,
    check_beta,
    drop_magnitude,
    drop_signed,
    grow_gradient,
    grow_preferential,
    grow_random,
    random_mask,
    reset_entries,
)

__all__ = [
    "DISTRIBUTIONS",
    "attachment_weights",
    "check_beta",
    "check_count",
    "check_preferential_layer",
    "check_unit",
    "cosine_update_fraction",
    "drop_magnitude",
    "drop_signed",
    "entry_degrees",
    "epsilon_densities",
    "gmp_prune_steps",
    "gmp_sparsity",
    "grow_gradient",
    "grow_preferential",
    "grow_random",
    "kept_count",
    "layer_densities",
    "random_mask",
    "reset_entries",
]
