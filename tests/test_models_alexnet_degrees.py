"""Degrees of Caffe's grouped AlexNet against hand computations (groups of conv2, conv4, conv5).

Output sizes: conv1 55x55 (227, 11x11, stride 4), pools to 27x27; conv2 27x27 (pad 2), pools to
13x13; conv3-5 13x13. A kernel weight counts H_out * W_out connections. conv2, conv4 and conv5 have
2 groups: an output map sees only the input maps of its half.
"""

import pytest
import torch

from pl_powerlaw.connectivity import connection_counts, kept_entries, node_degrees, trace_chain
from pl_powerlaw.models.alexnet import AlexNet

C1 = 3 * 11 * 11 * 55 * 55  # conv1 map: 3 input maps, 11x11 kernels, 55x55 positions
K2 = 5 * 5 * 27 * 27  # one conv2 kernel (5x5) at 27x27 positions = 18225
K3 = 3 * 3 * 13 * 13  # one 3x3 kernel at 13x13 positions = 1521


@pytest.fixture(scope="module")
def alexnet():
    torch.manual_seed(0)
    net = AlexNet()
    with torch.no_grad():  # Gaussian init can draw exact zeros, which would count as pruned
        for param in net.parameters():
            param[param == 0] = 1e-3
    return net


def test_unpruned_alexnet_degrees_by_hand(alexnet):
    degrees = node_degrees(alexnet)
    expected = {
        "input": 96 * 11 * 11 * 55 * 55,  # 96 conv1 maps, one 11x11 kernel each
        "conv1": C1 + 128 * K2,  # conv2 group: 128 output maps see each conv1 map
        "conv2": 48 * K2 + 384 * K3,  # 48 input maps per group; conv3 has no groups
        "conv3": 256 * K3 + 192 * K3,  # conv4 group: 192 output maps
        "conv4": 192 * K3 + 128 * K3,  # conv5 group: 128 output maps
        "conv5": 192 * K3 + 4096 * 6 * 6,  # fc6 unit sees the 6x6 pooled features of a map
        "fc6": 256 * 36 + 4096,
        "fc7": 4096,  # fc8 is the output head
    }
    assert list(degrees) == list(expected)
    for name, value in expected.items():
        assert torch.all(degrees[name] == value), name
    assert expected["conv1"] == 1_098_075 + 2_332_800


def test_pruned_grouped_convs_by_hand(alexnet):
    masks = {name: torch.ones_like(getattr(alexnet, name).weight) for name in ("conv2", "conv4")}
    masks["conv2"][0:10, 0] = 0  # conv2 maps 0-9 (group 0) drop conv1 map 0
    masks["conv4"][200, 5, :2, :2] = (
        0  # conv4 map 200 (group 1) keeps 5 of 9 weights of local map 5
    )
    original = {name: getattr(alexnet, name).weight.clone() for name in masks}
    try:
        for name, mask in masks.items():
            getattr(alexnet, name).set_mask(mask)
        degrees = node_degrees(alexnet, layers=["conv1", "conv2", "conv3", "conv4", "conv5"])
        # conv1 map 0 loses 10 of its 128 conv2 partners
        assert degrees["conv1"][0].item() == C1 + 118 * K2
        assert degrees["conv1"][1].item() == C1 + 128 * K2
        # conv2 maps 0-9 see 47 maps; conv5 is the last node layer here (downward only)
        assert degrees["conv2"][:10].tolist() == [47 * K2 + 384 * K3] * 10
        # local map 5 of group 1 is conv3 map 192 + 5 = 197
        assert degrees["conv3"][197].item() == 256 * K3 + 191 * K3 + 5 * 169
        assert degrees["conv3"][5].item() == 256 * K3 + 192 * K3
        assert degrees["conv4"][200].item() == 192 * K3 - 4 * 169 + 128 * K3
        assert degrees["conv5"].tolist() == [192 * K3] * 256
        chain = trace_chain(alexnet, layers=["conv1", "conv2"])
        conv2 = connection_counts(chain, kept_entries(alexnet, chain))[1]
        assert conv2.shape == (256, 96)
        assert conv2[:128, 48:].sum() == 0 and conv2[128:, :48].sum() == 0  # block diagonal
        assert conv2[:10, 0].tolist() == [0] * 10 and conv2[10, 0].item() == K2
    finally:
        with torch.no_grad():
            for name, weight in original.items():
                getattr(alexnet, name).weight.copy_(weight)
                getattr(alexnet, name).weight_mask.fill_(1)
