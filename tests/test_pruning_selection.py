"""Both selection paths of ``magnitude_mask`` (numpy's ``np.partition`` and ``torch.kthvalue``).

``torch.kthvalue`` is the path a GPU takes; here it runs on the CPU through ``selection=``. Every
mask is compared with an independent vectorised reference (a stable sort by ``(|w|, flat
index)``), and the two paths must agree exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import pl_powerlaw.pruning as pruning
from pl_powerlaw.nn import MaskedConv2d, MaskedLinear
from pl_powerlaw.pruning import magnitude_mask, prune_layers

PATHS = ("partition", "kthvalue")


def sorted_reference(
    weight: torch.Tensor, mask: torch.Tensor, fraction: float, eligible: torch.Tensor | None
) -> torch.Tensor:
    """Keep everything but the ``k`` kept eligible entries first in the order ``(|w|, index)``.

    ``k`` is the target ``round(fraction * n_eligible)`` less the eligible entries already
    pruned; the order comes from numpy's ``lexsort`` in float64, independent of the code tested.
    """
    w = weight.detach().double().abs().reshape(-1).numpy()
    kept = (mask != 0).reshape(-1).numpy()
    ok = np.ones_like(kept) if eligible is None else eligible.reshape(-1).numpy()
    n_eligible = int(ok.sum())
    k = round(fraction * n_eligible) - int((ok & ~kept).sum())
    index = np.flatnonzero(ok & kept)
    order = index[np.lexsort((index, w[index]))]  # by |w|, then by flat index
    out = kept.copy()
    out[order[: max(k, 0)]] = False
    return torch.from_numpy(out).reshape(weight.shape)


def tied_weights(shape: tuple[int, ...], levels: int | None, seed: int) -> torch.Tensor:
    """Weights on a few magnitude levels, both signs and exact zeros (many ties); ``levels=None``:
    Gaussian weights without ties, where a selection one rank off changes the mask."""
    g = torch.Generator().manual_seed(seed)
    if levels is None:
        return torch.randn(shape, generator=g)
    return torch.randint(-levels, levels + 1, shape, generator=g).float() / levels


@pytest.mark.parametrize("selection", PATHS)
@pytest.mark.parametrize(
    ("shape", "levels", "fraction", "seed"),
    [
        pytest.param((300, 200), 3, 0.5, 0, id="7-levels-half"),
        pytest.param((64, 3, 5, 5), 1, 0.9, 1, id="conv-3-levels"),
        pytest.param((50_000,), 40, 0.92, 2, id="81-levels-92pct"),
        pytest.param((1000, 17), 1000, 0.999, 3, id="almost-all"),
        pytest.param((129, 7), 2, 1 / 3, 4, id="third"),
        pytest.param((257, 129), None, 0.6, 5, id="no-ties"),
        pytest.param((4, 1, 3, 3), None, 0.95, 6, id="no-ties-tiny"),
    ],
)
def test_both_paths_equal_the_sorted_reference(shape, levels, fraction, seed, selection):
    weight = tied_weights(shape, levels, seed)
    g = torch.Generator().manual_seed(100 + seed)
    mask = (torch.rand(shape, generator=g) > 0.25).float()
    eligible = torch.rand(shape, generator=g) > 0.1
    for allowed in (None, eligible):
        got = magnitude_mask(weight, mask, fraction, allowed, selection=selection)
        want = sorted_reference(weight, mask, fraction, allowed)
        assert torch.equal(got, want), (selection, allowed is None)
        n_eligible = weight.numel() if allowed is None else int(allowed.sum())
        still = torch.ones_like(got) if allowed is None else allowed
        assert int((still & ~got).sum()) == max(
            round(fraction * n_eligible), int((still & (mask == 0)).sum())
        )


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_both_paths_agree_on_low_and_high_precision_weights(dtype):
    g = torch.Generator().manual_seed(7)
    weight = (torch.randn(97, 61, generator=g) * 0.05).to(dtype)  # fp16/bf16: many ties
    mask = torch.ones_like(weight)
    masks = [magnitude_mask(weight, mask, 0.8, selection=s) for s in PATHS]
    assert torch.equal(masks[0], masks[1])
    assert torch.equal(masks[0], sorted_reference(weight.float(), mask, 0.8, None))


def test_the_chosen_path_is_the_one_that_runs(monkeypatch):
    """``auto`` on the CPU calls ``np.partition`` only; ``kthvalue`` calls ``torch.kthvalue`` only."""
    calls: list[str] = []
    partition, kthvalue = np.partition, torch.kthvalue

    def spy_partition(*args, **kwargs):
        calls.append("partition")
        return partition(*args, **kwargs)

    def spy_kthvalue(*args, **kwargs):
        calls.append("kthvalue")
        return kthvalue(*args, **kwargs)

    monkeypatch.setattr(pruning.np, "partition", spy_partition)
    monkeypatch.setattr(pruning.torch, "kthvalue", spy_kthvalue)
    weight = tied_weights((40, 30), 4, 0)
    mask = torch.ones_like(weight)
    expected = sorted_reference(weight, mask, 0.6, None)
    for selection, path in [("auto", "partition"), ("partition", "partition")]:
        calls.clear()
        assert torch.equal(magnitude_mask(weight, mask, 0.6, selection=selection), expected)
        assert calls == [path], selection
    calls.clear()
    assert torch.equal(magnitude_mask(weight, mask, 0.6, selection="kthvalue"), expected)
    assert calls == ["kthvalue"]
    calls.clear()
    magnitude_mask(weight, mask, 0.0, selection="kthvalue")  # nothing to prune: no selection
    assert calls == []


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("selection", ["auto", *PATHS])
def test_cuda_masks_equal_the_cpu_reference(selection):
    weight = tied_weights((512, 300), 5, 11)
    g = torch.Generator().manual_seed(12)
    mask = (torch.rand(weight.shape, generator=g) > 0.2).float()
    eligible = torch.rand(weight.shape, generator=g) > 0.3
    want = sorted_reference(weight, mask, 0.85, eligible)
    got = magnitude_mask(weight.cuda(), mask.cuda(), 0.85, eligible.cuda(), selection=selection)
    assert got.device.type == "cuda" and torch.equal(got.cpu(), want)


def test_prune_layers_passes_the_selection_on():
    def net() -> nn.Module:
        torch.manual_seed(0)
        model = nn.Sequential(MaskedConv2d(2, 6, 3), nn.Flatten(), MaskedLinear(6 * 4 * 4, 10))
        with torch.no_grad():  # coarse weights: ties across both layers
            for layer in (model[0], model[2]):
                layer.weight.copy_(torch.round(layer.weight * 20) / 20)
        return model

    fractions = {"0": 0.7, "2": 0.95}
    nets = {selection: net() for selection in PATHS}
    counts = {s: prune_layers(model, fractions, selection=s) for s, model in nets.items()}
    assert counts["partition"] == counts["kthvalue"] == {"0": 32, "2": 48}
    for name in fractions:
        masks = [dict(model.named_children())[name].weight_mask for model in nets.values()]
        assert torch.equal(masks[0], masks[1]), name
        reference = net()
        layer = dict(reference.named_children())[name]
        want = sorted_reference(layer.weight, layer.weight_mask, fractions[name], None)
        assert torch.equal(masks[0] != 0, want), name


def test_unknown_selection_is_refused():
    with pytest.raises(ValueError, match=r"Expected `selection` in .* but got 'sort'"):
        magnitude_mask(torch.ones(4), torch.ones(4), 0.5, selection="sort")
    net = nn.Sequential(MaskedLinear(3, 4))
    with pytest.raises(ValueError, match="Cannot prune layer '0': Expected `selection`"):
        prune_layers(net, {"0": 0.5}, selection="sort")
