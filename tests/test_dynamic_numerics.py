"""Sparse-training numerics against independent references (hand formulas, brute force, chi-square).

References: the cubic schedule of Zhu & Gupta (2017, eq. 1) and RigL's cosine decay (Evci et al.
2020, eq. 1) evaluated by hand; ERK densities solved by hand; drops and gradient growth against
a full sort in numpy; preferential sampling frequencies against ``(k_i k_j)^beta`` by scipy's
chi-square test with a fixed seed.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from pl_powerlaw.dynamic import (
    cosine_update_fraction,
    drop_magnitude,
    drop_signed,
    epsilon_densities,
    gmp_prune_steps,
    gmp_sparsity,
    grow_gradient,
    grow_preferential,
    grow_random,
    layer_densities,
)
from pl_powerlaw.errors import InputError


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        pytest.param(50, 0.1, id="before-t0"),
        pytest.param(100, 0.1, id="t0"),
        pytest.param(300, 0.9 - 0.8 * 0.5**3, id="half"),  # 0.9 + (0.1-0.9)(1-200/400)^3
        pytest.param(350, 0.9 - 0.8 * 0.5**3, id="between-prunes-holds"),
        pytest.param(400, 0.9 - 0.8 * 0.25**3, id="three-quarters"),
        pytest.param(500, 0.9, id="end"),
        pytest.param(900, 0.9, id="after"),
    ],
)
def test_gmp_cubic_schedule_by_hand(step, expected):
    assert gmp_sparsity(step, 0.1, 0.9, 100, 500, 100) == pytest.approx(expected, abs=1e-12)
    assert gmp_prune_steps(100, 500, 100) == [100, 200, 300, 400, 500]


def test_cosine_update_fraction_by_hand():
    assert cosine_update_fraction(0, 0.3, 90) == pytest.approx(0.3)
    assert cosine_update_fraction(30, 0.3, 90) == pytest.approx(0.15 * 1.5)  # cos(pi/3) = 1/2
    assert cosine_update_fraction(45, 0.3, 90) == pytest.approx(0.15)
    assert cosine_update_fraction(90, 0.3, 90) == 0.0


def test_erk_densities_by_hand():
    # the paper's MLP hidden layers: eps = 0.1 (802816 + 1048576) / (1808 + 2048)
    shapes = {"fc1": (1024, 784), "fc2": (1024, 1024)}
    eps = 0.1 * (802816 + 1048576) / (1808 + 2048)
    got = layer_densities(shapes, 0.1, "erk")
    assert got["fc1"] == pytest.approx(eps * 1808 / 802816, rel=1e-12)
    assert got["fc2"] == pytest.approx(eps * 2048 / 1048576, rel=1e-12)
    # a small layer that would exceed 1 is dense, eps is solved again for the big one
    capped = layer_densities({"small": (10, 10), "big": (1000, 1000)}, 0.5, "erk")
    assert capped["small"] == 1.0
    assert capped["big"] == pytest.approx((0.5 * 1_000_100 - 100) / 1_000_000, rel=1e-12)
    # conv kernels count in ERK: (out + in + kh + kw) / (out in kh kw)
    conv = layer_densities({"c": (8, 4, 3, 3), "f": (10, 288)}, 0.3, "erk")
    total = 0.3 * (288 + 2880)
    eps = total / ((18 / 288) * 288 + (298 / 2880) * 2880)
    assert conv["c"] == pytest.approx(eps * 18 / 288)
    assert layer_densities(shapes, 0.2, "uniform") == {"fc1": 0.2, "fc2": 0.2}
    assert epsilon_densities({"fc": (1000, 1000)}, 20) == {"fc": pytest.approx(0.04)}


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: layer_densities({"a": (2, 2)}, 1.5), id="density-above-1"),
        pytest.param(lambda: layer_densities({"a": (2, 2)}, 0.0), id="density-0"),
        pytest.param(lambda: layer_densities({"a": (2, 2)}, 0.5, "er"), id="distribution"),
        pytest.param(lambda: epsilon_densities({"a": (4, 4)}, 20), id="epsilon-too-big"),
        pytest.param(lambda: epsilon_densities({"a": (4, 4)}, -1), id="epsilon-negative"),
    ],
)
def test_bad_density_arguments_are_input_errors(call):
    with pytest.raises(InputError):
        call()


def _kept_and_weights(seed: int, shape=(20, 30), density=0.4):
    g = torch.Generator().manual_seed(seed)
    weight = torch.randn(shape, generator=g)
    kept = torch.rand(shape, generator=g) < density
    return weight * kept, kept


@pytest.mark.parametrize("zeta", [0.1, 0.3, 0.5])
def test_set_drops_exactly_the_smallest_positive_and_largest_negative(zeta):
    weight, kept = _kept_and_weights(1)
    after = drop_signed(weight, kept, zeta)
    w, k = weight.numpy().ravel(), kept.numpy().ravel()
    pos = np.flatnonzero(k & (w > 0))
    neg = np.flatnonzero(k & (w < 0))
    drop_pos = pos[np.argsort(w[pos], kind="stable")[: round(zeta * pos.size)]]
    drop_neg = neg[np.argsort(-w[neg], kind="stable")[: round(zeta * neg.size)]]
    expected = k.copy()
    expected[drop_pos] = False
    expected[drop_neg] = False
    assert np.array_equal(after.numpy().ravel(), expected)


def test_magnitude_drop_against_a_sort_with_ties():
    weight, kept = _kept_and_weights(2)
    weight = (weight * 4).round() / 4  # many ties
    weight = torch.where(kept & (weight == 0), torch.full_like(weight, 0.25), weight)
    after = drop_magnitude(weight, kept, 57)
    w, k = weight.abs().numpy().ravel(), kept.numpy().ravel()
    index = np.flatnonzero(k)
    gone = index[np.argsort(w[index], kind="stable")[:57]]  # ties: lower flat index first
    expected = k.copy()
    expected[gone] = False
    assert np.array_equal(after.numpy().ravel(), expected)
    assert int(after.sum()) == int(kept.sum()) - 57


def test_rigl_grows_the_top_gradient_free_entries_against_a_sort():
    g = torch.Generator().manual_seed(3)
    grad = (torch.randn(20, 30, generator=g) * 3).round() / 3  # ties
    _, kept = _kept_and_weights(3)
    free = ~kept
    grown = grow_gradient(grad, free, 80)
    a, f = grad.abs().numpy().ravel(), free.numpy().ravel()
    index = np.flatnonzero(f)
    chosen = index[np.argsort(-a[index], kind="stable")[:80]]
    expected = np.zeros_like(f)
    expected[chosen] = True
    assert np.array_equal(grown.numpy().ravel(), expected)


def test_random_growth_takes_free_entries_only():
    _, kept = _kept_and_weights(4)
    grown = grow_random(~kept, 100, torch.Generator().manual_seed(0))
    assert int(grown.sum()) == 100 and not bool((grown & kept).any())


@pytest.mark.parametrize("beta", [0.0, 1.0, 2.0])
def test_preferential_draw_frequencies_follow_kk_beta(beta):
    out_degrees = torch.tensor([1, 2, 5])
    in_degrees = torch.tensor([1, 3, 4, 8])
    free = torch.ones(3, 4, dtype=torch.bool)
    free[2, 3] = False  # a kept entry is never drawn
    generator = torch.Generator().manual_seed(0)
    n = 6000
    counts = np.zeros(12)
    for _ in range(n):
        grown = grow_preferential(out_degrees, in_degrees, free, 1, beta, generator)
        counts += grown.numpy().ravel()
    weights = (np.outer([1, 2, 5], [1, 3, 4, 8]).astype(float) ** beta).ravel()
    weights[11] = 0.0
    assert counts[11] == 0
    expected = n * weights[:11] / weights[:11].sum()
    result = stats.chisquare(counts[:11], expected)
    assert result.pvalue > 1e-3, (counts, expected)


def test_preferential_draws_without_replacement_and_exact_counts():
    free = torch.ones(30, 40, dtype=torch.bool)
    free[:, :5] = False
    grown = grow_preferential(
        torch.arange(30) + 1, torch.arange(40) + 1, free, 300, 1.0, torch.Generator().manual_seed(1)
    )
    assert int(grown.sum()) == 300 and not bool((grown & ~free).any())
    # beta = 1: the high-degree corner holds far more than its share of the draws
    high = int(grown[15:, 20:].sum())
    assert high > 300 * 0.5 * math.prod((15, 20)) / (30 * 35)
