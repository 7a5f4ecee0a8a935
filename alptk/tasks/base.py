"""What a task is: how its models decode a data directory, how the result is scored, how a decoding is named, and
what a zoo package of it carries besides the model. The objectives a task trains declare it (``Objective.tasks``).
Adding a task is adding a module here that registers a :class:`Task`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from alptk.errors import ConfigError
from alptk.inference.decode import DecodeOptions
from alptk.inference.experiment import Experiment


@dataclass
class Scored:
    """What scoring a decode directory found: headline scores, count tables (WER/CER) and frequent confusions."""

    scores: dict[str, float] = field(default_factory=dict)
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    confusions: dict[str, list[tuple[str, str, int]]] = field(default_factory=dict)


class Task:
    """Base class of a task; ``name`` is what ``task:`` says in a training config."""

    name: ClassVar[str]
    title: ClassVar[str]  # what its models do, for model cards: "speech recognition"
    commands: ClassVar[tuple[str, ...]] = ()  # the inference commands that run its models (alptk transcribe, ...)
    usage: ClassVar[str]  # a command line running a package ``{package}`` of it
    api: ClassVar[str | None] = None  # the class of alptk.inference.api that runs its models from Python
    decode_keys: ClassVar[tuple[str, ...]] = ()  # the decoding options its outputs depend on
    tagged_keys: ClassVar[tuple[str, ...]] = ()  # those decode_tag spells out

    def decode(self, exp: Experiment, data: Path, out: Path, options: DecodeOptions) -> dict[str, Any]:
        """Decode ``data`` into ``out``; return what ``decode.yaml`` records (utterances, audio_seconds, ...)."""
        raise ConfigError(f"{exp.path}: a {self.name} model is not decoded on its own")

    def score(self, decode: Path, info: dict[str, Any], references: dict[str, dict[str, str]], ref_dir: Path,
              normalize: bool, allow_pipes: bool) -> Scored:  # fmt: skip
        """Score what :meth:`decode` wrote in ``decode`` against the tables of ``ref_dir``."""
        raise NotImplementedError

    def decode_tag(self, options: DecodeOptions) -> str:
        """A decode directory's name for the options of ``tagged_keys`` (``beam10_ctc0.3``); the other
        ``decode_keys`` that differ from the defaults follow it."""
        return ""

    def describe_decoding(self, options: DecodeOptions) -> str:
        """The decoding ``options`` that matter to this task, in words (for model cards)."""
        return "none needed"

    def package_extras(self, options: DecodeOptions) -> dict[str, Path]:
        """Other models a package of this task carries, by name (e.g. the language model it decodes with)."""
        return {}


TASKS: dict[str, Task] = {}


def register_task(cls: type[Task]) -> type[Task]:
    if cls.name in TASKS:
        raise ValueError(f"task '{cls.name}' is registered twice")
    TASKS[cls.name] = cls()
    return cls


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ConfigError(f"unknown task '{name}' (known: {', '.join(sorted(TASKS))})")
    return TASKS[name]


def check_command(exp: Experiment, command: str) -> None:
    """Refuse a model that the inference command ``command`` does not run, saying which command runs it."""
    task = get_task(exp.task)
    if command not in task.commands:
        other = f"; run it with alptk {' or alptk '.join(task.commands)}" if task.commands else ""
        raise ConfigError(f"{exp.path} is a model of task {exp.task}, not one alptk {command} runs{other}")
