"""Packing experiments into the zoo: what a package holds, that it runs as its experiment does, and the tasks."""

from __future__ import annotations

import json
import math
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from alptk.cli import app
from alptk.errors import ConfigError, DataError
from alptk.inference.api import Speech2Text
from alptk.inference.decode import DecodeOptions
from alptk.inference.experiment import load_experiment
from alptk.tasks import TASKS, get_task
from alptk.tasks.evaluate import decode_dir, decode_name
from alptk.train.config import known_tasks
from alptk.zoo.package import pack
from alptk.zoo.store import MANIFEST, fetch, verify_package
from tests.test_inference import OPTIONS, experiments  # noqa: F401 - the trained tiny experiments

PICKLE_STARTS = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05", b"PK\x03\x04")  # pickles, torch's zip files


def results_file(root: Path, wer: float) -> Path:
    system = {"name": "asr", "results": [{"test_set": "test", "decode": "decode_test", "rtf": 0.01,
                                          "scores": {"WER": wer, "CER": 3.5}}]}  # fmt: skip
    path = root / "RESULTS.json"
    path.write_text(json.dumps({"systems": [system]}))
    return path


@pytest.fixture(scope="module")
def asr_package(experiments: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    out = tmp_path_factory.mktemp("zoo") / "toy_asr"
    options = replace(OPTIONS, lm=str(experiments / "lm"), lm_weight=0.2)
    return pack(experiments / "asr", out, options, results_file(out.parent, 12.5), "CC-BY-4.0")


def test_a_package_is_self_contained(asr_package: Path, experiments: Path):  # noqa: F811
    files = sorted(str(p.relative_to(asr_package)) for p in asr_package.rglob("*") if p.is_file())
    assert {"model.safetensors", "model.yaml", "task.yaml", "feats.yaml", "decode.yaml", "README.md", MANIFEST,
            "tokenizer/tokenizer.model", "lm/model.safetensors", "lm/task.yaml"} <= set(files)  # fmt: skip
    assert verify_package(asr_package)["task"] == "asr"
    for name in files:
        data = (asr_package / name).read_bytes()
        assert not data.startswith(PICKLE_STARTS), f"{name} is a pickle"
        assert str(experiments) not in data.decode("utf-8", "replace"), f"{name} names a path outside the package"
    defaults = yaml.safe_load((asr_package / "decode.yaml").read_text())
    assert (defaults["lm"], defaults["lm_weight"], defaults["beam"]) == ("lm", 0.2, OPTIONS.beam)
    with tarfile.open(asr_package.with_name("toy_asr.tar.gz")) as archive:
        assert archive.getnames()[0] == f"toy_asr/{MANIFEST}"


def test_the_card_tells_scores_license_and_use(asr_package: Path):
    card = (asr_package / "README.md").read_text()
    assert card.startswith("# toy_asr\n\nSpeech recognition, made with alptk")
    assert "| license | CC-BY-4.0 |" in card and "alptk transcribe toy_asr recording.wav" in card
    assert "|test|decode_test|12.5|3.5|0.01|" in card and "Speech2Text.from_pretrained" in card
    assert "language model (`lm/`) weight 0.2" in card and "80-bin Kaldi fbank" in card


def test_a_package_decodes_as_its_experiment(asr_package: Path, experiments: Path, tmp_path: Path, monkeypatch):  # noqa: F811
    from_exp = decode_dir(experiments / "asr", experiments / "test", tmp_path / "exp", OPTIONS, "cpu")
    from_package = decode_dir(asr_package, experiments / "test", tmp_path / "package", OPTIONS, "cpu")
    assert (tmp_path / "exp" / "text").read_text() == (tmp_path / "package" / "text").read_text()
    assert from_exp["utterances"] == from_package["utterances"] == 6
    monkeypatch.setenv("ALPTK_CACHE", str(tmp_path / "cache"))
    unpacked = fetch(str(asr_package.with_name("toy_asr.tar.gz")))
    assert unpacked.parent == tmp_path / "cache" / "packages"
    exp = load_experiment(unpacked)
    assert (exp.task, exp.field, exp.features.num_mel_bins) == ("asr", "text", 80)
    longest = yaml.safe_load((experiments / "asr" / "summary.yaml").read_text())["longest_utterance_seconds"]
    assert exp.longest_input == longest == load_experiment(experiments / "asr").longest_input > 0
    assert Speech2Text.from_pretrained(unpacked, device="cpu").lm is not None  # its lm/, as decode.yaml says
    assert Speech2Text(exp).windowing.seconds == math.ceil(12.5 * longest) / 10  # a quarter more than it heard


def test_packing_needs_a_finished_experiment_and_a_real_lm(experiments: Path, tmp_path: Path):  # noqa: F811
    with pytest.raises(DataError, match=r"no model\.yaml: not a finished experiment"):
        pack(tmp_path, tmp_path / "out")
    with pytest.raises(ConfigError, match="the language model to pack is not one"):
        pack(experiments / "asr", tmp_path / "out", replace(OPTIONS, lm=str(experiments / "asr")))
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing half-written is left


def test_every_task_an_objective_names_is_registered():
    assert sorted(TASKS) == known_tasks() == ["asr", "lm", "pretrain", "st", "tts"]
    with pytest.raises(ConfigError, match="unknown task 'diarization'"):
        get_task("diarization")


def test_decodings_with_other_options_go_elsewhere(experiments: Path):  # noqa: F811
    names = {
        decode_name(experiments / "asr", "dump/fbank/test", options)
        for options in (DecodeOptions(), DecodeOptions(beam=20), replace(DecodeOptions(), lm="exp/lm"))
    }
    assert names == {"decode_test_beam10_ctc0.3", "decode_test_beam20_ctc0.3", "decode_test_beam10_ctc0.3_lm0.3"}
    other = DecodeOptions(max_length_ratio=1.5, length_normalized=False, transcriber="exp/asr", batch_frames=10)
    assert (
        decode_name(experiments / "asr", "test", other)
        == "decode_test_beam10_ctc0.3_max_length_ratio1.5_length_normalized0"
    )
    tts = decode_name(experiments / "tts", "test", replace(other, lm="exp/lm", tts_stop_threshold=0.6))
    assert (
        tts == "decode_test_gl32_asr_beam10_ctc0.3_lm0.3_tts_stop_threshold0.6_max_length_ratio1.5_length_normalized0"
    )
    assert decode_name(experiments / "pretrain", "test", other) == "decode_test_retrieval"


def test_zoo_commands(asr_package: Path, experiments: Path, tmp_path: Path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("ALPTK_CACHE", str(tmp_path / "cache"))
    runner = CliRunner()
    config = tmp_path / "decode.yaml"
    config.write_text("beam: 3\nctc_weight: 0.5\n")
    out = tmp_path / "tts_pack"
    packed = runner.invoke(app, ["zoo", "pack", str(experiments / "tts"), "--out", str(out), "--decode-config",
                                 str(config), "griffin_lim_iterations=8", "--license", "CC0-1.0"])  # fmt: skip
    assert packed.exit_code == 0, packed.output
    assert yaml.safe_load((out / "decode.yaml").read_text())["griffin_lim_iterations"] == 8
    got = runner.invoke(app, ["zoo", "get", str(out.with_name("tts_pack.tar.gz"))])
    assert got.exit_code == 0 and Path(got.output.strip()).parent == tmp_path / "cache" / "packages"
    listed = runner.invoke(app, ["zoo", "list"])
    assert listed.exit_code == 0 and "tts_pack" in listed.output and "tts" in listed.output
    in_place = runner.invoke(app, ["decode", "--exp", str(asr_package), "--data", str(experiments / "test")])
    assert "is a package, which stays as packed: give --out" in str(in_place.exception)  # main() makes it one line
    shown = runner.invoke(app, ["zoo", "show", str(asr_package)])
    assert shown.exit_code == 0 and "toy_asr" in shown.output and "CC-BY-4.0" in shown.output
