"""Training data: each configured stream becomes a dataset and a length-bucketed sampler; one DataLoader
interleaves the streams at their ratios. Deterministic for a seed, and resumed by skipping consumed batches."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import torch

from alptk.data.batching import BucketBatchSampler, SkipBatches, StreamBatchSampler
from alptk.data.datasets import SpeechDataset, StreamDataset, StreamLoader, TextDataset, collate_streams
from alptk.data.tokenizer import Tokenizer
from alptk.errors import DataError
from alptk.train.config import StreamConfig
from alptk.train.preemption import ignore_stop_signals


class ConcatDataset(torch.utils.data.ConcatDataset):
    """Datasets end to end, with the item ``lengths`` the batch sampler needs."""

    def __init__(self, datasets: list[SpeechDataset | TextDataset]):
        super().__init__(datasets)
        self.lengths = [n for d in datasets for n in d.lengths]
        self.utts = [u for d in datasets for u in d.utts]
        self.tokens = [t for d in datasets for t in (d.tokens if d.tokens is not None else [None] * len(d))]


class UsableItems(torch.utils.data.Subset):
    """The items of a dataset that training can learn from (``kept``: their indices), with their ``lengths`` and
    ``dropped``: what became of the others, for the log (empty when none was dropped)."""

    def __init__(self, dataset: ConcatDataset, kept: list[int], dropped: str):
        super().__init__(dataset, kept)
        self.lengths = [dataset.lengths[i] for i in kept]
        self.dropped = dropped


def ctc_frames(tokens: list[int]) -> int:
    """The fewest frames CTC can align ``tokens`` to: one per token, and a blank between repeated neighbours."""
    return len(tokens) + sum(a == b for a, b in itertools.pairwise(tokens))


def usable_items(
    what: str, dataset: ConcatDataset, encoder_frames: Callable[[int], int], ctc: bool = False
) -> UsableItems:
    """Drop the utterances that ``encoder_frames`` (the front end's subsampling) leaves no frame of, and with
    ``ctc``, those whose target needs more frames than that; a stream left with none is a ``DataError``."""
    shortest = next(n for n in itertools.count(1) if encoder_frames(n) > 0)
    too_short, too_long, kept = [], [], []
    for index, (frames, tokens) in enumerate(zip(dataset.lengths, dataset.tokens, strict=True)):
        if frames < shortest:
            too_short.append(index)
        elif ctc and ctc_frames(tokens) > encoder_frames(frames):
            too_long.append(index)
        else:
            kept.append(index)
    reasons = [
        (too_short, f"too short for the front end's subsampling (under {shortest} frames)"),
        (too_long, "with a target longer than CTC allows in its encoder frames"),
    ]
    counts = "; ".join(f"{len(items)} {reason}, e.g. {dataset.utts[items[0]]}" for items, reason in reasons if items)
    dropped = len(too_short) + len(too_long)
    summary = f"{what}: dropped {dropped} of {len(dataset)} utterances: {counts}" if dropped else ""
    if not kept:
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
