"""Template stage 3: fbank features of a data directory to Kaldi ark/scp, ``utt2num_frames`` and global CMVN."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import kaldiio
import numpy as np
import torch
from kaldiio.compression_header import kTwoByteAuto

from alptk.data.audio import iter_utterance_audio, order_by_recording
from alptk.data.fbank import FbankConfig, FbankExtractor, kaldi_scale, save_features_spec
from alptk.data.kaldi_dir import TEXT_TABLE, KaldiDir, table_names
from alptk.data.sources import read_matrix
from alptk.errors import ConfigError, DataError
from alptk.files import atomic_open, atomic_path, promote, staging
from alptk.parallel import run_jobs, split_evenly

COPIED_TABLES = ("utt2spk", "text", "utt2dur")  # and text.<lang>
BATCH_SAMPLES = 16000 * 60  # audio given to the extractor at once
# how a matrix is stored in the ark: Kaldi's float matrix (FM), or its two-byte compressed matrix (CM2: one uint16
# per value between the matrix's min and max; half the disk, read back as float32 within about (max - min) / 131070)
STORAGE = {"float32": None, "16bit": kTwoByteAuto}


@dataclass
class FeatureStats:
    """Summary of an extraction: utterances, frames, audio seconds."""

    utterances: int
    frames: int
    seconds: float


def extract_fbank_dir(
    src: str | Path,
    dst: str | Path,
    config: FbankConfig | None = None,
    nj: int = 1,
    allow_pipes: bool = False,
    storage: str = "float32",
) -> FeatureStats:
    """Write ``dst``: ``feats.scp`` over ``data/raw_fbank.<job>.ark``, ``utt2num_frames``, ``cmvn.ark``, the options
    (``feats.yaml``), and tables. ``storage`` (a ``STORAGE`` key) is how the ark holds each matrix; the CMVN
    statistics are those of the float32 features either way.

    Each job writes its ark whole beside its final name; only when every job has succeeded are the old tables
    removed and the arks renamed into place, and ``feats.scp`` is written last. A run that fails or is interrupted
    leaves the previous output intact, or no ``feats.scp``: never one pointing into a partial or newer ark.
    """
    src, dst = Path(src), Path(dst)
    config = config or FbankConfig()
    if storage not in STORAGE:
        raise ConfigError(f"storage '{storage}': expected one of {', '.join(STORAGE)}")
    source = KaldiDir.load(src, allow_pipes)
    if "wav.scp" not in source.tables:
        raise DataError("no wav.scp: nothing to extract features from", src)
    utts = order_by_recording(source)
    chunks = split_evenly(utts, nj)
    arks = [dst / "data" / f"raw_fbank.{index}.ark" for index in range(1, len(chunks) + 1)]
    with staging(arks) as staged:
        jobs = [
            (source.subset(chunk), chunk, src, ark, new, config, allow_pipes, STORAGE[storage])
            for chunk, ark, new in zip(chunks, arks, staged, strict=True)
        ]
        results = run_jobs(_fbank_job, jobs, len(utts), f"fbank {src}", dst / "data")
    for name in [*table_names(dst), "cmvn.ark"]:
        (dst / name).unlink(missing_ok=True)
    promote(staged, arks)
    tables: dict[str, dict[str, str]] = {"feats.scp": {}, "utt2num_frames": {}}
    stats = np.zeros((2, config.num_mel_bins + 1), dtype=np.float64)
    seconds = 0.0
    for entries, job_stats, job_seconds in results:
        for utt, location, frames in entries:
            tables["feats.scp"][utt] = location
            tables["utt2num_frames"][utt] = str(frames)
        stats += job_stats
        seconds += job_seconds
    for name, table in source.tables.items():
        if name in COPIED_TABLES or TEXT_TABLE.match(name):
            tables[name] = table
    with atomic_path(dst / "cmvn.ark") as tmp:
        kaldiio.save_mat(str(tmp), stats)
    save_features_spec(dst, config)
    KaldiDir(tables).save(dst)
    return FeatureStats(len(utts), int(stats[0, -1]), seconds)


def _fbank_job(
    kaldi_dir: KaldiDir,
    utts: list[str],
    src: Path,
    ark: Path,
    staged: Path,
    config: FbankConfig,
    allow_pipes: bool,
    compression_method: int | None,
    advance,
) -> tuple[list[tuple[str, str, int]], np.ndarray, float]:
    """Extract one job's utterances into ``staged``, to be renamed to ``ark``, each matrix written with kaldiio's
    ``compression_method``; returns scp entries (into ``ark``), CMVN stats and audio seconds."""
    extractor = FbankExtractor(config)
    stats = np.zeros((2, config.num_mel_bins + 1), dtype=np.float64)
    entries: list[tuple[str, str, int]] = []
    batch: list[tuple[str, torch.Tensor]] = []
    seconds = 0.0
    with atomic_open(staged, "wb") as f:

        def flush() -> None:
            feats = extractor([wave for _, wave in batch])
            for (utt, _), mat in zip(batch, feats, strict=True):
                mat = mat.numpy()
                f.write(f"{utt} ".encode())
                entries.append((utt, f"{ark}:{f.tell()}", len(mat)))
                kaldiio.matio.write_array(f, mat, compression_method=compression_method)
                stats[0, :-1] += mat.sum(axis=0, dtype=np.float64)
                stats[1, :-1] += np.square(mat, dtype=np.float64).sum(axis=0)
                stats[0, -1] += len(mat)
            advance(len(batch))
            batch.clear()

        pending = 0
        for utt, samples, rate in iter_utterance_audio(kaldi_dir, utts, src, allow_pipes):
            if rate != config.sample_rate:
                raise DataError(
                    f"sample rate {rate} Hz, but the fbank config expects {config.sample_rate} Hz "
                    "(format the directory first: template stage 2)",
                    src / "wav.scp",
                    utt=utt,
                )
            if extractor.num_frames(len(samples)) == 0:
                raise DataError(f"shorter than one frame ({len(samples)} samples)", src / "wav.scp", utt=utt)
            batch.append((utt, kaldi_scale(samples)))
            seconds += len(samples) / rate
            pending += len(samples)
            if pending >= BATCH_SAMPLES:
                flush()
                pending = 0
        if batch:
            flush()
    return entries, stats, seconds


def read_cmvn(path: str | Path, allow_pipes: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation from Kaldi global CMVN stats (a 2 x (dim + 1) matrix)."""
    try:
        stats = read_matrix(str(path), allow_pipes)
    except DataError as err:
        raise DataError(f"CMVN statistics: {err.reason}") from None
    if stats.shape[0] != 2 or stats[0, -1] <= 0:
        raise DataError(f"CMVN statistics: '{path}' is not a 2 x (dim + 1) matrix of Kaldi statistics with frames")
    count = stats[0, -1]
    mean = stats[0, :-1] / count
    var = np.maximum(stats[1, :-1] / count - mean**2, 1e-20)
    return mean, np.sqrt(var)
