"""End-to-end speed of ``alptk transcribe`` on a user's recordings: reading the audio, resampling, fbank, search and
writing the hypotheses, over the recordings of a Kaldi wav.scp, for each beam size (1: greedy); the model's load time
(``Speech2Text.from_pretrained``: fetching or verifying a package, reading the weights) is timed apart.

    python benchmarks/transcribe.py exp/asr data/test/wav.scp --beam 1 10 --device cpu
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from alptk.inference.api import Failure, Speech2Text
from alptk.inference.audio import audio_inputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="experiment dir, package dir or archive, URL, hf:owner/name, cached name")
    parser.add_argument("wav_scp", type=Path, help="Kaldi wav.scp of the recordings")
    parser.add_argument("--beam", type=int, nargs="+", default=[1, 10], help="beam sizes to time (1: greedy)")
    parser.add_argument("--utterances", type=int, default=None, help="the first N recordings only")
    parser.add_argument("--ctc-weight", type=float, default=None)
    parser.add_argument("--batch-frames", type=int, default=None)
    parser.add_argument("--no-lm", action="store_true", help="without the language model the package decodes with")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    options = {k: v for k, v in (("ctc_weight", args.ctc_weight), ("batch_frames", args.batch_frames)) if v is not None}
    if args.no_lm:
        options["lm"] = None
    start = time.perf_counter()
    loaded = Speech2Text.from_pretrained(args.model, device=args.device, **options)
    load_seconds = time.perf_counter() - start
    inputs = audio_inputs([], args.wav_scp)[: args.utterances]
    print(f"{args.model} on {args.device} ({torch.get_num_threads()} threads): loaded in {load_seconds:.2f} s")
    for beam in args.beam:
        recognizer = Speech2Text(loaded.exp, replace(loaded.options, beam=beam))
        out, utterances, failed, seconds = io.StringIO(), 0, 0, 0.0
        start = time.perf_counter()
        for result in recognizer.transcribe(inputs):
            if isinstance(result, Failure):
                failed += 1
                continue
            out.write(f"{result.utt} {result.text}\n")
            utterances, seconds = utterances + 1, seconds + result.seconds
        wall = time.perf_counter() - start
        name = "greedy" if beam == 1 else f"beam {beam}"
        skipped = f" ({failed} failed)" if failed else ""
        print(
            f"{name:8s} {utterances} utterances{skipped}, {seconds:.1f} s of audio in {wall:.2f} s: "
            f"real-time factor {wall / max(seconds, 1e-9):.4f}"
        )


if __name__ == "__main__":
    sys.exit(main())
