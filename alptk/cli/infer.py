"""``alptk transcribe``, ``translate``, ``synthesize``, ``embed`` and ``retrieve``: a trained model or a zoo package
run on a user's own recordings and texts. An input that fails is one line on stderr, the others go through, and the
command exits with status 2 at the end."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any

import typer

MODEL = typer.Argument(
    ..., help="Model: a package (directory, .tar.gz, http(s) URL, hf:owner/name, cached name) or experiment dir."
)
AUDIO = typer.Argument(None, help="Audio files: any format soundfile reads (wav, flac, ogg, ...), any rate, channels.")
SCP = typer.Option(None, "--scp", help="Kaldi wav.scp (`utt path` lines) of more recordings; its keys name them.")
DEVICE = typer.Option(None, help="cpu, cuda or cuda:N (default: cuda when available).")
BATCH_FRAMES = typer.Option(None, help="Padded fbank frames (synthesis: tokens x 20) per batch (default: 20000).")
BEAM = typer.Option(None, help="Beam size (1: greedy) (default: the package's decode.yaml, else 10).")
CTC_WEIGHT = typer.Option(None, help="Weight of CTC prefix scores in joint CTC/attention search.")
LM = typer.Option(None, "--lm", help="Fuse this language model (an lm experiment, or any zoo source) into the search.")
NO_LM = typer.Option(False, "--no-lm", help="Leave out the language model the package decodes with.")
LM_WEIGHT = typer.Option(None, help="Weight of the language model's log-probabilities.")
OUT = typer.Option(None, "--out", "-o", help="Write the hypotheses here (default: standard output).")
MAX_SECONDS = typer.Option(30.0, "--max-seconds", help="Longest recording taken, in seconds: cut longer ones first.")


class OutputFormat(str, Enum):
    text = "text"  # just the text, one line per input in order (an empty line for one that failed)
    kaldi = "kaldi"  # `utt text`, a Kaldi text table
    jsonl = "jsonl"  # {"utt", "path", "text", "score", "seconds"}; {"utt", "path", "error"} for a failure


FORMAT = typer.Option(
    OutputFormat.text,
    "--format",
    help="text: one hypothesis per line, in input order; kaldi: `utt text` lines; jsonl: {utt, path, text, score, "
    "seconds} (a failed input: {utt, path, error}).",
)


def transcribe(
    model: str = MODEL,
    audio: list[Path] = AUDIO,
    scp: Path = SCP,
    beam: int = BEAM,
    ctc_weight: float = CTC_WEIGHT,
    lm: str = LM,
    no_lm: bool = NO_LM,
    lm_weight: float = LM_WEIGHT,
    batch_frames: int = BATCH_FRAMES,
    window: float = typer.Option(
        None,
        help="Seconds heard at once; longer recordings are cut into windows (default: 1.25 x the longest "
        "utterance the model was trained on, else 30).",
    ),
    overlap: float = typer.Option(
        None, help="Seconds by which windows overlap (default: 5, at most a window quarter)."
    ),
    device: str = DEVICE,
    output_format: OutputFormat = FORMAT,
    out: Path = OUT,
) -> None:
    """Transcribe recordings with a speech recognition (asr) model: any audio format, rate and channel count, long
    recordings in overlapping windows. Prints the real-time factor to stderr at the end.

    Example: alptk transcribe hf:alptk/mini-asr meeting.flac call.wav --format jsonl
    """
    flags = {"beam": beam, "ctc_weight": ctc_weight, "lm": lm, "lm_weight": lm_weight, "batch_frames": batch_frames}
    _speech_to_text("transcribe", model, audio, scp, flags, no_lm, window, overlap, device, output_format, out)


def translate(
    model: str = MODEL,
    audio: list[Path] = AUDIO,
    scp: Path = SCP,
    beam: int = BEAM,
    ctc_weight: float = CTC_WEIGHT,
    lm: str = LM,
    no_lm: bool = NO_LM,
    lm_weight: float = LM_WEIGHT,
    batch_frames: int = BATCH_FRAMES,
    max_seconds: float = MAX_SECONDS,
    device: str = DEVICE,
    output_format: OutputFormat = FORMAT,
    out: Path = OUT,
) -> None:
    """Translate recordings with a speech translation (st) model: any audio format, rate and channel count, each
    recording heard whole (at most --max-seconds). Prints the real-time factor to stderr at the end.

    Example: alptk translate exp/st talk.wav --format kaldi -o talk.fr.txt
    """
    flags = {"beam": beam, "ctc_weight": ctc_weight, "lm": lm, "lm_weight": lm_weight, "batch_frames": batch_frames}
    _speech_to_text("translate", model, audio, scp, flags, no_lm, max_seconds, 0.0, device, output_format, out)


def _speech_to_text(
    command: str,
    model: str,
    audio: list[Path] | None,
    scp: Path | None,
    flags: dict[str, Any],
    no_lm: bool,
    window: float | None,
    overlap: float | None,
    device: str | None,
    output_format: OutputFormat,
    out: Path | None,
) -> None:
    import json
    import time

    from alptk.errors import AlptkError
    from alptk.inference.api import Failure, Speech2Text, load
    from alptk.inference.audio import audio_inputs
    from alptk.progress import log
    from alptk.tasks.base import check_command

    if no_lm and flags["lm"] is not None:
        raise AlptkError("--lm and --no-lm: choose one")
    options = {key: value for key, value in flags.items() if value is not None}
    if no_lm:
        options["lm"] = None
    inputs = audio_inputs(audio or [], scp)
    if not inputs:
        raise AlptkError(f"nothing to {command}: name audio files or a --scp wav.scp")
    started = time.perf_counter()
    exp, decode_options = load(model, device, options)
    check_command(exp, command)
    recognizer = Speech2Text(exp, decode_options, window, overlap)
    loaded = time.perf_counter()
    lines, failed, seconds = [], 0, 0.0
    for result in recognizer.transcribe(inputs):
        if isinstance(result, Failure):
            failed += 1
            _report(result)
            if output_format is OutputFormat.jsonl:
                lines.append(json.dumps({"utt": result.utt, "path": result.path, "error": str(result)}))
            elif output_format is OutputFormat.text:
                lines.append("")
            continue
        seconds += result.seconds
        if output_format is OutputFormat.text:
            lines.append(result.text)
        elif output_format is OutputFormat.kaldi:
            lines.append(f"{result.utt} {result.text}".rstrip())
        else:
            record = {"utt": result.utt, "path": result.path, "text": result.text}
            lines.append(json.dumps({**record, "score": result.score, "seconds": result.seconds}, ensure_ascii=False))
    _write_lines(lines, out)
    spent = time.perf_counter() - loaded
    log(
        f"{command}: {len(inputs) - failed} recordings, {seconds:.1f} s of audio in {spent:.1f} s: real-time factor "
        f"{spent / max(seconds, 1e-9):.4f} (model loaded in {loaded - started:.1f} s)"
    )
    _fail_if(failed, len(inputs), "recordings")


def synthesize(
    model: str = MODEL,
    text: str = typer.Argument(None, help="The text to say (or --text-file)."),
    text_file: Path = typer.Option(None, "--text-file", help="One sentence per line: OUT is then a directory."),
    out: Path = typer.Option(
        ..., "--out", "-o", help="A .wav (.flac, .ogg) file; with --text-file a directory of 0001.wav, ... by line."
    ),
    griffin_lim_iterations: int = typer.Option(None, help="Griffin-Lim iterations (default: 32)."),
    batch_frames: int = BATCH_FRAMES,
    device: str = DEVICE,
) -> None:
    """Say a text, or each line of a text file, with a speech synthesis (tts) model; audio at the rate of the
    model's features.

    Example: alptk synthesize exp/tts "hello world" -o hello.wav
    """
    from alptk.data.audio import write_audio
    from alptk.errors import AlptkError
    from alptk.inference.api import Failure, Text2Speech, load
    from alptk.progress import log
    from alptk.tasks.base import check_command

    if (text is None) == (text_file is None):
        raise AlptkError("give a text or --text-file (one of them)")
    flags = {"griffin_lim_iterations": griffin_lim_iterations, "batch_frames": batch_frames}
    exp, options = load(model, device, {k: v for k, v in flags.items() if v is not None})
    check_command(exp, "synthesize")
    synthesizer = Text2Speech(exp, options)
    if text is not None:
        speech = synthesizer(text)
        write_audio(out, speech.waveform, speech.sample_rate)
        log(f"{out}: {len(speech.waveform) / speech.sample_rate:.1f} s at {speech.sample_rate} Hz")
        return
    numbered = _read_lines(text_file)
    results = synthesizer.synthesize([t for _, t in numbered], text_file, [n for n, _ in numbered])
    out.mkdir(parents=True, exist_ok=True)
    width = max(4, len(str(numbered[-1][0] if numbered else 0)))
    failed = 0
    for (line, _), result in zip(numbered, results, strict=True):
        if isinstance(result, Failure):
            failed += 1
            _report(result)
        else:
            write_audio(out / f"{line:0{width}d}.wav", result.waveform, result.sample_rate)
    log(f"{out}: {len(numbered) - failed} wav files at {synthesizer.sample_rate} Hz")
    _fail_if(failed, len(numbered), "lines")


def embed(
    model: str = MODEL,
    audio: list[Path] = AUDIO,
    scp: Path = SCP,
    text_file: Path = typer.Option(None, "--text-file", help="Texts to embed too, one per line."),
    out: Path = typer.Option(..., "--out", "-o", help="The embeddings (.safetensors): speech and text matrices."),
    max_seconds: float = MAX_SECONDS,
    batch_frames: int = BATCH_FRAMES,
    device: str = DEVICE,
) -> None:
    """Matching embeddings (unit length, one space for speech and text) of recordings and texts with a pre-trained
    model: OUT holds `speech` (recordings x dim) and `text` (texts x dim), and in its metadata the recordings' ids
    (`utts`, space-separated) and the texts (`texts`, a JSON list).

    Example: alptk embed exp/pretrain a.wav b.wav --text-file captions.txt -o emb.safetensors
    """
    import json

    from alptk.errors import AlptkError
    from alptk.inference.audio import audio_inputs
    from alptk.progress import log
    from alptk.train.checkpoint import save_weights

    inputs = audio_inputs(audio or [], scp)
    texts = [t for _, t in _read_lines(text_file)] if text_file is not None else []
    if not inputs and not texts:
        raise AlptkError("nothing to embed: name audio files, a --scp wav.scp or a --text-file")
    matcher = _matcher(model, device, max_seconds, batch_frames, "embed")
    tensors, metadata, failed = {}, {}, 0
    if inputs:
        done, speech, failures = matcher.speech_embeddings(inputs)
        for failure in failures:
            _report(failure)
        failed = len(failures)
        if done:
            tensors["speech"] = _tensor(speech)
            metadata["utts"] = " ".join(audio.utt for audio in done)
    if texts:
        tensors["text"], metadata["texts"] = _tensor(matcher.embed_text(texts)), json.dumps(texts, ensure_ascii=False)
    if tensors:
        save_weights(out, tensors, metadata)
        log(f"{out}: " + ", ".join(f"{name} {tuple(t.shape)}" for name, t in tensors.items()))
    _fail_if(failed, len(inputs), "recordings")


def retrieve(
    model: str = MODEL,
    audio: list[Path] = AUDIO,
    audio_option: list[Path] = typer.Option(None, "--audio", help="An audio file (repeatable), or name them as AUDIO."),
    scp: Path = SCP,
    text_file: Path = typer.Option(..., "--text-file", help="The texts to choose from, one per line."),
    top: int = typer.Option(5, help="Texts shown per recording."),
    max_seconds: float = MAX_SECONDS,
    batch_frames: int = BATCH_FRAMES,
    device: str = DEVICE,
) -> None:
    """For each recording, the texts of --text-file that match it best by a pre-trained model's embeddings:
    `utt rank score text` lines (cosine similarity), best first.

    Example: alptk retrieve exp/pretrain --audio dog.wav --audio rain.wav --text-file captions.txt --top 3
    """
    from alptk.errors import AlptkError
    from alptk.inference.audio import audio_inputs

    if top < 1:
        raise AlptkError(f"--top must be at least 1, got {top}")
    inputs = audio_inputs([*(audio or []), *(audio_option or [])], scp)
    texts = [t for _, t in _read_lines(text_file)]
    if not inputs or not texts:
        raise AlptkError("retrieve needs recordings (files, --audio or --scp) and a --text-file with texts")
    matcher = _matcher(model, device, max_seconds, batch_frames, "retrieve")
    done, speech, failures = matcher.speech_embeddings(inputs)
    for failure in failures:
        _report(failure)
    similarity = speech @ matcher.embed_text(texts).T
    for recording, scores in zip(done, similarity, strict=True):
        for rank, index in enumerate(scores.argsort()[::-1][:top], 1):
            typer.echo(f"{recording.utt} {rank} {scores[index]:.4f} {texts[index]}")
    _fail_if(len(failures), len(inputs), "recordings")


def _matcher(model: str, device: str | None, max_seconds: float, batch_frames: int | None, command: str):
    from alptk.inference.api import SpeechTextMatcher, load
    from alptk.tasks.base import check_command

    exp, options = load(model, device, {"batch_frames": batch_frames} if batch_frames is not None else {})
    check_command(exp, command)
    return SpeechTextMatcher(exp, options, max_seconds)


def _tensor(matrix):
    import torch

    return torch.from_numpy(matrix)


def _read_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of the non-blank lines of a UTF-8 text file."""
    from alptk.errors import DataError

    try:
        with open(path, encoding="utf-8") as f:
            return [(n, " ".join(line.split())) for n, line in enumerate(f, 1) if line.strip()]
    except UnicodeDecodeError as err:
        raise DataError(f"not valid UTF-8 ({err.reason})", path) from None


def _report(failure) -> None:
    """One line on stderr for an input that failed."""
    from alptk.progress import console

    console.print(f"error: {failure}", markup=False, highlight=False, soft_wrap=True)


def _write_lines(lines: list[str], out: Path | None) -> None:
    from alptk.files import write_text

    if out is None:
        for line in lines:
            typer.echo(line)
    else:
        write_text(out, "".join(f"{line}\n" for line in lines))


def _fail_if(failed: int, total: int, what: str) -> None:
    from alptk.errors import AlptkError

    if failed:
        raise AlptkError(f"{failed} of {total} {what} failed (see above)")
