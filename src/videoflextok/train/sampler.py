"""A resumable, rank-sharded stream of sample indices.

The training set is read as one endless stream: epoch ``e`` visits ``randperm(n)`` seeded by
``(seed, e)`` (or ``0..n-1`` without shuffling), and the epochs are concatenated. Stream position ``p``
is the number of samples the whole job has consumed, so the data position of a checkpoint is a single
integer and a resumed run reads exactly the samples it would have read.

Optimizer step ``s`` consumes the global batch ``stream[p_s : p_s + G]`` with
``G = batch_size * grad_accum * world_size``; micro-batch ``i`` of rank ``r`` is its slice
``[(i * world_size + r) * batch_size, ... + batch_size)``. Each rank loads only its own slice, and a
single process with ``batch_size * world_size`` reads the same samples per step as the whole job.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from videoflextok.data.loader import EpochIndex, seed_worker


class StreamBatchSampler(Sampler[list[int]]):
    """Yields the index list of every micro-batch of this rank, from ``start_position`` on, forever."""

    def __init__(
        self,
        num_samples: int,
        batch_size: int,
        *,
        seed: int = 0,
        shuffle: bool = True,
        grad_accum: int = 1,
        rank: int = 0,
        world_size: int = 1,
        start_position: int = 0,
    ) -> None:
        if num_samples < 1:
            raise ValueError("the dataset is empty")
        self.n = num_samples
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.grad_accum = grad_accum
        self.rank = rank
        self.world_size = world_size
        self.start_position = start_position
        self._perm: tuple[int, torch.Tensor] | None = None

    @property
    def global_batch(self) -> int:
        """Samples consumed by the whole job per optimizer step."""
        return self.batch_size * self.grad_accum * self.world_size

    def epoch_order(self, epoch: int) -> torch.Tensor:
        """LongTensor [n]: the visiting order of epoch ``epoch``."""
        if self._perm is None or self._perm[0] != epoch:
            if self.shuffle:
                gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
                order = torch.randperm(self.n, generator=gen)
            else:
                order = torch.arange(self.n)
            self._perm = (epoch, order)
        return self._perm[1]

    def indices(self, position: int, count: int) -> list[EpochIndex]:
        """Dataset indices of stream positions ``position .. position + count - 1``, each with its epoch."""
        out = []
        for p in range(position, position + count):
            epoch = p // self.n
            out.append(EpochIndex(int(self.epoch_order(epoch)[p % self.n]), epoch))
        return out

    def micro_batch(self, step_position: int, micro: int) -> list[int]:
        """This rank's indices for micro-batch ``micro`` of the step starting at ``step_position``."""
        offset = (micro * self.world_size + self.rank) * self.batch_size
        return self.indices(step_position + offset, self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        position = self.start_position
        while True:
            for micro in range(self.grad_accum):
                yield self.micro_batch(position, micro)
            position += self.global_batch

    def __len__(self) -> int:  # an endless stream; DataLoader only needs this for its progress hints
        return 2**62


def stream_loader(
    dataset: Dataset, sampler: StreamBatchSampler, num_workers: int = 0, collate_fn=None, pin_memory: bool = False
) -> DataLoader:
    """The training DataLoader: ``sampler``'s micro-batches of ``dataset``, worker processes seeded from the
    sampler's seed and rank (so random transforms repeat run to run and differ between workers)."""
    return DataLoader(
        dataset, batch_sampler=sampler, num_workers=num_workers, collate_fn=collate_fn, pin_memory=pin_memory,
        worker_init_fn=seed_worker, generator=torch.Generator().manual_seed(sampler.seed + sampler.rank),
    )
