"""Recipes on a real Slurm (`--cmd slurm`): the --nj stages as array jobs, a failing job reported with its log,
and training as 2 torchrun agents, each a Slurm task, meeting in a c10d rendezvous. They run where `sinfo` answers;
`make test-cluster` (root) installs and starts a single-machine Slurm for them (tools/slurm/) and stops it after.

A single machine has one node, so the training test asks for `--num_nodes 2` and puts both tasks on that node
with `--cmd_opts "--nodes=1 --ntasks-per-node=2"` (srun takes the later of repeated options): 2 agents of 1 CPU
process each, as 2 nodes of 1 GPU would be."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import kaldiio
import numpy as np
import pytest
import yaml

from alptk.data.kaldi_dir import KaldiDir, validate_dir
from alptk.data.tokenizer import train_tokenizer
from alptk.train import checkpoint as ckpt
from tests.conftest import SHARED_FSDD, make_feature_dir, make_speech_dir, recipe_copy, run_recipe


def slurm_answers() -> bool:
    if shutil.which("sinfo") is None:
        return False
    try:
        return bool(subprocess.run(["sinfo", "--noheader"], capture_output=True, text=True, timeout=20).stdout)
    except subprocess.TimeoutExpired:
        return False


pytestmark = pytest.mark.skipif(
    not slurm_answers(), reason="needs a Slurm cluster: `sinfo` does not answer here (`make test-cluster` starts one)"
)
ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
TASK_HEADER = re.compile(r"alptk job (\d+): Slurm job (\d+)_(\d+) on \S+")


def array_of(log_dir: Path) -> str:
    """The Slurm array job whose tasks wrote the logs in ``log_dir`` (one per job: job.1.log, job.2.log)."""
    headers = [TASK_HEADER.match((log_dir / f"job.{k}.log").read_text()) for k in (1, 2)]
    assert all(headers) and sorted(path.name for path in log_dir.glob("job.*.log")) == ["job.1.log", "job.2.log"]
    assert [(h[1], h[3]) for h in headers] == [("1", "1"), ("2", "2")]  # job k ran as array task k
    assert headers[0][2] == headers[1][2]  # of one array
    return headers[0][2]


@pytest.mark.skipif(not SHARED_FSDD.is_dir(), reason=f"needs the FSDD recordings at {SHARED_FSDD}")
def test_fsdd_stages_2_and_3_run_as_array_jobs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    work = recipe_copy("fsdd/asr1", tmp_path)
    monkeypatch.chdir(work)  # paths in recipe directories are relative to the recipe
    prepared = run_recipe(work, "--stop_stage", "1")  # here: it reads the corpus, no --nj
    assert prepared.returncode == 0, prepared.stdout + prepared.stderr
    result = run_recipe(work, "--stage", "2", "--stop_stage", "3", "--cmd", "slurm", "--nj", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    sets = {"train_sp": ("data/train", 3 * 2400), "dev": ("data/dev", 300), "test": ("data/test", 300)}
    arrays = set()
    for name, (source, count) in sets.items():
        raw, fbank = work / "dump" / "raw" / name, work / "dump" / "fbank" / name
        assert len(KaldiDir.load(fbank).utterances) == count
        assert validate_dir(raw, fs=16000) == [] and validate_dir(fbank) == []
        arrays.add(array_of(raw / "data" / "log" / f"format_{source.replace('/', '_')}"))
        arrays.add(array_of(fbank / "data" / "log" / f"fbank_dump_raw_{name}"))
        assert not [p for p in (raw / "data" / "log").rglob("*") if p.suffix not in {".log", ""}]  # no leftovers
    assert len(arrays) == 6  # one array job per set and stage

    local = subprocess.run(  # stage 3 on the test set, here: the same features, bit for bit
        ["alptk", "features", "fbank", "dump/raw/test", "--into", str(tmp_path / "local"), "--config",
         "conf/fbank.yaml", "--set", "sample_rate=16000", "--nj", "2"],
        cwd=work, env={**ENV, "ALPTK_CMD": "local"}, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert local.returncode == 0, local.stderr
    here = dict(kaldiio.load_scp(str(tmp_path / "local" / "test" / "feats.scp")).items())
    there = dict(kaldiio.load_scp(str(work / "dump" / "fbank" / "test" / "feats.scp")).items())
    assert list(here) == list(there) and all(np.array_equal(here[u], there[u]) for u in here)


def test_a_failing_array_job_is_reported_with_its_log(tmp_path: Path):
    data = make_speech_dir(tmp_path / "corpus", n_utts=4)
    utts = sorted(KaldiDir.load(data).utterances)
    broken = Path(KaldiDir.load(data).tables["wav.scp"][utts[3]])  # in the second of 2 jobs
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot audio at all")
    env = {**ENV, "ALPTK_CMD": "slurm", "ALPTK_CMD_OPTS": "--time=5"}
    result = subprocess.run(
        ["alptk", "data", "format", str(data), str(tmp_path / "raw"), "--nj", "2"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    log = tmp_path / "raw" / "data" / "log" / f"format_{str(data).strip('/').replace('/', '_')}" / "job.2.log"
    error = result.stderr.strip().splitlines()[-1]
    reason = f"{data}/wav.scp: {utts[3]}: cannot read audio '{broken}': not an audio file soundfile can read ("
    assert error.startswith(f"error: job 2 of 2 (format {data}) failed: {reason}") and error.endswith(f"; log: {log}")
    assert "Traceback" not in result.stderr and f"error: {reason}" in log.read_text()
    assert not (tmp_path / "raw" / "wav.scp").exists()  # nothing promoted


def test_training_runs_as_two_slurm_tasks(tmp_path: Path):
    work = recipe_copy("fsdd/asr1", tmp_path)
    dump = work / "dump" / "fbank"
    for name, n_utts in (("train_sp", 16), ("dev", 4), ("test", 4)):
        make_feature_dir(dump / name, n_utts, seed=len(name))
    texts = tmp_path / "text.txt"
    texts.write_text("\n".join(KaldiDir.load(dump / "train_sp").tables["text"].values()) + "\n")
    train_tokenizer([texts], work / "data" / "token_list" / "word20", "word", 20, symbols=[])
    quick = "max_steps=2 log_every=1 valid_every=2 save_every=2 optim.warmup_steps=1 streams.paired.max_frames=192"
    result = run_recipe(
        work, "--stage", "7", "--stop_stage", "8", "--cmd", "slurm", "--ngpu", "0", "--num_nodes", "2",
        "--cmd_opts", "--nodes=1 --ntasks-per-node=2", "--master_port", "29787", "--finetune_args", quick,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    agents = sorted(re.findall(r"^Slurm task (\d) of (\d) on \S+: torchrun agent of 1 process", result.stderr, re.M))
    assert agents == [("0", "2"), ("1", "2")]
    exp = work / "exp" / "asr"
    summary = yaml.safe_load((exp / "summary.yaml").read_text())
    assert (summary["world_size"], summary["steps"]) == (2, 2) and (exp / ckpt.CHECKPOINT).is_file()
    decodings = list(exp.glob("decode_test_*/decode.yaml"))  # stage 8: a Slurm job step too
    assert len(decodings) == 1
