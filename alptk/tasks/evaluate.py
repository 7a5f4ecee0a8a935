"""Decoding a data directory with a trained model, and scoring the result, by the rules of the model's task."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml

from alptk.config import load_yaml
from alptk.data.kaldi_dir import KaldiDir
from alptk.errors import DataError
from alptk.files import write_text
from alptk.inference.decode import DECODE_INFO, DecodeOptions
from alptk.inference.experiment import load_experiment, read_task_spec
from alptk.scoring.results import write_result
from alptk.tasks import get_task


def decode_name(exp: str | Path, data: str | Path, options: DecodeOptions) -> str:
    """``decode_<data>_<options>``: the directory a decoding goes to, so that other options do not overwrite it: the
    task's tag, then every other option that differs from the default (``_max_length_ratio1.5``)."""
    task = get_task(read_task_spec(exp)["task"])
    parts, defaults = [task.decode_tag(options)], DecodeOptions()
    for key in dict.fromkeys(task.decode_keys):
        value = getattr(options, key)
        if key not in task.tagged_keys and value != getattr(defaults, key):
            parts.append(f"{key}{Path(value).name if isinstance(value, str) else f'{value:g}'}")
    return "_".join([f"decode_{Path(data).name}", *filter(None, parts)])


def decode_dir(exp_dir: Path, data: Path, out: Path, options: DecodeOptions, device: str) -> dict[str, Any]:
    """Decode ``data`` with the model ``exp_dir`` (an experiment or package) into ``out``; returns what
    ``decode.yaml`` records: task, model, data, options, timing and real-time factor."""
    exp = load_experiment(exp_dir, device)
    task = get_task(exp.task)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    info = task.decode(exp, data, out, options)
    seconds = time.perf_counter() - start
    info = {"task": exp.task, "exp": str(exp_dir), "data": str(data), "device": str(device), **info}
    info.update(decode_seconds=round(seconds, 2), rtf=round(seconds / max(info["audio_seconds"], 1e-9), 4))
    info["options"] = asdict(options)
    write_text(out / DECODE_INFO, yaml.safe_dump(info, sort_keys=False))
    return info


def score_dir(decode: Path, ref_dir: Path | None = None, normalize: bool = False, allow_pipes: bool = False):
    """Score what ``alptk decode`` wrote in ``decode`` against the references in ``ref_dir`` (default: the data it
    decoded); writes ``result.json`` and ``result.md`` there and returns the result."""
    info = load_yaml(decode / DECODE_INFO) if (decode / DECODE_INFO).is_file() else None
    if not info:
        raise DataError(f"no {DECODE_INFO}: not a decode directory", decode)
    ref_dir = Path(info["data"]) if ref_dir is None else ref_dir
    references = KaldiDir.load(ref_dir, allow_pipes).tables
    scored = get_task(info["task"]).score(decode, info, references, ref_dir, normalize, allow_pipes)
    result = {
        "task": info["task"],
        "exp": info["exp"],
        "test_set": ref_dir.name,
        "decode": decode.name,
        "rtf": info["rtf"],
        "lm": info.get("options", {}).get("lm"),  # the language model fused in, if any
        "scores": scored.scores,
        "tables": scored.tables,
    }
    write_result(decode, result, scored.confusions)
    return result
