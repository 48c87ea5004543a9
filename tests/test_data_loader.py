"""The in-memory batch path: exact batches, pixel permutations, workers, and DDP re-creation.

The DDP tests re-create loaders exactly as Lightning 2.6 does when it injects a
DistributedSampler: the loader is built while ``_replace_dunder_methods`` records its arguments
(as in ``_request_dataloader``), then ``_update_dataloader`` rebuilds it around the sampler.
"""

from __future__ import annotations

import pytest
import torch
from lightning.fabric.utilities.data import _replace_dunder_methods
from lightning.fabric.utilities.data import _update_dataloader as fabric_update_dataloader
from lightning.pytorch.trainer.connectors.data_connector import _get_distributed_sampler
from lightning.pytorch.trainer.states import RunningStage
from lightning.pytorch.utilities.data import _update_dataloader as trainer_update_dataloader
from torch.utils.data import BatchSampler, DataLoader, DistributedSampler

from pl_powerlaw.data.tensors import InMemoryImageDataset, batch_loader

N = 64


def indexed_dataset(n: int = N) -> InMemoryImageDataset:
    """Image i is filled with the value i (mod 256) and has label i."""
    images = (torch.arange(n) % 256).to(torch.uint8).reshape(n, 1, 1, 1).expand(n, 1, 4, 4)
    return InMemoryImageDataset(images.contiguous(), torch.arange(n), divisor=1.0)


def test_getitems_gathers_scales_and_normalises():
    images = torch.randint(
        0, 256, (10, 3, 5, 5), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )
    mean, std = [0.1, 0.2, 0.3], [0.5, 0.25, 2.0]
    dataset = InMemoryImageDataset(images, torch.arange(10) * 2, mean=mean, std=std)
    x, y = dataset.__getitems__([7, 2, 7])
    expected = (
        images[[7, 2, 7]].float() / 255 - torch.tensor(mean).view(1, 3, 1, 1)
    ) / torch.tensor(std).view(1, 3, 1, 1)
    assert torch.allclose(x, expected, atol=1e-6) and y.tolist() == [14, 4, 14]
    single_x, single_y = dataset[2]
    assert torch.equal(single_x, x[1]) and single_y.item() == 4


def test_pixel_permutation_moves_input_pixel_p_k_to_output_k():
    images = torch.arange(2 * 2 * 9, dtype=torch.uint8).reshape(2, 2, 3, 3)
    permutation = torch.tensor([8, 1, 2, 3, 4, 5, 6, 7, 0])
    dataset = InMemoryImageDataset(
        images, torch.zeros(2), divisor=1.0, pixel_permutation=permutation
    )
    x, _ = dataset.__getitems__([0, 1])
    flat = images.reshape(2, 2, 9).float()
    assert torch.equal(x.reshape(2, 2, 9), flat[:, :, permutation])  # every channel, same order
    with pytest.raises(ValueError, match="permutation of 9 pixels"):
        InMemoryImageDataset(images, torch.zeros(2), pixel_permutation=torch.tensor([0] * 9))


def test_batch_loader_works_in_a_worker_process():
    loader = batch_loader(indexed_dataset(), 10, num_workers=1)
    labels = [y.tolist() for _, y in loader]
    assert labels[0] == list(range(10)) and labels[-1] == list(range(60, 64))


def make_loader(wrapped: bool, shuffle: bool) -> DataLoader:
    generator = torch.Generator().manual_seed(0)
    if not wrapped:
        return batch_loader(indexed_dataset(), 8, shuffle=shuffle, generator=generator)
    with _replace_dunder_methods(DataLoader, "dataset"), _replace_dunder_methods(BatchSampler):
        return batch_loader(indexed_dataset(), 8, shuffle=shuffle, generator=generator)


def shard(loader: DataLoader, rank: int, shuffle: bool, trainer_path: bool) -> list[torch.Tensor]:
    if trainer_path:
        sampler = _get_distributed_sampler(
            loader, shuffle, overfit_batches=0, num_replicas=2, rank=rank, seed=0
        )
        stage = RunningStage.TRAINING if shuffle else RunningStage.VALIDATING
        new = trainer_update_dataloader(loader, sampler, mode=stage)
    else:
        sampler = DistributedSampler(
            loader.dataset, num_replicas=2, rank=rank, shuffle=shuffle, seed=0
        )
        new = fabric_update_dataloader(loader, sampler)
    assert type(new.batch_sampler) is BatchSampler and new.batch_sampler.batch_size == 8
    batches = list(new)
    for x, y in batches:  # whole (x, y) batches, and x still matches y
        assert x.shape == (len(y), 1, 4, 4) and len(y) <= 8
        assert torch.equal(x[:, 0, 0, 0], (y % 256).float())
    return [y for _, y in batches]


@pytest.mark.parametrize(
    "shuffle", [pytest.param(True, id="train"), pytest.param(False, id="eval")]
)
@pytest.mark.parametrize(
    ("wrapped", "trainer_path"),
    [
        pytest.param(True, True, id="trainer-hook-path"),
        pytest.param(False, True, id="trainer-unwrapped"),
        pytest.param(False, False, id="fabric"),
    ],
)
def test_distributed_sampler_injection_gives_disjoint_batched_shards(
    wrapped, trainer_path, shuffle
):
    shards = [
        torch.cat(shard(make_loader(wrapped, shuffle), r, shuffle, trainer_path)) for r in (0, 1)
    ]
    assert [len(s) for s in shards] == [N // 2, N // 2]
    assert set(shards[0].tolist()).isdisjoint(shards[1].tolist())
    assert sorted(torch.cat(shards).tolist()) == list(range(N))
    if shuffle:
        assert shards[0].tolist() != sorted(shards[0].tolist())
    else:  # DistributedSampler without shuffling deals samples round-robin
        assert shards[0].tolist() == list(range(0, N, 2))
