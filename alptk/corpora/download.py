"""Fetching a corpus file (``alptk data download``): a resumable download into ``DIR/<name>``, its md5 checked
once, and an archive unpacked into ``DIR`` once, with nothing written outside ``DIR``."""

from __future__ import annotations

import os
import re
import tarfile
import time
import zipfile
import zlib
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from alptk.errors import ConfigError, DataError
from alptk.files import storage_error, write_text
from alptk.progress import log
from alptk.zoo.store import download_to, file_digest

TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2")
ARCHIVE_SUFFIXES = (*TAR_SUFFIXES, ".zip")
MD5 = re.compile(r"[0-9a-f]{32}")
PART = ".part"  # suffix of a download until it is complete and verified
BAD = ".bad"  # suffix a file whose md5 is wrong is moved to


def download(source: str, directory: str | Path, md5: str | None = None, extract: bool = False) -> Path:
    """Fetch ``source`` (an http(s):// or file:// URL, or a local path) to ``directory/<its file name>`` and
    return that path.

    The file is written as ``<name>.part`` (continued by an HTTP Range request when a connection drops or a rerun
    finds it) and renamed only once complete and, if ``md5`` is given, verified. A finished file is not fetched
    again; its verified md5 is remembered with its size and modification time, so a rerun does not re-read it.
    ``extract`` unpacks a .tar, .tar.gz, .tgz, .tar.bz2 or .zip archive into ``directory`` once."""
    directory = Path(directory)
    md5 = md5.lower() if md5 else None
    if md5 is not None and not MD5.fullmatch(md5):
        raise ConfigError(f"md5 '{md5}': expected 32 hex digits")
    url, name = _url_and_name(source)
    target = directory / name
    if extract:
        _archive_kind(target)  # an unknown archive type fails before the download
        if _extracted_marker(target).exists():
            log(f"{target}: already extracted into {directory}")
            return target
    if target.exists():
        if md5:
            _verify(target, md5, target)
        log(f"{target}: already downloaded{' (md5 verified)' if md5 else ''}")
    else:
        part = target.with_name(name + PART)
        download_to(url, part)
        if md5:
            _verify(part, md5, target)
        try:
            os.replace(part, target)
        except OSError as err:
            raise storage_error(err, target) from err
        if md5:
            _remember_md5(target, md5)
    if extract:
        extract_archive(target, directory)
    return target


def _url_and_name(source: str) -> tuple[str, str]:
    """The URL to download and the file name it is saved under; a local file must exist."""
    parts = urlsplit(source)
    if parts.scheme in ("http", "https"):
        name = unquote(parts.path.rstrip("/").rpartition("/")[2])
        if name in ("", ".", "..") or "/" in name or "\0" in name:
            raise DataError("the URL names no file (expected .../<file name>)", source)
        return source, name
    if parts.scheme == "file":
        path = Path(url2pathname(parts.path))
    elif parts.scheme and len(parts.scheme) > 1:
        raise DataError(f"unsupported URL scheme '{parts.scheme}': expected http://, https://, file:// or a path")
    else:
        path = Path(source)
    if not path.is_file():
        raise DataError("no such file", path)
    return path.resolve().as_uri(), path.name


def _md5_record(target: Path) -> Path:
    """The side file remembering ``target``'s verified md5, size and modification time."""
    return target.with_name(f".{target.name}.md5")


def _file_state(path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_size} {stat.st_mtime_ns}"


def _remember_md5(target: Path, md5: str) -> None:
    write_text(_md5_record(target), f"{md5} {_file_state(target)}\n")


def _verify(path: Path, expected: str, target: Path) -> None:
    """Check that ``path`` (``target`` or its ``.part``) has md5 ``expected``, reading it unless ``target`` is
    unchanged since it last verified with that md5; a mismatch moves it to ``<target>.bad`` and is an error."""
    record = _md5_record(target)
    if path == target and record.is_file() and record.read_text().strip() == f"{expected} {_file_state(target)}":
        return
    actual = file_digest(path, "md5")
    if actual == expected:
        if path == target:
            _remember_md5(target, expected)
        return
    bad = target.with_name(target.name + BAD)
    try:
        os.replace(path, bad)
        record.unlink(missing_ok=True)
    except OSError as err:
        raise storage_error(err, target, f"its md5 is {actual}, expected {expected}") from err
    raise DataError(
        f"md5 is {actual}, expected {expected}: a damaged download or a wrong --md5; moved to {bad}: "
        "rerun to download it again",
        target,
    )


def _archive_kind(archive: Path) -> str:
    """``tar`` or ``zip``, from the file name."""
    if archive.name.endswith(TAR_SUFFIXES):
        return "tar"
    if archive.name.endswith(".zip"):
        return "zip"
    raise DataError(f"cannot extract: not an archive alptk unpacks ({', '.join(ARCHIVE_SUFFIXES)})", archive)


def _extracted_marker(archive: Path) -> Path:
    """The file whose presence records that ``archive`` was unpacked completely."""
    return archive.with_name(f".{archive.name}.extracted")


def extract_archive(archive: Path, directory: Path) -> None:
    """Unpack ``archive`` into ``directory`` unless its marker says that was done; a member that would land
    outside ``directory`` (an absolute path, ``..``, a link out of it) is an error. An interrupted extraction
    leaves no marker: the next one writes every member again."""
    marker = _extracted_marker(archive)
    if marker.exists():
        log(f"{archive}: already extracted into {directory}")
        return
    start = time.perf_counter()
    kind = _archive_kind(archive)
    try:
        if kind == "tar":
            _extract_tar(archive, directory)
        else:
            _extract_zip(archive, directory)
    except (tarfile.ReadError, tarfile.CompressionError, zipfile.BadZipFile, EOFError, zlib.error) as err:
        raise DataError(
            f"damaged, or not a {kind} archive ({type(err).__name__}): delete it and rerun to download it again",
            archive,
        ) from None
    except OSError as err:
        raise storage_error(err, directory, "the extraction stopped: rerun to extract again") from err
    write_text(marker, f"{archive.name} extracted into {directory}\n")
    log(f"{archive}: extracted into {directory} in {time.perf_counter() - start:.1f} s")


def _extract_tar(archive: Path, directory: Path) -> None:
    if not hasattr(tarfile, "data_filter"):
        raise DataError("this Python cannot unpack tar files safely (needs >= 3.10.12): extract it by hand", archive)
    with tarfile.open(archive, "r:*") as tar:
        try:
            tar.extractall(directory, filter="data")
        except tarfile.FilterError as err:
            raise DataError(f"unsafe member refused, the extraction stopped: {err}", archive) from None


def _extract_zip(archive: Path, directory: Path) -> None:
    root = directory.resolve()
    with zipfile.ZipFile(archive) as zf:
        for name in zf.namelist():
            if not (root / name).resolve().is_relative_to(root):
                raise DataError(f"unsafe member refused, nothing extracted: '{name}' is outside {directory}", archive)
        zf.extractall(directory)
