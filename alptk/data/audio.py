"""Audio of ``wav.scp`` entries: reading (any soundfile format, Kaldi pipes, wav arks; the value is opened by
``alptk.data.sources``), writing, resampling."""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile

from alptk.data.sources import data_of, parse_value, read_object
from alptk.errors import DataError
from alptk.files import atomic_open

if TYPE_CHECKING:
    import torchaudio

    from alptk.data.kaldi_dir import KaldiDir

AUDIO_FORMATS = {"wav": "WAV", "flac": "FLAC", "ogg": "OGG"}


def read_audio(value: str, allow_pipes: bool = False) -> tuple[np.ndarray, int]:
    """Read a ``wav.scp`` value: float32 samples shaped (frames, channels) in [-1, 1], and the rate.

    Raises ``DataError`` without a location; callers add the file, line and utterance.
    """
    if parse_value(value).offset is not None:  # audio stored in an ark
        stored = read_object(value, allow_pipes)
        if not isinstance(stored, tuple):
            raise DataError(f"'{value}' holds a matrix, not audio")
        rate, samples = stored
        samples = np.asarray(samples)
        samples = samples.astype(np.float32) / 32768 if samples.dtype == np.int16 else samples.astype(np.float32)
        samples = samples.reshape(len(samples), -1)
    else:
        try:
            samples, rate = soundfile.read(audio_source(value, allow_pipes), dtype="float32", always_2d=True)
        except (soundfile.LibsndfileError, RuntimeError, TypeError) as err:
            raise _not_audio(value, err) from None
    if samples.shape[0] == 0:
        raise DataError(f"empty audio '{value}'")
    return samples, rate


def audio_info(value: str, allow_pipes: bool = False) -> tuple[int, int]:
    """(rate, frames) of a ``wav.scp`` value; files are probed without decoding them."""
    source = parse_value(value)
    if source.pipe or source.offset is not None:
        samples, rate = read_audio(value, allow_pipes)
        return rate, samples.shape[0]
    try:
        info = soundfile.info(audio_source(value, allow_pipes))
    except (soundfile.LibsndfileError, RuntimeError) as err:
        raise _not_audio(value, err) from None
    if info.frames == 0:
        raise DataError(f"empty audio '{value}'")
    if info.format == "WAV" and not source.pipe:
        _check_wav_length(source.path, value)
    return info.samplerate, info.frames


def _check_wav_length(path: str, value: str) -> None:
    """A WAV file cut short: libsndfile reads what is there as shorter audio, so compare the data chunk's declared
    size with the bytes the file holds (a streaming writer's placeholder size, 0 or 0xFFFFFFFF, is not checked)."""
    with open(path, "rb") as f:
        f.seek(12)  # RIFF <size> WAVE
        while len(header := f.read(8)) == 8:
            size = struct.unpack("<I", header[4:])[0]
            if header[:4] == b"data":
                held = os.fstat(f.fileno()).st_size - f.tell()
                if 0 < size < 0xFFFFFFFF and held < size:
                    raise DataError(f"truncated audio '{value}': {held} of the {size} bytes its header declares")
                return
            f.seek(size + size % 2, os.SEEK_CUR)


def audio_source(value: str, allow_pipes: bool) -> str | io.BytesIO:
    """What soundfile reads for a value: the file's path, or a pipe's output."""
    return data_of(value, allow_pipes)[1]


def unreadable_audio(err: Exception) -> str:
    """Why soundfile could not read a file, in one line."""
    detail = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
    return f"not an audio file soundfile can read ({detail})"


def _not_audio(value: str, err: Exception) -> DataError:
    return DataError(f"cannot read audio '{value}': {unreadable_audio(err)}")


def write_audio(path: str | Path, samples: np.ndarray, rate: int) -> None:
    """Write 16-bit audio atomically; the format follows the extension (wav, flac, ogg)."""
    path = Path(path)
    fmt = AUDIO_FORMATS.get(path.suffix.lstrip(".").lower())
    if fmt is None:
        raise DataError(f"unsupported audio format '{path.suffix}' (choose from {', '.join(AUDIO_FORMATS)})", path)
    encoded = io.BytesIO()  # encoded in memory: libsndfile reports a full disk as "System error." (or not at all)
    subtype = "VORBIS" if fmt == "OGG" else "PCM_16"
    soundfile.write(encoded, np.clip(samples, -1.0, 1.0), rate, format=fmt, subtype=subtype)
    # one file per utterance: a sync each (0.6-4 ms here, benchmarks/atomic_write.py; more on NFS) would outweigh
    # writing it; the stage's tables, written last, are synced
    with atomic_open(path, "wb", sync=False) as f:
        f.write(encoded.getvalue())


def to_mono(samples: np.ndarray) -> np.ndarray:
    """Downmix (frames, channels) to a 1-D signal by averaging the channels."""
    return samples[:, 0] if samples.shape[1] == 1 else samples.mean(axis=1, dtype=np.float32)


@lru_cache(maxsize=16)
def _resampler(orig: int, new: int) -> torchaudio.transforms.Resample:
    import torchaudio  # here, so that commands which only read tables start fast

    return torchaudio.transforms.Resample(orig, new)


def resample(samples: np.ndarray, orig: int, new: int) -> np.ndarray:
    """Band-limited (sinc) resampling of a 1-D signal with torchaudio."""
    if orig == new:
        return samples
    import torch

    with torch.inference_mode():
        return _resampler(orig, new)(torch.from_numpy(np.ascontiguousarray(samples))).numpy()


def speed_perturb(samples: np.ndarray, rate: int, factor: float) -> np.ndarray:
    """Play ``factor`` times faster (tempo and pitch, like Kaldi's sox speed perturbation)."""
    return resample(samples, round(rate * factor), rate)


def iter_utterance_audio(
    kaldi_dir: KaldiDir, utts: list[str], where: Path, allow_pipes: bool = False
) -> Iterator[tuple[str, np.ndarray, int]]:
    """Yield (utt, mono float32 samples, rate), cutting segments and reading each recording once."""
    loaded: tuple[str, np.ndarray, int] | None = None
    for utt in utts:
        rec = kaldi_dir.recording(utt)
        if loaded is None or loaded[0] != rec:
            try:
                samples, rate = read_audio(kaldi_dir.tables["wav.scp"][rec], allow_pipes)
            except DataError as err:
                raise DataError(err.reason, where / "wav.scp", utt=rec) from None
            loaded = (rec, to_mono(samples), rate)
        _, samples, rate = loaded
        if kaldi_dir.has_segments:
            _, start, end = kaldi_dir.tables["segments"][utt].split()
            first, last = round(float(start) * rate), round(float(end) * rate)
            if last > len(samples) + round(0.01 * rate):
                duration = len(samples) / rate
                raise DataError(f"ends at {end} s, after its recording ({duration:.2f} s)", where / "segments", utt=utt)
            yield utt, samples[first:last], rate
        else:
            yield utt, samples, rate


def order_by_recording(kaldi_dir: KaldiDir) -> list[str]:
    """Utterances ordered so that each recording's segments are consecutive (read once)."""
    if not kaldi_dir.has_segments:
        return kaldi_dir.utterances
    segments = kaldi_dir.tables["segments"]
    return sorted(kaldi_dir.utterances, key=lambda u: (segments[u].split()[0], float(segments[u].split()[1])))
