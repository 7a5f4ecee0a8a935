"""RESULTS.md's labelled-data curve and pre-training column, from experiment directories as training, decoding and
scoring leave them (summary.yaml, train.yaml, decode*/result.json), through `alptk results`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from alptk.data.kaldi_dir import KaldiDir
from alptk.errors import DataError
from alptk.scoring.results import results_markdown, write_result, write_results

ALPTK = str(Path(sys.executable).parent / "alptk")
DECODE = "decode_test_beam10_ctc0.8"


def labelled_set(recipe: Path, name: str, n_utts: int) -> str:
    """dump/fbank/<name> with n_utts labelled utterances; its path relative to the recipe, as configs give it."""
    utts = [f"spk0-utt{i:03d}" for i in range(n_utts)]
    feats = {u: f"feats.ark:{i}" for i, u in enumerate(utts)}
    KaldiDir({"utt2spk": dict.fromkeys(utts, "spk0"), "text": dict.fromkeys(utts, "a b"), "feats.scp": feats}).save(
        recipe / "dump/fbank" / name
    )
    return f"dump/fbank/{name}"


def experiment(
    recipe: Path,
    name: str,
    task: str,
    init: str | None,
    max_steps: int = 100,
    steps: int | None = None,
    data: str = "dump/fbank/train",
    wer: float | None = None,
    lm: str | None = None,
) -> Path:
    """exp/<name> as the trainer leaves it, and with ``wer``, scored on test as ``alptk score`` leaves it. Its
    config has two paired streams on ``data`` (as ST's text and French text would) and a text stream elsewhere."""
    exp = recipe / "exp" / name
    exp.mkdir(parents=True)
    streams = {
        "paired": {"kind": "paired", "data": [data], "fields": ["text"]},
        "paired_fr": {"kind": "paired", "data": [data], "fields": ["text.fr"]},
        "text": {"kind": "text", "data": ["data/text_only"], "fields": ["text"]},
    }
    config = {"tokenizer": "data/token_list/bpe300", "streams": streams, "task": task, "init": init}
    (exp / "train.yaml").write_text(yaml.safe_dump({**config, "max_steps": max_steps}, sort_keys=False))
    summary = {
        "task": task,
        "init": init,
        "steps": max_steps if steps is None else steps,
        "stopped_early": steps is not None,
        "train_seconds": 60.0,
        "parameters": 2_000_000,
        "audio_s_per_s": 100.0,
        "text_tokens_per_s": 0.0,
        "world_size": 1,
        "device": "cpu",
    }
    (exp / "summary.yaml").write_text(yaml.safe_dump(summary, sort_keys=False))
    if wer is not None:
        decode = exp / DECODE
        decode.mkdir()
        table = {"Snt": 10, "Wrd": 50, "Corr": 100 - wer, "Sub": wer, "Del": 0.0, "Ins": 0.0, "Err": wer, "S.Err": 50.0}
        result: dict[str, Any] = {
            "task": task,
            "exp": f"exp/{name}",
            "test_set": "test",
            "decode": DECODE,
            "rtf": 0.01,
            "lm": lm,
            "scores": {"WER": wer, "CER": wer / 2},
            "tables": {"WER": table, "CER": {**table, "Err": wer / 2}},
        }
        write_result(decode, result, {})
    return exp


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    """A recipe with a pre-trained model, ASR and ST fine-tuned from it in a chain, a system from scratch, one from
    a package, and the curve's pairs on 3 and 8 utterances (8 from scratch stopped early)."""
    recipe = tmp_path / "egs" / "corpus" / "alp1"
    labelled_set(recipe, "train", 10)
    experiment(recipe, "pretrain", "pretrain", None, max_steps=700)
    experiment(recipe, "asr", "asr", "exp/pretrain", wer=10.0)
    experiment(recipe, "st", "st", "exp/asr", wer=60.0)
    experiment(recipe, "asr_scratch", "asr", None, wer=20.0)
    experiment(recipe, "asr_zoo", "asr", "zoo/corpus_asr", wer=30.0)
    for size, pretrained, scratch, stopped in ((3, 40.0, 50.0, None), (8, 30.0, 40.0, 345)):
        data = labelled_set(recipe, f"train_curve{size}", size)
        experiment(recipe, f"curve{size}_pretrained", "asr", "exp/pretrain", 20 * size, data=data, wer=pretrained)
        experiment(recipe, f"curve{size}_scratch", "asr", None, 20 * size + 700, stopped, data=data, wer=scratch)
    return recipe


def alptk_results(recipe: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([ALPTK, "results", *args], cwd=recipe, capture_output=True, text=True, check=False)


def test_curve_table_plot_and_pretraining_column(recipe: Path):
    systems = ["exp/pretrain", "exp/asr", "exp/st", "exp/asr_scratch", "exp/asr_zoo"]
    # given in no particular order: paired by their training data, sorted by its size
    curve_args = [a for n in (8, 3) for side in ("scratch", "pretrained") for a in ("--curve", f"exp/curve{n}_{side}")]
    run = alptk_results(recipe, *systems, *curve_args, "--out", "RESULTS.md")
    assert run.returncode == 0, run.stderr
    assert "RESULTS.md: 5 systems, a labelled-data curve of 2 points" in run.stderr + run.stdout
    markdown, data = (recipe / "RESULTS.md").read_text(), json.loads((recipe / "RESULTS.json").read_text())
    assert markdown == results_markdown(data)  # the JSON holds everything RESULTS.md shows
    # the pre-training each row descends from: ST through ASR; a package init as given
    assert "|system (test set)|pre-training|WER|CER|" in markdown
    for row in ("|asr (test)|pretrain|10.0|5.0|", "|st (test)|pretrain|60.0|30.0|", "|asr_scratch (test)|none|20.0|",
                "|asr_zoo (test)|zoo/corpus_asr|30.0|"):  # fmt: skip
        assert row in markdown
    assert {s["name"]: s["pretraining"] for s in data["systems"]}["pretrain"] == "pretrain"
    curve = data["curve"]
    assert (curve["metric"], curve["pretraining"], curve["pretraining_steps"]) == ("WER", "pretrain", 700)
    rows = [(r["labelled_utterances"], r["pretrained"]["error"], r["scratch"]["error"], r["relative_gain"])
            for r in curve["rows"]]  # fmt: skip
    assert rows == [(3, 40.0, 50.0, 20.0), (8, 30.0, 40.0, 25.0)]
    section = markdown[markdown.index("## Labelled-data curve") : markdown.index("## pretrain")]
    assert "the same fine-tuning budget, the scratch system also the pre-training's 700 updates" in section
    assert "decoded without a language model" in section
    assert "|labelled utterances|decoding|pre-trained WER|scratch WER|relative gain %|pre-trained steps|" in section
    assert f"|3|{DECODE}|40.0|50.0|20.0|60 of 60|760 of 760|" in section
    assert f"|8|{DECODE}|30.0|40.0|25.0|160 of 160|345 of 860 (stopped early)|" in section
    assert "![WER curve](RESULTS.curve.png)" in section
    assert (recipe / "RESULTS.curve.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_curve_says_when_a_language_model_was_fused(recipe: Path, tmp_path: Path):
    data = f"dump/fbank/train_curve{3}"
    experiment(recipe, "curve3_lm", "asr", "exp/pretrain", 60, data=data, wer=35.0, lm="exp/lm")
    written = write_results([], tmp_path / "RESULTS.md", [recipe / "exp/curve3_lm", recipe / "exp/curve3_scratch"])
    assert "decoded with a language model fused in" in (tmp_path / "RESULTS.md").read_text()
    assert written["curve"]["rows"][0]["pretrained"]["lm"] == "exp/lm"


def test_curve_system_without_results_is_a_one_line_error(recipe: Path):
    experiment(recipe, "curve5_scratch", "asr", None, data=labelled_set(recipe, "train_curve5", 5))
    with pytest.raises(DataError, match=r"exp/curve5_scratch: no scored decoding \(decode\*/result.json\)"):
        write_results([], recipe / "RESULTS.md", [recipe / "exp/curve5_scratch"])
    run = alptk_results(recipe, "exp/asr", "--curve", "exp/curve3_pretrained", "--curve", "exp/curve5_scratch")
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        "error: exp/curve5_scratch: no scored decoding (decode*/result.json): decode and score it first"
    ]
