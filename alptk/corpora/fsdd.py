"""Free Spoken Digit Dataset: 6 speakers saying digits at 8 kHz; takes 0-4 are the official test set."""

from __future__ import annotations

import re
from pathlib import Path

from alptk.data.kaldi_dir import KaldiDir
from alptk.errors import DataError

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
FILE_NAME = re.compile(r"^(\d)_([a-z]+)_(\d+)\.wav$")
TEST_TAKES = range(0, 5)  # the dataset's official split: takes 0-4 test, 5-49 train


def prepare_fsdd(corpus_dir: str | Path, data_dir: str | Path, dev_takes: range = range(5, 10)) -> dict[str, int]:
    """Write ``data_dir/{train,dev,test}``; dev holds ``dev_takes`` out of the official training takes."""
    corpus_dir, data_dir = Path(corpus_dir), Path(data_dir)
    recordings = corpus_dir / "recordings" if (corpus_dir / "recordings").is_dir() else corpus_dir
    files = sorted(recordings.glob("*.wav"))
    if not files:
        raise DataError("no .wav recordings found (expected the repository's recordings/ folder)", recordings)
    sets: dict[str, dict[str, dict[str, str]]] = {name: {} for name in ("train", "dev", "test")}
    for path in files:
        match = FILE_NAME.match(path.name)
        if match is None:
            raise DataError("unexpected file name (expected {digit}_{speaker}_{take}.wav)", path)
        digit, speaker, take = int(match[1]), match[2], int(match[3])
        name = "test" if take in TEST_TAKES else "dev" if take in dev_takes else "train"
        utt = f"{speaker}-{digit}-{take:02d}"
        tables = sets[name]
        tables.setdefault("wav.scp", {})[utt] = str(path.resolve())
        tables.setdefault("text", {})[utt] = DIGIT_WORDS[digit]
        tables.setdefault("utt2spk", {})[utt] = speaker
    counts = {}
    for name, tables in sets.items():
        KaldiDir(tables).save(data_dir / name)
        counts[name] = len(tables.get("utt2spk", {}))
    return counts
