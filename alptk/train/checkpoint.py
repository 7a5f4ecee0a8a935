"""Checkpoints and weights: the resumable training state (the latest and the previous one, so that a latest one
left unreadable costs one interval), what changed in the config since, shareable ``safetensors`` weights (never
NaN or inf), averaging, and initialisation from another experiment by matching tensor names and shapes."""

from __future__ import annotations

import os
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import torch
from torch import nn

from alptk.data.tokenizer import MODEL_FILE, Tokenizer
from alptk.errors import AlptkError, ConfigError, DataError
from alptk.files import atomic_open
from alptk.models.model import WEIGHTS, ALPModel
from alptk.progress import log

CHECKPOINT = "checkpoint.pt"
PREVIOUS = "checkpoint.prev.pt"  # the checkpoint before the latest, kept in case the latest cannot be read
# what a training checkpoint holds; "config" (to report changes) and "bad_steps" were added later: optional
TRAINING_STATE = ("module", "optimizer", "scheduler", "scaler", "step", "elapsed", "best", "stale", "stopped", "rng")


class NonFiniteError(AlptkError):
    """NaN or inf where numbers must be finite: in training's losses and gradients, or in weights to be saved."""


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


def require_finite(tensors: dict[str, torch.Tensor], path: Path) -> None:
    """Refuse to write ``path`` if a floating-point tensor holds NaN or inf."""
    floats = {name: t for name, t in tensors.items() if t.is_floating_point()}
    finite = torch.stack([torch.isfinite(t).all() for t in floats.values()]).tolist() if floats else []
    bad = [name for name, ok in zip(floats, finite, strict=True) if not ok]
    if bad:
        more = f" and {len(bad) - 1} more tensors" if len(bad) > 1 else ""
        raise NonFiniteError(f"{path}: not written: NaN or inf in {bad[0]}{more}; the file there is kept")


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write the training state whole (synced to disk) under a temporary name; then the latest checkpoint becomes
    the previous one (``PREVIOUS`` beside it) and the new one takes its name. Interrupted in between, the latest
    is missing and resuming takes the previous one."""
    require_finite(state["module"], path)
    with atomic_open(path, "wb") as f:
        try:
            torch.save(state, f)
        except RuntimeError as err:  # torch's writer reports the system's refusal (disk full, a quota) as its own
            if isinstance(err.__context__, OSError):
                raise err.__context__ from None
            raise
        if path.is_file():
            os.replace(path, path.with_name(PREVIOUS))


def load_checkpoint(path: Path, keys: tuple[str, ...] = ("module",)) -> dict[str, Any]:
    """A checkpoint's state; a ``DataError`` (one line) if it is missing, cannot be read or lacks ``keys``."""
    if not path.is_file():
        raise DataError("missing", path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as err:
        raise DataError(f"unreadable checkpoint ({err.strerror or err})", path) from None
    except Exception as err:  # a damaged file fails in many ways (EOFError, RuntimeError, KeyError, ...)
        detail = f"{type(err).__name__}: {next(iter(str(err).splitlines()), '')}"[:80]
        reason = "an empty file" if path.stat().st_size == 0 else f"truncated or another format: {detail}"
        raise DataError(f"unreadable checkpoint ({reason})", path) from None
    if not isinstance(state, dict):
        raise DataError(f"not a checkpoint (holds a {type(state).__name__})", path)
    missing = [key for key in keys if key not in state]
    if missing:
        raise DataError(f"not a training checkpoint (no {', '.join(missing)})", path)
    return state


def load_training_state(exp: Path) -> tuple[dict[str, Any], Path] | None:
    """The training state of ``exp`` and the file it came from: the latest checkpoint, else (saying why, in one
    line) the previous one; None if there is neither. A ``DataError`` if neither can be read."""
    latest, previous = exp / CHECKPOINT, exp / PREVIOUS
    if not latest.exists() and not previous.exists():
        return None
    try:
        return load_checkpoint(latest, TRAINING_STATE), latest
    except DataError as err:
        if not previous.exists():
            raise DataError(f"{err.reason}; rerun with --restart to start over (or use a new --exp)", latest) from None
        try:
            state = load_checkpoint(previous, TRAINING_STATE)
        except DataError as previous_err:
            raise DataError(
                f"no readable checkpoint: {CHECKPOINT}: {err.reason}; {PREVIOUS}: {previous_err.reason}; "
                "rerun with --restart to start over (or use a new --exp)",
                exp,
            ) from None
        log(f"{err}: resuming from the previous one, {previous.name}")
        return state, previous


def config_changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, str]:
    """The dotted keys whose values differ between two configs (as ``to_dict`` gives them), each with its change:
    ``{"optim.lr": "optim.lr: 0.001 -> 0.0005"}``."""
    old, new = _flatten(old), _flatten(new)
    unset = "(unset)"
    return {
        key: f"{key}: {old.get(key, unset)} -> {new.get(key, unset)}"
        for key in sorted(old.keys() | new.keys())
        if old.get(key, unset) != new.get(key, unset)
    }


def _flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def save_weights(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    """Weights as ``safetensors`` (no pickle: safe to share), written atomically and never with NaN or inf; tied
    tensors stored once each."""
    require_finite(tensors, path)
    contiguous = {name: t.detach().cpu().contiguous().clone() for name, t in tensors.items()}
    encoded = safetensors.torch.save(contiguous, metadata=metadata)  # save_file can drop a refused write unsaid
    with atomic_open(path, "wb") as f:
        f.write(encoded)


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


def initialise(model: ALPModel, init: str | Path, tokenizer: Tokenizer, init_tokens: str = "same") -> list[str]:
    """Start ``model`` (built for ``tokenizer``) from the weights ``init`` (``initialise_from``); return log lines
    saying how. The tokenizer ``init`` was trained with must have the same tokens, id for id, unless ``init_tokens``
    is ``by_string``: then the token-indexed rows move to where each token is now, and the other tokens start
    afresh. A vocabulary of another size starts afresh, said in the log."""
    tensors, source, tokens = load_weights(init), init_tokenizer(init), tokenizer.tokens
    lines = []
    if source is None:
        lines.append(f"init from {init}: no tokenizer beside it, so its tokens cannot be checked against this one's")
    elif source.tokens != tokens and init_tokens == "by_string":
        tensors, mapped = map_token_rows(model, tensors, source.tokens, tokens)
        lines.append(
            f"init from {init}: {mapped} of {len(tokens)} tokens mapped by string from its tokenizer "
            f"({source.directory}); {len(tokens) - mapped} start afresh"
        )
    elif len(source.tokens) == len(tokens) and source.tokens != tokens:
        raise ConfigError(
            f"init: {init} has another tokenizer ({source.directory}) than {tokenizer.directory}: "
            f"{token_differences(source.tokens, tokens)}; use its tokenizer, or set init_tokens: by_string to keep the "
            "embeddings of the tokens both have"
        )
    elif source.tokens != tokens:
        lines.append(
            f"init from {init}: its tokenizer has {len(source.tokens)} tokens, this one {len(tokens)}: token tensors "
            "start afresh (init_tokens: by_string keeps the embeddings of the tokens both have)"
        )
    report = initialise_from(model, tensors)
    kinds = ("loaded", "new", "unused")
    return lines + [f"init from {init}: {kind} {len(report[kind])}: {summarize_names(report[kind])}" for kind in kinds]


def init_tokenizer(init: str | Path) -> Tokenizer | None:
    """The tokenizer of the experiment the weights ``init`` come from: its ``tokenizer/``, beside the weights file
    (or above its ``snapshots/``) or in the directory ``init`` names; None if there is none."""
    path = Path(init)
    exp = path if path.is_dir() else path.parent.parent if path.parent.name == "snapshots" else path.parent
    return Tokenizer(exp / "tokenizer") if (exp / "tokenizer" / MODEL_FILE).is_file() else None


def token_differences(old: list[str], new: list[str], shown: int = 3) -> str:
    """``2 of 40 ids differ: id 4 is 'a' there and 'b' here, ...``"""
    differing = [i for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b]
    examples = ", ".join(f"id {i} is '{old[i]}' there and '{new[i]}' here" for i in differing[:shown])
    more = f" and {len(differing) - shown} more" if len(differing) > shown else ""
    return f"{len(differing)} of {len(new)} ids differ: {examples}{more}"


def token_dims(model: ALPModel) -> dict[str, int]:
    """The tensors indexed by token id, and that dimension: those whose shape follows the vocabulary size."""
    with torch.device("meta"):  # shapes only
        larger = ALPModel(replace(model.config, vocab_size=model.config.vocab_size + 1)).state_dict()
    return {
        name: [a != b for a, b in zip(t.shape, larger[name].shape, strict=True)].index(True)
        for name, t in model.state_dict().items()
        if t.shape != larger[name].shape
    }


def map_token_rows(
    model: ALPModel, tensors: dict[str, torch.Tensor], old_tokens: list[str], new_tokens: list[str]
) -> tuple[dict[str, torch.Tensor], int]:
    """``tensors`` with the token-indexed ones in the order of ``new_tokens``: the rows of the tokens that
    ``old_tokens`` has too, found by string, and ``model``'s own rows for the others; and how many were mapped."""
    old_ids = {token: i for i, token in enumerate(old_tokens)}
    pairs = [(new, old_ids[token]) for new, token in enumerate(new_tokens) if token in old_ids]
    new_index = torch.tensor([new for new, _ in pairs], dtype=torch.long)
    old_index = torch.tensor([old for _, old in pairs], dtype=torch.long)
    own, mapped = model.state_dict(), dict(tensors)
    for name, dim in token_dims(model).items():
        source, target = tensors.get(name), own[name]
        other_dims = [n for d, n in enumerate(target.shape) if d != dim]
        if source is None or [n for d, n in enumerate(source.shape) if d != dim] != other_dims:
            continue  # not in the weights, or another size: starts afresh
        mapped[name] = target.index_copy(dim, new_index, source.index_select(dim, old_index).to(target.dtype))
    return mapped, len(pairs)


def summarize_names(names: list[str]) -> str:
    """``speech_encoder (96), decoder (40)``: tensor counts per top-level part."""
    counts: dict[str, int] = {}
    for name in names:
        part = name.split(".")[0]
        counts[part] = counts.get(part, 0) + 1
    return ", ".join(f"{part} ({n})" for part, n in counts.items()) or "none"
