"""Encoders over (batch, time, d_model) sequences: Transformer and Conformer, pre-norm, rotary positions."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from alptk.models.layers import ConvModule, Dropout, FeedForward, MultiHeadAttention, padding_mask
from alptk.models.registry import PARTS


@dataclass
class TransformerConfig:
    """Sizes of a Transformer encoder (``d_model`` is the model's)."""

    layers: int = 6
    heads: int = 4
    ffn_dim: int = 576
    dropout: float = 0.1
    attention_dropout: float = 0.0
    rotary: bool = True


@dataclass
class ConformerConfig(TransformerConfig):
    """A Transformer encoder's sizes plus the convolution module's kernel."""

    kernel_size: int = 15


class TransformerLayer(nn.Module):
    def __init__(self, d_model: int, config: TransformerConfig):
        super().__init__()
        self.attention_norm, self.ffn_norm = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attention = MultiHeadAttention(d_model, config.heads, config.attention_dropout, config.rotary)
        self.ffn = FeedForward(d_model, config.ffn_dim, config.dropout)
        self.dropout = Dropout(config.dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = x + self.dropout(self.attention(self.attention_norm(x), key_mask=mask))
        return x + self.dropout(self.ffn(self.ffn_norm(x)))


class ConformerLayer(nn.Module):
    """Macaron feed-forward halves around self-attention and convolution (Gulati et al., 2020)."""

    def __init__(self, d_model: int, config: ConformerConfig):
        super().__init__()
        self.ffn_in, self.ffn_out = (FeedForward(d_model, config.ffn_dim, config.dropout) for _ in range(2))
        self.attention = MultiHeadAttention(d_model, config.heads, config.attention_dropout, config.rotary)
        self.conv = ConvModule(d_model, config.kernel_size, config.dropout)
        self.norms = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(5))
        self.dropout = Dropout(config.dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        ffn_in_norm, attention_norm, conv_norm, ffn_out_norm, out_norm = self.norms
        x = x + 0.5 * self.dropout(self.ffn_in(ffn_in_norm(x)))
        x = x + self.dropout(self.attention(attention_norm(x), key_mask=mask))
        x = x + self.conv(conv_norm(x), mask)
        x = x + 0.5 * self.dropout(self.ffn_out(ffn_out_norm(x)))
        return out_norm(x)


class Encoder(nn.Module):
    """A stack of layers and a final norm; ``forward(x, lengths)`` keeps the sequence length."""

    layer_type: type[nn.Module]

    def __init__(self, d_model: int, config: TransformerConfig):
        super().__init__()
        self.config = config
        self.layers = nn.ModuleList(self.layer_type(d_model, config) for _ in range(config.layers))
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        mask = padding_mask(lengths, x.shape[1])
        for layer in self.layers:
            x = layer(x, mask)
        return self.norm(x)


@PARTS["encoder"].register("transformer")
class TransformerEncoder(Encoder):
    Config = TransformerConfig
    layer_type = TransformerLayer


@PARTS["encoder"].register("conformer")
class ConformerEncoder(Encoder):
    Config = ConformerConfig
    layer_type = ConformerLayer
