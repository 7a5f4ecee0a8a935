"""Training across ranks and the data it trains on: validation sharded unevenly over 2 gloo processes, one rank's
failure ending every rank, resuming under 2 processes, utterances the model cannot learn from, and ``init`` from a
model with another tokenizer."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import kaldiio
import numpy as np
import pytest
import torch

from alptk.data.batching import BucketBatchSampler
from alptk.data.kaldi_dir import KaldiDir
from alptk.data.tokenizer import Tokenizer, train_tokenizer
from alptk.errors import ConfigError, DataError
from alptk.train import checkpoint as ckpt
from alptk.train.config import load_train_config
from alptk.train.data import ctc_frames
from alptk.train.trainer import Runtime, Trainer, lost_ranks
from tests.conftest import FRAMES, WORDS, make_feature_dir
from tests.test_train import MODEL_OPTIONS, SMALL, config_dict, weights, workdir, write_config

pytestmark = pytest.mark.faults

__all__ = ["workdir"]  # the fixture, shared with test_train
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
HANG = 180  # seconds after which a 2-process run counts as hung
NO_BATCH_NORM = {**MODEL_OPTIONS, "speech_encoder": {"type": "transformer", "layers": 1, **SMALL}}


def cpu_trainer(config_path: Path, exp: Path) -> Trainer:
    return Trainer(load_train_config(config_path), exp, Runtime(0, 1, torch.device("cpu")))


def torchrun(port: int, *args: str) -> subprocess.CompletedProcess:
    """``alptk ARGS`` as 2 gloo processes under torchrun; a hang fails the test after HANG seconds (and ends them)."""
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port)]
    command = [*launch, "-m", "alptk", *args, "--device", "cpu"]
    process = subprocess.Popen(command, env=ENV, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, stderr = process.communicate(timeout=HANG)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # torchrun and its workers
        _, stderr = process.communicate()
        pytest.fail(f"hung for {HANG} s: {stderr[-3000:]}")
    return subprocess.CompletedProcess(command, process.returncode, "", stderr)


def start_ranks(port: int, out: Path, *args: str, file_limit: int = resource.RLIM_INFINITY) -> list[subprocess.Popen]:
    """``alptk ARGS`` as 2 processes started directly, as Slurm's srun starts them: no launcher ends the others
    when one fails, and each rank's own exit status and stderr (in ``out``/rankN.log) are seen. Rank 0 cannot write
    a file over ``file_limit`` bytes (the system refuses: EFBIG)."""

    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, file_limit))

    processes = []
    for rank in range(2):
        env = {**ENV, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "WORLD_SIZE": "2"}
        env.update(RANK=str(rank), LOCAL_RANK=str(rank))
        command = [sys.executable, "-m", "alptk", *args, "--device", "cpu"]
        with open(out / f"rank{rank}.log", "w") as stderr:
            limit = limit_file_size if rank == 0 else None
            processes.append(subprocess.Popen(command, env=env, stderr=stderr, preexec_fn=limit))
    return processes


def finish(processes: list[subprocess.Popen], out: Path) -> list[subprocess.CompletedProcess]:
    """The ranks' results once they have ended; one still running after HANG seconds fails the test."""
    try:
        for process in processes:
            process.wait(timeout=HANG)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    logs = [(out / f"rank{rank}.log").read_text() for rank in range(len(processes))]
    return [subprocess.CompletedProcess(p.args, p.returncode, "", log) for p, log in zip(processes, logs, strict=True)]


def paired_and_text(root: Path, **changes) -> dict:
    """ASR on the paired stream and a language model on the text stream: objectives whose validation draws no
    random numbers, so that ranks and a single process compute the same."""
    train = str(root / "train")
    config = config_dict(
        root,
        model_options=NO_BATCH_NORM,  # running statistics would differ across ranks
        streams={
            "paired": {"kind": "paired", "data": [train], "max_frames": 4 * FRAMES},
            "text": {"kind": "text", "data": [train], "fields": ["text"], "max_tokens": 24},
        },
        objectives={"asr": {"type": "s2t", "stream": "paired"}, "lm": {"stream": "text"}},
        valid={"paired": [str(root / "dev")], "text": [train]},
        optim={"lr": 3e-3, "warmup_steps": 2, "schedule": "constant"},
        max_steps=2,
        valid_every=2,
        save_every=2,
        num_workers=0,
    )
    return {**config, **changes}


def test_validation_with_fewer_batches_than_ranks_equals_one_process(workdir: Path, tmp_path: Path):
    """The paired validation set is 1 batch (rank 1 gets none) and the text set 6: no hang, no mixing."""
    config = write_config(tmp_path / "train.yaml", paired_and_text(workdir))
    trainer = cpu_trainer(config, tmp_path / "one")
    paired, text = trainer.valid_sets["paired"], trainer.valid_sets["text"]
    assert len(BucketBatchSampler(paired.lengths, 4 * FRAMES, shuffle=False)) == 1
    assert len(BucketBatchSampler(text.lengths, 24, shuffle=False)) == 6

    exp = tmp_path / "ddp"
    result = torchrun(29741, "pretrain", "--config", str(config), "--exp", str(exp))
    assert result.returncode == 0, result.stderr[-3000:]
    records = [json.loads(line) for line in (exp / "metrics.jsonl").read_text().splitlines()]
    logged = next(r for r in records if r.get("split") == "valid")
    trainer.module.load_state_dict(torch.load(exp / ckpt.CHECKPOINT, weights_only=True)["module"])  # step 2's
    expected = trainer.validate()
    assert {"asr/loss", "asr/ctc", "lm/loss", "lm/accuracy", "loss"} <= set(expected)
    assert set(logged) - {"step", "split"} == set(expected)
    for name, value in expected.items():
        assert logged[name] == pytest.approx(value, rel=1e-5), name


def test_a_failure_on_one_rank_ends_every_rank_with_its_message(workdir: Path, tmp_path: Path):
    """Rank 0 alone cannot write its checkpoint (a file size limit on its process: a quota it hits); rank 1 would
    wait for it at the next collective. Both end promptly with status 2; rank 0's one line says why."""
    config = write_config(tmp_path / "train.yaml", paired_and_text(workdir, valid={}, max_steps=4))
    exp = tmp_path / "exp"
    command = ("pretrain", "--config", str(config), "--exp", str(exp))
    rank0, rank1 = finish(start_ranks(29742, tmp_path, *command, file_limit=1 << 18), tmp_path)  # checkpoint: 550 kB
    assert (rank0.returncode, rank1.returncode) == (2, 2), rank0.stderr[-3000:] + rank1.stderr[-3000:]
    errors = [line for line in rank0.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: rank 0: {exp / ckpt.CHECKPOINT}: file too large (a file size limit (ulimit -f) or the file system's "
        "largest file: write elsewhere); the file was left as it was"
    ]
    assert "rank 1: stopping: rank 0 failed" in rank1.stderr and "error:" not in rank1.stderr
    assert "Traceback" not in rank0.stderr + rank1.stderr
    assert not (exp / ckpt.CHECKPOINT).exists() and not list(exp.glob(".*.tmp"))


def test_a_rank_that_stops_answering_fails_the_others_after_collective_timeout(workdir: Path, tmp_path: Path):
    """Rank 0 frozen mid-training (SIGSTOP: as a hung file system does): rank 1 gives up after collective_timeout
    instead of waiting forever."""
    config = write_config(tmp_path / "train.yaml", paired_and_text(workdir, valid={}, max_steps=10**6))
    exp = tmp_path / "exp"
    command = ("pretrain", "--config", str(config), "--exp", str(exp), "collective_timeout=5")
    rank0, rank1 = processes = start_ranks(29746, tmp_path, *command)
    try:
        while not (exp / "metrics.jsonl").is_file() or not (exp / "metrics.jsonl").read_text():
            assert rank0.poll() is None and rank1.poll() is None, (tmp_path / "rank0.log").read_text()[-3000:]
            time.sleep(0.1)
        rank0.send_signal(signal.SIGSTOP)
        frozen = time.monotonic()
        rank1.wait(timeout=HANG)
        waited = time.monotonic() - frozen
    finally:
        rank0.kill()
        _, result = finish(processes, tmp_path)
    assert result.returncode == 2 and 5 <= waited < 60, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: rank 1: lost the other ranks ("), last
    assert "Timed out waiting 5000ms" in last or "Application timeout caused pair closure" in last, last  # gloo: either


def test_what_counts_as_losing_the_other_ranks():
    """gloo reports a frozen peer as its own timeout or as the connection's ("pair closure"); a bug is not one."""
    assert lost_ranks(RuntimeError("[../third_party/gloo/gloo/transport/tcp/unbound_buffer.cc:81] Timed out waiting"))
    assert lost_ranks(RuntimeError("Application timeout caused pair closure"))
    assert not lost_ranks(RuntimeError("shape mismatch"))


def test_resumed_under_two_processes_the_ranks_continue_from_the_same_step(workdir: Path, tmp_path: Path):
    """2 processes stopped at step 2 and resumed to step 4 end where 2 processes running to step 4 do, bitwise:
    every rank took rank 0's checkpoint, step, data position and its own random state."""
    config = write_config(tmp_path / "train.yaml", paired_and_text(workdir, valid={}, max_steps=4))
    whole = torchrun(29743, "pretrain", "--config", str(config), "--exp", str(tmp_path / "whole"))
    assert whole.returncode == 0, whole.stderr[-3000:]
    exp = tmp_path / "resumed"
    first = torchrun(29744, "pretrain", "--config", str(config), "--exp", str(exp), "max_steps=2")
    assert first.returncode == 0, first.stderr[-3000:]
    second = torchrun(29745, "pretrain", "--config", str(config), "--exp", str(exp))
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"resuming {exp} from step 2" in second.stderr
    expected, got = weights(tmp_path / "whole"), weights(exp)
    assert expected.keys() == got.keys()
    for name in expected:
        assert torch.equal(expected[name], got[name]), name
    records = [json.loads(line) for line in (exp / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3, 4]


def add_utterances(data_dir: Path, utterances: dict[str, tuple[int, str]]) -> None:
    """Add utterances (id -> frames, transcript) to a feature directory of make_feature_dir."""
    rng = np.random.default_rng(0)
    with kaldiio.WriteHelper(f"ark,scp:{data_dir}/extra.ark,{data_dir}/extra.scp") as writer:
        for utt, (frames, _) in utterances.items():
            writer(utt, rng.standard_normal((frames, 80)).astype(np.float32))
    locations = dict(line.split(maxsplit=1) for line in (data_dir / "extra.scp").read_text().splitlines())
    kaldi_dir = KaldiDir.load(data_dir)
    for utt, (frames, text) in utterances.items():
        values = {"feats.scp": locations[utt], "utt2num_frames": str(frames), "text": text, "text.fr": text[::-1]}
        for table, value in {**values, "utt2spk": utt.split("-")[0]}.items():
            kaldi_dir.tables[table][utt] = value
    kaldi_dir.save(data_dir)


def test_utterances_too_short_or_with_too_long_a_target_are_dropped_and_counted(
    workdir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
):
    data = make_feature_dir(tmp_path / "data", 8, seed=2)
    tokens = Tokenizer(workdir / "tok").encode("aabbccddee")
    encoder_frames = ((FRAMES - 1) // 2 - 1) // 2  # the fbank front end's 4x subsampling
    assert len(tokens) <= encoder_frames < ctc_frames(tokens)  # fits only without the blanks between repeats
    add_utterances(data, {"spk1-utt900": (3, "abc"), "spk1-utt901": (FRAMES, "aabbccddee")})
    stream = {"data": [str(data)], "max_frames": 4 * FRAMES}
    config = paired_and_text(
        workdir,
        streams={"paired": {"kind": "paired", **stream}, "speech": {"kind": "speech", **stream}},
        objectives={"asr": {"type": "s2t", "stream": "paired"}, "masked_speech": {"stream": "speech"}},
        valid={"paired": [str(data)]},
    )
    trainer = cpu_trainer(write_config(tmp_path / "train.yaml", config), tmp_path / "exp")
    log = capsys.readouterr().err
    every = set(KaldiDir.load(data).utterances)
    kept = {name: {d.dataset.utts[i] for i in d.indices} for name, d in trainer.datasets.items()}
    assert kept == {"paired": every - {"spk1-utt900", "spk1-utt901"}, "speech": every - {"spk1-utt900"}}
    assert (
        f"stream 'paired' ({data}): dropped 2 of 10 utterances: 1 too short for the front end's subsampling "
        "(under 7 frames), e.g. spk1-utt900; 1 with a target longer than CTC allows in its encoder frames, "
        "e.g. spk1-utt901"
    ) in log
    assert f"stream 'speech' ({data}): dropped 1 of 10 utterances: 1 too short" in log  # no CTC: long targets stay
    assert log.count(f"stream 'paired' ({data}): dropped 2 of 10") == 2  # training and validation
    trainer.run()
    records = [json.loads(line) for line in (tmp_path / "exp" / "metrics.jsonl").read_text().splitlines()]
    valid = [r for r in records if r.get("split") == "valid"]
    assert [r["step"] for r in valid] == [2] and valid[0]["asr/ctc"] > 0


def test_a_stream_without_a_usable_utterance_is_an_error(workdir: Path, tmp_path: Path):
    data = make_feature_dir(tmp_path / "data", 1, seed=2)
    add_utterances(data, {"spk1-utt900": (6, "abc")})
    kaldi_dir = KaldiDir.load(data)
    kaldi_dir.tables = {name: {"spk1-utt900": table["spk1-utt900"]} for name, table in kaldi_dir.tables.items()}
    kaldi_dir.save(data)
    stream = {"kind": "paired", "data": [str(data)], "max_frames": 4 * FRAMES}
    objectives = {"asr": {"type": "s2t", "stream": "paired"}}
    config = paired_and_text(workdir, streams={"paired": stream}, objectives=objectives, valid={})
    with pytest.raises(DataError, match=r"dropped 1 of 1 utterances: 1 too short .*: nothing left to train on$"):
        cpu_trainer(write_config(tmp_path / "train.yaml", config), tmp_path / "exp")


@pytest.fixture(scope="module")
def other_tokenizer(workdir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tokenizer of the same size as workdir's with its tokens in another order, and <de> where it has <fr>."""
    root = tmp_path_factory.mktemp("other_tokenizer")
    skewed = ["hij ghi fgh"] * 20 + [" ".join(WORDS)]  # the same characters, other frequencies
    (root / "text.txt").write_text("\n".join(skewed) + "\n")
    train_tokenizer([root / "text.txt"], root / "tok", "char", 40, symbols=["<mask>", "<de>"])
    return root / "tok"


def source_experiment(workdir: Path, path: Path) -> Path:
    """An experiment directory to ``init`` from: weights (of seed 7) and the tokenizer they go with."""
    path.mkdir()
    config = write_config(path / "train.yaml", config_dict(workdir, seed=7))
    ckpt.save_weights(path / "exp" / ckpt.WEIGHTS, cpu_trainer(config, path / "exp").model.state_dict())
    shutil.copytree(workdir / "tok", path / "exp" / "tokenizer")
    return path / "exp"


def test_init_with_another_tokenizer_is_refused_or_mapped_by_token_string(
    workdir: Path, other_tokenizer: Path, tmp_path: Path, capsys: pytest.CaptureFixture
):
    source = source_experiment(workdir, tmp_path / "source")
    old, new = Tokenizer(workdir / "tok").tokens, Tokenizer(other_tokenizer).tokens
    assert len(old) == len(new) and old != new and "<de>" in set(new) - set(old)
    paired = {"paired": config_dict(workdir)["streams"]["paired"]}
    finetune = config_dict(
        workdir,
        tokenizer=str(other_tokenizer),
        init=str(source),
        streams=paired,
        objectives={"asr": {"stream": "paired", "type": "s2t"}},
        valid={},
    )

    def trainer(**changes) -> Trainer:
        return cpu_trainer(write_config(tmp_path / "train.yaml", {**finetune, **changes}), tmp_path / "exp")

    first = next(i for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b)
    differing = sum(a != b for a, b in zip(old, new, strict=True))
    with pytest.raises(ConfigError) as refused:
        trainer()
    assert str(refused.value).startswith(
        f"init: {source} has another tokenizer ({source / 'tokenizer'}) than {other_tokenizer}: {differing} of "
        f"{len(new)} ids differ: id {first} is '{old[first]}' there and '{new[first]}' here"
    )
    assert str(refused.value).endswith(
        "; use its tokenizer, or set init_tokens: by_string to keep the embeddings of the tokens both have"
    )

    mapped, fresh = trainer(init_tokens="by_string").model.state_dict(), trainer(init=None).model.state_dict()
    assert f"{len(new) - 1} of {len(new)} tokens mapped by string from its tokenizer" in capsys.readouterr().err
    source_weights = ckpt.load_weights(source)
    token_tensors = ("text_embedding.weight", "text_head.bias", "ctc_head.project.weight", "ctc_head.project.bias")
    assert set(ckpt.token_dims(trainer(init=None).model)) == {*token_tensors, "text_head.embedding.weight"}
    for name in token_tensors:
        for index, token in enumerate(new):
            expected = source_weights[name][old.index(token)] if token in old else fresh[name][index]
            assert torch.equal(mapped[name][index], expected), (name, token)
    for name in mapped.keys() - {*token_tensors, "text_head.embedding.weight"}:  # the rest: loaded as they are
        assert torch.equal(mapped[name], source_weights[name]), name

    bare = tmp_path / "bare" / "weights.safetensors"
    bare.parent.mkdir()
    shutil.copy(source / ckpt.WEIGHTS, bare)
    loaded = trainer(init=str(bare)).model.state_dict()
    assert f"init from {bare}: no tokenizer beside it, so its tokens cannot be checked" in capsys.readouterr().err
    assert torch.equal(loaded["text_embedding.weight"], source_weights["text_embedding.weight"])
