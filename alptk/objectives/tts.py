"""``tts``: text to (CMVN-normalized) fbank frames through the decoder and speech head, teacher-forced:
L1 + L2 on frames before and after the post-net, BCE on the stop token, and a guided-attention loss that
pulls the decoder's cross-attention towards the diagonal (Tachibana et al., 2018): without it, minutes of
training learn to continue the previous frames rather than to read the text, and generation never stops."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from alptk.data.datasets import Batch
from alptk.models.layers import padding_mask
from alptk.models.model import ALPModel
from alptk.objectives.base import OBJECTIVES, Objective


@dataclass
class TTSConfig:
    stop_weight: float = 1.0
    stop_pos_weight: float = 5.0  # the stop frame is one of many
    guided_attention_weight: float = 1.0
    guided_attention_sigma: float = 0.4  # width of the diagonal band, as a share of both lengths


@OBJECTIVES.register("tts")
class TextToSpeech(Objective):
    Config = TTSConfig
    stream = "paired"

    def forward(self, model: ALPModel, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        r = model.config.speech_reduction
        frames, lengths = model.frontend.cmvn(batch.feats), batch.feat_lengths
        steps = -(-frames.shape[1] // r)
        frames = F.pad(frames, (0, 0, 0, steps * r - frames.shape[1]))
        valid = padding_mask(lengths, steps * r)
        frames = frames.masked_fill(~valid[..., None], 0.0)
        inputs = F.pad(frames.view(len(frames), steps, -1)[:, :-1], (0, 0, 1, 0))  # previous step's frames
        memory = model.encode_text(batch.tokens, batch.token_lengths)
        alignments: list[torch.Tensor] = []
        step_lengths = -(-lengths // r)
        mel, post, stop = model.decode_speech(inputs, step_lengths, memory, batch.token_lengths, alignments)
        target = frames[valid]
        spectral = sum(F.l1_loss(m[valid], target) + F.mse_loss(m[valid], target) for m in (mel, post))
        stop_target = (torch.arange(steps * r, device=lengths.device)[None, :] >= (lengths - 1)[:, None]).float()
        stop_loss = F.binary_cross_entropy_with_logits(
            stop[valid], stop_target[valid], pos_weight=stop.new_tensor(self.config.stop_pos_weight)
        )
        sigma = self.config.guided_attention_sigma
        guided = guided_attention_loss(alignments, step_lengths, batch.token_lengths, sigma)
        loss = spectral + self.config.stop_weight * stop_loss + self.config.guided_attention_weight * guided
        return loss, {
            "spectral": spectral.detach(),
            "stop": stop_loss.detach(),
            "guided_attention": guided.detach(),
            "l1": F.l1_loss(post[valid], target).detach(),
        }


def guided_attention_loss(
    alignments: list[torch.Tensor], step_lengths: torch.Tensor, token_lengths: torch.Tensor, sigma: float
) -> torch.Tensor:
    """Mean attention mass off the diagonal: each (batch, heads, steps, tokens) probability is weighted by
    1 - exp(-(step/steps - token/tokens)^2 / (2 sigma^2)), summed over tokens, averaged over valid steps."""
    steps, tokens = alignments[0].shape[-2:]
    device = step_lengths.device
    position = torch.arange(steps, device=device)[None, :, None] / step_lengths[:, None, None]
    token = torch.arange(tokens, device=device)[None, None, :] / token_lengths[:, None, None]
    penalty = 1 - torch.exp(-((position - token) ** 2) / (2 * sigma**2))  # (batch, steps, tokens)
    valid = padding_mask(step_lengths, steps)
    # (batch, layers, heads, steps): the expected penalty of each step's attention
    off_diagonal = torch.stack([(a * penalty[:, None]).sum(dim=-1) for a in alignments], dim=1)
    per_step = off_diagonal[0, ..., 0].numel()  # layers x heads
    return off_diagonal.masked_fill(~valid[:, None, None], 0.0).sum() / (valid.sum() * per_step)
