"""The one training loop, for pre-training and fine-tuning alike.

Launched as one process, or one per device by ``torchrun`` (DDP: NCCL on GPUs, gloo on CPUs). Each update takes
``accum_grad`` batches from the interleaved streams; every objective fed by a batch's stream adds its weighted loss.
State is checkpointed atomically every ``save_every`` updates, and rerunning the same command continues exactly
where the last checkpoint left off.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
import yaml
from torch import nn

from alptk.config import to_dict
from alptk.data.datasets import Batch
from alptk.data.tokenizer import Tokenizer
from alptk.errors import ConfigError
from alptk.files import write_text
from alptk.models.model import ALPModel, load_model_config
from alptk.objectives import OBJECTIVES
from alptk.objectives.base import Objective
from alptk.progress import log
from alptk.train import checkpoint as ckpt
from alptk.train.config import TrainConfig
from alptk.train.data import FRAME_SHIFT, stream_dataset, train_loader, valid_loader
from alptk.train.logger import TrainingLog, read_metrics

SNAPSHOTS = "snapshots"


@dataclass
class Runtime:
    """Where this process runs: its rank among ``world_size`` and its device."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0


def start_runtime(device: str | None = None) -> Runtime:
    """Join the process group when launched by torchrun (``WORLD_SIZE`` > 1); pick the device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    use_cuda = torch.cuda.is_available() if device is None else device.startswith("cuda")
    if use_cuda and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: no CUDA device is available")
    if world_size > 1:
        local_rank = int(os.environ["LOCAL_RANK"])
        if use_cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group("nccl" if use_cuda else "gloo")
        return Runtime(dist.get_rank(), world_size, torch.device(f"cuda:{local_rank}" if use_cuda else "cpu"))
    return Runtime(0, 1, torch.device(device or ("cuda" if use_cuda else "cpu")))


class MultiObjective(nn.Module):
    """The model and its objectives as one module (what DDP wraps): ``forward(stream, batch)`` runs every objective
    fed by ``stream`` and returns the weighted sum of their losses and their metrics, named ``objective/metric``."""

    def __init__(self, model: ALPModel, objectives: dict[str, Objective], streams: dict[str, str], weights):
        super().__init__()
        self.model = model
        self.objectives = nn.ModuleDict(objectives)
        self.streams, self.weights = streams, weights

    def forward(self, stream: str, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        total, metrics = 0.0, {}
        for name, objective in self.objectives.items():
            if self.streams[name] != stream:
                continue
            loss, values = objective(self.model, batch)
            total = total + self.weights[name] * loss
            metrics[f"{name}/loss"] = loss.detach().float()
            metrics.update({f"{name}/{k}": v.float() for k, v in values.items()})
        return total, metrics


def build_objectives(config: TrainConfig, model: ALPModel, tokenizer: Tokenizer) -> MultiObjective:
    objectives, streams, weights = {}, {}, {}
    for name, spec in config.objectives.items():
        options = {k: v for k, v in spec.items() if k not in ("stream", "weight")}
        options.setdefault("type", name)
        kind, objective_config = OBJECTIVES.config(options, f"objectives.{name}")
        cls = OBJECTIVES.get(kind)
        stream = config.streams[spec["stream"]]
        if cls.stream != stream.kind:
            raise ConfigError(
                f"objectives.{name}: {kind} needs a {cls.stream} stream, but '{spec['stream']}' is {stream.kind}"
            )
        objectives[name] = cls(model, objective_config, tokenizer)
        streams[name], weights[name] = spec["stream"], float(spec.get("weight", 1.0))
    idle = sorted(set(config.streams) - set(streams.values()))
    if idle:
        raise ConfigError(f"streams.{idle[0]}: no objective consumes this stream")
    return MultiObjective(model, objectives, streams, weights)


def lr_factor(config: TrainConfig, step: int) -> float:
    """Linear warmup to 1, then the configured decay."""
    optim = config.optim
    warmup = max(optim.warmup_steps, 1)
    if step < warmup:
        return (step + 1) / warmup
    if optim.schedule == "inverse_sqrt":
        return math.sqrt(warmup / (step + 1))
    if optim.schedule == "cosine":
        progress = min((step - warmup) / max(config.max_steps - warmup, 1), 1.0)
        return optim.final_lr_ratio + (1 - optim.final_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return 1.0


def make_optimizer(module: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW, fused (one kernel for all tensors: a quarter of the unfused step time on a CPU); biases, norms,
    embeddings' scales and temperatures (tensors under 2 dims) are not decayed."""
    params = [p for p in module.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": config.optim.weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.optim.lr, betas=tuple(config.optim.betas), fused=True)


def amp_dtype(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    if device.type != "cuda" or config.amp == "none":
        return None
    if config.amp == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    return torch.bfloat16 if config.amp == "bf16" else torch.float16


class MetricWindow:
    """Sums of metrics since the last log, reduced over ranks when read."""

    def __init__(self, device: torch.device):
        self.device = device
        self.reset()

    def reset(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = defaultdict(int)
        self.audio = self.tokens = self.padded = self.real = 0
        self.start = time.perf_counter()

    def add(self, metrics: dict[str, torch.Tensor], batch: Batch) -> None:
        for name, value in metrics.items():
            self.sums[name] = self.sums.get(name, 0.0) + value
            self.counts[name] += 1
        for lengths, padded_width in ((batch.feat_lengths, batch.feats), (batch.token_lengths, batch.tokens)):
            if lengths is not None:
                self.real += int(lengths.sum())
                self.padded += lengths.numel() * padded_width.shape[1]
        if batch.feat_lengths is not None:
            self.audio += int(batch.feat_lengths.sum())
        elif batch.token_lengths is not None:
            self.tokens += int(batch.token_lengths.sum())

    def read(self, runtime: Runtime) -> dict[str, float]:
        names = sorted(self.sums)
        values = torch.stack([self.sums[n] for n in names] + [torch.zeros((), device=self.device)]).double()
        counts = [self.counts[n] for n in names] + [0]
        totals = torch.tensor([*counts, self.audio, self.tokens, self.padded, self.real], dtype=torch.float64)
        if runtime.world_size > 1:
            dist.all_reduce(values)
            dist.all_reduce(totals)
        seconds = max(time.perf_counter() - self.start, 1e-9)
        counts_all, (audio, tokens, padded, real) = totals[: len(names)], totals[-4:].tolist()
        record = {n: float(values[i] / counts_all[i]) for i, n in enumerate(names)}
        record.update(
            audio_s_per_s=audio * FRAME_SHIFT / seconds,
            text_tokens_per_s=tokens / seconds,
            padding=1 - real / padded if padded else 0.0,
        )
        return record


class Trainer:
    """Builds everything from a ``TrainConfig`` in an experiment directory and runs (or resumes) training."""

    def __init__(self, config: TrainConfig, exp: Path, runtime: Runtime):
        self.config, self.exp, self.runtime = config, exp, runtime
        torch.manual_seed(config.seed)
        self.tokenizer = Tokenizer(config.tokenizer)
        overrides = {"vocab_size": len(self.tokenizer), **config.model_options}
        self.model_config = load_model_config(config.model, **overrides)
        model = ALPModel(self.model_config)
        self.datasets = {n: stream_dataset(n, s, self.tokenizer) for n, s in config.streams.items()}
        self.valid_sets = {
            n: stream_dataset(n, config.streams[n], self.tokenizer, dirs) for n, dirs in config.valid.items()
        }
        if config.init is not None:
            report = ckpt.initialise_from(model, ckpt.load_weights(config.init))
            if runtime.main:
                for kind in ("loaded", "new", "unused"):
                    log(f"init from {config.init}: {kind} {len(report[kind])}: {ckpt.summarize_names(report[kind])}")
        # CMVN: the config's, else the initial model's, else the first speech directory's statistics.
        speech_dirs = [Path(d) for s in config.streams.values() if s.kind != "text" for d in s.data]
        cmvn = config.cmvn or (None if config.init else next((str(d / "cmvn.ark") for d in speech_dirs), None))
        if cmvn is not None:
            model.frontend.cmvn.load_kaldi_stats(cmvn)
        self.module = build_objectives(config, model, self.tokenizer).to(runtime.device)
        self.optimizer = make_optimizer(self.module, config)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda step: lr_factor(config, step))
        self.dtype = amp_dtype(config, runtime.device)
        self.scaler = torch.amp.GradScaler(enabled=self.dtype == torch.float16)
        self.ddp = (
            nn.parallel.DistributedDataParallel(self.module, find_unused_parameters=True)
            if runtime.world_size > 1
            else self.module
        )
        self.step, self.elapsed, self.best = 0, 0.0, []  # best: [(metric, step)], lowest first
        self.stale, self.stopped = 0, False  # validations since the best one; early-stopped by patience
        torch.manual_seed(config.seed + runtime.rank)  # masks and dropout differ across ranks

    @property
    def model(self) -> ALPModel:
        return self.module.model

    # -- state ---------------------------------------------------------------------------------------------------

    def resume(self, restart: bool) -> None:
        path = self.exp / ckpt.CHECKPOINT
        if restart and self.runtime.main:
            for name in (ckpt.CHECKPOINT, "metrics.jsonl", ckpt.WEIGHTS, "curves.png"):
                (self.exp / name).unlink(missing_ok=True)
            for name in (SNAPSHOTS, "tensorboard"):
                shutil.rmtree(self.exp / name, ignore_errors=True)
        self.barrier()
        if not path.is_file():
            return
        state = ckpt.load_checkpoint(path)
        self.module.load_state_dict(state["module"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.step, self.elapsed, self.best = state["step"], state["elapsed"], state["best"]
        self.stale, self.stopped = state["stale"], state["stopped"]
        if len(state["rng"]) != self.runtime.world_size:
            raise ConfigError(
                f"{path}: saved by {len(state['rng'])} processes, resumed by {self.runtime.world_size}; "
                "resume with the same number, or --restart"
            )
        ckpt.set_rng_state(state["rng"][self.runtime.rank])
        if self.runtime.main:
            log(f"resuming {self.exp} from step {self.step}")

    def save(self) -> None:
        rng = [None] * self.runtime.world_size
        if self.runtime.world_size > 1:
            dist.all_gather_object(rng, ckpt.rng_state())
        else:
            rng = [ckpt.rng_state()]
        if self.runtime.main:
            state = {
                "module": self.module.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict(),
                "step": self.step,
                "elapsed": self.elapsed,
                "best": self.best,
                "stale": self.stale,
                "stopped": self.stopped,
                "rng": rng,
            }
            ckpt.save_checkpoint(self.exp / ckpt.CHECKPOINT, state)
            kept = {f"step{step}.safetensors" for _, step in self.best}
            for snapshot in (self.exp / SNAPSHOTS).glob("*.safetensors"):
                if snapshot.name not in kept:
                    snapshot.unlink()
        self.barrier()

    def barrier(self) -> None:
        if self.runtime.world_size > 1:
            dist.barrier()

    # -- steps ---------------------------------------------------------------------------------------------------

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.runtime.device.type, dtype=self.dtype)

    def update(self, batches, window: MetricWindow) -> None:
        """One optimizer update over ``accum_grad`` batches."""
        config = self.config
        for _ in range(config.accum_grad):
            stream, batch = next(batches)
            batch = batch.to(self.runtime.device, non_blocking=True)
            with self.autocast():
                loss, metrics = self.ddp(stream, batch)
            self.scaler.scale(loss / config.accum_grad).backward()
            window.add(metrics, batch)
        if self.step < config.freeze.steps:
            for part in config.freeze.parts:
                for p in getattr(self.model, part).parameters():
                    p.grad = None
        self.scaler.unscale_(self.optimizer)
        if config.optim.clip > 0:
            norm = nn.utils.clip_grad_norm_(self.module.parameters(), config.optim.clip)
            window.add({"grad_norm": norm.detach().float()}, Batch([]))
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Mean loss and metrics of every objective over the validation sets (sharded over ranks), and their
        weighted sum ``loss``; masks are drawn from a fixed seed so that validations compare."""
        self.module.eval()
        window = MetricWindow(self.runtime.device)
        with torch.random.fork_rng(devices=[self.runtime.device] if self.runtime.device.type == "cuda" else []):
            torch.manual_seed(self.config.seed)
            for name, dataset in self.valid_sets.items():
                stream_config, rank, world_size = self.config.streams[name], self.runtime.rank, self.runtime.world_size
                for stream, batch in valid_loader(dataset, stream_config, name, rank, world_size):
                    with self.autocast():
                        _, metrics = self.module(stream, batch.to(self.runtime.device))
                    window.add(metrics, batch)
        self.module.train()
        record = {k: v for k, v in window.read(self.runtime).items() if "/" in k}
        record["loss"] = sum(
            self.module.weights[name] * record[f"{name}/loss"]
            for name in self.module.objectives
            if f"{name}/loss" in record
        )
        return record

    def keep_if_best(self, record: dict[str, float]) -> None:
        """Snapshot the weights if they are among the ``keep_best`` best; count validations since the best."""
        metric = self.config.best_metric
        if metric != "last" and metric not in record:
            choices = ", ".join(["last", *record])
            raise ConfigError(f"best_metric: '{metric}' is not a validation metric (choose from {choices})")
        value = -float(self.step) if metric == "last" else record[metric]
        self.best = sorted([*self.best, (value, self.step)])[: self.config.keep_best]
        if self.runtime.main and any(step == self.step for _, step in self.best):
            tensors = self.model.state_dict()
            ckpt.save_weights(self.exp / SNAPSHOTS / f"step{self.step}.safetensors", tensors)
        self.stale = 0 if self.best[0][1] == self.step else self.stale + 1
        if self.config.patience and self.stale >= self.config.patience:
            self.stopped = True
            if self.runtime.main:
                log(f"step {self.step}: no better {metric} in {self.stale} validations: stopping early")

    # -- the loop ------------------------------------------------------------------------------------------------

    def run(self) -> None:
        config, runtime = self.config, self.runtime
        if runtime.main:
            self.write_description()
        reporter = TrainingLog(self.exp, self.step, config.max_steps) if runtime.main else None
        loader = train_loader(
            config.streams,
            self.datasets,
            config.seed,
            config.shuffle,
            runtime.rank,
            runtime.world_size,
            config.num_workers,
            skip=self.step * config.accum_grad,
            pin_memory=runtime.device.type == "cuda",
        )
        batches = iter(loader)
        window = MetricWindow(runtime.device)
        self.module.train()
        try:
            while self.step < config.max_steps and not self.stopped:
                started = time.perf_counter()
                self.update(batches, window)
                self.elapsed += time.perf_counter() - started
                last = self.step == config.max_steps
                if reporter is not None:
                    reporter.advance()
                if self.step % config.log_every == 0 or last:
                    record = window.read(runtime)
                    if reporter is not None:
                        reporter.record({"step": self.step, "lr": self.scheduler.get_last_lr()[0], **record})
                    window.reset()
                if self.valid_sets and (self.step % config.valid_every == 0 or last):
                    record = self.validate()
                    self.keep_if_best(record)
                    if reporter is not None:
                        reporter.record({"step": self.step, "split": "valid", **record})
                        reporter.refresh_curves()
                    window.reset()
                if self.step % config.save_every == 0 or last or self.stopped:
                    self.save()
        finally:
            if reporter is not None:
                reporter.close()
        if runtime.main:
            self.export()
        self.barrier()

    def write_description(self) -> None:
        """The experiment's resolved config, model config and tokenizer: enough to rebuild the model anywhere."""
        write_text(self.exp / "train.yaml", yaml.safe_dump(to_dict(self.config), sort_keys=False))
        write_text(self.exp / "model.yaml", yaml.safe_dump(to_dict(self.model_config), sort_keys=False))
        shutil.copytree(self.tokenizer.directory, self.exp / "tokenizer", dirs_exist_ok=True)

    def export(self) -> None:
        """``model.safetensors``: the average of the best snapshots (the final weights without validation)."""
        snapshots = [self.exp / SNAPSHOTS / f"step{step}.safetensors" for _, step in self.best]
        tensors = ckpt.average_weights(snapshots) if snapshots else self.model.state_dict()
        source = f"average of steps {', '.join(str(s) for _, s in self.best)}" if snapshots else f"step {self.step}"
        ckpt.save_weights(self.exp / ckpt.WEIGHTS, tensors, {"source": source})
        parameters = sum(p.numel() for p in self.model.parameters())
        train = [r for r in read_metrics(self.exp) if r.get("split", "train") == "train"]
        summary = {
            "task": self.config.task,
            "init": self.config.init,
            "steps": self.step,
            "stopped_early": self.stopped,
            "train_seconds": round(self.elapsed, 1),
            "parameters": parameters,
            "audio_s_per_s": round(sum(r["audio_s_per_s"] for r in train) / max(len(train), 1), 1),
            "text_tokens_per_s": round(sum(r["text_tokens_per_s"] for r in train) / max(len(train), 1), 1),
            "world_size": self.runtime.world_size,
            "device": str(self.runtime.device),
            "weights": source,
            "best": [{"step": s, self.config.best_metric: m} for m, s in self.best],
        }
        write_text(self.exp / "summary.yaml", yaml.safe_dump(summary, sort_keys=False))
        log(f"{self.exp}: {self.step} steps in {self.elapsed:.0f} s; {ckpt.WEIGHTS} = {source}")


def train(config: TrainConfig, exp: Path, restart: bool = False, device: str | None = None) -> None:
    """Train (or resume) the experiment ``exp`` as this process's share of the launched job."""
    runtime = start_runtime(device)
    try:
        exp.mkdir(parents=True, exist_ok=True)
        trainer = Trainer(config, exp, runtime)
        trainer.resume(restart)
        trainer.run()
    finally:
        if runtime.world_size > 1 and dist.is_initialized():
            dist.destroy_process_group()
