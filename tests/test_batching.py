"""Length-bucketed batches: bounded size, low padding, full coverage, determinism, resume, rank sharding."""

from __future__ import annotations

import numpy as np
import pytest

from alptk.data.batching import BucketBatchSampler, SkipBatches, StreamBatchSampler, padding_fraction
from alptk.errors import DataError


@pytest.fixture
def lengths() -> list[int]:
    # Utterance lengths in frames, like a speech corpus: 1-15 s at 100 frames per second.
    return np.random.default_rng(0).gamma(4.0, 80.0, size=3000).clip(100, 1500).astype(int).tolist()


def test_batches_are_bounded_cover_everything_and_pad_little(lengths: list[int]):
    sampler = BucketBatchSampler(lengths, max_size=20000, seed=1)
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert all(max(lengths[i] for i in b) * len(b) <= 20000 for b in batches)
    assert padding_fraction(batches, lengths) < 0.05
    assert np.mean([len(b) for b in batches]) > 20


def test_deterministic_per_seed_and_epoch(lengths: list[int]):
    a, b = BucketBatchSampler(lengths, 20000, seed=1), BucketBatchSampler(lengths, 20000, seed=1)
    assert list(a) == list(b)
    assert list(a) != list(BucketBatchSampler(lengths, 20000, seed=1))  # epoch 1 of `a` differs from epoch 0
    assert BucketBatchSampler(lengths, 20000, seed=2).epoch_batches(0) != b.epoch_batches(0)


def test_ranks_share_an_epoch_without_overlap(lengths: list[int]):
    ranks = [BucketBatchSampler(lengths, 20000, seed=4, rank=r, num_replicas=2) for r in range(2)]
    first, second = (r.epoch_batches(0) for r in ranks)
    assert len(first) == len(second) > 0
    assert not {i for b in first for i in b} & {i for b in second for i in b}
    whole = BucketBatchSampler(lengths, 20000, seed=4).epoch_batches(0)  # the one-process epoch, dealt in turns
    assert first == whole[0 : 2 * len(first) : 2] and second == whole[1 : 2 * len(first) : 2]
    assert len(first) == len(whole) // 2  # only an odd batch out is left over


def test_item_longer_than_the_limit():
    with pytest.raises(DataError, match=r"1 items are longer than the batch size limit 1000 \(item 2 has 1200\)"):
        BucketBatchSampler([500, 600, 1200], max_size=1000)


def test_streams_interleave_at_their_ratios_and_resume(lengths: list[int]):
    def make() -> StreamBatchSampler:
        samplers = {
            "speech": BucketBatchSampler(lengths, 20000, seed=1),
            "text": BucketBatchSampler([n // 10 for n in lengths[:500]], 2000, seed=2),
            "paired": BucketBatchSampler(lengths[:300], 20000, seed=3),
        }
        return StreamBatchSampler(samplers, {"speech": 2.0, "text": 1.0, "paired": 1.0})

    mixer = make()
    iterator = iter(mixer)
    first = [next(iterator) for _ in range(400)]
    streams = [batch[0][0] for batch in first]
    assert (streams.count("speech"), streams.count("text"), streams.count("paired")) == (200, 100, 100)
    assert all(len({name for name, _ in batch}) == 1 for batch in first)
    paired = [tuple(i for _, i in b) for b in first if b[0][0] == "paired"]
    assert len(set(paired)) < len(paired)  # the small paired stream went round more than one epoch
    expected = [next(iterator) for _ in range(50)]
    resumed = iter(SkipBatches(make(), 400))  # a run resumed after 400 batches
    assert [next(resumed) for _ in range(50)] == expected


def test_stream_errors(lengths: list[int]):
    sampler = BucketBatchSampler(lengths, 20000)
    with pytest.raises(DataError, match="every stream needs a positive ratio"):
        StreamBatchSampler({"speech": sampler}, {"speech": 0.0})
    with pytest.raises(DataError, match="stream 'paired' has no batches"):
        StreamBatchSampler({"paired": BucketBatchSampler(lengths[:1], 20000, num_replicas=2)}, {"paired": 1.0})
