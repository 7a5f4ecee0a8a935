"""Batched Kaldi-compatible log-mel filterbank extraction (same numbers as ``torchaudio.compliance.kaldi.fbank``)."""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import yaml
from torchaudio.compliance.kaldi import get_mel_banks

from alptk.config import from_dict, load_yaml
from alptk.errors import ConfigError
from alptk.files import write_text

WINDOW_TYPES = ("povey", "hamming", "hanning", "rectangular", "blackman")
CHUNK_FRAMES = 1024  # frames per pipeline step: amortizes per-op overhead, keeps the work buffers in cache
MEL_BINS_PER_MATMUL = 16  # the mel matrix is banded: one matmul per group of bins skips most of its zeros
EPSILON = torch.finfo(torch.float32).eps  # Kaldi's and torchaudio's floor before the log
FEATURES_FILE = "feats.yaml"  # the fbank options a features directory (and a model trained on it) was made with


def kaldi_scale(audio: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Float audio in [-1, 1] as Kaldi-scale (int16 range) float32 samples: ``audio * 32768``."""
    audio = torch.as_tensor(audio)
    if not audio.is_floating_point():
        raise ValueError(f"kaldi_scale expects float audio in [-1, 1], got {audio.dtype}")
    return audio.to(torch.float32) * 32768


@dataclass
class FbankConfig:
    """Kaldi compute-fbank-feats options (Kaldi's names in snake_case); defaults as Kaldi's except dither."""

    sample_rate: int = 16000
    num_mel_bins: int = 80
    frame_length_ms: float = 25.0
    frame_shift_ms: float = 10.0
    dither: float = 0.0  # Kaldi's default is 1.0; 0 keeps features deterministic
    preemphasis_coefficient: float = 0.97
    remove_dc_offset: bool = True
    window_type: str = "povey"  # povey, hamming, hanning, rectangular, blackman
    blackman_coeff: float = 0.42
    round_to_power_of_two: bool = True
    snip_edges: bool = True
    low_freq: float = 20.0
    high_freq: float = 0.0  # <= 0: offset from Nyquist, as in Kaldi
    use_power: bool = True
    use_log_fbank: bool = True

    def __post_init__(self) -> None:
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be > 0, got {self.sample_rate}")
        if self.window_type not in WINDOW_TYPES:
            raise ValueError(f"unknown window_type '{self.window_type}' (valid: {', '.join(WINDOW_TYPES)})")
        if self.num_mel_bins < 4:
            raise ValueError(f"num_mel_bins must be >= 4, got {self.num_mel_bins}")
        if self.frame_length_ms <= 0 or self.window_size < 2:
            raise ValueError(
                f"frame_length_ms={self.frame_length_ms} gives {self.window_size} samples per frame; need >= 2"
            )
        if self.frame_shift_ms <= 0 or self.window_shift < 1:
            raise ValueError(f"frame_shift_ms={self.frame_shift_ms} gives a shift of {self.window_shift} samples")
        if self.padded_window_size % 2:
            raise ValueError(
                f"FFT size {self.padded_window_size} is odd: set round_to_power_of_two or change frame_length_ms"
            )
        if self.dither < 0:
            raise ValueError(f"dither must be >= 0, got {self.dither}")
        if not 0.0 <= self.preemphasis_coefficient <= 1.0:
            raise ValueError(f"preemphasis_coefficient must be in [0, 1], got {self.preemphasis_coefficient}")
        nyquist = 0.5 * self.sample_rate
        high = self.high_freq + nyquist if self.high_freq <= 0 else self.high_freq
        if not (0.0 <= self.low_freq < nyquist and 0.0 < high <= nyquist and self.low_freq < high):
            raise ValueError(
                f"bad mel range: low_freq={self.low_freq}, high_freq={self.high_freq} (-> {high}) "
                f"for Nyquist {nyquist} Hz"
            )

    @property
    def window_size(self) -> int:
        """Samples per frame (computed as torchaudio does)."""
        return int(self.sample_rate * self.frame_length_ms * 0.001)

    @property
    def window_shift(self) -> int:
        """Samples between frame starts."""
        return int(self.sample_rate * self.frame_shift_ms * 0.001)

    @property
    def padded_window_size(self) -> int:
        """FFT size: the window size, rounded up to a power of two if asked."""
        if self.round_to_power_of_two:
            return 1 << (self.window_size - 1).bit_length()
        return self.window_size


def save_features_spec(directory: str | Path, config: FbankConfig) -> None:
    """Record beside ``feats.scp`` (or in an experiment or package) the options its features were computed with."""
    write_text(Path(directory) / FEATURES_FILE, yaml.safe_dump(asdict(config), sort_keys=False))


def load_features_spec(directory: str | Path) -> FbankConfig | None:
    """The fbank options recorded in ``directory``; None where none are (features from before alptk wrote them)."""
    path = Path(directory) / FEATURES_FILE
    if not path.is_file():
        return None
    try:
        return from_dict(FbankConfig, load_yaml(path), str(path))
    except ValueError as err:
        raise ConfigError(f"{path}: {err}") from None


def common_features_spec(directories: list[str | Path]) -> FbankConfig | None:
    """The one fbank spec of several features directories (those that record one); a ``ConfigError`` naming the
    first option on which two differ: a model must hear its data, and later its users' audio, in one way."""
    specs = {str(d): s for d in directories if (s := load_features_spec(d)) is not None}
    if not specs:
        return None
    (first, spec), *others = specs.items()
    for other, spec_b in others:
        options = asdict(spec_b)
        differing = [k for k, v in asdict(spec).items() if options[k] != v]
        if differing:
            key = differing[0]
            raise ConfigError(
                f"features differ: {first} has {key}={getattr(spec, key)}, {other} has {key}={getattr(spec_b, key)}"
            )
    return spec


def _window_function(config: FbankConfig) -> torch.Tensor:
    """The frame window, computed exactly as torchaudio does (float32)."""
    size = config.window_size
    if config.window_type == "hanning":
        return torch.hann_window(size, periodic=False)
    if config.window_type == "hamming":
        return torch.hamming_window(size, periodic=False, alpha=0.54, beta=0.46)
    if config.window_type == "povey":
        return torch.hann_window(size, periodic=False).pow(0.85)
    if config.window_type == "rectangular":
        return torch.ones(size)
    a = 2 * math.pi / (size - 1)
    n = torch.arange(size, dtype=torch.float32)
    coeff = config.blackman_coeff
    return coeff - 0.5 * torch.cos(a * n) + (0.5 - coeff) * torch.cos(2 * a * n)


def _reflect(positions: torch.Tensor, length: int) -> torch.Tensor:
    """Kaldi's edge reflection (..., 1, 0 | 0, 1, ..., n-1 | n-1, n-2, ...) of sample positions."""
    positions = positions.remainder(2 * length)
    return torch.where(positions >= length, 2 * length - 1 - positions, positions)


class FbankExtractor:
    """Log-mel filterbanks of many utterances at once, equal to torchaudio's Kaldi ``fbank`` within float rounding.

    All frames of a batch are laid out in one buffer (each utterance starting on a frame-shift boundary, so one
    ``unfold`` frames them all) and go through the pipeline in cache-sized chunks: DC removal, pre-emphasis and
    window in torchaudio's order of float32 operations (bit-identical FFT input), ``rfft``, power, banded mel matmul.
    """

    def __init__(self, config: FbankConfig | None = None):
        self.config = config or FbankConfig()
        cfg = self.config
        self._size, self._shift, self._fft_size = cfg.window_size, cfg.window_shift, cfg.padded_window_size
        self._window = _window_function(cfg)
        self._first_sample_weighted = bool(self._window[0] != 0)  # povey, hanning: zero, so no need to compute it
        banks, _ = get_mel_banks(
            cfg.num_mel_bins, self._fft_size, float(cfg.sample_rate), cfg.low_freq, cfg.high_freq, 100.0, -500.0, 1.0
        )
        mel = torch.nn.functional.pad(banks.to(torch.float32), (0, 1)).T  # (fft bins incl. Nyquist, mel bins)
        self._mel_groups: list[tuple[slice, slice, torch.Tensor]] = []  # (mel bins, fft bins, weights)
        num_groups = max(1, round(cfg.num_mel_bins / MEL_BINS_PER_MATMUL))
        bounds = [round(i * cfg.num_mel_bins / num_groups) for i in range(num_groups + 1)]
        for start, end in itertools.pairwise(bounds):
            used = mel[:, start:end].any(dim=1).nonzero()
            lo, hi = (int(used[0]), int(used[-1]) + 1) if len(used) else (0, 1)
            self._mel_groups.append((slice(start, end), slice(lo, hi), mel[lo:hi, start:end].contiguous()))

    @property
    def dim(self) -> int:
        """Feature dimension (number of mel bins)."""
        return self.config.num_mel_bins

    def num_frames(self, num_samples: int) -> int:
        """Kaldi's frame count for a signal of ``num_samples`` samples."""
        if self.config.snip_edges:
            return 0 if num_samples < self._size else 1 + (num_samples - self._size) // self._shift
        return (num_samples + self._shift // 2) // self._shift

    def __call__(self, waveforms: list[torch.Tensor], generator: torch.Generator | None = None) -> list[torch.Tensor]:
        """Features of each waveform: 1-D Kaldi-scale float samples (int16 range) at ``config.sample_rate``.

        Returns one (num_frames, num_mel_bins) float32 tensor per waveform (views into one batch tensor);
        with snip_edges, an utterance shorter than a frame gives (0, num_mel_bins). ``generator`` drives dither.
        """
        frames, first_rows, counts = self._frame(waveforms)
        out = torch.empty(len(frames), self.dim)
        self._compute(frames, out, generator)
        if self.config.use_log_fbank:
            out.clamp_min_(EPSILON).log_()
        return [out[row : row + count] for row, count in zip(first_rows, counts, strict=True)]

    def _frame(self, waveforms: list[torch.Tensor]) -> tuple[torch.Tensor, list[int], list[int]]:
        """All frames as one (rows, window) view, each utterance's first row, and its frame count.

        Utterances (reflection-padded without snip_edges) are written one after another into a flat buffer, each
        starting at a multiple of the frame shift; rows between utterances are computed and dropped.
        """
        size, shift = self._size, self._shift
        pad = 0 if self.config.snip_edges else size // 2 - shift // 2  # Kaldi's first frame starts at -pad
        counts, spans = [], []
        for wave in waveforms:
            if wave.dim() != 1:
                raise ValueError(f"expected a 1-D waveform, got shape {tuple(wave.shape)}")
            count = self.num_frames(len(wave))
            counts.append(count)
            spans.append((count - 1) * shift + size if count else 0)
        rows = [-(-span // shift) for span in spans]
        flat = torch.empty(max(sum(rows) * shift, size))
        first_rows, row = [], 0
        for wave, count, span, num_rows in zip(waveforms, counts, spans, rows, strict=True):
            first_rows.append(row)
            if count:
                self._copy_span(wave, -pad, flat[row * shift : row * shift + span])
                flat[row * shift + span : (row + num_rows) * shift].zero_()  # gap read by dropped rows only
            row += num_rows
        total_rows = first_rows[-1] + counts[-1] if waveforms else 0
        return flat.unfold(0, size, shift)[:total_rows], first_rows, counts

    @staticmethod
    def _copy_span(wave: torch.Tensor, start: int, dest: torch.Tensor) -> None:
        """Write samples ``start .. start + len(dest)`` of ``wave`` to ``dest``, reflecting at the edges as Kaldi."""
        length, end = len(wave), start + len(dest)
        inner_start, inner_end = min(max(start, 0), length), max(min(end, length), 0)
        if start < inner_start:
            dest[: inner_start - start] = wave[_reflect(torch.arange(start, inner_start), length)]
        dest[inner_start - start : inner_end - start] = wave[inner_start:inner_end]
        if inner_end < end:
            dest[inner_end - start :] = wave[_reflect(torch.arange(max(inner_end, start), end), length)]

    def _compute(self, frames: torch.Tensor, out: torch.Tensor, generator: torch.Generator | None) -> None:
        """Mel energies (before the log) of ``frames`` into ``out``, chunk by chunk, reusing work buffers."""
        cfg, size = self.config, self._size
        coeff, window = cfg.preemphasis_coefficient, self._window
        chunk = max(1, min(CHUNK_FRAMES, len(frames)))
        centered = torch.empty(chunk, size)
        padded = torch.zeros(chunk, self._fft_size)  # columns past the window stay zero
        spectrum = torch.empty(chunk, self._fft_size // 2 + 1, dtype=torch.complex64)
        power = torch.empty(chunk, self._fft_size // 2 + 1)
        for start in range(0, len(frames), chunk):
            x = frames[start : start + chunk]
            n = len(x)
            if cfg.dither > 0:
                noise = torch.randn((n, size), generator=generator, out=centered[:n])
                x = noise.mul_(cfg.dither).add_(x)
            if cfg.remove_dc_offset:
                x = torch.sub(x, x.mean(dim=1, keepdim=True), out=centered[:n])
            y = padded[:n, :size]
            if coeff:  # y[j] = x[j] - coeff * x[max(j - 1, 0)], rounded in torchaudio's order
                torch.mul(x[:, :-1], coeff, out=y[:, 1:])
                torch.sub(x[:, 1:], y[:, 1:], out=y[:, 1:])
                if self._first_sample_weighted:
                    torch.sub(x[:, :1], x[:, :1] * coeff, out=y[:, :1])
                y.mul_(window)
            else:
                torch.mul(x, window, out=y)
            spec = torch.fft.rfft(padded[:n], out=spectrum[:n])
            parts = torch.view_as_real(spec).flatten(1).square_()  # re^2, im^2 interleaved
            pw = torch.add(parts[:, 0::2], parts[:, 1::2], out=power[:n])
            if not cfg.use_power:
                pw.sqrt_()
            dest = out[start : start + n]
            for mel_bins, fft_bins, weights in self._mel_groups:
                torch.mm(pw[:, fft_bins], weights, out=dest[:, mel_bins])
