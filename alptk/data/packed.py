"""Per-utterance data packed in a few buffers rather than objects per utterance: ``Strings`` (ids, ark locations)
and ``TokenLists`` (token id sequences). A million utterances take tens of MB, forked DataLoader workers share the
buffers instead of copying each page that Python's reference counting writes to, and a buffer may be a memory-mapped
file (``token_cache``)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from alptk.data.tokenizer import Tokenizer


class Strings(Sequence[str]):
    """Strings without newlines (table ids and values) packed in one UTF-8 buffer: ``strings[i]`` decodes one."""

    def __init__(self, strings: Sequence[str] = ()):
        self.data = ("\n".join(strings) + "\n").encode() if strings else b""  # bytes, or an array of uint8
        ends = np.flatnonzero(np.frombuffer(self.data, dtype=np.uint8) == ord("\n"))
        self.starts = np.concatenate(([0], ends + 1))  # string i: data[starts[i] : starts[i + 1] - 1]

    @classmethod
    def packed(cls, data: bytes | np.ndarray, starts: np.ndarray) -> Strings:
        """Strings already packed: ``data`` as ``Strings`` lays it out (each string followed by a newline)."""
        strings = cls()
        strings.data, strings.starts = data, starts
        return strings

    @classmethod
    def concat(cls, parts: Sequence[Strings]) -> Strings:
        """The strings of ``parts`` in order (one part: that part itself, a memory-mapped one is not copied)."""
        if len(parts) == 1:
            return parts[0]
        offsets = np.cumsum([0, *(len(p.data) for p in parts)])[:-1]
        starts = np.concatenate([[0], *(p.starts[1:] + o for p, o in zip(parts, offsets, strict=True))])
        return cls.packed(b"".join(p.data for p in parts), starts)

    def __len__(self) -> int:
        return len(self.starts) - 1

    def __getitem__(self, index):  # an int gives a str, a slice a list of them
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        index = range(len(self))[index]
        return str(self.data[self.starts[index] : self.starts[index + 1] - 1], "utf-8")


class TokenLists(Sequence[list[int]]):
    """Token id sequences packed in one array: ``tokens[i]`` is a list, ``lengths`` an array."""

    CHUNK = 10_000  # texts given to sentencepiece at once

    def __init__(self, values: np.ndarray, starts: np.ndarray):
        self.values, self.starts = values, starts  # sequence i: values[starts[i] : starts[i + 1]]

    @staticmethod
    def dtype(tokenizer: Tokenizer) -> type[np.integer]:
        """The smallest dtype that holds the tokenizer's ids."""
        return np.uint16 if len(tokenizer) <= 2**16 else np.int32

    @classmethod
    def encode(cls, texts: Sequence[str], tokenizer: Tokenizer) -> TokenLists:
        """Tokenize ``texts``, a chunk at a time (sentencepiece encodes a list far faster than each text alone)."""
        dtype = cls.dtype(tokenizer)
        values, lengths = [np.zeros(0, dtype)], [np.zeros(1, np.int64)]
        for start in range(0, len(texts), cls.CHUNK):
            encoded = tokenizer.encode_batch(list(texts[start : start + cls.CHUNK]))
            lengths.append(np.fromiter(map(len, encoded), np.int64, len(encoded)))
            values.append(np.fromiter(itertools.chain.from_iterable(encoded), dtype, int(lengths[-1].sum())))
        return cls(np.concatenate(values), np.cumsum(np.concatenate(lengths)))

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.starts)

    def __len__(self) -> int:
        return len(self.starts) - 1

    def __getitem__(self, index):  # an int gives a list of ids, a slice a list of them
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        index = range(len(self))[index]
        return self.values[self.starts[index] : self.starts[index + 1]].tolist()
