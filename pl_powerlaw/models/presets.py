"""Per-layer pruning presets of Han et al. (2015), "Learning both Weights and Connections for
Efficient Neural Networks" (NIPS 2015), Tables 4 and 5.

A preset lists the percentage of weights each layer KEEPS after pruning: Table 4 for AlexNet and
Table 5 for VGG-16. Both prune their output layer (fc8) too, so the preset says
``prunes_output=True``. :func:`preset_fractions` turns a preset into per-layer PRUNE fractions
(``1 - kept``) keyed by a net's qualified module names, resolving readable names through the net's
``layer_aliases`` (``VGG16``: ``conv1_1`` -> ``features.0``; ``AlexNetTorchvision``: ``conv1`` ->
``features.0``). The AlexNet preset was measured on Caffe's grouped AlexNet
(:class:`~pl_powerlaw.models.alexnet.AlexNet`); on torchvision's variant it applies the same
fractions to the corresponding layers.

Example:
    >>> from pl_powerlaw.models.alexnet import AlexNet
    >>> fractions = preset_fractions("han2015_alexnet", AlexNet())
    >>> fractions["conv1"], fractions["fc8"], fractions.prunes_output
    (0.16, 0.75, True)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from torch import nn

from pl_powerlaw.nn.masked import masked_modules, output_layer_names


@dataclass(frozen=True)
class PruningPreset:
    """Kept percentages per readable layer name.

    Attributes:
        name: the preset's name in :data:`PRUNING_PRESETS`.
        kept_percent: ``{layer: percent of weights kept}`` (Han et al. 2015's tables).
        prunes_output: True if the preset prunes the net's output layer.
        source: where the numbers come from.
    """

    name: str
    kept_percent: Mapping[str, int]
    prunes_output: bool
    source: str

    def prune_fractions(self) -> dict[str, float]:
        """``{layer: 1 - kept}`` under the preset's readable names."""
        return {layer: (100 - pct) / 100 for layer, pct in self.kept_percent.items()}


class PresetFractions(dict):
    """``{qualified layer name: prune fraction}`` with the preset it came from.

    Attributes:
        preset: the preset's name.
        prunes_output: True if an output layer of the net is among the keys.
    """

    def __init__(self, fractions: Mapping[str, float], preset: str, prunes_output: bool) -> None:
        super().__init__(fractions)
        self.preset = preset
        self.prunes_output = prunes_output


ALEXNET_HAN2015 = PruningPreset(
    name="han2015_alexnet",
    kept_percent={
        "conv1": 84, "conv2": 38, "conv3": 35, "conv4": 37, "conv5": 37,
        "fc6": 9, "fc7": 9, "fc8": 25,
    },
    prunes_output=True,
    source="Han et al. (2015), Table 4 (AlexNet on ImageNet)",
)  # fmt: skip

VGG16_HAN2015 = PruningPreset(
    name="han2015_vgg16",
    kept_percent={
        "conv1_1": 58, "conv1_2": 22,
        "conv2_1": 34, "conv2_2": 36,
        "conv3_1": 53, "conv3_2": 24, "conv3_3": 42,
        "conv4_1": 32, "conv4_2": 27, "conv4_3": 34,
        "conv5_1": 35, "conv5_2": 29, "conv5_3": 36,
        "fc6": 4, "fc7": 4, "fc8": 23,
    },
    prunes_output=True,
    source="Han et al. (2015), Table 5 (VGG-16 on ImageNet)",
)  # fmt: skip

PRUNING_PRESETS: dict[str, PruningPreset] = {
    preset.name: preset for preset in (ALEXNET_HAN2015, VGG16_HAN2015)
}


def preset_fractions(name: str, net: nn.Module) -> PresetFractions:
    """Per-layer prune fractions of preset ``name`` keyed by ``net``'s qualified layer names.

    Args:
        name: a key of :data:`PRUNING_PRESETS`.
        net: the net to prune; its ``layer_aliases`` (if any) map readable names to modules.

    Returns:
        ``{qualified name: 1 - kept fraction}`` for every masked layer of ``net``, with
        ``.prunes_output`` True when an output layer is pruned.

    Raises:
        ValueError: for an unknown preset or a preset that does not name exactly the net's masked
            layers.
    """
    if name not in PRUNING_PRESETS:
        raise ValueError(
            f"Unknown pruning preset {name!r}; expected one of {sorted(PRUNING_PRESETS)}"
        )
    preset = PRUNING_PRESETS[name]
    aliases = dict(getattr(net, "layer_aliases", {}) or {})
    masked = [layer for layer, _ in masked_modules(net)]
    resolved = {aliases.get(layer, layer): f for layer, f in preset.prune_fractions().items()}
    unknown = sorted(
        layer for layer in preset.kept_percent if aliases.get(layer, layer) not in masked
    )
    uncovered = [layer for layer in masked if layer not in resolved]
    if unknown or uncovered:
        raise ValueError(
            f"Preset {name!r} does not fit {type(net).__name__}: preset layers {unknown} are not "
            f"masked layers of the net, and net layers {uncovered} are not in the preset"
        )
    ordered = {layer: resolved[layer] for layer in masked}
    prunes_output = any(layer in ordered for layer in output_layer_names(net))
    return PresetFractions(ordered, preset=name, prunes_output=prunes_output)
