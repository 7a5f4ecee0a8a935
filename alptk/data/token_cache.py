"""Token caches: the ids and token ids of a large text table (the LM corpus's tens of millions of lines), built once
per table and tokenizer, then memory-mapped by every later start, as fairseq's binarized datasets are.

A cache is a directory ``<data dir>/.cache/<table>.<tokenizer digest>/`` (under ``$ALPTK_TOKEN_CACHE`` instead, if
set) of four flat arrays (``Strings`` and ``TokenLists`` laid out on disk) and ``record.json``: what it was built from
(the table's size and modification time, the tokenizer model's digest, the format) and the arrays' lengths. Mapped,
its pages are shared by every process of the machine (DDP ranks, DataLoader workers) and stay out of their private
memory. Building streams the table a chunk at a time: memory stays bounded whatever its size. Processes starting
together build it once: the first takes an exclusive ``flock`` on ``<table>.<digest>.lock`` and the others wait for
it. (Linux honours ``flock`` between the processes of one machine; across machines, on NFS, which Linux maps to
byte-range locks, on GPFS, and on Lustre mounted with ``-o flock``.)
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import BinaryIO

import numpy as np

from alptk.data.kaldi_dir import TEXT_TABLE
from alptk.data.packed import Strings, TokenLists
from alptk.data.table import ids_safe_and_sorted
from alptk.data.tokenizer import Tokenizer
from alptk.files import promote, remove, staging, storage_error, write_text
from alptk.progress import log

FORMAT = 1  # of the files: a cache of another format is rebuilt
CACHED_BYTES = 16 * 2**20  # tables this large (~100,000 lines) are cached; a smaller one tokenizes in a few seconds
CHUNK_BYTES = 16 * 2**20  # of the table read, checked and tokenized at a time: what building holds in memory
CACHE_VARIABLE = "ALPTK_TOKEN_CACHE"  # a directory for the caches of every data directory, instead of <dir>/.cache
RECORD = "record.json"
ARRAYS = ("ids", "id_starts", "tokens", "token_starts")  # Strings' data and starts, TokenLists' values and starts
DIGEST_CHARS = 16  # of the tokenizer model's sha256, in a cache's name


class UncleanTable(Exception):
    """A line of the table may be malformed: the thorough check (``load_columns``) says which, and where."""


def cached_tokens(table: Path, tokenizer: Tokenizer) -> tuple[Strings, TokenLists] | None:
    """The ids and token ids of a text table (``text``, ``text.<lang>``) of at least ``CACHED_BYTES``, from its
    cache (built first if there is none for this table and tokenizer); None for a smaller table, or one with a line
    that may be malformed (read it as ``load_columns`` does: it says which). Only this table is checked, as
    ``KaldiDir.load`` checks a table: ids unique, in byte order and safe; no empty, CRLF or non-UTF-8 line and no
    empty transcript. A cache that cannot be written (someone else's data) is logged, and the arrays kept in memory."""
    if not (table.name == "text" or TEXT_TABLE.match(table.name)) or not table.is_file():
        return None
    stat = table.stat()
    if stat.st_size < CACHED_BYTES:
        return None
    digest = hashlib.sha256(tokenizer.processor.serialized_model_proto()).hexdigest()[:DIGEST_CHARS]
    source = {"format": FORMAT, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "tokenizer": digest}
    cache = cache_root(table.parent) / f"{table.name}.{digest}"
    try:
        return open_cache(cache, source) or _build_or_wait(table, tokenizer, cache, source)  # a cache appears whole
    except UncleanTable:
        return None


def _build_or_wait(table: Path, tokenizer: Tokenizer, cache: Path, source: dict) -> tuple[Strings, TokenLists]:
    """The cache, built by this process or by the one holding its lock; the arrays in memory if it cannot be
    written."""
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        lock = open(cache.with_name(f"{cache.name}.lock"), "a")  # noqa: SIM115 (the with block below closes it)
    except OSError as err:
        log(f"{table}: tokenized in memory, no cache: {cache.parent}: {err.strerror} (set {CACHE_VARIABLE} to a "
            "writable directory to keep one)")  # fmt: skip
        buffers = {name: io.BytesIO() for name in ARRAYS}
        arrays = build(table, tokenizer, buffers)
        return _packed({name: buffers[name].getbuffer() for name in ARRAYS}, arrays)
    with lock:
        wait_for(lock, f"{table}: waiting for another process to build its token cache")
        found = open_cache(cache, source)  # built while this process waited
        if found is None:
            _build_cache(table, tokenizer, cache, source)
            found = open_cache(cache, source)
        return found


def cache_root(data_dir: Path) -> Path:
    """Where the token caches of ``data_dir``'s tables are: ``<data_dir>/.cache``, or a directory named after it
    in ``$ALPTK_TOKEN_CACHE``."""
    shared = os.environ.get(CACHE_VARIABLE)
    if not shared:
        return data_dir / ".cache"
    path = data_dir.resolve()
    return Path(shared) / f"{path.name}-{hashlib.sha256(str(path).encode()).hexdigest()[:12]}"


def wait_for(lock: BinaryIO, message: str) -> None:
    """Take an exclusive ``flock`` on ``lock``, logging ``message`` first if another process holds it."""
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log(message)
        fcntl.flock(lock, fcntl.LOCK_EX)


def read_record(cache: Path) -> dict | None:
    """What the cache was built from and its arrays' dtypes and lengths; None if there is no (readable) record."""
    try:
        record = json.loads((cache / RECORD).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def open_cache(cache: Path, source: dict) -> tuple[Strings, TokenLists] | None:
    """The cache's arrays, memory-mapped, if it was built from ``source`` and is whole; else None."""
    record = read_record(cache)
    if record is None or {key: record.get(key) for key in source} != source:
        return None
    try:
        arrays = {name: _map(cache / name, *record["arrays"][name]) for name in ARRAYS}
    except (OSError, ValueError, KeyError, TypeError):  # an array missing, empty or not as recorded
        return None
    return _packed(arrays, record["arrays"])


def _map(path: Path, dtype: str, count: int) -> np.ndarray | bytes:
    return np.memmap(path, dtype, "r") if count else b""  # (an empty file cannot be mapped)


def _packed(buffers: dict, arrays: dict[str, tuple[str, int]]) -> tuple[Strings, TokenLists] | None:
    """``Strings`` and ``TokenLists`` over the ``buffers`` of ``arrays`` (name: dtype and length); None if a buffer
    is not as long as recorded."""
    found = {name: np.frombuffer(buffers[name], dtype) for name, (dtype, _) in arrays.items()}
    if any(len(found[name]) != count for name, (_, count) in arrays.items()):
        return None
    return Strings.packed(found["ids"], found["id_starts"]), TokenLists(found["tokens"], found["token_starts"])


def _build_cache(table: Path, tokenizer: Tokenizer, cache: Path, source: dict) -> None:
    """Write the cache of ``table`` in place of any older one, and remove the caches of earlier versions of the
    table (another tokenizer's cache of this version stays)."""
    started = time.perf_counter()
    log(f"{table}: building its token cache {cache} (once: later starts map it)")
    try:
        for old in cache.parent.glob(f"{table.name}." + "[0-9a-f]" * DIGEST_CHARS):
            record = read_record(old) or {}
            if old != cache and any(record.get(key) != source[key] for key in ("format", "size", "mtime_ns")):
                remove(old)
        with staging([cache]) as (staged,):
            staged.mkdir()
            with ExitStack() as stack:
                files = {name: stack.enter_context(open(staged / name, "wb")) for name in ARRAYS}
                arrays = build(table, tokenizer, files)
                for f in files.values():
                    f.flush()
                    os.fsync(f.fileno())
            write_text(staged / RECORD, json.dumps({**source, "arrays": arrays}, indent=1))  # last: the cache is whole
            promote([staged], [cache])
    except OSError as err:
        raise storage_error(err, cache, "no token cache was written") from err
    lines, tokens = arrays["id_starts"][1] - 1, arrays["tokens"][1]
    log(f"{table}: token cache built: {lines:,} lines, {tokens:,} tokens in {time.perf_counter() - started:.0f} s")


def build(table: Path, tokenizer: Tokenizer, out: dict[str, BinaryIO]) -> dict[str, tuple[str, int]]:
    """Write the ``ARRAYS`` of ``table``'s ids and token ids to ``out`` (files or buffers), a chunk at a time;
    return each array's dtype and length."""
    dtypes = {"ids": "uint8", "id_starts": "int64", "tokens": np.dtype(TokenLists.dtype(tokenizer)).name,
              "token_starts": "int64"}  # fmt: skip
    counts = dict.fromkeys(ARRAYS, 0)

    def write(name: str, array: np.ndarray) -> None:
        out[name].write(array.astype(dtypes[name], copy=False).tobytes())
        counts[name] += len(array)

    write("id_starts", np.zeros(1))
    write("token_starts", np.zeros(1))
    for keys, texts in table_chunks(table):
        ids, tokens = Strings(keys), TokenLists.encode(texts, tokenizer)
        id_offset, token_offset = counts["ids"], counts["tokens"]
        write("ids", np.frombuffer(ids.data, np.uint8))
        write("id_starts", ids.starts[1:] + id_offset)
        write("tokens", tokens.values)
        write("token_starts", tokens.starts[1:] + token_offset)
    return {name: (dtypes[name], counts[name]) for name in ARRAYS}


def table_chunks(path: Path) -> Iterator[tuple[list[str], list[str]]]:
    """The keys and values of a text table, ``CHUNK_BYTES`` of it at a time, each chunk checked as ``read_columns``
    and ``load_columns`` check a whole table; ``UncleanTable`` at the first doubt."""
    previous = ""  # the last key of the chunk before
    with open(path, "rb") as f:
        while block := f.read(CHUNK_BYTES):
            if not block.endswith(b"\n"):
                block += f.readline()  # to the end of the line (or of the file)
            try:
                text = block.decode()
            except UnicodeDecodeError:
                raise UncleanTable from None
            if "\r\n" in text or text.endswith("\r"):
                raise UncleanTable
            pairs = [line.split(maxsplit=1) for line in text.removesuffix("\n").split("\n")]
            if any(len(pair) != 2 for pair in pairs):  # an empty line, or an empty transcript
                raise UncleanTable
            keys = [key for key, _ in pairs]
            if not previous < keys[0] or not ids_safe_and_sorted(keys):
                raise UncleanTable
            previous = keys[-1]
            yield keys, [value.rstrip() for _, value in pairs]
