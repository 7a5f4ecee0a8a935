"""``mlm``: masked language modelling on text (15 % of tokens: 80 % <mask>, 10 % random, 10 % unchanged)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from alptk.data.datasets import Batch
from alptk.data.tokenizer import Tokenizer
from alptk.models.layers import padding_mask
from alptk.models.model import ALPModel
from alptk.objectives.base import OBJECTIVES, Objective

FIRST_REGULAR_TOKEN = 4  # ids 0-3 are <blank>, <unk>, <s>, </s>


@dataclass
class MLMConfig:
    mask_prob: float = 0.15
    mask_token: str = "<mask>"


@OBJECTIVES.register("mlm")
class MaskedLanguageModel(Objective):
    Config = MLMConfig
    stream = "text"
    heads = ("text_head",)  # denoise's too

    def __init__(self, model: ALPModel, config: MLMConfig, tokenizer: Tokenizer):
        super().__init__(model, config, tokenizer)
        self.mask_id, self.vocab_size = tokenizer.token_id(config.mask_token), len(tokenizer)

    def corrupt(self, tokens: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The corrupted tokens and where they were chosen (at least one token per sentence)."""
        valid = padding_mask(lengths, tokens.shape[1])
        chosen = (torch.rand(tokens.shape, device=tokens.device) < self.config.mask_prob) & valid
        first = torch.zeros_like(chosen)
        first[torch.arange(len(tokens)), (torch.rand(len(tokens), device=tokens.device) * lengths).long()] = True
        chosen |= first & ~chosen.any(dim=1, keepdim=True)  # at least one prediction per sentence
        roll = torch.rand(tokens.shape, device=tokens.device)
        random_tokens = torch.randint_like(tokens, FIRST_REGULAR_TOKEN, self.vocab_size)
        corrupted = torch.where(chosen & (roll < 0.8), self.mask_id, tokens)
        corrupted = torch.where(chosen & (roll >= 0.8) & (roll < 0.9), random_tokens, corrupted)
        return corrupted, chosen

    def forward(self, model: ALPModel, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        tokens, lengths = batch.tokens, batch.token_lengths
        corrupted, chosen = self.corrupt(tokens, lengths)
        logits = model.text_head(model.encode_text(corrupted, lengths))[chosen]
        loss = F.cross_entropy(logits, tokens[chosen])
        return loss, {"accuracy": (logits.argmax(-1) == tokens[chosen]).float().mean().detach()}
