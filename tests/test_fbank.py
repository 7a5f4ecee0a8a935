"""Batched fbank: same numbers as torchaudio's Kaldi fbank, batching, frame counts, dither and config checks."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from torchaudio.compliance import kaldi

from alptk.data.fbank import CHUNK_FRAMES, FbankConfig, FbankExtractor, kaldi_scale

TOLERANCE = 1e-4
RENAMED = {"sample_rate": "sample_frequency", "frame_length_ms": "frame_length", "frame_shift_ms": "frame_shift"}


def reference(wave: torch.Tensor, config: FbankConfig) -> torch.Tensor:
    """torchaudio's Kaldi fbank of one waveform with the same options."""
    options = {RENAMED.get(key, key): value for key, value in dataclasses.asdict(config).items()}
    return kaldi.fbank(wave[None], **options)


def noise(length: int, seed: int, scale: float = 3000.0) -> torch.Tensor:
    return torch.randn(length, generator=torch.Generator().manual_seed(seed)) * scale


def chirp(length: int, rate: int, seed: int) -> torch.Tensor:
    """A 100 Hz -> Nyquist sweep plus noise and a DC offset, rounded to int16 values, with digital silence."""
    t = torch.arange(length, dtype=torch.float64) / rate
    duration = length / rate
    phase = 2 * math.pi * (100 * t + (0.5 * rate - 100) * t**2 / (2 * duration))
    wave = 12000 * torch.sin(phase) + noise(length, seed, 300).double() + 150
    wave[length // 3 : length // 3 + rate // 4] = 0
    return wave.round().clamp(-32768, 32767).float()


def signals(config: FbankConfig) -> list[torch.Tensor]:
    """Random-length noise (one frame, one sample short/over a frame, frame-shift multiples, long) and a chirp."""
    size, shift = config.window_size, config.window_shift
    lengths = [size, size + 1, size + shift, size + 3 * shift - 1, 2 * size + 7, config.sample_rate * 12 + 123]
    generator = torch.Generator().manual_seed(1)
    lengths += [int(n) for n in torch.randint(size, 5 * config.sample_rate, (4,), generator=generator)]
    waves = [noise(length, seed) for seed, length in enumerate(lengths)]
    return [*waves, chirp(config.sample_rate * 3 + 17, config.sample_rate, 99), noise(size - 1, 7)]


def max_diff(config: FbankConfig) -> float:
    """Largest |ours - torchaudio| over ``signals`` (relative for linear energies), checking shapes."""
    waves = signals(config)
    ours = FbankExtractor(config)(waves)
    worst = 0.0
    for wave, feats in zip(waves, ours, strict=True):
        assert feats.dtype == torch.float32
        if len(wave) < config.window_size or not len(feats):  # torchaudio refuses these
            assert feats.shape == (FbankExtractor(config).num_frames(len(wave)), config.num_mel_bins)
            continue
        ref = reference(wave, config)
        assert feats.shape == ref.shape
        diff = (feats - ref).abs()
        if not config.use_log_fbank:
            diff = diff / ref.abs().clamp_min(1.0)
        worst = max(worst, float(diff.max()))
    return worst


CONDITIONS = {
    "default": FbankConfig(),
    "no_snip_edges": FbankConfig(snip_edges=False),
    **{f"window_{name}": FbankConfig(window_type=name) for name in ("hamming", "hanning", "rectangular", "blackman")},
    "blackman_no_snip": FbankConfig(window_type="blackman", blackman_coeff=0.5, snip_edges=False),
    "8khz_23_bins": FbankConfig(sample_rate=8000, num_mel_bins=23),
    "high_freq_negative": FbankConfig(high_freq=-400.0, low_freq=60.0),
    "high_freq_positive": FbankConfig(high_freq=7000.0),
    "magnitude": FbankConfig(use_power=False),
    "linear_fbank": FbankConfig(use_log_fbank=False),
    "40_bins": FbankConfig(num_mel_bins=40),
    "no_preemphasis_no_dc": FbankConfig(preemphasis_coefficient=0.0, remove_dc_offset=False),
    "no_dc_offset_removal": FbankConfig(remove_dc_offset=False),
    "fft_not_power_of_two": FbankConfig(round_to_power_of_two=False, frame_shift_ms=12.5),
    "short_frames": FbankConfig(frame_length_ms=5.0, frame_shift_ms=15.0, snip_edges=False, num_mel_bins=10),
}


@pytest.mark.parametrize("name", CONDITIONS)
def test_equals_torchaudio(name: str) -> None:
    assert max_diff(CONDITIONS[name]) < TOLERANCE


def test_batch_equals_one_by_one() -> None:
    config = FbankConfig(snip_edges=False)
    extractor = FbankExtractor(config)
    waves = [noise(16000 * 13 + 5, 1), noise(399, 2), chirp(16000 * 4, 16000, 3), noise(16000 * 2 + 77, 4)]
    batch = extractor(waves)
    assert sum(len(feats) for feats in batch) > CHUNK_FRAMES  # the batch spans several pipeline chunks
    for wave, feats in zip(waves, batch, strict=True):
        alone = extractor([wave])[0]
        assert feats.shape == alone.shape
        assert (feats - alone).abs().max() < 1e-5
    assert extractor([]) == []


@pytest.mark.parametrize("snip_edges", [True, False])
def test_num_frames_matches_output(snip_edges: bool) -> None:
    extractor = FbankExtractor(FbankConfig(snip_edges=snip_edges))
    lengths = [0, 1, 79, 80, 159, 160, 240, 399, 400, 401, 559, 560, 561, 16000, 3]
    for length, feats in zip(lengths, extractor([noise(n, n) for n in lengths]), strict=True):
        assert feats.shape == (extractor.num_frames(length), extractor.dim)
        if length >= 400:
            assert len(feats) == len(reference(noise(length, length), extractor.config))
    assert [FbankExtractor().num_frames(n) for n in (399, 400, 559, 560)] == [0, 1, 1, 2]
    assert [FbankExtractor(FbankConfig(snip_edges=False)).num_frames(n) for n in (79, 80, 239, 240)] == [0, 1, 1, 2]


def test_short_signals_reflect_like_kaldi() -> None:
    """Without snip_edges, signals shorter than a frame are reflected as often as needed (Kaldi's ExtractWindow)."""
    config = FbankConfig(snip_edges=False)
    extractor = FbankExtractor(config)
    size, shift = config.window_size, config.window_shift
    for length in (80, 150, 250, 399):
        wave = noise(length, length)
        feats = extractor([wave])[0]
        for frame, row in enumerate(feats):
            samples = []
            for s in range(frame * shift + shift // 2 - size // 2, frame * shift + shift // 2 - size // 2 + size):
                while s < 0 or s >= length:
                    s = -s - 1 if s < 0 else 2 * length - 1 - s
                samples.append(wave[s])
            expected = reference(torch.stack(samples), dataclasses.replace(config, snip_edges=True))[0]
            assert (row - expected).abs().max() < TOLERANCE


def test_dither_is_random_and_reproducible() -> None:
    config = FbankConfig(dither=1.0)
    extractor = FbankExtractor(config)
    silence = torch.zeros(16000 * 30)
    first = extractor([silence], torch.Generator().manual_seed(5))[0]
    assert torch.equal(first, extractor([silence], torch.Generator().manual_seed(5))[0])
    assert not torch.equal(first, extractor([silence], torch.Generator().manual_seed(6))[0])
    torch.manual_seed(7)
    expected = reference(silence, config)
    # per-bin means of log energies of dither noise agree (std of a mean is ~0.03 for the narrowest bins)
    assert (first.mean(0) - expected.mean(0)).abs().max() < 0.15
    assert (first.std(0) / expected.std(0) - 1).abs().max() < 0.15
    loud = noise(16000, 1)
    clean = FbankExtractor()([loud])[0]
    assert 0 < (extractor([loud])[0] - clean).abs().mean() < 0.01


def test_kaldi_scale() -> None:
    audio = np.array([-1.0, 0.0, 0.5, 1.0], dtype=np.float64)
    assert torch.equal(kaldi_scale(audio), torch.tensor([-32768.0, 0.0, 16384.0, 32768.0]))
    assert kaldi_scale(torch.tensor([0.25])).dtype == torch.float32
    with pytest.raises(ValueError, match="float audio"):
        kaldi_scale(np.array([1, 2], dtype=np.int16))


def test_extractor_properties() -> None:
    assert FbankExtractor().dim == 80
    assert FbankExtractor(FbankConfig(num_mel_bins=40)).dim == 40
    with pytest.raises(ValueError, match="1-D waveform"):
        FbankExtractor()([torch.zeros(2, 1000)])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"window_type": "hann"}, "unknown window_type 'hann'"),
        ({"num_mel_bins": 0}, "num_mel_bins must be >= 4"),
        ({"num_mel_bins": 3}, "num_mel_bins must be >= 4"),
        ({"frame_length_ms": 0.0}, "frame_length_ms=0.0"),
        ({"frame_length_ms": -25.0}, "frame_length_ms=-25.0"),
        ({"frame_shift_ms": 0.0}, "frame_shift_ms=0.0"),
        ({"frame_shift_ms": 0.01}, "frame_shift_ms=0.01"),
        ({"sample_rate": 0}, "sample_rate must be > 0"),
        ({"round_to_power_of_two": False, "frame_length_ms": 25.0625}, "FFT size 401 is odd"),
        ({"dither": -1.0}, "dither must be >= 0"),
        ({"preemphasis_coefficient": 1.5}, r"preemphasis_coefficient must be in \[0, 1\]"),
        ({"high_freq": 9000.0}, "bad mel range"),
        ({"high_freq": -8000.0}, "bad mel range"),
        ({"low_freq": 5000.0, "high_freq": 4000.0}, "bad mel range"),
        ({"low_freq": -1.0}, "bad mel range"),
    ],
)
def test_config_validation(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FbankConfig(**options)
