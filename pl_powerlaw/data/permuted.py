"""Permuted MNIST tasks (Kirkpatrick et al. 2017) as used in Section 4 of Hou & Kwok (2018).

Task 0 is MNIST itself. Task t > 0 shuffles the pixels inside the central ``s x s`` square of
every image with a fixed random permutation of its own (the same for training, validation and
test); the pixels outside the square are untouched. The paper uses s = 8 and s = 26.

"Central" square: rows and columns ``start .. start + s - 1`` with ``start = (28 - s) // 2``.
For even s the square is exactly centred (s = 8: rows 10..17; s = 26: rows 1..26); for odd s it
sits half a pixel above and left of the centre (s = 27: rows 0..26).

The permutation of task t is drawn from a generator seeded with ``(permutation_seed, t)``, so it
depends on neither the number of tasks nor the order in which tasks are visited.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from pl_powerlaw.data.base import check_int, derived_seed
from pl_powerlaw.data.mnist import MNISTDataModule

SIDE = 28


def central_square(square: int, side: int = SIDE) -> Tensor:
    """Flat (row-major) indices of the central ``square x square`` pixels of a ``side x side`` image.

    Args:
        square: the square's side s, 1 <= s <= side.
        side: the image's side.

    Returns:
        LongTensor of s*s indices, sorted.

    Example:
        >>> central_square(2, side=4).tolist()
        [5, 6, 9, 10]
    """
    check_int("square", square, 1)
    if square > side:
        raise ValueError(f"Expected `square` in [1, {side}] but got {square}")
    start = (side - square) // 2
    rows = torch.arange(start, start + square)
    return (rows[:, None] * side + rows[None, :]).reshape(-1)


def square_permutation(square: int, seed: int, side: int = SIDE) -> Tensor:
    """A pixel permutation that shuffles the central square and keeps every other pixel.

    Args:
        square: side of the central square.
        seed: seed of the permutation.
        side: the image's side.

    Returns:
        LongTensor ``p`` of side*side indices: output pixel k is input pixel ``p[k]``.

    Example:
        >>> p = square_permutation(2, seed=0, side=4)
        >>> sorted(p[[5, 6, 9, 10]].tolist()), p[[0, 15]].tolist()
        ([5, 6, 9, 10], [0, 15])
    """
    inside = central_square(square, side)
    generator = torch.Generator().manual_seed(seed)
    permutation = torch.arange(side * side)
    permutation[inside] = inside[torch.randperm(inside.numel(), generator=generator)]
    return permutation


class PermutedMNISTDataModule(MNISTDataModule):
    """A sequence of permuted-MNIST tasks; task 0 is plain MNIST.

    ``train_dataloader()`` serves the current task's training data; ``val_dataloader()`` and
    ``test_dataloader()`` return one loader per task seen so far (0 .. ``current_task``), in
    task order, so the LightningModule learns the task from ``dataloader_idx``. Batches are
    ``(x, y)``. Loaders are cheap to re-create (the decoded images are shared; a permutation is
    applied per batch), so Lightning can reload them after :meth:`set_task`.

    Args:
        num_tasks: number of tasks (>= 1).
        square: side s of the central square whose pixels are permuted (1..28; 8 and 26 in
            the paper). s = 1 leaves the images unchanged.
        permutation_seed: seed of the task permutations.
        data_root, dataset, batch_size, eval_batch_size, num_workers, normalize, val_size,
            train_subset, val_subset, test_subset, seed, download, mirrors, check_md5, cache,
            cache_dir, pin_memory, progress: as in :class:`MNISTDataModule`.
        layout: ``"image"`` ((B, 1, 28, 28)) or ``"rows"`` (28 steps of 28 pixels for a recurrent
            net; the permutation is applied to the image first), as in :class:`MNISTDataModule`.

    Example:
        >>> dm = PermutedMNISTDataModule(num_tasks=2, square=8)  # doctest: +SKIP
        >>> dm.setup("fit"); dm.set_task(1)  # doctest: +SKIP
        >>> len(dm.val_dataloader())  # doctest: +SKIP
        2
    """

    def __init__(
        self,
        num_tasks: int = 2,
        square: int = 8,
        permutation_seed: int = 0,
        data_root: str | None = None,
        dataset: str = "mnist",
        batch_size: int = 500,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        normalize: bool = False,
        val_size: int = 10_000,
        train_subset: int | None = None,
        val_subset: int | None = None,
        test_subset: int | None = None,
        seed: int = 0,
        download: bool = True,
        mirrors: list[str] | None = None,
        check_md5: bool = True,
        cache: bool = True,
        cache_dir: str | None = None,
        pin_memory: bool | None = None,
        progress: bool = True,
        layout: str = "image",
    ) -> None:
        super().__init__(
            data_root=data_root, dataset=dataset, batch_size=batch_size,
            eval_batch_size=eval_batch_size, num_workers=num_workers, normalize=normalize,
            val_size=val_size, train_subset=train_subset, val_subset=val_subset,
            test_subset=test_subset, seed=seed, download=download, mirrors=mirrors,
            check_md5=check_md5, cache=cache, cache_dir=cache_dir, pin_memory=pin_memory,
            progress=progress, layout=layout,
        )  # fmt: skip
        check_int("num_tasks", num_tasks, 1)
        check_int("permutation_seed", permutation_seed, 0)
        if isinstance(square, bool) or not isinstance(square, int) or not 1 <= square <= SIDE:
            raise ValueError(f"Expected `square` in [1, {SIDE}] but got {square!r}")
        self.num_tasks = num_tasks
        self.square = square
        self.permutation_seed = permutation_seed
        self.current_task = 0
        self._permutations = [None] + [
            square_permutation(square, derived_seed(permutation_seed, task))
            for task in range(1, num_tasks)
        ]

    def _check_task(self, task: Any) -> int:
        if isinstance(task, bool) or not isinstance(task, int) or not 0 <= task < self.num_tasks:
            raise ValueError(f"Expected a task in [0, {self.num_tasks - 1}] but got {task!r}")
        return task

    def permutation(self, task: int) -> Tensor:
        """The 784 pixel indices of task ``task``: output pixel k is input pixel ``p[k]``.

        The identity for task 0 and outside the central square.
        """
        permutation = self._permutations[self._check_task(task)]
        return torch.arange(SIDE * SIDE) if permutation is None else permutation.clone()

    def set_task(self, task: int) -> None:
        """Make ``task`` the current task (raises ``ValueError`` when out of range)."""
        self.current_task = self._check_task(task)

    def _task_loader(self, split: str, task: int) -> DataLoader:
        base = self._require(split)
        dataset = self.make_dataset(base.images, base.labels, self._permutations[task])
        return self.make_loader(dataset, train=split == "train")

    def train_dataloader(self) -> DataLoader:
        return self._task_loader("train", self.current_task)

    def val_dataloader(self) -> list[DataLoader]:
        return [self._task_loader("val", task) for task in range(self.current_task + 1)]

    def test_dataloader(self) -> list[DataLoader]:
        return [self._task_loader("test", task) for task in range(self.current_task + 1)]

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "current_task": self.current_task}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.set_task(int(state_dict.get("current_task", 0)))
