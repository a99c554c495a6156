"""An endless, seeded, resumable stream of training pair indices.

PATN's loader ignores the index and draws a uniformly random pair on every call
(``__len__`` = 4000 per "epoch"). We draw without replacement instead: each
epoch is a fresh permutation of all pairs, so every pair is seen once per epoch
and the marginal distribution of a drawn pair is the same uniform one.

The permutation of epoch ``e`` depends only on ``(seed, e)``, so the whole
stream is a pure function of the position ``(epoch, index)``; that position is
the sampler's state in checkpoints. Under DDP every rank draws the same
permutation (same seed) and takes its own shard ``perm[rank::world_size]``
(the tail that does not divide evenly is dropped), like ``DistributedSampler``.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np


class PairSampler:
    def __init__(self, num_pairs: int, seed: int = 0, rank: int = 0, world_size: int = 1):
        if num_pairs < world_size:
            raise ValueError(f"{num_pairs} pairs cannot be shared among {world_size} ranks")
        self.num_pairs = num_pairs
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.shard_len = num_pairs // world_size
        self.epoch = 0
        self.index = 0
        self._cached: tuple[int, np.ndarray] | None = None

    def shard(self, epoch: int) -> np.ndarray:
        """This rank's indices for ``epoch``."""
        if self._cached is None or self._cached[0] != epoch:
            perm = np.random.default_rng([self.seed, epoch]).permutation(self.num_pairs)
            self._cached = (epoch, perm[: self.shard_len * self.world_size][self.rank :: self.world_size])
        return self._cached[1]

    def take(self, n: int) -> list[int]:
        """The next ``n`` indices; advances the position."""
        out: list[int] = []
        while len(out) < n:
            shard = self.shard(self.epoch)
            chunk = shard[self.index : self.index + n - len(out)]
            out.extend(int(i) for i in chunk)
            self.load_state_dict(self.advance(self.state_dict(), len(chunk)))
        return out

    def advance(self, state: dict[str, int], n: int) -> dict[str, int]:
        """The position ``n`` indices after ``state`` (a pure function)."""
        index = state["index"] + n
        return {"epoch": state["epoch"] + index // self.shard_len, "index": index % self.shard_len}

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "index": self.index}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if not 0 <= state["index"] < self.shard_len:
            raise ValueError(f"sampler index {state['index']} outside a shard of {self.shard_len}")
        self.epoch, self.index = int(state["epoch"]), int(state["index"])


class BatchStream:
    """Endless batches of indices for ``DataLoader(batch_sampler=...)``."""

    def __init__(self, sampler: PairSampler, batch_size: int):
        self.sampler = sampler
        self.batch_size = batch_size

    def __iter__(self) -> Iterator[list[int]]:
        while True:
            yield self.sampler.take(self.batch_size)
