"""Training under faults, each injected for real: NaN and inf in the data, damaged checkpoints, a changed config,
SIGTERM and SIGINT mid-run (and a second signal while saving), and a torn ``metrics.jsonl``."""

from __future__ import annotations

import copy
import json
import math
import os
import re
import shutil
import signal
import time
from itertools import islice
from pathlib import Path

import kaldiio
import pytest
import torch

from alptk.errors import ConfigError, DataError
from alptk.train import checkpoint as ckpt
from alptk.train.config import load_train_config
from alptk.train.data import train_loader
from alptk.train.logger import read_metrics
from alptk.train.preemption import Interrupted
from alptk.train.trainer import MetricWindow, Runtime, Trainer, lr_factor
from tests.conftest import FRAMES
from tests.test_train import alptk, config_dict, run_alptk, weights, workdir, write_config  # noqa: F401

pytestmark = pytest.mark.faults

CPU = Runtime(0, 1, torch.device("cpu"))
BAD_UTT = "spk1-utt005"


def poisoned_copy(source: Path, target: Path, utts: set[str], value: float) -> Path:
    """A copy of feature directory ``source`` whose utterances ``utts`` hold ``value`` in one frame (its CMVN
    statistics stay the clean ones)."""
    shutil.copytree(source, target)
    feats = dict(kaldiio.load_scp_sequential(str(source / "feats.scp")))
    with kaldiio.WriteHelper(f"ark,scp:{target}/feats.ark,{target}/feats.scp") as writer:
        for utt, mat in feats.items():
            if utt in utts:
                mat = mat.copy()
                mat[FRAMES // 2] = value
            writer(utt, mat)
    return target


def train(config: Path, exp: Path, *overrides: str):
    return run_alptk("pretrain", "--config", str(config), "--exp", str(exp), "--device", "cpu", *overrides)


def train_steps(exp: Path) -> list[int]:
    return [r["step"] for r in read_metrics(exp) if r.get("split", "train") == "train"]


def assert_same_weights(expected: Path, got: Path) -> None:
    expected, got = weights(expected), weights(got)
    assert expected.keys() == got.keys()
    for name in expected:
        assert torch.equal(expected[name], got[name]), name


def assert_same_state(expected, got, where: str = "state") -> None:
    """Nested state dicts equal, tensors bitwise."""
    if isinstance(expected, torch.Tensor):
        assert torch.equal(expected, got), where
    elif isinstance(expected, dict):
        assert expected.keys() == got.keys(), where
        for key in expected:
            assert_same_state(expected[key], got[key], f"{where}.{key}")
    elif isinstance(expected, (list, tuple)):
        assert len(expected) == len(got), where
        for i, (a, b) in enumerate(zip(expected, got, strict=True)):
            assert_same_state(a, b, f"{where}[{i}]")
    else:
        assert expected == got, where


@pytest.fixture(scope="module")
def whole(workdir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    """An uninterrupted 12-step run (config beside it): what every resumed run must equal bitwise."""
    root = tmp_path_factory.mktemp("whole")
    config = write_config(root / "train.yaml", config_dict(workdir))
    result = train(config, root / "exp")
    assert result.returncode == 0, result.stderr
    return root / "exp"


# -- non-finite losses and weights -------------------------------------------------------------------------------


def test_nan_features_skip_exactly_the_updates_of_their_batches(workdir: Path, tmp_path: Path):  # noqa: F811
    poisoned = poisoned_copy(workdir / "train", tmp_path / "poisoned", {BAD_UTT}, math.nan)
    streams = config_dict(workdir)["streams"]
    for name in ("speech", "paired"):
        streams[name]["data"] = [str(poisoned)]
    config = write_config(tmp_path / "train.yaml", config_dict(workdir, streams=streams))
    probe = Trainer(load_train_config(config), tmp_path / "probe", CPU)
    loader = train_loader(probe.config.streams, probe.datasets, probe.config.seed, probe.config.shuffle, 0, 1, 0)
    expected = {
        step
        for step, (_, batch) in enumerate(islice(loader, 12), 1)
        if batch.feats is not None and BAD_UTT in batch.utts
    }
    assert expected, "the poisoned utterance is in none of the 12 batches"

    result = train(config, tmp_path / "exp")
    assert result.returncode == 0, result.stderr
    skip = r"step (\d+): update skipped: non-finite loss of ([\w, ]+) on ([\w\- ]+) \(non-finite features: (\S+)\)"
    skips = re.findall(skip, result.stderr)
    assert {int(step) for step, *_ in skips} == expected
    for _, objectives, utts, broken in skips:
        assert BAD_UTT in utts.split() and broken == BAD_UTT
        assert set(objectives.split(", ")) <= {"masked_speech", "asr", "stm", "tts"}
    records = read_metrics(tmp_path / "exp")
    assert train_steps(tmp_path / "exp") == list(range(1, 13))
    assert all(math.isfinite(v) for r in records for v in r.values() if isinstance(v, float))
    assert all(torch.isfinite(t).all() for t in weights(tmp_path / "exp").values())


def test_skipped_update_leaves_weights_buffers_optimizer_scheduler_and_scaler(
    workdir: Path,  # noqa: F811
    tmp_path: Path,
    capfd: pytest.CaptureFixture,
):
    config = load_train_config(write_config(tmp_path / "train.yaml", config_dict(workdir)))
    trainer = Trainer(config, tmp_path / "exp", CPU)
    trainer.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**8)  # enabled: its state must survive a skip too
    batches = iter(train_loader(config.streams, trainer.datasets, config.seed, config.shuffle, 0, 1, 0))
    window = MetricWindow(CPU.device)
    trainer.module.train()
    for _ in range(3):  # the optimizer and the scaler have state; batch norm statistics have moved
        trainer.update(batches, window)
    stream, batch = next(b for b in batches if b[1].feats is not None)
    batch.feats[0, 5] = math.nan
    states = (trainer.module, trainer.optimizer, trainer.scheduler, trainer.scaler)
    before = [copy.deepcopy(part.state_dict()) for part in states]

    trainer.update(iter([(stream, batch)]), window)
    for part, saved in zip(states, before, strict=True):
        assert_same_state(saved, part.state_dict(), type(part).__name__)
    assert all(p.grad is None for p in trainer.module.parameters())
    assert (trainer.step, trainer.bad_steps) == (4, 1)
    log = capfd.readouterr().err
    objectives = ", ".join(sorted(name for name, fed_by in trainer.module.streams.items() if fed_by == stream))
    utts = " ".join(batch.utts)
    assert (
        f"step 4: update skipped: non-finite loss of {objectives} on {utts} (non-finite features: {batch.utts[0]})"
        in log
    )

    trainer.update(batches, window)  # the next update is made, and resets the count
    assert (trainer.step, trainer.bad_steps) == (5, 0)
    assert not torch.equal(before[0]["model.decoder.norm.weight"], trainer.model.decoder.norm.weight)


def test_max_bad_steps_in_a_row_stop_with_one_line(workdir: Path, tmp_path: Path):  # noqa: F811
    utts = set(kaldiio.load_scp(str(workdir / "train" / "feats.scp")))
    poisoned = poisoned_copy(workdir / "train", tmp_path / "poisoned", utts, math.inf)
    paired = {"kind": "paired", "data": [str(poisoned)], "max_frames": 4 * FRAMES}
    changes = {"streams": {"paired": paired}, "objectives": {"asr": {"type": "s2t", "stream": "paired"}}}
    config = write_config(tmp_path / "train.yaml", config_dict(workdir, valid={}, max_bad_steps=3, **changes))
    result = train(config, tmp_path / "exp")
    assert result.returncode == 2, result.stderr
    assert len(re.findall(r"update skipped: non-finite loss of asr on ", result.stderr)) == 3
    assert "Traceback" not in result.stderr and result.stderr.count("error:") == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "error: step 3: 3 updates in a row skipped for a non-finite loss or gradient (max_bad_steps): try a lower "
        "optim.lr or more optim.warmup_steps, check the utterances the log names, or amp=bf16 or amp=none if it is "
        "fp16; rerunning resumes from the last checkpoint"
    )
    assert not (tmp_path / "exp" / ckpt.CHECKPOINT).exists() and not (tmp_path / "exp" / ckpt.WEIGHTS).exists()
    with pytest.raises(ConfigError, match=r"max_bad_steps must be >= 1, got 0"):
        load_train_config(config, ["max_bad_steps=0"])


def test_non_finite_weights_are_never_written(workdir: Path, tmp_path: Path):  # noqa: F811
    config = load_train_config(write_config(tmp_path / "train.yaml", config_dict(workdir)))
    exp = tmp_path / "exp"
    trainer = Trainer(config, exp, CPU)
    trainer.save()
    saved = (exp / ckpt.CHECKPOINT).read_bytes()
    with torch.no_grad():
        trainer.model.decoder.norm.weight[3] = math.inf
    with pytest.raises(
        ckpt.NonFiniteError, match=r"checkpoint.pt: not written: NaN or inf in model.decoder.norm.weight;"
    ):
        trainer.save()
    assert (exp / ckpt.CHECKPOINT).read_bytes() == saved and not (exp / ckpt.PREVIOUS).exists()
    with pytest.raises(
        ckpt.NonFiniteError, match=r"model.safetensors: not written: NaN or inf in decoder.norm.weight;"
    ):
        trainer.export()
    with pytest.raises(ckpt.NonFiniteError, match=r"step0.safetensors: not written"):
        trainer.keep_if_best({"loss": 1.0})
    assert sorted(p.name for p in exp.rglob("*") if p.is_file()) == [ckpt.CHECKPOINT]


# -- checkpoints -------------------------------------------------------------------------------------------------


def test_unreadable_latest_checkpoint_resumes_from_the_previous_one_exactly(whole: Path, tmp_path: Path):
    exp = tmp_path / "exp"
    shutil.copytree(whole, exp)  # latest: step 12, previous: step 8
    data = (exp / ckpt.CHECKPOINT).read_bytes()
    (exp / ckpt.CHECKPOINT).write_bytes(data[: len(data) // 2])  # truncated, as by a full disk without atomic writes
    (exp / ckpt.WEIGHTS).unlink()
    result = train(whole.parent / "train.yaml", exp)
    assert result.returncode == 0, result.stderr
    fallback = [line for line in result.stderr.splitlines() if ckpt.CHECKPOINT in line]
    assert len(fallback) == 1
    assert re.search(
        r"checkpoint.pt: unreadable checkpoint \(truncated or another format: RuntimeError: .*\): resuming "
        r"from the previous one, checkpoint.prev.pt$",
        fallback[0],
    )
    assert f"resuming {exp} from step 8\n" in result.stderr
    assert train_steps(exp) == list(range(1, 13))
    assert_same_weights(whole, exp)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda path: path.write_bytes(b""), r"unreadable checkpoint \(an empty file\)"),
        (lambda path: path.write_bytes(path.read_bytes()[:-200]), r"truncated or another format: RuntimeError"),
        (lambda path: path.write_text("step: 12\n"), r"truncated or another format: "),
        (lambda path: torch.save([1, 2], path), r"not a checkpoint \(holds a list\)"),
        (lambda path: torch.save({"module": {}, "step": 12}, path), r"not a training checkpoint \(no optimizer, "),
        (lambda path: path.unlink(), r"checkpoint.pt: missing"),
    ],
    ids=["empty", "truncated", "text", "list", "missing-keys", "missing-file"],
)
def test_each_damaged_latest_checkpoint_falls_back_in_one_line(
    whole: Path, tmp_path: Path, capfd: pytest.CaptureFixture, damage, reason: str
):
    exp = tmp_path / "exp"
    shutil.copytree(whole, exp)
    damage(exp / ckpt.CHECKPOINT)
    state, path = ckpt.load_training_state(exp)
    assert path == exp / ckpt.PREVIOUS and state["step"] == 8
    log = capfd.readouterr().err.strip().splitlines()
    assert (
        len(log) == 1
        and re.search(reason, log[0])
        and log[0].endswith("resuming from the previous one, checkpoint.prev.pt")
    )


def test_no_readable_checkpoint_is_one_line_error(whole: Path, tmp_path: Path):
    exp = tmp_path / "exp"
    shutil.copytree(whole, exp)
    (exp / ckpt.CHECKPOINT).write_bytes(b"")
    (exp / ckpt.PREVIOUS).write_text("garbage\n")
    result = train(whole.parent / "train.yaml", exp)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert re.fullmatch(
        rf"error: {exp}: no readable checkpoint: checkpoint.pt: unreadable checkpoint \(an empty file\); "
        r"checkpoint.prev.pt: unreadable checkpoint \(truncated or another format: .*\); rerun with --restart to start "
        r"over \(or use a new --exp\)",
        result.stderr.strip().splitlines()[-1],
    )
    (exp / ckpt.PREVIOUS).unlink()  # a latest one that cannot be read, and none before it
    with pytest.raises(
        DataError, match=r"checkpoint.pt: unreadable checkpoint \(an empty file\); rerun with --restart"
    ):
        ckpt.load_training_state(exp)


def test_changed_config_keys_are_listed_and_followed(whole: Path, tmp_path: Path):
    exp = tmp_path / "exp"
    shutil.copytree(whole, exp)
    result = train(whole.parent / "train.yaml", exp, "max_steps=14", "optim.lr=0.001", "log_every=2")
    assert result.returncode == 0, result.stderr
    assert (
        f"resuming {exp} from step 12; config changed: log_every: 1 -> 2; max_steps: 12 -> 14; optim.lr: 0.003 -> 0.001"
    ) in result.stderr
    config = load_train_config(whole.parent / "train.yaml", ["max_steps=14", "optim.lr=0.001"])
    last = [r for r in read_metrics(exp) if r.get("split", "train") == "train"][-1]
    assert last["step"] == 14 and last["lr"] == 0.001 * lr_factor(config, 14)  # the new rate and schedule


def test_config_that_reshapes_the_model_is_refused_in_one_line(whole: Path, tmp_path: Path):
    exp = tmp_path / "exp"
    shutil.copytree(whole, exp)
    saved = (exp / ckpt.CHECKPOINT).read_bytes()
    result = train(whole.parent / "train.yaml", exp, "model_options.d_model=48", "max_steps=14")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert re.fullmatch(
        rf"error: {exp}/checkpoint.pt: cannot resume: \d+ tensors differ from this config's model \(e\.g\. "
        r"[\w.]+: \[\d+(, \d+)*\] -> \[\d+(, \d+)*\]\) after model_options.d_model: 32 -> 48; rerun with --restart "
        r"to start over, or use a new --exp",
        result.stderr.strip().splitlines()[-1],
    )
    assert (exp / ckpt.CHECKPOINT).read_bytes() == saved


# -- stop signals ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_signal_saves_at_the_step_and_the_rerun_is_exact(whole: Path, tmp_path: Path, signum: int):
    exp, config = tmp_path / "exp", whole.parent / "train.yaml"
    process = alptk("pretrain", "--config", str(config), "--exp", str(exp), "--device", "cpu", start_new_session=True)
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None:
        if (exp / "metrics.jsonl").is_file() and '"step": 2,' in (exp / "metrics.jsonl").read_text():
            os.killpg(process.pid, signum)  # the whole process group, data workers too: as Ctrl-C and Slurm do
            break
        time.sleep(0.01)
    _, err = process.communicate(timeout=120)
    err = err.decode()
    assert process.returncode == 128 + signum, err
    name = signal.Signals(signum).name
    stopped = re.findall(
        rf"interrupted by {name} at step (\d+): checkpoint saved; rerun the same command to resume", err
    )
    assert len(stopped) == 1 and "Traceback" not in err
    step = int(stopped[0])
    assert 2 <= step < 12 and ckpt.load_checkpoint(exp / ckpt.CHECKPOINT)["step"] == step
    assert not (exp / ckpt.WEIGHTS).exists()

    resumed = train(config, exp)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming {exp} from step {step}\n" in resumed.stderr
    assert train_steps(exp) == list(range(1, 13))
    assert_same_weights(whole, exp)


def test_a_second_signal_while_saving_is_absorbed(
    workdir: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture,
):
    config = load_train_config(write_config(tmp_path / "train.yaml", config_dict(workdir, valid={})))
    exp = tmp_path / "exp"
    trainer = Trainer(config, exp, CPU)
    update, save = Trainer.update, torch.save

    def update_then_sigterm(self, *args):
        update(self, *args)
        if self.step == 6:
            os.kill(os.getpid(), signal.SIGTERM)

    def save_then_sigint(*args, **kwargs):
        save(*args, **kwargs)
        if trainer.step == 6:  # written, not yet renamed
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(Trainer, "update", update_then_sigterm)
    monkeypatch.setattr(torch, "save", save_then_sigint)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    with pytest.raises(Interrupted) as stopped:
        trainer.run()
    assert stopped.value.status == 143  # the first signal's
    assert {s: signal.getsignal(s) for s in handlers} == handlers  # restored
    assert ckpt.load_checkpoint(exp / ckpt.CHECKPOINT, ckpt.TRAINING_STATE)["step"] == 6
    assert ckpt.load_checkpoint(exp / ckpt.PREVIOUS, ckpt.TRAINING_STATE)["step"] == 4
    assert not list(exp.glob(".*.tmp"))
    assert (
        "interrupted by SIGTERM at step 6: checkpoint saved; rerun the same command to resume" in capfd.readouterr().err
    )


# -- metrics.jsonl -----------------------------------------------------------------------------------------------


def test_torn_last_metrics_line_is_dropped_and_a_damaged_one_reported(tmp_path: Path, capfd: pytest.CaptureFixture):
    lines = [json.dumps({"step": step, "lr": 0.1}) for step in (1, 2, 3)]
    path = tmp_path / "metrics.jsonl"
    path.write_text("\n".join(lines) + "\n" + lines[2][:7])
    assert [r["step"] for r in read_metrics(tmp_path)] == [1, 2, 3]
    assert f"{path}:4: dropped the torn last line (the run stopped while writing it)" in capfd.readouterr().err
    path.write_text(f"{lines[0]}\n{lines[1][:7]}\n{lines[2]}\n")
    with pytest.raises(DataError, match=rf"^{path}:2: not a metrics record: fix or delete this line"):
        read_metrics(tmp_path)


def test_resume_after_a_torn_metrics_line_is_exact(whole: Path, tmp_path: Path):
    exp = tmp_path / "exp"
    shutil.copytree(whole, exp)
    os.replace(exp / ckpt.PREVIOUS, exp / ckpt.CHECKPOINT)  # as killed in step 9: the checkpoint of step 8
    (exp / ckpt.WEIGHTS).unlink()
    lines = (exp / "metrics.jsonl").read_text().splitlines(keepends=True)
    kept = [line for line in lines if json.loads(line)["step"] <= 8]
    torn = next(line for line in lines if json.loads(line)["step"] == 9)[:20]  # killed while writing step 9's
    (exp / "metrics.jsonl").write_text("".join(kept) + torn)
    result = train(whole.parent / "train.yaml", exp)
    assert result.returncode == 0, result.stderr
    assert f"metrics.jsonl:{len(kept) + 1}: dropped the torn last line" in result.stderr

    def measured(exp: Path) -> list[dict]:  # all but the speeds
        return [{k: v for k, v in r.items() if not k.endswith("_per_s")} for r in read_metrics(exp)]

    assert measured(exp) == measured(whole)
    assert_same_weights(whole, exp)
