"""Token caches of large text tables: built once per table and tokenizer, memory-mapped afterwards, equal to the
tokens read without a cache, rebuilt when the table or the tokenizer changes, built once by processes starting
together, kept in memory when the data directory is read-only, and the table's errors as without a cache."""

from __future__ import annotations

import errno
import multiprocessing
import os
from pathlib import Path

import numpy as np
import pytest

from alptk.data import token_cache
from alptk.data.datasets import TextDataset
from alptk.data.tokenizer import Tokenizer, train_tokenizer
from alptk.errors import DataError

WORDS = ["the", "a", "of", "to", "and", "in", "that", "was", "he", "it", "his", "is", "with", "for", "had", "you"]
LINES = 3000


def write_text_table(path: Path, lines: int = LINES, seed: int = 0) -> list[str]:
    """A ``text`` table of ``lines`` lines of 1-30 random words, ids lm-<line number>; returns the sentences."""
    rng = np.random.default_rng(seed)
    sentences = [" ".join(rng.choice(WORDS, size=rng.integers(1, 31))) for _ in range(lines)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"lm-{i:09d} {s}\n" for i, s in enumerate(sentences, 1)))
    return sentences


@pytest.fixture(scope="module")
def tokenizers(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("tok")
    write_text_table(root / "train" / "text", 500, seed=1)
    return tuple(train_tokenizer([root / "train"], root / name, "bpe", size).directory for name, size in
                 (("bpe40", 40), ("bpe50", 50)))  # fmt: skip


@pytest.fixture
def cached(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Cache every text table (whatever its size), read in chunks of ~4 kB (~40 chunks here); list the builds."""
    monkeypatch.setattr(token_cache, "CACHED_BYTES", 1)
    monkeypatch.setattr(token_cache, "CHUNK_BYTES", 4096)
    monkeypatch.delenv(token_cache.CACHE_VARIABLE, raising=False)
    builds: list[Path] = []
    build = token_cache.build
    monkeypatch.setattr(token_cache, "build", lambda table, *args: builds.append(table) or build(table, *args))
    return builds


def uncached(data: Path, tok: Path, monkeypatch: pytest.MonkeyPatch) -> TextDataset:
    with monkeypatch.context() as patch:
        patch.setattr(token_cache, "CACHED_BYTES", 2**62)
        return TextDataset(data, Tokenizer(tok))


def same(a: TextDataset, b: TextDataset) -> bool:
    return (
        list(a.utts) == list(b.utts)
        and list(a.tokens) == list(b.tokens)
        and a.lengths.dtype == b.lengths.dtype == np.int64
        and np.array_equal(a.lengths, b.lengths)
    )


def cache_dirs(data: Path) -> list[str]:
    return sorted(p.name for p in (data / ".cache").iterdir() if p.is_dir())


def test_built_once_then_mapped(tmp_path: Path, tokenizers, cached: list[Path], monkeypatch: pytest.MonkeyPatch):
    data, tok = tmp_path / "lm_text", tokenizers[0]
    sentences = write_text_table(data / "text")
    first = TextDataset(data, Tokenizer(tok))
    assert cached == [data / "text"] and len(first) == LINES
    monkeypatch.setattr(Tokenizer, "encode_batch", lambda *_: pytest.fail("a mapped cache tokenizes nothing"))
    second = TextDataset(data, Tokenizer(tok))
    assert cached == [data / "text"]
    assert isinstance(second.tokens.values.base, np.memmap) and isinstance(second.utts.data.base, np.memmap)
    monkeypatch.undo()
    without = uncached(data, tok, monkeypatch)
    assert same(first, without) and same(second, without)
    assert second.utts[0] == "lm-000000001" and second.utts[-1] == f"lm-{LINES:09d}"
    assert Tokenizer(tok).decode(second[41][2]) == sentences[41] and second[41][:2] == ("lm-000000042", None)
    assert cache_dirs(data) == [f"text.{first_digest(data)}"]


def first_digest(data: Path) -> str:
    return next((data / ".cache").glob("text.*.lock")).name.split(".")[1]


def test_rebuilt_when_the_table_or_the_tokenizer_changes(tmp_path: Path, tokenizers, cached: list[Path],
                                                          monkeypatch: pytest.MonkeyPatch):  # fmt: skip
    data = tmp_path / "lm_text"
    write_text_table(data / "text")
    TextDataset(data, Tokenizer(tokenizers[0]))
    TextDataset(data, Tokenizer(tokenizers[1]))  # another tokenizer: its own cache; the first one stays valid
    assert len(cached) == 2 and len(cache_dirs(data)) == 2
    TextDataset(data, Tokenizer(tokenizers[0]))
    assert len(cached) == 2
    write_text_table(data / "text", LINES - 7, seed=5)  # another table: rebuilt, the caches of the old one removed
    changed = TextDataset(data, Tokenizer(tokenizers[1]))
    assert len(cached) == 3 and len(cache_dirs(data)) == 1 and len(changed) == LINES - 7
    assert same(changed, uncached(data, tokenizers[1], monkeypatch))
    os.utime(data / "text", ns=(1, 1))  # same size, another modification time: rebuilt
    TextDataset(data, Tokenizer(tokenizers[1]))
    assert len(cached) == 4


def start_together(data: Path, tok: Path, barrier, builds) -> None:
    token_cache.CACHED_BYTES, token_cache.CHUNK_BYTES = 1, 4096
    build = token_cache.build

    def counted(*args):
        builds.put(os.getpid())
        return build(*args)

    token_cache.build = counted
    barrier.wait()
    dataset = TextDataset(data, Tokenizer(tok))
    assert len(dataset) == LINES and isinstance(dataset.tokens.values.base, np.memmap)


def test_processes_starting_together_build_it_once(tmp_path: Path, tokenizers, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(token_cache.CACHE_VARIABLE, raising=False)
    data = tmp_path / "lm_text"
    write_text_table(data / "text")
    context = multiprocessing.get_context("fork")
    barrier, builds = context.Barrier(3), context.Queue()
    processes = [context.Process(target=start_together, args=(data, tokenizers[0], barrier, builds)) for _ in range(3)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
    assert [p.exitcode for p in processes] == [0, 0, 0]
    assert builds.qsize() == 1


def read_only(data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``data`` read-only; for root, whom permissions do not stop, refuse directories in it as the kernel
    refuses anyone else."""
    data.chmod(0o555)
    if os.access(data, os.W_OK):
        mkdir = Path.mkdir

        def refuse(path: Path, *args, **kwargs) -> None:
            if path.is_relative_to(data):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
            mkdir(path, *args, **kwargs)

        monkeypatch.setattr(Path, "mkdir", refuse)


def test_a_read_only_data_dir_is_tokenized_in_memory(tmp_path: Path, tokenizers, cached: list[Path],
                                                     monkeypatch: pytest.MonkeyPatch, capsys):  # fmt: skip
    data, tok = tmp_path / "lm_text", tokenizers[0]
    write_text_table(data / "text")
    read_only(data, monkeypatch)
    try:
        dataset = TextDataset(data, Tokenizer(tok))
        logged = capsys.readouterr().err
        assert f"{data / 'text'}: tokenized in memory, no cache: {data / '.cache'}: Permission denied" in logged
        assert logged.count("\n") == 1 and not (data / ".cache").exists() and cached == [data / "text"]
        assert same(dataset, uncached(data, tok, monkeypatch))
        monkeypatch.setenv(token_cache.CACHE_VARIABLE, str(tmp_path / "caches"))  # a cache elsewhere
        TextDataset(data, Tokenizer(tok))
        mapped = TextDataset(data, Tokenizer(tok))
        assert len(cached) == 2 and isinstance(mapped.tokens.values.base, np.memmap)
        assert [p.name[:8] for p in (tmp_path / "caches").iterdir()] == ["lm_text-"]
    finally:
        data.chmod(0o755)


@pytest.mark.parametrize(
    ("line", "content"),
    [
        (2900, b"lm-000002900 \n"),  # an empty transcript
        (2901, b"lm-000002901 a b\r\n"),
        (2902, b"lm-000002902 caf\xe9\n"),
        (2903, b" \n"),
        (2904, b"lm-000002903 again\n"),  # the id of the line before
        (2905, b"lm-000000001 early\n"),  # the first line's id
        (2906, b"lm-000002900a later\n"),
        (2907, b"lm-0000../02907 x\n"),
    ],
)
def test_errors_are_those_without_a_cache(tmp_path: Path, tokenizers, cached: list[Path],
                                          monkeypatch: pytest.MonkeyPatch, line: int, content: bytes):  # fmt: skip
    data = tmp_path / "lm_text"
    write_text_table(data / "text")
    lines = (data / "text").read_bytes().splitlines(keepends=True)
    lines[line - 1] = content
    (data / "text").write_bytes(b"".join(lines))
    assert len(b"".join(lines[: line - 1])) > 40 * token_cache.CHUNK_BYTES  # in a later chunk
    with pytest.raises(DataError) as without:
        uncached(data, tokenizers[0], monkeypatch)
    with pytest.raises(DataError) as caught:
        TextDataset(data, Tokenizer(tokenizers[0]))
    assert str(caught.value) == str(without.value) and str(caught.value).startswith(f"{data / 'text'}:{line}: ")
    assert not any(p.is_dir() for p in (data / ".cache").iterdir())  # nothing half-built is left
