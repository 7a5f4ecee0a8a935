"""The training config: model, data streams, objectives and optimization, one typed YAML file per experiment.

Pre-training and fine-tuning share it; a fine-tuning config differs in its objectives, streams and ``init``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from alptk.config import check_limits, load_config
from alptk.errors import ConfigError
from alptk.objectives import OBJECTIVES

StreamKind = Literal["speech", "text", "paired"]
PRETRAIN = "pretrain"  # the task of a model of every objective, decoded by none in particular


@dataclass
class StreamConfig:
    """One source of batches: data directories, the text tables read from them, the batch size and the share."""

    kind: StreamKind
    data: list[str]
    fields: list[str] = field(default_factory=lambda: ["text"])  # text tables (ignored by speech streams)
    max_frames: int = 20000  # speech: padded fbank frames per batch
    max_tokens: int = 4000  # text: padded tokens per batch
    ratio: float = 1.0  # share of batches taken from this stream


@dataclass
class OptimConfig:
    lr: float = 1e-3
    betas: list[float] = field(default_factory=lambda: [0.9, 0.98])
    weight_decay: float = 0.01
    warmup_steps: int = 500
    schedule: Literal["cosine", "inverse_sqrt", "constant"] = "cosine"
    final_lr_ratio: float = 0.05  # cosine decays to lr * final_lr_ratio at max_steps
    clip: float = 5.0  # gradient norm limit (0: none)


@dataclass
class FreezeConfig:
    parts: list[str] = field(default_factory=list)  # top-level model parts, e.g. [speech_encoder, frontend]
    steps: int = 0


@dataclass
class TrainConfig:
    """Everything one experiment needs; relative paths are relative to the directory the command runs in."""

    tokenizer: str
    streams: dict[str, StreamConfig]
    objectives: dict[str, dict[str, Any]]  # name -> {type (default: name), stream, weight, ...objective options}
    task: str = PRETRAIN  # what the experiment is decoded as: by the objective whose class lists it in ``tasks``
    model: str = "tiny"  # preset name or model YAML
    model_options: dict[str, Any] = field(default_factory=dict)  # overrides of the model config
    cmvn: str | None = None  # Kaldi cmvn.ark; default: the first speech data directory's
    allow_pipes: bool = False  # read Kaldi pipe values (`command |`) of feats.scp and cmvn; they run shell commands
    init: str | None = None  # experiment dir or weights file to start from (fine-tuning)
    init_tokens: Literal["same", "by_string"] = "same"  # init's tokenizer: the same ids, or rows mapped by token
    freeze: FreezeConfig = field(default_factory=FreezeConfig)
    valid: dict[str, list[str]] = field(default_factory=dict)  # stream name -> validation data directories
    optim: OptimConfig = field(default_factory=OptimConfig)
    max_steps: int = 1000  # optimizer updates
    accum_grad: int = 1  # batches per update
    amp: Literal["auto", "bf16", "fp16", "none"] = "auto"  # auto: bf16 where the GPU or CPU has it natively
    seed: int = 0
    shuffle: bool = True
    num_workers: int = 1  # DataLoader worker processes per rank
    collective_timeout: float = 1800.0  # seconds a rank waits for the others before it fails (several processes)
    log_every: int = 25
    valid_every: int = 250
    save_every: int = 250
    keep_best: int = 3  # snapshots kept (and averaged into model.safetensors) by the best validation loss
    best_metric: str = "loss"  # validation metric ranking snapshots, lower is better (e.g. s2t/loss); "last": latest
    patience: int = 0  # stop after this many validations without a new best (0: train to max_steps)
    max_bad_steps: int = 10  # stop after this many updates in a row skipped for a non-finite loss or gradient


# the range of every numeric option (streams.*: each stream), checked by load_train_config
LIMITS = {
    "max_steps": ">= 1",
    "accum_grad": ">= 1",
    "log_every": ">= 1",
    "valid_every": ">= 1",
    "save_every": ">= 1",
    "keep_best": ">= 1",
    "max_bad_steps": ">= 1",
    "patience": ">= 0",
    "num_workers": ">= 0",
    "collective_timeout": "> 0",
    "freeze.steps": ">= 0",
    "streams.*.max_frames": ">= 1",
    "streams.*.max_tokens": ">= 1",
    "streams.*.ratio": "> 0",
    "optim.lr": ">= 0",
    "optim.weight_decay": ">= 0",
    "optim.warmup_steps": ">= 0",
    "optim.final_lr_ratio": ">= 0",
    "optim.clip": ">= 0",
}


def load_train_config(path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    """Read and check a training config: objectives name known streams, validation names known streams."""
    config = load_config(TrainConfig, path, overrides)
    where = str(path)
    if not config.streams:
        raise ConfigError(f"{where}: streams: at least one data stream is needed")
    if not config.objectives:
        raise ConfigError(f"{where}: objectives: at least one objective is needed")
    for name, stream in config.streams.items():
        if not stream.data:
            raise ConfigError(f"{where}: streams.{name}: data lists no directories")
    for name, spec in config.objectives.items():
        if not isinstance(spec, dict):
            raise ConfigError(f"{where}: objectives.{name}: expected a mapping with 'stream'")
        if spec.get("stream") not in config.streams:
            raise ConfigError(
                f"{where}: objectives.{name}: stream '{spec.get('stream')}' is not one of the streams "
                f"({', '.join(config.streams)})"
            )
    task_objective(config, where)
    unknown = sorted(set(config.valid) - set(config.streams))
    if unknown:
        raise ConfigError(f"{where}: valid: '{unknown[0]}' is not one of the streams ({', '.join(config.streams)})")
    check_limits(config, LIMITS, where)
    return config


def task_objective(config: TrainConfig, where: str = "config") -> str | None:
    """The objective a fine-tuned model is decoded as: the one named after the task (``st`` in ST training with an
    auxiliary ``asr``), else the only one of a type the task decodes with; None for pre-training."""
    if config.task == PRETRAIN:
        return None
    types = task_objective_types(config.task)
    if not types:
        raise ConfigError(f"{where}: task: unknown task '{config.task}' (choose from {', '.join(known_tasks())})")
    spec = config.objectives.get(config.task)
    if isinstance(spec, dict) and spec.get("type", config.task) in types:
        return config.task
    names = [name for name, spec in config.objectives.items() if spec.get("type", name) in types]
    if len(names) != 1:
        raise ConfigError(
            f"{where}: task {config.task} decodes with the {' or '.join(types)} objective named '{config.task}', or "
            f"the only such objective; found {len(names)}"
        )
    return names[0]


def task_objective_types(task: str) -> tuple[str, ...]:
    """The objective types whose classes say they train models decoded as ``task``."""
    return tuple(name for name in OBJECTIVES.names() if task in OBJECTIVES.get(name).tasks)


def known_tasks() -> list[str]:
    return sorted({PRETRAIN, *(task for name in OBJECTIVES.names() for task in OBJECTIVES.get(name).tasks)})
