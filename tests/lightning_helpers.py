"""Tiny nets and data for fast Lightning tests (no files, no downloads)."""

from __future__ import annotations

import torch
from lightning.pytorch import LightningDataModule
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from pl_powerlaw.nn import MaskedLinear


class TinyMLP(nn.Module):
    """12 -> 16 -> 8 -> 3 masked MLP; ``fc3`` is the output head."""

    input_shape = (1, 3, 4)
    output_layers = ("fc3",)

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = MaskedLinear(12, 16)
        self.fc2 = MaskedLinear(16, 8)
        self.fc3 = MaskedLinear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


class TinyData(LightningDataModule):
    """Three Gaussian blobs in 12 dimensions (train, val and test sets)."""

    def __init__(self, n: int = 96, batch_size: int = 16, seed: int = 0) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.y = torch.arange(n) % 3
        centres = torch.randn(3, 12, generator=generator) * 3
        self.x = (centres[self.y] + torch.randn(n, 12, generator=generator)).view(n, 1, 3, 4)
        self.batch_size = batch_size

    def _loader(self, shuffle: bool = False) -> DataLoader:
        return DataLoader(
            TensorDataset(self.x, self.y), batch_size=self.batch_size, shuffle=shuffle
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader()

    def test_dataloader(self) -> DataLoader:
        return self._loader()
