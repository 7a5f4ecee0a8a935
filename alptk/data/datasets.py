"""Training examples from data directories: fbank speech (with optional token targets) and text-only token streams.

Per-utterance data (ids, ark locations, lengths, tokens) is stored packed (``packed``), in a few buffers per dataset
rather than objects per utterance; a large text table's are a cache, memory-mapped (``token_cache``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence

from alptk.data.kaldi_dir import Column, load_columns
from alptk.data.packed import Strings, TokenLists
from alptk.data.sources import read_matrix
from alptk.data.token_cache import cached_tokens
from alptk.data.tokenizer import Tokenizer
from alptk.errors import DataError


@dataclass
class Batch:
    """Padded tensors of one batch; absent streams are None."""

    utts: list[str]
    feats: torch.Tensor | None = None  # (batch, frames, dim)
    feat_lengths: torch.Tensor | None = None
    tokens: torch.Tensor | None = None  # (batch, tokens), padded with <blank> (0)
    token_lengths: torch.Tensor | None = None

    def to(self, device: torch.device, non_blocking: bool = False) -> Batch:
        """The same batch with its tensors on ``device``."""
        moved = {
            name: value.to(device, non_blocking=non_blocking) if isinstance(value, torch.Tensor) else value
            for name, value in vars(self).items()
        }
        return Batch(**moved)


def _text_column(columns: dict[str, Column], where: Path, field: str) -> Column:
    """Table ``field``, taken out of ``columns`` (so that its texts are freed once tokenized)."""
    if field not in columns:
        raise DataError(f"no {field} table to take targets from", where)
    return columns.pop(field)


class SpeechDataset(torch.utils.data.Dataset):
    """Fbank matrices of a feature directory (``feats.scp``), with token targets from ``text_field`` if given."""

    def __init__(
        self,
        data_dir: str | Path,
        tokenizer: Tokenizer | None = None,
        text_field: str | None = None,
        allow_pipes: bool = False,
    ):
        data_dir = Path(data_dir)
        names = ["feats.scp", "utt2num_frames", *([text_field] if text_field else [])]
        columns = load_columns(data_dir, allow_pipes, names)
        if "feats.scp" not in columns or "utt2num_frames" not in columns:
            raise DataError("no feats.scp and utt2num_frames: extract features first (template stage 3)", data_dir)
        self.feats_scp, self.allow_pipes = data_dir / "feats.scp", allow_pipes
        self.utts, self.locations = map(Strings, columns.pop("feats.scp"))
        self.lengths = np.fromiter(map(int, columns.pop("utt2num_frames")[1]), np.int64)
        self.tokens = None
        if text_field is not None:
            if tokenizer is None:
                raise ValueError("text_field needs a tokenizer")
            self.tokens = TokenLists.encode(_text_column(columns, data_dir, text_field)[1], tokenizer)

    def __len__(self) -> int:
        return len(self.utts)

    def __getitem__(self, index: int) -> tuple[str, torch.Tensor, list[int] | None]:
        utt = self.utts[index]
        matrix = read_matrix(self.locations[index], self.allow_pipes, self.feats_scp, utt=utt)
        feats = torch.from_numpy(np.array(matrix, dtype=np.float32))  # writable copy
        return utt, feats, self.tokens[index] if self.tokens is not None else None


class TextDataset(torch.utils.data.Dataset):
    """Token sequences of a data directory's ``field`` table (e.g. the text-only set's ``text``): a large table's
    from its token cache (built by the first start, memory-mapped by the others), a small one's tokenized here."""

    def __init__(self, data_dir: str | Path, tokenizer: Tokenizer, field: str = "text", allow_pipes: bool = False):
        data_dir = Path(data_dir)
        packed = cached_tokens(data_dir / field, tokenizer)
        if packed is None:  # a small table, or one with a problem that the thorough check names
            utts, texts = _text_column(load_columns(data_dir, allow_pipes, [field]), data_dir, field)
            packed = Strings(utts), TokenLists.encode(texts, tokenizer)
        self.utts, self.tokens = packed
        self.lengths = self.tokens.lengths

    def __len__(self) -> int:
        return len(self.utts)

    def __getitem__(self, index: int) -> tuple[str, None, list[int]]:
        return self.utts[index], None, self.tokens[index]


def collate(items: list[tuple[str, torch.Tensor | None, list[int] | None]]) -> Batch:
    """Pad features with zeros and tokens with <blank> (0); lengths say where each item ends."""
    batch = Batch([utt for utt, _, _ in items])
    if items[0][1] is not None:
        feats = [f for _, f, _ in items]
        batch.feats = pad_sequence(feats, batch_first=True)
        batch.feat_lengths = torch.tensor([len(f) for f in feats])
    if items[0][2] is not None:
        tokens = [torch.tensor(t, dtype=torch.long) for _, _, t in items]
        batch.tokens = pad_sequence(tokens, batch_first=True, padding_value=0)
        batch.token_lengths = torch.tensor([len(t) for t in tokens])
    return batch


class StreamDataset(torch.utils.data.Dataset):
    """Several named datasets behind one index space of ``(stream, index)``, for one DataLoader over all streams.
    An item that cannot be read is its ``DataError``, which ``StreamLoader`` raises in the training process."""

    def __init__(self, streams: dict[str, SpeechDataset | TextDataset]):
        self.streams = streams

    def __len__(self) -> int:
        return sum(len(d) for d in self.streams.values())

    def __getitem__(self, key: tuple[str, int]) -> tuple[str, tuple[str, torch.Tensor | None, list[int] | None]]:
        stream, index = key
        try:
            return stream, self.streams[stream][index]
        except DataError as err:
            return stream, err


def collate_streams(items: list[tuple[str, tuple | DataError]]) -> tuple[str, Batch | DataError]:
    """Collate one stream's items (a batch never mixes streams); a batch with an unreadable item is its error."""
    errors = [item for _, item in items if isinstance(item, DataError)]
    return items[0][0], errors[0] if errors else collate([item for _, item in items])


class StreamLoader(torch.utils.data.DataLoader):
    """A DataLoader of ``(stream, Batch)`` that raises an unreadable item's ``DataError`` as the one-line error it
    is (torch would raise it from a worker process as a new error holding the worker's traceback)."""

    def __iter__(self) -> Iterator[tuple[str, Batch]]:
        for stream, batch in super().__iter__():
            if isinstance(batch, DataError):
                raise batch
            yield stream, batch
