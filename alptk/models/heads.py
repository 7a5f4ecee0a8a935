"""Output heads and the speech decoder pre-net: CTC, tied text output, mel + stop + post-net, matching embeddings."""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn

from alptk.models.layers import ChannelNorm, padding_mask


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
            x = F.dropout(F.relu(layer(x)), self.dropout, training=True)
        return self.project(x)


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
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Decoder states (batch, steps, d_model) -> mel before and after the post-net (batch, steps * reduction,
        n_mels) and stop logits (batch, steps * reduction)."""
        batch, steps, _ = x.shape
        mel = self.mel(x).view(batch, steps * self.reduction, self.n_mels)
        y = mel.transpose(1, 2)
        for index, layer in enumerate(self.postnet):
            y = layer(y)
            y = self.dropout(torch.tanh(y) if index < len(self.postnet) - 1 else y)
        return mel, mel + y.transpose(1, 2), self.stop(x).view(batch, steps * self.reduction)


class MatchingHead(nn.Module):
    """Masked mean pooling and a projection to the shared speech-text space (unit-length embeddings)."""

    def __init__(self, d_model: int, dim: int):
        super().__init__()
        self.project = nn.Linear(d_model, dim)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        mask = padding_mask(lengths, x.shape[1])[..., None]
        pooled = (x * mask).sum(dim=1) / lengths[:, None].clamp(min=1)
        return F.normalize(self.project(pooled), dim=-1)
