"""Length-bucketed dynamic batches: similar lengths together, each batch bounded by its padded size.

Deterministic for a seed and epoch, so a run resumes mid-epoch by skipping the batches it has consumed
(``SkipBatches``: index lists only, no data is read), and sharded across distributed ranks so that every rank
gets the same number of batches.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator, Sequence

import numpy as np

from alptk.errors import DataError


def padding_fraction(batches: Sequence[Sequence[int]], lengths: Sequence[int]) -> float:
    """Share of a padded batch that is padding, over all ``batches``."""
    padded = sum(max(lengths[i] for i in batch) * len(batch) for batch in batches)
    return 1.0 - sum(lengths[i] for batch in batches for i in batch) / padded if padded else 0.0


CUTS_CHUNK = 1 << 20  # sorted lengths turned into Python ints at once when packing batches


class BucketBatchSampler:
    """Batches of item indices whose padded size (longest item x batch size) stays within ``max_size``."""

    def __init__(
        self,
        lengths: Sequence[int],
        max_size: int,
        seed: int = 0,
        shuffle: bool = True,
        rank: int = 0,
        num_replicas: int = 1,
    ):
        self.lengths = np.asarray(lengths, dtype=np.int64)
        too_long = np.flatnonzero(self.lengths > max_size)
        if len(too_long):
            raise DataError(
                f"{len(too_long)} items are longer than the batch size limit {max_size} "
                f"(item {too_long[0]} has {self.lengths[too_long[0]]}): raise the limit or drop them"
            )
        self.max_size, self.seed, self.shuffle = max_size, seed, shuffle
        self.rank, self.num_replicas = rank, num_replicas
        self.epoch = 0  # the epoch the next iteration goes through
        self.batches_per_rank = (len(self._cuts(np.sort(self.lengths))) - 1) // num_replicas  # same every epoch

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        """This rank's batches for ``epoch``: sorted by length (random tie-break), packed greedily, shuffled."""
        return [batch.tolist() for batch in self._epoch(epoch)]

    def _epoch(self, epoch: int) -> list[np.ndarray]:
        """``epoch_batches`` as slices of one index array: tens of millions of items stay one array, not ints."""
        rng = random.Random(f"{self.seed}-{epoch}")
        if self.shuffle:
            noise = np.fromiter((rng.random() for _ in range(len(self.lengths))), np.float64, len(self.lengths))
            order = np.lexsort((noise, self.lengths))
        else:
            order = np.argsort(self.lengths, kind="stable")
        cuts = self._cuts(self.lengths[order])
        batches = [order[start:end] for start, end in itertools.pairwise(cuts)]
        if self.shuffle:
            rng.shuffle(batches)
        # ranks take turns, so step k's batches are neighbours
        return batches[self.rank :: self.num_replicas][: self.batches_per_rank]

    def _cuts(self, sorted_lengths: np.ndarray) -> list[int]:
        """Where the greedy packing of items in length order starts each batch, then the end: a batch takes the next
        item while its padded size, (items + 1) x the item's length, stays within ``max_size``."""
        cuts, start = [0], 0
        for offset in range(0, len(sorted_lengths), CUTS_CHUNK):  # as Python ints a chunk at a time
            for position, length in enumerate(sorted_lengths[offset : offset + CUTS_CHUNK].tolist(), offset):
                if position > start and (position - start + 1) * length > self.max_size:
                    cuts.append(position)
                    start = position
        return [*cuts, len(sorted_lengths)] if len(sorted_lengths) else cuts

    def __len__(self) -> int:
        return self.batches_per_rank

    def __iter__(self) -> Iterator[list[int]]:
        """One epoch's batches; the next iteration goes through the next epoch."""
        epoch, self.epoch = self.epoch, self.epoch + 1
        for batch in self._epoch(epoch):
            yield batch.tolist()


class StreamBatchSampler:
    """Interleaves the batches of several streams at fixed ratios (smooth weighted round-robin: exact proportions,
    no randomness), each stream cycling through its own epochs. Yields ``[(stream, index), ...]`` batches."""

    def __init__(self, samplers: dict[str, BucketBatchSampler], ratios: dict[str, float]):
        if set(samplers) != set(ratios) or any(r <= 0 for r in ratios.values()):
            raise DataError(f"every stream needs a positive ratio: streams {sorted(samplers)}, ratios {ratios}")
        empty = [name for name, sampler in samplers.items() if len(sampler) == 0]
        if empty:
            raise DataError(f"stream '{empty[0]}' has no batches (too little data for this rank and batch size)")
        self.samplers, self.ratios = samplers, ratios
        self.credit = dict.fromkeys(samplers, 0.0)
        self._iterators = {name: iter(sampler) for name, sampler in samplers.items()}

    def next_stream(self) -> str:
        total = sum(self.ratios.values())
        for name, ratio in self.ratios.items():
            self.credit[name] += ratio
        chosen = max(self.credit, key=lambda name: (self.credit[name], name))
        self.credit[chosen] -= total
        return chosen

    def __iter__(self) -> Iterator[list[tuple[str, int]]]:
        while True:
            name = self.next_stream()
            batch = next(self._iterators[name], None)
            if batch is None:  # the stream finished an epoch: start its next one
                self._iterators[name] = iter(self.samplers[name])
                batch = next(self._iterators[name])
            yield [(name, index) for index in batch]


class SkipBatches:
    """A batch sampler that starts ``skip`` batches in: where a resumed run left off. (The DataLoader reads ahead
    of training, so the sampler's own position at checkpoint time is not what training consumed.)"""

    def __init__(self, sampler: StreamBatchSampler, skip: int):
        self.sampler, self.skip = sampler, skip

    def __iter__(self) -> Iterator[list[tuple[str, int]]]:
        batches = iter(self.sampler)
        for _ in range(self.skip):
            next(batches)
        yield from batches
