"""Template stage 2: a copy of a data directory with its audio resampled, downmixed, cut and speed-perturbed."""

from __future__ import annotations

from pathlib import Path

from alptk.data.audio import (
    AUDIO_FORMATS,
    iter_utterance_audio,
    order_by_recording,
    resample,
    speed_perturb,
    write_audio,
)
from alptk.data.kaldi_dir import TEXT_TABLE, KaldiDir, table_names
from alptk.data.table import id_path
from alptk.errors import DataError
from alptk.files import promote, staging
from alptk.parallel import run_jobs, split_evenly

COPIED_TABLES = ("utt2spk", "text")  # and text.<lang>; durations and paths are recomputed


def perturbed_id(key: str, factor: float) -> str:
    """Kaldi's naming of speed-perturbed utterances and speakers (``sp0.9-<id>``)."""
    return key if factor == 1.0 else f"sp{factor:g}-{key}"


def format_dir(
    src: str | Path,
    dst: str | Path,
    fs: int = 16000,
    audio_format: str = "wav",
    speed_factors: tuple[float, ...] = (1.0,),
    nj: int = 1,
    allow_pipes: bool = False,
) -> KaldiDir:
    """Write ``dst``: one mono ``fs`` Hz file per utterance (and per speed factor) with its tables.

    Each job writes into a directory beside its final one; only when every job has succeeded are the old tables
    removed and the directories moved into place, and the tables written last. A run that fails or is interrupted
    leaves the previous output intact, or no tables: never tables naming audio of another run.
    """
    src, dst = Path(src), Path(dst)
    if audio_format not in AUDIO_FORMATS:
        raise DataError(f"unsupported audio format '{audio_format}' (choose from {', '.join(AUDIO_FORMATS)})")
    if not speed_factors or any(f <= 0 for f in speed_factors):
        raise DataError(f"speed factors must be positive, got {speed_factors}")
    source = KaldiDir.load(src, allow_pipes)
    if "wav.scp" not in source.tables:
        raise DataError("no wav.scp: nothing to format", src)
    utts = order_by_recording(source)
    chunks = split_evenly(utts, nj)
    audio_dirs = [dst / "data" / f"format.{index}" for index in range(1, len(chunks) + 1)]
    with staging(audio_dirs) as staged:
        jobs = [
            (source.subset(chunk), chunk, src, audio_dir, new, fs, audio_format, speed_factors, allow_pipes)
            for chunk, audio_dir, new in zip(chunks, audio_dirs, staged, strict=True)
        ]
        results = run_jobs(_format_job, jobs, len(utts), f"format {src}", dst / "data")
    for name in table_names(dst):  # dst exists: the jobs wrote under it
        (dst / name).unlink()
    promote(staged, audio_dirs)
    written = [item for job in results for item in job]
    tables: dict[str, dict[str, str]] = {"wav.scp": {}, "utt2num_samples": {}, "utt2dur": {}}
    for utt, factor, path, num_samples in written:
        key = perturbed_id(utt, factor)
        tables["wav.scp"][key] = path
        tables["utt2num_samples"][key] = str(num_samples)
        tables["utt2dur"][key] = f"{num_samples / fs:.4f}"
        for name, table in source.tables.items():
            if name in COPIED_TABLES or TEXT_TABLE.match(name):
                value = table[utt]
                tables.setdefault(name, {})[key] = perturbed_id(value, factor) if name == "utt2spk" else value
    result = KaldiDir(tables)
    result.save(dst)
    return result


def _format_job(
    kaldi_dir: KaldiDir,
    utts: list[str],
    src: Path,
    audio_dir: Path,
    staged: Path,
    fs: int,
    audio_format: str,
    speed_factors: tuple[float, ...],
    allow_pipes: bool,
    advance,
) -> list[tuple[str, float, str, int]]:
    """Write one job's audio into ``staged``, to be moved to ``audio_dir``; returns (utt, factor, final path,
    samples) of each file."""
    staged.mkdir(parents=True, exist_ok=True)
    written = []
    for utt, samples, rate in iter_utterance_audio(kaldi_dir, utts, src, allow_pipes):
        samples = resample(samples, rate, fs)
        for factor in speed_factors:
            perturbed = samples if factor == 1.0 else speed_perturb(samples, fs, factor)
            path = id_path(staged, perturbed_id(utt, factor), f".{audio_format}")
            write_audio(path, perturbed, fs)
            written.append((utt, factor, str(audio_dir / path.name), len(perturbed)))
        advance()
    return written
