"""How well ``alptk transcribe`` hears a long recording: the first N recordings of a data directory run together
(gaps of ``--gap`` seconds, light noise over all so that the gaps are not digital silence), transcribed whole with
the default windows and with others, against the same recordings transcribed one by one. Prints word error rates.

    python benchmarks/long_form.py zoo/mini_synth_alp1_asr dump/raw/test --recordings 20
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jiwer
import numpy as np

from alptk.data.kaldi_dir import KaldiDir
from alptk.inference.api import Speech2Text
from alptk.inference.audio import load_audio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="an asr experiment dir or any zoo source")
    parser.add_argument("data", type=Path, help="a data directory with wav.scp and text")
    parser.add_argument("--recordings", type=int, default=20)
    parser.add_argument("--gap", type=float, default=0.3, help="seconds between recordings")
    parser.add_argument("--noise", type=float, default=3e-3, help="standard deviation of the noise added")
    parser.add_argument("--windows", type=float, nargs="*", default=[30.0], help="window lengths to try too")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    asr = Speech2Text.from_pretrained(args.model, device=args.device)
    tables = KaldiDir.load(args.data).tables
    utts = sorted(tables["wav.scp"])[: args.recordings]
    rate = asr.sample_rate
    gap = np.zeros(round(args.gap * rate), np.float32)
    pieces = [load_audio(tables["wav.scp"][u], rate) for u in utts]
    noise = np.random.default_rng(0).normal(0, args.noise, sum(len(p) + len(gap) for p in pieces))
    whole = np.concatenate([x for p in pieces for x in (p, gap)]) + noise.astype(np.float32)
    reference = " ".join(tables["text"][u] for u in utts)
    one_by_one, start = [], 0
    for piece in pieces:
        one_by_one.append(asr(whole[start : start + len(piece)], rate).text)
        start += len(piece) + len(gap)
    print(f"{len(utts)} recordings, {len(whole) / rate:.1f} s run together")
    print(f"one by one: WER {100 * jiwer.wer(reference, ' '.join(one_by_one)):.1f} %")
    for window in [None, *args.windows]:
        recognizer = asr if window is None else Speech2Text(asr.exp, asr.options, window)
        wer = 100 * jiwer.wer(reference, recognizer(whole, rate).text)
        name = "default" if window is None else "given"
        print(f"together, {name} windows of {recognizer.windowing.seconds:g} s: WER {wer:.1f} %")


if __name__ == "__main__":
    sys.exit(main())
