"""Faults of the environment and of jobs, injected for real: a full disk, a read-only file system, a path through a
file, a refused sync or rename, a killed, vanished or hung job, corrupt YAML and JSON, out-of-range options. Each
ends in one line naming the file or job and what to do, exit status 2, and leaves the previous output intact."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import kaldiio
import numpy as np
import pytest
import torch

from alptk.cli import main
from alptk.data.kaldi_dir import validate_dir
from alptk.errors import AlptkError, ConfigError, JobError, StorageError
from alptk.files import atomic_open, atomic_path, tmp_name, write_text
from alptk.parallel import run_jobs
from alptk.train.checkpoint import save_checkpoint, save_weights
from alptk.train.config import LIMITS, load_train_config
from tests.conftest import make_speech_dir
from tests.test_cli import run
from tests.test_train import config_dict, write_config

pytestmark = pytest.mark.faults

KEPT = "the file was left as it was"


def main_in_process(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str]:
    """Run the ``alptk`` entry point here (fast: no new interpreter); its exit status and its standard error."""
    monkeypatch.setattr(sys, "argv", ["alptk", *args])
    monkeypatch.delenv("ALPTK_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main()
    return exit_info.value.code, capsys.readouterr().err


def hidden_files(directory: Path) -> list[Path]:
    """Temporary files (``.name.pid.tmp``) anywhere under ``directory``."""
    return sorted(directory.rglob(".*.tmp"))


# --- the atomic writer: a refused write leaves the previous file and no temporary file ---------------------------


def refuse(monkeypatch: pytest.MonkeyPatch, name: str, code: int) -> None:
    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code), str(args[0]))

    monkeypatch.setattr(os, name, fail)


def write_with(writer: str, path: Path) -> None:
    if writer == "write_text":
        write_text(path, "new\n" * 10_000)
    elif writer == "atomic_open":
        with atomic_open(path, "wb") as f:
            f.write(b"new" * 10_000)
    elif writer == "save_checkpoint":  # torch's writer turns the OSError into a RuntimeError of its own
        save_checkpoint(path, {"module": {"w": torch.ones(100, 100)}})
    elif writer == "save_weights":
        save_weights(path, {"w": torch.ones(100, 100)})
    else:
        with atomic_path(path) as tmp:
            kaldiio.save_mat(str(tmp), np.ones((100, 100), dtype=np.float32))


@pytest.mark.skipif(
    not Path("/dev/full").is_char_device(), reason="needs /dev/full (Linux), whose writes fail with ENOSPC"
)
@pytest.mark.parametrize("writer", ["write_text", "atomic_open", "atomic_path", "save_checkpoint", "save_weights"])
def test_disk_full_while_writing_keeps_the_previous_file(tmp_path: Path, writer: str):
    target = tmp_path / "exp" / "checkpoint.pt"
    target.parent.mkdir()
    target.write_text("old\n")
    tmp_name(target).symlink_to("/dev/full")  # the temporary file is /dev/full: every write fails with ENOSPC
    with pytest.raises(StorageError) as error:
        write_with(writer, target)
    assert str(error.value) == f"{target}: no space left on device (free space, or write elsewhere); {KEPT}"
    assert target.read_text() == "old\n"
    assert list(target.parent.iterdir()) == [target]


@pytest.mark.parametrize(
    ("call", "code", "reason"),
    [
        ("fsync", errno.EDQUOT, "disk quota exceeded (free space within your quota, or write elsewhere)"),
        ("replace", errno.EROFS, "read-only file system (write elsewhere)"),
        ("mkdir", errno.EACCES, "permission denied (check the permissions, or write elsewhere)"),
        ("replace", errno.EIO, "input/output error (the disk or network file system failed: check it and rerun)"),
    ],
)
def test_refused_sync_rename_or_directory_keeps_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, call: str, code: int, reason: str
):
    target = tmp_path / "out" / "text"
    target.parent.mkdir()
    target.write_text("old\n")
    if call == "mkdir":
        target = tmp_path / "new_dir" / "text"  # its directory must be made, and making it is refused
    refuse(monkeypatch, call, code)
    with pytest.raises(StorageError) as error:
        write_text(target, "new\n")
    monkeypatch.undo()
    assert str(error.value) == f"{target}: {reason}; {KEPT}"
    assert (tmp_path / "out" / "text").read_text() == "old\n"
    assert hidden_files(tmp_path) == []


@pytest.mark.parametrize(("parts", "reason"), [(("text",), "file exists"), (("sub", "text"), "not a directory")])
def test_writing_under_a_file_is_one_line(tmp_path: Path, parts: tuple[str, ...], reason: str):
    (tmp_path / "blocker").write_text("a file, not a directory\n")
    target = tmp_path.joinpath("blocker", *parts)
    with pytest.raises(StorageError) as error:
        write_text(target, "new\n")
    advice = "a part of the path is a file, not a directory: check the path"
    assert str(error.value) == f"{target}: {reason} ({advice}); {KEPT}"
    assert (tmp_path / "blocker").read_text() == "a file, not a directory\n"


def test_writer_syncs_the_file_before_the_rename_and_the_directory_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    synced = []
    fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append((Path(os.readlink(f"/proc/self/fd/{fd}")), (tmp_path / "text").exists()))
        fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    write_text(tmp_path / "text", "new\n")
    assert synced == [(tmp_name(tmp_path / "text"), False), (tmp_path, True)]
    with atomic_open(tmp_path / "audio.wav", "wb", sync=False) as f:  # bulk outputs: renamed whole, not synced
        f.write(b"RIFF")
    assert len(synced) == 2 and (tmp_path / "audio.wav").read_bytes() == b"RIFF"


# --- the command line: one line, exit 2, the previous output intact ------------------------------------------------


def test_cli_write_through_a_file_is_one_line(tmp_path: Path):
    data = make_speech_dir(tmp_path, n_utts=2)
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a directory\n")
    result = run("data", "subset", str(data), str(blocker / "dst"), "--first", "1")
    assert result.returncode == 2
    advice = "a part of the path is a file, not a directory: check the path"
    assert result.stderr.splitlines() == [f"error: {blocker}/dst: not a directory ({advice})"]
    assert blocker.read_text() == "a file, not a directory\n"
    assert hidden_files(tmp_path) == []
    debug = run("--debug", "data", "subset", str(data), str(blocker / "dst"), "--first", "1")
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "NotADirectoryError" in debug.stderr


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 256 KiB file system (tmpfs) to fill or to make read-only: mounting needs root and mount rights."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command: cannot make a real full or read-only file system")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root and mount rights): {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def fill(disk: Path) -> None:
    """Write zeros until the file system is full."""
    with open(disk / "filler", "wb", buffering=0) as f, pytest.raises(OSError) as full:
        while True:
            f.write(bytes(4096))
    assert full.value.errno == errno.ENOSPC


def remount_read_only(disk: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (fill, "no space left on device (free space, or write elsewhere)"),
        (remount_read_only, "read-only file system (write elsewhere)"),
    ],
    ids=["disk full", "read-only"],
)
def test_cli_full_or_read_only_disk_is_one_line_and_keeps_the_output(
    tmp_path: Path, small_disk: Path, fault: Callable[[Path], None], reason: str
):
    data = make_speech_dir(tmp_path / "src", n_utts=4)
    dst = small_disk / "subset"
    assert run("data", "subset", str(data), str(dst), "--first", "4").returncode == 0
    before = {path.name: path.read_bytes() for path in dst.iterdir()}
    fault(small_disk)
    result = run("data", "subset", str(data), str(dst), "--first", "2")
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    table = line.removeprefix(f"error: {dst}/").partition(":")[0]
    assert table in before and line == f"error: {dst}/{table}: {reason}; {KEPT}"
    assert {path.name: path.read_bytes() for path in dst.iterdir()} == before  # no temporary file either


# --- parallel jobs: killed, vanished, hung, unpicklable errors -----------------------------------------------------


def writing_job(action: str, out: Path, advance) -> str:
    """Start writing ``out/result`` (under a temporary name), wait until all 3 jobs are mid-write, then act."""
    (out / "pids" / str(os.getpid())).touch()
    with atomic_open(out / "result") as f:
        f.write("partial\n")
        f.flush()
        advance()
        while len(hidden_files(out)) < 3:
            time.sleep(0.01)
        if action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif action.startswith("exit"):
            os._exit(int(action.removeprefix("exit")))
        time.sleep(60)  # the others: still writing when the run ends
    return action


@pytest.mark.parametrize(
    ("action", "ending"),
    [("kill", "was killed by SIGKILL"), ("exit0", "ended without a result"), ("exit3", "exited with status 3")],
)
def test_failed_job_ends_the_run_and_leaves_nothing_half_written(tmp_path: Path, action: str, ending: str):
    (tmp_path / "pids").mkdir()
    (tmp_path / "result").write_text("old\n")
    start = time.monotonic()
    jobs = [("sleep", tmp_path), (action, tmp_path), ("sleep", tmp_path)]
    with pytest.raises(JobError) as error:
        run_jobs(writing_job, jobs, 3, "test jobs", output_dir=tmp_path)
    assert str(error.value) == f"job 2 of 3 (test jobs) {ending}; rerun the stage"
    assert time.monotonic() - start < 30
    assert (tmp_path / "result").read_text() == "old\n"
    assert hidden_files(tmp_path) == []  # the killed job's and the terminated jobs' temporary files are gone
    pids = [int(p.name) for p in (tmp_path / "pids").iterdir()]
    assert len(pids) == 3
    for pid in pids:  # every job has ended (and been reaped)
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def talking_job(seconds: float, hang: bool, advance) -> float:
    """Report progress every 0.1 s for ``seconds``, then hang if told to."""
    for _ in range(int(seconds * 10)):
        time.sleep(0.1)
        advance()
    if hang:
        time.sleep(60)
    return seconds


def test_hung_job_times_out_in_one_line(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ALPTK_JOB_TIMEOUT", "1")
    start = time.monotonic()
    with pytest.raises(JobError) as error:
        run_jobs(talking_job, [(3.0, False), (0.2, True)], 32, "fbank data/train")
    limit = "ALPTK_JOB_TIMEOUT sets the limit, in seconds"
    assert str(error.value) == f"job 2 of 2 (fbank data/train) made no progress for 1 s; rerun the stage ({limit})"
    assert time.monotonic() - start < 10


def test_slow_job_that_reports_progress_is_not_timed_out(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ALPTK_JOB_TIMEOUT", "0.5")
    assert run_jobs(talking_job, [(1.5, False), (1.0, False)], 25, "slow") == [1.5, 1.0]


@pytest.mark.parametrize("value", ["soon", "0", "-5", "nan"])
def test_bad_job_timeout_is_a_config_error(monkeypatch: pytest.MonkeyPatch, value: str):
    monkeypatch.setenv("ALPTK_JOB_TIMEOUT", value)
    with pytest.raises(ConfigError, match=f"^ALPTK_JOB_TIMEOUT={value}: expected a number of seconds above 0$"):
        run_jobs(talking_job, [(0.1, False), (0.1, False)], 2, "test")


class NeedsHint(AlptkError):
    """An error that pickles but cannot be rebuilt from its message (its hint is keyword-only)."""

    def __init__(self, what: str, *, hint: str):
        super().__init__(f"{what} ({hint})")


def failing_job(kind: str, advance) -> None:
    if kind == "user":
        raise NeedsHint("data/train/wav.scp:3: spk1-utt003: unreadable audio", hint="fix or drop the line")
    if kind == "bug":
        err = ValueError("a bug in a job")
        err.lock = threading.Lock()  # cannot be pickled
        raise err


def test_unpicklable_job_errors_still_arrive(tmp_path: Path):
    with pytest.raises(AlptkError) as error:
        run_jobs(failing_job, [("none",), ("user",)], 2, "test")
    assert str(error.value) == "data/train/wav.scp:3: spk1-utt003: unreadable audio (fix or drop the line)"
    with pytest.raises(RuntimeError) as bug:  # a bug stays a traceback: the job's own
        run_jobs(failing_job, [("bug",), ("none",)], 2, "test")
    assert "ValueError: a bug in a job" in str(bug.value) and "in failing_job" in str(bug.value)


@pytest.mark.parametrize("command", [("features", "fbank"), ("data", "format")])
def test_cli_killed_job_is_one_line_and_keeps_the_previous_output(tmp_path: Path, command: tuple[str, str]):
    data = make_speech_dir(tmp_path, n_utts=6)
    dst = tmp_path / "out"
    assert run(*command, str(data), str(dst), "--nj", "2").returncode == 0
    old = {path: path.read_bytes() for path in sorted(dst.rglob("*")) if path.is_file()}  # tables, arks or audio
    wav_scp = data / "wav.scp"  # job 2 reads spk1-*: one of its recordings is a pipe that kills the job
    lines = wav_scp.read_text().splitlines()
    lines = [f"{line.split()[0]} kill -KILL $PPID |" if line.startswith("spk1-utt003 ") else line for line in lines]
    wav_scp.write_text("\n".join(lines) + "\n")
    result = run(*command, str(data), str(dst), "--nj", "2", "--allow-pipes")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: job 2 of 2 ({command[1]} {data}) was killed by SIGKILL; rerun the stage"
    ]
    now = {path: path.read_bytes() for path in sorted(dst.rglob("*")) if path.is_file()}
    assert now == old  # not a byte of the previous output changed, and nothing was left beside it
    assert validate_dir(dst) == []


# --- corrupt YAML and JSON -----------------------------------------------------------------------------------------


def test_corrupt_training_config_is_one_line_with_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
):
    config = tmp_path / "train.yaml"
    config.write_text("max_steps: 10\nstreams:\n  speech: {kind: speech\nseed: 1\n")
    status, err = main_in_process(monkeypatch, capsys, "pretrain", "--config", str(config), "--exp", str(tmp_path))
    assert status == 2
    assert err.splitlines() == [f"error: {config}:4: invalid YAML (expected ',' or '}}', but got ':')"]
    config.write_bytes(b"max_steps: 10\nseed: caf\xe9\n")  # Latin-1, not UTF-8
    status, err = main_in_process(monkeypatch, capsys, "pretrain", "--config", str(config), "--exp", str(tmp_path))
    assert status == 2
    assert err.splitlines() == [f"error: {config}:2: not UTF-8 text (byte 0xe9); save it as UTF-8"]


def test_corrupt_experiment_records_are_one_line_with_their_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
):
    exp, out = tmp_path / "exp", tmp_path / "RESULTS.md"
    (exp / "decode_test").mkdir(parents=True)
    summary = exp / "summary.yaml"
    summary.write_text("steps: 10\nparameters: [1, 2\n")
    status, err = main_in_process(monkeypatch, capsys, "results", str(exp), "--out", str(out))
    assert status == 2
    assert err.splitlines() == [f"error: {summary}:3: invalid YAML (expected ',' or ']', but got '<stream end>')"]

    summary.write_text("steps: 10\n")
    result = exp / "decode_test" / "result.json"
    result.write_text('{\n  "task": "asr",\n  "scores": {"WER": 12.5,\n')  # cut short, as by a full disk
    status, err = main_in_process(monkeypatch, capsys, "results", str(exp), "--out", str(out))
    assert status == 2
    assert err.splitlines() == [
        f"error: {result}:4: invalid JSON (Expecting property name enclosed in double quotes at column 1)"
    ]
    assert not out.exists() and not out.with_suffix(".json").exists()

    info = exp / "decode_test" / "decode.yaml"
    info.write_text("task: asr\nexp: [\n")
    status, err = main_in_process(monkeypatch, capsys, "score", str(info.parent), "--ref", str(tmp_path))
    assert status == 2
    assert err.splitlines()[0].startswith(f"error: {info}:3: invalid YAML (") and len(err.splitlines()) == 1


# --- options out of range ------------------------------------------------------------------------------------------

OUT_OF_RANGE = [(key.replace("*", "speech"), {">= 1": 0, ">= 0": -1, "> 0": 0}[limit]) for key, limit in LIMITS.items()]


@pytest.mark.parametrize(("key", "value"), [*OUT_OF_RANGE, ("log_every", -25), ("streams.paired.ratio", -0.5)])
def test_out_of_range_training_option_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, key: str, value: float
):
    config = write_config(tmp_path / "train.yaml", config_dict(tmp_path))
    limit = LIMITS[key.replace(".speech.", ".*.").replace(".paired.", ".*.")]
    args = ("pretrain", "--config", str(config), "--exp", str(tmp_path / "exp"), f"{key}={value}")
    status, err = main_in_process(monkeypatch, capsys, *args)
    [line] = err.splitlines()
    message, _, got = line.rpartition(", got ")
    assert (status, message, float(got)) == (2, f"error: {config}: {key} must be {limit}", value)
    assert not (tmp_path / "exp").exists()


def test_training_options_at_their_bounds_are_accepted(tmp_path: Path):
    config = write_config(tmp_path / "train.yaml", config_dict(tmp_path))
    at_bounds = [f"{key.replace('*', 'speech')}={limit.split()[1]}" for key, limit in LIMITS.items() if ">=" in limit]
    loaded = load_train_config(config, [*at_bounds, "streams.speech.ratio=0.001"])
    assert (loaded.max_steps, loaded.num_workers, loaded.streams["speech"].ratio) == (1, 0, 0.001)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--beam", "0"), "decode: beam must be > 0, got 0"),
        (("nbest=-1",), "decode: nbest must be > 0, got -1"),
        (("batch_frames=0",), "decode: batch_frames must be > 0, got 0"),
        (("--lm-weight", "-0.5"), "decode: lm_weight must be >= 0, got -0.5"),
    ],
)
def test_out_of_range_decode_option_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, args: tuple, message: str
):
    where = ("--exp", str(tmp_path / "exp"), "--data", str(tmp_path), "--out", str(tmp_path / "decode"))
    status, err = main_in_process(monkeypatch, capsys, "decode", *where, *args)
    assert (status, err.splitlines()) == (2, [f"error: {message}"])


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("frame_shift_ms=0", "frame_shift_ms=0.0 gives a shift of 0 samples"),
        ("num_mel_bins=0", "num_mel_bins must be >= 4, got 0"),
    ],
)
def test_out_of_range_fbank_option_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, option: str, message: str
):
    data = make_speech_dir(tmp_path, n_utts=1)
    status, err = main_in_process(
        monkeypatch, capsys, "features", "fbank", str(data), str(tmp_path / "f"), "--set", option
    )
    assert (status, err.splitlines()) == (2, [f"error: FbankConfig: {message}"])
    assert not (tmp_path / "f").exists()
