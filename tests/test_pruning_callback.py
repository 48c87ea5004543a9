"""``MagnitudePruning`` end to end on a tiny net: counts, zeros through retraining, resume."""

from pathlib import Path

import pytest
import torch
from lightning.pytorch import Callback, Trainer, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning_helpers import TinyData, TinyMLP

from pl_powerlaw.callbacks import MagnitudePruning
from pl_powerlaw.errors import InputError
from pl_powerlaw.models.classifier import ImageClassifier


def sgd_with_decay(params):
    return torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=1e-3, nesterov=True)


class StopAfterEpoch(Callback):
    """Stop training at the end of epoch ``epoch``: an interrupted run."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if trainer.current_epoch == self.epoch:
            trainer.should_stop = True


def make_model(seed: int = 0) -> ImageClassifier:
    seed_everything(seed)
    return ImageClassifier(TinyMLP(), num_classes=3, optimizer=sgd_with_decay)


def masks(model):
    return {
        n: m.weight_mask.clone() for n, m in model.net.named_modules() if hasattr(m, "weight_mask")
    }


def test_kept_counts_output_and_biases(tiny_trainer_kwargs):
    model = make_model()
    head_before = model.net.fc3.weight.detach().clone()
    pruning = MagnitudePruning(
        prune_epochs=[1], amount={"fc1": 0.75, "fc2": 0.5}, test_accuracy=False
    )
    # A run that ends before its prune epoch used to finish dense-only without a word: refused.
    with pytest.raises(InputError, match=r"max_epochs` > 1 .*retrain1.* but got 1"):
        Trainer(max_epochs=1, callbacks=[pruning], **tiny_trainer_kwargs).fit(model, TinyData())
    assert masks(model)["fc1"].sum() == 192  # nothing pruned, nothing trained
    model = make_model()
    pruning = MagnitudePruning(prune_epochs=[1], amount=0.75, test_accuracy=False)
    trainer = Trainer(max_epochs=2, callbacks=[pruning], **tiny_trainer_kwargs)
    trainer.fit(model, TinyData())
    net = model.net
    # 12*16 = 192 -> 48 kept; 16*8 = 128 -> 32 kept; the output head is excluded by default.
    assert int(net.fc1.weight_mask.sum()) == 48 and int((net.fc1.weight != 0).sum()) == 48
    assert int(net.fc2.weight_mask.sum()) == 32
    assert int(net.fc3.weight_mask.sum()) == 24 and torch.all(net.fc3.weight != 0)
    assert not torch.equal(net.fc3.weight, head_before)  # the head trained, unpruned
    assert torch.all(net.fc1.bias != 0)  # biases are never pruned
    assert trainer.callback_metrics["sparsity/fc1"] == pytest.approx(0.75)


def test_pruned_weights_stay_zero_through_retraining_and_checkpoint(tiny_trainer_kwargs, tmp_path):
    model = make_model()
    pruning = MagnitudePruning(prune_epochs=[1], amount=0.9, test_accuracy=True)
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    kwargs = {**tiny_trainer_kwargs, "enable_checkpointing": True}
    trainer = Trainer(max_epochs=4, callbacks=[pruning, checkpoint], **kwargs)
    trainer.fit(model, TinyData())
    for name, mask in masks(model).items():
        weight = dict(model.net.named_modules())[name].weight
        assert torch.all(weight[mask == 0] == 0), name
    assert set(pruning.accuracy) == {"test_dense/acc", "test_sparse/acc"}
    state = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)["state_dict"]
    restored = ImageClassifier(TinyMLP(), num_classes=3)
    restored.load_state_dict(state, strict=True)
    assert torch.equal(restored.net.fc1.weight_mask, model.net.fc1.weight_mask)
    assert torch.all(restored.net.fc1.weight[restored.net.fc1.weight_mask == 0] == 0)


def test_resume_in_the_middle_of_retraining(tiny_trainer_kwargs, tmp_path):
    kwargs = {**tiny_trainer_kwargs, "enable_checkpointing": True}
    schedule = {"prune_epochs": [1, 3], "amount": [0.5, 0.8], "test_accuracy": False}

    model = make_model()
    full = Trainer(max_epochs=5, callbacks=[MagnitudePruning(**schedule)], **kwargs)
    full.fit(model, TinyData())
    expected = masks(model)

    checkpoint = ModelCheckpoint(dirpath=tmp_path / "part", save_top_k=-1, every_n_epochs=1)
    first = make_model()
    interrupt = StopAfterEpoch(2)  # the run is cut off after epoch 2 of 5
    callbacks = [MagnitudePruning(**schedule), checkpoint, interrupt]
    Trainer(max_epochs=5, callbacks=callbacks, **kwargs).fit(first, TinyData())
    ckpt = sorted(Path(tmp_path / "part").glob("epoch=1-*.ckpt"))[0]  # after epoch 1 (retrain1)
    resumed = make_model(seed=1)  # different init: everything must come from the checkpoint
    pruning = MagnitudePruning(**schedule)
    Trainer(max_epochs=5, callbacks=[pruning], **kwargs).fit(resumed, TinyData(), ckpt_path=ckpt)
    assert pruning.events_done == [1, 3]
    got = masks(resumed)
    assert int(got["fc1"].sum()) == round(0.2 * 192)
    for name in expected:
        assert torch.equal(got[name], expected[name]), name


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param(
            {"amount": 1.0}, r"Expected `amount` in \[0, 1\) but got 1.0", id="fraction-1"
        ),
        pytest.param({"amount": -0.1}, r"in \[0, 1\) but got -0.1", id="negative"),
        pytest.param({"amount": [0.5]}, "one `amount` per prune epoch", id="events"),
        pytest.param({"prune_epochs": [3, 1], "amount": 0.5}, "strictly increasing", id="order"),
        pytest.param({"amount": None}, "one of `amount` or `preset`", id="none"),
    ],
)
def test_bad_arguments_fail_at_construction(kwargs, message):
    arguments = {"prune_epochs": [1, 2], **kwargs}
    with pytest.raises(ValueError, match=message):
        MagnitudePruning(**arguments)


def test_unknown_layer_and_unmasked_model_fail_at_setup(tiny_trainer_kwargs):
    model = make_model()
    pruning = MagnitudePruning(prune_epochs=[1], amount={"fc7": 0.5})
    with pytest.raises(ValueError, match=r"Unknown layer name\(s\) \['fc7'\]"):
        Trainer(max_epochs=1, callbacks=[pruning], **tiny_trainer_kwargs).fit(model, TinyData())
    # A plain model used to be refused; now its layers are masked in setup (keys kept).
    plain = ImageClassifier(
        torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3)), num_classes=3
    )
    callback = MagnitudePruning(prune_epochs=[0], amount=0.5, test_accuracy=False)
    Trainer(max_epochs=1, callbacks=[callback], **tiny_trainer_kwargs).fit(plain, TinyData())
    assert type(plain.net[1]).__name__ == "MaskedLinear"
    assert int(plain.net[1].weight_mask.sum()) == 36  # the output head is never pruned
