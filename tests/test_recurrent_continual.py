"""Continual learning (paper Sec. 4) on a recurrent net: task-owned LSTM matrices, freezing, and the
preferential-attachment analysis of the recurrent graph (within-layer pairs, docs/recurrent.md).

References: the task views are checked against a plain ``nn.LSTM`` loaded with hand-masked
weights; the ``Pi`` counts against a brute-force loop over the kept entries of hand-set masks and
owners; freezing against snapshots taken at the end of task A.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import CONFIGS, run_cli
from data_helpers import make_fake_mnist
from lightning.pytorch import Callback, LightningDataModule, Trainer, seed_everything
from torch.utils.data import DataLoader, TensorDataset

from pl_powerlaw.analysis.preferential import analyze_transition
from pl_powerlaw.callbacks.task_freezing import TaskFreezing
from pl_powerlaw.continual import (
    FREE,
    claim_free_weights,
    freeze_plan,
    owned_layers,
    ownership_counts,
    prune_task,
    restore_frozen,
    task_kept,
    task_weight,
)
from pl_powerlaw.errors import InputError
from pl_powerlaw.models import MultiHeadRecurrentNet, MultiTaskClassifier
from pl_powerlaw.nn.recurrent import TaskMaskedLSTM

MATRICES = ("weight_ih_l0", "weight_hh_l0")


def _reference_lstm(module: TaskMaskedLSTM, task: int) -> torch.nn.LSTM:
    """A plain nn.LSTM whose matrices are module's, zeroed where mask = 0 or owner > task."""
    plain = torch.nn.LSTM(module.input_size, module.hidden_size, batch_first=True)
    with torch.no_grad():
        for name, param in plain.named_parameters():
            value = getattr(module, name).detach().clone()
            if name in MATRICES:
                mask = getattr(module, name + "_mask")
                owner = getattr(module, name + "_owner")
                value[(mask == 0) | (owner > task)] = 0.0
            param.copy_(value)
    return plain


def test_task_owned_lstm_registers_owners_and_computes_with_the_tasks_entries():
    torch.manual_seed(0)
    lstm = TaskMaskedLSTM(3, 4, batch_first=True)
    keys = set(lstm.state_dict())
    assert {"weight_ih_l0_owner", "weight_hh_l0_owner"} <= keys
    assert lstm.weight_hh_l0_owner.dtype == torch.int8
    assert lstm.weight_ih_l0_owner.unique().tolist() == [FREE]
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name in MATRICES:  # owners -1, 0, 1 and a few pruned entries, drawn at random
            shape = getattr(lstm, name).shape
            getattr(lstm, name + "_owner").copy_(torch.randint(-1, 2, shape, generator=generator))
            getattr(lstm, name + "_mask").copy_(torch.rand(shape, generator=generator) > 0.2)
    x = torch.randn(5, 6, 3, generator=generator)
    outputs = {}
    for task in (0, 1):
        got, _ = lstm(x, None, task)
        want, _ = _reference_lstm(lstm, task)(x)
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)
        outputs[task] = got
    assert not torch.allclose(outputs[0], outputs[1])  # task 1's entries do change the output
    untasked, _ = lstm(x)  # every kept entry, as a MaskedLSTM
    torch.testing.assert_close(untasked, outputs[1], rtol=1e-6, atol=1e-6)  # owners <= 1 here


def test_recurrent_matrices_are_owned_layers_like_task_masked_linear():
    net = MultiHeadRecurrentNet(num_tasks=2, hidden=4, input_shape=(5, 3))
    layers = owned_layers(net)
    assert list(layers) == ["rnn.weight_ih_l0", "rnn.weight_hh_l0"]
    assert layers["rnn.weight_hh_l0"].weight_owner is net.rnn.weight_hh_l0_owner
    claim_free_weights(net, 0)
    kept = prune_task(net, 0, {"rnn.weight_ih_l0": 0.5, "rnn.weight_hh_l0": 0.75})
    assert kept == {"rnn.weight_ih_l0": 24, "rnn.weight_hh_l0": 16}  # 48 / 2, 64 / 4
    counts = ownership_counts(net, 2)
    assert counts["rnn.weight_hh_l0"] == {"free": 48, "task0": 16, "task1": 0}
    mask = net.rnn.weight_hh_l0_mask
    assert torch.equal(mask.bool(), net.rnn.weight_hh_l0_owner == 0)
    hh = layers["rnn.weight_hh_l0"]
    assert torch.equal(task_weight(hh, 0), net.rnn.weight_hh_l0 * mask)
    assert torch.equal(task_kept(net, 0)["rnn.weight_hh_l0"], mask.bool())


def test_multihead_recurrent_net_checks_its_arguments():
    net = MultiHeadRecurrentNet(num_tasks=3, hidden=4)
    assert MultiTaskClassifier(net).num_tasks == 3
    images = torch.randn(2, 1, 28, 28)
    assert torch.equal(net(images, task=2), net(images[:, 0], task=2))  # rows of an image
    with pytest.raises(InputError, match="Expected `task` in \\[0, 3\\) but got 3"):
        net(images, task=3)
    with pytest.raises(InputError, match="Expected `num_tasks` to be an int in"):
        MultiHeadRecurrentNet(num_tasks=0)
    with pytest.raises(InputError, match="Expected `cell` in"):
        MultiHeadRecurrentNet(cell="transformer")
    with pytest.raises(InputError, match="Expected sequences"):
        net(torch.zeros(2, 3, 28, 28))


def _train(net, task, steps, generator, plan):
    """A few SGD steps (momentum, weight decay) on head ``task``, restoring ``plan`` after each."""
    optimizer = torch.optim.SGD(net.parameters(), lr=0.5, momentum=0.9, weight_decay=0.01)
    for _ in range(steps):
        x = torch.randn(8, 5, 3, generator=generator)
        y = torch.randint(0, 10, (8,), generator=generator)
        loss = torch.nn.functional.cross_entropy(net(x, task), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        restore_frozen(plan)


def test_task_b_leaves_task_a_entries_biases_and_outputs_bit_identical():
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    net = MultiHeadRecurrentNet(num_tasks=2, hidden=6, input_shape=(5, 3))
    fractions = {name: 0.6 for name in owned_layers(net)}
    claim_free_weights(net, 0)
    _train(net, 0, 5, generator, freeze_plan(net, 0))
    prune_task(net, 0, fractions)
    _train(net, 0, 5, generator, freeze_plan(net, 0))  # task A retrains
    after_a = {k: v.clone() for k, v in net.state_dict().items()}
    owner_a = {m: getattr(net.rnn, m + "_owner").clone() for m in MATRICES}
    x = torch.randn(7, 5, 3, generator=generator)
    logits_a = net(x, 0).detach().clone()

    claim_free_weights(net, 1, init=net.init_weight, seed=11)
    _train(net, 1, 5, generator, freeze_plan(net, 1))
    prune_task(net, 1, fractions)
    _train(net, 1, 5, generator, freeze_plan(net, 1))  # task B retrains

    for m in MATRICES:
        weight, owned = getattr(net.rnn, m), owner_a[m] == 0
        assert torch.equal(getattr(net.rnn, m + "_owner")[owned], owner_a[m][owned])
        assert torch.equal(weight[owned], after_a[f"rnn.{m}"][owned])  # bit for bit
        new = getattr(net.rnn, m + "_owner") == 1
        assert bool(new.any()) and not bool((new & owned).any())
        assert not torch.equal(weight[new], after_a[f"rnn.{m}"][new])  # B did train its own
    for key in ("rnn.bias_ih_l0", "rnn.bias_hh_l0", "heads.0.weight", "heads.0.bias"):
        assert torch.equal(net.state_dict()[key], after_a[key]), key
    assert not torch.equal(net.heads[1].weight, after_a["heads.1.weight"])
    assert torch.equal(net(x, 0), logits_a)  # task A's outputs unchanged after task B


def _hand_net(steps: int = 4):
    """A 3-unit LSTM over 2 features, matrices of hand-set masks and owners (weights all != 0)."""
    net = MultiHeadRecurrentNet(num_tasks=2, hidden=3, input_shape=(steps, 2))
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for m in MATRICES:
            weight = getattr(net.rnn, m)
            weight.copy_(torch.rand(weight.shape, generator=generator) + 0.5)
            owner = torch.randint(-1, 2, weight.shape, generator=generator).to(torch.int8)
            getattr(net.rnn, m + "_owner").copy_(owner)
            getattr(net.rnn, m + "_mask").copy_(owner >= 0)
    return net


def _brute_force(net, steps: int, reuse: str):
    """Degrees at t = 0, new links per unit, and the (target, source) links of weight_hh."""
    hidden = 3
    m_ih, m_hh = (steps, steps - 1) if reuse == "unrolled" else (1, 1)
    owner_ih = net.rnn.weight_ih_l0_owner.tolist()
    owner_hh = net.rnn.weight_hh_l0_owner.tolist()
    degree = {"input": [0, 0], "rnn.l0": [0] * hidden}
    gained = {"input": [0, 0], "rnn.l0": [0] * hidden}
    hh_new = []  # (source unit, target unit, multiplicity) of each new recurrent connection
    for row, cols in enumerate(owner_ih):
        for i, owner in enumerate(cols):
            if owner >= 0:
                book = degree if owner == 0 else gained
                book["rnn.l0"][row % hidden] += m_ih
                book["input"][i] += m_ih
    for row, cols in enumerate(owner_hh):
        for k, owner in enumerate(cols):
            if owner >= 0:
                book = degree if owner == 0 else gained
                book["rnn.l0"][row % hidden] += m_hh  # the target j at step t
                book["rnn.l0"][k] += m_hh  # the source k at step t - 1
                if owner == 1:
                    hh_new.append((k, row % hidden, m_hh))
    return degree, gained, hh_new


@pytest.mark.parametrize(
    "reuse", [pytest.param("unrolled", id="unrolled"), pytest.param("none", id="none")]
)
def test_within_layer_pi_counts_match_a_brute_force_count(reuse):
    steps = 4
    net = _hand_net(steps)
    degree, gained, hh_new = _brute_force(net, steps, reuse)
    result = analyze_transition(net, 1, n_bins=3, reuse=reuse)
    kernels = {(k.lower, k.upper): k for k in result.kernels}
    assert sorted(kernels) == [("input", "rnn.l0"), ("rnn.l0", "rnn.l0")]
    increments = {inc.name: inc for inc in result.increments}
    for name in ("input", "rnn.l0"):  # degrees and Delta k as the brute force counts them
        inc = increments[name]
        index = np.digitize(degree[name], inc.edges) - 1
        for b in range(len(inc.edges) - 1):
            members = [n for n, i in enumerate(index) if i == b and degree[name][n] > 0]
            assert inc.n_nodes[b] == len(members)
            assert inc.new_links[b] == sum(gained[name][n] for n in members)
    kernel = kernels[("rnn.l0", "rnn.l0")]
    bins = np.digitize(degree["rnn.l0"], kernel.edges_lower) - 1
    valid = [
        d > 0 and 0 <= b < len(kernel.edges_lower) - 1
        for d, b in zip(degree["rnn.l0"], bins, strict=True)
    ]
    want = np.zeros_like(kernel.new_links)
    unbinned = 0
    for source, target, multiplicity in hh_new:
        if valid[source] and valid[target]:
            want[bins[target], bins[source]] += multiplicity  # rows: target (upper) bins
        else:
            unbinned += multiplicity
    assert len(hh_new) > 0 and want.sum() > 0
    assert not np.array_equal(want, want.T)  # the test tells source from target
    np.testing.assert_array_equal(kernel.new_links, want)
    assert kernel.new_links_unbinned == unbinned
    n = np.bincount(bins[np.array(valid)], minlength=len(kernel.edges_lower) - 1)
    np.testing.assert_array_equal(kernel.pairs, np.outer(n, n))
    np.testing.assert_array_equal(kernel.edges_lower, kernel.edges_upper)  # one layer, one binning


class RowTasks(LightningDataModule):
    """Two tasks over sequences of 4 steps x 3 features; task 1 permutes step 1's features."""

    def __init__(self, n: int = 64, batch_size: int = 16) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.num_tasks, self.current_task, self.batch_size = 2, 0, batch_size
        centres = torch.randn(3, 4, 3, generator=generator) * 2
        self.sets = {}
        for split in ("train", "val", "test"):
            y = torch.arange(n) % 3
            self.sets[split] = (centres[y] + torch.randn(n, 4, 3, generator=generator), y)

    def set_task(self, task: int) -> None:
        self.current_task = task

    def _loader(self, split: str, task: int) -> DataLoader:
        x, y = self.sets[split]
        if task == 1:
            x = x.clone()
            x[:, 1] = x[:, 1, [2, 0, 1]]
        return DataLoader(TensorDataset(x, y), batch_size=self.batch_size)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", self.current_task)

    def val_dataloader(self) -> list[DataLoader]:
        return [self._loader("val", t) for t in range(self.current_task + 1)]

    def test_dataloader(self) -> list[DataLoader]:
        return [self._loader("test", t) for t in range(self.current_task + 1)]


class EndOfTaskA(Callback):
    """The net's state and task-0 logits at the end of task A's retraining (epoch ``last``)."""

    def __init__(self, last: int, x: torch.Tensor) -> None:
        self.last, self.x = last, x
        self.state: dict[str, torch.Tensor] = {}
        self.logits: torch.Tensor | None = None

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if trainer.current_epoch == self.last:
            self.state = {k: v.clone() for k, v in pl_module.net.state_dict().items()}
            with torch.no_grad():
                self.logits = pl_module.net(self.x, 0).clone()


def test_task_freezing_callback_freezes_task_a_entries_of_an_lstm(tmp_path):
    seed_everything(0)
    tasks = [
        {"dense_epochs": 2, "retrain_epochs": 1, "amount": 0.5},
        {"dense_epochs": 2, "retrain_epochs": 1, "amount": 0.5},
    ]
    net = MultiHeadRecurrentNet(num_tasks=2, hidden=5, num_classes=3, input_shape=(4, 3))
    model = MultiTaskClassifier(
        net,
        optimizer=lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-3),
    )
    probe = torch.randn(6, 4, 3)
    snapshot = EndOfTaskA(2, probe)
    trainer = Trainer(
        max_epochs=6,
        callbacks=[TaskFreezing(tasks, seed=5), snapshot],
        reload_dataloaders_every_n_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        default_root_dir=tmp_path,
    )
    trainer.fit(model, datamodule=RowTasks())
    state = net.state_dict()
    for m in MATRICES:
        owned_a = snapshot.state[f"rnn.{m}_owner"] == 0
        assert int(owned_a.sum()) == {"weight_ih_l0": 30, "weight_hh_l0": 50}[m]  # half of 60, 100
        assert torch.equal(
            state[f"rnn.{m}_owner"][owned_a], snapshot.state[f"rnn.{m}_owner"][owned_a]
        )
        assert torch.equal(state[f"rnn.{m}"][owned_a], snapshot.state[f"rnn.{m}"][owned_a])
        assert bool((state[f"rnn.{m}_owner"] == 1).any())
    for key in ("rnn.bias_ih_l0", "rnn.bias_hh_l0", "heads.0.weight", "heads.0.bias"):
        assert torch.equal(state[key], snapshot.state[key]), key
    with torch.no_grad():
        assert torch.equal(net(probe, 0), snapshot.logits)


@pytest.mark.slow
def test_the_quick_config_runs_end_to_end_and_writes_the_pa_records(tmp_path):
    make_fake_mnist(tmp_path / "data", n_train=160, n_test=40)
    result = run_cli(
        "fit",
        "--config",
        str(CONFIGS / "continual_lstm_rows_s8_quick.yaml"),
        f"--data.init_args.data_root={tmp_path / 'data'}",
        "--data.init_args.check_md5=false",
        "--data.init_args.val_size=40",
        "--data.init_args.train_subset=null",
        "--model.init_args.net.init_args.hidden=16",
        "--continual.init_args.tasks=[{dense_epochs: 1, retrain_epochs: 1, amount: 0.9}, "
        "{dense_epochs: 1, retrain_epochs: 1, amount: 0.9}]",
        "--trainer.max_epochs=4",
        "--degrees.init_args.null_draws=2",
        "--trainer.enable_progress_bar=false",
        f"--trainer.default_root_dir={tmp_path}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    log_dir = Path(tmp_path, "lightning_logs", "version_0")
    table = json.loads((log_dir / "table1.json").read_text())
    # 90% of each task's entries: task A keeps 10% of 64 x 28 and 64 x 16, task B of the rest
    ih, hh = 64 * 28, 64 * 16
    kept_a = {"rnn.weight_ih_l0": ih - round(0.9 * ih), "rnn.weight_hh_l0": hh - round(0.9 * hh)}
    assert table["kept"]["task0"] == kept_a
    free_after_a = {
        name: n - kept_a[name] for name, n in (("rnn.weight_ih_l0", ih), ("rnn.weight_hh_l0", hh))
    }
    kept_b = {name: n - round(0.9 * n) for name, n in free_after_a.items()}
    assert table["kept"]["task1"] == kept_b
    assert table["table1"]["task0"]["sparse"] == table["table1"]["task0"]["final"]
    record = json.loads((log_dir / "preferential_attachment.json").read_text())
    (transition,) = record["transitions"]
    assert (transition["from_task"], transition["to_task"]) == (0, 1)
    pairs = {(p["lower"], p["upper"]): p for p in transition["layer_pairs"]}
    assert sorted(pairs) == [("input", "rnn.l0"), ("rnn.l0", "rnn.l0")]
    # every new connection enters Pi once: 28 uses of an input weight, 27 of a recurrent one
    for pair, per_weight, matrix in (
        (("input", "rnn.l0"), 28, "rnn.weight_ih_l0"),
        (("rnn.l0", "rnn.l0"), 27, "rnn.weight_hh_l0"),
    ):
        p = pairs[pair]
        total = int(np.sum(p["new_links"])) + p["new_links_unbinned"]
        assert total == per_weight * kept_b[matrix]
    layers = {inc["name"]: inc for inc in transition["node_layers"]}
    assert sorted(layers) == ["input", "rnn.l0"]


def test_the_pa_callback_checks_its_reuse_rule():
    from pl_powerlaw.callbacks.preferential_attachment import PreferentialAttachmentAnalysis

    assert PreferentialAttachmentAnalysis(reuse="none").reuse == "none"
    with pytest.raises(
        InputError, match="Expected `reuse` in \\('unrolled', 'none'\\) but got 'all'"
    ):
        PreferentialAttachmentAnalysis(reuse="all")
