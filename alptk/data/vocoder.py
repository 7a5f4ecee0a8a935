"""Speech from Kaldi log-mel filterbanks without a trained vocoder: mel inversion and Griffin-Lim."""

from __future__ import annotations

import torch
from torchaudio.compliance.kaldi import get_mel_banks
from torchaudio.functional import lfilter

from alptk.data.fbank import FbankConfig, _window_function

MEL_ITERATIONS = 32  # multiplicative non-negative least-squares updates of the mel inversion
MOMENTUM = 0.99  # fast Griffin-Lim (Perraudin et al. 2013), as torchaudio's default
PEAK = 0.9


def _mel_matrix(config: FbankConfig) -> torch.Tensor:
    """Kaldi's mel filterbank as a (num_mel_bins, fft bins incl. Nyquist) matrix, as ``FbankExtractor`` uses it."""
    sizes = (config.num_mel_bins, config.padded_window_size, float(config.sample_rate))
    banks, _ = get_mel_banks(*sizes, config.low_freq, config.high_freq, 100.0, -500.0, 1.0)  # no VTLN warp
    return torch.nn.functional.pad(banks.to(torch.float32), (0, 1))


def _invert_mel(mel: torch.Tensor, banks: torch.Tensor) -> torch.Tensor:
    """Non-negative ``spectrum`` (frames, fft bins) with ``spectrum @ banks.T`` close to ``mel`` in least squares.

    Starts from the filter-weighted average of the mel energies at each bin and refines it by multiplicative updates
    (Lee & Seung), which keep it non-negative and never increase the squared error.
    """
    numerator = mel @ banks
    spectrum = numerator / banks.sum(dim=0).clamp_min(1e-8)
    for _ in range(MEL_ITERATIONS):
        spectrum = spectrum * numerator / (spectrum @ banks.T @ banks).clamp_min(1e-12)
    return spectrum


def fbank_to_waveform(log_mel: torch.Tensor, config: FbankConfig, iterations: int = 32, seed: int = 0) -> torch.Tensor:
    """(frames, num_mel_bins) Kaldi log-mel -> waveform (samples,) at config.sample_rate by Griffin-Lim.

    The waveform is aligned to Kaldi's framing: with ``snip_edges`` it has ``(frames - 1) * shift + window``
    samples (frame i covers samples ``i * shift ..``), without it ``frames * shift``, so that ``FbankExtractor``
    gives it ``frames`` frames again. Magnitudes come from a non-negative inversion of the mel filterbank, phases
    from ``iterations`` of fast Griffin-Lim on Kaldi's frames and window, started from random phases drawn with
    ``seed`` (deterministic); pre-emphasis is undone and the result peak-normalized to 0.9. Per-frame DC removal
    and dither are not inverted.
    """
    if log_mel.dim() != 2 or log_mel.shape[1] != config.num_mel_bins or not len(log_mel):
        raise ValueError(f"expected (frames >= 1, {config.num_mel_bins}) features, got shape {tuple(log_mel.shape)}")
    size, shift, n_fft = config.window_size, config.window_shift, config.padded_window_size
    frames = len(log_mel)
    mel = log_mel.to(torch.float32).exp() if config.use_log_fbank else log_mel.to(torch.float32)
    spectrum = _invert_mel(mel, _mel_matrix(config))
    magnitude = spectrum.sqrt() if config.use_power else spectrum
    window = _window_function(config)
    span = (frames - 1) * shift + size
    index = (torch.arange(frames)[:, None] * shift + torch.arange(size)).flatten()
    norm = torch.zeros(span).index_add_(0, index, window.square().expand(frames, size).flatten())
    norm = norm.clamp_min(0.1 * float(norm.max()))  # tapered edges: no division by ~0

    def synthesize(spec: torch.Tensor) -> torch.Tensor:  # least-squares inverse of ``analyze``
        chunks = torch.fft.irfft(spec, n=n_fft)[:, :size] * window
        return torch.zeros(span).index_add_(0, index, chunks.flatten()) / norm

    def analyze(signal: torch.Tensor) -> torch.Tensor:
        return torch.fft.rfft(signal.unfold(0, size, shift) * window, n=n_fft)

    generator = torch.Generator().manual_seed(seed)
    angles = torch.polar(torch.ones_like(magnitude), 2 * torch.pi * torch.rand(magnitude.shape, generator=generator))
    previous = torch.zeros_like(angles)
    for _ in range(iterations):
        rebuilt = analyze(synthesize(magnitude * angles))
        angles = rebuilt - previous * (MOMENTUM / (1 + MOMENTUM))
        angles = angles / angles.abs().clamp_min(1e-16)
        previous = rebuilt
    signal = synthesize(magnitude * angles)
    if config.preemphasis_coefficient:
        a = torch.tensor([1.0, -config.preemphasis_coefficient])
        signal = lfilter(signal[None], a, torch.tensor([1.0, 0.0]), clamp=False)[0]
    pad = 0 if config.snip_edges else size // 2 - shift // 2
    signal = signal[pad : pad + (span if config.snip_edges else frames * shift)]
    signal = signal - signal.mean()
    return signal * (PEAK / signal.abs().max().clamp_min(1e-8))
