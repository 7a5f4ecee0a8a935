"""Run a function over ``nj`` job splits in forked processes, with one shared progress bar.

Each job is ``func(*args, advance)`` where ``advance(n)`` reports finished items. The first job that fails ends
the run: the other jobs are terminated, the temporary files of them all are removed from ``output_dir``, and the
caller gets one line. A job's exception is raised as it is (an ``AlptkError`` stays one line); a job that is
killed (e.g. by the out-of-memory killer), exits without its result, or sends nothing for ``ALPTK_JOB_TIMEOUT``
seconds (default 3600: a working job reports every batch, so only a hung one is silent that long) is a
``JobError`` naming it.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import queue
import signal
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from alptk.errors import AlptkError, ConfigError, JobError
from alptk.files import remove_tmp_files
from alptk.progress import progress_bar

JOB_TIMEOUT_VARIABLE = "ALPTK_JOB_TIMEOUT"
DEFAULT_JOB_TIMEOUT = 3600.0  # seconds without a message from a job before it counts as hung
POLL_SECONDS = 0.2  # how often jobs' exits and silences are checked
STOP_SECONDS = 10.0  # how long a terminated job gets to exit before it is killed


def run_jobs(
    func: Callable[..., Any],
    jobs: Sequence[tuple],
    total: int,
    description: str,
    output_dir: str | Path | None = None,
) -> list[Any]:
    """Run ``func(*job, advance)`` for every job; in this process if there is one job, else one process each.
    ``output_dir``: where the jobs write, cleared of the temporary files of jobs that fail."""
    with progress_bar(description, total) as advance:
        if len(jobs) == 1:
            return [func(*jobs[0], advance)]
        import torch  # noqa: F401 - every job sets torch's threads: import it once here, not in each job (seconds)

        timeout = job_timeout()
        ctx = mp.get_context("fork")
        messages = ctx.Queue()
        procs = [
            ctx.Process(target=_job_main, args=(func, job, index, messages), daemon=True)
            for index, job in enumerate(jobs)
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
