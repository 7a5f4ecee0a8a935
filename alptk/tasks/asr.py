"""Speech recognition: joint CTC/attention search (with a language model fused in when asked), scored by WER and
CER."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alptk.errors import DataError
from alptk.inference.decode import DecodeOptions, recognize
from alptk.inference.experiment import Experiment
from alptk.scoring.results import error_rate_row
from alptk.tasks.base import Scored, Task, register_task


@register_task
class SpeechRecognition(Task):
    name = "asr"
    title = "speech recognition"
    commands = ("transcribe",)
    usage = "alptk transcribe {package} recording.wav"
    api = "Speech2Text"
    tagged_keys = ("beam", "ctc_weight", "lm", "lm_weight")
    decode_keys = (*tagged_keys, "nbest", "max_length_ratio", "length_normalized")

    def decode(self, exp: Experiment, data: Path, out: Path, options: DecodeOptions) -> dict[str, Any]:
        return recognize(exp, data, out, options)

    def score(self, decode, info, references, ref_dir, normalize, allow_pipes) -> Scored:
        scored = Scored()
        refs = reference_table(info, references, ref_dir)
        for name in ("WER", "CER"):
            scored.tables[name], scored.confusions[name] = error_rate_row(name, refs, decode / "text", normalize)
            scored.scores[name] = scored.tables[name]["Err"]
        return scored

    def decode_tag(self, options: DecodeOptions) -> str:
        return search_tag(options)

    def describe_decoding(self, options: DecodeOptions) -> str:
        search = "greedy search" if options.beam == 1 else f"beam {options.beam}"
        lm = f", language model (`lm/`) weight {options.lm_weight:g}" if options.lm else ""
        return f"{search}, CTC weight {options.ctc_weight:g}{lm}"

    def package_extras(self, options: DecodeOptions) -> dict[str, Path]:
        return {"lm": Path(options.lm)} if options.lm else {}


def search_tag(options: DecodeOptions) -> str:
    """``beam10_ctc0.3``, and ``_lm0.3`` with a language model: how a text was searched for."""
    return f"beam{options.beam}_ctc{options.ctc_weight:g}" + (f"_lm{options.lm_weight:g}" if options.lm else "")


def reference_table(info: dict[str, Any], references: dict[str, dict[str, str]], ref_dir: Path) -> dict[str, str]:
    """The table of ``ref_dir`` that a decoding's hypotheses are scored against (its ``reference_field``)."""
    field = info["reference_field"]
    if field not in references:
        raise DataError(f"no {field} table to score against", ref_dir)
    return references[field]
