"""Run a function over ``nj`` job splits in forked processes, with one shared progress bar.

Each job is ``func(*args, advance)`` where ``advance(n)`` reports finished items. A job that raises
stops the whole run and its exception is raised in the caller (an ``AlptkError`` stays one line).
"""

from __future__ import annotations

import multiprocessing as mp
import queue
from collections.abc import Callable, Sequence
from typing import Any

from alptk.progress import progress_bar


def run_jobs(
    func: Callable[..., Any],
    jobs: Sequence[tuple],
    total: int,
    description: str,
) -> list[Any]:
    """Run ``func(*job, advance)`` for every job; in this process if there is one job, else one process each."""
    with progress_bar(description, total) as advance:
        if len(jobs) == 1:
            return [func(*jobs[0], advance)]
        import torch  # noqa: F401 - every job sets torch's threads: import it once here, not in each job (seconds)

        ctx = mp.get_context("fork")
        messages = ctx.Queue()
        procs = [
            ctx.Process(target=_job_main, args=(func, job, index, messages), daemon=True)
            for index, job in enumerate(jobs)
        ]
        for p in procs:
            p.start()
        results: dict[int, Any] = {}
        try:
            while len(results) < len(jobs):
                try:
                    kind, index, payload = messages.get(timeout=1.0)
                except queue.Empty:
                    dead = [i for i, p in enumerate(procs) if p.exitcode not in (None, 0) and i not in results]
                    if dead:
                        raise RuntimeError(f"job {dead[0] + 1} died with exit code {procs[dead[0]].exitcode}") from None
                    continue
                if kind == "advance":
                    advance(payload)
                elif kind == "done":
                    results[index] = payload
                else:
                    raise payload
        finally:
            for p in procs:
                if p.is_alive():
                    p.terminate()
                p.join()
        return [results[i] for i in range(len(jobs))]


def _job_main(func: Callable[..., Any], job: tuple, index: int, messages: Any) -> None:
    import torch

    torch.set_num_threads(1)
    try:
        result = func(*job, lambda n=1: messages.put(("advance", index, n)))
    except BaseException as err:
        messages.put(("error", index, err))
        return
    messages.put(("done", index, result))


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
