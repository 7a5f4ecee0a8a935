"""Training throughput of a recipe's pre-training config: audio seconds and text tokens per wall second, padding,
model FLOP/s and MFU (model FLOPs utilization: model FLOP/s over the GPUs' peak), and peak memory, measured over a
short run with no validation or checkpoints (the first log window is warm-up); and the training data loader's own
throughput (batches and fbank frames per second, moved to the device, with no training), for each DataLoader worker
count in ``--workers`` (default: the config's ``num_workers``).

The model FLOPs are counted (alptk/train/flops.py) for the very batches of the timed updates, on every process,
before the run; with several processes (torchrun) throughput and FLOP/s are those of all processes together, and MFU
is over all their GPUs' peak. On a CPU, FLOP/s and MFU are measured only with ``--peak-tflops``.

From the repository root, on mini_synth (after its stage 4; --recipe DIR for another recipe):

    python benchmarks/train.py tokenizer=data/token_list/bpe300                            # the tiny model, CPU
    python benchmarks/train.py --workers 0,2,4 tokenizer=data/token_list/bpe300            # loader workers
    torchrun --nproc_per_node 8 benchmarks/train.py --device cuda tokenizer=data/token_list/bpe300 model=base amp=bf16
    benchmarks/gpu.sh                   # the base preset, bf16, on 1 and on all GPUs
"""

from __future__ import annotations

import argparse
import itertools
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.distributed as dist

from alptk.data.datasets import Batch
from alptk.errors import AlptkError
from alptk.train.config import TrainConfig, load_train_config
from alptk.train.data import train_loader
from alptk.train.flops import peak_tflops, training_flops
from alptk.train.logger import read_metrics
from alptk.train.trainer import TEARDOWN_PAUSE, Runtime, Trainer, start_runtime

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


def timed_batches(trainer: Trainer, warmup: int, steps: int) -> Iterator[tuple[str, Batch]]:
    """This rank's batches of updates ``warmup + 1`` to ``steps`` of a run from the start: those the run is timed
    over (the loader's order is fixed by the config's seed, as resuming relies on)."""
    config, runtime = trainer.config, trainer.runtime
    loader = train_loader(
        config.streams,
        trainer.datasets,
        config.seed,
        config.shuffle,
        runtime.rank,
        runtime.world_size,
        0,
        skip=warmup * config.accum_grad,
    )
    return itertools.islice(loader, (steps - warmup) * config.accum_grad)


def clock_updates(trainer: Trainer) -> list[float]:
    """The list to which ``trainer`` will append the wall-clock time at the end of each of its updates. (On a GPU
    an update ends with its optimizer step queued: the time between two ends is an update's, give or take that.)"""
    ends: list[float] = []
    update = trainer.update

    def timed_update(*args) -> None:
        update(*args)
        ends.append(time.perf_counter())

    trainer.update = timed_update
    return ends


def peak_memory(runtime: Runtime) -> str:
    """The most memory any process held: GPU memory allocated since the last reset, or the RSS high-water mark."""
    if runtime.device.type == "cuda":
        return f"{max(runtime.gather(torch.cuda.max_memory_allocated(runtime.device))) / 2**30:.2f} GiB GPU"
    return f"{max(runtime.gather(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)) / 2**20:.2f} GiB RSS"


def benchmark(args: argparse.Namespace, runtime: Runtime) -> None:
    device, processes = runtime.device, runtime.world_size
    warmup = max(args.steps // 6, 1)
    overrides = [*args.overrides, f"max_steps={args.steps}", f"log_every={warmup}", "valid={}"]
    overrides.append(f"save_every={args.steps * 10}")
    counts = [f"num_workers={n}" for n in args.workers.split(",")] if args.workers else [None]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    peak = args.peak_tflops if args.peak_tflops is not None else peak_tflops(name) if device.type == "cuda" else None
    count_flops = device.type == "cuda" or args.peak_tflops is not None
    flops, rows = None, []
    os.chdir(args.recipe)
    for workers in counts:
        config = load_train_config(args.config, [*overrides, *filter(None, [workers])])
        with tempfile.TemporaryDirectory() as exp:
            trainer = Trainer(config, Path(exp), runtime)
            if count_flops and flops is None:
                flops = sum(runtime.gather(training_flops(trainer, timed_batches(trainer, warmup, args.steps))))
            loader = loader_throughput(trainer, config, device)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            ends = clock_updates(trainer)
            trainer.run()
            records = [r for r in read_metrics(Path(exp)) if r["step"] > warmup]  # rank 0's; skips the warm-up
        if runtime.main:
            keys = ("audio_s_per_s", "text_tokens_per_s", "padding")
            means = [statistics.mean(r[key] for r in records) for key in keys]
            rows.append((config.num_workers, *loader, *means, ends[-1] - ends[warmup - 1]))
    memory = peak_memory(runtime)
    if not runtime.main:
        return
    updates = args.steps - warmup
    parameters = sum(p.numel() for p in trainer.model.parameters())
    print(f"model {config.model} ({parameters / 1e6:.1f} M parameters), amp {trainer.dtype}; {name}, {processes} "
          "process(es)")  # fmt: skip
    print(f"overrides: {' '.join(args.overrides) or 'none'}; objectives: {', '.join(config.objectives)}")
    print(f"{args.steps} steps, measured after step {warmup}; peak memory {memory} (last run, most of any process)")
    print(f"loader alone (rank 0): {LOADER_BATCHES} batches after the first")
    if flops is not None:
        source = "--peak-tflops" if args.peak_tflops is not None else "table in alptk/train/flops.py"
        known = f"{peak:g} TFLOP/s per device ({source})" if peak else "unknown for this GPU: give --peak-tflops"
        print(f"model FLOPs: {flops / (updates * processes):.3e} per update of a process (counted for the {updates} "
              f"timed updates of each of {processes}); peak {known}")  # fmt: skip
    print(f"{'workers':>7s} {'loader batches/s':>16s} {'loader frames/s':>15s} {'train audio s/s':>15s} "
          f"{'text tokens/s':>13s} {'padding':>7s} {'model TFLOP/s':>13s} {'MFU':>6s}")  # fmt: skip
    for workers, batches_per_s, frames_per_s, audio, tokens, padding, seconds in rows:
        tflops = flops / seconds / 1e12 if flops is not None else None
        mfu = f"{tflops / (peak * processes):.1%}" if tflops is not None and peak else "-"
        print(f"{workers:7d} {batches_per_s:16.1f} {frames_per_s:15,.0f} {audio:15.3f} {tokens:13.1f} {padding:7.3f} "
              f"{'-' if tflops is None else f'{tflops:.4g}':>13s} {mfu:>6s}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", type=Path, default=Path("egs/mini_synth/alp1"), help="recipe dir (after stage 4)")
    parser.add_argument("--config", default="conf/pretrain.yaml", help="training config, relative to the recipe")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--workers", help="DataLoader worker counts to compare, e.g. 0,2,4 (default: the config's)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--peak-tflops", type=float, help="peak TFLOP/s of one process's device (default: by GPU name)")
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. model=base amp=bf16")
    args = parser.parse_args()
    if args.steps < 2:
        parser.error("--steps must be at least 2: the first log window is warm-up")
    if not args.recipe.is_dir():
        parser.error(f"--recipe {args.recipe}: no such directory")
    try:
        runtime = start_runtime(args.device)
    except AlptkError as err:
        sys.exit(str(err))
    try:
        benchmark(args, runtime)
    except AlptkError as err:
        sys.exit(f"rank {runtime.rank}: {err}" if runtime.world_size > 1 else str(err))
    finally:
        if runtime.world_size > 1 and dist.is_initialized():
            time.sleep(TEARDOWN_PAUSE)  # as alptk.train.trainer.train does: gloo's threads need the GIL first
            dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
