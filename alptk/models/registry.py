"""Named model parts, each built from its typed ``Config`` dataclass (``{type: name, ...options}`` in YAML)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from alptk.config import from_dict
from alptk.errors import ConfigError


class Registry:
    """Parts of one kind (e.g. ``encoder``) by name; each class carries a ``Config`` dataclass."""

    def __init__(self, kind: str):
        self.kind = kind
        self._parts: dict[str, type[nn.Module]] = {}

    def register(self, name: str) -> Callable[[type[nn.Module]], type[nn.Module]]:
        def add(cls: type[nn.Module]) -> type[nn.Module]:
            if name in self._parts:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            self._parts[name] = cls
            return cls

        return add

    def names(self) -> list[str]:
        return sorted(self._parts)

    def get(self, name: str) -> type[nn.Module]:
        if name not in self._parts:
            raise ConfigError(f"unknown {self.kind} '{name}' (choose from {', '.join(self.names())})")
        return self._parts[name]

    def config(self, spec: dict[str, Any], where: str) -> tuple[str, Any]:
        """The part name and its typed config from ``{type: name, ...}``."""
        if not isinstance(spec, dict) or "type" not in spec:
            raise ConfigError(f"{where}: expected a mapping with 'type' (one of {', '.join(self.names())})")
        if spec["type"] not in self._parts:
            raise ConfigError(f"{where}: unknown {self.kind} '{spec['type']}' (choose from {', '.join(self.names())})")
        options = {k: v for k, v in spec.items() if k != "type"}
        return spec["type"], from_dict(self.get(spec["type"]).Config, options, where)


PARTS = {kind: Registry(kind) for kind in ("frontend", "encoder", "decoder")}
