"""``lm``: next-token prediction by the shared decoder with no encoder to read (a language model).

An ``lm`` experiment trained on unpaired text is what ASR and ST decoding fuse with (``alptk decode --lm``,
shallow fusion). One model serves several languages: each stream starts its sentences with the token its
decoding starts with (``<s>`` for ASR, ``<fr>`` for ST into French).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from alptk.data.datasets import Batch
from alptk.data.tokenizer import BOS, Tokenizer
from alptk.models.model import ALPModel
from alptk.objectives.base import OBJECTIVES, Objective, text_decoder_loss


@dataclass
class LMConfig:
    start_token: str = BOS
    label_smoothing: float = 0.0


@OBJECTIVES.register("lm")
class LanguageModel(Objective):
    Config = LMConfig
    stream = "text"
    heads = ("text_head",)
    tasks = ("lm",)

    def __init__(self, model: ALPModel, config: LMConfig, tokenizer: Tokenizer):
        super().__init__(model, config, tokenizer)
        self.start, self.eos = tokenizer.token_id(config.start_token), tokenizer.eos_id

    def forward(self, model: ALPModel, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        memory, memory_lengths = model.no_memory(len(batch.tokens))
        loss, accuracy = text_decoder_loss(
            model, batch, memory, memory_lengths, self.start, self.eos, self.config.label_smoothing
        )
        return loss, {"accuracy": accuracy.detach()}
