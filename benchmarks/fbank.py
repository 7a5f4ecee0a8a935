"""Throughput of the feature stage (read 16 kHz audio, extract 80-dim fbank, write Kaldi ark) in x real time.

Usage: python benchmarks/fbank.py [--minutes 30] [--nj 1 2]
Prints figures; asserts nothing. Per-core speed is the nj=1 figure (one process, one torch thread).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="Minutes of audio to process.")
    parser.add_argument("--nj", type=int, nargs="+", default=[1, 2], help="Job counts to measure.")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        data = make_corpus(Path(tmp), args.minutes)
        wavs = KaldiDir.load(data).tables["wav.scp"]
        start = time.perf_counter()
        audio_seconds = sum(len(read_audio(p)[0]) for p in wavs.values()) / 16000
        read_time = time.perf_counter() - start
        print(f"audio: {audio_seconds / 60:.1f} min in {len(wavs)} files (16 kHz, 16-bit wav)")
        print(f"reading alone: {audio_seconds / read_time:,.0f}x real time")
        for nj in args.nj:
            extract_fbank_dir(data, Path(tmp) / "warmup", nj=nj)  # page cache and process start-up warm
            start = time.perf_counter()
            extract_fbank_dir(data, Path(tmp) / f"fbank{nj}", nj=nj)
            elapsed = time.perf_counter() - start
            speed = audio_seconds / elapsed
            print(f"fbank stage, nj={nj}: {elapsed:.2f} s, {speed:,.0f}x real time ({speed / nj:,.0f}x per core)")


if __name__ == "__main__":
    main()
