"""Text to (CMVN-normalized) fbank frames through the decoder and speech head; both objectives take L1 + L2 on the
frames before and after the post-net.

``tts`` is autoregressive and teacher-forced: BCE on the stop token, and a guided-attention loss that pulls the
decoder's cross-attention towards the diagonal (Tachibana et al., 2018): without it, minutes of training learn to
continue the previous frames rather than to read the text, and generation never stops. It needs thousands of
updates before free-running generation holds together.

``fastspeech`` makes all frames at once (Ren et al., 2019): each token's text state, repeated for as many decoder
steps as the token lasts, is the decoder's input. The durations come from CTC forced alignment of the paired speech
by an ASR model (``aligner``: an experiment with the same token list, or the model being trained when it is one);
a duration predictor learns them for synthesis. With nothing to align, it learns in hundreds of updates."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from alptk.data.datasets import Batch
from alptk.data.tokenizer import Tokenizer
from alptk.errors import ConfigError
from alptk.models.alignment import ctc_align
from alptk.models.layers import padding_mask
from alptk.models.model import ALPModel, load_model
from alptk.objectives.base import OBJECTIVES, Objective


@dataclass
class TTSConfig:
    stop_weight: float = 1.0
    stop_pos_weight: float = 5.0  # the stop frame is one of many
    guided_attention_weight: float = 1.0
    guided_attention_sigma: float = 0.4  # width of the diagonal band, as a share of both lengths


@OBJECTIVES.register("tts")
class TextToSpeech(Objective):
    Config = TTSConfig
    stream = "paired"
    heads = ("speech_prenet", "speech_head")
    tasks = ("tts",)

    def forward(self, model: ALPModel, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        frames, valid, step_lengths = target_frames(model, batch)
        batch_size, steps = len(frames), frames.shape[1] // model.config.speech_reduction
        inputs = F.pad(frames.view(batch_size, steps, -1)[:, :-1], (0, 0, 1, 0))  # previous step's frames
        memory = model.encode_text(batch.tokens, batch.token_lengths)
        alignments: list[torch.Tensor] = []
        mel, post, stop = model.decode_speech(inputs, step_lengths, memory, batch.token_lengths, alignments)
        spectral, l1 = spectral_loss(mel, post, frames, valid)
        lengths = batch.feat_lengths
        stop_target = (torch.arange(frames.shape[1], device=lengths.device)[None, :] >= (lengths - 1)[:, None]).float()
        stop_loss = F.binary_cross_entropy_with_logits(
            stop[valid], stop_target[valid], pos_weight=stop.new_tensor(self.config.stop_pos_weight)
        )
        sigma = self.config.guided_attention_sigma
        guided = guided_attention_loss(alignments, step_lengths, batch.token_lengths, sigma)
        loss = spectral + self.config.stop_weight * stop_loss + self.config.guided_attention_weight * guided
        metrics = {"spectral": spectral.detach(), "stop": stop_loss.detach(), "guided_attention": guided.detach()}
        return loss, {**metrics, "l1": l1}


@dataclass
class FastSpeechConfig:
    aligner: str | None = None  # an ASR experiment whose CTC aligns tokens to frames; None: the model itself
    duration_weight: float = 1.0


@OBJECTIVES.register("fastspeech")
class ParallelTextToSpeech(Objective):
    Config = FastSpeechConfig
    stream = "paired"
    heads = ("speech_head", "duration_predictor", "length_regulator")
    tasks = ("tts",)

    def __init__(self, model: ALPModel, config: FastSpeechConfig, tokenizer: Tokenizer):
        super().__init__(model, config, tokenizer)
        self.aligners: list[ALPModel] = []  # a list keeps the aligner out of the trained (and saved) modules
        self.known: dict[str, torch.Tensor] = {}  # a frozen aligner's durations of each utterance seen
        if config.aligner is not None:
            if Tokenizer(Path(config.aligner) / "tokenizer").tokens != tokenizer.tokens:
                raise ConfigError(f"fastspeech aligner {config.aligner} has another token list than this training")
            self.aligners.append(load_model(config.aligner).requires_grad_(False))
            if not self.aligners[0].has_head("ctc_head"):
                raise ConfigError(f"fastspeech aligner {config.aligner} has no CTC head: give an ASR (s2t) experiment")

    @classmethod
    def needed_heads(cls, config: FastSpeechConfig) -> tuple[str, ...]:
        return cls.heads + (("ctc_head",) if config.aligner is None else ())  # the model aligns itself

    def forward(self, model: ALPModel, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        frames, valid, step_lengths = target_frames(model, batch)
        durations = self.token_durations(model, batch, step_lengths)
        memory = model.encode_text(batch.tokens, batch.token_lengths)
        mel, post, _ = model.decode_speech_parallel(memory, batch.token_lengths, durations)
        spectral, l1 = spectral_loss(mel, post, frames, valid)
        tokens = padding_mask(batch.token_lengths, memory.shape[1])
        predicted = model.duration_predictor(memory, batch.token_lengths)
        duration = F.mse_loss(predicted[tokens], torch.log1p(durations[tokens].float()))
        loss = spectral + self.config.duration_weight * duration
        return loss, {"spectral": spectral.detach(), "duration": duration.detach(), "l1": l1}

    def token_durations(self, model: ALPModel, batch: Batch, step_lengths: torch.Tensor) -> torch.Tensor:
        """:meth:`durations` by the aligner, each utterance's computed once (a frozen aligner's do not change), or
        by the model being trained."""
        if not self.aligners:
            return self.durations(batch, step_lengths, model)
        if any(utt not in self.known for utt in batch.utts):
            found = self.durations(batch, step_lengths, self.aligners[0]).cpu()
            lengths = batch.token_lengths.tolist()
            self.known.update((u, d[:n]) for u, d, n in zip(batch.utts, found, lengths, strict=True))
        known = [self.known[utt] for utt in batch.utts]
        return nn.utils.rnn.pad_sequence(known, batch_first=True).to(step_lengths.device)

    @torch.no_grad()
    def durations(self, batch: Batch, step_lengths: torch.Tensor, aligner: ALPModel) -> torch.Tensor:
        """Decoder steps of each token (batch, tokens), summing to ``step_lengths``: a token lasts from the frame
        where CTC emits it to the frame where it emits the next one (leading and trailing blanks join the first and
        last token). Utterances CTC cannot align (too short) get even durations."""
        aligner.to(batch.feats.device)
        memory, lengths = aligner.encode_speech(batch.feats, batch.feat_lengths)
        frame_tokens, scores = ctc_align(aligner.ctc_head(memory), lengths, batch.tokens, batch.token_lengths)
        count, token_lengths = batch.tokens.shape[1], batch.token_lengths
        frame_index = torch.arange(frame_tokens.shape[1], device=lengths.device).expand_as(frame_tokens)
        starts = torch.full((len(lengths), count + 1), frame_tokens.shape[1], device=lengths.device)
        starts = starts.scatter_reduce(1, frame_tokens.where(frame_tokens >= 0, count), frame_index, "amin")
        even = torch.arange(count, device=lengths.device) * lengths[:, None] // token_lengths.clamp(min=1)[:, None]
        starts = torch.where(torch.isfinite(scores)[:, None], starts[:, :count], even)
        starts[:, 0] = 0
        bounds = torch.cat([starts.minimum(lengths[:, None]), lengths[:, None]], dim=1)  # padded tokens: at the end
        bounds = (bounds * (step_lengths / lengths.clamp(min=1))[:, None]).round().long()  # in decoder steps
        return bounds.diff(dim=1)


def target_frames(model: ALPModel, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The batch's CMVN-normalized fbank, zero-padded to whole decoder steps (batch, steps * reduction, n_mels), its
    valid frames, and each utterance's number of decoder steps."""
    r = model.config.speech_reduction
    frames, lengths = model.frontend.cmvn(batch.feats), batch.feat_lengths
    steps = -(-frames.shape[1] // r)
    frames = F.pad(frames, (0, 0, 0, steps * r - frames.shape[1]))
    valid = padding_mask(lengths, steps * r)
    return frames.masked_fill(~valid[..., None], 0.0), valid, -(-lengths // r)


def spectral_loss(
    mel: torch.Tensor, post: torch.Tensor, frames: torch.Tensor, valid: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """L1 + L2 of the frames before and after the post-net, and the post-net's L1 alone (detached)."""
    target = frames[valid]
    spectral = sum(F.l1_loss(m[valid], target) + F.mse_loss(m[valid], target) for m in (mel, post))
    return spectral, F.l1_loss(post[valid], target).detach()


def guided_attention_loss(
    alignments: list[torch.Tensor], step_lengths: torch.Tensor, token_lengths: torch.Tensor, sigma: float
) -> torch.Tensor:
    """Mean attention mass off the diagonal: each (batch, heads, steps, tokens) probability is weighted by
    1 - exp(-(step/steps - token/tokens)^2 / (2 sigma^2)), summed over tokens, averaged over valid steps."""
    steps, tokens = alignments[0].shape[-2:]
    device = step_lengths.device
    position = torch.arange(steps, device=device)[None, :, None] / step_lengths[:, None, None]
    token = torch.arange(tokens, device=device)[None, None, :] / token_lengths[:, None, None]
    penalty = 1 - torch.exp(-((position - token) ** 2) / (2 * sigma**2))  # (batch, steps, tokens)
    valid = padding_mask(step_lengths, steps)
    # (batch, layers, heads, steps): the expected penalty of each step's attention
    off_diagonal = torch.stack([(a * penalty[:, None]).sum(dim=-1) for a in alignments], dim=1)
    per_step = off_diagonal[0, ..., 0].numel()  # layers x heads
    return off_diagonal.masked_fill(~valid[:, None, None], 0.0).sum() / (valid.sum() * per_step)
