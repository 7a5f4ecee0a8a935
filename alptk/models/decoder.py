"""The one Transformer decoder, shared by text and speech outputs (inputs arrive already embedded)."""

from __future__ import annotations

import torch
from torch import nn

from alptk.models.encoders import TransformerConfig
from alptk.models.layers import Dropout, FeedForward, MultiHeadAttention, padding_mask
from alptk.models.registry import PARTS


class DecoderLayer(nn.Module):
    """Pre-norm self-attention (rotary; causal unless generating all steps at once), cross-attention to the
    encoder, feed-forward."""

    def __init__(self, d_model: int, config: TransformerConfig):
        super().__init__()
        self.self_attention = MultiHeadAttention(d_model, config.heads, config.attention_dropout, config.rotary)
        self.cross_attention = MultiHeadAttention(d_model, config.heads, config.attention_dropout, rotary=False)
        self.ffn = FeedForward(d_model, config.ffn_dim, config.dropout)
        self.norms = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(3))
        self.dropout = Dropout(config.dropout)

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None,
        memory: torch.Tensor,
        memory_mask: torch.Tensor,
        cache: dict[str, dict[str, torch.Tensor]] | None = None,
        alignments: list[torch.Tensor] | None = None,
        causal: bool = True,
    ) -> torch.Tensor:
        self_norm, cross_norm, ffn_norm = self.norms
        self_cache, cross_cache = (cache["self"], cache["cross"]) if cache is not None else (None, None)
        x = x + self.dropout(self.self_attention(self_norm(x), key_mask=mask, causal=causal, cache=self_cache))
        query = cross_norm(x)
        if alignments is None:
            y = self.cross_attention(query, memory=memory, key_mask=memory_mask, cache=cross_cache)
        else:
            y, weights = self.cross_attention.cross_attention_with_weights(query, memory, memory_mask)
            alignments.append(weights)
        x = x + self.dropout(y)
        return x + self.dropout(self.ffn(ffn_norm(x)))


class DecoderCache:
    """Keys and values of every decoder layer for incremental decoding (one step at a time, no padding in
    the prefix); ``reorder`` follows a search that keeps, drops or duplicates hypotheses."""

    def __init__(self, layers: int):
        self.layers = [{"self": {}, "cross": {}} for _ in range(layers)]

    def reorder(self, index: torch.Tensor) -> None:
        for layer in self.layers:
            for attention in layer.values():
                for name, tensor in attention.items():
                    attention[name] = tensor.index_select(0, index)


@PARTS["decoder"].register("transformer")
class TransformerDecoder(nn.Module):
    Config = TransformerConfig

    def __init__(self, d_model: int, config: TransformerConfig):
        super().__init__()
        self.config = config
        self.layers = nn.ModuleList(DecoderLayer(d_model, config) for _ in range(config.layers))
        self.norm = nn.LayerNorm(d_model)

    def forward(
        self,
        x: torch.Tensor,
        lengths: torch.Tensor,
        memory: torch.Tensor,
        memory_lengths: torch.Tensor,
        cache: DecoderCache | None = None,
        alignments: list[torch.Tensor] | None = None,
        causal: bool = True,
    ) -> torch.Tensor:
        """Embedded inputs (batch, steps, d_model) attending causally (or, ``causal=False``, all at once) to
        themselves and to ``memory``; with a ``cache``, only the new steps (``lengths`` is then not needed: an
        incremental prefix has no padding). ``alignments``, if given, receives each layer's cross-attention
        probabilities (batch, heads, steps, memory)."""
        mask = padding_mask(lengths, x.shape[1]) if cache is None else None
        memory_mask = padding_mask(memory_lengths, memory.shape[1])
        for index, layer in enumerate(self.layers):
            layer_cache = cache.layers[index] if cache is not None else None
            x = layer(x, mask, memory, memory_mask, layer_cache, alignments, causal)
        return self.norm(x)

    def new_cache(self) -> DecoderCache:
        return DecoderCache(len(self.layers))
