"""Building blocks shared by encoders and the decoder: attention (SDPA, rotary positions), feed-forward, conv module."""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_nn
import torch.nn.functional as F
from torch import nn


def padding_mask(lengths: torch.Tensor, max_length: int | None = None) -> torch.Tensor:
    """(batch, time) boolean mask, True at valid positions."""
    max_length = int(lengths.max()) if max_length is None else max_length
    return torch.arange(max_length, device=lengths.device)[None, :] < lengths[:, None]


def dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """``F.dropout``, with the keep mask drawn on a CPU from 16 random bits per element (``p`` rounded to 1/65536):
    a quarter of the time ``bernoulli_`` takes, which made dropout 15 % of a CPU update."""
    if not training or not 0.0 < p < 1.0 or x.device.type != "cpu":
        return F.dropout(x, p, training)
    count = x.numel()
    bits = torch.randint(-(2**31), 2**31 - 1, ((count + 1) // 2,), dtype=torch.int32).view(torch.int16)
    keep = bits[:count].view(x.shape) >= round(p * 2**16) - 2**15
    return x * (keep.to(x.dtype) / (1.0 - p))


class Dropout(nn.Dropout):
    """``nn.Dropout`` through :func:`dropout`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)


class RotaryEmbedding(nn.Module):
    """Rotary position embedding (RoFormer): rotates query/key channel pairs by position-dependent angles."""

    def __init__(self, head_dim: int, base: float = 10000.0):
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"rotary positions need an even head dimension, got {head_dim}")
        self.register_buffer("inv_freq", base ** (-torch.arange(0, head_dim, 2).float() / head_dim), persistent=False)

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        """Rotate ``x`` shaped (batch, heads, time, head_dim); positions start at ``offset``."""
        positions = torch.arange(offset, offset + x.shape[-2], device=x.device, dtype=self.inv_freq.dtype)
        angles = positions[:, None] * self.inv_freq[None, :]
        cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
        even, odd = x[..., 0::2], x[..., 1::2]
        return torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1).flatten(-2)


class MultiHeadAttention(nn.Module):
    """Multi-head attention through ``F.scaled_dot_product_attention``, with optional rotary positions.

    The key projection has no bias (as in Whisper): in cross-attention the softmax cancels it, and a parameter
    without a gradient would only drift on optimizer noise."""

    def __init__(self, d_model: int, heads: int, dropout: float = 0.0, rotary: bool = True):
        super().__init__()
        if d_model % heads:
            raise ValueError(f"d_model {d_model} is not divisible by {heads} heads")
        self.heads, self.dropout = heads, dropout
        self.query = nn.Linear(d_model, d_model)
        self.key = nn.Linear(d_model, d_model, bias=False)
        self.value = nn.Linear(d_model, d_model)
        self.out = nn.Linear(d_model, d_model)
        self.rotary = RotaryEmbedding(d_model // heads) if rotary else None

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor | None = None,
        key_mask: torch.Tensor | None = None,
        causal: bool = False,
        cache: dict[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Self-attention over ``x`` (or cross-attention to ``memory``); ``key_mask`` is True at valid keys.

        With a ``cache`` (incremental decoding), ``x`` holds only the new steps: self-attention appends their keys
        and values to the cached ones, cross-attention projects ``memory`` once and reuses it.
        """
        batch, time, d_model = x.shape
        q = self.query(x).view(batch, time, self.heads, -1).transpose(1, 2)
        if memory is not None and cache is not None and "key" in cache:
            k, v = cache["key"], cache["value"]
        else:
            source = x if memory is None else memory
            k = self.key(source).view(batch, source.shape[1], self.heads, -1).transpose(1, 2)
            v = self.value(source).view(batch, source.shape[1], self.heads, -1).transpose(1, 2)
            offset = cache["key"].shape[2] if cache is not None and "key" in cache else 0
            if self.rotary is not None and memory is None:
                q, k = self.rotary(q, offset), self.rotary(k, offset)
            if cache is not None and memory is None and offset:
                k, v = torch.cat([cache["key"], k], dim=2), torch.cat([cache["value"], v], dim=2)
            if cache is not None:
                cache["key"], cache["value"] = k, v
        mask = None
        if key_mask is not None:
            mask = key_mask[:, None, None, :]
            if causal:
                mask = mask & torch.ones(time, time, dtype=torch.bool, device=x.device).tril()
            causal = False
        elif causal and k.shape[2] != time:  # new steps after cached ones see everything before them
            mask = torch.ones(time, k.shape[2], dtype=torch.bool, device=x.device).tril(k.shape[2] - time)
            causal = False
        if q.device.type == "cpu" and q.dtype == torch.bfloat16:  # the CPU's bf16 attention is slower than fp32
            q, k, v = q.float(), k.float(), v.float()
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0, is_causal=causal
        )
        return self.out(y.transpose(1, 2).reshape(batch, time, d_model))

    def cross_attention_with_weights(
        self, x: torch.Tensor, memory: torch.Tensor, key_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Cross-attention as ``forward`` computes it, and the probabilities (batch, heads, time, memory time) with
        which ``x`` attends to ``memory``, which the fused kernel keeps to itself (for losses on alignments)."""
        batch, time, d_model = x.shape
        q = self.query(x).view(batch, time, self.heads, -1).transpose(1, 2)
        k = self.key(memory).view(batch, memory.shape[1], self.heads, -1).transpose(1, 2)
        v = self.value(memory).view(batch, memory.shape[1], self.heads, -1).transpose(1, 2)
        scores = (q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5
        weights = scores.masked_fill(~key_mask[:, None, None, :], float("-inf")).softmax(dim=-1)
        y = dropout(weights, self.dropout, self.training) @ v
        return self.out(y.transpose(1, 2).reshape(batch, time, d_model)), weights


class FeedForward(nn.Module):
    """Position-wise feed-forward: linear, SiLU, dropout, linear."""

    def __init__(self, d_model: int, ffn_dim: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_model, ffn_dim), nn.SiLU(), Dropout(dropout), nn.Linear(ffn_dim, d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ChannelNorm(nn.LayerNorm):
    """Layer norm over the channels of (batch, channels, time) tensors: per frame, independent of the batch."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class MaskedBatchNorm(nn.BatchNorm1d):
    """Batch norm of (batch, channels, time) whose training statistics count valid frames only and are summed
    over all DDP processes (differentiably), so that neither padding nor the split of a batch across
    processes changes the result; in float32 under autocast. (Per-frame layer norm instead learns far slower
    here: it erases the frame-to-frame energy differences the convolution sees.) Evaluation uses the running
    statistics."""

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().forward(x)
        x = x.float()  # under bf16 autocast: sums of squares in bf16 lose the variance to cancellation
        valid = mask[:, None, :].to(x.dtype)
        sums = torch.cat([(x * valid).sum(dim=(0, 2)), (x * x * valid).sum(dim=(0, 2)), valid.sum().view(1)])
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            sums = dist_nn.all_reduce(sums)
        count = sums[-1]
        mean = sums[: self.num_features] / count
        var = (sums[self.num_features : -1] / count - mean**2).clamp(min=0)
        with torch.no_grad():
            unbiased = var * count / (count - 1).clamp(min=1)
            self.running_mean.lerp_(mean.detach(), self.momentum)
            self.running_var.lerp_(unbiased.detach(), self.momentum)
            self.num_batches_tracked += 1
        scale = self.weight * torch.rsqrt(var + self.eps)
        return x * scale[:, None] + (self.bias - mean * scale)[:, None]


class ConvModule(nn.Module):
    """Conformer convolution module: pointwise + GLU, depthwise conv, batch norm, SiLU, pointwise."""

    def __init__(self, d_model: int, kernel_size: int, dropout: float):
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"conv kernel size must be odd, got {kernel_size}")
        self.pointwise_in = nn.Conv1d(d_model, 2 * d_model, 1)
        self.depthwise = nn.Conv1d(d_model, d_model, kernel_size, padding=kernel_size // 2, groups=d_model, bias=False)
        self.norm = MaskedBatchNorm(d_model)
        self.pointwise_out = nn.Conv1d(d_model, d_model, 1)
        self.dropout = Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``x`` (batch, time, d_model); padded frames are zeroed so they do not leak into valid ones."""
        y = x.masked_fill(~mask[..., None], 0.0).transpose(1, 2)
        y = F.glu(self.pointwise_in(y), dim=1).masked_fill(~mask[:, None, :], 0.0)
        y = self.pointwise_out(F.silu(self.norm(self.depthwise(y), mask)))
        return self.dropout(y.transpose(1, 2))
