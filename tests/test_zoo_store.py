"""Model packages: manifests, verification, deterministic archives, safe unpacking, and fetching from a local HTTP
server (resumed when cut), the cache and a stand-in for the Hugging Face Hub."""

from __future__ import annotations

import fnmatch
import hashlib
import io
import json
import shutil
import socket
import sys
import tarfile
import types
from pathlib import Path

import numpy as np
import pytest

from alptk.zoo.store import (
    FORMAT_VERSION,
    MANIFEST,
    PackageError,
    cache_dir,
    cached_packages,
    fetch,
    pack_archive,
    push,
    read_manifest,
    unpack_archive,
    verify_package,
    write_manifest,
)
from tests.conftest import Server


def make_package(root: Path, name: str = "pkg") -> Path:
    """A small package: incompressible weights, a config in a subfolder, a card and a tokenizer."""
    pkg = root / name
    (pkg / "conf").mkdir(parents=True)
    (pkg / "model.safetensors").write_bytes(np.random.default_rng(0).bytes(64 << 10))
    (pkg / "conf" / "train.yaml").write_text("lr: 0.001\nepochs: 3\n")
    (pkg / "README.md").write_text(f"# {name}\n")
    (pkg / "tokenizer.model").write_bytes(b"\x00\x01spm")
    write_manifest(pkg, {"name": name, "task": "asr"})
    return pkg


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ALPTK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ALPTK_DOWNLOAD_TIMEOUT", "5")
    return tmp_path / "cache"


# manifests, archives


def test_round_trip_and_deterministic_archive(tmp_path: Path):
    pkg = make_package(tmp_path / "src")
    manifest = read_manifest(pkg)
    assert manifest["format"] == "alptk-package" and manifest["format_version"] == FORMAT_VERSION
    assert manifest["name"] == "pkg" and manifest["task"] == "asr"
    assert set(manifest["files"]) == {"model.safetensors", "conf/train.yaml", "README.md", "tokenizer.model"}
    assert manifest["files"]["tokenizer.model"] == {"size": 5, "sha256": sha(b"\x00\x01spm")}

    archive = pack_archive(pkg, tmp_path / "pkg.tar.gz")
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
    assert members[0].name == f"pkg/{MANIFEST}"
    assert all(m.name.startswith("pkg/") and m.mtime == 0 and m.uid == m.gid == 0 for m in members)
    out = unpack_archive(archive, tmp_path / "out")
    assert out == tmp_path / "out" / "pkg"
    assert tree(out) == tree(pkg)
    assert verify_package(out) == manifest
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["pkg"], "temporary dir left behind"

    (pkg / "README.md").touch()  # a newer mtime changes nothing
    again = pack_archive(pkg, tmp_path / "again.tar.gz")
    assert again.read_bytes() == archive.read_bytes()
    assert not list(tmp_path.glob(".*.tmp"))
    with pytest.raises(PackageError, match="already exists"):
        unpack_archive(archive, tmp_path / "out")


def _flip_byte(pkg: Path) -> None:
    data = bytearray((pkg / "model.safetensors").read_bytes())
    data[1000] ^= 1
    (pkg / "model.safetensors").write_bytes(bytes(data))


@pytest.mark.parametrize(
    "damage, named, reason",
    [
        (_flip_byte, "model.safetensors", "sha256"),
        (lambda pkg: (pkg / "conf" / "train.yaml").unlink(), "conf/train.yaml", "missing"),
        (lambda pkg: (pkg / "conf" / "extra.txt").write_text("x"), "conf/extra.txt", "not in the manifest"),
        (lambda pkg: (pkg / "conf" / "link").symlink_to("../README.md"), "conf/link", "symbolic link"),
        (lambda pkg: (pkg / "README.md").write_text("# pkg, edited\n"), "README.md", "bytes, the manifest says"),
    ],
    ids=["changed-byte", "missing", "extra", "symlink", "size"],
)
def test_verify_catches_damage(tmp_path: Path, damage, named: str, reason: str):
    pkg = make_package(tmp_path)
    verify_package(pkg)
    damage(pkg)
    with pytest.raises(PackageError, match=reason) as caught:
        verify_package(pkg)
    assert str(pkg / named) in str(caught.value)


def test_write_manifest_refuses_symlinks(tmp_path: Path):
    pkg = make_package(tmp_path)
    (pkg / "weights.link").symlink_to(pkg / "model.safetensors")
    with pytest.raises(PackageError, match="symbolic link") as caught:
        write_manifest(pkg, {})
    assert "weights.link" in str(caught.value)


def test_newer_format_is_one_line(tmp_path: Path):
    pkg = make_package(tmp_path)
    manifest = json.loads((pkg / MANIFEST).read_text())
    manifest.update(format_version=FORMAT_VERSION + 1, alptk="9.9")
    (pkg / MANIFEST).write_text(json.dumps(manifest))
    for read in (read_manifest, verify_package):
        with pytest.raises(PackageError) as caught:
            read(pkg)
        message = str(caught.value)
        assert message.startswith(f"{pkg}: package format {FORMAT_VERSION + 1} is newer than this alptk reads")
        assert f"({FORMAT_VERSION})" in message and "alptk 9.9" in message and "pip install -U alptk" in message
        assert "\n" not in message
    (pkg / MANIFEST).write_text("{not json")
    with pytest.raises(PackageError, match="invalid JSON") as caught:
        read_manifest(pkg)
    assert str(pkg / MANIFEST) in str(caught.value)


# hostile archives: refused whole, before anything is written

MANIFEST_BYTES = json.dumps(
    {"format": "alptk-package", "format_version": 1, "files": {"a.bin": {"size": 5, "sha256": sha(b"hello")}}}
).encode()


def _member(name: str, data: bytes = b"", **attrs) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in attrs.items():
        setattr(info, key, value)
    return info, data


HOSTILE = {
    # case: (members after the manifest and pkg/a.bin (None: instead of them), the entry to name, outside path)
    "absolute": (lambda t: [_member(str(t / "evil"), b"pwned")], lambda t: str(t / "evil"), "evil"),
    "dotdot": (lambda t: [_member("../evil", b"pwned")], lambda t: "../evil", "evil"),
    "dotdot-inside": (lambda t: [_member("pkg/../../evil", b"pwned")], lambda t: "pkg/../../evil", "evil"),
    "symlink": (
        lambda t: [_member("pkg/link", type=tarfile.SYMTYPE, linkname=str(t / "evil"))],
        lambda t: "pkg/link",
        "evil",
    ),
    "hardlink": (
        lambda t: [_member("pkg/hard", type=tarfile.LNKTYPE, linkname="/etc/passwd")],
        lambda t: "pkg/hard",
        None,
    ),
    "chardev": (
        lambda t: [_member("pkg/dev", type=tarfile.CHRTYPE, devmajor=1, devminor=3)],
        lambda t: "pkg/dev",
        None,
    ),
    "fifo": (lambda t: [_member("pkg/fifo", type=tarfile.FIFOTYPE)], lambda t: "pkg/fifo", None),
    "larger": (lambda t: None, lambda t: "pkg/a.bin", None),
    "not-listed": (lambda t: [_member("pkg/extra.bin", b"extra")], lambda t: "pkg/extra.bin", None),
    "second-top": (lambda t: [_member("other/a.bin", b"hello")], lambda t: "other/a.bin", "other"),
    "no-manifest": (lambda t: None, lambda t: f"pkg/{MANIFEST}", None),
    "not-a-tar": (lambda t: None, lambda t: "not a package archive", None),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_archive_is_refused(tmp_path: Path, case: str):
    extra, entry, outside = HOSTILE[case]
    archive = tmp_path / "hostile.tar.gz"
    if case == "not-a-tar":
        archive.write_bytes(b"this is not an archive\n" * 40)
    else:
        members = [_member(f"pkg/{MANIFEST}", MANIFEST_BYTES), _member("pkg/a.bin", b"hello")]
        if case == "larger":
            members[1] = _member("pkg/a.bin", b"hello" + b"x" * 5000)
        elif case == "no-manifest":
            members = members[1:]
        else:
            members += extra(tmp_path)
        with tarfile.open(archive, "w:gz") as tar:
            for info, data in members:
                tar.addfile(info, io.BytesIO(data) if data else None)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(PackageError) as caught:
        unpack_archive(archive, out)
    message = str(caught.value)
    assert str(archive) in message and entry(tmp_path) in message and "\n" not in message
    assert list(out.iterdir()) == [], "something was written"
    if outside:
        assert not (tmp_path / outside).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hostile.tar.gz", "out"]


# fetching: directories, archives, the cache


def test_fetch_directory_archive_and_cached_name(tmp_path: Path, cache: Path):
    pkg = make_package(tmp_path / "src")
    assert fetch(str(pkg)) == pkg
    archive = pack_archive(pkg, tmp_path / "pkg.tar.gz")
    digest = sha(archive.read_bytes())
    got = fetch(str(archive), sha256=digest.upper())
    assert got == cache_dir() / "packages" / f"pkg-{digest[:12]}" and tree(got) == tree(pkg)
    assert fetch(str(archive)) == got and cached_packages() == [got]
    assert fetch("pkg") == got and fetch(got.name) == got
    with pytest.raises(PackageError, match="differs from the expected"):
        fetch(str(archive), sha256="0" * 64)
    with pytest.raises(PackageError, match="known: pkg-"):
        fetch("no-such-model")
    _flip_byte(got)  # a damaged cached copy is replaced
    assert fetch(str(archive)) == got and verify_package(got)


# fetching over http


@pytest.fixture
def served(tmp_path: Path, server: Server) -> tuple[Server, Path, bytes]:
    pkg = make_package(tmp_path / "src")
    data = pack_archive(pkg, tmp_path / "pkg.tar.gz").read_bytes()
    server.files["/zoo/pkg.tar.gz"] = data
    return server, pkg, data


def test_download_then_cache(served, cache: Path):
    server, pkg, data = served
    url = f"{server.base}/zoo/pkg.tar.gz"
    got = fetch(url)
    assert got == cache / "packages" / f"pkg-{sha(data)[:12]}" and tree(got) == tree(pkg)
    assert server.requests == [("/zoo/pkg.tar.gz", None)]
    assert fetch(url) == got and fetch(f"{url}#sha256={sha(data)}") == got
    assert len(server.requests) == 1, "the cached package was downloaded again"
    assert not list((cache / "downloads").glob("*.part"))


@pytest.mark.parametrize("how", ["cut", "cut-range-ignored", "stalled", "busy"])
def test_cut_download_is_resumed(served, cache: Path, monkeypatch: pytest.MonkeyPatch, how: str):
    server, pkg, data = served
    server.cut_first, server.ignore_range = how.startswith("cut"), how == "cut-range-ignored"
    server.stall_first, server.busy_first = how == "stalled", how == "busy"
    monkeypatch.setenv("ALPTK_DOWNLOAD_TIMEOUT", "0.3")
    got = fetch(f"{server.base}/zoo/pkg.tar.gz", sha256=sha(data))
    assert tree(got) == tree(pkg)
    resumed_from = None if how == "busy" else f"bytes={len(data) // 2}-"
    assert server.requests == [("/zoo/pkg.tar.gz", None), ("/zoo/pkg.tar.gz", resumed_from)]


def test_part_from_an_earlier_run_is_resumed(served, cache: Path):
    server, pkg, data = served
    url = f"{server.base}/zoo/pkg.tar.gz"
    part = cache / "downloads" / f"{sha(url.encode())}.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(data[:1000])
    assert tree(fetch(url)) == tree(pkg)
    assert server.requests == [("/zoo/pkg.tar.gz", "bytes=1000-")]
    assert not part.exists()


def test_download_gives_up_after_retries(cache: Path, monkeypatch: pytest.MonkeyPatch):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    waits = []
    monkeypatch.setattr("alptk.zoo.store.time.sleep", waits.append)
    with pytest.raises(PackageError, match="failed 6 times in a row") as caught:
        fetch(f"http://127.0.0.1:{port}/pkg.tar.gz")
    assert "refused" in str(caught.value) and "\n" not in str(caught.value)
    assert len(waits) == 5 and cached_packages() == []


def test_download_sha_mismatch_and_404(served, cache: Path):
    server = served[0]
    url = f"{server.base}/zoo/pkg.tar.gz"
    with pytest.raises(PackageError, match="differs from the expected") as caught:
        fetch(f"{url}#sha256={'0' * 64}")
    assert url in str(caught.value)
    assert cached_packages() == [] and not list((cache / "downloads").glob("*.part"))
    with pytest.raises(PackageError, match="HTTP 404 Not Found") as caught:
        fetch(f"{server.base}/zoo/missing.tar.gz")
    assert str(caught.value).startswith(f"{server.base}/zoo/missing.tar.gz: ")
    assert cached_packages() == []


# the Hugging Face Hub


def test_hub_sources_need_huggingface_hub(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    for call in (lambda: fetch("hf:someone/asr-model"), lambda: push(make_package(tmp_path), "hf:someone/asr")):
        with pytest.raises(PackageError) as caught:
            call()
        assert str(caught.value) == "hf: sources need huggingface_hub: pip install 'alptk[hub]'"


COMMIT = "c0ffee" * 6 + "beef"


def fake_hub(remote: Path) -> types.ModuleType:
    """The parts of huggingface_hub the store uses, over a local folder; local_dir downloads keep their bookkeeping
    in .cache/huggingface and new repos get a .gitattributes, as on the Hub."""
    hub = types.ModuleType("huggingface_hub")

    def copy(repo_id: str, rel: str, local_dir: str) -> None:
        target = Path(local_dir, rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(remote / repo_id / rel, target)
        meta = Path(local_dir, ".cache", "huggingface", "download", f"{rel}.metadata")
        meta.parent.mkdir(parents=True, exist_ok=True)
        meta.write_text(COMMIT)

    class HfApi:
        def model_info(self, repo_id: str, revision: str | None = None):
            if not (remote / repo_id).is_dir():
                raise OSError(f"404 Client Error. (Request ID: x)\n\nRepository Not Found for url: {repo_id}.")
            return types.SimpleNamespace(sha=COMMIT)

        def create_repo(self, repo_id: str, exist_ok: bool = False) -> str:
            (remote / repo_id).mkdir(parents=True, exist_ok=exist_ok)
            (remote / repo_id / ".gitattributes").write_text("*.safetensors filter=lfs diff=lfs merge=lfs -text\n")
            return f"https://huggingface.co/{repo_id}"

        def upload_folder(self, *, repo_id: str, folder_path: str, commit_message: str = "") -> None:
            shutil.copytree(folder_path, remote / repo_id, dirs_exist_ok=True)

    def hf_hub_download(*, repo_id: str, filename: str, revision: str, local_dir: str) -> str:
        assert revision == COMMIT
        copy(repo_id, filename, local_dir)
        return str(Path(local_dir, filename))

    def snapshot_download(*, repo_id: str, revision: str, local_dir: str, allow_patterns: list[str]) -> str:
        assert revision == COMMIT
        for path in sorted((remote / repo_id).rglob("*")):
            rel = path.relative_to(remote / repo_id).as_posix()
            if path.is_file() and any(fnmatch.fnmatch(rel, p) for p in allow_patterns):
                copy(repo_id, rel, local_dir)
        return local_dir

    hub.HfApi, hub.hf_hub_download, hub.snapshot_download = HfApi, hf_hub_download, snapshot_download
    return hub


def test_push_and_fetch_through_the_hub(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", fake_hub(tmp_path / "hub"))
    pkg = make_package(tmp_path / "src")
    assert push(pkg, "hf:me/asr") == "https://huggingface.co/me/asr"
    got = fetch("hf:me/asr")
    assert got == cache / "packages" / f"me--asr-{COMMIT[:12]}"
    assert tree(got) == tree(pkg), "the repo's .gitattributes or the hub's .cache came along"
    assert fetch(f"hf:me/asr@{COMMIT}") == got and fetch("me--asr") == got
    with pytest.raises(PackageError, match="Repository Not Found") as caught:
        fetch("hf:me/missing")
    assert str(caught.value).startswith("hf:me/missing: OSError: 404 Client Error") and "\n" not in str(caught.value)
    with pytest.raises(PackageError, match="unknown target"):
        push(pkg, "s3://bucket/asr")
    assert not list((cache / "packages").glob(".*"))
