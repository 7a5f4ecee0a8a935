"""Throughput of the feature stage (read 16 kHz audio, extract 80-dim fbank, write Kaldi ark) in x real time, and
what ``--storage 16bit`` saves and costs: ark size, read-back error against float32 (beside a float16 cast's).

Usage: python benchmarks/fbank.py [--minutes 30] [--nj 1 2] [--data DIR]
Prints figures; asserts nothing. Per-core speed is the nj=1 figure (one process, one torch thread).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import kaldiio
import numpy as np
import soundfile
import torch

from alptk.data.audio import read_audio
from alptk.data.features import extract_fbank_dir
from alptk.data.kaldi_dir import KaldiDir


def make_corpus(root: Path, minutes: float, seed: int = 0) -> Path:
    """16 kHz 16-bit wav files of 2-15 s (noise shaped by a moving envelope) in a Kaldi directory."""
    rng = np.random.default_rng(seed)
    tables: dict[str, dict[str, str]] = {"wav.scp": {}, "utt2spk": {}}
    total, index = 0.0, 0
    while total < minutes * 60:
        seconds = rng.uniform(2, 15)
        n = int(seconds * 16000)
        envelope = 0.5 + 0.5 * np.sin(np.linspace(0, seconds * 2 * np.pi * 2, n))
        samples = (0.1 * rng.standard_normal(n) * envelope).astype(np.float32)
        utt = f"spk{index % 10}-{index:05d}"
        soundfile.write(root / f"{utt}.wav", samples, 16000, subtype="PCM_16")
        tables["wav.scp"][utt] = str(root / f"{utt}.wav")
        tables["utt2spk"][utt] = utt.split("-")[0]
        total, index = total + n / 16000, index + 1
    KaldiDir(tables).save(root / "data")
    return root / "data"


def storage_figures(data: Path, float32_dir: Path, out: Path) -> None:
    """Ark bytes of float32 and 16-bit storage, and the read-back error of 16-bit storage (Kaldi's CM2) and, for
    comparison, of casting the float32 features to float16 and back."""
    start = time.perf_counter()
    extract_fbank_dir(data, out, storage="16bit")
    elapsed = time.perf_counter() - start
    exact = kaldiio.load_scp(str(float32_dir / "feats.scp"))
    stored = kaldiio.load_scp(str(out / "feats.scp"))
    cm2, cast = [], []
    for utt, mat in exact.items():
        cm2.append(np.abs(stored[utt] - mat).ravel())
        cast.append(np.abs(mat.astype(np.float16).astype(np.float32) - mat).ravel())
    sizes = [sum(ark.stat().st_size for ark in (d / "data").glob("*.ark")) for d in (float32_dir, out)]
    values = np.concatenate([mat.ravel() for mat in exact.values()])
    print(f"--storage 16bit, nj=1: {elapsed:.2f} s; features from {values.min():.2f} to {values.max():.2f}")
    print(f"ark bytes: float32 {sizes[0]:,}, 16bit {sizes[1]:,} ({sizes[1] / sizes[0]:.4f} of float32)")
    for name, errors in (("16bit (Kaldi CM2)", np.concatenate(cm2)), ("float16 cast", np.concatenate(cast))):
        print(f"{name}: max abs error {errors.max():.2e}, mean {errors.mean():.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="Minutes of audio to process.")
    parser.add_argument("--nj", type=int, nargs="+", default=[1, 2], help="Job counts to measure.")
    parser.add_argument("--data", type=Path, help="A Kaldi directory of 16 kHz audio instead of generated noise.")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data or make_corpus(Path(tmp), args.minutes)
        wavs = KaldiDir.load(data).tables["wav.scp"]
        start = time.perf_counter()
        audio_seconds = sum(len(read_audio(p)[0]) for p in wavs.values()) / 16000
        read_time = time.perf_counter() - start
        kind = "" if args.data else " (16 kHz, 16-bit wav)"
        print(f"audio: {audio_seconds / 60:.1f} min in {len(wavs)} files{kind}")
        print(f"reading alone: {audio_seconds / read_time:,.0f}x real time")
        for nj in args.nj:
            extract_fbank_dir(data, Path(tmp) / "warmup", nj=nj)  # page cache and process start-up warm
            start = time.perf_counter()
            extract_fbank_dir(data, Path(tmp) / f"fbank{nj}", nj=nj)
            elapsed = time.perf_counter() - start
            speed = audio_seconds / elapsed
            print(f"fbank stage, nj={nj}: {elapsed:.2f} s, {speed:,.0f}x real time ({speed / nj:,.0f}x per core)")
        storage_figures(data, Path(tmp) / f"fbank{args.nj[0]}", Path(tmp) / "fbank_16bit")


if __name__ == "__main__":
    main()
