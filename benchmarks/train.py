"""Training throughput of a recipe's pre-training config: audio seconds and text tokens per wall second, padding,
and peak memory, measured over a short run with no validation or checkpoints (the first log window is warm-up);
and the training data loader's own throughput (batches and fbank frames per second, moved to the device, with no
training), for each DataLoader worker count in ``--workers`` (default: the config's ``num_workers``).

    python benchmarks/train.py --recipe egs/mini_synth/alp1 --steps 60                      # tiny on CPU
    python benchmarks/train.py --recipe egs/mini_synth/alp1 --steps 60 --workers 0,2,4      # loader workers
    python benchmarks/train.py --recipe egs/mini_synth/alp1 --steps 60 --device cuda model=base
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from alptk.train.config import TrainConfig, load_train_config
from alptk.train.data import train_loader
from alptk.train.logger import read_metrics
from alptk.train.trainer import Runtime, Trainer

LOADER_BATCHES = 200  # batches the loader alone is timed over, after its first


def loader_throughput(trainer: Trainer, config: TrainConfig, device: torch.device) -> tuple[float, float]:
    """Batches and fbank frames per second of the training loader, each batch moved to ``device`` (pinned memory
    and a non-blocking copy on a GPU, as the trainer does), timed after the first batch (the workers' start)."""
    loader = train_loader(
        config.streams,
        trainer.datasets,
        config.seed,
        config.shuffle,
        0,
        1,
        config.num_workers,
        pin_memory=device.type == "cuda",
    )
    batches = iter(loader)
    next(batches)
    frames, start = 0, time.perf_counter()
    for _ in range(LOADER_BATCHES):
        _, batch = next(batches)
        batch = batch.to(device, non_blocking=True)
        frames += int(batch.feat_lengths.sum()) if batch.feat_lengths is not None else 0
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elapsed = time.perf_counter() - start
    del batches  # stops the workers
    return LOADER_BATCHES / elapsed, frames / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", type=Path, default=Path("egs/mini_synth/alp1"), help="recipe dir (after stage 4)")
    parser.add_argument("--config", default="conf/pretrain.yaml", help="training config, relative to the recipe")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--workers", help="DataLoader worker counts to compare, e.g. 0,2,4 (default: the config's)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. model=base amp=bf16")
    args = parser.parse_args()

    os.chdir(args.recipe)
    window = max(args.steps // 6, 1)
    overrides = [*args.overrides, f"max_steps={args.steps}", f"log_every={window}", "valid={}"]
    overrides.append(f"save_every={args.steps * 10}")
    device = torch.device(args.device)
    counts = [f"num_workers={n}" for n in args.workers.split(",")] if args.workers else [None]
    rows = []
    for workers in counts:
        config = load_train_config(args.config, [*overrides, *filter(None, [workers])])
        with tempfile.TemporaryDirectory() as exp:
            trainer = Trainer(config, Path(exp), Runtime(0, 1, device))
            loader = loader_throughput(trainer, config, device)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            trainer.run()
            records = [r for r in read_metrics(Path(exp)) if r["step"] > window]  # skip the warm-up window
        means = [statistics.mean(r[key] for r in records) for key in ("audio_s_per_s", "text_tokens_per_s", "padding")]
        rows.append((config.num_workers, *loader, *means))
    if device.type == "cuda":
        peak = f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB GPU (last run)"
    else:
        peak = f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB RSS"
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    parameters = sum(p.numel() for p in trainer.model.parameters())
    print(f"model {config.model} ({parameters / 1e6:.1f} M parameters), {name}, amp {trainer.dtype}")
    print(f"objectives: {', '.join(config.objectives)}; {args.steps} steps, measured after step {window}")
    print(f"loader alone: {LOADER_BATCHES} batches after the first; peak memory {peak}")
    print(f"{'workers':>7s} {'loader batches/s':>16s} {'loader frames/s':>15s} {'train audio s/s':>15s} "
          f"{'text tokens/s':>13s} {'padding':>7s}")  # fmt: skip
    for workers, batches_per_s, frames_per_s, audio, tokens, padding in rows:
        print(f"{workers:7d} {batches_per_s:16.1f} {frames_per_s:15,.0f} {audio:15.3f} {tokens:13.1f} {padding:7.3f}")


if __name__ == "__main__":
    sys.exit(main())
