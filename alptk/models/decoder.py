"""The one Transformer decoder, shared by text and speech outputs (inputs arrive already embedded)."""

from __future__ import annotations

import torch
from torch import nn

from alptk.models.encoders import TransformerConfig
from alptk.models.layers import FeedForward, MultiHeadAttention, padding_mask
from alptk.models.registry import PARTS


class DecoderLayer(nn.Module):
    """Pre-norm causal self-attention (rotary), cross-attention to the encoder, feed-forward."""

    def __init__(self, d_model: int, config: TransformerConfig):
        super().__init__()
        self.self_attention = MultiHeadAttention(d_model, config.heads, config.attention_dropout, config.rotary)
        self.cross_attention = MultiHeadAttention(d_model, config.heads, config.attention_dropout, rotary=False)
        self.ffn = FeedForward(d_model, config.ffn_dim, config.dropout)
        self.norms = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(3))
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, memory: torch.Tensor, memory_mask: torch.Tensor):
        self_norm, cross_norm, ffn_norm = self.norms
        x = x + self.dropout(self.self_attention(self_norm(x), key_mask=mask, causal=True))
        x = x + self.dropout(self.cross_attention(cross_norm(x), memory=memory, key_mask=memory_mask))
        return x + self.dropout(self.ffn(ffn_norm(x)))


@PARTS["decoder"].register("transformer")
class TransformerDecoder(nn.Module):
    Config = TransformerConfig

    def __init__(self, d_model: int, config: TransformerConfig):
        super().__init__()
        self.config = config
        self.layers = nn.ModuleList(DecoderLayer(d_model, config) for _ in range(config.layers))
        self.norm = nn.LayerNorm(d_model)

    def forward(
        self, x: torch.Tensor, lengths: torch.Tensor, memory: torch.Tensor, memory_lengths: torch.Tensor
    ) -> torch.Tensor:
        """Embedded inputs (batch, steps, d_model) attending causally to themselves and to ``memory``."""
        mask = padding_mask(lengths, x.shape[1])
        memory_mask = padding_mask(memory_lengths, memory.shape[1])
        for layer in self.layers:
            x = layer(x, mask, memory, memory_mask)
        return self.norm(x)
