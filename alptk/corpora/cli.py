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



# librispeech: command here


# ljspeech: command here


# aishell: command here


# mustc: command here
