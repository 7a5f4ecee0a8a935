"""``denoise``: text infilling through the shared decoder (BART, as in SpeechT5's text pre-training): the text
encoder reads corrupted text (MLM's corruption), the decoder rewrites the whole sentence.

It is how unpaired text reaches the decoder: the language it learns to write is the one ASR and ST decode with.
Give each language its stream and the start token its fine-tuning uses (``<s>`` for ASR, ``<fr>`` for ST).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from alptk.data.datasets import Batch
from alptk.data.tokenizer import BOS, Tokenizer
from alptk.models.model import ALPModel
from alptk.objectives.base import OBJECTIVES, text_decoder_loss
from alptk.objectives.mlm import MaskedLanguageModel, MLMConfig


@dataclass
class DenoiseConfig(MLMConfig):
    mask_prob: float = 0.3
    start_token: str = BOS
    label_smoothing: float = 0.1


@OBJECTIVES.register("denoise")
class TextDenoising(MaskedLanguageModel):
    Config = DenoiseConfig

    def __init__(self, model: ALPModel, config: DenoiseConfig, tokenizer: Tokenizer):
        super().__init__(model, config, tokenizer)
        self.start, self.eos = tokenizer.token_id(config.start_token), tokenizer.eos_id

    def forward(self, model: ALPModel, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        corrupted, _ = self.corrupt(batch.tokens, batch.token_lengths)
        memory = model.encode_text(corrupted, batch.token_lengths)
        loss, accuracy = text_decoder_loss(
            model, batch, memory, batch.token_lengths, self.start, self.eos, self.config.label_smoothing
        )
        return loss, {"accuracy": accuracy.detach()}
