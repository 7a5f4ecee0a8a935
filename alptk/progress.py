"""Progress bars and timing for long loops (rich), shared by every command."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

console = Console(stderr=True, highlight=False)


def log(message: str) -> None:
    """Print a timestamped log line to stderr (recipes capture it in their logs)."""
    console.print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {message}", markup=False, soft_wrap=True)


@contextmanager
def progress_bar(description: str | None, total: int) -> Iterator[callable]:
    """Show a bar for ``total`` items; yields ``advance(n=1)``. Logs the elapsed time at the end. No description:
    no bar and no log line (one item of an interactive caller's)."""
    if description is None:
        yield lambda n=1: None
        return
    start = time.perf_counter()
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not sys.stderr.isatty(),
    )
    with progress:
        task = progress.add_task(description, total=total)
        yield lambda n=1: progress.advance(task, n)
    log(f"{description}: {total} done in {time.perf_counter() - start:.1f} s")
