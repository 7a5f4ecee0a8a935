"""Running a trained model over a data directory: recognition or translation (beam search), synthesis (mel
generation and Griffin-Lim), or matching embeddings for retrieval; Kaldi-style outputs. The tasks (``alptk.tasks``)
say which of these a model gets, and write ``decode.yaml``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kaldiio
import torch

from alptk.config import check_limits
from alptk.data.audio import write_audio
from alptk.data.batching import BucketBatchSampler
from alptk.data.datasets import SpeechDataset, TextDataset, collate
from alptk.data.fbank import FbankExtractor, kaldi_scale
from alptk.data.kaldi_dir import KaldiDir
from alptk.data.sources import read_matrix
from alptk.data.table import id_path
from alptk.errors import ConfigError
from alptk.files import tmp_name, write_text
from alptk.inference.experiment import Experiment, load_experiment, model_directory
from alptk.inference.generation import generate_mels, mel_to_waveform
from alptk.inference.search import Hypothesis, beam_search, greedy_search
from alptk.models.model import ALPModel
from alptk.plots import plot_spectrograms
from alptk.progress import log, progress_bar
from alptk.train.checkpoint import save_weights

DECODE_INFO = "decode.yaml"  # what a decoding was: model, data, options, real-time factor
EMBEDDINGS = "embeddings.safetensors"


@dataclass
class DecodeOptions:
    beam: int = 10  # 1: greedy search
    ctc_weight: float = 0.3
    nbest: int = 1
    max_length_ratio: float = 1.0  # output tokens per encoder frame, at most
    length_normalized: bool = True
    lm: str | None = None  # an ``lm`` experiment fused into the search (shallow fusion)
    lm_weight: float = 0.3
    batch_frames: int = 20000  # padded input frames (or tokens x 20 for synthesis) per batch
    tts_max_frames_per_token: float = 30.0  # autoregressive TTS only
    tts_stop_threshold: float = 0.5
    griffin_lim_iterations: int = 32
    spectrograms: int = 4  # PNGs of the first utterances' reference and generated spectrograms
    transcriber: str | None = None  # tts: an ASR model (experiment or package) that transcribes the speech made
    allow_pipes: bool = False  # read Kaldi pipe values of the data directory (they run shell commands)

    def __post_init__(self) -> None:
        positive = ("beam", "nbest", "max_length_ratio", "batch_frames", "tts_max_frames_per_token")
        at_least_zero = ("ctc_weight", "lm_weight", "griffin_lim_iterations", "spectrograms")
        check_limits(self, {**dict.fromkeys(positive, "> 0"), **dict.fromkeys(at_least_zero, ">= 0")}, "decode")


def batches(lengths: list[int], limit: int) -> list[list[int]]:
    return BucketBatchSampler(lengths, max(limit, max(lengths)), shuffle=False).epoch_batches(0)


def load_language_model(options: DecodeOptions, exp: Experiment) -> ALPModel | None:
    """The model of ``options.lm`` (an ``lm`` experiment or any zoo source of one, with ``exp``'s token list), None
    without one."""
    if options.lm is None:
        return None
    lm = load_experiment(model_directory(options.lm), exp.device)
    if lm.task != "lm":
        raise ConfigError(f"--lm {options.lm}: a language model experiment (task lm) is needed, not {lm.task}")
    if lm.tokenizer.tokens != exp.tokenizer.tokens:
        raise ConfigError(f"--lm {options.lm} has another token list than {exp.path}")
    return lm.model


@torch.inference_mode()
def transcribe(
    exp: Experiment, dataset: SpeechDataset, options: DecodeOptions, start: int, desc: str | None, lm: ALPModel | None
) -> dict[str, list[Hypothesis]]:
    """Hypotheses for every utterance of ``dataset``: {utt: [Hypothesis, ...]} (n-best, best first), with ``lm``
    (:func:`load_language_model`) fused in; ``desc`` names the progress bar (None: no bar)."""
    device = exp.device
    shortest = exp.model.frontend.shortest_input()
    decodable = [i for i, n in enumerate(dataset.lengths) if n >= shortest]
    too_short = sorted(set(range(len(dataset))) - set(decodable))
    results = {dataset.utts[i]: [Hypothesis([], 0.0)] for i in too_short}
    if too_short:
        example = dataset.utts[too_short[0]]
        log(f"{len(too_short)} utterances shorter than {shortest} frames get empty hypotheses, e.g. {example}")
    with progress_bar(desc, len(dataset)) as advance:
        for positions in batches([dataset.lengths[i] for i in decodable], options.batch_frames) if decodable else []:
            batch_indices = [decodable[i] for i in positions]
            batch = collate([dataset[i] for i in batch_indices]).to(device)
            memory, memory_lengths = exp.model.encode_speech(batch.feats, batch.feat_lengths)
            common = {
                "ctc_weight": options.ctc_weight,
                "max_length_ratio": options.max_length_ratio,
                "lm": lm,
                "lm_weight": options.lm_weight,
            }
            eos = exp.tokenizer.eos_id
            if options.beam == 1:
                found = greedy_search(exp.model, memory, memory_lengths, start, eos, **common)
                hyps = [[h] for h in found]
            else:
                hyps = beam_search(
                    exp.model, memory, memory_lengths, start, eos, beam=options.beam, nbest=options.nbest,
                    length_normalized=options.length_normalized, **common,
                )  # fmt: skip
            results.update(zip(batch.utts, hyps, strict=True))
            advance(len(batch_indices))
    return {utt: results[utt] for utt in dataset.utts}


def recognize(exp: Experiment, data: Path, out: Path, options: DecodeOptions) -> dict[str, Any]:
    dataset = SpeechDataset(data, allow_pipes=options.allow_pipes)
    results = transcribe(exp, dataset, options, exp.start, f"decoding {data}", load_language_model(options, exp))
    decode = exp.tokenizer.decode
    write_text(out / "text", "".join(f"{u} {decode(h[0].tokens)}".rstrip() + "\n" for u, h in results.items()))
    write_text(out / "score", "".join(f"{u} {h[0].score:.4f}\n" for u, h in results.items()))
    if options.nbest > 1:
        lines = (
            f"{u} {rank} {h.score:.4f} {decode(h.tokens)}\n"
            for u, hs in results.items()
            for rank, h in enumerate(hs, 1)
        )
        write_text(out / "nbest", "".join(lines))
    seconds = float(sum(dataset.lengths)) * exp.frame_shift
    return {"reference_field": exp.field, "utterances": len(dataset), "audio_seconds": seconds}


def synthesize(exp: Experiment, data: Path, out: Path, options: DecodeOptions) -> dict[str, Any]:
    """Mel frames for every sentence of ``data``, Griffin-Lim waveforms (``wav/``, ``wav.scp``) at the rate of the
    model's features, their fbank (``feats.scp``, what intelligibility and MCD are measured on), and spectrogram
    PNGs."""
    parallel = exp.objective["type"] == "fastspeech"
    dataset = TextDataset(data, exp.tokenizer, exp.field, options.allow_pipes)
    model, device, fbank = exp.model, exp.device, exp.features
    extractor = FbankExtractor(fbank)
    source = KaldiDir.load(data, options.allow_pipes).tables
    reference = source.get("feats.scp", {})
    tables: dict[str, dict[str, str]] = {"wav.scp": {}, "text": {}, "utt2spk": {}, "utt2num_frames": {}}
    (out / "wav").mkdir(exist_ok=True)
    generated_seconds = 0.0
    partial_scp = tmp_name(out / "feats.scp")  # feats.scp appears (atomically, with the tables) when all is done
    with (
        kaldiio.WriteHelper(f"ark,scp:{out}/feats.ark,{partial_scp}") as writer,
        progress_bar(f"synthesizing {data}", len(dataset)) as advance,
    ):
        for batch_indices in batches([n * 20 for n in dataset.lengths], options.batch_frames):
            batch = collate([dataset[i] for i in batch_indices]).to(device)
            mels = generate_mels(
                model, batch.tokens, batch.token_lengths, parallel, options.tts_max_frames_per_token,
                options.tts_stop_threshold,
            )  # fmt: skip
            for utt, mel in zip(batch.utts, mels, strict=True):
                wave, log_mel = mel_to_waveform(model, mel, extractor, options.griffin_lim_iterations)
                path = id_path(out / "wav", utt, ".wav")
                write_audio(path, wave.numpy(), fbank.sample_rate)
                feats = extractor([kaldi_scale(wave)])[0]
                writer(utt, feats.numpy())
                tables["utt2num_frames"][utt] = str(len(feats))
                tables["wav.scp"][utt], tables["utt2spk"][utt] = str(path.resolve()), utt
                tables["text"][utt] = source[exp.field][utt]
                generated_seconds += len(wave) / fbank.sample_rate
                if len(tables["wav.scp"]) <= options.spectrograms:
                    panels = [("generated", log_mel.numpy())]
                    if utt in reference:
                        expected = read_matrix(reference[utt], options.allow_pipes, data / "feats.scp", utt=utt)
                        panels.insert(0, ("reference", expected))
                    plot_spectrograms(id_path(out / "spectrograms", utt, ".png"), panels)
            advance(len(batch_indices))
    tables["feats.scp"] = dict(line.split(maxsplit=1) for line in partial_scp.read_text().splitlines())
    partial_scp.unlink()
    KaldiDir(tables).save(out)
    return {"utterances": len(dataset), "audio_seconds": generated_seconds, "reference_field": exp.field}


@torch.inference_mode()
def embed(exp: Experiment, data: Path, out: Path, options: DecodeOptions) -> dict[str, Any]:
    """Matching embeddings of every utterance's speech and text (a pre-trained model; zero-shot retrieval)."""
    dataset = SpeechDataset(data, exp.tokenizer, exp.field, options.allow_pipes)
    model, device = exp.model, exp.device
    speech, text, utts = [], [], []
    for batch_indices in batches(dataset.lengths, options.batch_frames):
        batch = collate([dataset[i] for i in batch_indices]).to(device)
        memory, memory_lengths = model.encode_speech(batch.feats, batch.feat_lengths)
        speech.append(model.match_speech(memory, memory_lengths).float().cpu())
        text.append(model.match_text(batch.tokens, batch.token_lengths).float().cpu())
        utts += batch.utts
    tensors = {"speech": torch.cat(speech), "text": torch.cat(text)}
    save_weights(out / EMBEDDINGS, tensors, {"utts": " ".join(utts)})
    return {"utterances": len(utts), "audio_seconds": float(sum(dataset.lengths)) * exp.frame_shift}
