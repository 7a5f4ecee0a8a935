"""Training data: each configured stream becomes a dataset and a length-bucketed sampler; one DataLoader
interleaves the streams at their ratios. Deterministic for a seed, and resumed by skipping consumed batches."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from alptk.data.batching import BucketBatchSampler, SkipBatches, StreamBatchSampler
from alptk.data.datasets import SpeechDataset, StreamDataset, StreamLoader, TextDataset, collate_streams
from alptk.data.packed import Strings, TokenLists
from alptk.data.tokenizer import Tokenizer
from alptk.errors import DataError
from alptk.train.config import StreamConfig
from alptk.train.preemption import ignore_stop_signals


class ConcatDataset(torch.utils.data.ConcatDataset):
    """Datasets end to end, with the item ``lengths`` the batch sampler needs."""

    def __init__(self, datasets: list[SpeechDataset | TextDataset]):
        super().__init__(datasets)
        self.lengths = datasets[0].lengths if len(datasets) == 1 else np.concatenate([d.lengths for d in datasets])
        self.utts = Strings.concat([d.utts for d in datasets])


class UsableItems(torch.utils.data.Subset):
    """The items of a dataset that training can learn from (``kept``: their indices), with their ``lengths`` and
    ``dropped``: what became of the others, for the log (empty when none was dropped)."""

    def __init__(self, dataset: ConcatDataset, kept: np.ndarray, dropped: str):
        super().__init__(dataset, kept)
        self.lengths = dataset.lengths[kept]
        self.dropped = dropped


def ctc_frames(tokens: list[int]) -> int:
    """The fewest frames CTC can align ``tokens`` to: one per token, and a blank between repeated neighbours."""
    return len(tokens) + sum(a == b for a, b in itertools.pairwise(tokens))


def ctc_frames_each(tokens: TokenLists) -> np.ndarray:
    """``ctc_frames`` of every sequence at once."""
    repeats = np.flatnonzero(tokens.values[1:] == tokens.values[:-1]) + 1  # positions repeating the one before
    firsts, ends = tokens.starts[:-1], tokens.starts[1:]
    inside = np.searchsorted(repeats, ends) - np.searchsorted(repeats, firsts + 1)  # after a sequence's first
    return tokens.lengths + np.maximum(inside, 0)  # (an empty sequence's count is negative, or 0)


def usable_items(
    what: str, dataset: ConcatDataset, encoder_frames: Callable[[int], int], ctc: bool = False
) -> UsableItems:
    """Drop the utterances that ``encoder_frames`` (the front end's subsampling) leaves no frame of, and with
    ``ctc``, those whose target needs more frames than that; a stream left with none is a ``DataError``."""
    shortest = next(n for n in itertools.count(1) if encoder_frames(n) > 0)
    too_short = dataset.lengths < shortest
    too_long = np.zeros_like(too_short)
    if ctc:
        distinct, which = np.unique(dataset.lengths, return_inverse=True)
        frames = np.array([encoder_frames(int(n)) for n in distinct], dtype=np.int64)[which]
        needed = np.concatenate([ctc_frames_each(d.tokens) for d in dataset.datasets])
        too_long = ~too_short & (needed > frames)
    kept = np.flatnonzero(~too_short & ~too_long)
    reasons = [
        (np.flatnonzero(too_short), f"too short for the front end's subsampling (under {shortest} frames)"),
        (np.flatnonzero(too_long), "with a target longer than CTC allows in its encoder frames"),
    ]
    counts = "; ".join(f"{len(items)} {why}, e.g. {dataset.utts[items[0]]}" for items, why in reasons if items.size)
    dropped = len(dataset) - len(kept)
    summary = f"{what}: dropped {dropped} of {len(dataset)} utterances: {counts}" if dropped else ""
    if not len(kept):
        raise DataError(f"{summary}: nothing left to train on")
    return UsableItems(dataset, kept, summary)


def stream_dataset(
    name: str, stream: StreamConfig, tokenizer: Tokenizer, dirs: list[str] | None = None, allow_pipes: bool = False
):
    """The examples of one stream: every (directory, field) pair of its data, in order."""
    parts = []
    for data_dir in dirs if dirs is not None else stream.data:
        if not Path(data_dir).is_dir():
            raise DataError(f"stream '{name}': data directory not found", data_dir)
        if stream.kind == "speech":
            parts.append(SpeechDataset(data_dir, allow_pipes=allow_pipes))
        elif stream.kind == "text":
            parts.extend(TextDataset(data_dir, tokenizer, f, allow_pipes) for f in stream.fields)
        else:
            parts.extend(SpeechDataset(data_dir, tokenizer, f, allow_pipes) for f in stream.fields)
    dataset = ConcatDataset(parts)
    if len(dataset) == 0:
        raise DataError(f"stream '{name}' has no examples in {', '.join(dirs or stream.data)}")
    return dataset


def batch_limit(stream: StreamConfig) -> int:
    return stream.max_tokens if stream.kind == "text" else stream.max_frames


def train_loader(
    streams: dict[str, StreamConfig],
    datasets: dict[str, ConcatDataset | UsableItems],
    seed: int,
    shuffle: bool,
    rank: int,
    world_size: int,
    num_workers: int,
    skip: int = 0,
    pin_memory: bool = False,
) -> torch.utils.data.DataLoader:
    """An endless loader of ``(stream, Batch)``; this rank's shard of every stream's epochs, from batch ``skip`` on."""
    samplers = {
        name: BucketBatchSampler(
            datasets[name].lengths, batch_limit(stream), seed=seed, shuffle=shuffle, rank=rank, num_replicas=world_size
        )
        for name, stream in streams.items()
    }
    sampler = StreamBatchSampler(samplers, {name: stream.ratio for name, stream in streams.items()})
    return StreamLoader(
        StreamDataset(datasets),
        batch_sampler=SkipBatches(sampler, skip),
        collate_fn=collate_streams,
        num_workers=num_workers,
        pin_memory=pin_memory,
        generator=torch.Generator().manual_seed(seed),  # worker seeds must not draw from (resumed) global RNG
        worker_init_fn=ignore_stop_signals,  # the trainer handles SIGTERM and SIGINT: it saves, then stops
    )


def valid_loader(
    dataset: ConcatDataset | UsableItems, stream: StreamConfig, name: str, rank: int, world_size: int
) -> torch.utils.data.DataLoader:
    """One pass over this rank's share of a validation set, in length order."""
    sampler = BucketBatchSampler(dataset.lengths, batch_limit(stream), shuffle=False)
    batches = [[(name, i) for i in batch] for batch in sampler.epoch_batches(0)[rank::world_size]]
    dataset = StreamDataset({name: dataset})
    return torch.utils.data.DataLoader(dataset, batch_sampler=batches, collate_fn=collate_streams)
