"""Kaldi table files (one ``key value`` per line): reading with line numbers, atomic writing, byte order."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from alptk.errors import DataError, locate
from alptk.files import atomic_open


@dataclass(frozen=True)
class Entry:
    """One line of a table: its key, the rest of the line, and its 1-based line number."""

    key: str
    value: str
    line: int


def byte_order(key: str) -> bytes:
    """Sort key giving Kaldi's C-locale (byte) order whatever the user's locale."""
    return key.encode("utf-8")


def read_table(path: str | Path, problems: list[str] | None = None) -> list[Entry]:
    """Read a table. A malformed line raises ``DataError``, or is reported in ``problems`` and skipped."""
    path = Path(path)
    entries = []
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            try:
                text = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as err:
                _fail(f"not valid UTF-8 (byte {err.start + 1})", path, number, problems)
                continue
            parts = text.split(maxsplit=1)
            if not parts:
                _fail("empty line", path, number, problems)
                continue
            entries.append(Entry(parts[0], parts[1].strip() if len(parts) > 1 else "", number))
    return entries


def _fail(message: str, path: Path, line: int, problems: list[str] | None) -> None:
    if problems is None:
        raise DataError(message, path, line)
    problems.append(locate(message, path, line))


def write_table(path: str | Path, items: Iterable[tuple[str, str]]) -> None:
    """Write ``key value`` lines atomically, in byte order of the keys."""
    with atomic_open(path) as f:
        for key, value in sorted(items, key=lambda kv: byte_order(kv[0])):
            f.write(f"{key} {value}\n" if value else f"{key}\n")
