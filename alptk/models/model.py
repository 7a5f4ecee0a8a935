"""The whole audio-language model (SpeechT5-like) and its presets: every size in one typed, YAML-loadable config."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import safetensors
import safetensors.torch
import torch
import torch.nn.functional as F
from torch import nn

import alptk.models.encoders
import alptk.models.frontend  # noqa: F401 - registers the parts
from alptk.config import from_dict, load_yaml
from alptk.data.tokenizer import BLANK_ID
from alptk.errors import ConfigError, DataError
from alptk.models.decoder import DecoderCache
from alptk.models.heads import (
    CTCHead,
    DurationPredictor,
    LengthRegulator,
    MatchingHead,
    SpeechHead,
    SpeechPrenet,
    TextHead,
)
from alptk.models.layers import Dropout
from alptk.models.registry import PARTS
from alptk.progress import log

PRESETS_DIR = Path(__file__).parent / "presets"
# The optional output heads, in the order they are built: a model builds those its objectives use (the frontend,
# encoders, text embedding and decoder always). ``text_head`` is tied to the text embedding.
HEADS = (
    "speech_prenet",
    "ctc_head",
    "text_head",
    "speech_head",
    "duration_predictor",
    "length_regulator",
    "speech_matching",
    "text_matching",
)


@dataclass
class ModelConfig:
    """Sizes of every part; ``frontend``, ``*_encoder`` and ``decoder`` are ``{type: name, ...options}``."""

    d_model: int = 144
    vocab_size: int = 500
    n_mels: int = 80
    speech_reduction: int = 2
    matching_dim: int = 128
    # What speech-text matching compares: mean-pooled encoder states ("states"), or bags of tokens ("tokens": the
    # CTC posteriors of the speech, blank left out, against the text's own tokens), each projected to matching_dim.
    # Token bags retrieve as soon as CTC recognizes some words; states need many more matching updates.
    matching_input: Literal["states", "tokens"] = "states"
    dropout: float = 0.1
    speech_dropout: float = 0.5  # TTS pre-net (always on, as in Tacotron 2) and post-net dropout
    postnet_channels: int = 256
    frontend: dict[str, Any] = field(default_factory=lambda: {"type": "fbank"})
    speech_encoder: dict[str, Any] = field(default_factory=lambda: {"type": "conformer"})
    text_encoder: dict[str, Any] = field(default_factory=lambda: {"type": "transformer", "layers": 2})
    decoder: dict[str, Any] = field(default_factory=lambda: {"type": "transformer"})
    heads: list[str] | None = None  # the HEADS to build (training: those its objectives use); None: all of them


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def load_model_config(preset_or_path: str | Path, **overrides: Any) -> ModelConfig:
    """A preset name (``tiny``, ``base``, ``large``) or a YAML file, with keyword overrides (e.g. vocab_size, or
    ``speech_encoder={"dropout": 0.0}``, merged into the part's options)."""
    path = Path(preset_or_path)
    if not path.suffix:
        if str(preset_or_path) not in preset_names():
            raise ConfigError(f"unknown model preset '{preset_or_path}' (choose from {', '.join(preset_names())})")
        path = PRESETS_DIR / f"{preset_or_path}.yaml"
    config = load_yaml(path)
    for key, value in overrides.items():
        base = config.get(key)
        same_type = (
            isinstance(base, dict)
            and isinstance(value, dict)
            and value.get("type", base.get("type")) == base.get("type")
        )
        config[key] = {**base, **value} if same_type else value  # {dropout: 0.0} adjusts a part; a new type replaces it
    return from_dict(ModelConfig, config, str(path))


def _build(kind: str, spec: dict[str, Any], d_model: int, where: str) -> nn.Module:
    name, config = PARTS[kind].config(spec, where)
    return PARTS[kind].get(name)(d_model, config)


def model_heads(config: ModelConfig) -> tuple[str, ...]:
    """The heads a model of ``config`` builds, in ``HEADS`` order; a ``ConfigError`` names an unknown one."""
    if config.heads is None:
        return HEADS
    unknown = sorted(set(config.heads) - set(HEADS))
    if unknown:
        raise ConfigError(f"model heads: unknown head '{unknown[0]}' (choose from {', '.join(sorted(HEADS))})")
    heads = set(config.heads)
    if config.matching_input == "tokens" and "speech_matching" in heads:
        heads.add("ctc_head")  # the speech side's bag of tokens
    return tuple(head for head in HEADS if head in heads)


class MissingHeadError(ConfigError, AttributeError):
    """Code asked for a head the model was built without (an ``AttributeError`` too: ``hasattr`` says False)."""


class ALPModel(nn.Module):
    """Speech encoder (fbank front end + encoder), text encoder, one shared decoder, and the output heads."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        d = config.d_model
        self.frontend = _build("frontend", config.frontend, d, "frontend")
        self.speech_encoder = _build("encoder", config.speech_encoder, d, "speech_encoder")
        self.text_embedding = nn.Embedding(config.vocab_size, d, padding_idx=BLANK_ID)
        self.text_encoder = _build("encoder", config.text_encoder, d, "text_encoder")
        self.decoder = _build("decoder", config.decoder, d, "decoder")
        builders = {
            "speech_prenet": lambda: SpeechPrenet(
                config.n_mels, config.speech_reduction, d, dropout=config.speech_dropout
            ),
            "ctc_head": lambda: CTCHead(d, config.vocab_size),
            "text_head": lambda: TextHead(self.text_embedding),
            "speech_head": lambda: SpeechHead(
                d, config.n_mels, config.speech_reduction, config.postnet_channels, config.speech_dropout
            ),
            "duration_predictor": lambda: DurationPredictor(d, dropout=config.dropout),
            "length_regulator": lambda: LengthRegulator(d),
            "speech_matching": lambda: self._matching_head(),
            "text_matching": lambda: self._matching_head(),
        }
        self.heads = model_heads(config)  # the others are not attributes: asking for one is a MissingHeadError
        for head in self.heads:
            setattr(self, head, builders[head]())
        if config.matching_input == "tokens" and "speech_matching" in self.heads and "text_matching" in self.heads:
            # one projection for both bags at the start: matching starts as the cosine of (projected) token counts
            self.text_matching.load_state_dict(self.speech_matching.state_dict())
        self.embed_scale = d**0.5
        self.dropout = Dropout(config.dropout)
        nn.init.normal_(self.text_embedding.weight, std=d**-0.5)

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name not in HEADS:
                raise
            built = ", ".join(self.heads) or "none"
            raise MissingHeadError(
                f"this model was built without {name} (its heads: {built}); train it with an objective that uses "
                f"{name}, or add it to model_options.heads"
            ) from None

    def has_head(self, name: str) -> bool:
        return name in self.heads

    def _matching_head(self) -> MatchingHead:
        if self.config.matching_input == "tokens":
            return MatchingHead(self.config.vocab_size, self.config.matching_dim, bias=False)
        return MatchingHead(self.config.d_model, self.config.matching_dim)

    def match_speech(self, memory: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Unit-length matching embeddings (batch, matching_dim) of encoded speech (``encode_speech``'s output)."""
        if self.config.matching_input == "tokens":
            not_blank = torch.ones(self.config.vocab_size, device=memory.device)
            not_blank[BLANK_ID] = 0
            memory = self.ctc_head(memory).exp() * not_blank
        return self.speech_matching(memory, lengths)

    def match_text(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Unit-length matching embeddings (batch, matching_dim) of token ids (batch, tokens)."""
        if self.config.matching_input == "tokens":
            return self.text_matching(F.one_hot(tokens, self.config.vocab_size).float(), lengths)
        return self.text_matching(self.encode_text(tokens, lengths), lengths)

    def encode_speech(self, feats: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Fbank (batch, frames, n_mels) -> encoder states (batch, frames / 4, d_model) and their lengths."""
        x, lengths = self.frontend(feats, lengths)
        return self.speech_encoder(x, lengths), lengths

    def embed_text(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.text_embedding(tokens) * self.embed_scale)

    def encode_text(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Token ids (batch, tokens) -> encoder states (batch, tokens, d_model)."""
        return self.text_encoder(self.embed_text(tokens), lengths)

    def no_memory(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """What the decoder reads when it is a language model: one zero state per sentence (cross-attention then
        adds a constant)."""
        device = self.text_embedding.weight.device
        lengths = torch.ones(batch, dtype=torch.long, device=device)
        return torch.zeros(batch, 1, self.config.d_model, device=device), lengths

    def decode_text(
        self,
        tokens: torch.Tensor,
        lengths: torch.Tensor | None,
        memory: torch.Tensor,
        memory_lengths: torch.Tensor,
        cache: DecoderCache | None = None,
    ) -> torch.Tensor:
        """Token logits (batch, tokens, vocab) given the previous tokens and an encoder memory: teacher-forced,
        or incrementally with a ``cache`` (``tokens`` then holds only the new ones)."""
        return self.text_head(self.decoder(self.embed_text(tokens), lengths, memory, memory_lengths, cache))

    def decode_speech(
        self,
        mels: torch.Tensor,
        lengths: torch.Tensor,
        memory: torch.Tensor,
        memory_lengths: torch.Tensor,
        alignments: list[torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Teacher-forced mel frames: inputs (batch, steps, n_mels * reduction) -> mel, post-net mel, stop logits
        (``alignments`` receives the decoder's cross-attention probabilities, as in ``TransformerDecoder``)."""
        states = self.decoder(self.speech_prenet(mels), lengths, memory, memory_lengths, alignments=alignments)
        return self.speech_head(states, lengths)

    def decode_speech_parallel(
        self, memory: torch.Tensor, memory_lengths: torch.Tensor, durations: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """All mel frames at once (FastSpeech-like): each text state repeated for its ``durations`` (in decoder
        steps of ``speech_reduction`` frames, zero for padded tokens) is the decoder's input, which attends to all
        steps and to ``memory``. Returns mel and post-net mel (batch, steps * reduction, n_mels) and step counts."""
        inputs, lengths = self.length_regulator(memory, durations)
        states = self.decoder(inputs, lengths, memory, memory_lengths, causal=False)
        mel, post, _ = self.speech_head(states, lengths)
        return mel, post, lengths


def part_parameters(model: ALPModel) -> dict[str, int]:
    """Parameter count of each top-level part (tied weights counted once, with their owner)."""
    counts, seen = {}, set()
    for name, module in model.named_children():
        params = [p for p in module.parameters() if id(p) not in seen]
        seen.update(id(p) for p in params)
        counts[name] = sum(p.numel() for p in params)
    return counts


MODEL_CONFIG, WEIGHTS = "model.yaml", "model.safetensors"  # a trained model's files (experiments and packages)


def load_model(directory: str | Path, device: str | torch.device = "cpu") -> ALPModel:
    """The trained model of an experiment or package ``directory`` (its ``model.yaml`` and ``model.safetensors``),
    in eval mode. Parts the weights lack (a model from before alptk had them) start afresh, and the log says so."""
    directory = Path(directory)
    for name in (MODEL_CONFIG, WEIGHTS):
        if not (directory / name).is_file():
            raise DataError(f"no {name}: not a trained model (train it first)", directory)
    model = ALPModel(from_dict(ModelConfig, load_yaml(directory / MODEL_CONFIG), str(directory / MODEL_CONFIG)))
    try:
        tensors = safetensors.torch.load_file(str(directory / WEIGHTS))
    except (OSError, safetensors.SafetensorError) as err:
        raise DataError(f"unreadable weights ({err})", directory / WEIGHTS) from None
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    if unexpected:
        raise DataError(f"{WEIGHTS} has tensors this model does not, e.g. {unexpected[0]}", directory)
    if missing:
        log(f"{directory}: {WEIGHTS} lacks {', '.join(sorted({k.split('.')[0] for k in missing}))}: they start afresh")
    return model.to(device).eval()
