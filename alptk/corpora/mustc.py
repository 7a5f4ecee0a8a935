"""MuST-C v1 (ict.fbk.eu/must-c, CC BY-NC-ND 4.0): English TED talks, each split's talks cut into the segments its
YAML file lists, with their transcripts and translations; ids, speakers and text as ESPnet's must_c recipes make them.

Layout, as the archive MUSTC_v1.0_en-<lang>.tar.gz unpacks: ``en-<lang>/data/<split>/wav/ted_<talk>.wav`` (16 kHz
whole talks) and ``en-<lang>/data/<split>/txt/<split>.{yaml,en,<lang>}``: a YAML list with one entry per segment
(``{duration, offset, rW, uW, speaker_id, wav}``) and one line of text per segment, in the same order.
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml

from alptk.corpora.common import check_audio, corpus_path, save_sets, with_durations
from alptk.data.kaldi_dir import DURATION_TOLERANCE, KaldiDir
from alptk.errors import DataError
from alptk.progress import log

SPLITS = ("train", "dev", "tst-COMMON", "tst-HE")
RATE = 16000
MIN_SECONDS = 0.2  # shorter segments are widened to this about their middle, as ESPnet's data_prep.sh does
WAV_NAME = re.compile(r"^ted_(\d+)\.wav$")
# the C parser when PyYAML has it; the base loader types nothing (numbers are parsed here), the fastest measured
YAML_LOADER = getattr(yaml, "CBaseLoader", yaml.BaseLoader)

# The rules of Moses' normalize-punctuation.perl (which ESPnet runs first) that still matter once punctuation is
# removed: they decide where words split ("(Laughter)", em dashes) and which quotes become apostrophes.
PUNCTUATION_RULES = (
    (re.compile(r"\("), " ("),
    (re.compile(r"\)"), ") "),
    (re.compile("[`´]"), "'"),
    (re.compile("''"), ' " '),
    (re.compile("—"), " - "),
    (re.compile(r"([a-z])[‘’]([a-z])", re.IGNORECASE), r"\1'\2"),
    (re.compile("[‘‚]"), "'"),
)


@dataclass(frozen=True)
class Segment:
    """One entry of a split's YAML file: a stretch of a talk, in seconds."""

    wav: str
    talk: str  # recording and speaker id: ted_<talk number, 5 digits>
    offset: float
    duration: float
    line: int  # where the entry is in the YAML file


def prepare_mustc(corpus_dir: str | Path, data_dir: str | Path, lang: str = "de") -> dict[str, int]:
    """Write ``data_dir/<split>`` for train, dev, tst-COMMON and tst-HE of the en-``lang`` pair: ``segments`` into
    the talks of ``wav.scp``, ``text`` (English, lower-cased without punctuation) and ``text.<lang>`` (as
    distributed)."""
    root = corpus_path(Path(corpus_dir), f"en-{lang}/data", f"MuST-C's en-{lang}/data (MUSTC_v1.0_en-{lang}.tar.gz)")
    return save_sets(Path(data_dir), {split: prepare_split(root / split, split, lang) for split in SPLITS})


def prepare_split(split_dir: Path, split: str, lang: str) -> KaldiDir:
    """One split's Kaldi directory; every inconsistency of the corpus is a ``DataError`` naming its file and line."""
    yaml_file = corpus_path(split_dir, f"txt/{split}.yaml", f"the YAML list of {split}'s segments")
    segments = read_segments(yaml_file)
    english_file = corpus_path(split_dir, f"txt/{split}.en", f"the English text of {split}'s segments")
    target_file = corpus_path(split_dir, f"txt/{split}.{lang}", f"the translations of {split}'s segments")
    english, target = read_lines(english_file), read_lines(target_file)
    check_one_line_each(segments, yaml_file, english, english_file)
    check_one_line_each(segments, yaml_file, target, target_file)
    talks = talk_files(segments, yaml_file, split_dir / "wav")
    talk_seconds = check_audio(talks, RATE, f"MuST-C {split}")
    tables: dict[str, dict[str, str]] = {name: {} for name in ("segments", "text", f"text.{lang}", "utt2spk")}
    durations, copies = {}, Counter()
    for segment, source, translation in zip(segments, english, target, strict=True):
        utt, start, end = segment_bounds(segment, talk_seconds[segment.talk], yaml_file)
        copies[utt] += 1
        tables["segments"][utt] = f"{segment.talk} {start:.3f} {end:.3f}"
        tables["text"][utt] = lowercase_without_punctuation(source)
        tables[f"text.{lang}"][utt] = " ".join(translation.split())
        tables["utt2spk"][utt] = segment.talk
        durations[utt] = end - start
    duplicates = sorted(utt for utt, count in copies.items() if count > 1)
    if duplicates:  # ESPnet's data_prep.sh drops every copy of a segment listed more than once
        log(f"{yaml_file}: dropped {len(duplicates)} segments listed more than once (every copy), e.g. {duplicates[0]}")
        for table in tables.values():
            for utt in duplicates:
                del table[utt]
    used = set(tables["utt2spk"].values())
    tables["wav.scp"] = {talk: str(path.resolve()) for talk, path in talks.items() if talk in used}
    return with_durations(tables, durations)


def read_segments(path: Path) -> list[Segment]:
    """The entries of a split's YAML list, each with its line number."""
    try:
        with open(path, "rb") as f:
            root = yaml.compose(f, Loader=YAML_LOADER)
    except yaml.MarkedYAMLError as err:
        line = err.problem_mark.line + 1 if err.problem_mark else None
        raise DataError(f"not valid YAML: {err.problem}", path, line) from None
    except yaml.YAMLError as err:
        raise DataError(f"not valid YAML: {err}", path) from None
    if not isinstance(root, yaml.SequenceNode):
        raise DataError("expected a YAML list of segments ({duration, offset, speaker_id, wav} each)", path)
    return [segment_of(node, path) for node in root.value]


def segment_of(node: yaml.Node, path: Path) -> Segment:
    line = node.start_mark.line + 1
    pairs = node.value if isinstance(node, yaml.MappingNode) else []
    fields = {key.value: value.value for key, value in pairs if isinstance(key, yaml.ScalarNode)}
    missing = [key for key in ("duration", "offset", "wav") if not isinstance(fields.get(key), str)]
    if missing:
        raise DataError(f"segment without '{missing[0]}' (expected {{duration, offset, wav, ...}})", path, line)
    match = WAV_NAME.match(fields["wav"])
    if match is None:
        raise DataError(f"wav '{fields['wav']}' is not named ted_<talk number>.wav", path, line)
    try:
        offset, duration = float(fields["offset"]), float(fields["duration"])
    except ValueError:
        raise DataError(
            f"offset '{fields['offset']}', duration '{fields['duration']}': not numbers", path, line
        ) from None
    if not (math.isfinite(offset) and math.isfinite(duration)) or offset < 0 or duration <= 0:
        raise DataError(f"offset {offset} s, duration {duration} s: not a stretch of the talk", path, line)
    return Segment(fields["wav"], f"ted_{int(match[1]):05d}", offset, duration, line)


def read_lines(path: Path) -> list[str]:
    """The lines of a text file (split at newlines only: the text may hold other Unicode line separators)."""
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except UnicodeDecodeError as err:
        raise DataError(f"not valid UTF-8 (byte {err.start + 1})", path) from None
    return lines[:-1] if lines[-1] == "" else lines


def check_one_line_each(segments: list[Segment], yaml_file: Path, lines: list[str], text_file: Path) -> None:
    if len(lines) > len(segments):
        reason = f"line {len(segments) + 1} has no segment: {yaml_file.name} lists {len(segments)}"
        raise DataError(reason, text_file, len(segments) + 1)
    if len(lines) < len(segments):
        reason = f"segment {len(lines) + 1} has no line in {text_file.name}, which has {len(lines)}"
        raise DataError(reason, yaml_file, segments[len(lines)].line)


def talk_files(segments: list[Segment], yaml_file: Path, wav_dir: Path) -> dict[str, Path]:
    """Recording id -> wav file of every talk the segments cut, which must exist."""
    talks = {}
    for segment in segments:
        if segment.talk not in talks:
            path = wav_dir / segment.wav
            if not path.is_file():
                raise DataError(f"the segment's talk {segment.wav} is not in {wav_dir}", yaml_file, segment.line)
            talks[segment.talk] = path
    return talks


def segment_bounds(segment: Segment, talk_seconds: float, yaml_file: Path) -> tuple[str, float, float]:
    """ESPnet's utterance id ``ted_<talk>_<start>_<end>`` (milliseconds, 7 digits) and the start and end it names:
    a segment under 0.2 s is widened to 0.2 s about its middle (kept within the talk)."""
    end = segment.offset + segment.duration
    if end > talk_seconds + DURATION_TOLERANCE:
        reason = f"ends at {end:.3f} s, after the end of its talk {segment.wav} ({talk_seconds:.3f} s)"
        raise DataError(reason, yaml_file, segment.line)
    widen = max(MIN_SECONDS - segment.duration, 0.0) / 2
    start_ms = max(round_half_up(1000 * (segment.offset - widen)), 0)
    end_ms = min(round_half_up(1000 * (end + widen)), math.floor(1000 * talk_seconds))
    return f"{segment.talk}_{start_ms:07d}_{end_ms:07d}", start_ms / 1000, end_ms / 1000


def round_half_up(value: float) -> int:
    """awk's ``int(x + 0.5)`` for the non-negative times ESPnet rounds (Python's ``round`` rounds half to even)."""
    return math.floor(value + 0.5)


def lowercase_without_punctuation(text: str) -> str:
    """ESPnet's "lc.rm" English: Moses' punctuation normalization, lower case, then every punctuation mark but the
    apostrophe removed (utils/remove_punctuation.pl: Perl's [[:punct:]], Unicode punctuation and the ASCII
    symbols) and whitespace collapsed. ESPnet's Moses tokenization after it is not done ("don't", not "don &apos;t")."""
    for pattern, replacement in PUNCTUATION_RULES:
        text = pattern.sub(replacement, text)
    kept = (c for c in text.lower() if c == "'" or not (c in string.punctuation or unicodedata.category(c)[0] == "P"))
    return " ".join("".join(kept).split())
