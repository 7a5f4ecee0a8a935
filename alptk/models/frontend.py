"""Speech front end: global CMVN, training augmentation (vocal tract length perturbation, SpecAugment) and Conv2d 4x
subsampling of fbank frames to ``d_model``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from alptk.models.layers import Dropout, padding_mask
from alptk.models.registry import PARTS


@dataclass
class SpecAugmentConfig:
    """Masks drawn per utterance in training: frequency bands and time spans (width as a share of its length)."""

    freq_masks: int = 2
    freq_width: int = 27
    time_masks: int = 2
    time_width: float = 0.05


@dataclass
class FbankFrontendConfig:
    feat_dim: int = 80
    channels: int = 144
    dropout: float = 0.1
    specaugment: SpecAugmentConfig | None = field(default_factory=SpecAugmentConfig)
    vtlp: float = 0.0  # in training, stretch each utterance's mel axis by a factor drawn from [1 - vtlp, 1 + vtlp]


class GlobalCMVN(nn.Module):
    """Normalizes features with global mean and standard deviation kept as buffers (saved with the model)."""

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def load_kaldi_stats(self, path: str | Path, allow_pipes: bool = False) -> None:
        """Take the statistics from a Kaldi ``cmvn.ark`` (e.g. ``dump/fbank/train/cmvn.ark``)."""
        from alptk.data.features import read_cmvn

        mean, std = read_cmvn(path, allow_pipes)
        self.mean.copy_(torch.from_numpy(mean))
        self.std.copy_(torch.from_numpy(std))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class SpecAugment(nn.Module):
    """Frequency and time masking (Park et al., 2019), vectorized over the batch; identity in eval mode."""

    def __init__(self, config: SpecAugmentConfig):
        super().__init__()
        self.config = config

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        cfg = self.config
        batch, time, dim = x.shape
        masked = torch.zeros(batch, time, dim, dtype=torch.bool, device=x.device)
        for _ in range(cfg.freq_masks):
            masked |= _random_spans(batch, dim, torch.full((batch,), dim, device=x.device), cfg.freq_width)[:, None, :]
        widths = (lengths.float() * cfg.time_width).long().clamp(min=1)
        for _ in range(cfg.time_masks):
            masked |= _random_spans(batch, time, lengths, widths)[:, :, None]
        return x.masked_fill(masked, 0.0)


def warp_frequency(feats: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """Vocal tract length perturbation (Jaitly & Hinton, 2013) on log-mel frames (batch, time, bins): bin ``i`` of
    utterance ``b`` takes the (linearly interpolated) value at bin ``i * factors[b]``, the edge bin beyond the top.
    A factor above 1 moves formants down, as a longer vocal tract does."""
    bins = feats.shape[-1]
    source = (torch.arange(bins, device=feats.device) * factors[:, None]).clamp(max=bins - 1)  # (batch, bins)
    low = source.floor().long().clamp(max=bins - 2)
    weight = (source - low)[:, None, :].to(feats.dtype)
    index = low[:, None, :].expand(-1, feats.shape[1], -1)
    return torch.lerp(feats.gather(2, index), feats.gather(2, index + 1), weight)


def _random_spans(batch: int, size: int, limits: torch.Tensor, max_width: int | torch.Tensor) -> torch.Tensor:
    """(batch, size) mask of one span per row, width uniform in [0, max_width], inside [0, limit)."""
    max_width = torch.as_tensor(max_width, device=limits.device).expand(batch)
    width = (torch.rand(batch, device=limits.device) * (max_width + 1)).long().minimum(limits)
    start = (torch.rand(batch, device=limits.device) * (limits - width + 1)).long()
    positions = torch.arange(size, device=limits.device)[None, :]
    return (positions >= start[:, None]) & (positions < (start + width)[:, None])


@PARTS["frontend"].register("fbank")
class FbankFrontend(nn.Module):
    """VTLP, CMVN, SpecAugment, two stride-2 3x3 convolutions (4x fewer frames), projection to ``d_model``."""

    Config = FbankFrontendConfig
    factor = 4  # input frames per output frame

    def __init__(self, d_model: int, config: FbankFrontendConfig):
        super().__init__()
        self.config = config
        self.cmvn = GlobalCMVN(config.feat_dim)
        self.specaugment = SpecAugment(config.specaugment) if config.specaugment else None
        self.conv = nn.Sequential(
            nn.Conv2d(1, config.channels, 3, stride=2),
            nn.ReLU(inplace=True),
            nn.Conv2d(config.channels, config.channels, 3, stride=2),
            nn.ReLU(inplace=True),
        ).to(memory_format=torch.channels_last)  # oneDNN's faster layout for these convolutions on CPUs
        self.project = nn.Linear(config.channels * self.subsampled(config.feat_dim), d_model)
        self.dropout = Dropout(config.dropout)

    @staticmethod
    def subsampled(length: int | torch.Tensor) -> int | torch.Tensor:
        """Length after the two convolutions (no padding, stride 2, kernel 3)."""
        return ((length - 1) // 2 - 1) // 2

    @classmethod
    def shortest_input(cls) -> int:
        """The fewest input frames that leave an output frame."""
        return next(n for n in range(1, 16 * cls.factor) if cls.subsampled(n) > 0)

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(batch, frames, feat_dim) fbank -> (batch, frames / 4, d_model) and the new lengths."""
        if self.training and self.config.vtlp > 0:
            factors = 1 + self.config.vtlp * (2 * torch.rand(len(feats), device=feats.device) - 1)
            feats = warp_frequency(feats, factors)
        x = self.cmvn(feats).masked_fill(~padding_mask(lengths, feats.shape[1])[..., None], 0.0)
        if self.specaugment is not None:
            x = self.specaugment(x, lengths)
        x = self.conv(x.unsqueeze(1).contiguous(memory_format=torch.channels_last))  # (batch, channels, time', freq')
        x = self.project(x.transpose(1, 2).flatten(2))
        return self.dropout(x), self.subsampled(lengths)
