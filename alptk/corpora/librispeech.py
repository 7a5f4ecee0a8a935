"""LibriSpeech (openslr.org/12, CC BY 4.0): 16 kHz read English audiobooks in the layout the archives unpack to,
and the normalized LibriSpeech language-model text (openslr.org/11), as Kaldi directories.

Ids are Kaldi's and ESPnet's: utterance ``<speaker>-<chapter>-<utterance>``, speaker ``<speaker>-<chapter>``.
Transcripts are kept as distributed (upper case, apostrophes, no punctuation), as ESPnet and Kaldi keep them.
"""

from __future__ import annotations

import gzip
import math
import re
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

from alptk.corpora.common import check_audio, corpus_path, save_sets, with_durations
from alptk.data.table import read_table
from alptk.errors import AlptkError, DataError
from alptk.files import atomic_open
from alptk.progress import log

TRAIN_960 = ("train-clean-100", "train-clean-360", "train-other-500")  # together: train_960, speech only
DEV = ("dev-clean", "dev-other")  # together: dev, the validation set (as in ESPnet's librispeech recipes)
SUBSETS = (*TRAIN_960, *DEV, "test-clean", "test-other")
RATE = 16000
LM_TEXT_ID_DIGITS = 9  # lm_text ids are lm-<line number>, zero-padded: line order is byte order

Tables = dict[str, dict[str, str]]


def prepare_librispeech(
    corpus_dir: str | Path,
    data_dir: str | Path,
    subsets: Iterable[str] = SUBSETS,
    lm_text: str | Path | None = None,
    lm_text_fraction: float = 1.0,
) -> dict[str, int]:
    """Write ``data_dir/<subset>`` (dashes become underscores) for each of ``subsets``; ``train_960`` (speech only:
    no text, for pre-training) when the three training subsets are among them, ``dev`` (dev_clean + dev_other) when
    both dev subsets are; ``lm_text`` (a ``text`` table only) from the gzipped LM text, ``lm_text_fraction`` of its
    lines. Returns the number of utterances (or sentences) per set."""
    subsets = list(subsets)
    unknown = sorted(set(subsets) - set(SUBSETS))
    if unknown:
        raise AlptkError(f"unknown LibriSpeech subset '{unknown[0]}' (choose from {', '.join(SUBSETS)})")
    if not 0 < lm_text_fraction <= 1:
        raise AlptkError(f"the LM text fraction must be in (0, 1], got {lm_text_fraction}")
    corpus_dir, data_dir = Path(corpus_dir), Path(data_dir)
    root = corpus_dir / "LibriSpeech" if (corpus_dir / "LibriSpeech").is_dir() else corpus_dir
    sets: dict[str, Tables] = {}
    durations: dict[str, float] = {}
    for subset in subsets:
        subset_dir = corpus_path(root, subset, f"the {subset} subset (<speaker>/<chapter>/ directories)")
        tables, files = read_subset(subset_dir.resolve())
        durations.update(check_audio(files, RATE, "LibriSpeech"))
        sets[set_name(subset)] = tables
    if set(TRAIN_960) <= set(subsets):
        sets["train_960"] = merge([sets[set_name(s)] for s in TRAIN_960], ("wav.scp", "utt2spk"))
    if set(DEV) <= set(subsets):
        sets["dev"] = merge([sets[set_name(s)] for s in DEV], ("wav.scp", "text", "utt2spk"))
    counts = save_sets(data_dir, {name: with_durations(tables, durations) for name, tables in sets.items()})
    if lm_text is not None:
        counts["lm_text"] = write_lm_text(Path(lm_text), data_dir / "lm_text", lm_text_fraction)
    return counts


def set_name(subset: str) -> str:
    """The data directory of a subset: ``train-clean-100`` -> ``train_clean_100``."""
    return subset.replace("-", "_")


def merge(parts: list[Tables], names: tuple[str, ...]) -> Tables:
    """The tables ``names`` of several sets, together (their utterance ids never overlap)."""
    return {name: {utt: value for tables in parts for utt, value in tables[name].items()} for name in names}


def read_subset(subset_dir: Path) -> tuple[Tables, dict[str, Path]]:
    """``wav.scp``, ``text`` and ``utt2spk`` of one subset, and each utterance's audio file, after matching every
    chapter's transcript lines with its .flac files one to one."""
    tables: Tables = {"wav.scp": {}, "text": {}, "utt2spk": {}}
    files: dict[str, Path] = {}
    chapters = sorted(path for path in subset_dir.glob("*/*") if path.is_dir())
    if not chapters:
        raise DataError("no <speaker>/<chapter>/ directories (is this a LibriSpeech subset?)", subset_dir)
    for chapter_dir in chapters:
        speaker = f"{chapter_dir.parent.name}-{chapter_dir.name}"
        transcript = chapter_dir / f"{speaker}.trans.txt"
        if not transcript.is_file():
            raise DataError("not found: every chapter directory holds its <speaker>-<chapter>.trans.txt", transcript)
        audio = {path.stem: path for path in chapter_dir.glob("*.flac")}
        utt_pattern = re.compile(rf"{re.escape(speaker)}-\d+")
        for entry in read_table(transcript):
            utt = entry.key
            if not utt_pattern.fullmatch(utt) or not entry.value:
                raise DataError(f"expected '{speaker}-<number> <TRANSCRIPT>'", transcript, entry.line)
            if utt in files:
                raise DataError("a second transcript line for this utterance", transcript, entry.line, utt)
            if utt not in audio:
                raise DataError(f"no audio file {utt}.flac for this transcript line", transcript, entry.line, utt)
            files[utt] = audio[utt]
            tables["wav.scp"][utt] = str(audio[utt])
            tables["text"][utt] = entry.value
            tables["utt2spk"][utt] = speaker
        untranscribed = sorted(set(audio) - set(files))
        if untranscribed:
            utt = untranscribed[0]
            raise DataError(f"no transcript line for this file in {transcript.name}", audio[utt], utt=utt)
    return tables, files


def write_lm_text(source: Path, out_dir: Path, fraction: float = 1.0) -> int:
    """Stream the gzipped LM text into ``out_dir/text`` in bounded memory, one ``lm-<line number> <sentence>`` per
    kept line (ids in line order are in byte order: nothing is sorted). ``fraction`` keeps evenly spaced lines, the
    last of every 1/fraction (0.25: lines 4, 8, 12, ...), floor(lines * fraction) of them. The number kept."""
    if not source.is_file():
        raise DataError("not found: expected the LM text librispeech-lm-norm.txt.gz (openslr.org/11)", source)
    kept = empty = total = 0
    with atomic_open(out_dir / "text") as out:
        for total, line in _gzip_lines(source):
            if math.floor(total * fraction) == math.floor((total - 1) * fraction):
                continue
            try:
                sentence = line.decode("utf-8").strip()
            except UnicodeDecodeError as err:
                raise DataError(f"not valid UTF-8 (byte {err.start + 1})", source, total) from None
            if not sentence:
                empty += 1
                continue
            if total >= 10**LM_TEXT_ID_DIGITS:
                raise DataError(f"more than {10**LM_TEXT_ID_DIGITS - 1} lines: not the LibriSpeech LM text?", source)
            out.write(f"lm-{total:0{LM_TEXT_ID_DIGITS}d} {sentence}\n")
            kept += 1
    left_out = f" ({empty} empty lines left out)" if empty else ""
    log(f"{source}: {kept} of {total} lines kept (fraction {fraction}){left_out}")
    return kept


def _gzip_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number, line) of a gzipped text file, read as a stream; a damaged file is a ``DataError``."""
    number = 0
    try:
        with gzip.open(path, "rb") as lines:
            for number, line in enumerate(lines, 1):
                yield number, line
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"not a complete gzip file ({err}); download it again", path, number + 1) from None
