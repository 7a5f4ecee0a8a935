"""``masked_speech``: mask spans of speech and predict discrete targets of the masked frames (BEST-RQ).

Targets come from a frozen random-projection quantizer: stacked CMVN-normalized fbank frames (one stack per
encoder frame) are projected by a fixed random matrix and assigned to the nearest of a fixed random codebook,
so no offline clustering is needed. Masked input frames are replaced with noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from alptk.data.datasets import Batch
from alptk.data.tokenizer import Tokenizer
from alptk.models.layers import padding_mask
from alptk.models.model import ALPModel
from alptk.objectives.base import OBJECTIVES, Objective

STACK = 4  # input frames per encoder frame (the front end subsamples 4x)


@dataclass
class MaskedSpeechConfig:
    codebook_size: int = 1024
    codebook_dim: int = 16
    mask_prob: float = 0.04  # chance that an encoder frame starts a masked span
    span: int = 10  # encoder frames per span
    noise_std: float = 0.1
    seed: int = 0  # of the frozen quantizer


@OBJECTIVES.register("masked_speech")
class MaskedSpeechPrediction(Objective):
    Config = MaskedSpeechConfig
    stream = "speech"

    def __init__(self, model: ALPModel, config: MaskedSpeechConfig, tokenizer: Tokenizer):
        super().__init__(model, config, tokenizer)
        generator = torch.Generator().manual_seed(config.seed)
        projection = torch.empty(model.config.n_mels * STACK, config.codebook_dim)
        nn.init.xavier_uniform_(projection, generator=generator)
        codebook = F.normalize(torch.randn(config.codebook_size, config.codebook_dim, generator=generator), dim=-1)
        self.register_buffer("projection", projection)
        self.register_buffer("codebook", codebook)
        self.predict = nn.Linear(model.config.d_model, config.codebook_size)

    @torch.no_grad()
    def targets(self, normalized: torch.Tensor, frames: int) -> torch.Tensor:
        """Codebook index of each encoder frame's stack of input frames: (batch, frames)."""
        stacks = normalized[:, : frames * STACK].reshape(len(normalized), frames, -1)
        return (F.normalize(stacks @ self.projection, dim=-1) @ self.codebook.T).argmax(dim=-1)

    def forward(self, model: ALPModel, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        cfg, cmvn = self.config, model.frontend.cmvn
        feats, lengths = batch.feats, batch.feat_lengths
        encoder_frames = int(model.frontend.subsampled(torch.tensor(feats.shape[1])))
        targets = self.targets(cmvn(feats), encoder_frames)
        starts = torch.rand(len(feats), encoder_frames, device=feats.device) < cfg.mask_prob
        started = starts.int().cumsum(dim=1)
        masked = started - F.pad(started, (cfg.span, 0))[:, :encoder_frames] > 0  # within `span` after a start
        input_mask = masked.repeat_interleave(STACK, dim=1)
        input_mask = F.pad(input_mask, (0, feats.shape[1] - input_mask.shape[1]))[..., None]
        noise = cmvn.mean + cmvn.std * cfg.noise_std * torch.randn_like(feats)
        memory, memory_lengths = model.encode_speech(torch.where(input_mask, noise, feats), lengths)
        chosen = masked & padding_mask(memory_lengths, encoder_frames)
        if not chosen.any():
            return memory.sum() * 0.0, {"accuracy": 0.0, "masked": 0.0}
        logits = self.predict(memory[chosen])
        loss = F.cross_entropy(logits, targets[chosen])
        accuracy = (logits.argmax(-1) == targets[chosen]).float().mean().item()
        return loss, {"accuracy": accuracy, "masked": chosen.float().sum().item() / memory_lengths.sum().item()}
