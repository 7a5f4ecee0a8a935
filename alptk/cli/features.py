"""``alptk features``: feature extraction to Kaldi ark/scp."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from alptk.cli.options import AllowPipes, Into, Jobs, source_targets
from alptk.config import load_config
from alptk.progress import log

app = typer.Typer(help="Feature extraction to Kaldi ark.", no_args_is_help=True)


@app.command()
def fbank(
    paths: list[Path] = typer.Argument(..., help="SRC DST, or with --into the source directories."),
    into: Path = Into,
    config: Path = typer.Option(None, help="YAML with Kaldi fbank options (FbankConfig fields)."),
    option: list[str] = typer.Option([], "--set", help="Override one option, e.g. --set num_mel_bins=40."),
    storage: str = typer.Option(
        "float32",
        help="How the ark stores features: float32, or 16bit (Kaldi's two-byte compressed matrix: half the disk, "
        "read back as float32 within about (max - min) / 131070 of each matrix).",
    ),
    nj: int = Jobs,
    allow_pipes: bool = AllowPipes,
) -> None:
    """Kaldi-compatible log-mel fbank: DST/feats.scp + ark, utt2num_frames, global CMVN stats (cmvn.ark).

    Example: alptk features fbank dump/raw/train dump/fbank/train --config conf/fbank.yaml --nj 4
    or, for several sets: alptk features fbank dump/raw/train dump/raw/dev --into dump/fbank --nj 4
    """
    from alptk.data.fbank import FbankConfig  # torch: imported only by the commands that use it
    from alptk.data.features import extract_fbank_dir

    pairs = source_targets(paths, into)
    fbank_config = load_config(FbankConfig, config, option)
    for src, dst in pairs:
        start = time.perf_counter()
        stats = extract_fbank_dir(src, dst, fbank_config, nj, allow_pipes, storage)
        elapsed = time.perf_counter() - start
        log(
            f"{dst}: {stats.utterances} utterances, {stats.frames} frames, {stats.seconds / 3600:.2f} h of audio "
            f"in {elapsed:.1f} s ({stats.seconds / elapsed:.0f}x real time with {nj} jobs)"
        )


@app.command()
def kmeans(
    dirs: list[Path] = typer.Argument(..., help="Feature directories (feats.scp) to cluster."),
    out: Path = typer.Option(..., help="Centroids file to write (.safetensors)."),
    clusters: int = typer.Option(256, help="Number of clusters (masked_speech target classes)."),
    points: int = typer.Option(100_000, help="Stacks of 4 frames sampled to fit on."),
    cmvn: Path = typer.Option(None, help="Kaldi cmvn.ark to normalize with (default: the first dir's)."),
    iterations: int = typer.Option(20, help="Lloyd iterations."),
    seed: int = typer.Option(0, help="Sampling and seeding."),
    allow_pipes: bool = AllowPipes,
) -> None:
    """Fit k-means on CMVN-normalized stacks of 4 fbank frames: targets for ``masked_speech`` (quantizer: kmeans).

    Example: alptk features kmeans dump/fbank/speech_only --out exp/kmeans/centroids.safetensors --clusters 256
    """
    import torch

    from alptk.data.datasets import SpeechDataset
    from alptk.data.features import read_cmvn
    from alptk.objectives.masked_speech import fit_kmeans, nearest, stacked_frames
    from alptk.progress import progress_bar
    from alptk.train.checkpoint import save_weights

    start = time.perf_counter()
    mean, std = (torch.from_numpy(a).float() for a in read_cmvn(cmvn or dirs[0] / "cmvn.ark", allow_pipes))
    datasets = [SpeechDataset(d, allow_pipes=allow_pipes) for d in dirs]
    items = [(d, i) for d, dataset in enumerate(datasets) for i in range(len(dataset))]
    order = torch.randperm(len(items), generator=torch.Generator().manual_seed(seed)).tolist()
    stacks, total = [], 0
    with progress_bar("reading features", points) as advance:
        for index in order:
            if total >= points:
                break
            d, i = items[index]
            stack = stacked_frames(datasets[d][i][1], mean, std)
            stacks.append(stack)
            total += len(stack)
            advance(len(stack))
    sample = torch.cat(stacks)[:points]
    if len(sample) < clusters:
        raise typer.BadParameter(f"only {len(sample)} stacks of frames for {clusters} clusters")
    centroids = fit_kmeans(sample, clusters, iterations, seed)
    used = torch.bincount(nearest(sample, centroids), minlength=clusters).gt(0).sum()
    save_weights(out, {"centroids": centroids}, {"dirs": " ".join(map(str, dirs)), "points": str(len(sample))})
    elapsed = time.perf_counter() - start
    log(f"{out}: {clusters} centroids ({int(used)} in use) from {len(sample)} stacks of frames in {elapsed:.1f} s")
