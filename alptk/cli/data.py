"""``alptk data``: Kaldi data directories (validate, fix, subset, combine, split, format, prepare) and corpus
downloads."""

from __future__ import annotations

from pathlib import Path

import typer

from alptk.cli.options import AllowPipes, Into, Jobs, source_targets
from alptk.corpora.cli import app as prepare_app
from alptk.corpora.download import download as download_file
from alptk.data.formatting import format_dir
from alptk.data.kaldi_dir import combine_dirs, fix_dir, split_dir, subset_dir, validate_dir
from alptk.errors import AlptkError
from alptk.progress import log

app = typer.Typer(help="Kaldi-style data directories.", no_args_is_help=True)
app.add_typer(prepare_app, name="prepare")


@app.command()
def validate(
    data_dir: Path,
    fs: int = typer.Option(None, help="Declared sample rate: every recording must have it."),
    audio: bool = typer.Option(True, help="Open every audio and feature file (--no-audio checks tables only)."),
    allow_pipes: bool = AllowPipes,
    max_problems: int = typer.Option(100, help="Print at most this many problems."),
) -> None:
    """Check a data directory; print each problem as `file:line: utterance: what is wrong`.

    Example: alptk data validate data/train --fs 16000
    """
    problems = validate_dir(data_dir, check_audio=audio, fs=fs, allow_pipes=allow_pipes)
    for problem in problems[:max_problems]:
        print(problem)
    if problems:
        shown = f" (first {max_problems} shown)" if len(problems) > max_problems else ""
        raise AlptkError(f"{data_dir}: {len(problems)} problem{'s' if len(problems) > 1 else ''}{shown}")
    log(f"{data_dir}: valid")


@app.command()
def fix(data_dir: Path) -> None:
    """Sort tables, keep utterances present in every table, rebuild spk2utt; originals go to DIR/.backup.

    Example: alptk data fix data/train
    """
    report = fix_dir(data_dir)
    for line in report.lines():
        log(f"{data_dir}: {line}")


@app.command()
def subset(
    src: Path,
    dst: Path,
    first: int = typer.Option(None, help="The first N utterances (in sorted order)."),
    random: int = typer.Option(None, "--random", help="N utterances drawn at random."),
    seed: int = typer.Option(0, help="Seed for --random."),
    utt_list: Path = typer.Option(None, help="A file whose first column lists the utterances to keep."),
) -> None:
    """Write a subset of a data directory.

    Example: alptk data subset data/train data/train_1k --random 1000 --seed 1
    """
    result = subset_dir(src, dst, first=first, random_n=random, seed=seed, utt_list=utt_list)
    log(f"{dst}: {len(result.utterances)} utterances")


@app.command()
def combine(dst: Path, srcs: list[Path]) -> None:
    """Merge data directories with the same tables and distinct utterance ids.

    Example: alptk data combine data/train_all data/train_clean data/train_other
    """
    result = combine_dirs(srcs, dst)
    log(f"{dst}: {len(result.utterances)} utterances from {len(srcs)} directories")


@app.command()
def split(
    data_dir: Path,
    nj: int = typer.Option(..., help="Number of parts."),
    per_utt: bool = typer.Option(False, help="Split by utterance instead of by speaker."),
) -> None:
    """Split into DIR/split<nj>/<1..nj> (by speaker, as Kaldi does, or --per-utt).

    Example: alptk data split data/train --nj 8
    """
    for path in split_dir(data_dir, nj, per_utt=per_utt):
        log(f"{path}")


@app.command("format")
def format_audio(
    paths: list[Path] = typer.Argument(..., help="SRC DST, or with --into the source directories."),
    into: Path = Into,
    fs: int = typer.Option(16000, help="Output sample rate."),
    audio_format: str = typer.Option("wav", help="Output format: wav, flac or ogg."),
    speed_perturb: str = typer.Option("", help="Comma-separated speed factors, e.g. 0.9,1.0,1.1."),
    nj: int = Jobs,
    allow_pipes: bool = AllowPipes,
) -> None:
    """Resample, downmix to mono, cut segments and speed-perturb into one audio file per utterance.

    Example: alptk data format data/train dump/raw/train --fs 16000 --speed-perturb 0.9,1.0,1.1 --nj 4
    or, for several sets: alptk data format data/dev data/test --into dump/raw --fs 16000 --nj 4
    """
    try:
        factors = tuple(float(f) for f in speed_perturb.split(",")) if speed_perturb else (1.0,)
    except ValueError:
        raise AlptkError(f"--speed-perturb: expected numbers like 0.9,1.0,1.1, got '{speed_perturb}'") from None
    for src, dst in source_targets(paths, into):
        result = format_dir(src, dst, fs, audio_format, factors, nj, allow_pipes)
        log(f"{dst}: {len(result.utterances)} utterances at {fs} Hz")


@app.command()
def download(
    url: str = typer.Argument(..., help="An http(s):// or file:// URL, or the path of a local copy."),
    directory: Path = typer.Option(..., "--dir", help="Where the file goes, as DIR/<its file name>."),
    md5: str = typer.Option(None, help="The file's md5 (32 hex digits): checked before the file gets its name."),
    extract: bool = typer.Option(False, help="Unpack the archive into DIR (.tar, .tar.gz, .tgz, .tar.bz2, .zip)."),
) -> None:
    """Download a corpus file, resuming a cut or interrupted download; a rerun skips what is done.

    Example: alptk data download https://www.openslr.org/resources/12/dev-clean.tar.gz --dir downloads --extract
    """
    download_file(url, directory, md5, extract)
