"""Training data: each configured stream becomes a dataset and a length-bucketed sampler; one DataLoader
interleaves the streams at their ratios. Deterministic for a seed, and resumed by skipping consumed batches."""

from __future__ import annotations

from pathlib import Path

import torch

from alptk.data.batching import BucketBatchSampler, SkipBatches, StreamBatchSampler
from alptk.data.datasets import SpeechDataset, StreamDataset, TextDataset, collate_streams
from alptk.data.tokenizer import Tokenizer
from alptk.errors import DataError
from alptk.train.config import StreamConfig

FRAME_SHIFT = 0.01  # seconds per fbank frame (the feature stage's default 10 ms shift)


class ConcatDataset(torch.utils.data.ConcatDataset):
    """Datasets end to end, with the item ``lengths`` the batch sampler needs."""

    def __init__(self, datasets: list[SpeechDataset | TextDataset]):
        super().__init__(datasets)
        self.lengths = [n for d in datasets for n in d.lengths]


def stream_dataset(name: str, stream: StreamConfig, tokenizer: Tokenizer, dirs: list[str] | None = None):
    """The examples of one stream: every (directory, field) pair of its data, in order."""
    parts = []
    for data_dir in dirs if dirs is not None else stream.data:
        if not Path(data_dir).is_dir():
            raise DataError(f"stream '{name}': data directory not found", data_dir)
        if stream.kind == "speech":
            parts.append(SpeechDataset(data_dir))
        elif stream.kind == "text":
            parts.extend(TextDataset(data_dir, tokenizer, f) for f in stream.fields)
        else:
            parts.extend(SpeechDataset(data_dir, tokenizer, f) for f in stream.fields)
    dataset = ConcatDataset(parts)
    if len(dataset) == 0:
        raise DataError(f"stream '{name}' has no examples in {', '.join(dirs or stream.data)}")
    return dataset


def batch_limit(stream: StreamConfig) -> int:
    return stream.max_tokens if stream.kind == "text" else stream.max_frames


def train_loader(
    streams: dict[str, StreamConfig],
    datasets: dict[str, ConcatDataset],
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
    return torch.utils.data.DataLoader(
        StreamDataset(datasets),
        batch_sampler=SkipBatches(sampler, skip),
        collate_fn=collate_streams,
        num_workers=num_workers,
        pin_memory=pin_memory,
        generator=torch.Generator().manual_seed(seed),  # worker seeds must not draw from (resumed) global RNG
    )


def valid_loader(
    dataset: ConcatDataset, stream: StreamConfig, name: str, rank: int, world_size: int
) -> torch.utils.data.DataLoader:
    """One pass over this rank's share of a validation set, in length order."""
    sampler = BucketBatchSampler(dataset.lengths, batch_limit(stream), shuffle=False)
    batches = [[(name, i) for i in batch] for batch in sampler.epoch_batches(0)[rank::world_size]]
    dataset = StreamDataset({name: dataset})
    return torch.utils.data.DataLoader(dataset, batch_sampler=batches, collate_fn=collate_streams)
