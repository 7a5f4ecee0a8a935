"""Time the fbank compute core: batched FbankExtractor vs torchaudio's Kaldi fbank per utterance (real-time factors)."""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torchaudio.compliance import kaldi

from alptk.data.fbank import FbankConfig, FbankExtractor


def synthetic_utterances(minutes: float, rate: int, seed: int) -> list[torch.Tensor]:
    """Kaldi-scale noise plus a tone, in utterances of 2-15 s, ``minutes`` in all."""
    generator = torch.Generator().manual_seed(seed)
    utterances, total = [], 0
    while total < minutes * 60 * rate:
        length = int(rate * (2 + 13 * torch.rand(1, generator=generator).item()))
        tone = 8000 * torch.sin(torch.arange(length) * (2 * torch.pi * 440 / rate))
        utterances.append(tone + 2000 * torch.randn(length, generator=generator))
        total += length
    return utterances


def batches(utterances: list[torch.Tensor], max_samples: int) -> list[list[torch.Tensor]]:
    """Consecutive groups of about ``max_samples`` samples, as the feature stage forms them."""
    groups: list[list[torch.Tensor]] = [[]]
    pending = 0
    for wave in utterances:
        groups[-1].append(wave)
        pending += len(wave)
        if pending >= max_samples:
            groups.append([])
            pending = 0
    return [group for group in groups if group]


def timings(run: Callable[[], object], repeats: int) -> list[float]:
    """Wall-clock seconds of ``repeats`` calls (after one warm-up call)."""
    run()
    result = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        result.append(time.perf_counter() - start)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0, help="synthetic audio in all")
    parser.add_argument("--batch-seconds", type=float, default=60.0, help="audio per extractor call")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes over all audio, per method")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--num-mel-bins", type=int, default=80)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    config = FbankConfig(num_mel_bins=args.num_mel_bins)
    extractor = FbankExtractor(config)
    utterances = synthetic_utterances(args.minutes, config.sample_rate, args.seed)
    groups = batches(utterances, int(args.batch_seconds * config.sample_rate))
    seconds = sum(len(wave) for wave in utterances) / config.sample_rate
    frames = sum(extractor.num_frames(len(wave)) for wave in utterances)
    print(
        f"{seconds / 60:.1f} min of audio, {len(utterances)} utterances, {frames} frames, "
        f"{len(groups)} batches of ~{args.batch_seconds:g} s, {args.threads} thread(s), {args.num_mel_bins} mel bins"
    )

    def ours() -> list[list[torch.Tensor]]:
        return [extractor(group) for group in groups]

    def reference() -> list[torch.Tensor]:
        return [kaldi.fbank(wave[None], num_mel_bins=config.num_mel_bins, dither=0.0) for wave in utterances]

    features = [feats for batch in ours() for feats in batch]
    worst = max(float((a - b).abs().max()) for a, b in zip(features, reference(), strict=True))
    print(f"max |FbankExtractor - torchaudio| = {worst:.2e}")
    rtf = {}
    for name, run in (("FbankExtractor (batched)", ours), ("torchaudio kaldi.fbank (per utterance)", reference)):
        times = timings(run, args.repeats)
        rtf[name] = seconds / statistics.median(times)
        median = statistics.median(times)
        print(
            f"{name:40s} median {median:.3f} s  best {min(times):.3f} s  "
            f"RTF x{rtf[name]:.0f} (best x{seconds / min(times):.0f})  {1e6 * median / frames:.2f} us/frame"
        )
    first, second = rtf.values()
    print(f"speed-up (median): {first / second:.1f}x")


if __name__ == "__main__":
    main()
