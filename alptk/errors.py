"""Errors a user can cause. The CLI prints them as one line and exits with ``USER_ERROR``; bugs stay tracebacks
(exit status 1)."""

from __future__ import annotations

from pathlib import Path

USER_ERROR = 2  # exit status of a user mistake or bad input: the one-line message says what to do


class AlptkError(Exception):
    """A user mistake or bad input: the message says what is wrong and where."""


class ConfigError(AlptkError):
    """A configuration file or option is invalid."""


class StorageError(AlptkError):
    """The file system refused a read or write: disk full, read-only, no permission, no such directory."""


class JobError(AlptkError):
    """A parallel job died, hung or ended without its result."""


class DataError(AlptkError):
    """Bad input data, located by file, line and utterance where known."""

    def __init__(
        self,
        message: str,
        file: str | Path | None = None,
        line: int | None = None,
        utt: str | None = None,
    ):
        self.file, self.line, self.utt, self.reason = file, line, utt, message
        super().__init__(locate(message, file, line, utt))


def locate(message: str, file: str | Path | None = None, line: int | None = None, utt: str | None = None) -> str:
    """Format a message as ``file:line: utterance: message``, leaving out what is unknown."""
    where = ""
    if file is not None:
        where = f"{file}:{line}: " if line is not None else f"{file}: "
    if utt is not None:
        where += f"{utt}: "
    return where + message
