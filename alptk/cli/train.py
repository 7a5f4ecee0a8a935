"""``alptk pretrain`` and ``alptk finetune``: train an experiment from a YAML config (one process, or one per
device under torchrun). Both run the same trainer; fine-tuning names a task and starts from other weights."""

from __future__ import annotations

from pathlib import Path

import typer

Config = typer.Option(..., help="Training config (YAML): model, streams, objectives, optimization.")
Exp = typer.Option(..., help="Experiment directory: checkpoints, logs, model.safetensors.")
Overrides = typer.Argument(None, help="Config overrides, e.g. max_steps=2000 optim.lr=5e-4.")
Restart = typer.Option(False, "--restart", help="Start over instead of resuming from the last checkpoint.")
Device = typer.Option(None, help="cpu, cuda or cuda:N (default: cuda when available).")


def _train(config: Path, exp: Path, overrides: list[str], restart: bool, device: str | None) -> None:
    from alptk.train.config import load_train_config
    from alptk.train.trainer import train

    train(load_train_config(config, overrides), exp, restart=restart, device=device)


def pretrain(
    config: Path = Config,
    exp: Path = Exp,
    overrides: list[str] = Overrides,
    restart: bool = Restart,
    device: str = Device,
) -> None:
    """Pre-train (or resume) an audio-language model on the configured speech, text and paired streams, or a
    language model (task lm) on text streams for decoding with --lm.

    Rerunning an interrupted command resumes from its last checkpoint. Several devices or nodes: torchrun
    --nproc_per_node 4 -m alptk pretrain ...

    Example: alptk pretrain --config conf/pretrain.yaml --exp exp/pretrain max_steps=2000
    """
    _train(config, exp, overrides or [], restart, device)


def finetune(
    task: str = typer.Option(None, help="asr, st or tts (default: the config's task)."),
    init: str = typer.Option(None, help="Experiment dir or weights to start from (default: the config's init)."),
    config: Path = Config,
    exp: Path = Exp,
    overrides: list[str] = Overrides,
    restart: bool = Restart,
    device: str = Device,
) -> None:
    """Fine-tune for ASR, speech translation or TTS, from a pre-trained experiment (matching tensors are
    loaded, the rest initialised; the log lists both) or from scratch. Same trainer, logs and resume as pretrain.

    Example: alptk finetune --task asr --init exp/pretrain --config conf/finetune_asr.yaml --exp exp/asr
    """
    extra = [f"task={task}"] if task else []
    extra += [f"init={init}"] if init else []
    _train(config, exp, [*(overrides or []), *extra], restart, device)
