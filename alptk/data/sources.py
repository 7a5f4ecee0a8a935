"""How a table value naming data (``wav.scp``, ``feats.scp``, CMVN statistics) is read: a file, an ark entry
``file.ark:offset`` (with an optional Kaldi ``[range]``), or a Kaldi pipe. The one place such values are opened:
kaldiio only ever parses a file object opened here, never a string it could run through a shell.

A value that any reader would run through a shell (a ``|`` at either end of the value, or of the part a reader
splits off before ``:offset`` or ``[range]``, with any spaces around it) or read from standard input (``-``) is a
pipe, refused unless pipes are allowed.
Errors are ``DataError`` with the reason only: callers add the file, line and utterance. Pickled objects in an
ark, which kaldiio would unpickle (running any code they hold), are refused too.
"""

from __future__ import annotations

import io
import os
import re
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import kaldiio
import kaldiio.python_wave
import numpy as np

from alptk.errors import DataError

PIPE_HINT = "pass --allow-pipes (training: allow_pipes=true) to run it"
STDIN = "-"
# '|' or a lone '-' at an end of the value or next to the ':' and '[', ']' that readers split the path at
SHELL = re.compile(r"(^|[:\[\]])\s*\||\|\s*($|[:\[\]])")
STANDARD_INPUT = re.compile(r"(^|[:\[\]])\s*-\s*($|[:\[\]])")
PARSE_ERRORS = (ValueError, AssertionError, RuntimeError, EOFError, IndexError, struct.error, kaldiio.python_wave.Error)
KaldiObject = np.ndarray | tuple[int, np.ndarray]  # a matrix or vector, or (rate, samples) of audio in an ark


@dataclass(frozen=True)
class Source:
    """A parsed value: a file, or a pipe's shell command (``-``: standard input), with the byte offset of an ark
    entry and Kaldi ``[range]`` slices when given."""

    path: str
    offset: int | None = None
    slices: tuple[slice, ...] | None = None
    pipe: bool = False


def _is_pipe(text: str) -> bool:
    text = text.strip()
    return text.startswith("|") or text.endswith("|") or text == STDIN


def parse_value(value: str) -> Source:
    """Split a value as Kaldi does, ``path[:offset][[range]]``; a pipe when the value or its path starts or ends
    with ``|`` (or is ``-``)."""
    if _is_pipe(value):
        return Source(value.strip(), pipe=True)
    path, slices = value, None
    if value.endswith("]") and "[" in value:
        head, _, text = value[:-1].rpartition("[")
        slices = _ranges(text)
        path = head if slices is not None else value
    head, _, offset = path.rpartition(":")
    if not (head and offset.isdigit()):
        head, offset = path, ""
    if _is_pipe(head):
        head = head.strip()
    return Source(head, int(offset) if offset else None, slices, _is_pipe(head))


def _ranges(text: str) -> tuple[slice, ...] | None:
    """Kaldi's ``first:last,first:last`` (inclusive; an empty part keeps the whole axis) as slices, None if the
    text is not a range."""
    slices = []
    for part in text.split(","):
        first, colon, last = part.partition(":")
        if not first and not last:
            slices.append(slice(None))
        elif first.isdigit() and (last.isdigit() or not colon):
            slices.append(slice(int(first), int(last or first) + 1))
        else:
            return None
    return tuple(slices)


def pipe_problem(value: str) -> str | None:
    """Why reading ``value`` could run a shell command or read standard input, or None."""
    if SHELL.search(value):
        return f"'{value}' is a Kaldi pipe, which runs a shell command; {PIPE_HINT}"
    if STANDARD_INPUT.search(value):
        return f"'{value}' reads standard input (a Kaldi pipe); {PIPE_HINT}"
    return None


def data_of(value: str, allow_pipes: bool = False) -> tuple[Source, str | io.BytesIO]:
    """The parsed value and its data: the path of an existing file, or a pipe's output (a possible pipe raises
    ``DataError`` unless allowed)."""
    problem = None if allow_pipes else pipe_problem(value)
    if problem:
        raise DataError(problem)
    source = parse_value(value)
    if source.pipe:
        return source, io.BytesIO(_run_pipe(source))
    if os.path.isdir(source.path):
        raise DataError(f"'{source.path}' is a directory, not a file")
    if not os.path.exists(source.path):
        raise DataError(f"file '{source.path}' not found")
    return source, source.path


def _run_pipe(source: Source) -> bytes:
    if source.path == STDIN:
        return sys.stdin.buffer.read()
    command = source.path[:-1] if source.path.endswith("|") else source.path[1:]
    proc = subprocess.run(command, shell=True, capture_output=True, check=False)
    if proc.returncode != 0:
        detail = proc.stderr.decode(errors="replace").strip().splitlines()
        raise DataError(
            f"command '{command.strip()}' failed (exit {proc.returncode}){': ' + detail[-1] if detail else ''}"
        )
    return proc.stdout


def _open(data: str | io.BytesIO) -> BinaryIO:
    if isinstance(data, io.BytesIO):
        return data
    try:
        return open(data, "rb")  # closed by the caller's with
    except OSError as err:
        raise DataError(f"cannot open '{data}': {err.strerror}") from None


def read_object(value: str, allow_pipes: bool = False) -> KaldiObject:
    """The Kaldi object a value names: a matrix or vector, or ``(rate, samples)`` of audio stored in an ark."""
    source, data = data_of(value, allow_pipes)
    with _open(data) as f:
        if source.offset is not None:
            f.seek(source.offset)
        obj = _read_kaldi(f, source)
    return obj if source.slices is None else _cut(obj, source.slices, value)


def _cut(obj: KaldiObject, slices: tuple[slice, ...], value: str) -> KaldiObject:
    """A Kaldi ``[range]`` of the object (of the samples, for audio), which must lie inside it."""
    array = obj[1] if isinstance(obj, tuple) else obj
    sizes = array.shape[: len(slices)]
    if len(slices) > array.ndim or any(s.stop is not None and s.stop > n for s, n in zip(slices, sizes, strict=True)):
        shape = " x ".join(map(str, array.shape))
        raise DataError(f"range [{value.rpartition('[')[2]} is outside the data ({shape})")
    return (obj[0], array[slices]) if isinstance(obj, tuple) else array[slices]


def read_matrix(
    value: str,
    allow_pipes: bool = False,
    table: str | Path | None = None,
    line: int | None = None,
    utt: str | None = None,
) -> np.ndarray:
    """The matrix a value names (features, CMVN statistics); errors name the ``table``, ``line`` and ``utt``
    it comes from, when given."""
    try:
        obj = read_object(value, allow_pipes)
        if isinstance(obj, tuple):
            raise DataError(f"'{value}' holds audio, not a matrix")
        if obj.ndim != 2:
            raise DataError(f"'{value}' holds a {obj.ndim}-dimensional array, not a matrix")
    except DataError as err:
        raise DataError(err.reason, table, line, utt) from None
    return obj


def _read_kaldi(f: BinaryIO, source: Source) -> KaldiObject:
    """One object at the file's position, with kaldiio's parser; pickles (which could run code) are refused."""
    start = f.tell()
    where = f"at byte {start} of '{source.path}'" if source.offset is not None else f"in '{source.path}'"
    head = f.read(len(b"AUDIO"))  # the longest type marker kaldiio reads first
    f.seek(start)
    if len(head) < len(b"AUDIO"):
        raise DataError(f"truncated ark entry: {len(head)} bytes {where}")
    if head.startswith(b"PKL"):
        raise DataError(f"pickled Python object {where}, which could run code when loaded: refused")
    try:
        return kaldiio.matio.read_kaldi(f)
    except PARSE_ERRORS:
        raise DataError(f"truncated or corrupt ark entry {where}") from None
