"""The `alptk` command: help with examples everywhere, one-line errors, exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from alptk.cli import app
from tests.conftest import make_speech_dir

ALPTK = str(Path(sys.executable).parent / "alptk")


def run(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([ALPTK, *args], capture_output=True, text=True, check=False, **kwargs)


def all_commands(group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            found += all_commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


def test_every_command_has_help_with_an_example():
    commands = all_commands(typer.main.get_command(app))
    assert {("data", "validate"), ("features", "fbank"), ("tokenizer", "train"), ("data", "prepare", "fsdd")} <= set(
        commands
    )
    for command in commands:
        result = CliRunner().invoke(app, [*command, "--help"], terminal_width=200)
        assert result.exit_code == 0 and "Example: alptk" in result.output, command


def test_user_error_is_one_line_without_traceback(tmp_path: Path):
    result = run("data", "validate", str(tmp_path / "missing"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: {tmp_path}/missing: not a directory"]
    debug = run("--debug", "data", "validate", str(tmp_path / "missing"))
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_validate_prints_problems_and_fails(tmp_path: Path):
    data = make_speech_dir(tmp_path, n_utts=3)
    assert run("data", "validate", str(data), "--fs", "16000").returncode == 0
    result = run("data", "validate", str(data), "--fs", "8000")
    assert result.returncode == 2
    assert result.stdout.splitlines()[0] == f"{data}/wav.scp:1: spk0-utt000: sample rate 16000 Hz, expected 8000 Hz"
    assert result.stderr.strip() == f"error: {data}: 3 problems"


def test_bad_config_key_is_one_line(tmp_path: Path):
    data = make_speech_dir(tmp_path, n_utts=2)
    (tmp_path / "fbank.yaml").write_text("num_mel_bins: 40\nnum_mels: 80\n")
    result = run("features", "fbank", str(data), str(tmp_path / "out"), "--config", str(tmp_path / "fbank.yaml"))
    assert result.returncode == 2
    assert result.stderr.strip().startswith(f"error: {tmp_path}/fbank.yaml: unknown key 'num_mels' (valid keys:")
    assert len(result.stderr.strip().splitlines()) == 1


def test_several_sets_in_one_process_with_into(tmp_path: Path):
    (tmp_path / "sets").mkdir()
    sets = [
        make_speech_dir(tmp_path / name, n_utts=n).rename(tmp_path / "sets" / name) for name, n in [("a", 3), ("b", 2)]
    ]
    raw, fbank = tmp_path / "raw", tmp_path / "fbank"
    assert run("data", "format", *map(str, sets), "--into", str(raw)).returncode == 0
    result = run("features", "fbank", str(raw / "a"), str(raw / "b"), "--into", str(fbank))
    assert result.returncode == 0, result.stderr
    for name, n_utts in (("a", 3), ("b", 2)):
        assert len((fbank / name / "feats.scp").read_text().splitlines()) == n_utts
        assert (fbank / name / "cmvn.ark").is_file()
    alone = run("features", "fbank", str(raw / "a"))
    assert alone.returncode == 2
    assert alone.stderr.strip() == "error: expected SRC DST (got 1 paths); several sources need --into DIR"
    same_name = run("features", "fbank", str(raw / "a"), str(fbank / "a"), "--into", str(tmp_path / "out"))
    assert same_name.returncode == 2
    assert same_name.stderr.strip() == f"error: --into: two sources named 'a' would share {tmp_path}/out/a"


def test_tokenizer_commands_round_trip(tmp_path: Path):
    data = make_speech_dir(tmp_path, n_utts=6)
    assert run("tokenizer", "train", str(data), "--out", str(tmp_path / "tok"), "--type", "char").returncode == 0
    encoded = run("tokenizer", "encode", "--model", str(tmp_path / "tok"), "--ids", "--kaldi", str(data / "text"))
    assert encoded.returncode == 0
    decoded = run("tokenizer", "decode", "--model", str(tmp_path / "tok"), "--kaldi", input=encoded.stdout)
    assert decoded.stdout == (data / "text").read_text()
    bad = run("tokenizer", "decode", "--model", str(tmp_path / "tok"), input="1 2\n3 x\n")
    assert bad.returncode == 2 and bad.stderr.strip() == "error: <stdin>:2: expected token ids (integers)"


@pytest.mark.parametrize(
    "args",
    [
        ["data", "subset", "a", "b"],
        ["data", "format", "x", "y", "--speed-perturb", "a"],
        ["data", "format", "x", "y", "--nj", "0"],
        ["features", "fbank", "x", "y", "--nj", "-2"],
    ],
)
def test_option_mistakes_are_one_line(tmp_path: Path, args: list[str]):
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    if "--nj" in args:
        assert result.stderr.strip() == f"error: --nj must be at least 1, got {args[-1]}"
