"""The staged template and the recipes: options, stage logging, and stages 1-4 on real and synthesized corpora."""

from __future__ import annotations

import json
import re
from pathlib import Path

import kaldiio
import pytest
import yaml

from alptk.data.kaldi_dir import KaldiDir, validate_dir
from alptk.data.tokenizer import Tokenizer
from alptk.train.logger import read_metrics
from tests.conftest import SHARED_FSDD, recipe_copy, run_recipe


def test_template_help_and_unknown_option(tmp_path: Path):
    work = recipe_copy("fsdd/asr1", tmp_path)
    help_text = run_recipe(work, "--help")
    assert help_text.returncode == 0 and "4    tokenizer" in help_text.stdout
    bad = run_recipe(work, "--stage", "3", "--no_such_option", "1")
    assert bad.returncode != 0 and "unknown option --no_such_option" in bad.stderr
    later = run_recipe(work, "--stage", "12")
    assert later.returncode != 0 and "stage 12 is not available in this version" in later.stderr
    # stage 11 (the labelled-data curve) runs only when asked for; without curve_sizes it has nothing to do
    curve = run_recipe(work, "--stage", "11")
    assert curve.returncode == 0 and "Stage 11: labelled-data curve\n" in curve.stdout
    assert "nothing to do: curve_sizes is empty" in curve.stdout and "finished stages 11-11" in curve.stdout
    systems = "x:conf/asr.yaml:freeze.parts=[frontend,speech_encoder],no_such_key=1"  # a comma within a [list] stays
    training = run_recipe(work, "--stage", "7", "--stop_stage", "7", "--finetune_systems", systems)
    assert "training x (alptk finetune, conf/asr.yaml, freeze.parts=[frontend,speech_encoder] no_such_key=1)" in (
        training.stdout
    )
    assert training.returncode != 0 and "unknown key 'no_such_key'" in training.stderr, training.stderr
    last = run_recipe(work, "--stage", "10", "--finetune_systems", "")  # no system: nothing to pack
    assert last.returncode == 0 and "Successfully finished stages 10-10" in last.stdout, last.stderr
    missing = run_recipe(work, "--stage", "3", "--stop_stage", "3")  # stage 2 never ran: no dump/raw
    assert missing.returncode == 2, missing.stderr  # alptk's user-error status comes through the template
    assert "Stage 3: features ended with status 2; './run.sh --stage 3' reruns it" in missing.stderr


def test_curve_subsets_are_nested_and_begin_with_the_base(tmp_path: Path):
    """Stage 11's data: each subset holds the smaller ones, curve_base's utterances first, in the same order on a
    rerun; sizes the training set cannot give are refused before any subset is made."""
    work = recipe_copy("fsdd/asr1", tmp_path)
    utts = [f"spk{i % 2}-utt{i:02d}" for i in range(10)]
    tables = {"utt2spk": {u: u[:4] for u in utts}, "text": dict.fromkeys(utts, "one")}
    KaldiDir({**tables, "feats.scp": {u: f"feats.ark:{i}" for i, u in enumerate(utts)}}).save(work / "dump/fbank/train")
    base = ["spk0-utt04", "spk1-utt07", "spk0-utt08"]
    KaldiDir({"utt2spk": {u: u[:4] for u in base}, "text": dict.fromkeys(base, "one")}).save(work / "data/low")
    (work / "conf/curve.yaml").write_text(
        "task: asr\nstreams:\n  paired: {kind: paired, data: [dump/fbank/train], fields: [text]}\n"
        "  text: {kind: text, data: [data/text_only], fields: [text]}\n"
    )
    curve = ("--stage", "11", "--speed_perturb_factors", "", "--curve_config", "conf/curve.yaml", "--curve_base", "low")
    run = run_recipe(work, *curve, "--curve_sizes", "3 6 10", "--curve_steps", "5 5 5")
    assert run.returncode != 0 and "exp/pretrain: no pre-trained experiment (curve_init)" in run.stderr
    subsets = [KaldiDir.load(work / f"dump/fbank/train_curve{n}").utterances for n in (3, 6, 10)]
    assert [len(s) for s in subsets] == [3, 6, 10] and set(subsets[0]) == set(base)
    assert set(subsets[0]) < set(subsets[1]) < set(subsets[2]) == set(utts)
    order = (work / "dump/fbank/train_curve_order").read_text()
    assert order.split()[:3] == sorted(base) and sorted(order.split()) == sorted(utts)
    assert run_recipe(work, *curve, "--curve_sizes", "3 6 10", "--curve_steps", "5 5 5").returncode != 0
    assert (work / "dump/fbank/train_curve_order").read_text() == order  # seed 1: the same order on a rerun
    refusals = {
        ("3 11", "5 5"): "curve_sizes: 11 is more than the 10 utterances of dump/fbank/train",
        ("2 6", "5 5"): "curve_sizes: 2 is fewer than the 3 of curve_base low, all seen in pre-training",
        ("3 6", "5"): "curve_steps: 1 numbers for the 2 of curve_sizes (one per size)",
        ("3 x", "5 5"): "curve_sizes and curve_steps: expected positive whole numbers",
    }
    for (sizes, steps), message in refusals.items():
        refused = run_recipe(work, *curve, "--curve_sizes", sizes, "--curve_steps", steps)
        assert refused.returncode != 0 and message in refused.stderr, refused.stderr
    assert not (work / "dump/fbank/train_curve2").exists()


@pytest.mark.slow
def test_mini_synth_tiny_stages_1_to_10(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    work = recipe_copy("mini_synth/alp1", tmp_path)
    quick = "max_steps=6 log_every=3 valid_every=3 save_every=3"
    steps = ("--pretrain_args", quick, "--finetune_args", quick, "--lm_args", quick)
    result = run_recipe(work, "--size", "tiny", "--nj", "2", *steps)
    assert result.returncode == 0, result.stdout + result.stderr
    monkeypatch.chdir(work)  # paths in recipe directories are relative to the recipe, as in Kaldi
    for n in range(1, 11):
        assert re.search(rf"Stage {n}: .+ done in \d+ s$", result.stdout, re.MULTILINE), f"stage {n} did not finish"
    for name in ("train", "train_low", "dev", "test", "speech_only"):
        assert validate_dir(work / "dump" / "raw" / name, fs=16000) == []
        assert validate_dir(work / "dump" / "fbank" / name) == []
        feats = kaldiio.load_scp(str(work / "dump" / "fbank" / name / "feats.scp"))
        assert next(iter(feats.values())).shape[1] == 80
    tokenizer = Tokenizer(work / "data" / "token_list" / "bpe300")
    assert tokenizer.token_id("<fr>") > 3
    test_fr = KaldiDir.load(work / "data" / "test").tables["text.fr"]
    unknown = sum(tokenizer.encode(t).count(tokenizer.unk_id) for t in test_fr.values())
    assert unknown == 0
    exp = work / "exp" / "pretrain"
    records = read_metrics(exp)
    assert [r["step"] for r in records if r.get("split") == "valid"] == [3, 6]
    objectives = {k.split("/")[0] for r in records for k in r if k.endswith("/loss")}
    assert objectives == {"masked_speech", "mlm", "denoise", "denoise_fr", "stm", "tts", "asr", "st"}
    assert (exp / "model.safetensors").is_file() and (exp / "curves.png").is_file()
    results = json.loads((work / "RESULTS.json").read_text())
    systems = {s["name"]: s for s in results["systems"]}
    assert list(systems) == ["pretrain", "pretrain_paired", "asr", "asr_low", "asr_low_scratch", "st", "tts", "lm"]
    assert systems["lm"]["task"] == "lm" and systems["lm"]["results"] == []
    decodings = {name: [d.name for d in (work / "exp" / name).glob("decode_*")] for name in systems if name != "lm"}
    assert decodings == {  # named by their options (conf/decode.yaml; conf/decode_lm.yaml with the LM)
        **{name: ["decode_test_retrieval"] for name in ("pretrain", "pretrain_paired")},
        **{name: ["decode_test_beam10_ctc0.8_lm0.6"] for name in ("asr", "asr_low", "asr_low_scratch")},
        "st": ["decode_test_beam10_ctc0.4"],
        "tts": ["decode_test_gl32_asr_beam10_ctc0.8_lm0.6"],
    }
    fused = {name: yaml.safe_load((work / "exp" / name / dirs[0] / "decode.yaml").read_text())["options"]["lm"]
             for name, dirs in decodings.items()}  # fmt: skip
    assert fused == {
        **dict.fromkeys(decodings),
        **dict.fromkeys(("asr", "asr_low", "asr_low_scratch", "tts"), "exp/lm"),
    }
    assert systems["asr_low_scratch"]["init"] is None and systems["asr_low"]["init"] == "exp/pretrain"
    assert systems["st"]["init"] == "exp/asr"  # ST starts from the ASR system
    assert systems["pretrain_paired"]["init"] == "exp/pretrain" and systems["asr"]["init"] == "exp/pretrain_paired"
    protocols = {name: system["pretraining"] for name, system in systems.items()}
    assert protocols == {
        **dict.fromkeys(("pretrain", "asr_low", "lm"), "pretrain"),
        **dict.fromkeys(("pretrain_paired", "asr", "st", "tts"), "pretrain_paired"),
        "asr_low_scratch": "none",
    }
    assert "|pretrain_paired (test)|pretrain_paired|" in (work / "RESULTS.md").read_text()
    assert any("tts/duration" in r for r in read_metrics(work / "exp" / "tts"))  # parallel TTS, aligned by exp/asr
    scores = {name: system["results"][0]["scores"] for name, system in systems.items() if name != "lm"}
    assert {"WER", "CER"} <= set(scores["asr"]) and {"BLEU", "chrF"} <= set(scores["st"])
    assert {"TTS CER", "MCD"} <= set(scores["tts"]) and "speech2text_R@1" in scores["pretrain_paired"]
    markdown = (work / "RESULTS.md").read_text()
    assert markdown.startswith("# RESULTS") and "|asr (test)|" in markdown
    assert len(list((work / "exp" / "tts" / decodings["tts"][0] / "wav").glob("*.wav"))) == 8
    packages = sorted(p.name for p in (work / "zoo").iterdir())
    assert packages == sorted(f"mini_synth_alp1_{n}{s}" for n in decodings for s in ("", ".tar.gz"))
    asr = work / "zoo" / "mini_synth_alp1_asr"
    assert (asr / "lm" / "model.safetensors").is_file() and "| license | Apache-2.0 |" in (
        asr / "README.md"
    ).read_text()


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_FSDD.is_dir(), reason=f"needs the FSDD recordings at {SHARED_FSDD}")
def test_fsdd_stages_1_to_4_on_real_recordings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    work = recipe_copy("fsdd/asr1", tmp_path)
    result = run_recipe(work, "--nj", "2", "--stop_stage", "4")
    assert result.returncode == 0, result.stdout + result.stderr
    monkeypatch.chdir(work)
    counts = {name: len(KaldiDir.load(work / "data" / name).utterances) for name in ("train", "dev", "test")}
    assert counts == {"train": 2400, "dev": 300, "test": 300}
    assert KaldiDir.load(work / "data" / "test").tables["text"]["george-7-03"] == "seven"
    train_sp = KaldiDir.load(work / "dump" / "fbank" / "train_sp")
    assert len(train_sp.utterances) == 3 * 2400 and "sp0.9-george-7-12" in train_sp.utterances
    assert validate_dir(work / "dump" / "raw" / "test", fs=16000) == []
    assert validate_dir(work / "dump" / "fbank" / "test") == []
    tokenizer = Tokenizer(work / "data" / "token_list" / "word20")
    assert tokenizer.decode(tokenizer.encode("seven eight")) == "seven eight"
