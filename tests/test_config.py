"""Typed configs from YAML: defaults, overrides, nested dataclasses, and one clear error per mistake."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from alptk.config import load_config
from alptk.errors import ConfigError


@dataclass
class Encoder:
    layers: int = 6
    kind: Literal["transformer", "conformer"] = "conformer"


@dataclass
class Model:
    d_model: int = 144
    dropout: float = 0.1
    encoder: Encoder = field(default_factory=Encoder)
    objectives: list[str] = field(default_factory=list)
    weights: dict[str, float] = field(default_factory=dict)
    name: str | None = None


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "c.yaml").write_text(text)
    return tmp_path / "c.yaml"


def test_yaml_overrides_and_nesting(tmp_path: Path):
    path = write(tmp_path, "d_model: 256\nencoder: {layers: 12}\nobjectives: [mlm, stm]\nweights: {mlm: 1}\n")
    config = load_config(Model, path, ["dropout=0", "name=base"])
    assert config == Model(256, 0.0, Encoder(12, "conformer"), ["mlm", "stm"], {"mlm": 1.0}, "base")
    assert isinstance(config.dropout, float) and isinstance(config.weights["mlm"], float)
    dotted = load_config(Model, path, ["encoder.kind=transformer", "weights.stm=0.5"])
    assert dotted.encoder == Encoder(12, "transformer") and dotted.weights == {"mlm": 1.0, "stm": 0.5}
    with pytest.raises(ConfigError, match=r"override 'd_model\.x=1': 'd_model' is not a section"):
        load_config(Model, path, ["d_model.x=1"])
    assert load_config(Model, path, ["dropout=5e-3"]).dropout == 0.005  # YAML 1.1 reads 5e-3 as a string
    assert load_config(Model) == Model()
    assert load_config(Model, write(tmp_path, "")) == Model()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("d_modle: 3\n", r"c.yaml: unknown key 'd_modle' \(valid keys: d_model, dropout, encoder"),
        ("encoder: {layer: 3}\n", r"c.yaml: encoder: unknown key 'layer' \(valid keys: layers, kind\)"),
        ("d_model: 1.5\n", r"c.yaml: d_model: expected an integer, got 1.5"),
        ("dropout: high\n", r"c.yaml: dropout: expected float, got 'high'"),
        ("encoder: {kind: lstm}\n", r"encoder: kind: 'lstm' is not one of transformer, conformer"),
        ("objectives: mlm\n", r"objectives: expected a list, got 'mlm'"),
        ("d_model: [1\n", r"c.yaml:2: invalid YAML"),
        ("- 1\n", r"c.yaml: expected a mapping of options, got list"),
    ],
)
def test_mistakes_are_clear(tmp_path: Path, text: str, message: str):
    with pytest.raises(ConfigError, match=message):
        load_config(Model, write(tmp_path, text))


def test_bad_override_and_missing_file(tmp_path: Path):
    with pytest.raises(ConfigError, match="override 'dropout': expected key=value"):
        load_config(Model, None, ["dropout"])
    with pytest.raises(ConfigError, match=r"nope\.yaml: config file not found"):
        load_config(Model, tmp_path / "nope.yaml")


@dataclass
class Stream:
    kind: str
    data: list[str]
    ratio: float = 1.0


def test_a_missing_required_key_is_named(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"c\.yaml: 'data' is missing \(set it in the file, or as data=\.\.\.\)"):
        load_config(Stream, write(tmp_path, "kind: speech\n"))
    assert load_config(Stream, write(tmp_path, "kind: speech\n"), ["data=[a, b]"]) == Stream("speech", ["a", "b"])
