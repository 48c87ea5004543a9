"""Sparse-training callbacks on a tiny net: exact kept counts, zero regrowth, RigL's gradient, resume.

References: kept counts against the initial ``round(density n)``; RigL's grown entries against
:func:`pl_powerlaw.dynamic.grow_gradient` on a dense gradient computed here by hand (full batch,
learning rate 0, so the weights the callback saw are the initial ones); the resumed run against
the uninterrupted one.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from lightning.pytorch import LightningDataModule, Trainer, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning_helpers import TinyData, TinyMLP
from torch.utils.data import DataLoader, TensorDataset

from pl_powerlaw.callbacks import (
    SET,
    GradualMagnitudePruning,
    PreferentialRegrowth,
    PruneAndRegrow,
    RigL,
)
from pl_powerlaw.dynamic import drop_magnitude, grow_gradient, kept_count, layer_densities
from pl_powerlaw.dynamic.step import install_random_masks, prune_and_regrow
from pl_powerlaw.errors import InputError
from pl_powerlaw.models import ImageClassifier


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: SET(update_fraction=1.5), id="fraction-above-1"),
        pytest.param(lambda: SET(update_fraction=0.0), id="fraction-0"),
        pytest.param(lambda: SET(every_n_epochs=0), id="period-0"),
        pytest.param(lambda: RigL(every_n_steps=0), id="steps-period-0"),
        pytest.param(lambda: SET(density=1.5), id="density-above-1"),
        pytest.param(lambda: SET(density=None), id="no-density-nor-epsilon"),
        pytest.param(lambda: SET(every_n_epochs=1, every_n_steps=5), id="two-periods"),
        pytest.param(lambda: PruneAndRegrow(grow="best"), id="unknown-grow"),
        pytest.param(lambda: PreferentialRegrowth(beta=-1), id="negative-beta"),
        pytest.param(lambda: RigL(stop_fraction=0), id="stop-0"),
        pytest.param(lambda: GradualMagnitudePruning(final_sparsity=1.0), id="sparsity-1"),
        pytest.param(lambda: GradualMagnitudePruning(0.5, initial_sparsity=0.6), id="si>sf"),
        pytest.param(lambda: GradualMagnitudePruning(0.9, frequency=0), id="gmp-period-0"),
        pytest.param(lambda: GradualMagnitudePruning(0.9, 0, 0, 10, 3), id="dt-not-dividing"),
    ],
)
def test_bad_arguments_are_input_errors_at_construction(make):
    with pytest.raises(InputError):
        make()


def trainer_for(callback, tmp_path, epochs, **kwargs) -> Trainer:
    return Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        devices=1,
        callbacks=[callback, *kwargs.pop("more", [])],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=bool(kwargs.pop("checkpointing", False)),
        default_root_dir=tmp_path,
        **kwargs,
    )


def model(lr: float = 0.1) -> ImageClassifier:
    def optimizer(params):
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=1e-4)

    return ImageClassifier(TinyMLP(), num_classes=3, optimizer=optimizer)


@pytest.mark.parametrize(
    "callback",
    [
        pytest.param(lambda: SET(density=0.3, test_accuracy=False), id="SET"),
        pytest.param(lambda: RigL(density=0.3, every_n_steps=2, test_accuracy=False), id="RigL"),
        pytest.param(lambda: PreferentialRegrowth(density=0.3, test_accuracy=False), id="PA"),
    ],
)
def test_kept_counts_stay_exact_and_the_output_layer_is_spared(callback, tmp_path):
    seed_everything(0)
    cb = callback()
    module = model()
    trainer_for(cb, tmp_path, 3).fit(module, TinyData())
    net = module.net
    densities = layer_densities({"fc1": (16, 12), "fc2": (8, 16)}, 0.3, "erk")
    updates = [h for h in cb.history if "layers" in h]
    assert len(updates) >= 2
    for name in ("fc1", "fc2"):
        layer = getattr(net, name)
        expected = kept_count(densities[name], layer.weight.numel())
        assert int(layer.weight_mask.sum()) == expected
        assert all(h["layers"][name]["kept"] == expected for h in updates)
        assert all(h["layers"][name]["grown"] == h["layers"][name]["dropped"] for h in updates)
        assert sum(h["layers"][name]["grown"] for h in updates) > 0
        assert bool((layer.weight[layer.weight_mask == 0] == 0).all())
    assert bool((net.fc3.weight_mask == 1).all())


def test_gradual_pruning_reaches_the_final_sparsity_on_schedule(tmp_path):
    seed_everything(0)
    cb = GradualMagnitudePruning(0.75, begin_step=0, end_step=12, frequency=4, test_accuracy=False)
    module = model()
    trainer_for(cb, tmp_path, 4).fit(module, TinyData())  # 6 steps an epoch
    assert [h["step"] for h in cb.history] == [0, 4, 8, 12]
    for h in cb.history:  # kept = n - round(s_t n), s_t by hand from the cubic schedule
        s_t = 0.75 - 0.75 * (1 - h["step"] / 12) ** 3
        assert h["kept"]["fc1"] == 192 - round(s_t * 192)
    assert int(module.net.fc2.weight_mask.sum()) == 128 - 96
    assert bool((module.net.fc3.weight_mask == 1).all())


@pytest.mark.parametrize("adam", [False, True], ids=["sgd-momentum", "adam"])
def test_regrown_weights_and_their_optimizer_state_are_zero(adam):
    torch.manual_seed(0)
    net = TinyMLP()
    install_random_masks(net, {"fc1": 0.5, "fc2": 0.5}, torch.Generator().manual_seed(0))
    optimizer = (
        torch.optim.Adam(net.parameters(), lr=0.01)
        if adam
        else torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    )
    x, y = torch.randn(32, 1, 3, 4), torch.arange(32) % 3
    masks = {name: getattr(net, name).weight_mask.clone() for name in ("fc1", "fc2")}
    for layer in (net.fc1, net.fc2):  # dense state everywhere, so that a reset shows
        layer.weight_mask.fill_(1)
    for _ in range(3):
        optimizer.zero_grad()
        F.cross_entropy(net(x), y).backward()
        optimizer.step()
    for name, mask in masks.items():
        getattr(net, name).set_mask(mask)
    keys = ("exp_avg", "exp_avg_sq") if adam else ("momentum_buffer",)
    for name in masks:  # the state is non-zero where entries will grow
        state = optimizer.state[getattr(net, name).weight]
        assert all(bool((state[key][masks[name] == 0] != 0).any()) for key in keys)
    update = prune_and_regrow(
        net,
        ["fc1", "fc2"],
        0.3,
        "magnitude",
        "random",
        torch.Generator().manual_seed(1),
        optimizers=[optimizer],
    )
    for name in masks:
        layer, grown = getattr(net, name), update.grown[name]
        assert int(grown.sum()) > 0
        assert bool((layer.weight[grown] == 0).all())
        for key in keys:
            assert bool((optimizer.state[layer.weight][key][grown] == 0).all()), key
            assert bool((optimizer.state[layer.weight][key][update.dropped[name]] == 0).all())


class FullBatch(LightningDataModule):
    """TinyData's training set as one unshuffled batch: every step sees the same data."""

    def __init__(self) -> None:
        super().__init__()
        self.data = TinyData()

    def train_dataloader(self) -> DataLoader:
        return DataLoader(TensorDataset(self.data.x, self.data.y), batch_size=96)


def test_rigl_grows_where_the_dense_gradient_is_largest(tmp_path):
    seed_everything(0)
    module = model(lr=0.0)  # the weights stay at their start: the gradient is recomputable
    start = {k: v.clone() for k, v in module.net.state_dict().items()}
    cb = RigL(
        density=0.3, every_n_steps=1, stop_fraction=1.0, update_fraction=0.3, test_accuracy=False
    )
    trainer_for(cb, tmp_path, 2, limit_val_batches=0).fit(module, FullBatch())
    # the reference: the same random masks and the full-batch dense gradient, here by hand
    net = TinyMLP()
    net.load_state_dict(start)
    densities = layer_densities({"fc1": (16, 12), "fc2": (8, 16)}, 0.3, "erk")
    install_random_masks(net, densities, torch.Generator().manual_seed(0))
    masks = {name: getattr(net, name).weight_mask.clone() != 0 for name in ("fc1", "fc2")}
    for name in masks:
        getattr(net, name).weight_mask.fill_(1)
    data = FullBatch().data
    F.cross_entropy(net(data.x), data.y).backward()
    (update,) = [h for h in cb.history if "layers" in h]  # one update, at step 1
    assert update["step"] == 1
    for name, before in masks.items():
        layer = getattr(net, name)
        n_drop = round(update["fraction"] * int(before.sum()))
        after = drop_magnitude(layer.weight.detach(), before, n_drop)
        grown = grow_gradient(layer.weight.grad, ~before, int(before.sum()) - int(after.sum()))
        assert update["layers"][name]["grown"] == int(grown.sum()) > 0
        got = getattr(module.net, name).weight_mask != 0
        assert torch.equal(got, after | grown), name


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: PreferentialRegrowth(density=0.3, test_accuracy=False), id="PA"),
        pytest.param(lambda: RigL(density=0.3, every_n_steps=4, test_accuracy=False), id="RigL"),
    ],
)
def test_resume_mid_schedule_gives_the_same_masks(make, tmp_path):
    def run(folder, ckpt=None):
        seed_everything(0)
        module = model()
        checkpoint = ModelCheckpoint(dirpath=folder, save_top_k=-1, every_n_epochs=1)
        trainer = trainer_for(make(), folder, 4, more=[checkpoint], checkpointing=True)
        trainer.fit(module, TinyData(), ckpt_path=ckpt)
        return module.net

    full = run(tmp_path / "full")
    (ckpt,) = (tmp_path / "full").glob("epoch=1-*.ckpt")
    resumed = run(tmp_path / "resumed", ckpt)
    for name in ("fc1", "fc2"):
        assert torch.equal(getattr(full, name).weight_mask, getattr(resumed, name).weight_mask)
        assert torch.equal(getattr(full, name).weight, getattr(resumed, name).weight)
