"""Audio of ``wav.scp`` entries: reading (any soundfile format, Kaldi pipes, wav arks), writing, resampling."""

from __future__ import annotations

import io
import os
import re
import subprocess
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import kaldiio
import numpy as np
import soundfile

from alptk.errors import DataError
from alptk.files import tmp_name

if TYPE_CHECKING:
    import torchaudio

    from alptk.data.kaldi_dir import KaldiDir

ARK_ENTRY = re.compile(r"^.+\.ark:\d+$")
AUDIO_FORMATS = {"wav": "WAV", "flac": "FLAC", "ogg": "OGG"}
PIPE_HINT = "pass --allow-pipes to run it"


def is_pipe(value: str) -> bool:
    """Whether a ``wav.scp`` value is a Kaldi pipe (``command |``), which runs a shell command."""
    return value.rstrip().endswith("|")


def read_audio(value: str, allow_pipes: bool = False) -> tuple[np.ndarray, int]:
    """Read a ``wav.scp`` value: float32 samples shaped (frames, channels) in [-1, 1], and the rate.

    Raises ``DataError`` without a location; callers add the file, line and utterance.
    """
    if ARK_ENTRY.match(value):
        try:
            rate, samples = kaldiio.load_mat(value)
        except (OSError, ValueError) as err:
            raise DataError(f"cannot read audio '{value}': {err}") from None
        samples = np.asarray(samples)
        samples = samples.astype(np.float32) / 32768 if samples.dtype == np.int16 else samples.astype(np.float32)
        samples = samples.reshape(len(samples), -1)
    else:
        samples, rate = soundfile_read(_audio_source(value, allow_pipes), value)
    if samples.shape[0] == 0:
        raise DataError(f"empty audio '{value}'")
    return samples, rate


def audio_info(value: str, allow_pipes: bool = False) -> tuple[int, int]:
    """(rate, frames) of a ``wav.scp`` value; files are probed without decoding them."""
    if is_pipe(value) or ARK_ENTRY.match(value):
        samples, rate = read_audio(value, allow_pipes)
        return rate, samples.shape[0]
    source = _audio_source(value, allow_pipes)
    try:
        info = soundfile.info(source)
    except (soundfile.LibsndfileError, RuntimeError) as err:
        raise DataError(f"cannot read audio '{value}': {_short(err)}") from None
    if info.frames == 0:
        raise DataError(f"empty audio '{value}'")
    return info.samplerate, info.frames


def soundfile_read(source: str | io.BytesIO, name: str) -> tuple[np.ndarray, int]:
    try:
        return soundfile.read(source, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as err:
        raise DataError(f"cannot read audio '{name}': {_short(err)}") from None


def _audio_source(value: str, allow_pipes: bool) -> str | io.BytesIO:
    if not is_pipe(value):
        if not os.path.isfile(value):
            raise DataError(f"audio file '{value}' not found")
        return value
    if not allow_pipes:
        raise DataError(f"'{value}' is a pipe, which would run a shell command; {PIPE_HINT}")
    command = value.rstrip()[:-1]
    proc = subprocess.run(command, shell=True, capture_output=True, check=False)
    if proc.returncode != 0:
        detail = proc.stderr.decode(errors="replace").strip().splitlines()
        raise DataError(
            f"command '{command.strip()}' failed (exit {proc.returncode}){': ' + detail[-1] if detail else ''}"
        )
    return io.BytesIO(proc.stdout)


def _short(err: Exception) -> str:
    return str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__


def write_audio(path: str | Path, samples: np.ndarray, rate: int) -> None:
    """Write 16-bit audio atomically; the format follows the extension (wav, flac, ogg)."""
    path = Path(path)
    fmt = AUDIO_FORMATS.get(path.suffix.lstrip(".").lower())
    if fmt is None:
        raise DataError(f"unsupported audio format '{path.suffix}' (choose from {', '.join(AUDIO_FORMATS)})", path)
    tmp = tmp_name(path)
    subtype = "VORBIS" if fmt == "OGG" else "PCM_16"
    try:
        soundfile.write(tmp, np.clip(samples, -1.0, 1.0), rate, format=fmt, subtype=subtype)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


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
