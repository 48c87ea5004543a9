"""Degrees of the plain-torch ResNet-50 of ``benchmarks/degree_speed.py`` against hand counts.

Bottleneck blocks (1x1, 3x3 with the stride, 1x1 x4), 1x1 downsampling shortcuts, BatchNorm,
in-place residual adds. Spatial sizes: the stem's 7x7/2 gives 112x112, the max-pool 56x56, then
56, 28, 14, 7 per stage. Dense random weights: a kernel weight counts H_out * W_out connections
with every source node of its input channel; a block's output channel has the sources of that
channel in every residual branch before it in the stage.
"""

import copy
import importlib.util
from pathlib import Path

import pytest
import torch

from pl_powerlaw.connectivity import edge_counts, kept_entries, node_degrees, trace_graph
from pl_powerlaw.nn import to_masked

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "degree_speed.py"


@pytest.fixture(scope="module")
def resnet50():
    spec = importlib.util.spec_from_file_location("degree_speed", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    net = module.ResNet50(num_classes=10)
    with torch.no_grad():  # Kaiming init may draw an exact zero, which would count as pruned
        for param in net.parameters():
            param[param == 0] = 1e-3
    return net


def test_dense_resnet50_degrees_by_hand(resnet50):
    degrees = node_degrees(resnet50)
    s1, s2, s4 = 56 * 56, 28 * 28, 7 * 7
    # input channel: 64 stem maps, 7x7 kernels, 112x112 positions
    assert degrees["input"].tolist() == [64 * 49 * 112 * 112] * 3
    # stem map: 3 x 49 x 112^2 below; above, layer1.0.conv1 (64 maps) and its shortcut (256
    # maps) read it through the max-pool, 1x1 at 56x56
    assert degrees["conv1"].tolist() == [3 * 49 * 112 * 112 + (64 + 256) * s1] * 64
    # layer1.0's conv3 map c and its shortcut map c are both sources of channel c of the blocks'
    # outputs: read by layer1.1.conv1 and layer1.2.conv1 (64 maps, 1x1), then layer2.0.conv1
    # (128 maps, 1x1 at 56^2) and layer2.0's shortcut (512 maps, 1x1 stride 2 at 28^2)
    above = 2 * 64 * s1 + 128 * s1 + 512 * s2
    assert degrees["layer1.0.conv3"].tolist() == [64 * s1 + above] * 256
    assert degrees["layer1.0.downsample.0"].tolist() == [64 * s1 + above] * 256
    # layer1.2.conv3 feeds only layer 2's first block
    assert degrees["layer1.2.conv3"].tolist() == [64 * s1 + 128 * s1 + 512 * s2] * 256
    # the 3x3 conv of layer2.0 has stride 2: 128 maps x 9 x 28^2 below, conv3's 512 above
    assert degrees["layer2.0.conv2"].tolist() == [128 * 9 * s2 + 512 * s2] * 128
    # the last block's conv3 feeds only the head through the average pool: downward only
    assert degrees["layer4.2.conv3"].tolist() == [512 * s4] * 2048
    assert degrees["layer4.0.conv3"].tolist() == [512 * s4 + 2 * 512 * s4] * 2048


def test_resnet50_structure_and_sum_rule(resnet50):
    graph = trace_graph(resnet50)
    assert len(graph.node_layers) == 1 + 53 and graph.heads == ("fc",)
    # the last block's conv1 reads every source of the stage's residual stream
    assert sorted(p for p, c in graph.edges if c == "layer4.2.conv1") == [
        "layer4.0.conv3",
        "layer4.0.downsample.0",
        "layer4.1.conv3",
    ]
    counts = edge_counts(graph, kept_entries(resnet50, graph))
    degrees = node_degrees(resnet50)
    assert sum(int(d.sum()) for d in degrees.values()) == 2 * sum(
        int(m.sum()) for m in counts.values()
    )


def test_masked_conversion_keeps_the_degrees(resnet50):
    net = copy.deepcopy(resnet50)
    with torch.no_grad():
        for name, module in net.named_modules():
            if isinstance(module, torch.nn.Conv2d) and name.endswith("conv2"):
                module.weight[:, :, 0, 0] = 0.0  # prune a kernel tap everywhere
    before = node_degrees(net)
    assert len(to_masked(net)) == 54
    after = node_degrees(net)
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert before["layer2.0.conv2"].tolist() == [128 * 8 * 28 * 28 + 512 * 28 * 28] * 128
