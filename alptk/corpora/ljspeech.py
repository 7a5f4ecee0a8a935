"""LJSpeech 1.1: one speaker (LJ) reading 13,100 clips at 22.05 kHz; the text is metadata.csv's normalized field."""

from __future__ import annotations

import re
from pathlib import Path

from alptk.corpora.common import check_audio, corpus_path, save_sets, with_durations
from alptk.errors import DataError

RATE = 22050
SPEAKER = "LJ"
UTTERANCE_ID = re.compile(r"^LJ\d{3}-\d{4}$")
FIELDS = 3  # id | raw text | normalized text (numbers, abbreviations and symbols spelled out)


def prepare_ljspeech(
    corpus_dir: str | Path, data_dir: str | Path, dev_size: int = 250, test_size: int = 250
) -> dict[str, int]:
    """Write ``data_dir/{train,dev,test}`` from the ``LJSpeech-1.1`` directory (``metadata.csv``, ``wavs/``).

    As ESPnet's egs2/ljspeech/tts1: the last ``dev_size + test_size`` utterances in id order are held out, the first
    ``dev_size`` of them for dev and the rest for test (ESPnet's dev and eval1); train is everything before them."""
    corpus_dir, data_dir = Path(corpus_dir), Path(data_dir)
    metadata = corpus_path(corpus_dir, "metadata.csv", "LJSpeech's metadata.csv (id|text|normalized text)")
    wavs = corpus_path(corpus_dir, "wavs", "LJSpeech's wavs/ folder")
    texts = read_metadata(metadata, wavs)
    unlisted = sorted(path for path in wavs.glob("*.wav") if path.stem not in texts)
    if unlisted:
        raise DataError(f"a recording not listed in {metadata}", unlisted[0])
    utts = sorted(texts)
    if dev_size < 1 or test_size < 1 or dev_size + test_size >= len(utts):
        raise DataError(
            f"{len(utts)} utterances: cannot hold out {dev_size} for dev and {test_size} for test and keep some for "
            "training (both sizes must be at least 1)",
            metadata,
        )
    files = {utt: wavs / f"{utt}.wav" for utt in utts}
    durations = check_audio(files, RATE, "LJSpeech")
    train_count = len(utts) - dev_size - test_size
    splits = {"train": utts[:train_count], "dev": utts[train_count : train_count + dev_size], "test": utts[-test_size:]}
    sets = {}
    for name, members in splits.items():
        tables = {
            "wav.scp": {utt: str(files[utt].resolve()) for utt in members},
            "text": {utt: texts[utt] for utt in members},
            "utt2spk": dict.fromkeys(members, SPEAKER),
        }
        sets[name] = with_durations(tables, durations)
    return save_sets(data_dir, sets)


def read_metadata(metadata: Path, wavs: Path) -> dict[str, str]:
    """Each utterance's normalized text (whitespace collapsed), after checking that every line has the three
    fields, a well-formed id seen once, a text, and a recording in ``wavs``."""
    texts: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for number, line in enumerate(metadata.read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split("|")
        if len(fields) != FIELDS:
            raise DataError(
                f"expected {FIELDS} fields separated by '|' (id|text|normalized text), found {len(fields)}",
                metadata,
                number,
            )
        utt, text = fields[0], " ".join(fields[2].split())
        if not UTTERANCE_ID.match(utt):
            raise DataError(f"unexpected id '{utt}' (expected {SPEAKER}NNN-NNNN, e.g. LJ001-0001)", metadata, number)
        if utt in texts:
            raise DataError(f"listed twice (first on line {first_line[utt]})", metadata, number, utt)
        if not text:
            raise DataError("empty normalized text (the third field)", metadata, number, utt)
        if not (wavs / f"{utt}.wav").is_file():
            raise DataError(f"no recording: {wavs / f'{utt}.wav'} is missing", metadata, number, utt)
        texts[utt], first_line[utt] = text, number
    if not texts:
        raise DataError("no utterances listed", metadata)
    return texts
