"""Training throughput of a recipe's pre-training config: audio seconds and text tokens per wall second, padding,
and peak memory, measured over a short run with no validation or checkpoints (the first log window is warm-up).

    python benchmarks/train.py --recipe egs/mini_synth/alp1 --steps 60                      # tiny on CPU
    python benchmarks/train.py --recipe egs/mini_synth/alp1 --steps 60 --device cuda model=base
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
from pathlib import Path

import torch

from alptk.train.config import load_train_config
from alptk.train.logger import read_metrics
from alptk.train.trainer import Runtime, Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", type=Path, default=Path("egs/mini_synth/alp1"), help="recipe dir (after stage 4)")
    parser.add_argument("--config", default="conf/pretrain.yaml", help="training config, relative to the recipe")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. model=base amp=bf16")
    args = parser.parse_args()

    os.chdir(args.recipe)
    window = max(args.steps // 6, 1)
    overrides = [*args.overrides, f"max_steps={args.steps}", f"log_every={window}", "valid={}"]
    config = load_train_config(args.config, [*overrides, f"save_every={args.steps * 10}"])
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as exp:
        trainer = Trainer(config, Path(exp), Runtime(0, 1, device))
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        trainer.run()
        records = [r for r in read_metrics(Path(exp)) if r["step"] > window]  # skip the warm-up window
    if device.type == "cuda":
        peak = f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB GPU"
    else:
        peak = f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB RSS"
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    parameters = sum(p.numel() for p in trainer.model.parameters())
    print(f"model {config.model} ({parameters / 1e6:.1f} M parameters), {name}, amp {trainer.dtype}")
    print(f"objectives: {', '.join(config.objectives)}; {args.steps} steps, measured after step {window}")
    for key, label in (
        ("audio_s_per_s", "audio seconds / wall second"),
        ("text_tokens_per_s", "text-only tokens / wall second"),
        ("padding", "padding fraction"),
    ):
        print(f"{label:32s} {statistics.mean(r[key] for r in records):10.3f}")
    print(f"{'peak memory':32s} {peak:>10s}")


if __name__ == "__main__":
    sys.exit(main())
