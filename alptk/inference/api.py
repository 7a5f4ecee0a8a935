"""The Python API: a trained model (an experiment directory or a zoo package) run on a user's recordings and texts,
returning plain Python objects.

    from alptk.inference.api import Speech2Text
    asr = Speech2Text.from_pretrained("hf:alptk/mini-asr", beam=5)
    print(asr("meeting.flac").text)

Recognition and translation go through the search ``alptk decode`` uses, with the batching it uses and the features
stage 3 computes, so a recording gives the hypothesis its feature directory would.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence

from alptk.config import from_dict, load_yaml
from alptk.data.datasets import collate
from alptk.data.fbank import FbankExtractor
from alptk.errors import DataError
from alptk.inference.audio import (
    OVERLAP_SECONDS,
    WINDOW_SECONDS,
    AudioInput,
    PieceDataset,
    Windowing,
    merge_windows,
    plan,
    token_frames,
    utterance_ids,
)
from alptk.inference.decode import DecodeOptions, batches, load_language_model
from alptk.inference.decode import transcribe as search_dataset
from alptk.inference.experiment import (
    DECODE_DEFAULTS,
    Experiment,
    default_device,
    load_experiment,
    model_directory,
    require_task,
)
from alptk.inference.generation import generate_mels, mel_to_waveform
from alptk.models.alignment import ctc_align
from alptk.progress import progress_bar

Audio = str | Path | np.ndarray | AudioInput


@dataclass
class Transcription:
    """The best hypothesis for a recording: its text, tokens, score (the search's joint log-probability, per token
    when length-normalized; the windows' mean for a long recording) and the recording's duration."""

    text: str
    tokens: list[str]
    score: float
    seconds: float
    utt: str = ""
    path: str = ""


@dataclass
class Speech:
    """Synthesized speech: mono float32 samples in [-1, 1] at ``sample_rate``."""

    waveform: np.ndarray
    sample_rate: int


@dataclass
class Failure:
    """An input that could not be run: its id, the file it is in, and why (a one-line ``DataError``)."""

    utt: str
    error: DataError
    path: str = ""

    def __str__(self) -> str:
        return str(self.error)


# loading


def package_options(directory: Path, overrides: dict[str, Any]) -> DecodeOptions:
    """A model's decoding options: its ``decode.yaml`` (``DecodeOptions`` keys, packed with a package; a relative
    ``lm: lm`` is the language model packed in its ``lm/``), then ``overrides``."""
    file = directory / DECODE_DEFAULTS
    data: dict[str, Any] = dict(load_yaml(file) or {}) if file.is_file() else {}
    for key in ("lm", "transcriber"):
        if isinstance(data.get(key), str) and not Path(data[key]).is_absolute():
            data[key] = str(directory / data[key])
    data.update({k: str(v) if isinstance(v, Path) else v for k, v in overrides.items()})
    data["allow_pipes"] = False
    return from_dict(DecodeOptions, data, str(file) if file.is_file() else "decoding options")


def load(source: str | Path, device: str | None, options: dict[str, Any]) -> tuple[Experiment, DecodeOptions]:
    """The model of ``source`` on ``device`` (default: cuda when available) and its decoding options."""
    directory = model_directory(source)
    exp = load_experiment(directory, device or default_device())
    return exp, package_options(directory, options)


def as_inputs(audios: Sequence[Audio], rate: int | None = None) -> list[AudioInput]:
    """Inputs of paths (named by :func:`alptk.inference.audio.utterance_ids`), arrays (at ``rate``, default the
    model's; named ``audio<N>``) and :class:`AudioInput` as they are."""
    if isinstance(audios, str | Path | np.ndarray | AudioInput):
        raise TypeError("expected a list of recordings")
    ids = iter(utterance_ids([a for a in audios if isinstance(a, str | Path)]))
    inputs = []
    for n, audio in enumerate(audios, 1):
        if isinstance(audio, AudioInput):
            inputs.append(audio)
        elif isinstance(audio, str | Path):
            inputs.append(AudioInput(next(ids), str(audio)))
        else:
            samples = audio.numpy() if isinstance(audio, torch.Tensor) else np.asarray(audio)
            inputs.append(AudioInput(f"audio{n}", samples=samples, rate=rate))
    return inputs


# recognition and translation


class Speech2Text:
    """Speech recognition (an asr model) or translation (st) of recordings in any format, rate and channel count.

    A recording longer than ``window`` seconds (default: a quarter more than the longest utterance the model heard
    in training, else 30 s) is cut, for recognition, into windows overlapping by ``overlap`` seconds (default: 5 s,
    at most a quarter of the window), whose hypotheses are merged where each window is surest (CTC forced alignment
    places the tokens); translation refuses a recording over 30 s."""

    def __init__(
        self,
        exp: Experiment,
        options: DecodeOptions | None = None,
        window: float | None = None,
        overlap: float | None = None,
    ):
        self.command = "translate" if exp.task == "st" else "transcribe"
        require_task(exp, ("asr", "st"), "Speech2Text")
        self.exp, self.options = exp, options or DecodeOptions()
        self.lm = load_language_model(self.options, exp)
        split = exp.task == "asr"
        if window is None:  # what the model heard, and a quarter more: cutting speech costs more than a longer input
            window = math.ceil(12.5 * exp.longest_input) / 10 if split and exp.longest_input else WINDOW_SECONDS
        overlap = min(OVERLAP_SECONDS, window / 4) if overlap is None else overlap
        self.windowing = Windowing(window, overlap, split=split, command=self.command)
        self.extractor = FbankExtractor(exp.features)
        self._pieces = exp.tokenizer.tokens

    @classmethod
    def from_pretrained(
        cls,
        source: str | Path,
        device: str | None = None,
        window: float | None = None,
        overlap: float | None = None,
        **options: Any,
    ) -> Speech2Text:
        """An asr or st model: an experiment directory or anything ``alptk.zoo.store.fetch`` accepts. ``options``
        are ``DecodeOptions`` fields (beam, ctc_weight, lm, lm_weight, batch_frames, ...), over the package's
        ``decode.yaml``; ``lm=None`` leaves out a packaged language model."""
        exp, decode_options = load(source, device, options)
        return cls(exp, decode_options, window, overlap)

    @property
    def sample_rate(self) -> int:
        return self.exp.features.sample_rate

    def __call__(self, audio: str | Path | np.ndarray, sample_rate: int | None = None) -> Transcription:
        """The best hypothesis for one recording: a file, or samples (frames,) or (frames, channels) at
        ``sample_rate`` (default: the model's). A recording it cannot take raises a ``DataError``."""
        (result,) = self.transcribe(as_inputs([audio], sample_rate), desc=None)
        if isinstance(result, Failure):
            raise result.error
        return result

    def transcribe(self, inputs: Sequence[Audio], desc: str | None = "") -> Iterator[Transcription | Failure]:
        """A :class:`Transcription` or a :class:`Failure` for each input, in order: batched by length
        (``options.batch_frames``) as ``alptk decode`` batches a feature directory, features computed a batch at a
        time. ``desc`` names the progress bar (default: the command)."""
        audios = as_inputs(inputs, self.sample_rate)
        exp, options = self.exp, self.options
        shortest = exp.model.frontend.shortest_input()
        pieces, failures, seconds = plan(audios, self.extractor, shortest, self.windowing, self.command)
        dataset = PieceDataset(audios, pieces, self.extractor, options.batch_frames, self.command)
        description = desc or f"{self.command} {len(audios)} recordings"
        found = search_dataset(exp, dataset, options, exp.start, description, self.lm) if pieces else {}
        failures.update(dataset.failures)
        by_source: dict[int, list[int]] = defaultdict(list)
        for index, piece in enumerate(pieces):
            by_source[piece.source].append(index)
        windowed = [i for s, indices in by_source.items() if len(indices) > 1 and s not in failures for i in indices]
        positions = self._token_positions(dataset, windowed, found)
        for source, audio in enumerate(audios):
            if source in failures:
                yield Failure(audio.utt, failures[source], audio.path)
                continue
            indices = by_source[source]
            best = [found[dataset.utts[i]][0] for i in indices]
            if len(indices) == 1:
                tokens = best[0].tokens
            else:
                spans = [pieces[i].keep for i in indices]
                tokens = merge_windows([(h.tokens, positions[i]) for h, i in zip(best, indices, strict=True)], spans)
            yield Transcription(
                exp.tokenizer.decode(tokens),
                [self._pieces[t] for t in tokens],
                sum(h.score for h in best) / len(best),
                seconds[source],
                audio.utt,
                audio.path,
            )

    @torch.inference_mode()
    def _token_positions(self, dataset: PieceDataset, windowed: list[int], found: dict) -> dict[int, list[float]]:
        """Where (samples into the recording) each token of each window's best hypothesis is: the frame where a CTC
        forced alignment of it first emits the token."""
        model, device = self.exp.model, self.exp.device
        shift = self.extractor.config.window_shift
        positions: dict[int, list[float]] = {}
        for batch in batches([dataset.lengths[i] for i in windowed], self.options.batch_frames) if windowed else []:
            indices = [windowed[b] for b in batch]
            dataset.load(indices)
            inputs = collate([dataset[i] for i in indices]).to(device)
            memory, memory_lengths = model.encode_speech(inputs.feats, inputs.feat_lengths)
            hyps = [found[dataset.utts[i]][0].tokens for i in indices]
            frame_tokens, scores = None, None
            if model.has_head("ctc_head") and any(hyps):
                tokens = pad_sequence([torch.tensor(h or [0]) for h in hyps], batch_first=True).to(device)
                token_lengths = torch.tensor([len(h) for h in hyps], device=device)
                frame_tokens, scores = ctc_align(model.ctc_head(memory), memory_lengths, tokens, token_lengths)
            for k, (i, hyp) in enumerate(zip(indices, hyps, strict=True)):
                frames = int(memory_lengths[k])
                aligned = scores is not None and bool(torch.isfinite(scores[k]))
                found_frames = token_frames(frame_tokens[k] if aligned else None, len(hyp), frames, aligned)
                per_frame = int(inputs.feat_lengths[k]) / max(frames, 1) * shift  # samples per encoder frame
                positions[i] = [dataset.pieces[i].start + f * per_frame for f in found_frames]
        return positions


# synthesis


class Text2Speech:
    """Speech synthesis (a tts model): mel frames, then Griffin-Lim (``options.griffin_lim_iterations``) at the
    rate of the model's features."""

    def __init__(self, exp: Experiment, options: DecodeOptions | None = None):
        require_task(exp, ("tts",), "Text2Speech")
        self.exp, self.options = exp, options or DecodeOptions()
        self.extractor = FbankExtractor(exp.features)

    @classmethod
    def from_pretrained(cls, source: str | Path, device: str | None = None, **options: Any) -> Text2Speech:
        """A tts model: an experiment directory or anything ``alptk.zoo.store.fetch`` accepts; ``options`` are
        ``DecodeOptions`` fields (griffin_lim_iterations, tts_stop_threshold, batch_frames, ...)."""
        exp, decode_options = load(source, device, options)
        return cls(exp, decode_options)

    @property
    def sample_rate(self) -> int:
        return self.exp.features.sample_rate

    def __call__(self, text: str) -> Speech:
        """Speech saying ``text``; text the model cannot say raises a ``DataError``."""
        (result,) = self.synthesize([text], desc=None)
        if isinstance(result, Failure):
            raise result.error
        return result

    def tokens(self, text: str) -> list[int]:
        """The token ids of ``text``; a ``DataError`` naming the characters the tokenizer makes ``<unk>``."""
        tokenizer = self.exp.tokenizer
        text = " ".join(text.split())
        if not text:
            raise DataError("empty text: nothing to say")
        ids = tokenizer.encode(text)
        if tokenizer.unk_id in ids:
            unknown = [c for c in dict.fromkeys(text) if not c.isspace() and tokenizer.unk_id in tokenizer.encode(c)]
            shown = " ".join(repr(c) for c in unknown) or repr(text)
            raise DataError(f"characters the model's tokenizer does not know (it would read <unk>): {shown}")
        return ids

    def synthesize(
        self, texts: Sequence[str], file: Path | None = None, lines: Sequence[int] | None = None, desc: str | None = ""
    ) -> list[Speech | Failure]:
        """Speech for each text, or a :class:`Failure` (named ``file:line`` when given); batched by length as
        ``alptk decode`` batches a text table."""
        exp, options, model = self.exp, self.options, self.exp.model
        lines = list(lines) if lines is not None else list(range(1, len(texts) + 1))
        results: list[Speech | Failure | None] = [None] * len(texts)
        tokens: dict[int, list[int]] = {}
        for i, text in enumerate(texts):
            try:
                tokens[i] = self.tokens(text)
            except DataError as err:
                where = DataError(err.reason, file, lines[i]) if file else DataError(err.reason, utt=f"text {lines[i]}")
                results[i] = Failure(f"{lines[i]:04d}", where, str(file or ""))
        order = list(tokens)
        parallel = exp.objective["type"] == "fastspeech"
        description = None if desc is None else desc or f"synthesizing {len(order)} texts"
        with progress_bar(description, len(order)) as advance:
            for batch in batches([len(tokens[i]) * 20 for i in order], options.batch_frames) if order else []:
                indices = [order[b] for b in batch]
                inputs = collate([(str(i), None, tokens[i]) for i in indices]).to(exp.device)
                mels = generate_mels(
                    model, inputs.tokens, inputs.token_lengths, parallel, options.tts_max_frames_per_token,
                    options.tts_stop_threshold,
                )  # fmt: skip
                for i, mel in zip(indices, mels, strict=True):
                    wave, _ = mel_to_waveform(model, mel, self.extractor, options.griffin_lim_iterations)
                    results[i] = Speech(wave.numpy(), self.sample_rate)
                advance(len(indices))
        return results


# speech-text matching


class SpeechTextMatcher:
    """A pre-trained model's matching embeddings: speech and text in one space (unit length), for zero-shot
    retrieval. A recording longer than ``max_seconds`` is refused."""

    def __init__(self, exp: Experiment, options: DecodeOptions | None = None, max_seconds: float = WINDOW_SECONDS):
        require_task(exp, ("pretrain",), "SpeechTextMatcher")
        self.exp, self.options = exp, options or DecodeOptions()
        self.windowing = Windowing(max_seconds, 0.0, split=False, command="embed")
        self.extractor = FbankExtractor(exp.features)

    @classmethod
    def from_pretrained(
        cls, source: str | Path, device: str | None = None, max_seconds: float = WINDOW_SECONDS, **options: Any
    ) -> SpeechTextMatcher:
        """A pre-trained model: an experiment directory or anything ``alptk.zoo.store.fetch`` accepts."""
        exp, decode_options = load(source, device, options)
        return cls(exp, decode_options, max_seconds)

    def embed_speech(self, audios: Sequence[Audio], sample_rate: int | None = None) -> np.ndarray:
        """(recordings, dim) unit-length embeddings; a recording it cannot take raises a ``DataError``."""
        _, vectors, failures = self.speech_embeddings(audios, sample_rate, desc=None)
        if failures:
            raise failures[0].error
        return vectors

    @torch.inference_mode()
    def speech_embeddings(
        self, audios: Sequence[Audio], sample_rate: int | None = None, desc: str | None = ""
    ) -> tuple[list[AudioInput], np.ndarray, list[Failure]]:
        """The recordings embedded (in order), their embeddings, and the failures."""
        model, device = self.exp.model, self.exp.device
        inputs = as_inputs(audios, sample_rate)
        pieces, failures, _ = plan(inputs, self.extractor, model.frontend.shortest_input(), self.windowing, "embed")
        dataset = PieceDataset(inputs, pieces, self.extractor, self.options.batch_frames, "embed")
        vectors: dict[int, torch.Tensor] = {}
        description = None if desc is None else desc or f"embedding {len(inputs)} recordings"
        with progress_bar(description, len(pieces)) as advance:
            for batch in batches(dataset.lengths, self.options.batch_frames) if pieces else []:
                speech = collate([dataset[i] for i in batch]).to(device)
                memory, memory_lengths = model.encode_speech(speech.feats, speech.feat_lengths)
                found = model.match_speech(memory, memory_lengths).float().cpu()
                vectors.update((pieces[i].source, v) for i, v in zip(batch, found, strict=True))
                advance(len(batch))
        failures.update(dataset.failures)
        done = [i for i in range(len(inputs)) if i not in failures]
        matrix = torch.stack([vectors[i] for i in done]).numpy() if done else np.zeros((0, self.dim), np.float32)
        failed = [Failure(inputs[i].utt, failures[i], inputs[i].path) for i in sorted(failures)]
        return [inputs[i] for i in done], matrix, failed

    @torch.inference_mode()
    def embed_text(self, texts: Sequence[str]) -> np.ndarray:
        """(texts, dim) unit-length embeddings; an empty text raises a ``DataError``."""
        model, device = self.exp.model, self.exp.device
        tokens = []
        for n, text in enumerate(texts, 1):
            ids = self.exp.tokenizer.encode(" ".join(text.split()))
            if not ids:
                raise DataError("empty text: nothing to embed", utt=f"text {n}")
            tokens.append(ids)
        found: dict[int, torch.Tensor] = {}
        for batch in batches([len(t) * 20 for t in tokens], self.options.batch_frames) if tokens else []:
            inputs = collate([(str(i), None, tokens[i]) for i in batch]).to(device)
            embedded = model.match_text(inputs.tokens, inputs.token_lengths).float().cpu()
            found.update(zip(batch, embedded, strict=True))
        if not tokens:
            return np.zeros((0, self.dim), np.float32)
        return torch.stack([found[i] for i in range(len(tokens))]).numpy()

    def match(self, audios: Sequence[Audio], texts: Sequence[str]) -> np.ndarray:
        """(recordings, texts) cosine similarities."""
        return self.embed_speech(audios) @ self.embed_text(texts).T

    @property
    def dim(self) -> int:
        return self.exp.model.config.matching_dim
