"""Run a function over ``nj`` job splits, with one shared progress bar: in forked processes on this machine, or as
the tasks of one Slurm array job when ``ALPTK_CMD=slurm`` (recipes set it with ``--cmd slurm``).

Each job is ``func(*args, advance)`` where ``advance(n)`` reports finished items. Locally, the first job that fails
ends the run: the other jobs are terminated, the temporary files of them all are removed from ``output_dir``, and
the caller gets one line. A job's exception is raised as it is (an ``AlptkError`` stays one line); a job that is
killed (e.g. by the out-of-memory killer), exits without its result, or sends nothing for ``ALPTK_JOB_TIMEOUT``
seconds (default 3600: a working job reports every batch, so only a hung one is silent that long) is a
``JobError`` naming it.

On Slurm, ``sbatch --array=1-N --wait`` (with the options in ``ALPTK_CMD_OPTS``, e.g. ``--partition=cpu``) runs
``python -m alptk.parallel <job dir> <k>`` for each job, in ``<output_dir>/log/<description>/``: job.<k>.pkl is its
input, job.<k>.log its output, job.<k>.progress its count of finished items (which drives the bar and the timeout,
counted from the task's start, not while it waits in the queue) and job.<k>.out its result or one-line error. Once
the array has ended, every job without a result is reported, one line each: ``job k of N (<description>) failed:
<why>; log: <path>``, the first as the ``JobError`` raised. An interrupt (Ctrl-C, SIGTERM) cancels the array.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import queue
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alptk.errors import AlptkError, ConfigError, JobError
from alptk.files import atomic_open, remove, remove_tmp_files, storage_error
from alptk.progress import log, progress_bar

JOB_TIMEOUT_VARIABLE = "ALPTK_JOB_TIMEOUT"
DEFAULT_JOB_TIMEOUT = 3600.0  # seconds without a message from a job before it counts as hung
POLL_SECONDS = 0.2  # how often jobs' exits and silences are checked
STOP_SECONDS = 10.0  # how long a terminated job gets to exit before it is killed
BACKEND_VARIABLE = "ALPTK_CMD"  # local (the default) or slurm
BACKENDS = ("local", "slurm")
SLURM_OPTIONS_VARIABLE = "ALPTK_CMD_OPTS"  # sbatch options, e.g. "--partition=cpu --time=1:00:00"
SLURM_POLL_SECONDS = 1.0  # how often the tasks' progress files are read
PROGRESS_SECONDS = 1.0  # how often a task rewrites its progress file (at most)
TASK_STATUS = "alptk: the task exited with status"  # the last line of a failed task's log


def run_jobs(
    func: Callable[..., Any],
    jobs: Sequence[tuple],
    total: int,
    description: str,
    output_dir: str | Path | None = None,
) -> list[Any]:
    """Run ``func(*job, advance)`` for every job: as one Slurm array job when ``ALPTK_CMD=slurm``, else in this
    process if there is one job, else one forked process each. ``output_dir``: where the jobs write, cleared of the
    temporary files of jobs that fail (on Slurm, their logs go to ``<output_dir>/log/``; default: the working
    directory)."""
    backend = job_backend()
    with progress_bar(description, total) as advance:
        if backend == "slurm":
            return _run_on_slurm(func, jobs, description, Path(output_dir or "."), advance)
        if len(jobs) == 1:
            return [func(*jobs[0], advance)]
        return _run_forked(func, jobs, description, output_dir, advance)


def job_backend() -> str:
    """Where jobs run: ``ALPTK_CMD`` (local or slurm), local if unset."""
    value = os.environ.get(BACKEND_VARIABLE, "").strip() or "local"
    if value not in BACKENDS:
        raise ConfigError(f"{BACKEND_VARIABLE}={value}: expected one of {', '.join(BACKENDS)}")
    return value


def job_timeout() -> float:
    """Seconds a job may go without a message: ``ALPTK_JOB_TIMEOUT`` (``inf``: no limit), else the default."""
    value = os.environ.get(JOB_TIMEOUT_VARIABLE, "").strip()
    if not value:
        return DEFAULT_JOB_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0:
        raise ConfigError(f"{JOB_TIMEOUT_VARIABLE}={value}: expected a number of seconds above 0")
    return seconds


def _run_forked(
    func: Callable[..., Any],
    jobs: Sequence[tuple],
    description: str,
    output_dir: str | Path | None,
    advance: Callable,
) -> list[Any]:
    """Every job in a forked process of its own; the first failure terminates the others."""
    import torch  # noqa: F401 - every job sets torch's threads: import it once here, not in each job (seconds)

    timeout = job_timeout()
    ctx = mp.get_context("fork")
    messages = ctx.Queue()
    procs = [
        ctx.Process(target=_job_main, args=(func, job, index, messages), daemon=True) for index, job in enumerate(jobs)
    ]
    for p in procs:
        p.start()
    try:
        results = _collect(procs, messages, advance, timeout, description)
    except BaseException:
        _stop(procs)
        if output_dir is not None:
            remove_tmp_files(output_dir, [p.pid for p in procs])
        raise
    _stop(procs)
    return [results[i] for i in range(len(jobs))]


def _collect(procs: list, messages: Any, advance: Callable, timeout: float, description: str) -> dict[int, Any]:
    """Every job's result by index; raises at the first job that fails, ends without a result or falls silent."""
    results: dict[int, Any] = {}
    heard = [time.monotonic()] * len(procs)
    while len(results) < len(procs):
        # which jobs had ended before reading: all they sent is in the queue by then
        ended = {i for i, p in enumerate(procs) if p.exitcode is not None}
        for kind, index, payload in _received(messages):
            heard[index] = time.monotonic()
            if kind == "advance":
                advance(payload)
            elif kind == "done":
                results[index] = payload
            else:
                raise payload
        for i in sorted(set(range(len(procs))) - set(results)):
            job = f"job {i + 1} of {len(procs)} ({description})"
            if i in ended:
                raise JobError(f"{job} {_ending(procs[i].exitcode)}; rerun the stage")
            if time.monotonic() - heard[i] > timeout:
                raise JobError(
                    f"{job} made no progress for {timeout:g} s; rerun the stage "
                    f"({JOB_TIMEOUT_VARIABLE} sets the limit, in seconds)"
                )
    return results


def _received(messages: Any) -> list[tuple[str, int, Any]]:
    """The messages jobs sent, waiting up to ``POLL_SECONDS`` for the first."""
    received = []
    try:
        received.append(messages.get(timeout=POLL_SECONDS))
        while True:
            received.append(messages.get_nowait())
    except queue.Empty:
        return received


def _ending(exitcode: int) -> str:
    if exitcode == 0:
        return "ended without a result"
    if exitcode > 0:
        return f"exited with status {exitcode}"
    try:
        return f"was killed by {signal.Signals(-exitcode).name}"
    except ValueError:
        return f"was killed by signal {-exitcode}"


def _stop(procs: list) -> None:
    """Terminate the jobs still running (killing those that do not exit) and wait for all."""
    for p in procs:
        if p.is_alive():
            p.terminate()
    for p in procs:
        p.join(STOP_SECONDS)
        if p.is_alive():
            p.kill()
            p.join()


def _job_main(func: Callable[..., Any], job: tuple, index: int, messages: Any) -> None:
    import torch

    torch.set_num_threads(1)
    try:
        result = func(*job, lambda n=1: messages.put(("advance", index, n)))
    except BaseException as err:
        messages.put(("error", index, _sendable(err)))
        return
    messages.put(("done", index, result))


def _sendable(err: BaseException) -> BaseException:
    """``err`` if it survives the trip to the parent (pickled, then rebuilt there), else its message: as an
    ``AlptkError`` (still one line), or for a bug as a ``RuntimeError`` holding the job's traceback."""
    try:
        pickle.loads(pickle.dumps(err))
        return err
    except Exception:
        if isinstance(err, AlptkError):
            return AlptkError(str(err))
        return RuntimeError("".join(traceback.format_exception(type(err), err, err.__traceback__)))


def split_evenly(items: Sequence[Any], nj: int) -> list[list[Any]]:
    """Split ``items`` into at most ``nj`` contiguous, non-empty chunks of near-equal size."""
    nj = max(1, min(nj, len(items)))
    size, extra = divmod(len(items), nj)
    chunks, start = [], 0
    for i in range(nj):
        end = start + size + (1 if i < extra else 0)
        chunks.append(list(items[start:end]))
        start = end
    return chunks


# --- Slurm: one array job; task k runs ``python -m alptk.parallel <job dir> k`` (a user can rerun one by hand) ---


def _run_on_slurm(
    func: Callable[..., Any], jobs: Sequence[tuple], description: str, output_dir: Path, advance: Callable
) -> list[Any]:
    """Every job as a task of one ``sbatch --array`` job, its files in ``<output_dir>/log/<description>``; the
    array is cancelled if this process is interrupted or a task falls silent."""
    timeout = job_timeout()
    job_dir = output_dir / "log" / re.sub(r"[^\w.-]+", "_", description).strip("_")
    remove(job_dir)  # no result of an earlier run may pass for this one's
    job_dir.mkdir(parents=True)
    for k, job in enumerate(jobs, 1):
        with atomic_open(job_dir / f"job.{k}.pkl", "wb", sync=False) as f:
            pickle.dump((func, job), f)
    try:
        sbatch, array_id = _submit(job_dir, len(jobs), description)
        try:
            with _sigterm_as_exit():
                _follow(sbatch, job_dir, len(jobs), advance, timeout, description)
            return _slurm_results(job_dir, len(jobs), description)
        except BaseException:
            subprocess.run(["scancel", array_id], capture_output=True, check=False)
            try:
                sbatch.wait(timeout=6 * STOP_SECONDS)  # until the cancelled tasks have ended
            except subprocess.TimeoutExpired:
                sbatch.kill()
            remove_tmp_files(output_dir, _task_pids(job_dir))
            raise
    finally:
        for path in job_dir.iterdir():  # the logs stay, sbatch's if it said anything
            if path.suffix != ".log" or (path.name == "sbatch.log" and not path.stat().st_size):
                path.unlink()


def _submit(job_dir: Path, n_jobs: int, description: str) -> tuple[subprocess.Popen, str]:
    """The running ``sbatch --wait`` of the array and the array's job id."""
    sbatch_log = job_dir / "sbatch.log"
    with open(sbatch_log, "w") as stderr:  # its own session: a Ctrl-C reaches this process, which cancels the array
        sbatch = subprocess.Popen(
            _sbatch_command(job_dir.resolve(), n_jobs, description),
            stdout=subprocess.PIPE, stderr=stderr, text=True, start_new_session=True,
        )  # fmt: skip
    array_id = sbatch.stdout.readline().strip().split(";")[0]  # --parsable: "<job id>[;<cluster>]", then it waits
    if not array_id:
        sbatch.wait()
        raise JobError(f"sbatch could not submit the jobs ({description}): {_last_line(sbatch_log.read_text())}")
    return sbatch, array_id


def _sbatch_command(job_dir: Path, n_jobs: int, description: str) -> list[str]:
    """``sbatch`` for an array of ``n_jobs`` tasks; the options in ``ALPTK_CMD_OPTS`` come last, so they win."""
    run = f'{shlex.quote(sys.executable)} -m alptk.parallel {shlex.quote(str(job_dir))} "$SLURM_ARRAY_TASK_ID"'
    task = f'{run} || {{ status=$?; echo "{TASK_STATUS} $status"; exit $status; }}'  # a failed one: how, in its log
    return [
        "sbatch",
        f"--array=1-{n_jobs}",
        "--wait",
        "--parsable",
        f"--job-name=alptk {description}",
        f"--output={job_dir}/job.%a.log",
        *shlex.split(os.environ.get(SLURM_OPTIONS_VARIABLE, "")),
        f"--wrap={task}",
    ]


def _follow(
    sbatch: subprocess.Popen, job_dir: Path, n_jobs: int, advance: Callable, timeout: float, description: str
) -> None:
    """Advance the bar by the counts the tasks report until every task has left its outcome, or sbatch has returned
    (the array has ended: sbatch checks at growing intervals, so it is not waited for when the outcomes are there); a
    task that has started and reports nothing new for ``timeout`` seconds is a ``JobError``."""
    counts = [0] * n_jobs
    heard: dict[int, float] = {}  # the tasks that have started: when their count last changed
    while True:
        ended = sbatch.poll() is not None or all((job_dir / f"job.{k}.out").exists() for k in range(1, n_jobs + 1))
        for k in range(1, n_jobs + 1):
            progress = _read_progress(job_dir / f"job.{k}.progress")
            if progress is None:
                continue
            count = progress[1]
            if k not in heard or count != counts[k - 1]:
                heard[k] = time.monotonic()
                advance(count - counts[k - 1])
                counts[k - 1] = count
        if ended:
            sbatch.kill()  # if it still waits: the tasks are ending on their own
            sbatch.wait()
            return
        for k, since in heard.items():
            if not (job_dir / f"job.{k}.out").exists() and time.monotonic() - since > timeout:
                raise JobError(
                    f"job {k} of {n_jobs} ({description}) made no progress for {timeout:g} s; log: "
                    f"{job_dir / f'job.{k}.log'}; rerun the stage ({JOB_TIMEOUT_VARIABLE} sets the limit, in seconds)"
                )
        time.sleep(SLURM_POLL_SECONDS)


def _slurm_results(job_dir: Path, n_jobs: int, description: str) -> list[Any]:
    """The tasks' results in order; every task without one is logged, one line each, and the first raised."""
    results, failures = [], []
    for k in range(1, n_jobs + 1):
        out, task_log = job_dir / f"job.{k}.out", job_dir / f"job.{k}.log"
        if out.is_file():
            status, payload = pickle.loads(out.read_bytes())
            if status == "done":
                results.append(payload)
                continue
            reason = payload
        else:
            last = _last_line(task_log.read_text(errors="replace")) if task_log.is_file() else "no log"
            if status := re.fullmatch(f"{TASK_STATUS} ([0-9]+)", last):  # the process died: how
                code = int(status[1])
                reason = _ending(-(code - 128) if code > 128 else code)  # the shell's 128 + N: killed by signal N
            else:  # the whole task was ended (time limit, memory, cancelled): Slurm's last word
                reason = f"ended without a result ({last})"
        failures.append(f"job {k} of {n_jobs} ({description}) failed: {reason}; log: {task_log}")
    for line in failures[1:]:
        log(line)
    if failures:
        raise JobError(failures[0])
    return results


@contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """While the block runs in the main thread, SIGTERM (Slurm ending a job that runs this one, ``kill``) raises
    ``SystemExit(143)`` instead of ending the process at once, so the array is cancelled first."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def exit_now(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, exit_now)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _read_progress(path: Path) -> tuple[int, int] | None:
    """A task's process id and count of finished items, None before it has started."""
    try:
        pid, count = path.read_text().split()
    except (OSError, ValueError):
        return None
    return int(pid), int(count)


def _task_pids(job_dir: Path) -> list[int]:
    """The process ids of the tasks that started (whose temporary files are theirs)."""
    return [progress[0] for path in job_dir.glob("job.*.progress") if (progress := _read_progress(path))]


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


class _ProgressFile:
    """A task's ``advance``: its count of finished items, rewritten (process id first) at most once a second."""

    def __init__(self, path: Path):
        self.path, self.count, self.written = path, 0, 0.0
        self.write()

    def __call__(self, n: int = 1) -> None:
        self.count += n
        if time.monotonic() - self.written >= PROGRESS_SECONDS:
            self.write()

    def write(self) -> None:
        with atomic_open(self.path, sync=False) as f:
            f.write(f"{os.getpid()} {self.count}\n")
        self.written = time.monotonic()


def _run_task(job_dir: Path, k: int) -> int:
    """Array task ``k``: run job ``k`` and leave its outcome, a result or a one-line error, in job.<k>.out."""
    os.environ.setdefault("OMP_NUM_THREADS", os.environ.get("SLURM_CPUS_PER_TASK", "1"))  # torch's: not the node's
    array_id = os.environ.get("SLURM_ARRAY_JOB_ID", "?")
    print(f"alptk job {k}: Slurm job {array_id}_{k} on {socket.gethostname()}", file=sys.stderr, flush=True)
    func, job = pickle.loads((job_dir / f"job.{k}.pkl").read_bytes())
    progress = _ProgressFile(job_dir / f"job.{k}.progress")
    try:
        outcome = ("done", func(*job, progress))
    except (AlptkError, OSError) as err:  # one line, as the CLI prints them
        outcome = ("failed", str(storage_error(err) if isinstance(err, OSError) else err))
    except Exception as err:  # a bug: its traceback goes to the log
        traceback.print_exc()
        outcome = ("failed", f"{type(err).__name__}: {_last_line(str(err))} (its traceback is in the log)")
    progress.write()
    if outcome[0] == "failed":
        print(f"error: {outcome[1]}", file=sys.stderr)
    with atomic_open(job_dir / f"job.{k}.out", "wb") as f:
        pickle.dump(outcome, f)
    return 0 if outcome[0] == "done" else 1


if __name__ == "__main__":
    sys.exit(_run_task(Path(sys.argv[1]), int(sys.argv[2])))
