"""Speech translation: decoded as recognition is, into the target language; scored by BLEU and chrF."""

from __future__ import annotations

from alptk.scoring.metrics import bleu_chrf
from alptk.scoring.results import read_text
from alptk.tasks.asr import SpeechRecognition, reference_table
from alptk.tasks.base import Scored, register_task


@register_task
class SpeechTranslation(SpeechRecognition):
    name = "st"
    title = "speech translation"
    commands = ("translate",)
    usage = "alptk translate {package} recording.wav"

    def score(self, decode, info, references, ref_dir, normalize, allow_pipes) -> Scored:
        refs = reference_table(info, references, ref_dir)
        scores = bleu_chrf(refs, read_text(decode / "text"), decode / "text")
        return Scored(scores={k: round(v, 1) for k, v in scores.items()})
