"""``alptk pretrain``: train an experiment from a YAML config (one process, or one per device under torchrun)."""

from __future__ import annotations

from pathlib import Path

import typer


def pretrain(
    config: Path = typer.Option(..., help="Training config (YAML): model, streams, objectives, optimization."),
    exp: Path = typer.Option(..., help="Experiment directory: checkpoints, logs, model.safetensors."),
    overrides: list[str] = typer.Argument(None, help="Config overrides, e.g. max_steps=2000 optim.lr=5e-4."),
    restart: bool = typer.Option(False, "--restart", help="Start over instead of resuming from the last checkpoint."),
    device: str = typer.Option(None, help="cpu, cuda or cuda:N (default: cuda when available)."),
) -> None:
    """Pre-train (or resume) an audio-language model on the configured speech, text and paired streams.

    Rerunning an interrupted command resumes from its last checkpoint. Several devices or nodes: torchrun
    --nproc_per_node 4 -m alptk pretrain ...

    Example: alptk pretrain --config conf/pretrain.yaml --exp exp/pretrain max_steps=2000
    """
    from alptk.train.config import load_train_config
    from alptk.train.trainer import train

    train(load_train_config(config, overrides), exp, restart=restart, device=device)
