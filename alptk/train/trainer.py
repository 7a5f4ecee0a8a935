"""The one training loop, for pre-training and fine-tuning alike.

Launched as one process, or one per device by ``torchrun`` (DDP: NCCL on GPUs, gloo on CPUs). Each update takes
``accum_grad`` batches from the interleaved streams; every objective fed by a batch's stream adds its weighted loss.
State is checkpointed atomically every ``save_every`` updates, and rerunning the same command continues exactly
where the last checkpoint left off. With several processes, what one rank does alone (rank 0's writes, a rank's
share of the data) is followed by an agreement on whether it failed: a failure ends every rank, and only the failing
rank says why.
"""

from __future__ import annotations

import contextlib
import datetime
import math
import os
import shutil
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

import torch
import torch.distributed as dist
import yaml
from torch import nn

from alptk.config import to_dict
from alptk.data.datasets import Batch
from alptk.data.fbank import common_features_spec, save_features_spec
from alptk.data.tokenizer import Tokenizer
from alptk.errors import USER_ERROR, AlptkError, ConfigError
from alptk.files import storage_error, write_text
from alptk.models.model import HEADS, ALPModel, load_model_config
from alptk.objectives import OBJECTIVES
from alptk.objectives.base import Objective
from alptk.progress import log
from alptk.train import checkpoint as ckpt
from alptk.train.config import TrainConfig
from alptk.train.data import (
    ConcatDataset,
    UsableItems,
    stream_dataset,
    train_loader,
    usable_items,
    valid_loader,
)
from alptk.train.logger import TrainingLog, read_metrics
from alptk.train.preemption import Interrupted, stop_requests

SNAPSHOTS = "snapshots"
SHAPE_SECTIONS = ("model", "model_options", "tokenizer", "objectives")  # config sections that can reshape the model
T = TypeVar("T")
TEARDOWN_PAUSE = 0.1  # seconds


class RankFailed(Exception):
    """Another rank failed, and reports why: this one stops, with the exit status of that failure."""

    def __init__(self, rank: int, status: int):
        super().__init__(f"rank {rank} failed")
        self.rank, self.status = rank, status


def exit_status(error: Exception) -> int:
    """What the CLI exits with for ``error``: ``USER_ERROR`` for a user error or a refused file access, else 1."""
    return USER_ERROR if isinstance(error, (AlptkError, OSError)) else 1


@dataclass
class Runtime:
    """Where this process runs: its rank among ``world_size`` and its device; and what the ranks do together."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0

    def broadcast(self, value: T) -> T:
        """Rank 0's ``value`` on every rank (the others' is ignored): what rank 0 decides alone and all must share,
        such as the checkpoint to resume from."""
        if self.world_size == 1:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, value: T) -> list[T]:
        """Every rank's ``value``, in rank order."""
        if self.world_size == 1:
            return [value]
        values = [None] * self.world_size
        dist.all_gather_object(values, value)
        return values

    @contextlib.contextmanager
    def together(self) -> Iterator[None]:
        """Run a block (that calls no collective) on every rank, then agree on whether it failed anywhere, so that
        one rank's error ends every rank instead of leaving the others waiting at their next collective. The lowest
        failing rank raises its error, a user error prefixed with ``rank N:``; the others raise ``RankFailed``."""
        if self.world_size == 1:
            yield
            return
        failure = None
        try:
            yield
        except Exception as err:
            failure = err
        statuses = torch.zeros(self.world_size, dtype=torch.long, device=self.device)
        statuses[self.rank] = 0 if failure is None else exit_status(failure)
        dist.all_reduce(statuses)
        failed = statuses.nonzero().flatten().tolist()
        if not failed:
            return
        if failed[0] != self.rank:
            raise RankFailed(failed[0], int(statuses[failed[0]]))
        if isinstance(failure, OSError):
            failure = storage_error(failure)
        if isinstance(failure, AlptkError):
            raise AlptkError(f"rank {self.rank}: {failure}") from failure
        raise failure


def start_runtime(device: str | None = None, timeout: float = 1800.0) -> Runtime:
    """Join the process group when launched by torchrun or one process per rank (``WORLD_SIZE`` > 1), where a
    collective that waits over ``timeout`` seconds for a rank fails; pick the device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    use_cuda = torch.cuda.is_available() if device is None else device.startswith("cuda")
    if use_cuda and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: no CUDA device is available")
    if world_size > 1:
        local_rank = int(os.environ["LOCAL_RANK"])
        if use_cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group("nccl" if use_cuda else "gloo", timeout=datetime.timedelta(seconds=timeout))
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


def objective_spec(name: str, spec: dict) -> tuple[str, type[Objective], object]:
    """Objective ``name``'s kind, class and typed config from its ``objectives:`` entry."""
    options = {k: v for k, v in spec.items() if k not in ("stream", "weight")}
    options.setdefault("type", name)
    kind, config = OBJECTIVES.config(options, f"objectives.{name}")
    return kind, OBJECTIVES.get(kind), config


def training_heads(config: TrainConfig, extra: list[str] | None) -> list[str]:
    """The heads the model is built with: those its objectives use, and the ``extra`` ones its config names."""
    heads = set(extra or [])
    for name, spec in config.objectives.items():
        _, cls, objective_config = objective_spec(name, spec)
        heads.update(cls.needed_heads(objective_config))
    return sorted(heads)


def build_objectives(config: TrainConfig, model: ALPModel, tokenizer: Tokenizer) -> MultiObjective:
    objectives, streams, weights = {}, {}, {}
    for name, spec in config.objectives.items():
        kind, cls, objective_config = objective_spec(name, spec)
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


def native_cpu_bf16() -> bool:
    """Whether this CPU computes in bf16 natively (AVX512-BF16 or AMX): oneDNN's bf16 matrix products and
    convolutions then run 2-3.5x faster than fp32 ones; elsewhere they are emulated, and slower."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, check, lambda: False)() for check in checks)


def amp_dtype(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    """The autocast dtype: bf16 where the device computes it natively (auto) or where asked; fp16 on GPUs only."""
    if config.amp == "none" or (config.amp == "fp16" and device.type != "cuda"):
        return None
    if config.amp == "auto":
        native = torch.cuda.is_bf16_supported() if device.type == "cuda" else native_cpu_bf16()
        return torch.bfloat16 if native else None
    return torch.bfloat16 if config.amp == "bf16" else torch.float16


class MetricWindow:
    """Sums of metrics since the last log, reduced over ranks when read."""

    def __init__(self, device: torch.device, frame_shift: float = 0.01):
        self.device, self.frame_shift = device, frame_shift  # seconds per feature frame
        self.reset()

    def reset(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = defaultdict(int)
        self.audio = self.tokens = 0
        self.real, self.padded = [0, 0], [0, 0]  # frames and text tokens: in the batches, and padded
        self.start = time.perf_counter()

    def add(self, metrics: dict[str, torch.Tensor], batch: Batch) -> None:
        for name, value in metrics.items():
            self.sums[name] = self.sums.get(name, 0.0) + value
            self.counts[name] += 1
        for kind, (lengths, padded) in enumerate(
            ((batch.feat_lengths, batch.feats), (batch.token_lengths, batch.tokens))
        ):
            if lengths is not None:
                self.real[kind] += int(lengths.sum())
                self.padded[kind] += lengths.numel() * padded.shape[1]
        if batch.feat_lengths is not None:
            self.audio += int(batch.feat_lengths.sum())
        elif batch.token_lengths is not None:
            self.tokens += int(batch.token_lengths.sum())

    def read(self, runtime: Runtime) -> dict[str, float]:
        """Each metric's mean over the batches that reported it on any rank (a rank may have seen none: ranks
        reduce the union of their metric names), and the throughput."""
        names = sorted(set().union(*runtime.gather(sorted(self.sums))))
        zero = torch.zeros((), device=self.device)
        values = torch.stack([self.sums.get(n, zero) for n in names] + [zero]).double()
        counts = [self.counts[n] for n in names] + [0]
        totals = torch.tensor(
            [*counts, self.audio, self.tokens, *self.padded, *self.real], dtype=torch.float64, device=self.device
        )
        if runtime.world_size > 1:
            dist.all_reduce(values)
            dist.all_reduce(totals)
        seconds = max(time.perf_counter() - self.start, 1e-9)
        counts_all, (audio, tokens, *sizes) = totals[: len(names)], totals[-6:].tolist()
        padding = [1 - sizes[kind + 2] / sizes[kind] if sizes[kind] else 0.0 for kind in (0, 1)]
        record = {n: float(values[i] / counts_all[i]) for i, n in enumerate(names)}
        record.update(
            audio_s_per_s=audio * self.frame_shift / seconds,
            text_tokens_per_s=tokens / seconds,
            padding=padding[0],  # of the speech frames
            text_padding=padding[1],  # of the text tokens (inputs and targets)
        )
        return record


class Trainer:
    """Builds everything from a ``TrainConfig`` in an experiment directory and runs (or resumes) training."""

    def __init__(self, config: TrainConfig, exp: Path, runtime: Runtime):
        self.config, self.exp, self.runtime = config, exp, runtime
        with runtime.together():  # a rank that cannot build its model or data stops all before DDP waits for it
            torch.manual_seed(config.seed)
            self.tokenizer = Tokenizer(config.tokenizer)
            overrides = {"vocab_size": len(self.tokenizer), **config.model_options}
            model_config = load_model_config(config.model, **overrides)
            self.model_config = replace(model_config, heads=training_heads(config, model_config.heads))
            model = ALPModel(self.model_config)  # model.yaml records its heads: loading builds the same model
            if config.init is not None:
                report = ckpt.initialise(model, config.init, self.tokenizer, config.init_tokens)
                if runtime.main:
                    for line in report:
                        log(line)
            self.module = build_objectives(config, model, self.tokenizer).to(runtime.device)
            self.datasets = {n: self.stream_data(n, s.data) for n, s in config.streams.items()}
            self.valid_sets = {n: self.stream_data(n, dirs) for n, dirs in config.valid.items()}
            # CMVN: the config's, else the initial model's, else the first speech directory's statistics.
            speech_dirs = [Path(d) for s in config.streams.values() if s.kind != "text" for d in s.data]
            self.features = common_features_spec(speech_dirs)  # None: text only, or features made before feats.yaml
            self.frame_shift = (self.features.frame_shift_ms if self.features else 10.0) / 1000
            cmvn = config.cmvn or (None if config.init else next((str(d / "cmvn.ark") for d in speech_dirs), None))
            if cmvn is not None:
                model.frontend.cmvn.load_kaldi_stats(cmvn, config.allow_pipes)
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
        self.bad_steps = 0  # updates skipped in a row for a non-finite loss or gradient
        torch.manual_seed(config.seed + runtime.rank)  # masks and dropout differ across ranks

    @property
    def model(self) -> ALPModel:
        return self.module.model

    def longest_utterance(self) -> float | None:
        """Seconds of audio of the longest utterance the model heard in training (None: it heard none)."""
        frames = [int(d.lengths.max()) for n, d in self.datasets.items() if self.config.streams[n].kind != "text"]
        if not frames:
            return None
        frame_length = (self.features.frame_length_ms if self.features else 25.0) / 1000
        return math.ceil(100 * ((max(frames) - 1) * self.frame_shift + frame_length)) / 100

    def stream_data(self, name: str, dirs: list[str]) -> ConcatDataset | UsableItems:
        """The examples of stream ``name`` in ``dirs`` that the model can learn from: the log counts the utterances
        dropped as too short for the front end, or (for a CTC objective) with too long a target."""
        stream = self.config.streams[name]
        dataset = stream_dataset(name, stream, self.tokenizer, dirs, self.config.allow_pipes)
        if stream.kind == "text":
            return dataset
        ctc = any(self.module.streams[o] == name and objective.ctc for o, objective in self.module.objectives.items())
        dataset = usable_items(f"stream '{name}' ({', '.join(dirs)})", dataset, self.model.frontend.subsampled, ctc)
        if self.runtime.main and dataset.dropped:
            log(dataset.dropped)
        return dataset

    # -- state ---------------------------------------------------------------------------------------------------

    def resume(self, restart: bool) -> None:
        """Continue from the latest readable checkpoint, if any (``restart``: delete the checkpoints and logs
        first); rank 0 picks it, every rank loads it. The config may change between runs (the log lists the
        changed keys; the optimizer follows the new settings) unless the model's tensors change names or shapes."""
        with self.runtime.together():
            if restart and self.runtime.main:
                for name in (ckpt.CHECKPOINT, ckpt.PREVIOUS, "metrics.jsonl", ckpt.WEIGHTS, "curves.png"):
                    (self.exp / name).unlink(missing_ok=True)
                for name in (SNAPSHOTS, "tensorboard"):
                    shutil.rmtree(self.exp / name, ignore_errors=True)
        found = None
        with self.runtime.together():
            if self.runtime.main:
                found = ckpt.load_training_state(self.exp)
        path = self.runtime.broadcast(None if found is None else found[1])
        if path is None:
            return
        with self.runtime.together():
            state = found[0] if found is not None else ckpt.load_checkpoint(path, ckpt.TRAINING_STATE)
        changes = ckpt.config_changes(state["config"], to_dict(self.config)) if "config" in state else {}
        self.check_tensors(state["module"], path, changes)
        self.module.load_state_dict(state["module"])
        self.load_optimizer(state)
        self.scaler.load_state_dict(state["scaler"])
        self.step, self.elapsed, self.best = state["step"], state["elapsed"], state["best"]
        self.stale, self.stopped = state["stale"], state["stopped"]
        self.bad_steps = state.get("bad_steps", 0)
        if len(state["rng"]) != self.runtime.world_size:
            raise ConfigError(
                f"{path}: saved by {len(state['rng'])} processes, resumed by {self.runtime.world_size}; "
                "resume with the same number, or --restart"
            )
        ckpt.set_rng_state(state["rng"][self.runtime.rank])
        if self.runtime.main:
            changed = f"; config changed: {'; '.join(changes.values())}" if changes else ""
            log(f"resuming {self.exp} from step {self.step}{changed}")

    def check_tensors(self, saved: dict[str, torch.Tensor], path: Path, changes: dict[str, str]) -> None:
        """Refuse, in one line, a checkpoint whose tensors differ in names or shapes from this config's model's."""
        own = self.module.state_dict()
        names = own.keys() | saved.keys()
        differ = sorted(n for n in names if getattr(own.get(n), "shape", None) != getattr(saved.get(n), "shape", None))
        if not differ:
            return
        causes = [change for key, change in changes.items() if key.split(".")[0] in SHAPE_SECTIONS]
        heads = sorted({n.removeprefix("model.").split(".")[0] for n in differ})
        if not causes and all(n.startswith("model.") and n not in own for n in differ) and set(heads) <= set(HEADS):
            raise ConfigError(  # saved by an alptk that built every head, with the same config
                f"{path}: cannot resume: the checkpoint has heads that this config's objectives do not use "
                f"({', '.join(heads)}); add them to model_options.heads to resume, or rerun with --restart"
            )
        shapes = " -> ".join(str(list(s[differ[0]].shape)) if differ[0] in s else "absent" for s in (saved, own))
        why = "; ".join(causes) or f"no {', '.join(SHAPE_SECTIONS)} key changed: was the tokenizer retrained in place?"
        raise ConfigError(
            f"{path}: cannot resume: {len(differ)} tensors differ from this config's model (e.g. {differ[0]}: "
            f"{shapes}) after {why}; rerun with --restart to start over, or use a new --exp"
        )

    def load_optimizer(self, state: dict) -> None:
        """The optimizer's and scheduler's saved state under this config's settings (the learning rate, betas,
        weight decay and schedule may change between runs): the schedule continues from the updates made."""
        settings = [{k: v for k, v in group.items() if k != "params"} for group in self.optimizer.param_groups]
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        factor = lr_factor(self.config, self.scheduler.last_epoch)
        for group, own in zip(self.optimizer.param_groups, settings, strict=True):
            group.update(own, lr=own["initial_lr"] * factor)  # what LambdaLR computes: bitwise the saved rate
        self.scheduler.base_lrs = [group["initial_lr"] for group in self.optimizer.param_groups]
        self.scheduler._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def save(self) -> None:
        rng = [None] * self.runtime.world_size
        if self.runtime.world_size > 1:
            dist.all_gather_object(rng, ckpt.rng_state())
        else:
            rng = [ckpt.rng_state()]
        with self.runtime.together():  # rank 0 failing to write stops every rank
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
                    "bad_steps": self.bad_steps,
                    "rng": rng,
                    "config": to_dict(self.config),  # resuming lists what changed
                }
                ckpt.save_checkpoint(self.exp / ckpt.CHECKPOINT, state)
                kept = {f"step{step}.safetensors" for _, step in self.best}
                for snapshot in (self.exp / SNAPSHOTS).glob("*.safetensors"):
                    if snapshot.name not in kept:
                        snapshot.unlink()

    # -- steps ---------------------------------------------------------------------------------------------------

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.runtime.device.type, dtype=self.dtype)

    def update(self, batches, window: MetricWindow) -> None:
        """One optimizer update over ``accum_grad`` batches, skipped on every rank if a loss or the gradient norm
        is not finite on any. A skipped update changes nothing (weights, buffers, optimizer, scheduler, scaler) but
        still consumes its batches and advances ``step``: the data position stays ``step * accum_grad`` batches,
        so a resumed run is exact and never meets the bad batches again; the learning rate follows the updates
        made."""
        config = self.config
        buffers = [b.clone() for b in self.module.buffers()]  # batch norm statistics move in the forward pass
        seen = []
        for _ in range(config.accum_grad):
            stream, batch = next(batches)
            batch = batch.to(self.runtime.device, non_blocking=True)
            with self.autocast():
                loss, metrics = self.ddp(stream, batch)
            self.scaler.scale(loss / config.accum_grad).backward()
            seen.append((metrics, batch))
        if self.step < config.freeze.steps:
            for part in config.freeze.parts:
                for p in getattr(self.model, part).parameters():
                    p.grad = None
        self.scaler.unscale_(self.optimizer)
        if config.optim.clip > 0:
            norm = nn.utils.clip_grad_norm_(self.module.parameters(), config.optim.clip)
        else:
            norm = nn.utils.get_total_norm(p.grad for p in self.module.parameters() if p.grad is not None)
        problem = self.non_finite(seen, norm)
        if self.agree(problem is not None):
            self.skip(problem, buffers)
        else:
            for metrics, batch in seen:
                window.add(metrics, batch)
            window.add({"grad_norm": norm.detach().float()}, Batch([]))
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.scheduler.step()
            self.bad_steps = 0
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1

    def non_finite(self, seen: list[tuple[dict[str, torch.Tensor], Batch]], norm: torch.Tensor) -> str | None:
        """What this rank found not finite in an update: objectives' losses, their batches' utterances and those of
        them with non-finite features; else the gradient norm; None if nothing. Gradients that overflow fp16 while
        the losses are finite are the scaler's to handle (it skips the step and lowers its scale)."""
        losses = [(i, key[:-5]) for i, (metrics, _) in enumerate(seen) for key in metrics if key.endswith("/loss")]
        values = [norm.float(), *(seen[i][0][f"{objective}/loss"] for i, objective in losses)]
        norm_finite, *finite = torch.isfinite(torch.stack(values)).tolist()  # one device sync per update
        bad = [(i, objective) for (i, objective), ok in zip(losses, finite, strict=True) if not ok]
        if bad:
            batches = [seen[i][1] for i in sorted({i for i, _ in bad})]
            objectives, utts = ", ".join(sorted({o for _, o in bad})), " ".join(u for b in batches for u in b.utts)
            broken = [
                utt
                for b in batches
                if b.feats is not None
                for utt, finite in zip(b.utts, torch.isfinite(b.feats).all(dim=(1, 2)).tolist(), strict=True)
                if not finite
            ]
            features = f" (non-finite features: {' '.join(broken)})" if broken else ""
            return f"non-finite loss of {objectives} on {utts}{features}"
        if not norm_finite and not self.scaler.is_enabled():
            return f"non-finite gradient norm from {' '.join(utt for _, batch in seen for utt in batch.utts)}"
        return None

    def skip(self, problem: str | None, buffers: list[torch.Tensor]) -> None:
        """Undo what a skipped update's forward passes changed, log it (``problem``: this rank's finding) and count
        it; stop after ``max_bad_steps`` in a row."""
        for buffer, saved in zip(self.module.buffers(), buffers, strict=True):
            buffer.copy_(saved)
        self.scaler.update(self.scaler.get_scale())  # ends the scaler's step, keeping its scale
        self.bad_steps += 1
        step, limit = self.step + 1, self.config.max_bad_steps
        if problem is not None or self.runtime.main:
            rank = f" (rank {self.runtime.rank})" if self.runtime.world_size > 1 else ""
            found = problem or "a non-finite loss or gradient on another rank"
            log(f"step {step}{rank}: update skipped: {found} ({self.bad_steps} in a row; max_bad_steps {limit})")
        if self.bad_steps >= limit:
            raise ckpt.NonFiniteError(
                f"step {step}: {limit} updates in a row skipped for a non-finite loss or gradient (max_bad_steps): "
                "try a lower optim.lr or more optim.warmup_steps, check the utterances the log names, or amp=bf16 "
                "or amp=none if it is fp16; rerunning resumes from the last checkpoint"
            )

    def agree(self, value: int) -> int:
        """The largest ``value`` over the ranks: a decision every rank takes alike."""
        if self.runtime.world_size == 1:
            return value
        values = torch.tensor([int(value)], device=self.runtime.device)
        dist.all_reduce(values, op=dist.ReduceOp.MAX)
        return int(values.item())

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Mean loss and metrics of every objective over the validation sets, and their weighted sum ``loss``.
        Each set's batches are dealt to the ranks in turn (a rank may get none); every mean is over all of them.
        Masks are drawn from a fixed seed so that validations compare."""
        self.module.eval()
        window = MetricWindow(self.runtime.device, self.frame_shift)
        rank, world_size = self.runtime.rank, self.runtime.world_size
        with (
            torch.random.fork_rng(devices=[self.runtime.device] if self.runtime.device.type == "cuda" else []),
            self.runtime.together(),  # a rank that fails on its share stops every rank
        ):
            torch.manual_seed(self.config.seed)
            for name, dataset in self.valid_sets.items():
                for stream, batch in valid_loader(dataset, self.config.streams[name], name, rank, world_size):
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
        with self.runtime.together():  # rank 0 failing to write the snapshot stops every rank
            if self.runtime.main and any(step == self.step for _, step in self.best):
                tensors = self.model.state_dict()
                ckpt.save_weights(self.exp / SNAPSHOTS / f"step{self.step}.safetensors", tensors)
        self.stale = 0 if self.best[0][1] == self.step else self.stale + 1
        if self.config.patience and self.stale >= self.config.patience and self.step < self.config.max_steps:
            self.stopped = True
            if self.runtime.main:
                log(f"step {self.step}: no better {metric} in {self.stale} validations: stopping early")

    # -- the loop ------------------------------------------------------------------------------------------------

    def run(self) -> None:
        config, runtime = self.config, self.runtime
        with runtime.together():  # so is every write of rank 0's below: its failure stops every rank
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
        batches = (item for item in loader)  # closed below: its workers ignore SIGTERM, so nothing else stops them
        window = MetricWindow(runtime.device, self.frame_shift)
        self.module.train()
        try:
            with stop_requests() as stop:  # SIGTERM, SIGINT: save at the end of this step, then stop
                while self.step < config.max_steps and not self.stopped:
                    started = time.perf_counter()
                    self.update(batches, window)
                    self.elapsed += time.perf_counter() - started
                    last = self.step == config.max_steps
                    if reporter is not None:
                        reporter.advance()
                    if self.step % config.log_every == 0 or last:
                        record = window.read(runtime)
                        with runtime.together():
                            if reporter is not None:
                                reporter.record({"step": self.step, "lr": self.scheduler.get_last_lr()[0], **record})
                        window.reset()
                    if self.valid_sets and (self.step % config.valid_every == 0 or last):
                        record = self.validate()
                        self.keep_if_best(record)
                        with runtime.together():
                            if reporter is not None:
                                reporter.record({"step": self.step, "split": "valid", **record})
                                reporter.refresh_curves()
                        window.reset()
                    signum = self.agree(stop.signum)  # a signal to any rank stops all
                    done = last or self.stopped
                    if self.step % config.save_every == 0 or done or signum:
                        self.save()
                    if signum and not done:
                        interrupted = Interrupted(signum, self.step)
                        if runtime.main:
                            log(str(interrupted))
                        raise interrupted
        finally:
            batches.close()
            if reporter is not None:
                reporter.close()
        with runtime.together():
            if runtime.main:
                self.export()

    def write_description(self) -> None:
        """The experiment's resolved config, model config and tokenizer: enough to rebuild the model anywhere."""
        write_text(self.exp / "train.yaml", yaml.safe_dump(to_dict(self.config), sort_keys=False))
        write_text(self.exp / "model.yaml", yaml.safe_dump(to_dict(self.model_config), sort_keys=False))
        shutil.copytree(self.tokenizer.directory, self.exp / "tokenizer", dirs_exist_ok=True)
        if self.features is not None:
            save_features_spec(self.exp, self.features)

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
            "longest_utterance_seconds": self.longest_utterance(),
            "best": [{"step": s, self.config.best_metric: m} for m, s in self.best],
        }
        write_text(self.exp / "summary.yaml", yaml.safe_dump(summary, sort_keys=False))
        log(f"{self.exp}: {self.step} steps in {self.elapsed:.0f} s; {ckpt.WEIGHTS} = {source}")


def lost_ranks(error: Exception) -> bool:
    """Whether ``error`` is a collective that failed or timed out because another rank died or froze mid-step
    (DDP's gradient reduction raises gloo's errors as plain ``RuntimeError``; a timeout can also come from gloo's
    connection to that rank, as "Application timeout caused pair closure")."""
    markers = ("/gloo/", "NCCL", "caused pair closure")
    return isinstance(error, dist.DistError) or any(name in str(error) for name in markers)


def train(config: TrainConfig, exp: Path, restart: bool = False, device: str | None = None) -> None:
    """Train (or resume) the experiment ``exp`` as this process's share of the launched job. When another rank
    fails (and reports why), this one says so and exits with the same status."""
    runtime = start_runtime(device, config.collective_timeout)
    try:
        with runtime.together():
            exp.mkdir(parents=True, exist_ok=True)
        trainer = Trainer(config, exp, runtime)
        trainer.resume(restart)
        trainer.run()
    except RankFailed as failed:
        log(f"rank {runtime.rank}: stopping: rank {failed.rank} failed")
        raise SystemExit(failed.status) from None
    except (dist.DistError, RuntimeError) as err:
        if not lost_ranks(err):
            raise
        reason = next(iter(str(err).strip().splitlines()), type(err).__name__)
        raise AlptkError(
            f"rank {runtime.rank}: lost the other ranks ({reason}); their logs say why. Rerun the same command to "
            "resume from the last checkpoint"
        ) from err
    finally:
        if runtime.world_size > 1 and dist.is_initialized():
            # gloo's threads free a finished collective's tensors under the GIL, and tearing the group down (when
            # the trainer goes) joins them holding it: a deadlock unless they have had the GIL first
            time.sleep(TEARDOWN_PAUSE)
            dist.destroy_process_group()
