"""``alptk data download``: resumed downloads, md5 checked once, archives unpacked once and only inside DIR."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from alptk.corpora import download as download_module
from alptk.corpora.download import download
from alptk.errors import DataError
from tests.conftest import Server

DATA = bytes(range(256)) * 1200  # 300 kB
MD5 = hashlib.md5(DATA).hexdigest()
CORPUS = {"corpus/a.txt": b"first file\n", "corpus/sub/b.txt": b"second file\n"}


def tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def test_download_verify_and_skip_on_rerun(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    server.files["/dl/c.bin"] = DATA
    target = download(f"{server.base}/dl/c.bin", tmp_path / "dl", md5=MD5)
    assert target == tmp_path / "dl" / "c.bin" and target.read_bytes() == DATA
    assert server.requests == [("/dl/c.bin", None)]
    assert sorted(p.name for p in target.parent.iterdir()) == [".c.bin.md5", "c.bin"]
    with monkeypatch.context() as m:
        m.setattr(download_module, "file_digest", lambda *args: pytest.fail("a verified file was read again"))
        assert download(f"{server.base}/dl/c.bin", tmp_path / "dl", md5=MD5) == target
    assert len(server.requests) == 1
    os.utime(target, ns=(0, 0))  # changed since it was verified: read again
    with pytest.raises(DataError, match=f"md5 is {MD5}, expected {'0' * 32}"):
        download(f"{server.base}/dl/c.bin", tmp_path / "dl", md5="0" * 32)
    assert not target.exists() and (tmp_path / "dl" / "c.bin.bad").read_bytes() == DATA


@pytest.mark.parametrize("ignore_range", [False, True])
def test_dropped_connection_is_resumed(server: Server, tmp_path: Path, ignore_range: bool):
    server.files["/c.bin"] = DATA
    server.cut_first, server.ignore_range = True, ignore_range
    assert download(f"{server.base}/c.bin", tmp_path).read_bytes() == DATA
    assert server.requests == [("/c.bin", None), ("/c.bin", f"bytes={len(DATA) // 2}-")]
    assert not (tmp_path / "c.bin.part").exists()


def test_part_of_an_interrupted_run_is_resumed(server: Server, tmp_path: Path):
    server.files["/c.bin"] = DATA
    (tmp_path / "c.bin.part").write_bytes(DATA[:1000])
    assert download(f"{server.base}/c.bin", tmp_path, md5=MD5).read_bytes() == DATA
    assert server.requests == [("/c.bin", "bytes=1000-")]


def test_md5_mismatch_leaves_no_file(server: Server, tmp_path: Path):
    server.files["/c.bin"] = DATA
    with pytest.raises(DataError) as caught:
        download(f"{server.base}/c.bin", tmp_path, md5="F" * 32)
    target = tmp_path / "c.bin"
    assert str(caught.value) == (
        f"{target}: md5 is {MD5}, expected {'f' * 32}: a damaged download or a wrong --md5; moved to {target}.bad: "
        "rerun to download it again"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.bin.bad"]


@pytest.mark.parametrize(("name", "pack"), [("corpus.tar.gz", tar_gz), ("corpus.zip", zip_bytes)])
def test_extract_once(server: Server, tmp_path: Path, name: str, pack):
    server.files[f"/{name}"] = pack(CORPUS)
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "a.txt").write_bytes(b"half-written by an interrupted extraction")
    download(f"{server.base}/{name}", tmp_path, extract=True)
    for member, data in CORPUS.items():
        assert (tmp_path / member).read_bytes() == data
    assert (tmp_path / f".{name}.extracted").is_file()
    (tmp_path / name).unlink()  # the archive deleted to save space: a rerun neither downloads nor extracts
    (tmp_path / "corpus" / "a.txt").unlink()
    download(f"{server.base}/{name}", tmp_path, extract=True)
    assert len(server.requests) == 1 and not (tmp_path / "corpus" / "a.txt").exists()


@pytest.mark.parametrize(("name", "pack"), [("evil.tar.gz", tar_gz), ("evil.zip", zip_bytes)])
def test_escaping_archive_is_refused(server: Server, tmp_path: Path, name: str, pack):
    server.files[f"/{name}"] = pack({"corpus/a.txt": b"fine\n", "../escaped.txt": b"outside\n"})
    with pytest.raises(DataError, match="unsafe member refused") as caught:
        download(f"{server.base}/{name}", tmp_path / "dl", extract=True)
    assert str(caught.value).startswith(f"{tmp_path}/dl/{name}: ") and "../escaped.txt" in str(caught.value)
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "dl" / f".{name}.extracted").exists()


def test_damaged_archive_is_one_line(tmp_path: Path):
    (tmp_path / "corpus.tar.gz").write_bytes(b"<html>not found</html>")
    with pytest.raises(DataError) as caught:
        download(str(tmp_path / "corpus.tar.gz"), tmp_path / "dl", extract=True)
    assert str(caught.value) == (
        f"{tmp_path}/dl/corpus.tar.gz: damaged, or not a tar archive (ReadError): delete it and rerun to download it "
        "again"
    )


def test_local_copies(tmp_path: Path):
    source = tmp_path / "shared" / "c.bin"
    source.parent.mkdir()
    source.write_bytes(DATA)
    assert download(str(source), tmp_path / "a", md5=MD5).read_bytes() == DATA
    assert download(source.as_uri(), tmp_path / "b").read_bytes() == DATA
    with pytest.raises(DataError, match="no such file"):
        download(str(tmp_path / "missing.tar"), tmp_path / "c")


def test_http_error_is_one_line(server: Server, tmp_path: Path):
    url = f"{server.base}/missing.tar.gz"
    result = subprocess.run(
        [str(Path(sys.executable).parent / "alptk"), "data", "download", url, "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"error: {url}: HTTP 404 Not Found"]
