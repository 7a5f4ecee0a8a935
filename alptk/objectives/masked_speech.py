"""``masked_speech``: mask spans of speech and predict discrete targets of the masked frames (BEST-RQ).

Targets come from a frozen random-projection quantizer: stacked CMVN-normalized fbank frames (one stack per
encoder frame) are projected by a fixed random matrix and assigned to the nearest of a fixed random codebook,
so no offline clustering is needed. Or (``quantizer: kmeans``) from the nearest centroid of a k-means model of the
same stacks, fitted offline by ``alptk features kmeans`` (recipe stage 5). Masked input frames become noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from alptk.data.datasets import Batch
from alptk.data.tokenizer import Tokenizer
from alptk.errors import ConfigError
from alptk.models.frontend import FbankFrontend
from alptk.models.layers import padding_mask
from alptk.models.model import ALPModel
from alptk.objectives.base import OBJECTIVES, Objective

STACK = FbankFrontend.factor  # input frames per encoder frame


@dataclass
class MaskedSpeechConfig:
    quantizer: Literal["random", "kmeans"] = "random"
    kmeans: str | None = None  # centroids file (safetensors) for quantizer: kmeans
    codebook_size: int = 1024  # random quantizer
    codebook_dim: int = 16
    mask_prob: float = 0.04  # chance that an encoder frame starts a masked span
    span: int = 10  # encoder frames per span
    noise_std: float = 0.1
    seed: int = 0  # of the frozen quantizer


@OBJECTIVES.register("masked_speech")
class MaskedSpeechPrediction(Objective):
    Config = MaskedSpeechConfig
    stream = "speech"
    heads = ()  # it predicts the targets with a layer of its own

    def __init__(self, model: ALPModel, config: MaskedSpeechConfig, tokenizer: Tokenizer):
        super().__init__(model, config, tokenizer)
        if config.quantizer == "kmeans":
            centroids = load_centroids(config.kmeans, model.config.n_mels * STACK)
            self.register_buffer("centroids", centroids)
            classes = len(centroids)
        else:
            generator = torch.Generator().manual_seed(config.seed)
            projection = torch.empty(model.config.n_mels * STACK, config.codebook_dim)
            nn.init.xavier_uniform_(projection, generator=generator)
            codebook = F.normalize(torch.randn(config.codebook_size, config.codebook_dim, generator=generator), dim=-1)
            self.register_buffer("projection", projection)
            self.register_buffer("codebook", codebook)
            classes = config.codebook_size
        self.predict = nn.Linear(model.config.d_model, classes)

    @torch.no_grad()
    def targets(self, normalized: torch.Tensor, frames: int) -> torch.Tensor:
        """Codebook index of each encoder frame's stack of input frames: (batch, frames)."""
        stacks = normalized[:, : frames * STACK].reshape(len(normalized), frames, -1)
        if self.config.quantizer == "kmeans":
            return nearest(stacks, self.centroids)
        return (F.normalize(stacks @ self.projection, dim=-1) @ self.codebook.T).argmax(dim=-1)

    def forward(self, model: ALPModel, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
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
            zero = memory.sum() * 0.0
            return zero, {"accuracy": zero.detach(), "masked": zero.detach()}
        logits = self.predict(memory[chosen])
        loss = F.cross_entropy(logits, targets[chosen])
        accuracy = (logits.argmax(-1) == targets[chosen]).float().mean().detach()
        return loss, {"accuracy": accuracy, "masked": chosen.sum() / memory_lengths.sum()}


def nearest(points: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """Index of the nearest centroid (Euclidean) of each point (..., dim)."""
    distances = (centroids**2).sum(-1) - 2 * points @ centroids.T  # |p|^2 is the same for every centroid
    return distances.argmin(dim=-1)


def stacked_frames(feats: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """CMVN-normalized (frames, n_mels) fbank as (frames // STACK, n_mels * STACK) stacks, as the targets see it."""
    frames = len(feats) // STACK * STACK
    return ((feats[:frames] - mean) / std).reshape(-1, STACK * feats.shape[1])


def fit_kmeans(points: torch.Tensor, clusters: int, iterations: int = 20, seed: int = 0) -> torch.Tensor:
    """Centroids of ``points`` (n, dim): k-means++ seeding, then Lloyd iterations (empty clusters are re-seeded)."""
    generator = torch.Generator().manual_seed(seed)
    centroids = points[torch.randint(len(points), (1,), generator=generator)]
    closest = ((points - centroids[0]) ** 2).sum(-1)
    for _ in range(clusters - 1):
        chosen = torch.multinomial(closest / closest.sum(), 1, generator=generator)
        centroids = torch.cat([centroids, points[chosen]])
        closest = torch.minimum(closest, ((points - points[chosen]) ** 2).sum(-1))
    for _ in range(iterations):
        assignment = nearest(points, centroids)
        counts = torch.bincount(assignment, minlength=clusters).float()
        sums = torch.zeros_like(centroids).index_add_(0, assignment, points)
        empty = counts == 0
        centroids = torch.where(empty[:, None], centroids, sums / counts.clamp(min=1)[:, None])
        if empty.any():
            centroids[empty] = points[torch.randint(len(points), (int(empty.sum()),), generator=generator)]
    return centroids


def load_centroids(path: str | None, dim: int) -> torch.Tensor:
    import safetensors.torch

    if path is None or not Path(path).is_file():
        raise ConfigError(f"masked_speech: quantizer kmeans needs 'kmeans:' a centroids file (stage 5), got {path}")
    centroids = safetensors.torch.load_file(path)["centroids"]
    if centroids.shape[1] != dim:
        raise ConfigError(f"{path}: centroids have {centroids.shape[1]} dims, the model's stacked fbank has {dim}")
    return centroids
