"""Imports go one way: base -> data -> models -> objectives -> train -> inference | scoring -> tasks -> zoo -> cli.
A module may import its own layer and those before it (lazy imports inside functions included), and the two
siblings inference and scoring not each other."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

LAYERS = [  # (layer, module prefixes), in import order
    ("base", ("alptk.config", "alptk.errors", "alptk.files", "alptk.parallel", "alptk.progress", "alptk.plots",
              "alptk.version", "alptk.zoo.store")),
    ("data", ("alptk.data", "alptk.corpora")),
    ("models", ("alptk.models",)),
    ("objectives", ("alptk.objectives",)),
    ("train", ("alptk.train",)),
    ("inference", ("alptk.inference",)),
    ("scoring", ("alptk.scoring",)),
    ("tasks", ("alptk.tasks",)),
    ("zoo", ("alptk.zoo",)),
    ("cli", ("alptk.cli", "alptk.corpora.cli", "alptk.__main__")),
]  # fmt: skip
SIBLINGS = {"inference": "scoring", "scoring": "inference"}  # the same rank: neither imports the other


def layer(module: str) -> tuple[int, str]:
    """The rank and name of the layer a module belongs to: the longest matching prefix decides."""
    best = max(
        ((len(p), rank, name) for rank, (name, prefixes) in enumerate(LAYERS) for p in prefixes
         if module == p or module.startswith(p + ".")),
        default=None,
    )  # fmt: skip
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    _, rank, name = best
    return (rank - 1 if name == "scoring" else rank), name  # scoring ranks with inference


def imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("alptk"):
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("alptk")]
    return found


def test_imports_go_one_way():
    wrong = []
    for path in sorted((REPO / "alptk").rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if module == "alptk":
            continue
        rank, name = layer(module)
        for line, imported in imports(path):
            if imported == "alptk":
                continue
            other_rank, other = layer(imported)
            if other_rank > rank or SIBLINGS.get(name) == other:
                wrong.append(f"{path.relative_to(REPO)}:{line}: {name} imports {imported} ({other})")
    assert wrong == []


def test_the_layer_check_catches_an_upward_import(tmp_path: Path):
    module = tmp_path / "bad.py"
    module.write_text("def f():\n    from alptk.tasks import get_task\n")
    assert imports(module) == [(2, "alptk.tasks")]
    assert layer("alptk.tasks.asr")[0] > layer("alptk.models.model")[0]
    assert layer("alptk.zoo.store")[1] == "base" and layer("alptk.zoo.package")[1] == "zoo"
