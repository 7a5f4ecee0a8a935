"""Language modelling: the shared decoder on text alone; used by fusing it into another model's search."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alptk.errors import ConfigError
from alptk.inference.decode import DecodeOptions
from alptk.inference.experiment import Experiment
from alptk.tasks.base import Task, register_task


@register_task
class LanguageModelling(Task):
    name = "lm"
    title = "language model (fused into an asr or st model's search)"
    usage = "alptk transcribe ASR_PACKAGE recording.wav --lm {package}"

    def decode(self, exp: Experiment, data: Path, out: Path, options: DecodeOptions) -> dict[str, Any]:
        raise ConfigError(f"{exp.path} is a language model: decode an asr or st model with --lm {exp.path}")
