"""From trained experiments to RESULTS.md: decode (asr, tts, retrieval), score, gather; and TTS generation."""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import yaml

from alptk.data.fbank import FEATURES_FILE
from alptk.data.kaldi_dir import KaldiDir, validate_dir
from alptk.data.tokenizer import train_tokenizer
from alptk.errors import ConfigError, DataError
from alptk.inference.decode import DecodeOptions
from alptk.inference.experiment import load_experiment
from alptk.inference.generation import generate_speech, generate_speech_parallel
from alptk.objectives import OBJECTIVES
from alptk.scoring.results import results_markdown, write_results
from alptk.tasks.evaluate import decode_dir, score_dir
from tests.conftest import FRAMES, make_feature_dir, train_systems
from tests.test_train import MODEL_OPTIONS

OPTIONS = DecodeOptions(beam=2, batch_frames=8 * FRAMES, tts_max_frames_per_token=3, griffin_lim_iterations=4)


@pytest.fixture(scope="module")
def experiments(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pre-trained model, an ASR system and two TTS systems fine-tuned from it (a few steps each, tiny sizes):
    autoregressive, and parallel with durations from the ASR system's CTC; and a language model."""
    root = tmp_path_factory.mktemp("inference")
    make_feature_dir(root / "train", 16, seed=0)
    make_feature_dir(root / "test", 6, seed=1)
    train_tokenizer([root / "train"], root / "tok", "char", 40, fields=["text", "text.fr"], symbols=["<mask>"])
    paired = {"kind": "paired", "data": [str(root / "train")], "max_frames": 4 * FRAMES}
    common = {"model_options": MODEL_OPTIONS, "tokenizer": str(root / "tok"), "max_steps": 8, "log_every": 4}
    systems = {
        "pretrain": {"objectives": {"stm": {"stream": "paired"}, "asr": {"type": "s2t", "stream": "paired"}}},
        "asr": {
            "task": "asr",
            "init": str(root / "pretrain"),
            "objectives": {"asr": {"type": "s2t", "stream": "paired"}},
        },
        "tts": {"task": "tts", "init": str(root / "pretrain"), "objectives": {"tts": {"stream": "paired"}}},
        "fastspeech": {
            "task": "tts",
            "init": str(root / "pretrain"),
            "objectives": {"tts": {"type": "fastspeech", "stream": "paired", "aligner": str(root / "asr")}},
        },
        "lm": {
            "task": "lm",
            "streams": {"text": {"kind": "text", "data": [str(root / "train")]}},
            "objectives": {"lm": {"stream": "text"}},
        },
    }
    train_systems(root, {**common, "streams": {"paired": paired}}, systems)
    return root


def test_asr_decode_score_and_results(experiments: Path):
    root = experiments
    info = decode_dir(root / "asr", root / "test", root / "asr" / "decode_test", OPTIONS, "cpu")
    assert info["task"] == "asr" and info["utterances"] == 6 and info["rtf"] > 0
    hyps = KaldiDir.load(root / "test").utterances
    written = (root / "asr" / "decode_test" / "text").read_text().splitlines()
    assert [line.split(" ")[0] for line in written] == hyps
    result = score_dir(root / "asr" / "decode_test", root / "test")
    wer = result["tables"]["WER"]
    assert wer["Snt"] == 6 and wer["Wrd"] == 12  # two words per test sentence
    assert wer["Err"] == pytest.approx(wer["Sub"] + wer["Del"] + wer["Ins"], abs=0.15)
    assert json.loads((root / "asr" / "decode_test" / "result.json").read_text())["scores"]["WER"] == wer["Err"]
    assert (root / "asr" / "decode_test" / "alignments.word.txt").read_text().startswith("utt: spk0-utt000")

    (root / "asr" / "decode_test" / "text").write_text("\n".join(written[1:]) + "\n")
    with pytest.raises(DataError, match="spk0-utt000: no hypothesis for this utterance"):
        score_dir(root / "asr" / "decode_test", root / "test")


def test_asr_decoding_with_a_language_model(experiments: Path, tmp_path: Path):
    root = experiments
    fused = replace(OPTIONS, lm=str(root / "lm"), lm_weight=0.5)
    info = decode_dir(root / "asr", root / "test", tmp_path / "fused", fused, "cpu")
    assert info["options"]["lm"] == str(root / "lm") and info["options"]["lm_weight"] == 0.5
    assert len((tmp_path / "fused" / "text").read_text().splitlines()) == 6
    with pytest.raises(ConfigError, match=r"--lm .*/asr: a language model experiment \(task lm\) is needed, not asr"):
        decode_dir(root / "asr", root / "test", tmp_path / "bad", replace(OPTIONS, lm=str(root / "asr")), "cpu")
    other = tmp_path / "other_lm"
    shutil.copytree(root / "lm", other)
    (tmp_path / "other.txt").write_text("completely different words\n")
    shutil.rmtree(other / "tokenizer")
    train_tokenizer([tmp_path / "other.txt"], other / "tokenizer", "char", 30)
    with pytest.raises(ConfigError, match=r"/lm is a language model: decode an asr or st model with --lm"):
        decode_dir(root / "lm", root / "test", tmp_path / "bad", OPTIONS, "cpu")
    with pytest.raises(ConfigError, match=r"has another token list than"):
        decode_dir(root / "asr", root / "test", tmp_path / "bad", replace(OPTIONS, lm=str(other)), "cpu")


@pytest.mark.parametrize("system", ["tts", "fastspeech"])
def test_tts_synthesizes_audio_and_is_scored_by_asr(experiments: Path, system: str):
    root, out = experiments, experiments / system / "decode_test"
    info = decode_dir(root / system, root / "test", out, replace(OPTIONS, transcriber=str(root / "asr")), "cpu")
    assert info["options"]["transcriber"] == str(root / "asr") and info["audio_seconds"] > 0
    synthesized = KaldiDir.load(out)
    assert synthesized.utterances == KaldiDir.load(root / "test").utterances
    assert all(Path(p).is_file() for p in synthesized.tables["wav.scp"].values())
    assert len(list((out / "spectrograms").glob("*.png"))) == 4
    assert (out / "asr" / "text").is_file()
    result = score_dir(out, root / "test")
    assert set(result["scores"]) == {"TTS WER", "TTS CER", "MCD"} and result["scores"]["MCD"] > 0


def test_tts_transcriber_with_other_features_hears_its_own(experiments: Path, tmp_path: Path):
    """An ASR model trained on other features (here: 8 kHz) transcribes the synthesized speech resampled and
    featurized as it was trained, not the synthesizer's features."""
    transcriber = tmp_path / "asr_8k"
    shutil.copytree(experiments / "asr", transcriber)
    spec = yaml.safe_load((transcriber / FEATURES_FILE).read_text())
    (transcriber / FEATURES_FILE).write_text(yaml.safe_dump({**spec, "sample_rate": 8000}))
    out = tmp_path / "decode"
    decode_dir(experiments / "tts", experiments / "test", out, replace(OPTIONS, transcriber=str(transcriber)), "cpu")
    heard = out / "asr" / "input" / "fbank"
    assert yaml.safe_load((heard / FEATURES_FILE).read_text())["sample_rate"] == 8000
    assert validate_dir(out / "asr" / "input" / "raw", fs=8000) == []
    hypotheses = [line.split(" ")[0] for line in (out / "asr" / "text").read_text().splitlines()]
    assert hypotheses == KaldiDir.load(experiments / "test").utterances


def test_retrieval_and_results_table(experiments: Path):
    root = experiments
    decode_dir(root / "pretrain", root / "test", root / "pretrain" / "decode_test", OPTIONS, "cpu")
    retrieval = score_dir(root / "pretrain" / "decode_test", root / "test")
    assert set(retrieval["scores"]) == {f"{d}_R@{k}" for d in ("speech2text", "text2speech") for k in (1, 5)}
    assert all(0 <= v <= 100 for v in retrieval["scores"].values())
    decode_dir(root / "asr", root / "test", root / "asr" / "decode_test2", OPTIONS, "cpu")
    asr = score_dir(root / "asr" / "decode_test2", root / "test")
    write_results([root / "pretrain", root / "asr"], root / "RESULTS.md")
    markdown, data = (root / "RESULTS.md").read_text(), json.loads((root / "RESULTS.json").read_text())
    assert markdown == results_markdown(data)  # the JSON holds everything the tables show
    pretrain, asr_system = data["systems"]
    assert (pretrain["name"], pretrain["results"]) == ("pretrain", [retrieval])
    assert (asr_system["name"], asr_system["task"], asr_system["init"]) == ("asr", "asr", str(root / "pretrain"))
    assert asr in asr_system["results"] and asr_system["steps"] == 8 and asr_system["config"].endswith("asr/train.yaml")
    assert data["environment"]["torch"] == torch.__version__ and "## Environment" in markdown
    recalls = "|".join(str(retrieval["scores"][k]) for k in retrieval["scores"])
    assert "|system (test set)|pre-training|speech2text_R@1|" in markdown
    assert f"|pretrain (test)|pretrain|{recalls}|" in markdown
    wer = asr["tables"]["WER"]
    assert "|dataset|Snt|Wrd|Corr|Sub|Del|Ins|Err|S.Err|" in markdown
    assert f"|test|6|12|{wer['Corr']}|{wer['Sub']}|{wer['Del']}|{wer['Ins']}|{wer['Err']}|{wer['S.Err']}|" in markdown
    assert f"- task: asr; init: `{root / 'pretrain'}`" in markdown


def test_generate_speech_stops_and_respects_the_limit(experiments: Path):
    exp = load_experiment(experiments / "tts")
    tokens = torch.tensor([[5, 6, 7, 8], [5, 6, 0, 0]])
    lengths = torch.tensor([4, 2])
    memory = exp.model.encode_text(tokens, lengths)
    exp.model.speech_head.stop.bias.data.fill_(-20.0)  # never stops: the limit ends it
    mels = generate_speech(exp.model, memory, lengths, max_frames=9)
    assert [m.shape for m in mels] == [(10, 80), (10, 80)]  # whole steps of 2 frames, at least max_frames
    exp.model.speech_head.stop.bias.data.fill_(20.0)  # stops at once
    assert [m.shape[0] for m in generate_speech(exp.model, memory, lengths, max_frames=9)] == [1, 1]


def test_parallel_generation_lasts_the_predicted_durations(experiments: Path, tmp_path: Path):
    exp = load_experiment(experiments / "fastspeech")
    tokens, lengths = torch.tensor([[5, 6, 7, 8], [5, 6, 0, 0]]), torch.tensor([4, 2])
    memory = exp.model.encode_text(tokens, lengths)
    exp.model.duration_predictor.project.bias.data.fill_(math.log1p(3.0))  # 3 steps per token
    exp.model.duration_predictor.project.weight.data.zero_()
    assert [m.shape for m in generate_speech_parallel(exp.model, memory, lengths)] == [(24, 80), (12, 80)]
    exp.model.duration_predictor.project.bias.data.fill_(-5.0)  # under one step: every token still gets one
    assert [m.shape[0] for m in generate_speech_parallel(exp.model, memory, lengths)] == [8, 4]

    corpus = tmp_path / "other.txt"
    corpus.write_text("completely different words\n")
    other = train_tokenizer([corpus], tmp_path / "tok", "char", 30)
    fastspeech = OBJECTIVES.get("fastspeech")
    config = fastspeech.Config(aligner=str(experiments / "asr"))
    with pytest.raises(ConfigError, match=f"fastspeech aligner {experiments / 'asr'} has another token list"):
        fastspeech(exp.model, config, other)


def test_experiments_from_before_a_part_existed_still_load(experiments: Path, tmp_path: Path):
    from alptk.train.checkpoint import load_weights, save_weights

    old = tmp_path / "asr"
    shutil.copytree(experiments / "asr", old)
    weights = load_weights(old)
    save_weights(old / "model.safetensors", {k: v for k, v in weights.items() if not k.startswith("ctc_head")})
    exp = load_experiment(old)  # the part it lacks starts afresh; the rest is as trained
    assert torch.equal(exp.model.text_embedding.weight, weights["text_embedding.weight"])
    assert not torch.equal(exp.model.ctc_head.project.weight, weights["ctc_head.project.weight"])
    save_weights(old / "model.safetensors", {**weights, "speaker_embedding.weight": torch.zeros(2, 2)})
    with pytest.raises(DataError, match=r"has tensors this model does not, e\.g\. speaker_embedding"):
        load_experiment(old)


def test_too_short_utterances_get_empty_hypotheses(experiments: Path, tmp_path: Path):
    root = experiments
    short = KaldiDir.load(root / "test")
    first = short.utterances[0]
    short.tables["utt2num_frames"][first] = "5"  # under the 7 frames the 4x subsampling needs
    short.save(tmp_path / "short")
    decode_dir(root / "asr", tmp_path / "short", tmp_path / "decode", OPTIONS, "cpu")
    assert (tmp_path / "decode" / "text").read_text().splitlines()[0] == first  # no words
    scores = [float(line.split()[1]) for line in (tmp_path / "decode" / "score").read_text().splitlines()]
    assert len(scores) == 6 and scores[0] == 0.0 and all(s < 0 for s in scores[1:])  # the others were searched
