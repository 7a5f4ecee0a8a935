"""What every objective is: a module that takes the model and one batch of its stream, and returns its loss and
metrics (detached scalar tensors, so that training never waits on the GPU to log)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from alptk.data.datasets import Batch
from alptk.data.tokenizer import Tokenizer
from alptk.errors import ConfigError
from alptk.models.layers import padding_mask
from alptk.models.model import ALPModel
from alptk.models.registry import Registry

Stream = Literal["speech", "text", "paired"]
OBJECTIVES = Registry("objective")


class Objective(nn.Module):
    """Base class: ``stream`` says which data it consumes; parameters it owns (heads, temperatures) train too."""

    stream: ClassVar[Stream]
    heads: ClassVar[tuple[str, ...]] = ()  # the model's optional heads (``HEADS``) it uses; training builds those
    tasks: ClassVar[tuple[str, ...]] = ()  # the tasks (alptk.tasks) a model trained by it is decoded as
    ctc = False  # whether it trains CTC on its stream's targets (each must then fit its utterance's encoder frames)

    def __init__(self, model: ALPModel, config: Any, tokenizer: Tokenizer):
        super().__init__()
        self.config = config
        missing = [head for head in self.needed_heads(config) if not model.has_head(head)]
        if missing:
            name = next((n for n in OBJECTIVES.names() if OBJECTIVES.get(n) is type(self)), type(self).__name__)
            built = ", ".join(model.heads) or "none"
            raise ConfigError(
                f"objective {name} needs the model's {', '.join(missing)}, which it was built without (its heads: "
                f"{built}); add {'them' if len(missing) > 1 else 'it'} to model_options.heads"
            )

    @classmethod
    def needed_heads(cls, config: Any) -> tuple[str, ...]:
        """The heads it uses with ``config``: ``heads``, unless an option changes that."""
        return cls.heads

    def forward(self, model: ALPModel, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError


def shift_right(tokens: torch.Tensor, lengths: torch.Tensor, first: int, last: int) -> tuple[torch.Tensor, ...]:
    """Decoder inputs ``first + tokens`` and targets ``tokens + last`` (padded with 0), and their lengths."""
    batch = tokens.shape[0]
    inputs = torch.cat([torch.full((batch, 1), first, dtype=tokens.dtype, device=tokens.device), tokens], dim=1)
    targets = torch.cat([tokens, torch.zeros(batch, 1, dtype=tokens.dtype, device=tokens.device)], dim=1)
    targets[torch.arange(batch, device=tokens.device), lengths] = last
    return inputs, targets, lengths + 1


def text_decoder_loss(
    model: ALPModel,
    batch: Batch,
    memory: torch.Tensor,
    memory_lengths: torch.Tensor,
    start: int,
    eos: int,
    label_smoothing: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Label-smoothed cross-entropy of the decoder reading ``memory`` and teacher-forced on ``batch.tokens`` (from
    ``start`` to ``eos``), and its token accuracy."""
    inputs, targets, lengths = shift_right(batch.tokens, batch.token_lengths, start, eos)
    logits = model.decode_text(inputs, lengths, memory, memory_lengths)
    valid = padding_mask(lengths, targets.shape[1])
    loss = F.cross_entropy(logits[valid], targets[valid], label_smoothing=label_smoothing)
    return loss, (logits[valid].argmax(-1) == targets[valid]).float().mean()
