"""``s2t``: speech to text through the decoder (label-smoothed cross-entropy) plus CTC on the encoder.

On a stream of translations (``fields: [text.fr]``) with ``start_token: <fr>`` it is speech translation.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from alptk.data.datasets import Batch
from alptk.data.tokenizer import BOS, Tokenizer
from alptk.models.model import ALPModel
from alptk.objectives.base import OBJECTIVES, Objective, text_decoder_loss


@dataclass
class S2TConfig:
    start_token: str = BOS
    ctc_weight: float = 0.3
    label_smoothing: float = 0.1


@OBJECTIVES.register("s2t")
class SpeechToText(Objective):
    Config = S2TConfig
    stream = "paired"
    heads = ("ctc_head", "text_head")  # CTC's even when ctc_weight is 0: decoding may still use it
    tasks = ("asr", "st")

    def __init__(self, model: ALPModel, config: S2TConfig, tokenizer: Tokenizer):
        super().__init__(model, config, tokenizer)
        self.start, self.eos = tokenizer.token_id(config.start_token), tokenizer.eos_id
        self.ctc = config.ctc_weight > 0

    def forward(self, model: ALPModel, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        memory, memory_lengths = model.encode_speech(batch.feats, batch.feat_lengths)
        log_probs = model.ctc_head(memory).transpose(0, 1)
        ctc = F.ctc_loss(log_probs, batch.tokens, memory_lengths, batch.token_lengths, zero_infinity=True)
        attention, accuracy = text_decoder_loss(
            model, batch, memory, memory_lengths, self.start, self.eos, self.config.label_smoothing
        )
        loss = self.config.ctc_weight * ctc + (1 - self.config.ctc_weight) * attention
        metrics = {"ctc": ctc.detach(), "attention": attention.detach(), "accuracy": accuracy.detach()}
        return loss, {**metrics, "error": 1 - accuracy.detach()}  # teacher-forced token error: a best_metric
