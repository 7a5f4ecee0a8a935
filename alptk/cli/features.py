"""``alptk features``: feature extraction to Kaldi ark/scp."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from alptk.cli.options import AllowPipes, Jobs
from alptk.config import load_config
from alptk.progress import log

app = typer.Typer(help="Feature extraction to Kaldi ark.", no_args_is_help=True)


@app.command()
def fbank(
    src: Path,
    dst: Path,
    config: Path = typer.Option(None, help="YAML with Kaldi fbank options (FbankConfig fields)."),
    option: list[str] = typer.Option([], "--set", help="Override one option, e.g. --set num_mel_bins=40."),
    nj: int = Jobs,
    allow_pipes: bool = AllowPipes,
) -> None:
    """Kaldi-compatible log-mel fbank: DST/feats.scp + ark, utt2num_frames, global CMVN stats (cmvn.ark).

    Example: alptk features fbank dump/raw/train dump/fbank/train --config conf/fbank.yaml --nj 4
    """
    from alptk.data.fbank import FbankConfig  # torch: imported only by the commands that use it
    from alptk.data.features import extract_fbank_dir

    start = time.perf_counter()
    stats = extract_fbank_dir(src, dst, load_config(FbankConfig, config, option), nj, allow_pipes)
    elapsed = time.perf_counter() - start
    log(
        f"{dst}: {stats.utterances} utterances, {stats.frames} frames, {stats.seconds / 3600:.2f} h of audio "
        f"in {elapsed:.1f} s ({stats.seconds / elapsed:.0f}x real time with {nj} jobs)"
    )
