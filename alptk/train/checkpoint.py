"""Checkpoints and weights: the resumable training state, shareable ``safetensors`` weights, averaging, and
initialisation from another experiment by matching tensor names and shapes."""

from __future__ import annotations

import pickle
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import torch
from torch import nn

from alptk.config import from_dict, load_yaml
from alptk.data.tokenizer import Tokenizer
from alptk.errors import DataError
from alptk.files import atomic_path
from alptk.models.model import ALPModel, ModelConfig
from alptk.progress import log
from alptk.train.config import TrainConfig

CHECKPOINT = "checkpoint.pt"
WEIGHTS = "model.safetensors"


def rng_state() -> dict[str, Any]:
    """Every random generator a training step draws from."""
    kind, keys, position, has_gauss, gauss = np.random.get_state()
    numpy_state = [kind, keys.tolist(), position, has_gauss, gauss]  # plain data: checkpoints load weights_only
    state = {"python": random.getstate(), "numpy": numpy_state, "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    kind, keys, position, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), position, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write the training state under a temporary name and rename it: the previous one stays until this is whole."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError) as err:
        raise DataError(f"unreadable checkpoint ({err}); rerun with --restart to start over", path) from None


def save_weights(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    """Weights as ``safetensors`` (no pickle: safe to share), written atomically; tied tensors stored once each."""
    contiguous = {name: t.detach().cpu().contiguous().clone() for name, t in tensors.items()}
    with atomic_path(path) as tmp:
        safetensors.torch.save_file(contiguous, str(tmp), metadata=metadata)


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """Model tensors from an experiment dir (its ``model.safetensors``), a ``.safetensors`` file or a checkpoint."""
    path = Path(path)
    if path.is_dir():
        path = path / WEIGHTS
    if not path.is_file():
        raise DataError("no weights here (expected an experiment dir, a .safetensors file or a checkpoint.pt)", path)
    if path.suffix == ".safetensors":
        return safetensors.torch.load_file(str(path))
    state = load_checkpoint(path)
    prefix = "model."
    return {k[len(prefix) :]: v for k, v in state["module"].items() if k.startswith(prefix)}


def average_weights(paths: list[Path]) -> dict[str, torch.Tensor]:
    """The element-wise mean of several weight files (integer buffers are taken from the first)."""
    first = load_weights(paths[0])
    total = {name: t.double() if t.is_floating_point() else t for name, t in first.items()}
    for path in paths[1:]:
        for name, tensor in load_weights(path).items():
            if tensor.is_floating_point():
                total[name] += tensor.double()
    return {name: (t / len(paths)).to(first[name].dtype) if t.is_floating_point() else t for name, t in total.items()}


def initialise_from(model: nn.Module, tensors: dict[str, torch.Tensor]) -> dict[str, list[str]]:
    """Copy every tensor whose name and shape match; report ``loaded``, ``new`` (left as initialised) and ``unused``."""
    own = model.state_dict()
    loaded = [n for n, t in tensors.items() if n in own and own[n].shape == t.shape]
    model.load_state_dict({n: tensors[n] for n in loaded}, strict=False)
    return {
        "loaded": loaded,
        "new": [n for n in own if n not in set(loaded)],
        "unused": [n for n in tensors if n not in set(loaded)],
    }


def summarize_names(names: list[str]) -> str:
    """``speech_encoder (96), decoder (40)``: tensor counts per top-level part."""
    counts: dict[str, int] = {}
    for name in names:
        part = name.split(".")[0]
        counts[part] = counts.get(part, 0) + 1
    return ", ".join(f"{part} ({n})" for part, n in counts.items()) or "none"


@dataclass
class Experiment:
    """A trained experiment directory, loaded for decoding: its model (eval mode), tokenizer and config."""

    path: Path
    model: ALPModel
    tokenizer: Tokenizer
    config: TrainConfig


def load_experiment(exp: str | Path, device: str | torch.device = "cpu") -> Experiment:
    """Rebuild the model of ``exp`` from its ``model.yaml`` and ``model.safetensors``. Parts the weights lack
    (an experiment from before alptk had them) start afresh, and the log names them."""
    exp = Path(exp)
    for name in ("model.yaml", "train.yaml", WEIGHTS):
        if not (exp / name).is_file():
            raise DataError(f"no {name}: not a finished experiment (train it first)", exp)
    model = ALPModel(from_dict(ModelConfig, load_yaml(exp / "model.yaml"), str(exp / "model.yaml")))
    missing, unexpected = model.load_state_dict(load_weights(exp), strict=False)
    if unexpected:
        raise DataError(f"{WEIGHTS} has tensors this model does not, e.g. {unexpected[0]}", exp)
    if missing:
        log(f"{exp}: {WEIGHTS} lacks {', '.join(sorted({k.split('.')[0] for k in missing}))}: they start afresh")
    config = from_dict(TrainConfig, load_yaml(exp / "train.yaml"), str(exp / "train.yaml"))
    return Experiment(exp, model.to(device).eval(), Tokenizer(exp / "tokenizer"), config)
