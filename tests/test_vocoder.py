"""Griffin-Lim vocoder: Kaldi log-mel round trip against controls, length, determinism; spectrogram plots."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from alptk.data.fbank import FbankConfig, FbankExtractor, kaldi_scale
from alptk.data.vocoder import fbank_to_waveform
from alptk.plots import plot_spectrograms
from tests.conftest import speechlike

RATE = 16000


def fbank(samples: np.ndarray | torch.Tensor, config: FbankConfig) -> torch.Tensor:
    return FbankExtractor(config)([kaldi_scale(samples)])[0]


def log_mel_error(feats: torch.Tensor, target: torch.Tensor) -> float:
    """Mean |feats - target| in nats after removing the overall level (the vocoder normalizes the peak)."""
    diff = feats - target
    return float((diff - diff.mean()).abs().mean())


@pytest.mark.parametrize(
    "config",
    [FbankConfig(), FbankConfig(snip_edges=False, use_power=False, window_type="hamming", round_to_power_of_two=False)],
    ids=["kaldi", "variant"],
)
def test_round_trip_keeps_the_log_mel(config: FbankConfig) -> None:
    target = fbank(speechlike(1.5, RATE, seed=0), config)
    wave = fbank_to_waveform(target, config)
    size, shift = config.window_size, config.window_shift
    assert len(wave) == ((len(target) - 1) * shift + size if config.snip_edges else len(target) * shift)
    assert wave.dtype == torch.float32 and torch.isfinite(wave).all()
    assert float(wave.abs().max()) == pytest.approx(0.9)
    error = log_mel_error(fbank(wave, config), target)  # measured: 0.18 (kaldi), 0.12 (variant)
    other_voice = log_mel_error(fbank(speechlike(1.5, RATE, seed=1), config), target)  # 1.16, 0.66
    noise = log_mel_error(fbank(np.random.default_rng(0).uniform(-0.3, 0.3, len(wave)), config), target)  # 2.7, 1.3
    assert error < 0.35
    assert error < 0.3 * other_voice and error < 0.15 * noise


def test_more_iterations_fit_better_and_seeds_are_deterministic() -> None:
    config = FbankConfig()
    target = fbank(speechlike(1.0, RATE, seed=3), config)
    errors = [log_mel_error(fbank(fbank_to_waveform(target, config, iterations=n), config), target) for n in (0, 32)]
    assert errors[1] < 0.5 * errors[0]
    first = fbank_to_waveform(target, config, seed=5)
    assert torch.equal(first, fbank_to_waveform(target, config, seed=5))
    assert not torch.equal(first, fbank_to_waveform(target, config, seed=6))


def test_rejects_wrong_shapes() -> None:
    config = FbankConfig()
    for shape in [(10, 40), (0, 80), (80,)]:
        message = re.escape(f"expected (frames >= 1, 80) features, got shape {shape}")
        with pytest.raises(ValueError, match=message):
            fbank_to_waveform(torch.zeros(shape), config)


def test_plot_spectrograms_writes_a_png(tmp_path: Path) -> None:
    feats = fbank(speechlike(0.5, RATE, seed=0), FbankConfig()).numpy()
    path = tmp_path / "plots" / "mel.png"
    plot_spectrograms(path, [("target", feats), ("predicted", feats[::-1] - 1.0)])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in path.parent.iterdir()] == ["mel.png"]
    with pytest.raises(ValueError, match=re.escape("panel 'flat': expected a (frames, mels) array, got shape (80,)")):
        plot_spectrograms(tmp_path / "bad.png", [("flat", feats[0])])
    assert not (tmp_path / "bad.png").exists()
