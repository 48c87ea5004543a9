"""Ownership, pruning and freezing of ``pl_powerlaw.continual`` on tiny multi-head nets (no Lightning).

The reference for "frozen" is bit equality (``torch.equal``) with a copy taken before training; the
negative controls show that without :func:`restore_frozen` the same training does move them.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pl_powerlaw.continual import (
    FREE,
    claim_free_weights,
    freeze_plan,
    owned_layers,
    ownership_counts,
    prune_task,
    reset_optimizer_state,
    restore_frozen,
    task_kept,
    task_weight,
)
from pl_powerlaw.models.multihead import MultiHeadMLP
from pl_powerlaw.nn import TaskMaskedLinear
from pl_powerlaw.pruning import clear_optimizer_state

OPTIMIZERS = [
    pytest.param(
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-2),
        id="sgd-nesterov-wd",
    ),
    pytest.param(
        lambda p: torch.optim.RMSprop(p, lr=1e-2, momentum=0.5, weight_decay=1e-2), id="rmsprop-wd"
    ),
    pytest.param(lambda p: torch.optim.Adam(p, lr=1e-2, weight_decay=1e-2), id="adam-wd"),
    pytest.param(lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=1e-1), id="adamw"),
]


def tiny_net(seed: int = 0, num_tasks: int = 2) -> MultiHeadMLP:
    torch.manual_seed(seed)
    return MultiHeadMLP(
        num_tasks=num_tasks,
        hidden=(16, 8),
        input_shape=(1, 3, 4),
        in_dropout=0.0,
        hidden_dropout=0.0,
    )


def batches(seed: int, n: int = 8, size: int = 16):
    generator = torch.Generator().manual_seed(seed)
    return [
        (
            torch.randn(size, 1, 3, 4, generator=generator),
            torch.randint(0, 10, (size,), generator=generator),
        )
        for _ in range(n)
    ]


def train(net, optimizer, task: int, data, plan=None) -> None:
    net.train()
    for x, y in data:
        optimizer.zero_grad()
        F.cross_entropy(net(x, task), y).backward()
        optimizer.step()
        if plan is not None:
            restore_frozen(plan)


def run_task0(net, make_optimizer, fraction: float = 0.6):
    """Task 0: claim, train, prune, retrain, as TaskFreezing does."""
    optimizer = make_optimizer(net.parameters())
    claim_free_weights(net, 0)
    plan = freeze_plan(net, 0)
    train(net, optimizer, 0, batches(0), plan)
    prune_task(net, 0, dict.fromkeys(owned_layers(net), fraction))
    clear_optimizer_state(optimizer, net)
    plan = freeze_plan(net, 0)
    train(net, optimizer, 0, batches(1), plan)
    return optimizer


def test_owner_buffers_are_registered_at_construction_and_saved() -> None:
    net = tiny_net()
    state = net.state_dict()
    assert {"fc1.weight_owner", "fc2.weight_owner"} <= set(state)
    assert state["fc1.weight_owner"].dtype == torch.int8
    assert torch.all(state["fc1.weight_owner"] == FREE)
    assert not any(key.startswith("heads") and key.endswith("owner") for key in state)


def test_claim_prune_release_semantics() -> None:
    net = tiny_net()
    claimed = claim_free_weights(net, 0)
    assert claimed == {"fc1": 16 * 12, "fc2": 8 * 16}
    kept = prune_task(net, 0, {"fc1": 0.75, "fc2": 0.5})
    assert kept == {"fc1": 48, "fc2": 64}  # round(0.25 * 192), round(0.5 * 128)
    for layer in owned_layers(net).values():
        owner = layer.weight_owner
        assert torch.equal(owner == 0, layer.weight_mask != 0)  # kept <=> owned by task 0
        assert torch.all(layer.weight[owner == FREE] == 0)
    # the survivors are the largest |w| of the layer (magnitude pruning)
    w = net.fc1.weight.detach().abs()
    assert w[net.fc1.weight_owner == 0].min() >= w[net.fc1.weight_owner == FREE].max()


def test_prune_task_never_touches_other_tasks_entries() -> None:
    net = tiny_net()
    claim_free_weights(net, 0)
    prune_task(net, 0, dict.fromkeys(owned_layers(net), 0.5))
    before = {name: layer.weight.detach().clone() for name, layer in owned_layers(net).items()}
    owned0 = {name: layer.weight_owner == 0 for name, layer in owned_layers(net).items()}
    claim_free_weights(net, 1, init=nn.init.xavier_uniform_)
    # make task 1's weights tiny so that magnitude alone would prune task 0's first
    for layer in owned_layers(net).values():
        with torch.no_grad():
            layer.weight[layer.weight_owner == 1] *= 1e-6
    kept = prune_task(net, 1, dict.fromkeys(owned_layers(net), 0.5))
    for name, layer in owned_layers(net).items():
        assert torch.equal(layer.weight_owner == 0, owned0[name])
        assert torch.equal(layer.weight[owned0[name]], before[name][owned0[name]])
        n_task1 = int((~owned0[name]).sum())
        assert kept[name] == n_task1 - round(0.5 * n_task1)


def test_claim_reinitialises_only_free_entries() -> None:
    net = tiny_net()
    claim_free_weights(net, 0)
    prune_task(net, 0, dict.fromkeys(owned_layers(net), 0.5))
    before = net.fc1.weight.detach().clone()
    free = net.fc1.weight_owner == FREE
    claim_free_weights(net, 1, init=nn.init.xavier_uniform_)
    after = net.fc1.weight.detach()
    assert torch.equal(after[~free], before[~free])
    assert torch.all(after[free] != 0)  # Glorot values, were 0
    bound = (6 / (12 + 16)) ** 0.5
    assert after[free].abs().max() <= bound
    assert torch.all(net.fc1.weight_mask[free] == 1) and torch.all(net.fc1.weight_owner[free] == 1)


@pytest.mark.parametrize("make_optimizer", OPTIMIZERS)
def test_frozen_parameters_stay_bit_identical(make_optimizer) -> None:
    net = tiny_net()
    optimizer = run_task0(net, make_optimizer)
    owned0 = {name: layer.weight_owner == 0 for name, layer in owned_layers(net).items()}
    frozen_before = {k: v.clone() for k, v in net.state_dict().items() if "weight_owner" not in k}
    claim_free_weights(net, 1, init=nn.init.xavier_uniform_)
    reset_optimizer_state([optimizer])
    plan = freeze_plan(net, 1)
    train(net, optimizer, 1, batches(2), plan)
    prune_task(net, 1, dict.fromkeys(owned_layers(net), 0.5))
    clear_optimizer_state(optimizer, net)
    plan = freeze_plan(net, 1)
    train(net, optimizer, 1, batches(3), plan)
    state = net.state_dict()
    for name in owned_layers(net):
        weight = state[f"{name}.weight"]
        assert torch.equal(weight[owned0[name]], frozen_before[f"{name}.weight"][owned0[name]])
        assert torch.equal(state[f"{name}.bias"], frozen_before[f"{name}.bias"])  # biases: task 0's
        task1 = state[f"{name}.weight_owner"] == 1
        assert task1.any() and not torch.equal(weight[task1], torch.zeros_like(weight[task1]))
        assert torch.all(weight[state[f"{name}.weight_mask"] == 0] == 0)  # pruned entries stay 0
    for key in ("heads.0.weight", "heads.0.bias"):
        assert torch.equal(state[key], frozen_before[key])
    assert not torch.equal(
        state["heads.1.weight"], frozen_before["heads.1.weight"]
    )  # task 1 trained


@pytest.mark.parametrize("make_optimizer", OPTIMIZERS)
def test_without_restoring_frozen_weights_move(make_optimizer) -> None:
    # Negative control: gradient masking alone (frozen entries get no gradient) is not enough
    # with momentum state carried over, weight decay or decoupled decay.
    net = tiny_net()
    optimizer = run_task0(net, make_optimizer)
    owned0 = net.fc1.weight_owner == 0
    before = net.fc1.weight.detach().clone()
    claim_free_weights(net, 1, init=nn.init.xavier_uniform_)
    net.fc1.weight.register_hook(lambda g: g * (net.fc1.weight_owner != 0))
    train(net, optimizer, 1, batches(2))
    assert not torch.equal(net.fc1.weight.detach()[owned0], before[owned0])


def test_task_view_gives_bit_identical_logits_after_a_later_task() -> None:
    net = tiny_net()
    optimizer = run_task0(net, OPTIMIZERS[2].values[0])
    x = torch.randn(32, 1, 3, 4, generator=torch.Generator().manual_seed(5))
    net.eval()
    logits0 = net(x, 0).detach().clone()
    claim_free_weights(net, 1, init=nn.init.xavier_uniform_)
    reset_optimizer_state([optimizer])
    plan = freeze_plan(net, 1)
    train(net, optimizer, 1, batches(2), plan)
    prune_task(net, 1, dict.fromkeys(owned_layers(net), 0.5))
    net.eval()
    assert torch.equal(net(x, 0), logits0)
    assert not torch.equal(net.fc1(x.flatten(1), None), net.fc1(x.flatten(1), 0))  # task 1 differs


def test_new_connections_only_in_entries_that_were_free() -> None:
    net = tiny_net()
    run_task0(net, OPTIMIZERS[0].values[0])
    kept_a = task_kept(net, 0)
    free_after_a = {name: layer.weight_owner == FREE for name, layer in owned_layers(net).items()}
    claim_free_weights(net, 1, init=nn.init.xavier_uniform_)
    prune_task(net, 1, dict.fromkeys(owned_layers(net), 0.5))
    kept_b = task_kept(net, 1)
    new = task_kept(net, 1, only=True)
    for name in kept_a:
        assert torch.equal(kept_a[name] & kept_b[name], kept_a[name])  # nothing of task A lost
        assert torch.equal(new[name], kept_b[name] & ~kept_a[name])
        assert not (new[name] & ~free_after_a[name]).any()  # new links only where entries were free
        assert new[name].any()
    counts = ownership_counts(net, 2)
    assert counts["fc1"]["free"] + counts["fc1"]["task0"] + counts["fc1"]["task1"] == 16 * 12


def test_task_weight_hides_later_tasks_only() -> None:
    layer = TaskMaskedLinear(3, 2)
    layer.weight_owner.copy_(torch.tensor([[0, 1, -1], [1, 0, 2]], dtype=torch.int8))
    layer.weight_mask.copy_(torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]]))
    expected = torch.tensor([[True, False, False], [False, True, False]])
    assert torch.equal(task_weight(layer, 0) != 0, expected & (layer.weight != 0))
    assert torch.equal(task_weight(layer, 2), layer.weight * layer.weight_mask)


def test_freeze_plan_counts_frozen_parameters() -> None:
    net = tiny_net()
    assert freeze_plan(net, 0).n_frozen() == sum(p.numel() for p in net.heads[1].parameters())
    claim_free_weights(net, 0)
    prune_task(net, 0, dict.fromkeys(owned_layers(net), 0.5))
    n_owned0 = int((net.fc1.weight_owner == 0).sum() + (net.fc2.weight_owner == 0).sum())
    biases = net.fc1.bias.numel() + net.fc2.bias.numel()
    head0 = sum(p.numel() for p in net.heads[0].parameters())
    assert freeze_plan(net, 1).n_frozen() == n_owned0 + biases + head0


@pytest.mark.parametrize(
    ("call", "match"),
    [
        pytest.param(lambda net: claim_free_weights(net, -1), "task", id="negative-task"),
        pytest.param(
            lambda net: prune_task(net, 0, {"fc9": 0.5}), "Unknown layer", id="unknown-layer"
        ),
        pytest.param(lambda net: prune_task(net, 0, {"fc1": 1.0}), r"\[0, 1\)", id="fraction-one"),
        pytest.param(
            lambda net: owned_layers(nn.Linear(2, 2)), "weight_owner", id="no-owner-buffers"
        ),
        pytest.param(lambda net: net(torch.zeros(1, 1, 3, 4), 2), "task", id="head-out-of-range"),
    ],
)
def test_bad_arguments_raise(call, match) -> None:
    with pytest.raises(ValueError, match=match):
        call(tiny_net())


def test_seeded_reinitialisation_ignores_the_global_random_state() -> None:
    nets = []
    for global_seed in (1, 2):
        net = tiny_net()
        claim_free_weights(net, 0)
        prune_task(net, 0, dict.fromkeys(owned_layers(net), 0.5))
        torch.manual_seed(global_seed)
        claim_free_weights(net, 1, init=nn.init.xavier_uniform_, seed=123)
        nets.append(net)
    assert torch.equal(nets[0].fc1.weight, nets[1].fc1.weight)
    net = tiny_net()
    state = torch.random.get_rng_state()
    claim_free_weights(net, 0, init=nn.init.xavier_uniform_, seed=5)
    assert torch.equal(torch.random.get_rng_state(), state)  # the global generator is untouched
