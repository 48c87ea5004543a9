"""Masks of recurrent modules: forward, gradients, conversion, pruning and checkpoint checks."""

import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from pl_powerlaw.callbacks.pruning import MagnitudePruning
from pl_powerlaw.checkpoints import CheckpointError, check_masks, check_state_dict, complete_masks
from pl_powerlaw.connectivity.masks import matrix_kept
from pl_powerlaw.errors import InputError
from pl_powerlaw.models.recurrent import RecurrentNet
from pl_powerlaw.nn import MaskedGRU, MaskedLSTM, MaskedRNN, prunable_weights, to_masked
from pl_powerlaw.nn.recurrent import RecurrentMatrix, mask_key
from pl_powerlaw.pruning import (
    clear_optimizer_state,
    hidden_layers,
    layer_fractions,
    magnitude_mask,
    prune_layers,
)

MATRICES = ["weight_ih_l0", "weight_hh_l0", "weight_ih_l1", "weight_hh_l1"]


@pytest.mark.parametrize(
    ("masked", "plain"),
    [
        pytest.param(MaskedRNN, nn.RNN, id="rnn"),
        pytest.param(MaskedLSTM, nn.LSTM, id="lstm"),
        pytest.param(MaskedGRU, nn.GRU, id="gru"),
    ],
)
def test_forward_equals_the_plain_module_with_zeroed_weights(masked, plain):
    torch.manual_seed(0)
    module = masked(3, 4, num_layers=2, batch_first=True)
    reference = plain(3, 4, num_layers=2, batch_first=True)
    g = torch.Generator().manual_seed(1)
    masks = {n: torch.rand(getattr(module, n).shape, generator=g) < 0.5 for n in MATRICES}
    state = {k: v for k, v in module.state_dict().items() if not k.endswith("_mask")}
    for name, mask in masks.items():
        state[name] = state[name] * mask
    reference.load_state_dict(state)
    for name in MATRICES:  # a mask over a non-zero weight: the forward must apply it
        getattr(module, name + "_mask").copy_(masks[name])
    x = torch.randn(2, 5, 3)
    torch.testing.assert_close(module(x)[0], reference(x)[0])


def test_pruned_entries_get_zero_gradients_and_stay_zero_under_adam():
    torch.manual_seed(0)
    net = RecurrentNet(cell="lstm", hidden=6, num_layers=2, input_shape=(4, 3), num_classes=2)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.05)
    x, y = torch.randn(8, 4, 3), torch.randint(0, 2, (8,))
    for _ in range(3):  # dense steps give Adam moments to every entry
        optimizer.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        optimizer.step()
    kept = prune_layers(net, dict.fromkeys(hidden_layers(net), 0.75))
    clear_optimizer_state(optimizer, net)
    for _ in range(5):
        optimizer.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        for name, matrix in prunable_weights(net):
            if name != "head":
                assert bool((matrix.weight.grad[matrix.weight_mask == 0] == 0).all()), name
        optimizer.step()
    for name, matrix in prunable_weights(net):
        if name != "head":
            assert bool((matrix.weight[matrix.weight_mask == 0] == 0).all()), name
            assert int(matrix.kept().sum()) == kept[name]
    assert net.rnn.bias_ih_l0.ne(0).all()  # biases are never masked


def test_prune_layers_prunes_each_matrix_by_its_own_fraction():
    torch.manual_seed(0)
    net = RecurrentNet(cell="gru", hidden=5, num_layers=2, input_shape=(3, 4), num_classes=3)
    names = [name for name, _ in prunable_weights(net)]
    assert names == [f"rnn.{m}" for m in MATRICES] + ["head"]
    assert hidden_layers(net) == [f"rnn.{m}" for m in MATRICES]  # the head is not pruned
    fractions = layer_fractions({"rnn.weight_ih_l0": 0.5, "rnn.weight_hh_l1": 0.9}, names)
    weight = net.rnn.weight_ih_l0.detach().clone()
    kept = prune_layers(net, fractions)
    assert kept == {"rnn.weight_ih_l0": 30, "rnn.weight_hh_l1": 75 - round(0.9 * 75)}
    reference = magnitude_mask(weight, torch.ones_like(weight), 0.5)
    assert torch.equal(net.rnn.weight_ih_l0_mask.bool(), reference)
    assert int(net.rnn.weight_hh_l0_mask.sum()) == 75  # not named: not pruned
    with pytest.raises(InputError, match="Unknown layer name"):
        layer_fractions({"rnn.weight": 0.5}, names)


def test_to_masked_converts_plain_and_torch_pruned_modules_keeping_their_keys():
    torch.manual_seed(0)
    net = nn.Sequential(nn.LSTM(3, 4, num_layers=2), nn.Linear(4, 2))
    keys = list(net.state_dict())
    prune.l1_unstructured(net[0], "weight_hh_l1", amount=0.5)
    expected_mask = net[0].weight_hh_l1_mask.clone()
    x = torch.randn(5, 2, 3)
    before = net[0](x)[0]
    assert to_masked(net) == ["0", "1"]
    assert type(net[0]) is MaskedLSTM
    mask_keys = [f"0.{m}_mask" for m in MATRICES]
    assert sorted(net.state_dict()) == sorted(keys + mask_keys + ["1.weight_mask"])
    assert torch.equal(net[0].weight_hh_l1_mask, expected_mask)
    assert int(net[0].weight_ih_l0_mask.sum()) == net[0].weight_ih_l0.numel()
    torch.testing.assert_close(net[0](x)[0], before)
    assert to_masked(net) == []
    with pytest.raises(
        ValueError, match=r"\(or nn.RNN/nn.LSTM/nn.GRU\) but `0` is a bidirectional GRU"
    ):
        to_masked(nn.Sequential(nn.GRU(2, 3, bidirectional=True)))


def test_matrix_kept_reads_torch_prune_and_zeros():
    rnn = nn.RNN(2, 3)
    mask = torch.tensor([[1, 0], [0, 1], [1, 1]])
    prune.custom_from_mask(rnn, "weight_ih_l0", mask)
    assert torch.equal(matrix_kept(rnn, "weight_ih_l0"), mask.bool())
    with torch.no_grad():
        rnn.weight_hh_l0[0] = 0
    assert matrix_kept(rnn, "weight_hh_l0").sum(1).tolist() == [0, 3, 3]


def test_checkpoint_checks_cover_recurrent_masks():
    with pytest.raises(CheckpointError, match="`net.rnn.weight_hh_l0_mask` to hold only 0 and 1"):
        check_masks({"net.rnn.weight_hh_l0_mask": torch.tensor([1.0, 0.5])})
    owners = torch.tensor([-1, 0, 1], dtype=torch.int8)
    check_masks({"net.rnn.weight_ih_l0_owner": owners})
    owners[2] = -7  # a flipped byte in a task-owned LSTM's owner buffer
    with pytest.raises(CheckpointError, match="`net.rnn.weight_ih_l0_owner` to hold task owners"):
        check_masks({"net.rnn.weight_ih_l0_owner": owners})
    net = RecurrentNet(hidden=3, input_shape=(2, 2), num_classes=2)
    state = {k: v for k, v in net.state_dict().items() if not k.endswith("mask")}
    state["rnn.weight_ih_l0"] = state["rnn.weight_ih_l0"].clone()
    state["rnn.weight_ih_l0"][0] = 0
    check_state_dict(net, state)  # missing masks are derivable
    full = complete_masks(net, state)
    assert full["rnn.weight_ih_l0_mask"].sum(1).tolist() == [0.0] + [2.0] * 11
    assert mask_key("rnn.weight_ih_l0") == "rnn.weight_ih_l0_mask"


def test_magnitude_pruning_refuses_a_checkpoint_with_changed_recurrent_masks():
    callback = MagnitudePruning(prune_epochs=[1], amount=0.5)
    masks = {"net.rnn.weight_hh_l0_mask": torch.ones(4, 2)}
    checkpoint = {
        "callbacks": {
            callback.state_key: {"events_done": [1], "kept": {"1": {"rnn.weight_hh_l0": 4}}}
        },
        "state_dict": masks,
    }
    with pytest.raises(InputError, match="`net.rnn.weight_hh_l0_mask` to keep 4 weights"):
        callback.on_load_checkpoint(None, None, checkpoint)


def test_set_mask_checks_the_shape():
    with pytest.raises(ValueError, match=r"Expected a mask of shape \(4, 2\)"):
        RecurrentMatrix(MaskedRNN(2, 4), "weight_ih_l0").set_mask(torch.ones(2, 4))
