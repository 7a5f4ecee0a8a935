"""Kaldi data directories: load, save, validate, fix, subset, combine and split.

A directory holds tables keyed by utterance (``utt2spk``, ``text``, ``text.<lang>``, ``utt2dur``,
``utt2num_samples``, ``segments``, ``feats.scp``, ``utt2num_frames``), ``wav.scp`` keyed by
recording (by utterance when there is no ``segments``) and ``spk2utt``, derived from ``utt2spk``.
"""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from alptk.data.audio import audio_info
from alptk.data.sources import pipe_problem, read_matrix
from alptk.data.table import (
    Entry,
    byte_order,
    id_problem,
    ids_safe_and_sorted,
    read_columns,
    read_table,
    write_table,
)
from alptk.errors import DataError, locate
from alptk.files import backup_files
from alptk.parallel import split_evenly

UTT_TABLES = ("utt2spk", "text", "utt2dur", "utt2num_samples", "segments", "feats.scp", "utt2num_frames")
DATA_TABLES = ("wav.scp", "feats.scp")  # tables whose values name data to read: files, ark entries or pipes
TEXT_TABLE = re.compile(r"^text\.[A-Za-z0-9_-]+$")
CROSS_CHECKED = ("utt2spk", "spk2utt", "segments", "wav.scp")  # tables read again by the checks across tables
BACKUP_DIR = ".backup"
DURATION_TOLERANCE = 0.01  # seconds
Column = tuple[list[str], list[str]]  # a table's keys and their values, in byte order of the keys


def is_table(name: str) -> bool:
    """Whether a file name is one of the tables alptk reads in a data directory."""
    return name in UTT_TABLES or name in ("wav.scp", "spk2utt") or bool(TEXT_TABLE.match(name))


def utt_keyed(names: Iterable[str]) -> list[str]:
    """The tables among ``names`` keyed by utterance (``wav.scp`` too when there is no ``segments``)."""
    names = list(names)
    return [n for n in names if n in UTT_TABLES or TEXT_TABLE.match(n) or (n == "wav.scp" and "segments" not in names)]


def table_names(path: Path) -> list[str]:
    """The table files present in directory ``path``, in byte order."""
    return sorted((p.name for p in path.iterdir() if p.is_file() and is_table(p.name)), key=byte_order)


@dataclass
class KaldiDir:
    """A data directory in memory: ``tables[file][key] = value``, without ``spk2utt`` (derived on save)."""

    tables: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path, allow_pipes: bool = False) -> KaldiDir:
        """Read a directory whose tables are consistent; the first problem raises ``DataError``, a pipe first
        (without ``allow_pipes``: commands that only copy values, never reading them, allow them)."""
        return cls({name: dict(zip(*column, strict=True)) for name, column in load_columns(path, allow_pipes).items()})

    def save(self, path: str | Path) -> None:
        """Write every table (and ``spk2utt``) atomically; stale tables left in ``path`` are removed."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        for name in table_names(path):
            if name not in self.tables and name != "spk2utt":
                (path / name).unlink()
        for name, table in self.tables.items():
            write_table(path / name, table.items())
        if "utt2spk" in self.tables:
            write_table(path / "spk2utt", ((spk, " ".join(utts)) for spk, utts in self.spk2utt().items()))
        elif (path / "spk2utt").exists():
            (path / "spk2utt").unlink()

    @property
    def has_segments(self) -> bool:
        return "segments" in self.tables

    @property
    def utterances(self) -> list[str]:
        """Utterance ids in byte order."""
        for name in ("utt2spk", "text", "feats.scp", "segments", "wav.scp"):
            if name in self.tables and (name != "wav.scp" or not self.has_segments):
                return sorted(self.tables[name], key=byte_order)
        texts = [n for n in self.tables if TEXT_TABLE.match(n)]
        return sorted(self.tables[texts[0]], key=byte_order) if texts else []

    def utt_tables(self) -> list[str]:
        """Names of the tables keyed by utterance."""
        return utt_keyed(self.tables)

    def spk2utt(self) -> dict[str, list[str]]:
        result: dict[str, list[str]] = defaultdict(list)
        for utt in self.utterances:
            result[self.tables["utt2spk"][utt]].append(utt)
        return dict(result)

    def recording(self, utt: str) -> str:
        """The ``wav.scp`` key holding an utterance's audio."""
        return self.tables["segments"][utt].split()[0] if self.has_segments else utt

    def subset(self, utts: Iterable[str]) -> KaldiDir:
        """The directory restricted to ``utts`` (and the recordings they use)."""
        keep = set(utts)
        tables = {name: {k: v for k, v in t.items() if k in keep} for name, t in self.tables.items()}
        if self.has_segments and "wav.scp" in tables:
            recordings = {self.recording(u) for u in keep}
            tables["wav.scp"] = {k: v for k, v in self.tables["wav.scp"].items() if k in recordings}
        return KaldiDir(tables)


def load_columns(path: str | Path, allow_pipes: bool = False, names: Iterable[str] | None = None) -> dict[str, Column]:
    """The tables (``names`` of them, if given: the others are checked, then dropped) of a directory whose tables
    are consistent, as columns, without ``spk2utt``; the utterance-keyed tables share one list of keys. The first
    problem raises ``DataError``, as ``KaldiDir.load`` does: this is its storage without a dict per table."""
    path = Path(path)
    if not path.is_dir():
        raise DataError("not a directory", path)
    wanted = None if names is None else set(names)
    columns = _clean_columns(path, allow_pipes, wanted)
    if columns is None:  # something is wrong, or looks wrong: the thorough check says what, on which line
        problems: list[str] = []
        tables = _check_tables(path, _read_tables(path, problems), problems)
        pipes = [] if allow_pipes else _pipe_problems(path, tables)
        if pipes:
            raise DataError(pipes[0])
        if problems:
            more = f" ({len(problems) - 1} more problems)" if len(problems) > 1 else ""
            raise DataError(f"{problems[0]}{more}; `alptk data validate {path}` lists them, `alptk data fix` repairs")
        columns = {name: (list(table), [e.value for e in table.values()]) for name, table in tables.items()}
    return {name: c for name, c in columns.items() if name != "spk2utt" and (wanted is None or name in wanted)}


def _clean_columns(path: Path, allow_pipes: bool, wanted: set[str] | None) -> dict[str, Column] | None:
    """The directory's columns (those ``wanted``, and those other tables are checked against) if every table is
    clean and consistent, else None: each check on a whole column at once, no object per line."""
    names = table_names(path)
    per_utt = utt_keyed(names)
    if not any(name in ("wav.scp", "feats.scp", "text") or TEXT_TABLE.match(name) for name in names):
        return None
    if ("wav.scp" in names or "feats.scp" in names) and "utt2spk" not in names:
        return None
    columns: dict[str, Column] = {}
    utts: list[str] | None = None
    for name in names:
        column = read_columns(path / name)
        if column is None or not ids_safe_and_sorted(column[0]):
            return None
        keys, values = column
        if name in per_utt:
            if utts is None:
                utts = keys
            elif keys != utts:
                return None
            keys = utts  # one list for every utterance-keyed table
        agreeing = name == "spk2utt" and "utt2spk" in names  # checked below: it lists utt2spk's (safe) ids
        if not agreeing and any(_value_problem(name, value) for value in set(values)):
            return None
        if name in DATA_TABLES and not allow_pipes and any(pipe_problem(v) for v in values if "|" in v or "-" in v):
            return None
        if wanted is None or name in wanted or name in CROSS_CHECKED:
            columns[name] = (keys, values)
    if "segments" in columns and "wav.scp" in columns:
        recordings = set(columns["wav.scp"][0])
        if any(value.split()[0] not in recordings for value in columns["segments"][1]):
            return None
    if "utt2spk" in columns and not _spk2utt_agrees(columns["utt2spk"], columns.get("spk2utt")):
        return None
    return columns


def _spk2utt_agrees(utt2spk: Column, spk2utt: Column | None) -> bool:
    """Whether ``spk2utt`` lists each speaker's utterances as ``utt2spk`` gives them, in the same order."""
    expected: dict[str, list[str]] = defaultdict(list)
    for utt, spk in zip(*utt2spk, strict=True):
        expected[spk].append(utt)
    return (
        spk2utt is not None
        and len(spk2utt[0]) == len(expected)
        and all(value.split() == expected.get(spk) for spk, value in zip(*spk2utt, strict=True))
    )


# --------------------------------------------------------------------------------------------------
# validation


def validate_dir(
    path: str | Path, check_audio: bool = True, fs: int | None = None, allow_pipes: bool = False
) -> list[str]:
    """Every problem in a directory, each as ``file:line: utterance: what is wrong``."""
    path = Path(path)
    problems: list[str] = []
    tables = _check_tables(path, _read_tables(path, problems), problems)
    problems += [] if allow_pipes else _pipe_problems(path, tables)
    if check_audio and not problems:
        _check_audio(path, tables, fs, allow_pipes, problems)
        _check_features(path, tables, allow_pipes, problems)
    return problems


def _pipe_problems(path: Path, tables: dict[str, dict[str, Entry]]) -> list[str]:
    """The values of the data tables that would run a shell command (or read standard input) if read."""
    return [
        locate(problem, path / name, entry.line, key)
        for name in DATA_TABLES
        for key, entry in tables.get(name, {}).items()
        if (problem := pipe_problem(entry.value))
    ]


def _check_audio(
    path: Path, tables: dict[str, dict[str, Entry]], fs: int | None, allow_pipes: bool, problems: list[str]
) -> None:
    """Audio readable at the declared rate; segments inside their recordings; durations as declared."""
    recordings: dict[str, tuple[int, int]] = {}
    for rec, entry in tables.get("wav.scp", {}).items():
        try:
            rate, frames = audio_info(entry.value, allow_pipes)
        except DataError as err:
            problems.append(locate(err.reason, path / "wav.scp", entry.line, rec))
            continue
        if fs is not None and rate != fs:
            problems.append(locate(f"sample rate {rate} Hz, expected {fs} Hz", path / "wav.scp", entry.line, rec))
        recordings[rec] = (rate, frames)
    num_samples: dict[str, tuple[int, int]] = {}  # utt -> (samples, rate)
    for utt, entry in tables.get("segments", {}).items():
        rec, start, end = entry.value.split()
        if rec not in recordings:
            continue
        rate, frames = recordings[rec]
        if float(end) > frames / rate + DURATION_TOLERANCE:
            reason = f"ends at {end} s, after the end of recording '{rec}' ({frames / rate:.2f} s)"
            problems.append(locate(reason, path / "segments", entry.line, utt))
        num_samples[utt] = (round((float(end) - float(start)) * rate), rate)
    if "segments" not in tables:
        num_samples = {utt: (frames, rate) for utt, (rate, frames) in recordings.items()}
    for utt, entry in tables.get("utt2dur", {}).items():
        if (
            utt in num_samples
            and abs(float(entry.value) - num_samples[utt][0] / num_samples[utt][1]) > DURATION_TOLERANCE
        ):
            actual = num_samples[utt][0] / num_samples[utt][1]
            problems.append(
                locate(f"says {entry.value} s but the audio lasts {actual:.3f} s", path / "utt2dur", entry.line, utt)
            )
    tolerance = 1 if "segments" in tables else 0
    for utt, entry in tables.get("utt2num_samples", {}).items():
        if utt in num_samples and abs(int(entry.value) - num_samples[utt][0]) > tolerance:
            reason = f"says {entry.value} samples but the audio has {num_samples[utt][0]}"
            problems.append(locate(reason, path / "utt2num_samples", entry.line, utt))


def _check_features(path: Path, tables: dict[str, dict[str, Entry]], allow_pipes: bool, problems: list[str]) -> None:
    """Feature matrices readable, with as many frames as ``utt2num_frames`` says."""
    num_frames = tables.get("utt2num_frames", {})
    for utt, entry in tables.get("feats.scp", {}).items():
        try:
            frames = read_matrix(entry.value, allow_pipes).shape[0]
        except DataError as err:
            problems.append(locate(f"cannot read features: {err.reason}", path / "feats.scp", entry.line, utt))
            continue
        if utt in num_frames and int(num_frames[utt].value) != frames:
            reason = f"says {num_frames[utt].value} frames but feats.scp has {frames}"
            problems.append(locate(reason, path / "utt2num_frames", num_frames[utt].line, utt))


def _read_tables(path: Path, problems: list[str]) -> dict[str, list[Entry]]:
    if not path.is_dir():
        raise DataError("not a directory", path)
    return {name: read_table(path / name, problems) for name in table_names(path)}


def _check_tables(path: Path, raw: dict[str, list[Entry]], problems: list[str]) -> dict[str, dict[str, Entry]]:
    """Check each table's ids and values and the tables against each other; return them keyed by id."""
    if not any(n in raw for n in ("wav.scp", "feats.scp", "text")) and not any(TEXT_TABLE.match(n) for n in raw):
        raise DataError("no wav.scp, feats.scp or text: not a Kaldi data directory", path)
    tables = {name: _unique_sorted(path / name, entries, problems) for name, entries in raw.items()}
    for name, table in tables.items():
        for key, entry in table.items():
            reason = _value_problem(name, entry.value)
            if reason and entry.value:
                reason = f"{reason}: '{entry.value}'"
            reason = id_problem(key) or reason
            if reason:
                problems.append(locate(reason, path / name, entry.line, key))
    if ("wav.scp" in tables or "feats.scp" in tables) and "utt2spk" not in tables:
        problems.append(locate("missing: a directory with wav.scp or feats.scp needs utt2spk", path / "utt2spk"))
    per_utt = utt_keyed(tables)
    for utt, (name, entry) in _first_sighting(tables, per_utt).items():
        for other in per_utt:
            if utt not in tables[other]:
                problems.append(locate(f"not in {other}", path / name, entry.line, utt))
    if "segments" in tables and "wav.scp" in tables:
        for utt, entry in tables["segments"].items():
            rec = entry.value.split()[0]
            if rec not in tables["wav.scp"]:
                problems.append(locate(f"recording '{rec}' is not in wav.scp", path / "segments", entry.line, utt))
    if "utt2spk" in tables:
        _check_spk2utt(path, tables, problems)
    return tables


def _unique_sorted(file: Path, entries: list[Entry], problems: list[str]) -> dict[str, Entry]:
    table: dict[str, Entry] = {}
    unsorted: list[Entry] = []
    previous = None
    for entry in entries:
        if entry.key in table:
            problems.append(
                locate(f"duplicate id (first on line {table[entry.key].line})", file, entry.line, entry.key)
            )
            continue
        if previous is not None and byte_order(entry.key) < byte_order(previous):
            unsorted.append(entry)
        table[entry.key] = entry
        previous = entry.key
    if unsorted:
        more = f" ({len(unsorted) - 1} more lines out of order)" if len(unsorted) > 1 else ""
        first = unsorted[0]
        problems.append(locate(f"not in sorted (C-locale byte) order{more}", file, first.line, first.key))
    return table


def _first_sighting(tables: dict[str, dict[str, Entry]], names: list[str]) -> dict[str, tuple[str, Entry]]:
    seen: dict[str, tuple[str, Entry]] = {}
    for name in names:
        for key, entry in tables[name].items():
            seen.setdefault(key, (name, entry))
    return seen


def _check_spk2utt(path: Path, tables: dict[str, dict[str, Entry]], problems: list[str]) -> None:
    utt2spk = tables["utt2spk"]
    if "spk2utt" not in tables:
        problems.append(locate("missing (`alptk data fix` rebuilds it from utt2spk)", path / "spk2utt"))
        return
    listed: dict[str, str] = {}
    for spk, entry in tables["spk2utt"].items():
        for utt in entry.value.split():
            if utt2spk.get(utt) is None:
                problems.append(locate(f"lists '{utt}', which is not in utt2spk", path / "spk2utt", entry.line, spk))
            elif utt2spk[utt].value != spk:
                owner = utt2spk[utt].value
                problems.append(
                    locate(f"lists '{utt}', which utt2spk gives to '{owner}'", path / "spk2utt", entry.line, spk)
                )
            listed[utt] = spk
    for utt, entry in utt2spk.items():
        if utt not in listed and entry.value:
            problems.append(
                locate(f"speaker '{entry.value}' does not list it in spk2utt", path / "utt2spk", entry.line, utt)
            )


def _positive(kind: type) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        try:
            return None if kind(value) > 0 else _NOT_POSITIVE[kind]
        except ValueError:
            return _NOT_POSITIVE[kind]

    return check


def _segment(value: str) -> str | None:
    fields = value.split()
    try:
        ok = len(fields) == 3 and 0 <= float(fields[1]) < float(fields[2])
    except ValueError:
        ok = False
    return id_problem(fields[0]) if ok else "malformed segment (expected 'recording start end', 0 <= start < end)"


def _ids(value: str) -> str | None:
    return next(filter(None, map(id_problem, value.split())), None)


_NOT_POSITIVE = {int: "not a positive integer", float: "not a positive number"}
_VALUE_CHECKS: dict[str, Callable[[str], str | None]] = {
    "utt2spk": lambda v: _ids(v) if len(v.split()) == 1 else "speaker must be one id",
    "spk2utt": _ids,
    "text": lambda v: None if v else "empty transcript",
    "wav.scp": lambda v: None if v else "empty audio path",
    "feats.scp": lambda v: None if v else "empty feature path",
    "utt2dur": _positive(float),
    "utt2num_samples": _positive(int),
    "utt2num_frames": _positive(int),
    "segments": _segment,
}


def _value_problem(name: str, value: str) -> str | None:
    """Why a table value is invalid, or None."""
    check = _VALUE_CHECKS.get("text" if TEXT_TABLE.match(name) else name)
    return check(value) if check else None


# --------------------------------------------------------------------------------------------------
# fix, subset, combine, split


@dataclass
class FixReport:
    """What ``fix_dir`` dropped, ``dropped[file][reason] = count``, and converted: ``converted[file]`` lines
    with Windows (CRLF) endings."""

    kept: int
    dropped: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    converted: Counter = field(default_factory=Counter)

    def lines(self) -> list[str]:
        out = []
        for name in sorted(self.dropped.keys() | self.converted.keys()):
            if self.converted[name]:
                out.append(f"{name}: converted {self.converted[name]} Windows (CRLF) line endings")
            if self.dropped.get(name):
                reasons = ", ".join(f"{n} {reason}" for reason, n in self.dropped[name].most_common())
                out.append(f"{name}: dropped {sum(self.dropped[name].values())} ({reasons})")
        return [*out, f"kept {self.kept} utterances"]


def fix_dir(path: str | Path) -> FixReport:
    """Sort tables, convert CRLF line endings, drop unsafe ids and invalid lines, keep the utterances present in
    every table, rebuild spk2utt; originals go to ``.backup/``."""
    path = Path(path)
    if not path.is_dir():
        raise DataError("not a directory", path)
    names = table_names(path)
    report = FixReport(kept=0)
    tables: dict[str, dict[str, str]] = {}
    for name in names:
        problems: list[str] = []
        entries = read_table(path / name, problems)
        report.converted[name] = sum(entry.crlf for entry in entries)
        if len(problems) > report.converted[name]:
            report.dropped[name]["unreadable lines"] += len(problems) - report.converted[name]
        if name == "spk2utt":
            continue
        table: dict[str, str] = {}
        for entry in entries:
            reason = (
                "duplicate id" if entry.key in table else id_problem(entry.key) or _value_problem(name, entry.value)
            )
            if reason:
                report.dropped[name][reason] += 1
            else:
                table[entry.key] = entry.value
        tables[name] = table
    kaldi_dir = KaldiDir(tables)
    if kaldi_dir.has_segments and "wav.scp" in tables:
        orphans = [u for u, v in tables["segments"].items() if v.split()[0] not in tables["wav.scp"]]
        for utt in orphans:
            del tables["segments"][utt]
        if orphans:
            report.dropped["segments"]["recording not in wav.scp"] += len(orphans)
    per_utt = kaldi_dir.utt_tables()
    keep = set.intersection(*(set(tables[n]) for n in per_utt)) if per_utt else set()
    for name in per_utt:
        for utt in [u for u in tables[name] if u not in keep]:
            missing_from = next(n for n in per_utt if utt not in tables[n])
            report.dropped[name][f"not in {missing_from}"] += 1
            del tables[name][utt]
    if kaldi_dir.has_segments and "wav.scp" in tables:
        used = {v.split()[0] for v in tables["segments"].values()}
        unused = [r for r in tables["wav.scp"] if r not in used]
        for rec in unused:
            del tables["wav.scp"][rec]
        if unused:
            report.dropped["wav.scp"]["no segment uses it"] += len(unused)
    backup_files([path / n for n in names], path / BACKUP_DIR)
    kaldi_dir.save(path)
    report.kept = len(kaldi_dir.utterances)
    return report


def subset_dir(
    src: str | Path,
    dst: str | Path,
    first: int | None = None,
    random_n: int | None = None,
    seed: int = 0,
    utt_list: str | Path | None = None,
) -> KaldiDir:
    """Write to ``dst`` the first N, a random N, or the listed utterances of ``src``."""
    if sum(x is not None for x in (first, random_n, utt_list)) != 1:
        raise DataError("choose exactly one of --first, --random and --utt-list")
    source = KaldiDir.load(src, allow_pipes=True)  # values are copied, never read
    utts = source.utterances
    if first is not None:
        chosen = utts[:first]
    elif random_n is not None:
        chosen = random.Random(seed).sample(utts, min(random_n, len(utts)))
    else:
        known = set(utts)
        chosen = []
        for entry in read_table(utt_list):
            if entry.key not in known:
                raise DataError(f"not in {src}", utt_list, entry.line, entry.key)
            chosen.append(entry.key)
    result = source.subset(chosen)
    result.save(dst)
    return result


def combine_dirs(srcs: list[str | Path], dst: str | Path) -> KaldiDir:
    """Merge directories with the same tables and disjoint utterance ids into ``dst``."""
    dirs = [KaldiDir.load(s, allow_pipes=True) for s in srcs]  # values are copied, never read
    names = set(dirs[0].tables)
    merged: dict[str, dict[str, str]] = {name: {} for name in names}
    origin: dict[str, str] = {}
    for src, kaldi_dir in zip(srcs, dirs, strict=True):
        if set(kaldi_dir.tables) != names:
            diff = min(names ^ set(kaldi_dir.tables))
            where = src if diff not in kaldi_dir.tables else srcs[0]
            raise DataError(
                f"has no {diff} while other directories do; combined directories need the same tables", where
            )
        for utt in kaldi_dir.utterances:
            if utt in origin:
                raise DataError(f"utterance id also in {origin[utt]}", src, utt=utt)
            origin[utt] = str(src)
        for name, table in kaldi_dir.tables.items():
            for key, value in table.items():
                if merged[name].setdefault(key, value) != value:
                    raise DataError(f"{name} has a different value in an earlier directory", src, utt=key)
    result = KaldiDir(merged)
    result.save(dst)
    return result


def split_dir(src: str | Path, nj: int, per_utt: bool = False) -> list[Path]:
    """Split into ``src/split<nj>[utt]/<1..nj>``, by speaker (Kaldi's default) or by utterance."""
    src = Path(src)
    source = KaldiDir.load(src, allow_pipes=True)  # values are copied, never read
    if nj < 1:
        raise DataError(f"--nj must be at least 1, got {nj}")
    by_speaker = not per_utt and "utt2spk" in source.tables
    groups = list(source.spk2utt().values()) if by_speaker else [[u] for u in source.utterances]
    if len(groups) < nj:
        unit = "speakers (use --per-utt)" if by_speaker else "utterances"
        raise DataError(f"cannot split {len(groups)} {unit} into {nj} parts", src)
    out_dir = src / f"split{nj}{'utt' if per_utt else ''}"
    parts = _balanced_parts(groups, nj) if by_speaker else split_evenly(source.utterances, nj)
    paths = []
    for index, part in enumerate(parts, 1):
        source.subset(part).save(out_dir / str(index))
        paths.append(out_dir / str(index))
    return paths


def _balanced_parts(groups: list[list[str]], nj: int) -> list[list[str]]:
    """Contiguous runs of groups, non-empty, each near an equal share of the items (by each group's midpoint)."""
    total = sum(len(g) for g in groups)
    parts: list[list[str]] = [[] for _ in range(nj)]
    done, previous = 0, -1
    for index, group in enumerate(groups):
        part = int((done + len(group) / 2) * nj / total)
        part = max(part, nj - (len(groups) - index))  # leave a group for every later part
        part = min(part, previous + 1, nj - 1)  # and skip no part
        parts[part].extend(group)
        done, previous = done + len(group), part
    return parts
