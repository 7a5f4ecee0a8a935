"""Decoding speed of an ASR/ST experiment: real-time factor of greedy search and of beam search (joint CTC/attention),
on the first utterances of a feature directory, optionally with a language model fused in (``--lm``). Run it in the
recipe directory (feats.scp paths are relative to it):

    cd egs/mini_synth/alp1 && python ../../../benchmarks/decode.py --exp exp/asr --data dump/fbank/test
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

from alptk.data.kaldi_dir import subset_dir
from alptk.inference.decode import DecodeOptions
from alptk.tasks.evaluate import decode_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exp", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True, help="feature directory")
    parser.add_argument("--utterances", type=int, default=100)
    parser.add_argument("--beams", default="1,10", help="beam sizes to time (1: greedy)")
    parser.add_argument("--ctc-weight", type=float, default=0.3)
    parser.add_argument("--lm", help="an lm experiment to fuse (shallow fusion)")
    parser.add_argument("--lm-weight", type=float, default=0.3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    fusion = f", LM {args.lm} weight {args.lm_weight}" if args.lm else ""
    print(f"{args.exp} on {args.device} ({torch.get_num_threads()} threads), ctc_weight {args.ctc_weight}{fusion}")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        subset_dir(args.data, data, first=args.utterances)
        for beam in map(int, args.beams.split(",")):
            options = DecodeOptions(beam=beam, ctc_weight=args.ctc_weight, lm=args.lm, lm_weight=args.lm_weight)
            info = decode_dir(args.exp, data, Path(tmp) / f"beam{beam}", options, args.device)
            name = "greedy" if beam == 1 else f"beam {beam}"
            print(
                f"{name:8s} {info['utterances']} utterances, {info['audio_seconds']:.0f} s of audio in "
                f"{info['decode_seconds']:.1f} s: real-time factor {info['rtf']:.4f}"
            )


if __name__ == "__main__":
    sys.exit(main())
