"""run_jobs' Slurm backend without a Slurm: a stand-in sbatch on PATH runs the array's tasks one after another
here, as the real one does on the nodes, so that submission, the tasks' own files, the collection of their outcomes
and the reports of failures are checked in every test run (tests/test_cluster.py does it on a real Slurm)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from alptk.errors import ConfigError, DataError, JobError
from alptk.parallel import run_jobs

REPO = Path(__file__).resolve().parents[1]  # not conftest's: the tasks import this module, and conftest imports torch
ARRAY_ID = "4242"
FAKE_SBATCH = f"""#!/usr/bin/env bash
# a stand-in for sbatch --array=1-N --wait --parsable: runs the N tasks here, one after another
echo "$*" >"$FAKE_SLURM/sbatch.args"
echo $$ >"$FAKE_SLURM/sbatch.pid"
for arg; do
    case "$arg" in
        --array=1-*) n=${{arg#--array=1-}} ;;
        --output=*) out=${{arg#--output=}} ;;
        --wrap=*) wrap=${{arg#--wrap=}} ;;
        --partition=nowhere) echo "sbatch: error: invalid partition specified: nowhere" >&2; exit 1 ;;
    esac
done
echo "{ARRAY_ID}"
for k in $(seq "$n"); do
    SLURM_ARRAY_JOB_ID={ARRAY_ID} SLURM_ARRAY_TASK_ID=$k bash -c "$wrap" >"${{out//%a/$k}}" 2>&1
done
"""
FAKE_SCANCEL = """#!/usr/bin/env bash
# a stand-in for scancel: notes its arguments and ends the stand-in sbatch and its tasks (its process group)
echo "$*" >"$FAKE_SLURM/scancel.args"
kill -- "-$(cat "$FAKE_SLURM/sbatch.pid")"
"""


@pytest.fixture
def fake_slurm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """ALPTK_CMD=slurm with the stand-in sbatch and scancel first on PATH; returns where they note their calls."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, script in (("sbatch", FAKE_SBATCH), ("scancel", FAKE_SCANCEL)):
        (bin_dir / name).write_text(script)
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SLURM", str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the tasks import this module's jobs
    monkeypatch.setenv("ALPTK_CMD", "slurm")
    monkeypatch.setenv("ALPTK_CMD_OPTS", "--partition=cpu --time=10")
    return tmp_path


def squares(numbers: list[int], advance) -> list[int]:
    """A job: the squares of its numbers; 13 is bad input, 666 a bug, 9 kills its process, -1 hangs."""
    result = []
    for n in numbers:
        if n == 13:
            raise DataError("unlucky number", "numbers.txt", 13, "utt13")
        if n == 666:
            raise ZeroDivisionError("division by zero")
        if n == 9:
            os.kill(os.getpid(), signal.SIGKILL)
        if n == -1:
            time.sleep(600)
        result.append(n * n)
        advance()
    return result


def test_jobs_run_as_one_array_with_their_logs(fake_slurm: Path):
    out = fake_slurm / "out"
    assert run_jobs(squares, [([1, 2],), ([3, 4],)], 4, "square data/x", out) == [[1, 4], [9, 16]]
    job_dir = out / "log" / "square_data_x"
    args = (fake_slurm / "sbatch.args").read_text().split()
    assert args[:6] == [
        "--array=1-2",
        "--wait",
        "--parsable",
        "--job-name=alptk",
        "square",
        "data/x",
    ]  # (the job name has spaces: the args file splits it)
    assert f"--output={job_dir.resolve()}/job.%a.log" in args
    assert args.index("--partition=cpu") > args.index("--parsable")  # ALPTK_CMD_OPTS last: they win
    logs = sorted(path.name for path in job_dir.iterdir())
    assert logs == ["job.1.log", "job.2.log"]  # inputs, progress, results and sbatch's empty log: removed
    assert (job_dir / "job.2.log").read_text().startswith(f"alptk job 2: Slurm job {ARRAY_ID}_2 on ")


def test_every_failed_job_is_reported_with_its_log(fake_slurm: Path, capsys: pytest.CaptureFixture):
    out = fake_slurm / "out"
    with pytest.raises(JobError) as error:
        run_jobs(squares, [([2, 13],), ([666],), ([9],)], 4, "square data/x", out)
    logs = out / "log" / "square_data_x"
    assert str(error.value) == (
        f"job 1 of 3 (square data/x) failed: numbers.txt:13: utt13: unlucky number; log: {logs}/job.1.log"
    )
    reported = [line.split(" ", 1)[1] for line in capsys.readouterr().err.splitlines() if " failed: " in line]
    assert reported == [
        "job 2 of 3 (square data/x) failed: ZeroDivisionError: division by zero (its traceback is in the log); "
        f"log: {logs}/job.2.log",
        f"job 3 of 3 (square data/x) failed: was killed by SIGKILL; log: {logs}/job.3.log",
    ]
    assert "error: numbers.txt:13: utt13: unlucky number" in (logs / "job.1.log").read_text()
    assert "Traceback" in (logs / "job.2.log").read_text()


def test_a_silent_job_times_out_and_the_array_is_cancelled(fake_slurm: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ALPTK_JOB_TIMEOUT", "2")
    out = fake_slurm / "out"
    with pytest.raises(JobError) as error:
        run_jobs(squares, [([-1],), ([1],)], 2, "hang", out)
    assert str(error.value) == (
        f"job 1 of 2 (hang) made no progress for 2 s; log: {out}/log/hang/job.1.log; rerun the stage "
        "(ALPTK_JOB_TIMEOUT sets the limit, in seconds)"
    )
    assert (fake_slurm / "scancel.args").read_text().strip() == ARRAY_ID


def test_sbatch_refusing_the_jobs_is_one_line(fake_slurm: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ALPTK_CMD_OPTS", "--partition=nowhere")
    with pytest.raises(JobError, match=r"^sbatch could not submit the jobs \(square\): sbatch: error: invalid "):
        run_jobs(squares, [([1],)], 1, "square", fake_slurm / "out")
    assert [path.name for path in (fake_slurm / "out" / "log" / "square").iterdir()] == ["sbatch.log"]  # what it said


def test_an_unknown_backend_is_a_config_error(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ALPTK_CMD", "pbs")
    with pytest.raises(ConfigError, match=r"^ALPTK_CMD=pbs: expected one of local, slurm$"):
        run_jobs(squares, [([1],)], 1, "square")


def test_the_recipes_switch_takes_local_or_slurm(tmp_path: Path):
    from tests.conftest import recipe_copy, run_recipe  # here: the tasks import this module, conftest imports torch

    result = run_recipe(recipe_copy("fsdd/asr1", tmp_path), "--stage", "3", "--cmd", "pbs")
    assert result.returncode != 0 and "error: --cmd pbs: expected local or slurm" in result.stderr
