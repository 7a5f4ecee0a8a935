"""Packing a trained experiment into a zoo package: a self-contained directory (and a ``.tar.gz`` of it) holding
the weights, the model and feature specs, the tokenizer, the task, default decoding options (with the language
model it decodes with), a model card generated from the recipe's RESULTS.json, and a checksum manifest. Nothing in
it refers to a path outside it, and no file in it is a pickle."""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml

from alptk.config import load_json, load_yaml
from alptk.data.fbank import FEATURES_FILE, FbankConfig, load_features_spec, save_features_spec
from alptk.data.tokenizer import INFO_FILE
from alptk.errors import ConfigError, DataError
from alptk.files import write_text
from alptk.inference.decode import DecodeOptions
from alptk.inference.experiment import (
    DECODE_DEFAULTS,
    SUMMARY,
    TRAIN_CONFIG,
    model_features,
    read_task_spec,
    write_task_spec,
)
from alptk.models.model import MODEL_CONFIG, WEIGHTS
from alptk.progress import log
from alptk.tasks import get_task
from alptk.version import __version__
from alptk.zoo.store import (
    FORMAT_VERSION,
    PackageError,
    cached_packages,
    pack_archive,
    read_manifest,
    recipe_packages,
    write_manifest,
)

CARD = "README.md"
ARCHIVE_SUFFIX = ".tar.gz"


def pack(
    exp: Path,
    out: Path,
    options: DecodeOptions | None = None,
    results: Path | None = None,
    license: str = "unknown",
) -> Path:
    """Write the package of experiment ``exp`` to directory ``out`` and archive ``out.tar.gz``; returns ``out``.
    ``options``: the decoding options users get by default (its ``lm`` is packed inside); ``results``: the
    RESULTS.json whose entry for this system goes into the card."""
    for name in (MODEL_CONFIG, WEIGHTS, TRAIN_CONFIG, SUMMARY):
        if not (exp / name).is_file():
            raise DataError(f"no {name}: not a finished experiment (train it first)", exp)
    spec = read_task_spec(exp)
    task = get_task(spec["task"])
    options = options or DecodeOptions()
    extras = task.package_extras(options)
    staging = out.with_name(f".{out.name}.new")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        longest = load_yaml(exp / SUMMARY).get("longest_utterance_seconds")
        _copy_model(exp, staging, {**spec, "longest_input_seconds": longest} if longest else spec)
        for name, source in extras.items():
            extra = read_task_spec(source)
            if extra["task"] != "lm":
                raise ConfigError(f"{source}: the language model to pack is not one (task lm)")
            _copy_model(source, staging / name, extra)
        defaults = {**asdict(options), "lm": None, "transcriber": None, **{name: name for name in extras}}
        defaults.pop("allow_pipes")
        write_text(staging / DECODE_DEFAULTS, yaml.safe_dump(defaults, sort_keys=False))
        info = {
            "name": out.name,
            "task": spec["task"],
            "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "git_revision": git_revision(),
            "license": license,
        }
        system = system_results(results, exp.name) if results is not None else None
        features = load_features_spec(staging)
        write_text(staging / CARD, model_card(out.name, exp, spec, info, options, system, features))
        write_manifest(staging, info)
        _replace_dir(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    pack_archive(out, out.with_name(out.name + ARCHIVE_SUFFIX))
    return out


def _copy_model(exp: Path, dest: Path, spec: dict[str, Any]) -> None:
    """The files that run a model: weights, model config, tokenizer, task and, for a model that hears speech, the
    feature spec (the one ``load_experiment`` assumes for an experiment from before ``feats.yaml``)."""
    dest.mkdir(parents=True)
    for name in (MODEL_CONFIG, WEIGHTS):
        shutil.copyfile(exp / name, dest / name)
    shutil.copytree(exp / "tokenizer", dest / "tokenizer")
    info = dest / "tokenizer" / INFO_FILE  # it names the files the tokenizer was trained on: only their names here
    if info.is_file():
        write_text(info, yaml.safe_dump(path_names(load_yaml(info)), sort_keys=False))
    features = model_features(exp, spec["task"], load_yaml(exp / MODEL_CONFIG)["n_mels"])
    if features is not None:
        save_features_spec(dest, features)
    write_task_spec(dest, spec)


def _replace_dir(new: Path, out: Path) -> None:
    """``new`` takes the place of ``out``; a reader sees the old package or the new one, never a mix."""
    old = out.with_name(f".{out.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        os.replace(out, old)
    os.replace(new, out)
    shutil.rmtree(old, ignore_errors=True)


def git_revision() -> str:
    try:
        found = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent
        )
    except OSError:
        return "unknown"
    return found.stdout.strip() or "unknown"


def system_results(results: Path, name: str) -> dict[str, Any] | None:
    """The entry of system ``name`` in a RESULTS.json (``alptk results``), None if it has none."""
    data = load_json(results)
    return next((s for s in data.get("systems", []) if s.get("name") == name), None)


def recipe_of(exp: Path) -> Path | None:
    """The recipe directory an experiment was trained in (``<recipe>/exp/<name>``), if it is one."""
    recipe = exp.resolve().parent.parent
    return recipe if (recipe / "run.sh").is_file() else None


def model_card(
    name: str,
    exp: Path,
    spec: dict[str, Any],
    info: dict[str, Any],
    options: DecodeOptions,
    system: dict[str, Any] | None,
    features: FbankConfig | None,
) -> str:
    """The package's README.md: what the model does, how to run it, its scores, how it was trained and made."""
    task = get_task(spec["task"])
    config = load_yaml(exp / TRAIN_CONFIG)
    summary = load_yaml(exp / SUMMARY)
    lines = [f"# {name}", "", f"{task.title[0].upper()}{task.title[1:]}, made with alptk {__version__}.", ""]
    lines += [
        "| | |",
        "|---|---|",
        f"| task | {task.name} |",
        f"| license | {info['license']} |",
        f"| parameters | {summary['parameters'] / 1e6:.2f} M |",
        f"| package format | {FORMAT_VERSION} |",
        f"| alptk | {__version__} (git {info['git_revision']}) |",
        f"| made | {info['created']} |",
        "",
        "## Use",
        "",
        "```sh",
        task.usage.format(package=name),
        "```",
        "",
    ]
    if task.api is not None:
        lines += ["```python", f"from alptk.inference.api import {task.api}", ""]
        lines += [f'model = {task.api}.from_pretrained("{name}")', "```", ""]
    if features is not None:
        lines += [
            f"Input: any recording soundfile reads, resampled to {features.sample_rate} Hz mono; "
            f"{features.num_mel_bins}-bin Kaldi fbank, {features.frame_length_ms:g} ms windows every "
            f"{features.frame_shift_ms:g} ms (all options in `{FEATURES_FILE}`), global CMVN in the weights.",
            "",
        ]
    lines += [f"Default decoding (`{DECODE_DEFAULTS}`): {task.describe_decoding(options)}.", "", "## Results", ""]
    if system and system.get("results"):
        names = list(dict.fromkeys(k for r in system["results"] for k in r["scores"]))
        lines += [f"|test set|decoding|{'|'.join(names)}|RTF|", f"|---|---|{'---:|' * len(names)}---:|"]
        for result in system["results"]:
            scores = "|".join(str(result["scores"].get(k, "")) for k in names)
            lines.append(f"|{result['test_set']}|{result['decode']}|{scores}|{result['rtf']}|")
        lines.append("")
    else:
        lines += ["Not scored: no RESULTS.json entry for this system was given to `alptk zoo pack`.", ""]
    lines += ["## Training", ""]
    streams = config.get("streams", {})
    data = "; ".join(
        f"{stream}: {', '.join(Path(d).name for d in s['data'])} ({s['kind']})" for stream, s in streams.items()
    )
    objectives = ", ".join(
        f"{n} ({o.get('type', n)}, weight {o.get('weight', 1.0)})" for n, o in config["objectives"].items()
    )
    lines += [
        f"- data: {data}",
        f"- objectives: {objectives}",
        f"- started from: {Path(config['init']).name if config.get('init') else 'scratch'}",
        f"- {summary['steps']} updates in {summary['train_seconds'] / 60:.1f} min on {summary.get('world_size', 1)} x "
        f"{summary.get('device', 'unknown device')}",
        "",
        "## Reproduce",
        "",
    ]
    recipe = recipe_of(exp)
    if recipe is not None:
        where = "/".join(recipe.parts[-3:]) if recipe.parent.parent.name == "egs" else str(recipe)
        checkout = [f"git checkout {info['git_revision']}"] if info["git_revision"] != "unknown" else []
        lines += ["```sh", *checkout, f"cd {where} && ./run.sh", "```", ""]
    settings = {k: v for k, v in config.items() if k not in ("tokenizer", "cmvn", "init", "streams", "valid")}
    lines += ["Training settings (paths reduced to their names):", "", "```yaml"]
    lines += [yaml.safe_dump(path_names(settings), sort_keys=False).rstrip(), "```", ""]
    return "\n".join(lines)


def path_names(value: Any) -> Any:
    """``value`` with every string that holds a path (a ``/``) reduced to its last part: a card names no path."""
    if isinstance(value, dict):
        return {k: path_names(v) for k, v in value.items()}
    if isinstance(value, list):
        return [path_names(v) for v in value]
    return Path(value).name if isinstance(value, str) and "/" in value else value


def local_packages() -> list[tuple[Path, dict[str, Any]]]:
    """Packages in the cache, then those under the recipes of this checkout (``egs/*/*/zoo``), with manifests."""
    found = []
    for package in [*cached_packages(), *recipe_packages()]:
        try:
            found.append((package, read_manifest(package)))
        except PackageError as err:
            log(f"skipped: {err}")
    return found
