"""Batches in a seeded order that a checkpoint can stop and restart anywhere, even inside an epoch.

Epoch e visits the examples in `randperm(n)` drawn from a generator seeded by (seed, e) alone, so the order
never depends on the global RNG and a resumed run only needs (epoch, position) to continue exactly where the
killed one stopped. Under DDP each rank takes every world-th index of the same permutation.

In-memory datasets (one tensor per field) gather a whole batch with one indexing operation through their
`take(index)` method instead of building it item by item and collating: for small models the per-item path
costs more than the step itself. Other datasets go through a DataLoader driven by the same sampler.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset


class ResumableSampler:
    """Index batches for one rank: a fresh seeded permutation per epoch, resumable at any batch."""

    def __init__(self, n: int, batch_size: int, seed: int, shuffle: bool = True, drop_last: bool = True,
                 rank: int = 0, world: int = 1) -> None:
        self.n, self.batch_size, self.seed, self.shuffle = n, batch_size, seed, shuffle
        self.rank, self.world = rank, world
        per_rank = len(range(rank, n, world))
        self.drop_last = drop_last and per_rank > batch_size
        self.batches_per_epoch = per_rank // batch_size if self.drop_last else -(-per_rank // batch_size)
        self.epoch = 0
        self.position = 0  # batches of the current epoch already handed out (and trained on)

    def _order(self, epoch: int) -> torch.Tensor:
        if not self.shuffle:
            return torch.arange(self.n)[self.rank :: self.world]
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.n, generator=g)[self.rank :: self.world]

    def epoch_batches(self) -> Iterator[torch.Tensor]:
        """The batches of the current epoch from `position` on. The loop calls `advance` once it has
        trained on one, so batches a DataLoader prefetched but nobody trained on are not counted."""
        order = self._order(self.epoch)
        b = self.batch_size
        for i in range(self.position, self.batches_per_epoch):
            yield order[i * b : (i + 1) * b]

    def advance(self) -> None:
        self.position += 1
        if self.position >= self.batches_per_epoch:
            self.epoch += 1
            self.position = 0

    def state_dict(self) -> dict[str, int]:
        return {"seed": self.seed, "epoch": self.epoch, "position": self.position, "n": self.n,
                "batch_size": self.batch_size}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if int(state["n"]) != self.n or int(state["batch_size"]) != self.batch_size:
            from genzoo.errors import GenzooError

            raise GenzooError(
                f"the checkpoint was trained on {state['n']} examples in batches of {state['batch_size']}, "
                f"not {self.n} in batches of {self.batch_size}: resume with the same data and --batch-size"
            )
        self.seed, self.epoch, self.position = int(state["seed"]), int(state["epoch"]), int(state["position"])


class Batches:
    """An epoch-at-a-time stream of training batches for `data`, in the order `sampler` decides."""

    def __init__(self, data: Dataset, sampler: ResumableSampler, num_workers: int = 0) -> None:
        self.data, self.sampler, self.num_workers = data, sampler, num_workers
        self.take = getattr(data, "take", None) if num_workers == 0 else None
        self.collate = getattr(data, "collate", None)

    def epoch(self) -> Iterator[Any]:
        if self.take is not None:
            for index in self.sampler.epoch_batches():
                yield self.take(index)
            return
        # the DataLoader draws its workers' base seed from `generator`: a private one, so building a
        # loader mid-epoch (on resume) does not move the global stream that training draws from
        g = torch.Generator().manual_seed(self.sampler.seed * 7919 + self.sampler.epoch)
        loader = DataLoader(self.data, batch_sampler=_Listed(self.sampler.epoch_batches()), collate_fn=self.collate,
                            num_workers=self.num_workers, generator=g)
        yield from loader


class _Listed:
    """A one-shot batch sampler over index tensors (the DataLoader wants lists of ints)."""

    def __init__(self, batches: Iterator[torch.Tensor]) -> None:
        self.batches = batches

    def __iter__(self) -> Iterator[list[int]]:
        for b in self.batches:
            yield b.tolist()


def make_loader(data: Dataset, batch_size: int, shuffle: bool = False, num_workers: int = 0) -> DataLoader:
    """A plain DataLoader with the dataset's own collate (validation and evaluation passes)."""
    collate = getattr(data, "collate", None)
    return DataLoader(data, batch_size=batch_size, shuffle=shuffle, collate_fn=collate, num_workers=num_workers)
