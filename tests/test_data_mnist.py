"""MNISTDataModule: splits, scaling, normalisation, subsets, cache, corrupt files, download.

Small tests use hand-made IDX files (``check_md5=False``); the tests marked "real" use the
official files under ``$PL_POWERLAW_DATA`` and skip when they are absent.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import real_data_root
from data_helpers import MNIST_NAMES, Response, local_http_server, make_fake_mnist, write_idx

from pl_powerlaw.data import CorruptFileError, MNISTDataModule
from pl_powerlaw.data import mnist as mnist_module
from pl_powerlaw.data.idx import read_idx


def fake_module(root, **kwargs) -> MNISTDataModule:
    options = dict(data_root=str(root), check_md5=False, val_size=20, batch_size=16,
                   cache_dir=str(root / "cache"), download=False, progress=False)  # fmt: skip
    return MNISTDataModule(**{**options, **kwargs})


def raw(folder, split):
    images_name, labels_name = MNIST_NAMES[split]
    return read_idx(folder / images_name), read_idx(folder / labels_name)


def test_lasagne_split_order_and_scaling_on_hand_made_files(tmp_path):
    folder = make_fake_mnist(tmp_path, n_train=100, n_test=30)
    dm = fake_module(tmp_path)
    dm.setup("fit")
    train_images, train_labels = raw(folder, "train")
    test_images, test_labels = raw(folder, "test")
    assert (len(dm.train_set), len(dm.val_set), len(dm.test_set)) == (80, 20, 30)
    # first 80 train, last 20 validate; pixels / 255 exactly (float32)
    for dataset, images, labels in [
        (dm.train_set, train_images[:80], train_labels[:80]),
        (dm.val_set, train_images[80:], train_labels[80:]),
        (dm.test_set, test_images, test_labels),
    ]:
        x, y = dataset.__getitems__(list(range(len(dataset))))
        assert x.dtype == torch.float32 and x.shape == (len(dataset), 1, 28, 28)
        assert torch.equal(x, images.unsqueeze(1).float() / 255)
        assert torch.equal(y, labels.long())


def test_loaders_yield_whole_batches_and_shuffle_reproducibly(tmp_path):
    make_fake_mnist(tmp_path, n_train=100, n_test=30)
    orders = []
    for _ in range(2):
        dm = fake_module(tmp_path, seed=3)
        dm.setup("fit")
        epoch1 = torch.cat([y for _, y in dm.train_dataloader()])
        epoch2 = torch.cat([y for _, y in dm.train_dataloader()])  # a re-created loader
        orders.append((epoch1, epoch2))
        sizes = [x.shape[0] for x, _ in dm.train_dataloader()]
        assert sizes == [16] * 5
        assert [y.tolist() for _, y in dm.val_dataloader()][0] == [(80 + i) % 10 for i in range(16)]
    assert torch.equal(orders[0][0], orders[1][0]) and torch.equal(orders[0][1], orders[1][1])
    assert not torch.equal(orders[0][0], orders[0][1])  # the next epoch is a new order
    assert sorted(orders[0][0].tolist()) == sorted([i % 10 for i in range(80)])


def test_normalize_uses_the_training_split_statistics(tmp_path):
    folder = make_fake_mnist(tmp_path, n_train=100, n_test=30)
    dm = fake_module(tmp_path, normalize=True, train_subset=10)
    dm.setup("fit")
    reference = raw(folder, "train")[0][:80].numpy().astype(np.float64) / 255  # not the subset
    assert dm.mean.item() == pytest.approx(reference.mean(), abs=1e-6)
    assert dm.std.item() == pytest.approx(reference.std(), abs=1e-6)
    x, _ = dm.val_set.__getitems__(list(range(20)))
    expected = (raw(folder, "train")[0][80:].float() / 255 - dm.mean) / dm.std
    assert torch.allclose(x[:, 0], expected, atol=1e-6)


def test_subsets_take_the_first_samples_of_each_split(tmp_path):
    make_fake_mnist(tmp_path, n_train=100, n_test=30)
    dm = fake_module(tmp_path, train_subset=7, val_subset=5, test_subset=3)
    dm.setup("fit")
    assert (len(dm.train_set), len(dm.val_set), len(dm.test_set)) == (7, 5, 3)
    assert dm.val_set.labels.tolist() == [i % 10 for i in range(80, 85)]
    with pytest.raises(ValueError, match="Expected `test_subset` <= 30"):
        fake_module(tmp_path, test_subset=31).setup("fit")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param(
            {"batch_size": 0}, "Expected `batch_size` to be an int >= 1 but got 0", id="batch"
        ),
        pytest.param({"dataset": "kmnist"}, "Expected `dataset` in", id="dataset"),
        pytest.param({"train_subset": 0}, "`train_subset`", id="subset"),
        pytest.param({"val_size": 0}, "`val_size`", id="val-size"),
        pytest.param({"num_workers": -1}, "`num_workers`", id="workers"),
        pytest.param({"mirrors": "http://x/"}, "`mirrors`", id="mirrors-string"),
    ],
)
def test_bad_options_raise_value_error_naming_the_option(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        MNISTDataModule(**kwargs)


def test_data_root_defaults_to_the_environment_then_dot_data(monkeypatch, tmp_path):
    monkeypatch.setenv("PL_POWERLAW_DATA", str(tmp_path))
    assert MNISTDataModule().folder == tmp_path / "mnist"
    monkeypatch.delenv("PL_POWERLAW_DATA")
    monkeypatch.chdir(tmp_path)
    assert MNISTDataModule(dataset="fashion-mnist").folder == tmp_path / "data" / "fashion-mnist"


def test_second_load_reads_the_cache_not_the_idx_files(tmp_path, monkeypatch):
    make_fake_mnist(tmp_path, n_train=100, n_test=30)
    first = fake_module(tmp_path)
    first.setup("fit")
    assert len(list((tmp_path / "cache").glob("decoded-*.pt"))) == 1

    def fail(*args, **kwargs):
        raise AssertionError("decoded the IDX files instead of reading the cache")

    monkeypatch.setattr(mnist_module, "read_idx", fail)
    second = fake_module(tmp_path)
    second.setup("fit")
    assert torch.equal(second.train_set.images, first.train_set.images)
    assert torch.equal(second.test_set.labels, first.test_set.labels)


def test_a_changed_file_or_a_damaged_cache_is_decoded_again(tmp_path):
    folder = make_fake_mnist(tmp_path, n_train=100, n_test=30)
    fake_module(tmp_path).setup("fit")
    write_idx(folder / MNIST_NAMES["test"][1], np.full(30, 7, np.uint8))  # new labels: new key
    dm = fake_module(tmp_path)
    dm.setup("fit")
    assert dm.test_set.labels.tolist() == [7] * 30
    caches = sorted((tmp_path / "cache").glob("decoded-*.pt"))
    assert len(caches) == 2
    for cache in caches:
        cache.write_bytes(cache.read_bytes()[:100])
    with pytest.warns(UserWarning, match="ignoring unreadable cache"):
        dm = fake_module(tmp_path)
        dm.setup("fit")
    assert dm.test_set.labels.tolist() == [7] * 30


def test_read_only_data_folder_caches_in_the_user_cache(tmp_path, monkeypatch):
    folder = make_fake_mnist(tmp_path / "root", n_train=100, n_test=30)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    folder.chmod(0o555)
    try:
        fake_module(tmp_path / "root", cache_dir=None).setup("fit")
    finally:
        folder.chmod(0o755)
    assert len(list((tmp_path / "xdg" / "pl_powerlaw" / "mnist").glob("decoded-*.pt"))) == 1
    assert not list(folder.glob("decoded-*"))


def test_official_md5_is_checked_and_the_error_names_the_file(tmp_path):
    folder = make_fake_mnist(tmp_path)
    with pytest.raises(CorruptFileError) as info:
        fake_module(tmp_path, check_md5=True).setup("fit")
    assert str(folder / "train-images-idx3-ubyte.gz") in str(info.value)
    assert "differs from the official f68b3c2dcbeaaa9fbdd348bbdeb94873" in str(info.value)


def test_inconsistent_counts_are_an_error_and_load_nothing(tmp_path):
    folder = make_fake_mnist(tmp_path, n_train=100, n_test=30)
    write_idx(folder / MNIST_NAMES["train"][1], np.zeros(99, np.uint8))
    dm = fake_module(tmp_path)
    with pytest.raises(CorruptFileError, match="100 images but 99 labels"):
        dm.setup("fit")
    assert dm.train_set is None and not (tmp_path / "cache").exists()


# ---------------------------------------------------------------- real MNIST / Fashion-MNIST

# first labels of the official files (MNIST train starts 5, 0, 4, 1, 9; test 7, 2, 1, 0, 4;
# Fashion-MNIST train starts 9 (ankle boot), 0, 0, 3, 0; test 9, 2, 1, 1, 6)
FIRST_LABELS = {
    "mnist": ([5, 0, 4, 1, 9], [7, 2, 1, 0, 4]),
    "fashion-mnist": ([9, 0, 0, 3, 0], [9, 2, 1, 1, 6]),
}


@pytest.mark.parametrize("dataset", ["mnist", "fashion-mnist"])
def test_real_files_split_50000_10000_10000(dataset, tmp_path):
    root = real_data_root()
    if root is None or not (root / dataset).is_dir():
        pytest.skip(f"real {dataset} not found (PL_POWERLAW_DATA)")
    dm = MNISTDataModule(
        data_root=str(root), dataset=dataset, cache_dir=str(tmp_path), download=False
    )
    dm.setup("fit")
    assert (len(dm.train_set), len(dm.val_set), len(dm.test_set)) == (50_000, 10_000, 10_000)
    assert dm.train_set.labels[:5].tolist() == FIRST_LABELS[dataset][0]
    assert dm.test_set.labels[:5].tolist() == FIRST_LABELS[dataset][1]
    train_labels = read_idx(root / dataset / MNIST_NAMES["train"][1]).long()
    assert torch.equal(dm.val_set.labels, train_labels[50_000:])
    assert torch.bincount(dm.test_set.labels).tolist() == (
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
        if dataset == "mnist"
        else [1000] * 10
    )  # class counts of the official test sets
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (500, 1, 28, 28) and 0.0 <= x.min() and x.max() <= 1.0


def test_real_mnist_downloads_from_a_local_mirror(tmp_path):
    root = real_data_root()
    if root is None:
        pytest.skip("real MNIST not found (PL_POWERLAW_DATA)")
    routes = {f"/mnist/{name}": Response((root / "mnist" / name).read_bytes())
              for pair in MNIST_NAMES.values() for name in pair}  # fmt: skip
    routes["/bad/train-labels-idx1-ubyte.gz"] = Response(b"not mnist")
    with local_http_server(routes) as (url, requests):
        dm = MNISTDataModule(data_root=str(tmp_path), mirrors=[f"{url}/bad/", f"{url}/mnist/"],
                             cache_dir=str(tmp_path / "cache"), progress=False)  # fmt: skip
        dm.prepare_data()
        dm.setup("fit")
    assert len(dm.train_set) == 50_000
    assert "/bad/train-labels-idx1-ubyte.gz" in requests
    assert sorted(p.name for p in (tmp_path / "mnist").iterdir()) == sorted(
        name for pair in MNIST_NAMES.values() for name in pair
    )


def test_the_cache_is_never_written_next_to_the_data(tmp_path, monkeypatch):
    folder = make_fake_mnist(tmp_path / "root", n_train=100, n_test=30)  # a writable data folder
    monkeypatch.setenv("PL_POWERLAW_CACHE", str(tmp_path / "cache_home"))
    fake_module(tmp_path / "root", cache_dir=None).setup("fit")
    assert len(list((tmp_path / "cache_home" / "mnist").glob("decoded-*.pt"))) == 1
    assert not list(folder.glob("decoded-*"))
