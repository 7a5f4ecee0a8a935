"""User audio in: recordings named on the command line or in a Kaldi ``wav.scp``, in any format soundfile reads, at
any rate and channel count, made into what a model hears (mono float32 at its features' rate, Kaldi fbank computed a
batch at a time); long recordings cut into overlapping windows whose hypotheses are merged where each window is
surest (its centre). Pipes are never run here: a user's wav.scp names files."""

from __future__ import annotations

import itertools
import math
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
import torch

from alptk.data.audio import read_audio, resample, to_mono, unreadable_audio
from alptk.data.fbank import FbankExtractor, kaldi_scale
from alptk.data.sources import parse_value, pipe_problem
from alptk.data.table import read_table
from alptk.errors import ConfigError, DataError
from alptk.inference.decode import batches

SILENCE_PEAK = 1e-4  # a recording whose samples all stay below this (in [-1, 1]) is silence
WINDOW_SECONDS, OVERLAP_SECONDS = 30.0, 5.0


@dataclass
class AudioInput:
    """One recording to run a model on: its id, where it is (a path or ``wav.scp`` value, or samples given in
    memory with their rate) and the ``wav.scp`` line naming it, for messages."""

    utt: str
    path: str = ""  # a file or a wav.scp value (an ark entry); "" for samples in memory
    samples: np.ndarray | None = None  # in memory: (frames,) or (frames, channels), float in [-1, 1] or int16
    rate: int | None = None  # of ``samples``
    scp: Path | None = None
    line: int | None = None

    def error(self, reason: str) -> DataError:
        """A one-line error naming the recording: ``wav.scp:line: utt: path: reason``, or ``path: reason``."""
        if self.scp is not None:
            return DataError(f"{self.path}: {reason}", self.scp, self.line, self.utt)
        return DataError(reason, self.path) if self.path else DataError(reason, utt=self.utt)


@dataclass
class Windowing:
    """What to do with a long recording: cut it into overlapping windows (asr), or refuse it (``split`` False:
    translation and embeddings hear a recording whole) naming the command that refuses it."""

    seconds: float = WINDOW_SECONDS
    overlap: float = OVERLAP_SECONDS
    split: bool = True
    command: str = "transcribe"

    def __post_init__(self) -> None:
        if not self.seconds > 0:
            raise ConfigError(f"the window must be longer than 0 s, got {self.seconds}")
        if self.split and not 0 <= self.overlap < self.seconds:
            raise ConfigError(f"the window overlap must be >= 0 and shorter than the window ({self.seconds:g} s)")


@dataclass
class Piece:
    """A stretch of a recording that the model hears at once: all of it, or one window of a long one."""

    source: int  # the recording's index among the inputs
    start: int  # samples at the model's rate
    end: int
    frames: int  # fbank frames
    keep: tuple[float, float] = (0.0, math.inf)  # the samples whose tokens this piece's hypothesis gives


# reading


def _read(value: str) -> tuple[np.ndarray, int]:
    """(frames, channels) float32 samples and the rate of a file or an ark entry; a ``DataError`` with the reason
    only."""
    _check_source(value)
    if not os.path.isfile(value):
        return read_audio(value)  # an ark entry (file.ark:offset)
    if os.path.getsize(value) == 0:
        raise DataError("empty file: no audio")
    try:
        samples, rate = soundfile.read(value, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as err:
        raise DataError(unreadable_audio(err)) from None
    if not len(samples):
        raise DataError("empty audio: no samples")
    return samples, rate


def _probe(value: str) -> tuple[int, int]:
    """(rate, frames) of a file from its header (an ark entry is read)."""
    _check_source(value)
    if not os.path.isfile(value):
        samples, rate = read_audio(value)
        return rate, len(samples)
    if os.path.getsize(value) == 0:
        raise DataError("empty file: no audio")
    try:
        info = soundfile.info(value)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as err:
        raise DataError(unreadable_audio(err)) from None
    if info.frames <= 0:
        raise DataError("empty audio: no samples")
    return info.samplerate, info.frames


def _check_source(value: str) -> None:
    if pipe_problem(value):
        raise DataError("a Kaldi pipe (it would run a shell command): write the audio to a file and name that")
    if os.path.isdir(value):
        raise DataError("a directory, not an audio file")
    if not os.path.isfile(value) and parse_value(value).offset is None:
        raise DataError("no such file")


def to_model_rate(samples: np.ndarray, rate: int, model_rate: int) -> np.ndarray:
    """Mono float32 at ``model_rate`` from samples shaped (frames,) or (frames, channels) (channels first is taken
    for (channels <= 8, frames)), float in [-1, 1] or int16."""
    samples = np.asarray(samples)
    if samples.dtype == np.int16:
        samples = samples.astype(np.float32) / 32768
    elif not np.issubdtype(samples.dtype, np.floating):
        raise DataError(f"samples of type {samples.dtype}: expected float audio in [-1, 1] or int16")
    if samples.ndim == 1:
        samples = samples[:, None]
    elif samples.ndim == 2 and samples.shape[0] <= 8 < samples.shape[1]:
        samples = samples.T
    elif samples.ndim != 2:
        raise DataError(f"samples shaped {samples.shape}: expected (frames,) or (frames, channels)")
    mono = to_mono(np.ascontiguousarray(samples, dtype=np.float32))
    return np.asarray(resample(mono, rate, model_rate), dtype=np.float32)


def resampled_length(frames: int, rate: int, model_rate: int) -> int:
    """How many samples :func:`alptk.data.audio.resample` makes of ``frames`` (computed as torchaudio does)."""
    if rate == model_rate:
        return frames
    gcd = math.gcd(rate, model_rate)
    return int(torch.ceil(torch.as_tensor((model_rate // gcd) * frames / (rate // gcd))))


def check_level(samples: np.ndarray, verb: str = "transcribe") -> None:
    """Refuse silence: every sample below :data:`SILENCE_PEAK`."""
    if not len(samples) or float(np.abs(samples).max()) < SILENCE_PEAK:
        raise DataError(f"silent: nothing to {verb}")


def load_audio(source: str | Path, rate: int, verb: str = "transcribe") -> np.ndarray:
    """Mono float32 samples of an audio file (or a ``wav.scp`` ark entry) at ``rate``: any format soundfile reads,
    any rate and channel count. An unreadable, empty or silent recording is a ``DataError`` naming it."""
    audio = AudioInput(Path(source).stem, str(source))
    return _load(audio, rate, verb)


def _load(audio: AudioInput, rate: int, verb: str) -> np.ndarray:
    try:
        if audio.samples is not None:
            samples = to_model_rate(audio.samples, audio.rate or rate, rate)
            if not len(samples):
                raise DataError("empty audio: no samples")
        else:
            recording, recording_rate = _read(audio.path)
            samples = to_model_rate(recording, recording_rate, rate)
        check_level(samples, verb)
    except DataError as err:
        raise audio.error(err.reason) from None
    return samples


# inputs


def audio_inputs(paths: Sequence[str | Path] = (), scp: str | Path | None = None) -> list[AudioInput]:
    """The recordings of ``paths`` (named by their file stems, with as many of their directories as tell equal stems
    apart) then of a Kaldi ``wav.scp`` (``utt path`` lines, named by their keys)."""
    paths = [str(p) for p in paths]
    inputs = [AudioInput(utt, path) for utt, path in zip(utterance_ids(paths), paths, strict=True)]
    if scp is not None:
        scp, seen = Path(scp), {}
        for entry in read_table(scp):
            if entry.key in seen:
                raise DataError(f"utterance listed twice (first on line {seen[entry.key]})", scp, entry.line, entry.key)
            if not entry.value:
                raise DataError("no audio file after the utterance id", scp, entry.line, entry.key)
            seen[entry.key] = entry.line
            inputs.append(AudioInput(entry.key, entry.value, scp=scp, line=entry.line))
    return inputs


def utterance_ids(paths: Sequence[str | Path]) -> list[str]:
    """Ids for audio files: their stems (whitespace made ``_``), extended by parent directories where stems repeat
    (``a/x``, ``b/x``); a file named twice gets ``#2``."""
    keys = [Path(os.path.abspath(p)).with_suffix("").parts[1:] or (str(p),) for p in paths]
    ids: list[str] = [""] * len(keys)
    pending, depth = list(range(len(keys))), 1
    while pending:
        counts = Counter(key[-depth:] for key in set(keys))  # a file named twice is one file here
        left = []
        for i in pending:
            if counts[keys[i][-depth:]] == 1 or depth >= len(keys[i]):
                ids[i] = "/".join(keys[i][-depth:])
            else:
                left.append(i)
        pending, depth = left, depth + 1
    seen: Counter[str] = Counter()
    unique = []
    for utt in ("_".join(i.split()) for i in ids):
        seen[utt] += 1
        unique.append(utt if seen[utt] == 1 else f"{utt}#{seen[utt]}")
    return unique


def plan(
    inputs: Sequence[AudioInput], extractor: FbankExtractor, shortest: int, windowing: Windowing, verb: str
) -> tuple[list[Piece], dict[int, DataError], list[float]]:
    """The pieces the inputs are heard in (windows of a long recording when ``windowing.split``), the inputs refused
    already (unreadable, empty, too short, too long), and each input's duration in seconds; from file headers (a
    recording to cut is read to find its pauses), the audio is read a batch at a time (:class:`PieceDataset`)."""
    rate = extractor.config.sample_rate
    window = round(windowing.seconds * rate)
    overlap = round(windowing.overlap * rate)
    if windowing.split and extractor.num_frames(window) < 4 * shortest:
        raise ConfigError(f"windows of {windowing.seconds:g} s are too short for the model: make them longer")
    pieces, failures, seconds = [], {}, []
    for index, audio in enumerate(inputs):
        try:
            if audio.samples is not None:
                audio.samples, audio.rate = _load(audio, rate, verb), rate  # in memory: checked whole now
                total = len(audio.samples)
            else:
                try:
                    recording_rate, frames = _probe(audio.path)
                except DataError as err:
                    raise audio.error(err.reason) from None
                total = resampled_length(frames, recording_rate, rate)
            seconds.append(total / rate)
            if extractor.num_frames(total) < shortest:
                reason = f"{total / rate:.2f} s is too short: the model needs at least {shortest} frames"
                raise audio.error(f"{reason} ({extractor.num_frames(total)} here)")
            if total > window and not windowing.split:
                raise audio.error(
                    f"{total / rate:.1f} s long; alptk {windowing.command} takes at most {windowing.seconds:g} s per "
                    "recording: cut it first"
                )
        except DataError as err:
            failures[index] = err
            if len(seconds) == index:
                seconds.append(0.0)
            continue
        if total <= window or not windowing.split:
            pieces.append(Piece(index, 0, total, extractor.num_frames(total)))
            continue
        try:
            samples = _load(audio, rate, verb)
        except DataError as err:
            failures[index] = err
            continue
        cuts = [0, *pause_cuts(samples, rate, window, overlap), len(samples)]
        for low, high in itertools.pairwise(cuts):
            start, end = max(0, low - overlap // 2), min(len(samples), high + overlap // 2)
            keep = (float(low), float(high) if high < len(samples) else math.inf)
            pieces.append(Piece(index, start, end, extractor.num_frames(end - start), keep))
    return pieces, failures, seconds


# windows


def pause_cuts(samples: np.ndarray, rate: int, window: int, overlap: int) -> list[int]:
    """Where to cut a recording longer than ``window`` samples: each cut at the quietest 100 ms (the lowest mean
    frame energy) of the second half of the stretch a window can reach, so that cuts fall in pauses where there
    are any. A window runs from half an ``overlap`` before one cut to half an overlap after the next."""
    hop, length = rate // 100, rate * 25 // 1000
    if len(samples) < length:
        return []
    frames = np.lib.stride_tricks.sliding_window_view(samples, length)[::hop]
    energy = np.convolve(np.log((frames.astype(np.float64) ** 2).mean(axis=1) + 1e-10), np.ones(10) / 10, "same")
    cuts, position, reach = [], 0, window - overlap
    while len(samples) - position > window - overlap // 2:
        last = min((position + reach) // hop, len(energy) - 1)
        first = min((position + reach // 2) // hop, last)
        position = (first + int(np.argmin(energy[first : last + 1]))) * hop + length // 2
        cuts.append(position)
    return cuts


def merge_windows(
    windows: Sequence[tuple[Sequence[int], Sequence[float]]], spans: Sequence[tuple[float, float]]
) -> list[int]:
    """One token sequence from the windows' (tokens, position of each token) in recording order: each window's
    tokens whose position falls in its span (its piece's ``keep``: between the cuts it spans)."""
    merged: list[int] = []
    for (tokens, positions), (low, high) in zip(windows, spans, strict=True):
        merged += [t for t, p in zip(tokens, positions, strict=True) if low <= p < high]
    return merged


def token_frames(frame_tokens: torch.Tensor, count: int, frames: int, aligned: bool) -> list[float]:
    """The encoder frame (its centre) of each of ``count`` tokens: where a CTC forced alignment (``frame_tokens``,
    the token index each frame emits, -1 for blank) first emits it; spread evenly where the alignment failed."""
    if not aligned or not count:
        return [(k + 0.5) * frames / count for k in range(count)]
    first = [math.nan] * count
    for frame, token in enumerate(frame_tokens[:frames].tolist()):
        if token >= 0 and math.isnan(first[token]):
            first[token] = frame + 0.5
    return [f if not math.isnan(f) else (k + 0.5) * frames / count for k, f in enumerate(first)]


class PieceDataset(torch.utils.data.Dataset):
    """A ``SpeechDataset`` look-alike over pieces of user recordings, for the search of
    :func:`alptk.inference.decode.transcribe`: features are computed a batch at a time (the batches
    :func:`alptk.inference.decode.batches` makes of the pieces, which the search goes through), as stage 3 computes
    them (``FbankExtractor`` on Kaldi-scale samples); each recording is read once per batch. A recording that fails
    when read (silence; changed on disk) is recorded in ``failures`` and heard as zeros."""

    def __init__(
        self,
        inputs: Sequence[AudioInput],
        pieces: list[Piece],
        extractor: FbankExtractor,
        batch_frames: int,
        verb: str = "transcribe",
    ):
        self.inputs, self.pieces, self.extractor, self.verb = inputs, pieces, extractor, verb
        self.utts = [str(i) for i in range(len(pieces))]
        self.lengths = [p.frames for p in pieces]
        self.plan = {i: batch for batch in batches(self.lengths, batch_frames) for i in batch} if pieces else {}
        self.failures: dict[int, DataError] = {}
        self._features: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.pieces)

    def __getitem__(self, index: int) -> tuple[str, torch.Tensor, None]:
        if index not in self._features:
            self.load(self.plan.get(index, [index]))
        return self.utts[index], self._features[index], None

    def load(self, indices: Sequence[int]) -> None:
        """Compute the features of ``indices`` (replacing those held)."""
        rate = self.extractor.config.sample_rate
        recordings: dict[int, np.ndarray | None] = {}
        for source in dict.fromkeys(self.pieces[i].source for i in indices):
            try:
                recordings[source] = _load(self.inputs[source], rate, self.verb)
            except DataError as err:
                self.failures[source], recordings[source] = err, None
        waves = []
        for i in indices:
            piece, samples = self.pieces[i], recordings[self.pieces[i].source]
            heard = samples[piece.start : piece.end] if samples is not None else np.zeros(0, np.float32)
            if self.extractor.num_frames(len(heard)) == 0:  # shorter on disk than its header said, or failed
                heard = np.zeros(piece.end - piece.start, np.float32)
            waves.append(kaldi_scale(heard))
        self._features = dict(zip(indices, self.extractor(waves), strict=True))
