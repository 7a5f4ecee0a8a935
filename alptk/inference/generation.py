"""Speech generation: mel frames, autoregressive (stop token) or all at once from predicted durations, and their
waveforms."""

from __future__ import annotations

import torch

from alptk.data.fbank import FbankExtractor, kaldi_scale
from alptk.data.vocoder import fbank_to_waveform
from alptk.models.layers import padding_mask
from alptk.models.model import ALPModel


@torch.inference_mode()
def generate_speech(
    model: ALPModel, memory: torch.Tensor, memory_lengths: torch.Tensor, max_frames: int, stop_threshold: float = 0.5
) -> list[torch.Tensor]:
    """Autoregressive mel generation (TTS) from text encoder states: each decoder step predicts
    ``speech_reduction`` CMVN-normalized frames from the previous step's (zeros first), until the stop probability
    passes ``stop_threshold`` or ``max_frames``; the post-net then refines the whole sequence. Returns
    (frames, n_mels) per utterance."""
    reduction, n_mels, batch = model.config.speech_reduction, model.config.n_mels, len(memory)
    previous = memory.new_zeros(batch, 1, n_mels * reduction)
    ends = torch.full((batch,), -1, dtype=torch.long)
    cache, states = model.decoder.new_cache(), []
    for step in range(-(-max_frames // reduction)):
        state = model.decoder(model.speech_prenet(previous), None, memory, memory_lengths, cache)
        states.append(state)
        stops = (torch.sigmoid(model.speech_head.stop(state[:, 0])) > stop_threshold).cpu()  # (batch, reduction)
        first = torch.where(stops.any(dim=1), stops.int().argmax(dim=1) + 1, -1)
        ends = torch.where((ends < 0) & (first > 0), step * reduction + first, ends)
        if (ends > 0).all():
            break
        previous = model.speech_head.mel(state)
    ends = torch.where(ends > 0, ends, len(states) * reduction).to(memory.device)
    _, post, _ = model.speech_head(torch.cat(states, dim=1), -(-ends // reduction))
    return [post[i, : ends[i]] for i in range(batch)]


@torch.inference_mode()
def generate_speech_parallel(model: ALPModel, memory: torch.Tensor, memory_lengths: torch.Tensor) -> list[torch.Tensor]:
    """Non-autoregressive mel generation (a ``fastspeech`` TTS model): the duration predictor says how many decoder
    steps each token lasts (at least one), and the decoder makes every frame at once. Returns (frames, n_mels) per
    utterance."""
    valid = padding_mask(memory_lengths, memory.shape[1])
    durations = torch.expm1(model.duration_predictor(memory, memory_lengths)).round().clamp(min=1).long()
    _, post, lengths = model.decode_speech_parallel(memory, memory_lengths, durations.masked_fill(~valid, 0))
    reduction = model.config.speech_reduction
    return [post[i, : lengths[i] * reduction] for i in range(len(memory))]


@torch.inference_mode()
def generate_mels(
    model: ALPModel,
    tokens: torch.Tensor,
    token_lengths: torch.Tensor,
    parallel: bool,
    max_frames_per_token: float,
    stop_threshold: float,
) -> list[torch.Tensor]:
    """Mel frames (CMVN-normalized) for a batch of token sequences: all at once from predicted durations
    (``parallel``, a fastspeech model), else autoregressively, at most ``max_frames_per_token`` frames a token."""
    memory = model.encode_text(tokens, token_lengths)
    if parallel:
        return generate_speech_parallel(model, memory, token_lengths)
    max_frames = int(max_frames_per_token * int(token_lengths.max()))
    return generate_speech(model, memory, token_lengths, max_frames, stop_threshold)


def mel_to_waveform(
    model: ALPModel, mel: torch.Tensor, extractor: FbankExtractor, iterations: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples of generated mel frames (Griffin-Lim with ``iterations``, at the rate of ``extractor``'s features),
    brought back to the mel's level, and the log mel they were made from."""
    cmvn = model.frontend.cmvn
    log_mel = (mel * cmvn.std + cmvn.mean).float().cpu()
    wave = fbank_to_waveform(log_mel, extractor.config, iterations)
    feats = extractor([kaldi_scale(wave)])[0]
    gain = float(torch.exp((log_mel[: len(feats)].mean() - feats.mean()) / 2))
    return (wave * gain).clamp(-1, 1), log_mel
