"""``alptk decode``, ``alptk score`` and ``alptk results``: from a trained experiment to a results table."""

from __future__ import annotations

from pathlib import Path

import typer

from alptk.cli.options import AllowPipes


def decode(
    exp: Path = typer.Option(..., help="Trained experiment directory."),
    data: Path = typer.Option(..., help="Feature dir (asr, st, retrieval) or data dir with text (tts)."),
    out: Path = typer.Option(..., help="Output directory (e.g. EXP/decode_test_beam10)."),
    beam: int = typer.Option(10, help="Beam size (1: greedy)."),
    ctc_weight: float = typer.Option(0.3, help="Weight of CTC prefix scores in joint CTC/attention search."),
    lm: Path = typer.Option(None, help="asr, st: fuse this language model experiment (task lm) into the search."),
    lm_weight: float = typer.Option(0.3, help="Weight of the language model's log-probabilities (with --lm)."),
    nbest: int = typer.Option(1, help="Hypotheses per utterance written to OUT/nbest."),
    batch_frames: int = typer.Option(20000, help="Padded input frames per batch."),
    asr_exp: Path = typer.Option(None, help="tts: transcribe the synthesized speech with this ASR experiment."),
    fs: int = typer.Option(16000, help="tts: sample rate of the synthesized audio (the features' rate)."),
    device: str = typer.Option(None, help="cpu, cuda or cuda:N (default: cuda when available)."),
    allow_pipes: bool = AllowPipes,
) -> None:
    """Decode a data directory as the experiment's task says: text hypotheses (asr, st), audio (tts), or
    matching embeddings (a pre-trained model: zero-shot retrieval). Writes OUT/decode.yaml with the real-time factor.

    Example: alptk decode --exp exp/asr --data dump/fbank/test --out exp/asr/decode_test_beam10
    """
    from alptk.inference import DecodeOptions, decode_dir
    from alptk.progress import log

    options = DecodeOptions(
        beam=beam,
        ctc_weight=ctc_weight,
        lm=None if lm is None else str(lm),
        lm_weight=lm_weight,
        nbest=nbest,
        batch_frames=batch_frames,
        sample_rate=fs,
        allow_pipes=allow_pipes,
    )
    if device is None:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    info = decode_dir(exp, data, out, options, device, asr_exp)
    log(f"{out}: {info['utterances']} utterances in {info['decode_seconds']:.1f} s (real-time factor {info['rtf']})")


def score(
    decode_dir: Path = typer.Argument(..., help="What alptk decode wrote."),
    ref: Path = typer.Option(..., help="Data dir with the references (text, text.fr; feats.scp for MCD)."),
    normalize: bool = typer.Option(False, help="Lowercase and drop punctuation before WER/CER."),
    allow_pipes: bool = AllowPipes,
) -> None:
    """Score a decode directory: WER/CER (asr), BLEU/chrF (st), intelligibility CER and MCD (tts), or retrieval
    recall (pre-trained). Writes DECODE_DIR/result.json, result.md and alignments.

    Example: alptk score exp/asr/decode_test_beam10 --ref dump/fbank/test
    """
    from alptk.progress import log
    from alptk.results import score_decode_dir

    result = score_decode_dir(decode_dir, ref, normalize, allow_pipes)
    log(f"{decode_dir}: " + ", ".join(f"{k} {v}" for k, v in result["scores"].items()))


def results(
    exps: list[Path] = typer.Argument(..., help="Experiment directories, in table order."),
    out: Path = typer.Option(Path("RESULTS.md"), help="Markdown file; the same figures go to its .json twin."),
) -> None:
    """Gather experiments' training figures and scored decodes into RESULTS.md and RESULTS.json.

    Example: alptk results exp/pretrain exp/asr exp/st --out RESULTS.md
    """
    from alptk.progress import log
    from alptk.results import write_results

    data = write_results(exps, out)
    log(f"{out}: {len(data['systems'])} systems")
