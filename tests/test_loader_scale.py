"""The training loader at scale: its start-up reads no feature matrix and keeps no Python object per utterance
(benchmarks/loader.py measures a million utterances; these checks run on 20,000 of the same synthetic data)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from alptk.data import sources
from alptk.data.batching import BucketBatchSampler
from alptk.data.datasets import Strings, TokenLists
from alptk.data.tokenizer import Tokenizer
from alptk.models.frontend import FbankFrontend
from alptk.train.config import StreamConfig
from alptk.train.data import UsableItems, ctc_frames, ctc_frames_each, stream_dataset, train_loader, usable_items
from benchmarks.loader import make_feature_dir

UTTERANCES = 20_000


@pytest.fixture(scope="module")
def scale_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_feature_dir(tmp_path_factory.mktemp("scale"), UTTERANCES, matrices=20)


def paired_items(data: Path, tok: Path) -> tuple[StreamConfig, UsableItems]:
    """A paired stream's items as the trainer makes them (CTC targets: the longest check)."""
    stream = StreamConfig("paired", [str(data)])
    dataset = stream_dataset("paired", stream, Tokenizer(tok))
    return stream, usable_items("paired", dataset, FbankFrontend.subsampled, ctc=True)


def test_batches_are_built_without_reading_a_matrix(scale_dir: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch):
    reads: list[str] = []
    read_object = sources.read_object
    monkeypatch.setattr(sources, "read_object", lambda value, *args: reads.append(value) or read_object(value, *args))
    stream, items = paired_items(*scale_dir)
    assert len(items) == UTTERANCES and not items.dropped
    sampler = BucketBatchSampler(items.lengths, stream.max_frames, seed=3)
    epochs = [sampler.epoch_batches(0), sampler.epoch_batches(1)]
    assert all(sorted(i for b in batches for i in b) == list(range(UTTERANCES)) for batches in epochs)
    loader = iter(train_loader({"paired": stream}, {"paired": items}, 0, True, 0, 1, 0))
    assert reads == []
    _, batch = next(loader)
    assert len(reads) == len(batch.utts) > 1  # the first batch's matrices, and only those


def test_start_up_keeps_no_object_per_utterance(scale_dir: tuple[Path, Path]):
    tracemalloc.start()
    try:
        _, items = paired_items(*scale_dir)
        kept = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    stats = kept.statistics("filename")
    blocks, size = sum(s.count for s in stats), sum(s.size for s in stats)
    assert blocks < UTTERANCES / 20  # a list of str per utterance would be 20,000 blocks, of list[int] 20,000 more
    # measured: 196 bytes kept per utterance (ids, ark locations, 35 tokens), 959 at the peak (the tables' strings)
    assert size / UTTERANCES < 300 and peak / UTTERANCES < 1500
    assert items.lengths.dtype == np.int64 and isinstance(items.dataset.utts, Strings)


def test_ctc_frames_of_packed_sequences_match_one_by_one():
    rng = np.random.default_rng(0)
    sequences = [rng.integers(0, 4, size=n).tolist() for n in rng.integers(0, 8, size=500)] + [[]]
    packed = TokenLists(np.concatenate(sequences).astype(np.uint16), np.cumsum([0, *map(len, sequences)]))
    assert ctc_frames_each(packed).tolist() == [ctc_frames(s) for s in sequences]
    assert packed[7] == sequences[7] and packed[-1] == [] and packed[2:4] == sequences[2:4]


def test_packed_strings_round_trip():
    words = ["103-1240-0000", "", "été à Paris", "x y"]
    strings = Strings.concat([Strings(words), Strings([]), Strings(words[:2])])
    assert list(strings) == [*words, *words[:2]] and len(strings) == 6 and len(Strings([])) == 0
    assert strings[-3] == "x y" and strings[np.int64(2)] == "été à Paris" and strings[1:3] == ["", "été à Paris"]
    with pytest.raises(IndexError):
        strings[6]
