"""Running a trained experiment over a data directory, as its task says: recognition or translation (beam
search), synthesis (mel generation, Griffin-Lim, and optionally an ASR model's transcription of the result),
or, for a pre-trained model, matching embeddings for retrieval. Writes Kaldi-style outputs and ``decode.yaml``."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import kaldiio
import torch
import yaml

from alptk.config import check_limits
from alptk.data.audio import write_audio
from alptk.data.batching import BucketBatchSampler
from alptk.data.datasets import SpeechDataset, TextDataset, collate
from alptk.data.fbank import FbankConfig, FbankExtractor, kaldi_scale
from alptk.data.kaldi_dir import KaldiDir
from alptk.data.sources import read_matrix
from alptk.data.table import id_path
from alptk.data.tokenizer import BOS
from alptk.data.vocoder import fbank_to_waveform
from alptk.decoding import Hypothesis, beam_search, generate_speech, generate_speech_parallel, greedy_search
from alptk.errors import ConfigError
from alptk.files import tmp_name, write_text
from alptk.models.model import ALPModel
from alptk.plots import plot_spectrograms
from alptk.progress import log, progress_bar
from alptk.results import DECODE_INFO, EMBEDDINGS
from alptk.train.checkpoint import Experiment, load_experiment, save_weights
from alptk.train.config import task_objective
from alptk.train.data import FRAME_SHIFT


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
    sample_rate: int = 16000
    allow_pipes: bool = False  # read Kaldi pipe values of the data directory (they run shell commands)

    def __post_init__(self) -> None:
        positive = ("beam", "nbest", "max_length_ratio", "batch_frames", "tts_max_frames_per_token", "sample_rate")
        at_least_zero = ("ctc_weight", "lm_weight", "griffin_lim_iterations", "spectrograms")
        check_limits(self, {**dict.fromkeys(positive, "> 0"), **dict.fromkeys(at_least_zero, ">= 0")}, "decode")


def objective_spec(exp: Experiment) -> tuple[dict[str, Any], str]:
    """The options of the objective the experiment's task decodes with (its ``type`` filled in) and the text field
    of its stream."""
    name = task_objective(exp.config, str(exp.path))
    spec = {"type": name, **exp.config.objectives[name]}
    return spec, exp.config.streams[spec["stream"]].fields[0]


def batches(lengths: list[int], limit: int) -> list[list[int]]:
    return BucketBatchSampler(lengths, max(limit, max(lengths)), shuffle=False).epoch_batches(0)


def decode_dir(exp_dir: Path, data: Path, out: Path, options: DecodeOptions, device: str, asr_exp: Path | None):
    """Decode ``data`` with experiment ``exp_dir`` into ``out``; returns what ``decode.yaml`` records."""
    exp = load_experiment(exp_dir, device)
    if exp.config.task == "lm":
        raise ConfigError(f"{exp_dir} is a language model: decode an asr or st experiment with --lm {exp_dir}")
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    if exp.config.task in ("asr", "st"):
        info = recognize(exp, data, out, options)
    elif exp.config.task == "tts":
        info = synthesize(exp, data, out, options, asr_exp)
    else:
        info = embed(exp, data, out, options)
    seconds = time.perf_counter() - start
    info = {"task": exp.config.task, "exp": str(exp_dir), "data": str(data), "device": str(device), **info}
    info.update(decode_seconds=round(seconds, 2), rtf=round(seconds / max(info["audio_seconds"], 1e-9), 4))
    info["options"] = asdict(options)
    write_text(out / DECODE_INFO, yaml.safe_dump(info, sort_keys=False))
    return info


def load_language_model(options: DecodeOptions, exp: Experiment) -> ALPModel | None:
    """The model of ``options.lm`` (an ``lm`` experiment with ``exp``'s token list), None without one."""
    if options.lm is None:
        return None
    lm = load_experiment(Path(options.lm), next(exp.model.parameters()).device)
    if lm.config.task != "lm":
        raise ConfigError(f"--lm {options.lm}: a language model experiment (task lm) is needed, not {lm.config.task}")
    if lm.tokenizer.tokens != exp.tokenizer.tokens:
        raise ConfigError(f"--lm {options.lm} has another token list than {exp.path}")
    return lm.model


@torch.inference_mode()
def transcribe(exp: Experiment, dataset: SpeechDataset, options: DecodeOptions, start: int, desc: str):
    """Hypotheses for every utterance of ``dataset``: {utt: [Hypothesis, ...]} (n-best, best first)."""
    device = next(exp.model.parameters()).device
    lm = load_language_model(options, exp)
    shortest = next(n for n in range(1, 100) if exp.model.frontend.subsampled(n) > 0)
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
    spec, field = objective_spec(exp)
    start = exp.tokenizer.token_id(spec.get("start_token", BOS))
    dataset = SpeechDataset(data, allow_pipes=options.allow_pipes)
    results = transcribe(exp, dataset, options, start, f"decoding {data}")
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
    return {"reference_field": field, "utterances": len(dataset), "audio_seconds": sum(dataset.lengths) * FRAME_SHIFT}


def synthesize(exp: Experiment, data: Path, out: Path, options: DecodeOptions, asr_exp: Path | None):
    """Mel frames for every sentence of ``data``, Griffin-Lim waveforms (``wav/``, ``wav.scp``), their fbank
    (``feats.scp``, what intelligibility and MCD are measured on), and spectrogram PNGs."""
    spec, field = objective_spec(exp)
    parallel = spec["type"] == "fastspeech"
    dataset = TextDataset(data, exp.tokenizer, field, options.allow_pipes)
    model, device = exp.model, next(exp.model.parameters()).device
    fbank = FbankConfig(sample_rate=options.sample_rate, num_mel_bins=model.config.n_mels)
    extractor = FbankExtractor(fbank)
    cmvn = model.frontend.cmvn
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
            with torch.inference_mode():
                memory = model.encode_text(batch.tokens, batch.token_lengths)
                if parallel:
                    mels = generate_speech_parallel(model, memory, batch.token_lengths)
                else:
                    max_frames = int(options.tts_max_frames_per_token * int(batch.token_lengths.max()))
                    mels = generate_speech(model, memory, batch.token_lengths, max_frames, options.tts_stop_threshold)
            for utt, mel in zip(batch.utts, mels, strict=True):
                log_mel = (mel * cmvn.std + cmvn.mean).float().cpu()
                wave = fbank_to_waveform(log_mel, fbank, options.griffin_lim_iterations)
                feats = extractor([kaldi_scale(wave)])[0]
                gain = float(torch.exp((log_mel[: len(feats)].mean() - feats.mean()) / 2))  # back to the mel's level
                wave = (wave * gain).clamp(-1, 1)
                path = id_path(out / "wav", utt, ".wav")
                write_audio(path, wave.numpy(), options.sample_rate)
                feats = extractor([kaldi_scale(wave)])[0]
                writer(utt, feats.numpy())
                tables["utt2num_frames"][utt] = str(len(feats))
                tables["wav.scp"][utt], tables["utt2spk"][utt] = str(path.resolve()), utt
                tables["text"][utt] = source[field][utt]
                generated_seconds += len(wave) / options.sample_rate
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
    info = {"utterances": len(dataset), "audio_seconds": generated_seconds, "reference_field": field}
    if asr_exp is not None:
        recognizer = load_experiment(asr_exp, device)
        (out / "asr").mkdir(exist_ok=True)
        recognize(recognizer, out, out / "asr", replace(options, nbest=1))  # as the ASR system's own decoding
        info["asr_exp"] = str(asr_exp)
    return info


@torch.inference_mode()
def embed(exp: Experiment, data: Path, out: Path, options: DecodeOptions) -> dict[str, Any]:
    """Matching embeddings of every utterance's speech and text (a pre-trained model; zero-shot retrieval)."""
    dataset = SpeechDataset(data, exp.tokenizer, "text", options.allow_pipes)
    model, device = exp.model, next(exp.model.parameters()).device
    speech, text, utts = [], [], []
    for batch_indices in batches(dataset.lengths, options.batch_frames):
        batch = collate([dataset[i] for i in batch_indices]).to(device)
        memory, memory_lengths = model.encode_speech(batch.feats, batch.feat_lengths)
        speech.append(model.speech_matching(memory, memory_lengths).float().cpu())
        encoded = model.encode_text(batch.tokens, batch.token_lengths)
        text.append(model.text_matching(encoded, batch.token_lengths).float().cpu())
        utts += batch.utts
    tensors = {"speech": torch.cat(speech), "text": torch.cat(text)}
    save_weights(out / EMBEDDINGS, tensors, {"utts": " ".join(utts)})
    return {"utterances": len(utts), "audio_seconds": sum(dataset.lengths) * FRAME_SHIFT}
