"""``alptk decode``, ``alptk score`` and ``alptk results``: from a trained experiment to a results table."""

from __future__ import annotations

from pathlib import Path

import typer

from alptk.cli.options import AllowPipes


def decode(
    exp: Path = typer.Option(..., help="Trained experiment or model package directory."),
    data: Path = typer.Option(..., help="Feature dir (asr, st, retrieval) or data dir with text (tts)."),
    out: Path = typer.Option(
        None, help="Output directory (default: EXP/decode_<data>_<options>, e.g. decode_test_beam10_ctc0.3)."
    ),
    config: Path = typer.Option(None, help="Decoding options (YAML; the keys of alptk.inference.DecodeOptions)."),
    overrides: list[str] = typer.Argument(None, help="Option overrides after the config, e.g. beam=20 nbest=5."),
    beam: int = typer.Option(None, help="Beam size (1: greedy; default 10)."),
    ctc_weight: float = typer.Option(None, help="Weight of CTC prefix scores in joint CTC/attention search."),
    lm: str = typer.Option(None, help="asr, st: fuse this language model (an lm experiment or zoo source) in."),
    lm_weight: float = typer.Option(None, help="Weight of the language model's log-probabilities (with --lm)."),
    transcriber: Path = typer.Option(None, help="tts: transcribe the synthesized speech with this ASR model."),
    device: str = typer.Option(None, help="cpu, cuda or cuda:N (default: cuda when available)."),
    allow_pipes: bool = AllowPipes,
) -> None:
    """Decode a data directory as the model's task says: text hypotheses (asr, st), audio (tts), or matching
    embeddings (a pre-trained model: zero-shot retrieval). Writes OUT/decode.yaml with the options and the
    real-time factor; decodings with other options go to other directories.

    Example: alptk decode --exp exp/asr --data dump/fbank/test --config conf/decode.yaml --lm exp/lm
    """
    from alptk.config import load_config
    from alptk.errors import AlptkError
    from alptk.inference.decode import DecodeOptions
    from alptk.inference.experiment import default_device
    from alptk.progress import log
    from alptk.tasks.evaluate import decode_dir, decode_name
    from alptk.zoo.store import MANIFEST

    flags = {"beam": beam, "ctc_weight": ctc_weight, "lm": lm, "lm_weight": lm_weight, "transcriber": transcriber}
    given = [f"{key}={value}" for key, value in flags.items() if value is not None]
    options = load_config(DecodeOptions, config, [*(overrides or []), *given, f"allow_pipes={allow_pipes}"])
    if out is None:
        if (exp / MANIFEST).is_file():
            raise AlptkError(f"{exp} is a package, which stays as packed: give --out for the decoding")
        out = exp / decode_name(exp, data, options)
    info = decode_dir(exp, data, out, options, device or default_device())
    log(f"{out}: {info['utterances']} utterances in {info['decode_seconds']:.1f} s (real-time factor {info['rtf']})")


def score(
    decode_dirs: list[Path] = typer.Argument(..., help="What alptk decode wrote (one or more directories)."),
    ref: Path = typer.Option(
        None, help="Data dir with the references (text, text.fr; feats.scp for MCD); default: the data it decoded."
    ),
    normalize: bool = typer.Option(False, help="Lowercase and drop punctuation before WER/CER."),
    allow_pipes: bool = AllowPipes,
) -> None:
    """Score decode directories: WER/CER (asr), BLEU/chrF (st), intelligibility CER and MCD (tts), or retrieval
    recall (pre-trained). Writes result.json, result.md and alignments in each.

    Example: alptk score exp/asr/decode_test_beam10_ctc0.3
    """
    from alptk.progress import log
    from alptk.tasks.evaluate import score_dir

    for decode_dir in decode_dirs:
        result = score_dir(decode_dir, ref, normalize, allow_pipes)
        log(f"{decode_dir}: " + ", ".join(f"{k} {v}" for k, v in result["scores"].items()))


def results(
    exps: list[Path] = typer.Argument(..., help="Experiment directories, in table order."),
    out: Path = typer.Option(Path("RESULTS.md"), help="Markdown file; the same figures go to its .json twin."),
    curve: list[Path] = typer.Option(
        None,
        help="A system of the labelled-data curve (repeat the option): pre-trained or from scratch (init null), "
        "paired by the utterances of their paired training streams; drawn in OUT's .curve.png twin.",
    ),
) -> None:
    """Gather experiments' training figures and scored decodes into RESULTS.md and RESULTS.json, with a
    labelled-data curve of the --curve systems: their first error rate (WER for ASR) against labelled utterances.

    Example: alptk results exp/pretrain exp/asr --curve exp/curve120_pretrained --curve exp/curve120_scratch
    """
    from alptk.progress import log
    from alptk.scoring.results import write_results

    data = write_results(exps, out, curve)
    points = f", a labelled-data curve of {len(data['curve']['rows'])} points" if "curve" in data else ""
    log(f"{out}: {len(data['systems'])} systems{points}")
