"""Stopping training cleanly when asked: SIGTERM (what Slurm sends with ``--signal`` or before preempting a job)
and SIGINT (Ctrl-C) are noted while training runs; the trainer saves a checkpoint at the next step boundary and
raises ``Interrupted``, and the command exits with status 128 + the signal's number, the shell's convention: 143
for SIGTERM, 130 for SIGINT. Rerunning the same command resumes exactly where it stopped."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Interrupted(BaseException):  # like KeyboardInterrupt: a request to stop, not an error to handle
    """Training stopped by a signal after saving its checkpoint; ``status`` is the command's exit status."""

    def __init__(self, signum: int, step: int):
        self.signum, self.status = signum, 128 + signum
        name = signal.Signals(signum).name
        super().__init__(f"interrupted by {name} at step {step}: checkpoint saved; rerun the same command to resume")


@dataclass
class StopRequest:
    """The first stop signal received (0: none yet); later ones are absorbed, so a save in progress completes."""

    signum: int = 0

    def note(self, signum: int, frame: object) -> None:
        self.signum = self.signum or signum


@contextmanager
def stop_requests() -> Iterator[StopRequest]:
    """Catch the stop signals while the block runs (only the main thread can: elsewhere none are caught), then
    restore the handlers that were there before."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous = {signum: signal.signal(signum, request.note) for signum in STOP_SIGNALS}
    try:
        yield request
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)


def ignore_stop_signals(worker_id: int = 0) -> None:
    """In a DataLoader worker: leave the stop signals to the training process (a Ctrl-C or a Slurm signal reaches
    the whole process group; a worker it killed would crash the trainer before it could save)."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
