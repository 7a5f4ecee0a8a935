"""Length-bucketed dynamic batches: similar lengths together, each batch bounded by its padded size.

Deterministic for a seed and epoch, so a run resumes mid-epoch by skipping the batches it has consumed
(``SkipBatches``: index lists only, no data is read), and sharded across distributed ranks so that every rank
gets the same number of batches.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

from alptk.errors import DataError


def padding_fraction(batches: Sequence[Sequence[int]], lengths: Sequence[int]) -> float:
    """Share of a padded batch that is padding, over all ``batches``."""
    padded = sum(max(lengths[i] for i in batch) * len(batch) for batch in batches)
    return 1.0 - sum(lengths[i] for batch in batches for i in batch) / padded if padded else 0.0


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
        too_long = [i for i, n in enumerate(lengths) if n > max_size]
        if too_long:
            raise DataError(
                f"{len(too_long)} items are longer than the batch size limit {max_size} "
                f"(item {too_long[0]} has {lengths[too_long[0]]}): raise the limit or drop them"
            )
        self.lengths, self.max_size, self.seed, self.shuffle = list(lengths), max_size, seed, shuffle
        self.rank, self.num_replicas = rank, num_replicas
        self.epoch = 0  # the epoch the next iteration goes through

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        """This rank's batches for ``epoch``: sorted by length (random tie-break), packed greedily, shuffled."""
        rng = random.Random(f"{self.seed}-{epoch}")
        noise = [rng.random() for _ in self.lengths] if self.shuffle else [0.0] * len(self.lengths)
        batches: list[list[int]] = []
        current: list[int] = []
        for index in sorted(range(len(self.lengths)), key=lambda i: (self.lengths[i], noise[i])):
            if current and (len(current) + 1) * self.lengths[index] > self.max_size:
                batches.append(current)
                current = []
            current.append(index)
        if current:
            batches.append(current)
        if self.shuffle:
            rng.shuffle(batches)
        per_rank = len(batches) // self.num_replicas  # ranks take turns, so step k's batches are neighbours
        return batches[self.rank :: self.num_replicas][:per_rank]

    def __len__(self) -> int:
        return len(self.epoch_batches(self.epoch))

    def __iter__(self) -> Iterator[list[int]]:
        """One epoch's batches; the next iteration goes through the next epoch."""
        epoch, self.epoch = self.epoch, self.epoch + 1
        yield from self.epoch_batches(epoch)


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
