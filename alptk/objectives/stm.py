"""``stm``: speech-text matching. A symmetric contrastive loss (learnable temperature) between pooled speech and text
embeddings, plus a binary matched / not-matched head over the decoder's fusion of text with speech, trained on the
hardest in-batch negatives."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from alptk.data.datasets import Batch
from alptk.data.tokenizer import Tokenizer
from alptk.models.model import ALPModel
from alptk.objectives.base import OBJECTIVES, Objective


@dataclass
class STMConfig:
    temperature: float = 0.07  # initial value; learned
    binary_weight: float = 1.0  # 0: no binary head (and no decoder pass)


@OBJECTIVES.register("stm")
class SpeechTextMatching(Objective):
    Config = STMConfig
    stream = "paired"
    heads = ("speech_matching", "text_matching")  # the binary head is its own classifier, over the decoder

    def __init__(self, model: ALPModel, config: STMConfig, tokenizer: Tokenizer):
        super().__init__(model, config, tokenizer)
        self.log_temperature = nn.Parameter(torch.tensor(math.log(config.temperature)))
        self.classifier = nn.Linear(model.config.d_model, 1) if config.binary_weight else None

    def forward(self, model: ALPModel, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        memory, memory_lengths = model.encode_speech(batch.feats, batch.feat_lengths)
        speech = model.match_speech(memory, memory_lengths)
        text = model.match_text(batch.tokens, batch.token_lengths)
        similarity = speech @ text.T
        logits = similarity / self.log_temperature.exp().clamp(min=1e-3)
        labels = torch.arange(len(speech), device=speech.device)
        contrastive = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
        metrics = {"contrastive": contrastive.detach(), "recall@1": (logits.argmax(dim=1) == labels).float().mean()}
        if self.classifier is None:
            return contrastive, metrics
        # Binary head: each utterance with its own text and with the most similar other text.
        hardest = similarity.detach().masked_fill(torch.eye(len(speech), dtype=torch.bool, device=speech.device), -2)
        negatives = hardest.argmax(dim=1)
        text_index = torch.cat([labels, negatives])
        fused = model.decoder(
            model.embed_text(batch.tokens[text_index]),
            batch.token_lengths[text_index],
            memory.repeat(2, 1, 1),
            memory_lengths.repeat(2),
        )
        last = fused[torch.arange(len(text_index), device=fused.device), batch.token_lengths[text_index] - 1]
        match_logits = self.classifier(last).squeeze(-1)
        targets = torch.cat([torch.ones_like(labels), torch.zeros_like(labels)]).float()
        binary = F.binary_cross_entropy_with_logits(match_logits, targets)
        binary_accuracy = ((match_logits > 0).float() == targets).float().mean()
        loss = contrastive + self.config.binary_weight * binary
        return loss, {**metrics, "binary": binary.detach(), "binary_accuracy": binary_accuracy.detach()}
