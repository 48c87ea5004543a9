"""Sequential MNIST by rows: the data option, the net, and the quick config end to end."""

import json
from pathlib import Path

import pytest
import torch
from conftest import CONFIGS, run_cli
from data_helpers import make_fake_mnist

from pl_powerlaw.data import MNISTDataModule
from pl_powerlaw.errors import InputError
from pl_powerlaw.models import RecurrentNet


def test_rows_layout_gives_28_steps_of_the_image_rows(tmp_path):
    make_fake_mnist(tmp_path, n_train=30, n_test=10)
    image = MNISTDataModule(data_root=str(tmp_path), val_size=10, check_md5=False, cache=False)
    rows = MNISTDataModule(
        data_root=str(tmp_path), val_size=10, check_md5=False, cache=False, layout="rows"
    )
    for dm in (image, rows):
        dm.setup("fit")
    x_image, y_image = image.train_set.__getitems__([0, 3])
    x_rows, y_rows = rows.train_set.__getitems__([0, 3])
    assert x_rows.shape == (2, 28, 28) and rows.input_shape == (28, 28)
    assert torch.equal(x_rows, x_image[:, 0])  # step t holds row t
    assert torch.equal(y_rows, y_image)
    with pytest.raises(ValueError, match="Expected `layout` in"):
        MNISTDataModule(data_root=str(tmp_path), layout="columns")


def test_recurrent_net_checks_its_arguments_and_input():
    assert RecurrentNet(cell="gru", hidden=4, num_layers=2)(torch.zeros(3, 28, 28)).shape == (3, 10)
    with pytest.raises(InputError, match="Expected `cell` in"):
        RecurrentNet(cell="transformer")
    with pytest.raises(InputError, match="Expected `hidden` to be a positive int"):
        RecurrentNet(hidden=0)
    with pytest.raises(InputError, match="Expected sequences"):
        RecurrentNet(hidden=4)(torch.zeros(2, 1, 28, 28))


@pytest.mark.slow
def test_the_quick_config_trains_prunes_and_fits_on_generated_data(tmp_path):
    make_fake_mnist(tmp_path / "data", n_train=160, n_test=40)
    result = run_cli(
        "fit",
        "--config",
        str(CONFIGS / "lstm_mnist_rows_quick.yaml"),
        f"--data.init_args.data_root={tmp_path / 'data'}",
        "--data.init_args.check_md5=false",
        "--data.init_args.val_size=40",
        "--data.init_args.train_subset=null",
        "--model.init_args.net.init_args.hidden=16",
        "--degrees.init_args.n_boot=0",
        "--degrees.init_args.null_draws=2",
        "--trainer.max_epochs=2",
        "--pruning.init_args.prune_epochs=[1]",
        "--trainer.enable_progress_bar=false",
        f"--trainer.default_root_dir={tmp_path}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    log_dir = Path(tmp_path, "lightning_logs", "version_0")
    summary = json.loads((log_dir / "pruning.json").read_text())
    # 90% of each recurrent matrix: 64 x 28 input weights and 64 x 16 recurrent weights
    assert summary["kept"]["1"] == {
        "rnn.weight_ih_l0": 64 * 28 - round(0.9 * 64 * 28),
        "rnn.weight_hh_l0": 64 * 16 - round(0.9 * 64 * 16),
    }
    record = json.loads((log_dir / "degrees" / "fit_end.json").read_text())
    layers = {layer["name"]: layer for layer in record["layers"]}
    assert sorted(layers) == ["input", "rnn.l0"]
    kept_ih, kept_hh = summary["kept"]["1"].values()
    # every kept weight counts at both ends, 28 times (input) or 27 times (recurrent)
    total = sum(sum(layer["degrees"]) for layer in layers.values())
    assert total == 2 * (28 * kept_ih + 27 * kept_hh)
    assert layers["rnn.l0"]["null"]["draws"] == 2
    assert (log_dir / "figures" / "fit_end" / "ccdf_all_layers.png").exists()


def test_the_continual_pipeline_takes_a_multihead_recurrent_net_and_refuses_the_rest():
    # Section 4's preferential-attachment study needs task-owned weights (an owner buffer per
    # entry) and a multi-head net: MultiHeadRecurrentNet has both (docs/recurrent.md); the
    # single-head RecurrentNet has neither, and bidirectional modules stay refused.
    from pl_powerlaw.continual import owned_layers
    from pl_powerlaw.models import MultiHeadRecurrentNet, MultiTaskClassifier
    from pl_powerlaw.nn.recurrent import TaskMaskedLSTM

    net = RecurrentNet(hidden=4)
    with pytest.raises(ValueError, match="carry a `weight_owner` buffer but RecurrentNet has none"):
        owned_layers(net)
    with pytest.raises(ValueError, match="multi-head net with an int `num_tasks`"):
        MultiTaskClassifier(net)
    multihead = MultiHeadRecurrentNet(num_tasks=2, hidden=4)
    assert list(owned_layers(multihead)) == ["rnn.weight_ih_l0", "rnn.weight_hh_l0"]
    assert MultiTaskClassifier(multihead)(torch.zeros(2, 28, 28), task=1).shape == (2, 10)
    with pytest.raises(
        ValueError, match="Expected a unidirectional RNN/LSTM/GRU but .*bidirectional"
    ):
        TaskMaskedLSTM(3, 4, bidirectional=True)
