"""Speech synthesis: mel frames, Griffin-Lim waveforms and their fbank; scored by intelligibility (an ASR model's
WER and CER on the speech made, when one transcribes it) and mel cepstral distortion against reference features."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from alptk.data.features import extract_fbank_dir
from alptk.data.formatting import format_dir
from alptk.inference.decode import DecodeOptions, recognize, synthesize
from alptk.inference.experiment import Experiment, load_experiment
from alptk.scoring.results import error_rate_row, mean_mcd
from alptk.tasks.asr import SpeechRecognition, reference_table, search_tag
from alptk.tasks.base import Scored, Task, register_task

TRANSCRIPTION = "asr"  # the subdirectory of a TTS decoding where its speech is transcribed


def as_heard_by(recognizer: Experiment, synthesizer: Experiment, out: Path) -> Path:
    """The synthesized speech in ``out`` as features of the transcriber's own kind: ``out`` itself when both models
    use the same fbank, else the speech resampled to the transcriber's rate and featurized with its options."""
    if recognizer.features == synthesizer.features:
        return out
    heard = out / TRANSCRIPTION / "input"
    format_dir(out, heard / "raw", fs=recognizer.features.sample_rate)
    extract_fbank_dir(heard / "raw", heard / "fbank", recognizer.features)
    return heard / "fbank"


@register_task
class SpeechSynthesis(Task):
    name = "tts"
    title = "speech synthesis"
    commands = ("synthesize",)
    usage = 'alptk synthesize {package} "the text to say" -o out.wav'
    api = "Text2Speech"
    tagged_keys = ("griffin_lim_iterations", "transcriber", *SpeechRecognition.tagged_keys)
    decode_keys = (*tagged_keys, "tts_max_frames_per_token", "tts_stop_threshold", *SpeechRecognition.decode_keys)

    def decode(self, exp: Experiment, data: Path, out: Path, options: DecodeOptions) -> dict[str, Any]:
        info = synthesize(exp, data, out, options)
        if options.transcriber is not None:
            recognizer = load_experiment(options.transcriber, exp.device)
            (out / TRANSCRIPTION).mkdir(exist_ok=True)
            heard = as_heard_by(recognizer, exp, out)
            # as the ASR system decodes its own test sets, language model included
            recognize(recognizer, heard, out / TRANSCRIPTION, replace(options, nbest=1))
        return info

    def score(self, decode, info, references, ref_dir, normalize, allow_pipes) -> Scored:
        scored = Scored()
        if (decode / TRANSCRIPTION / "text").is_file():
            refs = reference_table(info, references, ref_dir)
            for name in ("WER", "CER"):
                row, scored.confusions[name] = error_rate_row(name, refs, decode / TRANSCRIPTION / "text", normalize)
                scored.tables[name], scored.scores[f"TTS {name}"] = row, row["Err"]
        if "feats.scp" in references:
            mcd = mean_mcd(ref_dir / "feats.scp", references["feats.scp"], decode / "feats.scp", allow_pipes)
            scored.scores["MCD"] = round(mcd, 2)
        return scored

    def describe_decoding(self, options: DecodeOptions) -> str:
        return f"Griffin-Lim vocoder, {options.griffin_lim_iterations} iterations"

    def decode_tag(self, options: DecodeOptions) -> str:
        """``gl32``, and how the speech is transcribed: ``gl32_asr_beam10_ctc0.3``."""
        tag = f"gl{options.griffin_lim_iterations}"
        if options.transcriber is None:
            return tag
        return f"{tag}_{Path(options.transcriber).name}_{search_tag(options)}"
