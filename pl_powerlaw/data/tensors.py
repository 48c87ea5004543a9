"""The fast in-memory path: a split is one uint8 tensor and a batch is one indexing operation.

:class:`InMemoryImageDataset` implements ``__getitems__``, which PyTorch's DataLoader calls
with the whole list of indices of a batch; it returns the finished ``(x, y)`` batch, and the
loader's ``collate_fn`` (:func:`keep_batch`) passes it through. There is no per-sample Python,
PIL or collation work.

The loader from :func:`batch_loader` is a plain :class:`~torch.utils.data.DataLoader` with the
standard ``BatchSampler``, so when Lightning runs under DDP it re-creates the loader with a
``DistributedSampler`` in place of the sampler (``_update_dataloader``) and each rank receives
its own shard, still batched by ``__getitems__``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset


def keep_batch(batch: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
    """``collate_fn`` for datasets whose ``__getitems__`` already returns the stacked batch."""
    return batch


class InMemoryImageDataset(Dataset):
    """Images held as one uint8 tensor; batches are gathered, scaled and normalised at once.

    A batch is ``x = (images[idx][..., permuted pixels] / divisor - mean) / std`` as float32 of
    shape (B, C, H, W), and ``y = labels[idx]`` (int64).

    Args:
        images: uint8 tensor (N, C, H, W). It is shared, not copied.
        labels: integer tensor (N,).
        divisor: the raw pixel values are divided by it (255 maps them to [0, 1]).
        mean: per-channel mean subtracted after the division (scalar or C values), or None.
        std: per-channel standard deviation divided after subtracting ``mean``, or None.
        pixel_permutation: LongTensor of H*W indices; pixel ``k`` of an output image (row-major)
            is pixel ``pixel_permutation[k]`` of the input image, in every channel. None: identity.

    Example:
        >>> ds = InMemoryImageDataset(torch.zeros(10, 1, 28, 28, dtype=torch.uint8), torch.arange(10))
        >>> x, y = ds.__getitems__([3, 1])
        >>> x.shape, x.dtype, y.tolist()
        (torch.Size([2, 1, 28, 28]), torch.float32, [3, 1])
    """

    def __init__(
        self,
        images: Tensor,
        labels: Tensor,
        divisor: float = 255.0,
        mean: float | Sequence[float] | Tensor | None = None,
        std: float | Sequence[float] | Tensor | None = None,
        pixel_permutation: Tensor | None = None,
    ) -> None:
        if images.ndim != 4:
            raise ValueError(
                f"Expected `images` of shape (N, C, H, W) but got {tuple(images.shape)}"
            )
        if labels.shape != images.shape[:1]:
            raise ValueError(
                f"Expected `labels` of shape ({images.shape[0]},) but got {tuple(labels.shape)}"
            )
        n_pixels = images.shape[2] * images.shape[3]
        if pixel_permutation is not None:
            pixel_permutation = torch.as_tensor(pixel_permutation, dtype=torch.long)
            if not torch.equal(pixel_permutation.sort().values, torch.arange(n_pixels)):
                raise ValueError(
                    f"Expected `pixel_permutation` to be a permutation of {n_pixels} pixels"
                )
        self.images = images
        self.labels = labels.long()
        if not divisor > 0:
            raise ValueError(f"Expected `divisor` > 0 but got {divisor}")
        self.divisor = float(divisor)
        self.mean = self._per_channel(mean, images.shape[1], "mean")
        self.std = self._per_channel(std, images.shape[1], "std")
        if self.std is not None and bool((self.std <= 0).any()):
            raise ValueError(f"Expected `std` > 0 but got {self.std.flatten().tolist()}")
        self.pixel_permutation = pixel_permutation

    @staticmethod
    def _per_channel(value: float | Sequence[float] | Tensor | None, channels: int, name: str):
        if value is None:
            return None
        value = torch.as_tensor(value, dtype=torch.float32).flatten()
        if value.numel() == 1:
            value = value.expand(channels)
        if value.numel() != channels:
            raise ValueError(
                f"Expected `{name}` with 1 or {channels} values but got {value.numel()}"
            )
        return value.reshape(1, channels, 1, 1).clone()

    def __len__(self) -> int:
        return self.images.shape[0]

    def to_device(self, device: torch.device | str) -> InMemoryImageDataset:
        """Move the images, labels and pixel constants to ``device`` in place; returns ``self``.

        Batches are then gathered on ``device``: only the batch's indices cross from the host.
        Tensors already on ``device`` are not copied.
        """
        device = torch.device(device)
        for name in ("images", "labels", "mean", "std", "pixel_permutation"):
            value = getattr(self, name)
            if value is not None and value.device != device:
                setattr(self, name, value.to(device))
        return self

    def __getitems__(self, indices: Sequence[int]) -> tuple[Tensor, Tensor]:
        index = torch.as_tensor(indices, dtype=torch.long, device=self.images.device)
        x = self.images.index_select(0, index)  # (B, C, H, W) uint8
        if self.pixel_permutation is not None:
            b, c, h, w = x.shape
            x = x.reshape(b, c, h * w)[:, :, self.pixel_permutation].reshape(b, c, h, w)
        x = x.to(torch.float32).div_(self.divisor)
        if self.mean is not None:
            x.sub_(self.mean)
        if self.std is not None:
            x.div_(self.std)
        return x, self.labels.index_select(0, index)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        x, y = self.__getitems__([index])
        return x[0], y[0]


def batch_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    shuffle: bool = False,
    generator: torch.Generator | None = None,
    num_workers: int = 0,
    pin_memory: bool = False,
    drop_last: bool = False,
) -> DataLoader:
    """A DataLoader over a dataset with ``__getitems__`` that yields its batches unchanged.

    Args:
        dataset: e.g. an :class:`InMemoryImageDataset`.
        batch_size: samples per batch.
        shuffle: draw a new random order each epoch (from ``generator``).
        generator: the random generator of the shuffling (seeded by the caller).
        num_workers: worker processes (0: in the main process, usually fastest here).
        pin_memory: copy batches into page-locked memory (faster transfer to a GPU).
        drop_last: drop the last incomplete batch.

    Returns:
        A standard :class:`~torch.utils.data.DataLoader` (Lightning can inject samplers).

    Example:
        >>> ds = InMemoryImageDataset(torch.zeros(10, 1, 2, 2, dtype=torch.uint8), torch.arange(10))
        >>> [y.tolist() for _, y in batch_loader(ds, 4)]
        [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    """
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=generator,
        num_workers=num_workers,
        pin_memory=pin_memory,
        drop_last=drop_last,
        collate_fn=keep_batch,
        persistent_workers=num_workers > 0,
    )
