"""``tts``: text to (CMVN-normalized) fbank frames through the decoder and speech head, teacher-forced:
L1 + L2 on frames before and after the post-net, BCE on the stop token."""

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
        mel, post, stop = model.decode_speech(inputs, -(-lengths // r), memory, batch.token_lengths)
        target = frames[valid]
        spectral = sum(F.l1_loss(m[valid], target) + F.mse_loss(m[valid], target) for m in (mel, post))
        stop_target = (torch.arange(steps * r, device=lengths.device)[None, :] >= (lengths - 1)[:, None]).float()
        stop_loss = F.binary_cross_entropy_with_logits(
            stop[valid], stop_target[valid], pos_weight=stop.new_tensor(self.config.stop_pos_weight)
        )
        loss = spectral + self.config.stop_weight * stop_loss
        return loss, {
            "spectral": spectral.detach(),
            "stop": stop_loss.detach(),
            "l1": F.l1_loss(post[valid], target).detach(),
        }
