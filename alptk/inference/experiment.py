"""A trained model ready to run: from an experiment directory (``train.yaml`` says its task) or a zoo package
(``task.yaml`` does). Both hold ``model.yaml``, ``model.safetensors``, ``tokenizer/`` and, for a model that hears
speech, ``feats.yaml``: the fbank options its features were computed with."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from alptk.config import from_dict, load_yaml
from alptk.data.fbank import FbankConfig, load_features_spec
from alptk.data.tokenizer import BOS, Tokenizer
from alptk.errors import ConfigError, DataError
from alptk.files import write_text
from alptk.models.model import ALPModel, load_model
from alptk.progress import log
from alptk.train.config import TrainConfig, task_objective
from alptk.zoo.store import MANIFEST, fetch

TASK_FILE = "task.yaml"  # a package's task: what train.yaml tells of an experiment, without paths
TRAIN_CONFIG = "train.yaml"
SUMMARY = "summary.yaml"  # what training reports: steps, time, the longest utterance heard, ...
DECODE_DEFAULTS = "decode.yaml"  # a package's default decoding options (DecodeOptions keys; ``lm: lm`` is its lm/)


@dataclass
class Experiment:
    """A trained model (eval mode) with what running it needs: tokenizer, task, the options of the objective its
    task decodes with, and the features it hears (None for a text-only model)."""

    path: Path
    model: ALPModel
    tokenizer: Tokenizer
    task: str
    objective: dict[str, Any]  # {type, start_token, ...}: the decoding objective's options; {} for pretrain and lm
    field: str  # the text table it reads or writes (text, text.fr)
    features: FbankConfig | None
    longest_input: float | None = None  # seconds: the longest utterance it heard in training, where known

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def start(self) -> int:
        """The token a generated text begins with (``<s>``, or a language tag for translation)."""
        return self.tokenizer.token_id(self.objective.get("start_token", BOS))

    @property
    def frame_shift(self) -> float:
        """Seconds per feature frame."""
        return (self.features.frame_shift_ms if self.features else 10.0) / 1000


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def require_task(exp: Experiment, tasks: tuple[str, ...], runner: str) -> None:
    """Refuse a model of another task than ``tasks`` (``runner`` runs those)."""
    if exp.task not in tasks:
        raise ConfigError(f"{exp.path} is a model of task {exp.task}; {runner} runs those of {' and '.join(tasks)}")


def task_spec(config: TrainConfig) -> dict[str, Any]:
    """What running a model needs of its training config: the task, the options of its decoding objective (its
    ``type`` filled in; stream and weight left out), and the text table that objective's stream reads."""
    name = task_objective(config, TRAIN_CONFIG)
    if name is None:
        field = next((s.fields[0] for s in config.streams.values() if s.kind != "speech"), "text")
        return {"task": config.task, "objective": {}, "field": field}
    spec = {"type": name, **config.objectives[name]}
    field = config.streams[spec["stream"]].fields[0]
    objective = {k: v for k, v in spec.items() if k not in ("stream", "weight")}
    return {"task": config.task, "objective": objective, "field": field}


def write_task_spec(directory: Path, spec: dict[str, Any]) -> None:
    write_text(directory / TASK_FILE, yaml.safe_dump(spec, sort_keys=False))


def read_task_spec(path: str | Path) -> dict[str, Any]:
    """The task spec (:func:`task_spec`) of an experiment directory or an unpacked package."""
    path = Path(path)
    if (path / TASK_FILE).is_file():
        return load_yaml(path / TASK_FILE)
    if (path / TRAIN_CONFIG).is_file():
        return task_spec(from_dict(TrainConfig, load_yaml(path / TRAIN_CONFIG), str(path / TRAIN_CONFIG)))
    raise DataError(f"no {TRAIN_CONFIG} or {TASK_FILE}: not an experiment or a package", path)


def model_directory(source: str | Path) -> Path:
    """The directory of a model: an experiment directory (or a model inside a package, as its ``lm/``) as it is,
    else what ``alptk.zoo.store.fetch`` makes of ``source`` (a package, archive, URL, ``hf:owner/name`` or name)."""
    path = Path(source).expanduser()
    if path.is_dir() and not (path / MANIFEST).is_file():
        return path
    return fetch(str(source))


def load_experiment(path: str | Path, device: str | torch.device = "cpu") -> Experiment:
    """The model of an experiment directory or an unpacked package, on ``device``, in eval mode."""
    path = Path(path)
    spec = read_task_spec(path)
    if "longest_input_seconds" not in spec and (path / SUMMARY).is_file():
        spec["longest_input_seconds"] = load_yaml(path / SUMMARY).get("longest_utterance_seconds")
    model = load_model(path, device)
    features = model_features(path, spec["task"], model.config.n_mels)
    tokenizer, longest = Tokenizer(path / "tokenizer"), spec.get("longest_input_seconds")
    return Experiment(path, model, tokenizer, spec["task"], spec["objective"], spec["field"], features, longest)


def model_features(path: Path, task: str, n_mels: int) -> FbankConfig | None:
    """The fbank spec of the model in ``path``; for one trained before alptk wrote ``feats.yaml``, Kaldi's defaults
    with its ``n_mels`` bins (said in the log); None for a language model, which hears nothing."""
    features = load_features_spec(path)
    if features is None and task != "lm":
        features = FbankConfig(num_mel_bins=n_mels)
        log(f"{path}: no feats.yaml (trained before alptk wrote it): assuming Kaldi fbank, {n_mels} bins")
    return features
