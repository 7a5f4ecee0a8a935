"""Pre-training: a model of every objective, decoded as zero-shot speech-text retrieval with its matching heads and
scored by recall at 1, 5 and 10."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alptk.inference.decode import EMBEDDINGS, DecodeOptions, embed
from alptk.inference.experiment import Experiment
from alptk.scoring.results import retrieval_scores
from alptk.tasks.base import Scored, Task, register_task


@register_task
class PreTraining(Task):
    name = "pretrain"
    title = "pre-trained speech-text model (matching embeddings for retrieval)"
    commands = ("embed", "retrieve")
    usage = "alptk retrieve {package} --audio recording.wav --text-file sentences.txt"
    api = "SpeechTextMatcher"

    def decode(self, exp: Experiment, data: Path, out: Path, options: DecodeOptions) -> dict[str, Any]:
        return embed(exp, data, out, options)

    def score(self, decode, info, references, ref_dir, normalize, allow_pipes) -> Scored:
        return Scored(scores=retrieval_scores(decode / EMBEDDINGS))

    def decode_tag(self, options: DecodeOptions) -> str:
        return "retrieval"
