"""What every corpus preparation does: find a corpus's files, check its audio headers, write its Kaldi sets."""

from __future__ import annotations

from pathlib import Path

from alptk.data.audio import audio_info
from alptk.data.kaldi_dir import KaldiDir
from alptk.errors import DataError
from alptk.progress import progress_bar


def corpus_path(corpus_dir: Path, relative: str, what: str) -> Path:
    """``corpus_dir/relative``, which must exist; else a one-line error saying what was expected there."""
    path = corpus_dir / relative
    if not path.exists():
        raise DataError(f"not found: expected {what} (is the corpus directory right?)", path)
    return path


def check_audio(files: dict[str, Path], rate: int, corpus: str) -> dict[str, float]:
    """Durations in seconds of each utterance's audio file, after checking from its header (nothing is decoded)
    that it opens, holds samples and has the corpus's sample ``rate``."""
    durations = {}
    with progress_bar(f"{corpus}: checking audio headers", len(files)) as advance:
        for utt, path in files.items():
            try:
                file_rate, frames = audio_info(str(path))
            except DataError as err:
                raise DataError(err.reason, path, utt=utt) from None
            if file_rate != rate:
                raise DataError(f"sample rate {file_rate} Hz, but {corpus} is {rate} Hz", path, utt=utt)
            durations[utt] = frames / rate
            advance()
    return durations


def save_sets(data_dir: Path, sets: dict[str, KaldiDir]) -> dict[str, int]:
    """Write every set to ``data_dir/<name>``; the number of utterances in each."""
    counts = {}
    for name, kaldi_dir in sets.items():
        kaldi_dir.save(data_dir / name)
        counts[name] = len(kaldi_dir.utterances)
    return counts


def with_durations(tables: dict[str, dict[str, str]], durations: dict[str, float]) -> KaldiDir:
    """A set's tables plus ``utt2dur`` for its utterances (as stage 2 and validation read it)."""
    return KaldiDir({**tables, "utt2dur": {utt: f"{durations[utt]:.3f}" for utt in tables["utt2spk"]}})
