"""Pruning presets of Han et al. (2015) resolve to the right layers of each net.

Reference percentages: Han et al. 2015, Table 4 (AlexNet) and Table 5 (VGG-16), the kept weights.
"""

import pytest
import torch

from pl_powerlaw.models.alexnet import AlexNet, AlexNetTorchvision
from pl_powerlaw.models.lenet import LeNet
from pl_powerlaw.models.presets import PRUNING_PRESETS, PresetFractions, preset_fractions
from pl_powerlaw.models.vgg import VGG16


def on_meta(cls):
    with torch.device("meta"):
        return cls()


def test_vgg16_preset_resolves_aliases():
    fractions = preset_fractions("han2015_vgg16", on_meta(VGG16))
    assert isinstance(fractions, PresetFractions) and isinstance(fractions, dict)
    kept = [58, 22, 34, 36, 53, 24, 42, 32, 27, 34, 35, 29, 36, 4, 4, 23]
    convs = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
    names = [f"features.{i}" for i in convs] + ["classifier.0", "classifier.3", "classifier.6"]
    assert list(fractions) == names
    assert [round(1 - fractions[n], 10) for n in names] == [k / 100 for k in kept]
    assert fractions["features.0"] == 0.42 and fractions["classifier.6"] == 0.77
    assert fractions.prunes_output and fractions.preset == "han2015_vgg16"


@pytest.mark.parametrize(
    ("cls", "names"),
    [
        pytest.param(
            AlexNet, ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"], id="caffe"
        ),
        pytest.param(
            AlexNetTorchvision,
            [f"features.{i}" for i in (0, 3, 6, 8, 10)]
            + ["classifier.1", "classifier.4", "classifier.6"],
            id="torchvision",
        ),
    ],
)
def test_alexnet_preset_fits_both_variants(cls, names):
    fractions = preset_fractions("han2015_alexnet", on_meta(cls))
    assert list(fractions) == names
    # kept 84/38/35/37/37/9/9/25 %
    assert list(fractions.values()) == [0.16, 0.62, 0.65, 0.63, 0.63, 0.91, 0.91, 0.75]
    assert fractions.prunes_output


def test_presets_declare_that_they_prune_the_output():
    assert set(PRUNING_PRESETS) == {"han2015_alexnet", "han2015_vgg16"}
    assert all(preset.prunes_output for preset in PRUNING_PRESETS.values())


@pytest.mark.parametrize(
    ("name", "cls", "match"),
    [
        pytest.param(
            "han2015", AlexNet, r"Unknown pruning preset 'han2015'; expected one of", id="name"
        ),
        pytest.param("han2015_vgg16", AlexNet, r"\['conv1_1', 'conv1_2'", id="vgg-on-alexnet"),
        pytest.param("han2015_alexnet", VGG16, r"does not fit VGG16", id="alexnet-on-vgg"),
        pytest.param("han2015_alexnet", LeNet, r"net layers \['fc1', 'fc2'\]", id="lenet"),
    ],
)
def test_presets_that_do_not_fit_raise(name, cls, match):
    with pytest.raises(ValueError, match=match):
        preset_fractions(name, on_meta(cls))
