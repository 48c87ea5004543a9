"""The classifier's logged loss and accuracy equal the same numbers computed by hand.

The optimizer's learning rate is 0, so the net is fixed for the whole epoch and the epoch's
accuracy and mean loss are plain functions of its predictions on the training and validation sets.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from lightning.pytorch import Trainer, seed_everything
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from pl_powerlaw.models import ImageClassifier


def batches(x, y, batch_size):
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=False)


def test_epoch_accuracy_and_loss_match_a_hand_computation(tmp_path, tiny_trainer_kwargs):
    seed_everything(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
    x_train, y_train = torch.randn(40, 1, 3, 4), torch.randint(0, 3, (40,))
    x_val, y_val = torch.randn(30, 1, 3, 4), torch.randint(0, 3, (30,))
    model = ImageClassifier(net, num_classes=3, optimizer=lambda p: torch.optim.SGD(p, lr=0.0))
    trainer = Trainer(max_epochs=1, num_sanity_val_steps=0, **tiny_trainer_kwargs)
    trainer.fit(model, batches(x_train, y_train, 10), batches(x_val, y_val, 10))
    metrics = trainer.callback_metrics
    with torch.no_grad():
        for stage, x, y in (("train", x_train, y_train), ("val", x_val, y_val)):
            logits = net(x)
            accuracy = (logits.argmax(1) == y).double().mean().item()
            loss = F.cross_entropy(logits, y).item()
            assert abs(float(metrics[f"{stage}/acc"]) - accuracy) < 1e-6, stage
            key = "train/loss_epoch" if stage == "train" else "val/loss"
            assert abs(float(metrics[key]) - loss) < 1e-5, stage
    # a second epoch starts from a reset accuracy: the same fixed net gives the same number
    trainer.fit_loop.max_epochs = 2
    trainer.fit(model, batches(x_train, y_train, 10), batches(x_val, y_val, 10))
    assert abs(float(trainer.callback_metrics["train/acc"]) - float(metrics["train/acc"])) < 1e-6


def test_test_accuracy_matches_a_hand_computation(tmp_path, tiny_trainer_kwargs):
    seed_everything(1)
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 4))
    x, y = torch.randn(50, 1, 3, 4), torch.randint(0, 4, (50,))
    model = ImageClassifier(net, num_classes=4)
    (result,) = Trainer(**tiny_trainer_kwargs).test(model, batches(x, y, 20), verbose=False)
    with torch.no_grad():
        accuracy = (net(x).argmax(1) == y).double().mean().item()
    assert abs(result["test/acc"] - accuracy) < 1e-6
