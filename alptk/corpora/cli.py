"""``alptk data prepare <corpus>``: the corpus preparation functions as commands."""

from __future__ import annotations

from pathlib import Path

import typer

from alptk.cli.options import Jobs
from alptk.corpora import aishell, librispeech, ljspeech, mustc
from alptk.corpora.fsdd import prepare_fsdd
from alptk.corpora.mini_synth.prepare import SIZES, prepare_mini_synth
from alptk.progress import log

app = typer.Typer(help="Prepare a corpus as Kaldi data directories.", no_args_is_help=True)


@app.command("fsdd")
def fsdd(
    corpus_dir: Path = typer.Option(..., help="The free-spoken-digit-dataset checkout (or its recordings/)."),
    data_dir: Path = typer.Option(Path("data"), help="Where to write train, dev and test."),
) -> None:
    """Free Spoken Digit Dataset: train (takes 10-49), dev (takes 5-9) and the official test set (takes 0-4).

    Example: alptk data prepare fsdd --corpus-dir downloads/free-spoken-digit-dataset --data-dir data
    """
    for name, count in prepare_fsdd(corpus_dir, data_dir).items():
        log(f"{data_dir / name}: {count} utterances")


@app.command("mini-synth")
def mini_synth(
    data_dir: Path = typer.Option(Path("data"), help="Where to write the Kaldi directories."),
    audio_dir: Path = typer.Option(Path("downloads/mini_synth"), help="Where to write the synthesized audio."),
    size: str = typer.Option("default", help=f"Corpus size: {', '.join(SIZES)}."),
    seed: int = typer.Option(1, help="Seed: the same seed gives the same corpus."),
    nj: int = Jobs,
) -> None:
    """Synthesize the mini_synth corpus with eSpeak NG: train, train_low, dev, test, speech_only, text_only.

    Example: alptk data prepare mini-synth --size tiny --data-dir data --audio-dir downloads/mini_synth
    """
    for name, count in prepare_mini_synth(data_dir, audio_dir, size, seed, nj).items():
        log(f"{data_dir / name}: {count} utterances")


@app.command("librispeech")
def librispeech_command(
    corpus_dir: Path = typer.Option(
        ..., help="The directory the openslr.org/12 archives unpacked into (holding LibriSpeech/), or LibriSpeech/."
    ),
    data_dir: Path = typer.Option(Path("data"), help="Where to write the Kaldi directories."),
    subset: list[str] = typer.Option(
        list(librispeech.SUBSETS), help="A subset to prepare (repeat the option for several); default: all seven."
    ),
    lm_text: Path = typer.Option(None, help="librispeech-lm-norm.txt.gz (openslr.org/11), read gzipped: data/lm_text."),
    lm_text_fraction: float = typer.Option(1.0, help="Share of LM text lines kept, evenly spaced (0.1: each 10th)."),
) -> None:
    """LibriSpeech: a directory per subset (train_clean_100, ..., test_other); train_960, the three training subsets'
    speech without text; dev, dev_clean + dev_other; lm_text, the LM text (a text table only).

    Example: alptk data prepare librispeech --corpus-dir downloads --lm-text downloads/librispeech-lm-norm.txt.gz
    """
    counts = librispeech.prepare_librispeech(corpus_dir, data_dir, subset, lm_text, lm_text_fraction)
    for name, count in counts.items():
        log(f"{data_dir / name}: {count} utterances")


@app.command("ljspeech")
def ljspeech_command(
    corpus_dir: Path = typer.Option(..., help="The LJSpeech-1.1 directory (metadata.csv and wavs/)."),
    data_dir: Path = typer.Option(Path("data"), help="Where to write train, dev and test."),
    dev_size: int = typer.Option(250, help="Utterances held out for dev (ESPnet's split: 250)."),
    test_size: int = typer.Option(250, help="Utterances held out for test, the last in id order (ESPnet's: 250)."),
) -> None:
    """LJSpeech 1.1, one speaker: the last dev-size + test-size utterances in id order are dev then test, as in
    ESPnet's egs2/ljspeech/tts1; the text is the normalized field of metadata.csv.

    Example: alptk data prepare ljspeech --corpus-dir downloads/LJSpeech-1.1 --data-dir data
    """
    for name, count in ljspeech.prepare_ljspeech(corpus_dir, data_dir, dev_size, test_size).items():
        log(f"{data_dir / name}: {count} utterances")


@app.command("aishell")
def aishell_command(
    corpus_dir: Path = typer.Option(..., help="data_aishell (its speakers' archives extracted) or the folder above."),
    data_dir: Path = typer.Option(Path("data"), help="Where to write train, dev and test."),
    skip_unpaired: bool = typer.Option(
        False,
        help="Leave out audio without a transcript line and transcript lines without audio (listed in "
        "DATA_DIR/local/untranscribed.txt and no_audio.txt) instead of stopping at the first.",
    ),
) -> None:
    """AISHELL-1: the official train, dev and test speakers, transcripts without the spaces between words.

    Example: alptk data prepare aishell --corpus-dir downloads/data_aishell --data-dir data --skip-unpaired
    """
    for name, count in aishell.prepare_aishell(corpus_dir, data_dir, skip_unpaired).items():
        log(f"{data_dir / name}: {count} utterances")


@app.command("mustc")
def mustc_command(
    corpus_dir: Path = typer.Option(..., help="The folder holding en-<lang>/ (MUSTC_v1.0_en-<lang>.tar.gz unpacked)."),
    data_dir: Path = typer.Option(Path("data"), help="Where to write train, dev, tst-COMMON and tst-HE."),
    lang: str = typer.Option("de", help="The target language of the pair en-<lang>: its translations are text.<lang>."),
) -> None:
    """MuST-C v1, English TED talks with translations: each split's talks cut into the segments of its YAML file;
    ids, speakers and English text (lower case, no punctuation) as ESPnet's must_c recipes; translations as distributed.

    Example: alptk data prepare mustc --corpus-dir downloads --data-dir data --lang de
    """
    for name, count in mustc.prepare_mustc(corpus_dir, data_dir, lang).items():
        log(f"{data_dir / name}: {count} utterances")
