"""Output heads and the speech decoder's inputs: CTC, tied text output, mel + stop + post-net, matching embeddings,
the autoregressive pre-net, and the duration predictor and length regulator of parallel synthesis."""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn

from alptk.models.layers import ChannelNorm, Dropout, dropout, padding_mask


class CTCHead(nn.Module):
    """Frame-level token log-probabilities for CTC (blank is token 0)."""

    def __init__(self, d_model: int, vocab_size: int):
        super().__init__()
        self.project = nn.Linear(d_model, vocab_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(self.project(x), dim=-1)


class TextHead(nn.Module):
    """Token logits from decoder states, with weights tied to the text embedding."""

    def __init__(self, embedding: nn.Embedding):
        super().__init__()
        self.embedding = embedding
        self.bias = nn.Parameter(torch.zeros(embedding.num_embeddings))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.embedding.weight, self.bias)


class SpeechPrenet(nn.Module):
    """Mel frames to decoder inputs: two bottleneck layers with always-on dropout (as in Tacotron 2)."""

    def __init__(self, n_mels: int, reduction: int, d_model: int, hidden: int = 256, dropout: float = 0.5):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(n_mels * reduction, hidden), nn.Linear(hidden, hidden)])
        self.project = nn.Linear(hidden, d_model)
        self.dropout = dropout

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        """(batch, steps, n_mels * reduction) -> (batch, steps, d_model)."""
        x = mels
        for layer in self.layers:
            x = dropout(F.relu(layer(x)), self.dropout)
        return self.project(x)


class DurationPredictor(nn.Module):
    """Log duration of each text token from the text encoder's states (FastSpeech): two convolutions over tokens,
    each followed by ReLU, layer norm and dropout, then a linear projection."""

    def __init__(self, d_model: int, kernel_size: int = 3, dropout: float = 0.1):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv1d(d_model, d_model, kernel_size, padding=kernel_size // 2) for _ in range(2))
        self.norms = nn.ModuleList(ChannelNorm(d_model) for _ in range(2))
        self.dropout = Dropout(dropout)
        self.project = nn.Linear(d_model, 1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(batch, tokens, d_model) -> log(1 + duration) (batch, tokens); padded tokens read as zeros."""
        mask = padding_mask(lengths, x.shape[1])[:, None, :]
        y = x.transpose(1, 2)
        for conv, norm in zip(self.convs, self.norms, strict=True):
            y = self.dropout(norm(F.relu(conv(y.masked_fill(~mask, 0.0)))))
        return self.project(y.transpose(1, 2)).squeeze(-1)


class LengthRegulator(nn.Module):
    """FastSpeech's length regulator: each token's state repeated for its duration, plus a learned projection of
    where each step lies in its token (progress through it, from either end, and the token's log duration), so that
    the steps of one token are not all alike when they reach the decoder."""

    def __init__(self, d_model: int):
        super().__init__()
        self.position = nn.Linear(3, d_model)

    def forward(self, x: torch.Tensor, durations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(batch, tokens, d_model) and integer durations (batch, tokens), zero for padded tokens -> (batch, steps,
        d_model), zero at padded steps, and the step counts."""
        ends = durations.cumsum(dim=1)
        lengths = ends[:, -1]
        steps = torch.arange(int(lengths.max()), device=x.device).repeat(len(x), 1)
        index = torch.searchsorted(ends, steps, right=True).clamp(max=x.shape[1] - 1)
        expanded = x.gather(1, index[..., None].expand(-1, -1, x.shape[-1]))
        duration = durations.gather(1, index).clamp(min=1).to(x.dtype)
        progress = (steps - (ends.gather(1, index) - duration) + 0.5) / duration
        features = torch.stack([progress, 1 - progress, duration.log()], dim=-1)
        expanded = expanded + self.position(features)
        return expanded.masked_fill(~padding_mask(lengths, steps.shape[1])[..., None], 0.0), lengths


class SpeechHead(nn.Module):
    """Mel frames (``reduction`` per step) and stop logits, refined by a 5-layer convolutional post-net
    (layer-normed rather than batch-normed, so that each utterance's frames depend on it alone)."""

    def __init__(self, d_model: int, n_mels: int, reduction: int, postnet_channels: int = 256, dropout: float = 0.5):
        super().__init__()
        self.n_mels, self.reduction = n_mels, reduction
        self.mel = nn.Linear(d_model, n_mels * reduction)
        self.stop = nn.Linear(d_model, reduction)
        channels = [n_mels, *[postnet_channels] * 4, n_mels]
        self.postnet = nn.ModuleList(
            nn.Sequential(nn.Conv1d(c_in, c_out, 5, padding=2), ChannelNorm(c_out))
            for c_in, c_out in itertools.pairwise(channels)
        )
        self.dropout = Dropout(dropout)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Decoder states (batch, steps, d_model) and their step counts -> mel before and after the post-net (batch,
        steps * reduction, n_mels) and stop logits (batch, steps * reduction). The post-net reads padded frames as
        zeros, so that what follows an utterance in its batch cannot change it."""
        batch, steps, _ = x.shape
        mel = self.mel(x).view(batch, steps * self.reduction, self.n_mels)
        valid = padding_mask(lengths * self.reduction, mel.shape[1])[:, None, :]
        y = mel.transpose(1, 2)
        for index, layer in enumerate(self.postnet):
            y = layer(y.masked_fill(~valid, 0.0))
            y = self.dropout(torch.tanh(y) if index < len(self.postnet) - 1 else y)
        return mel, mel + y.transpose(1, 2), self.stop(x).view(batch, steps * self.reduction)


class MatchingHead(nn.Module):
    """Masked mean pooling and a projection to the shared speech-text space (unit-length embeddings). Over bags of
    tokens (``bias=False``) the embedding does not depend on a bag's mass, only on its proportions."""

    def __init__(self, d_in: int, dim: int, bias: bool = True):
        super().__init__()
        self.project = nn.Linear(d_in, dim, bias=bias)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        mask = padding_mask(lengths, x.shape[1])[..., None]
        pooled = (x * mask).sum(dim=1) / lengths[:, None].clamp(min=1)
        return F.normalize(self.project(pooled), dim=-1)
