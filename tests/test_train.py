"""The trainer: config errors, DDP equivalence, exact resume after SIGKILL, checkpoints, logs and averaging."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import safetensors.torch
import torch
import yaml

from alptk.data.tokenizer import train_tokenizer
from alptk.errors import ConfigError, DataError
from alptk.inference.experiment import load_experiment
from alptk.train import checkpoint as ckpt
from alptk.train.config import TrainConfig, load_train_config, task_objective
from alptk.train.trainer import Runtime, Trainer, lr_factor
from tests.conftest import FRAMES, make_feature_dir

SMALL = {"heads": 2, "ffn_dim": 64, "dropout": 0.0}
MODEL_OPTIONS = {
    "d_model": 32,
    "matching_dim": 16,
    "dropout": 0.0,
    "speech_dropout": 0.0,
    "frontend": {"type": "fbank", "channels": 16, "dropout": 0.0, "specaugment": None},
    "speech_encoder": {"type": "conformer", "layers": 1, "kernel_size": 5, **SMALL},
    "text_encoder": {"type": "transformer", "layers": 1, **SMALL},
    "decoder": {"type": "transformer", "layers": 1, **SMALL},
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("train")
    make_feature_dir(root / "train", 16, seed=0)
    make_feature_dir(root / "dev", 4, seed=1)
    train_tokenizer([root / "train"], root / "tok", "char", 40, fields=["text", "text.fr"], symbols=["<mask>", "<fr>"])
    return root


def config_dict(root: Path, **changes) -> dict:
    config = {
        "model": "tiny",
        "model_options": MODEL_OPTIONS,
        "tokenizer": str(root / "tok"),
        "streams": {
            "speech": {"kind": "speech", "data": [str(root / "train")], "max_frames": 4 * FRAMES},
            "text": {"kind": "text", "data": [str(root / "train")], "fields": ["text", "text.fr"], "max_tokens": 64},
            "paired": {"kind": "paired", "data": [str(root / "train")], "max_frames": 4 * FRAMES},
        },
        "objectives": {
            "masked_speech": {"stream": "speech", "mask_prob": 0.2, "span": 2},
            "mlm": {"stream": "text"},
            "stm": {"stream": "paired", "weight": 0.5},
            "tts": {"stream": "paired"},
            "asr": {"type": "s2t", "stream": "paired"},
        },
        "valid": {"paired": [str(root / "dev")], "text": [str(root / "dev")]},
        "optim": {"lr": 3e-3, "warmup_steps": 3},
        "max_steps": 12,
        "log_every": 1,
        "valid_every": 4,
        "save_every": 4,
        "keep_best": 2,
        "num_workers": 1,
        "seed": 3,
    }
    config.update(changes)
    return config


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


def alptk(*args: str, **popen) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "alptk", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen
    )


def run_alptk(*args: str) -> subprocess.CompletedProcess:
    process = alptk(*args)
    out, err = process.communicate(timeout=300)
    return subprocess.CompletedProcess(args, process.returncode, out.decode(), err.decode())


def weights(exp: Path) -> dict[str, torch.Tensor]:
    return safetensors.torch.load_file(str(exp / "model.safetensors"))


def test_training_resumes_exactly_after_sigkill(workdir: Path, tmp_path: Path):
    config = write_config(tmp_path / "train.yaml", config_dict(workdir))
    whole = run_alptk("pretrain", "--config", str(config), "--exp", str(tmp_path / "whole"), "--device", "cpu")
    assert whole.returncode == 0, whole.stderr

    exp = tmp_path / "killed"
    process = alptk("pretrain", "--config", str(config), "--exp", str(exp), "--device", "cpu")
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None:
        records = (
            [json.loads(line) for line in (exp / "metrics.jsonl").read_text().splitlines()]
            if (exp / "metrics.jsonl").is_file()
            else []
        )
        if any(r["step"] >= 7 for r in records):
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (exp / "model.safetensors").exists()
    assert torch.load(exp / "checkpoint.pt", weights_only=True)["step"] in (4, 8)

    resumed = run_alptk("pretrain", "--config", str(config), "--exp", str(exp), "--device", "cpu")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stderr
    expected, got = weights(tmp_path / "whole"), weights(exp)
    assert expected.keys() == got.keys()
    for name in expected:
        assert torch.equal(expected[name], got[name]), name

    records = [json.loads(line) for line in (exp / "metrics.jsonl").read_text().splitlines()]
    train_steps = [r["step"] for r in records if r.get("split", "train") == "train"]
    assert train_steps == list(range(1, 13))  # nothing lost, nothing twice
    whole_records = (tmp_path / "whole" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["asr/loss"] for r in whole_records if "asr/loss" in r] == [
        r["asr/loss"] for r in records if "asr/loss" in r
    ]


def test_experiment_outputs(workdir: Path, tmp_path: Path):
    config = write_config(tmp_path / "train.yaml", config_dict(workdir, max_steps=12))
    exp = tmp_path / "exp"
    result = run_alptk("pretrain", "--config", str(config), "--exp", str(exp), "--device", "cpu")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in (exp / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r.get("split", "train") == "train"]
    valid = [r for r in records if r.get("split") == "valid"]
    assert {"step", "lr", "audio_s_per_s", "text_tokens_per_s", "padding", "text_padding"} <= set(train[0])
    assert {f"{o}/loss" for o in ("masked_speech", "mlm", "stm", "tts", "asr")} <= {k for r in train for k in r}
    assert [r["step"] for r in valid] == [4, 8, 12]
    assert train[-1]["padding"] == 0.0  # equal-length speech
    assert all(0.0 <= r["text_padding"] < 0.5 for r in train)
    summary = yaml.safe_load((exp / "summary.yaml").read_text())
    best = sorted((r["loss"], r["step"]) for r in valid)[:2]
    assert [b["step"] for b in summary["best"]] == [s for _, s in best]
    assert summary["weights"] == f"average of steps {best[0][1]}, {best[1][1]}"
    snapshots = sorted(p.name for p in (exp / "snapshots").iterdir())
    assert snapshots == sorted(f"step{s}.safetensors" for _, s in best)
    averaged = ckpt.average_weights([exp / "snapshots" / name for name in snapshots])
    for name, tensor in weights(exp).items():
        torch.testing.assert_close(tensor, averaged[name])
    assert (exp / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert any((exp / "tensorboard").iterdir())
    assert (exp / "tokenizer" / "tokenizer.model").is_file()
    assert yaml.safe_load((exp / "model.yaml").read_text())["d_model"] == 32

    loaded = load_experiment(exp)
    assert not loaded.model.training and loaded.task == "pretrain" and len(loaded.tokenizer) > 10
    for name, tensor in loaded.model.state_dict().items():
        assert torch.equal(tensor, weights(exp)[name]), name

    rerun = run_alptk("pretrain", "--config", str(config), "--exp", str(exp), "--device", "cpu", "max_steps=14")
    assert rerun.returncode == 0, rerun.stderr
    assert "resuming" in rerun.stderr and yaml.safe_load((exp / "summary.yaml").read_text())["steps"] == 14


def test_asr_finetuning_builds_only_its_heads(workdir: Path, tmp_path: Path, capsys: pytest.CaptureFixture):
    """A model has the heads its objectives use: ASR fine-tuned from a pre-trained model with more heads has no
    speech head, and its model.yaml rebuilds it."""
    source, cpu = tmp_path / "pretrained", Runtime(0, 1, torch.device("cpu"))
    pretrained = Trainer(load_train_config(write_config(tmp_path / "pretrain.yaml", config_dict(workdir))), source, cpu)
    assert pretrained.model_config.heads == [
        *("ctc_head", "speech_head", "speech_matching", "speech_prenet", "text_head", "text_matching")
    ]  # the default objectives': no duration_predictor, no length_regulator
    source.mkdir()
    ckpt.save_weights(source / ckpt.WEIGHTS, pretrained.model.state_dict())
    paired = {"paired": config_dict(workdir)["streams"]["paired"]}
    asr = {"asr": {"type": "s2t", "stream": "paired"}}
    changes = {"task": "asr", "init": str(source), "streams": paired, "objectives": asr, "valid": {}}
    config = config_dict(workdir, **changes, max_steps=2, num_workers=0)
    exp = tmp_path / "asr"
    trainer = Trainer(load_train_config(write_config(tmp_path / "asr.yaml", config)), exp, cpu)
    trainer.run()
    log = capsys.readouterr().err  # init loads every tensor ASR has, and skips the pre-trained model's other heads
    assert (
        "new 0: none" in log
        and "unused 34: speech_head (24), speech_matching (2), speech_prenet (6), text_matching (2)" in log
    )
    assert yaml.safe_load((exp / "model.yaml").read_text())["heads"] == ["ctc_head", "text_head"]
    saved = weights(exp)
    assert "ctc_head.project.weight" in saved and not any(name.startswith("speech_head.") for name in saved)
    loaded = load_experiment(exp).model.state_dict()
    assert loaded.keys() == saved.keys() and all(torch.equal(loaded[n], t) for n, t in saved.items())
    older = {**trainer.module.state_dict(), "model.speech_head.mel.weight": torch.zeros(1)}  # every head was built
    with pytest.raises(ConfigError, match=r"do not use \(speech_head\); add them to model_options.heads to resume"):
        trainer.check_tensors(older, exp / ckpt.CHECKPOINT, {})
    more = {**config, "model_options": {**MODEL_OPTIONS, "heads": ["speech_head"]}}  # adds to the objectives' heads
    model = Trainer(load_train_config(write_config(tmp_path / "more.yaml", more)), tmp_path / "more", cpu).model
    assert model.heads == ("ctc_head", "text_head", "speech_head")


def test_ddp_two_processes_equal_one_process_with_the_combined_batch(workdir: Path, tmp_path: Path):
    """Deterministic objectives on equal-length data: 2 ranks x 2 utterances == 1 rank x 4 utterances."""
    base = config_dict(
        workdir,
        streams={"paired": {"kind": "paired", "data": [str(workdir / "train")], "max_frames": 2 * FRAMES}},
        objectives={"asr": {"type": "s2t", "stream": "paired"}, "tts": {"stream": "paired"}},
        valid={},
        shuffle=False,
        max_steps=4,
        num_workers=0,
        amp="none",  # bf16 rounds the two sums differently
    )
    two = write_config(tmp_path / "two.yaml", base)
    one = write_config(
        tmp_path / "one.yaml", {**base, "streams": {"paired": {**base["streams"]["paired"], "max_frames": 4 * FRAMES}}}
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29731"]
    ddp = subprocess.run(
        [*launch, "-m", "alptk", "pretrain", "--config", str(two), "--exp", str(tmp_path / "ddp"), "--device", "cpu"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    single = run_alptk("pretrain", "--config", str(one), "--exp", str(tmp_path / "single"), "--device", "cpu")
    assert single.returncode == 0, single.stderr
    assert yaml.safe_load((tmp_path / "ddp" / "summary.yaml").read_text())["world_size"] == 2
    initial = Trainer(load_train_config(one), tmp_path / "init", Runtime(0, 1, torch.device("cpu"))).model.state_dict()
    expected, got = weights(tmp_path / "single"), weights(tmp_path / "ddp")
    assert expected.keys() == got.keys()
    assert all(torch.equal(got[n], t) for n, t in expected.items() if not t.is_floating_point())  # batch counts
    moved = [n for n, t in expected.items() if t.is_floating_point() and not torch.equal(t, initial[n])]
    assert len(moved) > 50
    for name in moved:  # the runs differ by summation order only: tiny next to what training changed
        update = (expected[name] - initial[name]).norm()
        assert (got[name] - expected[name]).norm() < 1e-3 * update, name


def test_patience_stops_early_and_stays_stopped(workdir: Path, tmp_path: Path):
    no_batch_norm = {**MODEL_OPTIONS, "speech_encoder": {"type": "transformer", "layers": 1, **SMALL}}
    frozen = config_dict(workdir, max_steps=40, patience=2, optim={"lr": 0.0}, model_options=no_batch_norm)
    # with nothing learned (and no running statistics moving), validation never improves
    config, exp = write_config(tmp_path / "train.yaml", frozen), tmp_path / "exp"
    command = ("pretrain", "--config", str(config), "--exp", str(exp), "--device", "cpu")

    def finished_run() -> str:
        result = run_alptk(*command)
        assert result.returncode == 0, result.stderr
        summary = yaml.safe_load((exp / "summary.yaml").read_text())
        assert summary["steps"] == 12 and summary["stopped_early"] and summary["best"][0]["step"] == 4
        return result.stderr

    first = finished_run()
    assert "step 12: no better loss in 2 validations: stopping early" in first and "resuming" not in first
    metrics, checkpoint = (exp / "metrics.jsonl").read_text(), (exp / ckpt.CHECKPOINT).read_bytes()
    assert max(json.loads(line)["step"] for line in metrics.splitlines()) == 12
    rerun = finished_run()  # finds the run finished, not a run to continue
    assert f"resuming {exp} from step 12" in rerun and "stopping early" not in rerun
    assert (exp / "metrics.jsonl").read_text() == metrics and (exp / ckpt.CHECKPOINT).read_bytes() == checkpoint
    budget = write_config(tmp_path / "budget.yaml", {**frozen, "max_steps": 12})  # patience runs out at the last step
    ended = run_alptk("pretrain", "--config", str(budget), "--exp", str(tmp_path / "budget"), "--device", "cpu")
    assert ended.returncode == 0 and "stopping early" not in ended.stderr, ended.stderr
    assert not yaml.safe_load((tmp_path / "budget" / "summary.yaml").read_text())["stopped_early"]


def test_config_errors(workdir: Path, tmp_path: Path):
    def trainer(**changes) -> Trainer:
        config = load_train_config(write_config(tmp_path / "c.yaml", config_dict(workdir, **changes)))
        return Trainer(config, tmp_path / "exp", Runtime(0, 1, torch.device("cpu")))

    with pytest.raises(ConfigError, match=r"unknown key 'max_step' \(valid keys: tokenizer, streams"):
        trainer(max_step=3)
    with pytest.raises(ConfigError, match=r"objectives.asr: unknown objective 'asr2' \(choose from denoise, fast"):
        trainer(objectives={"asr": {"type": "asr2", "stream": "paired"}})
    with pytest.raises(ConfigError, match=r"objectives.mlm: stream 'words' is not one of the streams"):
        trainer(objectives={"mlm": {"stream": "words"}})
    with pytest.raises(ConfigError, match=r"objectives.mlm: mlm needs a text stream, but 'paired' is paired"):
        trainer(objectives={"mlm": {"stream": "paired"}})
    with pytest.raises(ConfigError, match=r"streams.speech: no objective consumes this stream"):
        trainer(objectives={"mlm": {"stream": "text"}, "asr": {"type": "s2t", "stream": "paired"}})
    with pytest.raises(ConfigError, match=r"objectives.mlm: unknown key 'mask_rate'"):
        trainer(objectives={"mlm": {"stream": "text", "mask_rate": 0.1}, "asr": {"type": "s2t", "stream": "paired"}})
    streams = config_dict(workdir)["streams"]
    with pytest.raises(DataError, match=r"nowhere: stream 'paired': data directory not found"):
        trainer(streams={**streams, "paired": {"kind": "paired", "data": [str(tmp_path / "nowhere")]}})
    with pytest.raises(DataError, match=r"no text.de table"):
        paired = {"kind": "paired", "data": [str(workdir / "train")], "fields": ["text.de"]}
        trainer(streams={**streams, "paired": paired})

    bad = write_config(tmp_path / "bad.yaml", config_dict(workdir, objectives={"ctc": {"stream": "paired"}}))
    result = run_alptk("pretrain", "--config", str(bad), "--exp", str(tmp_path / "bad"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: objectives.ctc: unknown objective 'ctc' "
        "(choose from denoise, fastspeech, lm, masked_speech, mlm, s2t, stm, tts)"
    ]


def test_snapshots_ranked_by_metric_or_recency(workdir: Path, tmp_path: Path):
    def kept(best_metric: str, losses: list[float]) -> list[int]:
        config = config_dict(workdir, keep_best=2, best_metric=best_metric)
        path = write_config(tmp_path / "c.yaml", config)
        trainer = Trainer(load_train_config(path), tmp_path / best_metric, Runtime(0, 1, torch.device("cpu")))
        for step, loss in enumerate(losses, start=1):
            trainer.step = step
            trainer.keep_if_best({"loss": loss, "asr/loss": loss})
        return sorted(step for _, step in trainer.best)

    assert kept("loss", [3.0, 1.0, 2.0, 4.0]) == [2, 3]
    assert kept("last", [3.0, 1.0, 2.0, 4.0]) == [3, 4]  # pre-training whose summed loss an objective's over-fit rules
    with pytest.raises(ConfigError, match=r"best_metric: 'wer' is not a validation metric \(choose from last, loss"):
        kept("wer", [1.0])


def test_task_objective_is_named_after_the_task_or_the_only_one(workdir: Path, tmp_path: Path):
    paired = {"paired": config_dict(workdir)["streams"]["paired"]}

    def config(task: str, objectives: dict) -> TrainConfig:
        changes = {"task": task, "objectives": objectives, "streams": paired, "valid": {}}
        return load_train_config(write_config(tmp_path / "c.yaml", config_dict(workdir, **changes)))

    asr, st = {"type": "s2t", "stream": "paired"}, {"type": "s2t", "stream": "paired", "start_token": "<fr>"}
    assert task_objective(config("pretrain", {"asr": asr})) is None
    assert task_objective(config("asr", {"recognize": asr})) == "recognize"
    assert task_objective(config("st", {"asr": asr, "st": st})) == "st"  # ST with an auxiliary ASR objective
    assert task_objective(config("tts", {"speak": {"type": "fastspeech", "stream": "paired"}})) == "speak"
    with pytest.raises(ConfigError, match=r"task st decodes with the s2t objective named 'st', or the only such"):
        config("st", {"asr": asr, "translate": st})
    with pytest.raises(ConfigError, match=r"task tts decodes with the fastspeech or tts objective.*found 0"):
        config("tts", {"asr": asr})


def test_learning_rate_schedule():
    base = TrainConfig(tokenizer="t", streams={}, objectives={}, max_steps=100)
    base.optim.warmup_steps = 10
    assert lr_factor(base, 0) == pytest.approx(0.1)
    assert lr_factor(base, 9) == pytest.approx(1.0)
    assert lr_factor(base, 99) == pytest.approx(base.optim.final_lr_ratio, abs=1e-3)
    base.optim.schedule = "inverse_sqrt"
    assert lr_factor(base, 39) == pytest.approx(0.5)


def test_initialise_from_matches_names_and_shapes():
    source = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    target = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 5))
    report = ckpt.initialise_from(target, source.state_dict())
    assert report == {"loaded": ["0.weight", "0.bias"], "new": ["1.weight", "1.bias"], "unused": ["1.weight", "1.bias"]}
    assert torch.equal(target[0].weight, source[0].weight)
    assert ckpt.summarize_names(report["loaded"]) == "0 (2)"


def test_curves_are_redrawn_at_most_once_a_minute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from alptk.train import logger

    drawn = []
    monkeypatch.setattr(logger, "plot_curves", drawn.append)
    reporter = logger.TrainingLog(tmp_path, 0, 10)
    reporter.record({"step": 1, "lr": 1e-3, "loss": 2.0})
    reporter.refresh_curves()
    assert drawn == []  # just started
    reporter.plotted -= logger.CURVES_EVERY
    reporter.refresh_curves()
    reporter.refresh_curves()
    assert drawn == [tmp_path]
    reporter.close()
    assert drawn == [tmp_path, tmp_path]  # the end always draws
