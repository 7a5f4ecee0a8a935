"""Kaldi table files (one ``key value`` per line): reading with line numbers, atomic writing, byte order; ids that
are safe as file names."""

from __future__ import annotations

import itertools
import operator
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from alptk.errors import DataError, locate
from alptk.files import atomic_open

CRLF_PROBLEM = "Windows (CRLF) line ending; convert with dos2unix or alptk data fix"
CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # Unicode's category Cc
UNSAFE_IDS = re.compile(r"/|\.\.|^-|[\x00-\x09\x0b-\x1f\x7f-\x9f]", re.MULTILINE)  # in ids joined by newlines


@dataclass(frozen=True)
class Entry:
    """One line of a table: its key, the rest of the line, its 1-based line number and whether it ended in CRLF."""

    key: str
    value: str
    line: int
    crlf: bool = False


def byte_order(key: str) -> bytes:
    """Sort key giving Kaldi's C-locale (byte) order whatever the user's locale."""
    return key.encode("utf-8")


def read_table(path: str | Path, problems: list[str] | None = None) -> list[Entry]:
    """Read a table. A malformed line raises ``DataError``, or is reported in ``problems``: skipped, except a
    Windows (CRLF) line ending, which is reported and its entry kept (``crlf`` set, for ``alptk data fix``)."""
    path = Path(path)
    entries = []
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            try:
                text = raw.decode("utf-8").removesuffix("\n")
            except UnicodeDecodeError as err:
                _fail(f"not valid UTF-8 (byte {err.start + 1})", path, number, problems)
                continue
            parts = text.split(maxsplit=1)
            if not parts:
                _fail("empty line", path, number, problems)
                continue
            crlf = text.endswith("\r")
            if crlf:
                _fail(CRLF_PROBLEM, path, number, problems)
            entries.append(Entry(parts[0], parts[1].strip() if len(parts) > 1 else "", number, crlf))
    return entries


def read_columns(path: str | Path) -> tuple[list[str], list[str]] | None:
    """The keys and values of a table in file order, or None if any line might be malformed (``read_table`` then
    says which): ``read_table`` without an object per line, for tables of millions of lines."""
    keys, values = [], []
    with open(path, "rb") as f:
        try:
            for line in map(bytes.decode, f):
                key, *value = line.split(maxsplit=1)  # an empty line: ValueError
                keys.append(key)
                values.append(value[0].strip() if value else "")
                if "\r" in line:
                    return None
        except (UnicodeDecodeError, ValueError):
            return None
    return keys, values


def _fail(message: str, path: Path, line: int, problems: list[str] | None) -> None:
    if problems is None:
        raise DataError(message, path, line)
    problems.append(locate(message, path, line))


def write_table(path: str | Path, items: Iterable[tuple[str, str]]) -> None:
    """Write ``key value`` lines atomically, in byte order of the keys."""
    with atomic_open(path) as f:
        for key, value in sorted(items, key=lambda kv: byte_order(kv[0])):
            f.write(f"{key} {value}\n" if value else f"{key}\n")


def id_problem(key: str) -> str | None:
    """Why an utterance, recording or speaker id is unsafe as a file name, or None."""
    if "/" in key or ".." in key:
        return "id contains '/' or '..', which would name another directory's file"
    if key.startswith("-"):
        return "id starts with '-', which commands would take for an option"
    if CONTROL_CHARACTER.search(key):
        return f"id contains a control character ({key!r})"
    return None


def ids_safe_and_sorted(keys: Sequence[str]) -> bool:
    """Whether ``keys`` are in strict byte order (so unique) and none has an ``id_problem``: in one pass each."""
    in_order = all(map(operator.lt, keys, itertools.islice(keys, 1, None)))  # code point order is UTF-8 byte order
    return in_order and not UNSAFE_IDS.search("\n".join(keys))


def id_path(directory: str | Path, key: str, suffix: str) -> Path:
    """The file ``directory/<key><suffix>``, after checking that ``key`` is a safe file name."""
    problem = id_problem(key)
    if problem:
        raise DataError(problem, utt=key)
    return Path(directory) / f"{key}{suffix}"
