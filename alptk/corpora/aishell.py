"""AISHELL-1: Mandarin read speech at 16 kHz; the folders of ``wav/{train,dev,test}`` are the official speakers of each
set, and one transcript file, in words separated by spaces, covers them all."""

from __future__ import annotations

import re
from pathlib import Path

from alptk.corpora.common import check_audio, corpus_path, save_sets, with_durations
from alptk.data.table import read_table, write_table
from alptk.errors import DataError
from alptk.progress import log

RATE = 16000
SETS = ("train", "dev", "test")
TRANSCRIPT = "transcript/aishell_transcript_v0.8.txt"
UTT_ID = re.compile(r"^([A-Z]{3}\d{3}(S\d{4}))W\d{4}$")  # BAC009S0002W0122: speaker BAC009S0002, folder S0002
UNTRANSCRIBED, NO_AUDIO = "untranscribed.txt", "no_audio.txt"  # under data_dir/local: what skip_unpaired left out


def prepare_aishell(corpus_dir: str | Path, data_dir: str | Path, skip_unpaired: bool = False) -> dict[str, int]:
    """Write ``data_dir/{train,dev,test}`` with the transcripts' word spaces removed (character units, as ESPnet).

    ``corpus_dir`` is ``data_aishell`` (or the folder holding it), its per-speaker archives extracted. Audio without
    a transcript line, and transcript lines without audio, are errors; with ``skip_unpaired`` they are left out,
    counted in the log and listed in ``data_dir/local/{untranscribed,no_audio}.txt``.
    """
    corpus_dir, data_dir = Path(corpus_dir), Path(data_dir)
    if (corpus_dir / "data_aishell").is_dir():
        corpus_dir = corpus_dir / "data_aishell"
    transcript_file = corpus_path(corpus_dir, TRANSCRIPT, "AISHELL-1's transcript file")
    transcripts = read_transcripts(transcript_file)
    audio = find_audio(corpus_path(corpus_dir, "wav", "AISHELL-1's wav folder"))
    untranscribed = {u: path for files in audio.values() for u, path in files.items() if u not in transcripts}
    heard = {utt for files in audio.values() for utt in files}
    no_audio = {utt: text for utt, (_, text) in transcripts.items() if utt not in heard}
    if untranscribed and not skip_unpaired:
        utt = min(untranscribed)
        raise DataError(f"no transcript in {transcript_file}", untranscribed[utt], utt=utt)
    if no_audio and not skip_unpaired:
        utt = min(no_audio, key=lambda u: transcripts[u][0])
        raise DataError(
            f"no audio file {utt}.wav under {corpus_dir / 'wav'}", transcript_file, transcripts[utt][0], utt
        )
    sets = {}
    for name, files in audio.items():
        files = {utt: path for utt, path in files.items() if utt in transcripts}
        durations = check_audio(files, RATE, f"AISHELL-1 {name}")
        tables = {
            "wav.scp": {utt: str(path) for utt, path in files.items()},
            "text": {utt: transcripts[utt][1] for utt in files},
            "utt2spk": {utt: UTT_ID.match(utt)[1] for utt in files},
        }
        sets[name] = with_durations(tables, durations)
    local = data_dir / "local"
    local.mkdir(parents=True, exist_ok=True)
    _report_skipped(untranscribed, "audio files without a transcript line", local / UNTRANSCRIBED)
    _report_skipped(no_audio, "transcript lines without an audio file", local / NO_AUDIO)
    return save_sets(data_dir, sets)


def read_transcripts(path: Path) -> dict[str, tuple[int, str]]:
    """Each utterance's (line number, text without the spaces between its words)."""
    transcripts: dict[str, tuple[int, str]] = {}
    for entry in read_table(path):
        if entry.key in transcripts:
            raise DataError(f"duplicate id (first on line {transcripts[entry.key][0]})", path, entry.line, entry.key)
        if not entry.value:
            raise DataError("no text after the utterance id", path, entry.line, entry.key)
        transcripts[entry.key] = (entry.line, "".join(entry.value.split()))
    return transcripts


def find_audio(wav_dir: Path) -> dict[str, dict[str, Path]]:
    """The audio file of each utterance, per set: ``wav/<set>/<speaker>/<utt>.wav``, the speaker in the file name."""
    archives = sorted(wav_dir.glob("*.tar.gz"))
    if archives:
        raise DataError(
            f"holds {len(archives)} per-speaker archives ({archives[0].name}, ...) to extract first "
            "(local/download.sh extracts them)",
            wav_dir,
        )
    audio: dict[str, dict[str, Path]] = {}
    seen: dict[str, Path] = {}
    for name in SETS:
        set_dir = corpus_path(wav_dir, name, f"the folders of the {name} speakers")
        files = audio[name] = {}
        for path in sorted(set_dir.glob("*/*.wav")):
            utt, speaker = path.stem, path.parent.name
            match = UTT_ID.match(utt)
            if match is None or match[2] != speaker:
                raise DataError(f"unexpected file name (expected one like BAC009{speaker}W0122.wav)", path)
            if utt in seen:
                raise DataError(f"the same utterance as {seen[utt]}", path, utt=utt)
            seen[utt] = files[utt] = path.resolve()
        if not files:
            raise DataError("no <speaker>/<utterance>.wav files", set_dir)
    return audio


def _report_skipped(skipped: dict[str, str | Path], what: str, listing: Path) -> None:
    """List what was left out in ``listing`` (empty when nothing was) and say in the log how much and where."""
    write_table(listing, ((utt, str(value)) for utt, value in skipped.items()))
    if skipped:
        first = min(skipped)
        log(f"AISHELL-1: left out {len(skipped)} {what}, e.g. {first} ({skipped[first]}); all are listed in {listing}")
