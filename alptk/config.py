"""Typed configs: dataclasses filled from YAML files and ``key=value`` overrides, with clear errors; the one reader
of the YAML and JSON files alptk reads."""

from __future__ import annotations

import dataclasses
import json
import operator
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import yaml

from alptk.errors import ConfigError

T = TypeVar("T")
LIMIT_TESTS = {">=": operator.ge, ">": operator.gt}  # the bounds check_limits knows


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; an empty file is an empty mapping. Broken YAML is a ``ConfigError`` at its line."""
    path = Path(path)
    try:
        data = yaml.safe_load(_read_text(path))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{line}: invalid YAML ({getattr(err, 'problem', None) or err})") from None
    return _mapping({} if data is None else data, path)


def load_json(path: str | Path) -> dict[str, Any]:
    """Read a JSON object (what alptk writes: ``result.json``, ``RESULTS.json``). Broken JSON is a ``ConfigError``
    at its line."""
    path = Path(path)
    try:
        data = json.loads(_read_text(path))
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}:{err.lineno}: invalid JSON ({err.msg} at column {err.colno})") from None
    return _mapping(data, path)


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text (byte {data[err.start]:#04x}); save it as UTF-8") from None


def _mapping(data: Any, path: Path) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of options, got {type(data).__name__}")
    return data


def from_dict(cls: type[T], data: dict[str, Any], where: str = "config") -> T:
    """Build dataclass ``cls`` from ``data``, checking keys and types; nested dataclasses recurse."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key '{unknown[0]}' (valid keys: {', '.join(fields)})")
    missing = [f.name for f in fields.values() if f.name not in data and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]  # fmt: skip
    if missing:
        raise ConfigError(f"{where}: '{missing[0]}' is missing (set it in the file, or as {missing[0]}=...)")
    hints = typing.get_type_hints(cls)
    kwargs = {name: _coerce(value, hints[name], f"{where}: {name}") for name, value in data.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where}: {err}") from None


def load_config(cls: type[T], path: str | Path | None = None, overrides: list[str] | None = None) -> T:
    """Load ``cls`` from a YAML file (or defaults) and apply ``key=value`` overrides (YAML-parsed values;
    dotted keys such as ``optim.lr`` set options inside sections)."""
    data = load_yaml(path) if path is not None else {}
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"override '{item}': expected key=value")
        *parents, last = key.strip().split(".")
        node = data
        for part in parents:  # dotted keys reach into sections: optim.lr=1e-3
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override '{item}': '{part}' is not a section")
        node[last] = yaml.safe_load(value)
    return from_dict(cls, data, str(path) if path is not None else cls.__name__)


def check_limits(config: Any, limits: dict[str, str], where: str) -> None:
    """Refuse numbers out of range: ``limits`` maps a dotted option (``*``: every entry of a mapping) to its bound,
    e.g. ``{"max_steps": ">= 1", "streams.*.ratio": "> 0"}``; NaN is always out of range."""
    for key, limit in limits.items():
        test, bound = limit.split()
        for name, value in _options(config, key.split(".")):
            if value is not None and not LIMIT_TESTS[test](value, float(bound)):
                raise ConfigError(f"{where}: {name} must be {limit}, got {value}")


def _options(node: Any, parts: list[str], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """The values a dotted option names, each with its full name."""
    if not parts:
        yield prefix, node
        return
    head, *rest = parts
    children = node.items() if head == "*" else [(head, node[head] if isinstance(node, dict) else getattr(node, head))]
    for name, child in children:
        yield from _options(child, rest, f"{prefix}.{name}" if prefix else name)


def to_dict(config: Any) -> dict[str, Any]:
    """A dataclass config as plain data, ready for YAML."""
    return dataclasses.asdict(config)


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, where)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0])
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return from_dict(hint, value, where)
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: '{value}' is not one of {', '.join(map(str, args))}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        item = args[0] if args else Any
        return origin(_coerce(v, item, where) for v in value)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return {k: _coerce(v, args[1], f"{where}.{k}") for k, v in value.items()} if args else value
    if hint is Any:
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str):  # YAML 1.1 reads '5e-3' (no dot) as a string
        try:
            return float(value)
        except ValueError:
            raise ConfigError(f"{where}: expected float, got {value!r}") from None
    if hint is bool and not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if hint is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if isinstance(hint, type) and not isinstance(value, hint):
        raise ConfigError(f"{where}: expected {hint.__name__}, got {value!r}")
    return value
