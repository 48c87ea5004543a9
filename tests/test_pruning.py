"""Magnitude pruning functions: exact kept counts, deterministic ties, eligibility, no regrowth.

The mask tests run through both selection paths of :func:`magnitude_mask` on the CPU: numpy's
``np.partition`` (taken for CPU tensors) and ``torch.kthvalue`` (taken on GPUs); they must give
the same masks.
"""

import pytest
import torch
from torch import nn

from pl_powerlaw.nn import MaskedConv2d, MaskedLinear
from pl_powerlaw.pruning import clear_optimizer_state, magnitude_mask, prune_layers

BOTH_PATHS = pytest.mark.parametrize("selection", ["partition", "kthvalue"])


@BOTH_PATHS
def test_prunes_smallest_magnitudes_first(selection):
    weight = torch.tensor([[0.5, -0.1, 0.3], [-0.7, 0.2, 0.05]])
    kept = magnitude_mask(weight, torch.ones_like(weight), 0.5, selection=selection)
    # |w| sorted: 0.05, 0.1, 0.2 | 0.3, 0.5, 0.7 -> the three smallest go.
    assert kept.tolist() == [[True, False, True], [True, False, False]]


@BOTH_PATHS
def test_ties_broken_by_lower_flat_index_first(selection):
    weight = torch.tensor([2.0, 1.0, 1.0, 1.0, 1.0, 3.0])
    kept = magnitude_mask(
        weight, torch.ones(6), 0.5, selection=selection
    )  # 3 of the four 1.0s, lowest index first
    assert kept.tolist() == [True, False, False, False, True, True]


@BOTH_PATHS
@pytest.mark.parametrize("fraction", [0.0, 0.25, 0.9, 0.999])
def test_exact_kept_count(fraction, selection):
    weight = torch.randn(64, 33, generator=torch.Generator().manual_seed(3))
    kept = magnitude_mask(weight, torch.ones_like(weight), fraction, selection=selection)
    assert int(kept.sum()) == weight.numel() - round(fraction * weight.numel())
    if 0 < fraction:
        assert weight.abs()[kept].min() >= weight.abs()[~kept].max()


@BOTH_PATHS
def test_cumulative_targets_never_regrow(selection):
    weight = torch.randn(100, generator=torch.Generator().manual_seed(0))
    first = magnitude_mask(weight, torch.ones(100), 0.5, selection=selection)
    second = magnitude_mask(weight * 10, first.float(), 0.8, selection=selection)
    assert int(second.sum()) == 20 and not torch.any(second & ~first)
    lower = magnitude_mask(
        weight, second.float(), 0.3, selection=selection
    )  # below the current sparsity: no change
    assert torch.equal(lower, second)


@BOTH_PATHS
def test_eligible_entries_only_are_pruned_and_counted(selection):
    weight = torch.arange(1.0, 11.0)  # 1..10
    eligible = torch.tensor([False] * 5 + [True] * 5)
    kept = magnitude_mask(weight, torch.ones(10), 0.4, eligible, selection=selection)
    # 40% of the 5 eligible entries: the two smallest eligible ones (6 and 7).
    assert kept.tolist() == [True] * 5 + [False, False, True, True, True]


def test_bad_fraction_and_shapes_are_rejected():
    weight = torch.ones(4)
    with pytest.raises(ValueError, match=r"Expected `fraction` in \[0, 1\) but got 1.0"):
        magnitude_mask(weight, torch.ones(4), 1.0)
    with pytest.raises(ValueError, match="mask of shape"):
        magnitude_mask(weight, torch.ones(5), 0.5)


def test_prune_layers_counts_and_leaves_biases():
    torch.manual_seed(0)
    net = nn.Sequential(MaskedConv2d(1, 4, 3), nn.Flatten(), MaskedLinear(4 * 6 * 6, 10))
    bias_before = [net[0].bias.clone(), net[2].bias.clone()]
    kept = prune_layers(net, {"0": 0.5, "2": 0.9})
    assert kept == {"0": 18, "2": 144}
    assert int((net[0].weight != 0).sum()) == 18 and int(net[2].weight_mask.sum()) == 144
    assert torch.equal(net[0].bias, bias_before[0]) and torch.equal(net[2].bias, bias_before[1])
    with pytest.raises(ValueError, match=r"Unknown layer name\(s\) \['fc9'\]"):
        prune_layers(net, {"fc9": 0.5})
    with pytest.raises(ValueError, match="has none"):
        prune_layers(nn.Linear(2, 2), {"x": 0.1})


def test_clear_optimizer_state_keeps_pruned_weights_at_zero():
    torch.manual_seed(0)
    net = nn.Sequential(MaskedLinear(8, 8), nn.ReLU(), MaskedLinear(8, 2))
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    x, y = torch.randn(16, 8), torch.randint(0, 2, (16,))
    for _ in range(3):  # build momentum
        optimizer.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        optimizer.step()
    prune_layers(net, {"0": 0.75})
    clear_optimizer_state(optimizer, net)
    pruned = net[0].weight_mask == 0
    for _ in range(5):
        optimizer.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        optimizer.step()
    assert torch.all(net[0].weight[pruned] == 0)


def reference_mask(weight, mask, fraction, eligible):
    """Brute force: sort the kept eligible entries by (|w|, flat index), prune the first k."""
    w, kept, ok = (
        weight.reshape(-1).tolist(),
        (mask != 0).reshape(-1).tolist(),
        eligible.reshape(-1),
    )
    ok = ok.tolist()
    n_eligible = sum(ok)
    k = round(fraction * n_eligible) - sum(1 for e, m in zip(ok, kept, strict=True) if e and not m)
    order = sorted((abs(v), i) for i, v in enumerate(w) if ok[i] and kept[i])
    out = list(kept)
    for _, i in order[: max(k, 0)]:
        out[i] = False
    return torch.tensor(out).reshape(weight.shape)


@BOTH_PATHS
@pytest.mark.parametrize("seed", range(6))
def test_matches_a_brute_force_sort_with_ties_masks_and_eligibility(seed, selection):
    g = torch.Generator().manual_seed(seed)
    # few distinct magnitudes (many ties), both signs, some exact zeros
    weight = (torch.randint(-6, 7, (37, 29), generator=g) / 4.0).float()
    mask = (torch.rand(37, 29, generator=g) > 0.3).float()
    eligible = torch.rand(37, 29, generator=g) > 0.2
    fraction = [0.0, 0.35, 0.5, 0.8, 0.95, 0.99][seed]
    got = magnitude_mask(weight, mask, fraction, eligible, selection=selection)
    assert torch.equal(got, reference_mask(weight, mask, fraction, eligible))


@BOTH_PATHS
def test_nan_weights_are_refused_with_their_index(selection):
    weight = torch.tensor([0.1, float("nan"), 0.3, 0.4])
    with pytest.raises(ValueError, match="NaN at flat index 1"):
        magnitude_mask(weight, torch.ones(4), 0.5, selection=selection)


def test_prune_layers_names_the_layer_with_nan_weights():
    net = nn.Sequential(MaskedLinear(3, 4), nn.ReLU(), MaskedLinear(4, 2))
    with torch.no_grad():
        net[2].weight[1, 2] = float("nan")
    with pytest.raises(ValueError, match=r"Cannot prune layer '2': .*NaN at flat index 6"):
        prune_layers(net, {"0": 0.5, "2": 0.5})


def test_docstring_examples_run():
    import doctest

    import pl_powerlaw.pruning as module

    outcome = doctest.testmod(module)
    assert outcome.attempted >= 3 and outcome.failed == 0  # magnitude_mask, layer_fractions
