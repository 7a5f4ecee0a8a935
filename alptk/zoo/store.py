"""Model packages on disk and in transit: a package is a directory of plain files plus ``manifest.json`` (the size
and sha256 of every file), packed as one deterministic ``.tar.gz``, unpacked only after every entry is checked, and
fetched from a directory, an archive, an http(s) URL (resumed when cut) or the Hugging Face Hub into a local cache."""

from __future__ import annotations

import glob
import gzip
import hashlib
import http.client
import json
import os
import re
import secrets
import shutil
import tarfile
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from alptk.errors import AlptkError, ConfigError, DataError
from alptk.files import atomic_open, remove, storage_error, write_text
from alptk.progress import console, log
from alptk.version import __version__

try:
    import fcntl
except ImportError:  # not POSIX: concurrent fetches of one source are not serialized
    fcntl = None

FORMAT_VERSION = 1  # of the package layout; bump when readers must change
MANIFEST = "manifest.json"
FORMAT = "alptk-package"
RESERVED = ("format", "format_version", "alptk", "files")  # manifest keys write_manifest sets itself
MAX_MANIFEST = 16 << 20  # bytes: a larger manifest.json in an archive is refused unread
CHUNK = 1 << 20
RETRIES = 5  # retries in a row that bring no new bytes before a download gives up
TRANSIENT = (408, 429, 500, 502, 503, 504)  # HTTP statuses a download retries
DOWNLOAD_TIMEOUT = 60.0  # seconds of socket silence; env ALPTK_DOWNLOAD_TIMEOUT overrides
HUB_HINT = "hf: sources need huggingface_hub: pip install 'alptk[hub]'"
SHA256 = re.compile(r"[0-9a-f]{64}")


class PackageError(DataError):
    """A model package, archive or source is missing, damaged, unsafe or unreachable."""


# manifests


def write_manifest(package: Path, info: dict[str, Any]) -> dict[str, Any]:
    """Hash every file of ``package`` and write its ``manifest.json`` (atomically) with ``info`` (keys other than
    ``format``, ``format_version``, ``alptk`` and ``files``, which are set here). Returns the manifest."""
    package = Path(package)
    if not package.is_dir():
        raise PackageError("not a directory", package)
    files = {}
    for rel in _tree(package):
        if not _safe_rel(rel):
            raise PackageError("a name packages cannot hold (a backslash?): rename it", package / rel)
        files[rel] = {"size": (package / rel).stat().st_size, "sha256": file_digest(package / rel)}
    extra = {k: v for k, v in info.items() if k not in RESERVED}
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "alptk": __version__, **extra, "files": files}
    write_text(package / MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return manifest


def read_manifest(package: Path) -> dict[str, Any]:
    """The checked ``manifest.json`` of ``package``."""
    package = Path(package)
    return _read_manifest(package, str(package))


def verify_package(package: Path) -> dict[str, Any]:
    """Check that ``package`` holds exactly the files its manifest lists, with their sizes and sha256; returns the
    manifest."""
    package = Path(package)
    return _verify(package, lambda rel: package / rel, str(package))


def _read_manifest(package: Path, label: str) -> dict[str, Any]:
    path = package / MANIFEST
    where = path if label == str(package) else f"{label}: {MANIFEST}"
    if not path.is_file():
        raise PackageError(f"missing: not an alptk package (no {MANIFEST})", where)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise storage_error(err, path) from err
    except UnicodeDecodeError as err:
        raise PackageError(f"not UTF-8 text: {err.reason}", where) from None
    return _parse_manifest(text, where, label)


def _parse_manifest(text: str, where: str | Path, label: str) -> dict[str, Any]:
    """``text`` as a manifest, checked enough that every reader can rely on its shape."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise PackageError(f"invalid JSON: {err}", where) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise PackageError(f'not an alptk package manifest (no "format": "{FORMAT}")', where)
    version = data.get("format_version")
    if type(version) is not int or version < 1:
        raise PackageError(f"invalid format_version {version!r}", where)
    if version > FORMAT_VERSION:
        raise PackageError(
            f"package format {version} is newer than this alptk reads ({FORMAT_VERSION}): it was made by alptk "
            f"{data.get('alptk', '(unknown)')}; upgrade alptk (pip install -U alptk)",
            label,
        )
    files = data.get("files")
    if not isinstance(files, dict):
        raise PackageError('no "files" table', where)
    for rel, entry in files.items():
        if not _safe_rel(rel) or rel == MANIFEST:
            raise PackageError(f"files: {rel!r} is not a relative path inside the package", where)
        if not (
            isinstance(entry, dict)
            and type(entry.get("size")) is int
            and entry["size"] >= 0
            and isinstance(entry.get("sha256"), str)
            and SHA256.fullmatch(entry["sha256"])
        ):
            raise PackageError(f"files: {rel}: expected a size and a sha256 (64 hex digits)", where)
    return data


def _verify(package: Path, where: Callable[[str], str | Path], label: str) -> dict[str, Any]:
    """``verify_package`` with the offending files named by ``where(relpath)`` and the package by ``label``."""
    manifest = _read_manifest(package, label)
    files = manifest["files"]
    for rel in _tree(package, where):
        if rel not in files:
            raise PackageError("not in the manifest: remove it, or rewrite the manifest", where(rel))
    for rel, entry in sorted(files.items()):
        path = package / rel
        if not path.is_file():
            raise PackageError("missing: the manifest lists it", where(rel))
        size = path.stat().st_size
        if size != entry["size"]:
            raise PackageError(f"{size} bytes, the manifest says {entry['size']}", where(rel))
        if file_digest(path) != entry["sha256"]:
            raise PackageError("sha256 differs from the manifest's: the file was changed or damaged", where(rel))
    return manifest


def _tree(package: Path, where: Callable[[str], str | Path] | None = None) -> list[str]:
    """The POSIX relative paths of the regular files under ``package`` but its manifest, sorted; a symlink or a
    special file is a ``PackageError``."""
    where = where or (lambda rel: package / rel)

    def fail(err: OSError) -> None:
        raise err

    found = []
    try:
        for root, dirs, names in os.walk(package, onerror=fail):
            dirs.sort()
            for name in sorted(dirs + names):
                path = Path(root, name)
                rel = path.relative_to(package).as_posix()
                if path.is_symlink():
                    raise PackageError("a symbolic link: packages hold plain files only", where(rel))
                if name in dirs:
                    continue
                if not path.is_file():
                    raise PackageError("not a regular file: packages hold plain files only", where(rel))
                if rel != MANIFEST:
                    found.append(rel)
    except OSError as err:
        raise storage_error(err) from err
    return sorted(found)


def _safe_rel(rel: object) -> bool:
    """Whether ``rel`` is a plain relative POSIX path (no empty, ``.`` or ``..`` part, no backslash)."""
    return (
        isinstance(rel, str)
        and "\\" not in rel
        and "\0" not in rel
        and all(part not in ("", ".", "..") for part in rel.split("/"))
    )


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """The hex digest of a file's bytes (``algorithm``: a hashlib name), read in blocks."""
    try:
        with open(path, "rb") as f:
            return hashlib.file_digest(f, algorithm).hexdigest()
    except OSError as err:
        raise storage_error(err, path) from err


# archives


def pack_archive(package: Path, archive: Path) -> Path:
    """Write ``package`` (verified first) as one ``.tar.gz`` with a single top folder named like the package,
    ``manifest.json`` first; the same package always gives the same bytes (sorted, no times, no owners)."""
    package, archive = Path(package), Path(archive)
    manifest = verify_package(package)
    if archive.resolve().is_relative_to(package.resolve()):
        raise PackageError(f"the archive cannot go inside the package it holds ({package})", archive)
    top = package.resolve().name
    with (
        atomic_open(archive, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for rel in [MANIFEST, *sorted(manifest["files"])]:
            path = package / rel
            info = tarfile.TarInfo(f"{top}/{rel}")
            info.size, info.mode, info.mtime = path.stat().st_size, 0o644, 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            with open(path, "rb") as f:
                tar.addfile(info, f)
    return archive


def unpack_archive(archive: Path, dest_parent: Path) -> Path:
    """Unpack a package archive into ``dest_parent``/<its top folder>, refusing it whole, before anything is
    written, if any entry is unsafe or not the manifest's; verified before it is moved into place. Returns the
    package directory."""
    return _unpack(Path(archive), Path(dest_parent))


def _unpack(archive: Path, dest_parent: Path, name: Callable[[str], str] | None = None, label: str = "") -> Path:
    """``unpack_archive`` into ``dest_parent``/``name(top folder)``; messages name ``label`` (else the archive)."""
    label = label or str(archive)
    try:
        tar = tarfile.open(archive, "r:*")  # noqa: SIM115 (closed by the with block below)
    except FileNotFoundError:
        raise PackageError("no such file", label) from None
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile):
        raise PackageError("not a package archive (.tar.gz): not a tar file, or a damaged one", label) from None
    except OSError as err:
        raise storage_error(err, archive) from err
    with tar:
        try:
            top, members = _check_archive(tar, label)
            dest = dest_parent / (name(top) if name else top)
            if dest.exists() or dest.is_symlink():
                raise PackageError("already exists: remove it first, or unpack elsewhere", dest)
            made = [p for p in (dest_parent, *dest_parent.parents) if not p.exists()]  # removed again on failure
            tmp = _tmp_dir(dest)
            try:
                for member, rel in members:
                    target = tmp / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with tar.extractfile(member) as src, open(target, "xb") as out:
                        shutil.copyfileobj(src, out, CHUNK)
                _verify(tmp, lambda rel: f"{label}: {top}/{rel}", label)
                os.rename(tmp, dest)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                for path in made:
                    try:
                        path.rmdir()
                    except OSError:
                        break
                raise
        except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as err:
            raise PackageError(f"damaged archive: {_one_line(err)}", label) from None
        except OSError as err:
            raise storage_error(err, dest_parent, "nothing was unpacked") from err
    return dest


def _check_archive(tar: tarfile.TarFile, label: str) -> tuple[str, list[tuple[tarfile.TarInfo, str]]]:
    """The top folder and the (member, relpath) of every file to extract, all checked against the manifest;
    anything unsafe or unexpected is a ``PackageError`` naming the entry."""
    top: str | None = None
    files: dict[str, tarfile.TarInfo] = {}
    for member in tar.getmembers():
        where = f"{label}: {member.name}"
        if member.name.startswith("/"):
            raise PackageError("an absolute path", where)
        parts = [part for part in member.name.split("/") if part not in ("", ".")]
        if ".." in parts:
            raise PackageError("a '..' in the path", where)
        if member.issym():
            raise PackageError(f"a symbolic link (to {member.linkname}): packages hold plain files only", where)
        if member.islnk():
            raise PackageError(f"a hard link (to {member.linkname}): packages hold plain files only", where)
        if member.ischr() or member.isblk() or member.isfifo():
            raise PackageError("a device or fifo: packages hold plain files only", where)
        if not (member.isreg() or member.isdir()) or not parts:
            raise PackageError("not a regular file or folder", where)
        top = top or parts[0]
        if parts[0] != top:
            raise PackageError(f"outside the single top folder {top}/", where)
        rel = "/".join(parts[1:])
        if member.isdir():
            continue
        if not rel:
            raise PackageError("a file where the top folder should be", where)
        if rel in files:
            raise PackageError("in the archive twice", where)
        files[rel] = member
    if top is None:
        raise PackageError("an empty archive", label)
    if MANIFEST not in files:
        raise PackageError(f"no {top}/{MANIFEST}: not an alptk package archive", label)
    entry = files.pop(MANIFEST)
    where = f"{label}: {entry.name}"
    if entry.size > MAX_MANIFEST:
        raise PackageError(f"{entry.size} bytes: too large for a manifest", where)
    with tar.extractfile(entry) as f:
        text = f.read().decode("utf-8", errors="replace")
    listed = _parse_manifest(text, where, label)["files"]
    for rel, member in files.items():
        where = f"{label}: {member.name}"
        if rel not in listed:
            raise PackageError("not in the manifest", where)
        if member.size != listed[rel]["size"]:
            raise PackageError(f"{member.size} bytes, the manifest says {listed[rel]['size']}", where)
    missing = sorted(set(listed) - set(files))
    if missing:
        raise PackageError("missing: the manifest lists it", f"{label}: {top}/{missing[0]}")
    return top, [(entry, MANIFEST), *((member, rel) for rel, member in files.items())]


def _one_line(err: object) -> str:
    """The message of ``err`` (an exception) with its lines joined."""
    return " ".join(line.strip() for line in str(err).splitlines() if line.strip())


def _tmp_dir(dest: Path) -> Path:
    """A new, empty directory beside ``dest`` to fill before it is renamed to ``dest``."""
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        tmp.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
    except OSError as err:
        raise storage_error(err, tmp) from err
    return tmp


# the cache and fetching


def cache_dir() -> Path:
    """Where fetched packages are kept: ``$ALPTK_CACHE``, else ``~/.cache/alptk``."""
    return Path(os.environ.get("ALPTK_CACHE") or "~/.cache/alptk").expanduser()


def cached_packages() -> list[Path]:
    """The package directories in the cache, sorted by name."""
    packages = cache_dir() / "packages"
    if not packages.is_dir():
        return []
    return sorted(
        (p for p in packages.iterdir() if not p.name.startswith(".") and p.is_dir() and (p / MANIFEST).is_file()),
        key=lambda p: p.name,
    )


def recipe_packages() -> list[Path]:
    """The packages the recipes of this checkout packed (``egs/<corpus>/<recipe>/zoo/<name>``), sorted."""
    checkout = Path(__file__).resolve().parents[2] / "egs"
    return sorted(p.parent for p in checkout.glob(f"*/*/zoo/*/{MANIFEST}"))


def fetch(source: str, sha256: str | None = None) -> Path:
    """A verified package directory from ``source``: a package directory (used in place), a ``.tar.gz`` archive, an
    http(s) URL of one (``#sha256=<hex>`` may end it), ``hf:owner/name[@revision]``, or the name of a package in the
    cache or packed by a recipe of this checkout. Archives and downloads are unpacked into the cache and reused from
    there; ``sha256`` is the archive's expected hash."""
    source = str(source)
    if sha256 is not None:
        sha256 = _expected_sha(sha256, source)
    if urlsplit(source).scheme.lower() in ("http", "https"):
        return _fetch_url(source, sha256)
    if source.startswith("hf:"):
        if sha256:
            raise PackageError("a sha256 checks an archive: pin a hub package by its @revision instead", source)
        return _fetch_hf(source[3:])
    path = Path(source).expanduser()
    if path.is_dir():
        if sha256:
            raise PackageError("a sha256 checks an archive, not a package directory", source)
        verify_package(path)
        return path
    if path.is_file():
        digest = file_digest(path)
        if sha256 and digest != sha256:
            raise PackageError(f"sha256 {digest} differs from the expected {sha256}", source)
        return _install(path, digest, str(path))
    cached = _cached(source) if source and "/" not in source else None
    if cached is None:
        cached = next((p for p in recipe_packages() if p.name == source), None)
    if cached is None:
        names = ", ".join(p.name for p in [*cached_packages(), *recipe_packages()]) or "none"
        raise PackageError(
            f"no such package directory, archive, URL (http(s)://), hub repo (hf:) or package name (known: {names})",
            source,
        )
    if sha256:
        raise PackageError("a sha256 checks an archive: fetch the archive or its URL", source)
    verify_package(cached)
    return cached


def _expected_sha(value: str, source: str) -> str:
    value = value.strip().lower()
    if not SHA256.fullmatch(value):
        raise PackageError(f"sha256 {value!r}: expected 64 hex digits", source)
    return value


def _cached(name: str) -> Path | None:
    """The cached package called ``name``, with or without its ``-<hash>`` suffix."""
    packages = cached_packages()
    exact = [p for p in packages if p.name == name]
    if exact:
        return exact[0]
    matches = [p for p in packages if re.fullmatch(re.escape(name) + r"-[0-9a-f]{12}", p.name)]
    if len(matches) > 1:
        names = ", ".join(p.name for p in matches)
        raise PackageError(f"{len(matches)} cached packages have this name ({names}): give the full name", name)
    return matches[0] if matches else None


def _install(archive: Path, digest: str, label: str) -> Path:
    """The cached package of the archive with sha256 ``digest``: reused if it verifies, else unpacked."""
    packages = cache_dir() / "packages"
    with _lock(f"archive-{digest[:16]}"):
        cached = _cached_archive(digest)
        if cached is not None:
            return cached
        return _unpack(archive, packages, lambda top: f"{top}-{digest[:12]}", label)


def _cached_archive(digest: str) -> Path | None:
    """The verified cached package unpacked from the archive with sha256 ``digest``; a damaged one is removed."""
    packages = cache_dir() / "packages"
    for path in sorted(packages.glob(f"*-{digest[:12]}")) if packages.is_dir() else []:
        if path.name.startswith(".") or not path.is_dir():
            continue
        try:
            verify_package(path)
            return path
        except PackageError as err:
            log(f"{err}: removing the damaged cached package {path}")
            remove(path)
    return None


@contextmanager
def _lock(key: str) -> Iterator[None]:
    """Hold an exclusive lock on ``key`` in the cache, so that processes fetching one source take turns."""
    if fcntl is None:
        yield
        return
    path = cache_dir() / "locks" / f"{key}.lock"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        f = open(path, "a")  # noqa: SIM115 (held until the block ends)
    except OSError as err:
        raise storage_error(err, path) from err
    with f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


# http(s)


class _Retry(Exception):
    """A failure worth another try: the connection ended early, or the server was briefly unavailable."""


def _fetch_url(url: str, expected: str | None) -> Path:
    base, _, fragment = url.partition("#")
    if fragment:
        if not fragment.startswith("sha256="):
            raise PackageError(f"unknown URL fragment #{fragment}: the only one is #sha256=<hex>", url)
        pinned = _expected_sha(fragment[len("sha256=") :], url)
        if expected and expected != pinned:
            raise PackageError(f"the sha256 given ({expected}) differs from the URL's ({pinned})", url)
        expected = pinned
    key = hashlib.sha256(base.encode()).hexdigest()
    downloads = cache_dir() / "downloads"
    part, record = downloads / f"{key}.part", downloads / f"{key}.json"
    with _lock(f"url-{key[:16]}"):
        digest = expected or _read_record(record)  # what this URL gave before, if not pinned
        cached = _cached_archive(digest) if digest else None
        if cached is not None:
            return cached
        download_to(base, part)
        digest = file_digest(part)
        if expected and digest != expected:
            part.unlink(missing_ok=True)
            raise PackageError(f"sha256 {digest} differs from the expected {expected}; the download was deleted", base)
        try:
            package = _install(part, digest, base)
        except PackageError:
            part.unlink(missing_ok=True)
            raise
        write_text(record, json.dumps({"url": base, "sha256": digest}) + "\n")
        part.unlink(missing_ok=True)
        return package


def _read_record(record: Path) -> str | None:
    """The sha256 of the archive an earlier fetch of a URL got, if any."""
    try:
        digest = json.loads(record.read_text(encoding="utf-8")).get("sha256")
    except (OSError, ValueError, AttributeError):
        return None
    return digest if isinstance(digest, str) and SHA256.fullmatch(digest) else None


def _timeout() -> float:
    value = os.environ.get("ALPTK_DOWNLOAD_TIMEOUT")
    if not value:
        return DOWNLOAD_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0
    if not seconds > 0:
        raise ConfigError(f"ALPTK_DOWNLOAD_TIMEOUT={value}: expected a number of seconds")
    return seconds


def download_to(url: str, part: Path) -> None:
    """Download ``url`` into ``part``, continuing what is there: a cut connection, a timeout or a transient HTTP
    error is retried with a Range request, up to ``RETRIES`` times in a row without new bytes."""
    timeout = _timeout()
    try:
        part.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise storage_error(err, part.parent) from err
    name = unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]) or url
    start, failures, best = time.perf_counter(), 0, part.stat().st_size if part.exists() else 0
    with _download_bar(name) as show:
        while True:
            have = part.stat().st_size if part.exists() else 0
            try:
                if _download_from(url, part, have, timeout, show):
                    break
                reason = "the server could not continue the partial download"
            except (OSError, http.client.HTTPException, _Retry) as err:
                reason = _one_line(getattr(err, "reason", None) or err) or type(err).__name__
            size = part.stat().st_size if part.exists() else 0
            failures = 0 if size > best else failures + 1
            best = max(best, size)
            if failures > RETRIES:
                raise PackageError(f"download failed {RETRIES + 1} times in a row ({reason}); rerun to resume", url)
            time.sleep(min(2.0 ** (failures - 2), 8.0) if failures > 1 else 0)
    size = part.stat().st_size
    log(f"downloaded {url}: {size / 1e6:.1f} MB in {time.perf_counter() - start:.1f} s")


def _download_from(url: str, part: Path, have: int, timeout: float, show: Callable[[int, int | None], None]) -> bool:
    """One request for ``url`` from byte ``have`` on, appended to ``part``; True once the file is whole, False to
    start again from 0. A cut connection or a transient HTTP error raises ``_Retry`` or the network's error."""
    headers = {"User-Agent": f"alptk/{__version__}", "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as err:
        err.close()
        if err.code == 416 and have:  # nothing after byte `have`: whole already, or the file changed
            if _content_range(err.headers.get("Content-Range", ""))[1] == have:
                return True
            part.unlink(missing_ok=True)
            return False
        if err.code in TRANSIENT:
            raise _Retry(f"HTTP {err.code} {err.reason}") from None
        raise PackageError(f"HTTP {err.code} {err.reason}", url) from None
    with response:
        length = response.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        if have and response.status == 206:
            first, total = _content_range(response.headers.get("Content-Range", ""))
            if first != have:
                part.unlink(missing_ok=True)
                return False
            total = total if total is not None else (have + length if length is not None else None)
        else:  # the whole file: a first request, or a server that ignores Range
            if have:
                log(f"{url}: the server ignored the Range request: downloading from the start")
            have, total = 0, length
        show(have, total)
        try:
            out = open(part, "ab" if have else "wb")  # noqa: SIM115 (written chunk by chunk below)
        except OSError as err:
            raise storage_error(err, part) from err
        with out:
            while chunk := response.read1(CHUNK):  # what has come: a stall keeps what came before it
                try:
                    out.write(chunk)
                except OSError as err:
                    raise storage_error(err, part, "the partial download was kept: rerun to resume") from err
                have += len(chunk)
                show(have, total)
    if total is not None and have < total:
        raise _Retry(f"the connection ended after {have} of {total} bytes")
    if total is not None and have > total:
        part.unlink(missing_ok=True)
        return False
    return True


def _content_range(value: str) -> tuple[int | None, int | None]:
    """The first byte and the total size in a ``Content-Range`` header (``bytes 100-199/200``, ``bytes */200``)."""
    match = re.fullmatch(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*", value or "")
    if not match:
        return None, None
    first, total = match.groups()
    return (int(first) if first else None), (int(total) if total != "*" else None)


@contextmanager
def _download_bar(name: str) -> Iterator[Callable[[int, int | None], None]]:
    """A transient byte-count bar on a terminal; yields ``show(completed, total)``."""
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    with progress:
        task = progress.add_task(name, total=None)
        yield lambda completed, total: progress.update(task, completed=completed, total=total)


# the Hugging Face Hub


def _hub() -> Any:
    """The ``huggingface_hub`` module, imported only when a hub source needs it."""
    try:
        import huggingface_hub
    except ImportError:
        raise PackageError(HUB_HINT) from None
    return huggingface_hub


def _hub_call(source: str, call: Callable[[], Any]) -> Any:
    """``call()``, its hub or network error as one line naming ``source``."""
    try:
        return call()
    except AlptkError:
        raise
    except Exception as err:
        message = _one_line(err)
        raise PackageError(f"{type(err).__name__}: {message}" if message else type(err).__name__, source) from None


def _repo_id(spec: str, source: str) -> str:
    owner, _, name = spec.partition("/")
    if not owner or not name or "/" in name or "@" in spec:
        raise PackageError("expected hf:owner/name", source)
    return spec


def _fetch_hf(spec: str) -> Path:
    """``hf:owner/name[@revision]``: the manifest's files at that commit, into the cache (reused when there)."""
    source = f"hf:{spec}"
    repo, _, revision = spec.partition("@")
    repo_id = _repo_id(repo, source)
    hub = _hub()
    if re.fullmatch(r"[0-9a-f]{40}", revision):
        commit = revision
    else:
        commit = _hub_call(source, lambda: hub.HfApi().model_info(repo_id, revision=revision or None).sha)
    target = cache_dir() / "packages" / f"{repo_id.replace('/', '--')}-{commit[:12]}"
    with _lock(f"hf-{target.name}"):
        if target.is_dir():
            try:
                verify_package(target)
                return target
            except PackageError as err:
                log(f"{err}: downloading the package again")
                remove(target)
        tmp = _tmp_dir(target)
        try:
            kwargs = {"repo_id": repo_id, "revision": commit, "local_dir": str(tmp)}
            _hub_call(source, lambda: hub.hf_hub_download(filename=MANIFEST, **kwargs))
            listed = _read_manifest(tmp, source)["files"]  # a newer format stops here, before the weights
            patterns = [glob.escape(rel) for rel in [MANIFEST, *listed]]
            _hub_call(source, lambda: hub.snapshot_download(allow_patterns=patterns, **kwargs))
            remove(tmp / ".cache" / "huggingface")  # huggingface_hub's bookkeeping of a local_dir download
            if (tmp / ".cache").is_dir() and not any((tmp / ".cache").iterdir()):
                (tmp / ".cache").rmdir()
            _verify(tmp, lambda rel: f"{source}: {rel}", source)
            os.rename(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return target


def push(package: Path, target: str) -> str:
    """Upload a verified package to ``hf:owner/name`` (created if needed); returns the repository's URL."""
    package = Path(package)
    if not target.startswith("hf:"):
        raise PackageError("unknown target: the only one is hf:owner/name (the Hugging Face Hub)", target)
    repo_id = _repo_id(target[3:], target)
    hub = _hub()
    verify_package(package)
    api = hub.HfApi()
    url = _hub_call(target, lambda: api.create_repo(repo_id, exist_ok=True))
    _hub_call(
        target,
        lambda: api.upload_folder(
            repo_id=repo_id, folder_path=str(package), commit_message=f"alptk package {package.resolve().name}"
        ),
    )
    return str(url)
