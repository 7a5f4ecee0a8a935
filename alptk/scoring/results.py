"""Scores of decode directories (``result.json`` + ``result.md`` in each; the tasks say which scores) and their
gathering, with each system's training figures and a labelled-data curve, into an ESPnet-style ``RESULTS.md`` (and
``RESULTS.json``)."""

from __future__ import annotations

import datetime
import json
import platform
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file

from alptk.config import load_json, load_yaml
from alptk.data.kaldi_dir import KaldiDir
from alptk.data.sources import read_matrix
from alptk.data.table import Entry, read_table
from alptk.errors import DataError
from alptk.files import write_text
from alptk.plots import plot_lines
from alptk.scoring.metrics import (
    ErrorReport,
    error_rates,
    mel_cepstral_distortion,
    retrieval_recall,
    write_alignments,
)
from alptk.train.config import PRETRAIN
from alptk.version import __version__

RESULT = "result.json"
SUMMARY = "summary.yaml"  # what the trainer writes when an experiment is done
CURVE_PLOT = ".curve.png"  # RESULTS.md's labelled-data curve: RESULTS.curve.png
COUNT_COLUMNS = ("Snt", "Wrd", "Corr", "Sub", "Del", "Ins", "Err", "S.Err")


def read_decoded(path: Path) -> list[Entry]:
    """The lines of a table ``alptk decode`` wrote."""
    if not path.is_file():
        raise DataError("missing: decode the data first", path)
    return read_table(path)


def read_text(path: Path) -> dict[str, str]:
    return {e.key: e.value for e in read_decoded(path)}


def error_rate_row(name: str, refs: dict[str, str], hyp_file: Path, normalize: bool):
    """WER or CER counts of the hypotheses in ``hyp_file`` as a table row, with the alignments written beside it,
    and the most frequent confusions."""
    hyps, out = read_text(hyp_file), hyp_file.parent
    unit = "word" if name == "WER" else "char"
    report: ErrorReport = error_rates(refs, hyps, unit, normalize, hyp_file)
    write_alignments(out / f"alignments.{unit}.txt", report)
    c = report.counts
    row = {"Snt": c.sentences, "Wrd": c.units, **{k: round(v, 1) for k, v in c.percentages().items()}}
    return row, report.confusions[:10]


def mean_mcd(reference_scp: Path, references: dict[str, str], synthesized_scp: Path, allow_pipes: bool) -> float:
    """Mean mel cepstral distortion of the synthesized utterances that have reference features."""
    values = [
        mel_cepstral_distortion(
            read_matrix(references[entry.key], allow_pipes, reference_scp, utt=entry.key),
            read_matrix(entry.value, allow_pipes, synthesized_scp, entry.line, entry.key),
        )
        for entry in read_decoded(synthesized_scp)
        if entry.key in references
    ]
    if not values:
        raise DataError("no synthesized utterance has reference features", synthesized_scp)
    return float(np.mean(values))


def retrieval_scores(embeddings: Path) -> dict[str, float]:
    """Recall at 1, 5 and 10 of speech-to-text and text-to-speech retrieval with saved matching embeddings."""
    if not embeddings.is_file():
        raise DataError("missing: decode the data first", embeddings)
    tensors = load_file(str(embeddings))
    return {k: round(v, 1) for k, v in retrieval_recall(tensors["speech"], tensors["text"]).items()}


def write_result(decode: Path, result: dict[str, Any], confusions: dict[str, list[tuple[str, str, int]]]) -> None:
    write_text(decode / RESULT, json.dumps(result, indent=2) + "\n")
    write_text(decode / "result.md", decode_markdown(result, confusions))


def _table(rows: list[tuple[str, dict[str, Any]]], columns: tuple[str, ...], first: str = "dataset") -> list[str]:
    lines = [f"|{first}|{'|'.join(columns)}|", f"|---|{'|'.join('---:' for _ in columns)}|"]
    return lines + [f"|{name}|{'|'.join(str(row.get(c, '')) for c in columns)}|" for name, row in rows]


def decode_markdown(result: dict[str, Any], confusions: dict[str, list[tuple[str, str, int]]]) -> str:
    lines = [f"# {result['exp']}: {result['decode']}", ""]
    lines += [*_table([(result["test_set"], result["scores"])], tuple(result["scores"])), ""]
    for name, row in result["tables"].items():
        lines += [f"## {name}", "", *_table([(result["test_set"], row)], COUNT_COLUMNS), ""]
        if confusions.get(name):
            pairs = ", ".join(f"{r or '∅'} → {h or '∅'} ({n})" for r, h, n in confusions[name])
            lines += [f"Most frequent errors: {pairs}", ""]
    return "\n".join(lines)


def environment() -> dict[str, str]:
    try:
        revision = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent
        ).stdout.strip()
    except OSError:
        revision = ""
    import torch  # here only: scoring needs no torch, and importing it takes seconds

    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU ({platform.processor() or 'cpu'})"
    return {
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z"),
        "alptk": f"{__version__} ({revision or 'unknown revision'})",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": device,
    }


def recipe_path(exp: Path, path: str) -> Path:
    """A path as an experiment's ``train.yaml`` and ``summary.yaml`` give it: relative to the recipe directory
    (``exp/<name>``'s parent's parent), where training ran."""
    return exp.parent.parent / path


def read_summary(exp: Path) -> dict[str, Any]:
    if not (exp / SUMMARY).is_file():
        raise DataError(f"no {SUMMARY}: not a finished experiment", exp)
    return load_yaml(exp / SUMMARY)


def pretraining(exp: Path, summary: dict[str, Any]) -> str:
    """The pre-training a system descends from: a pre-trained experiment's own name; for a fine-tuned one, that of
    its ``init``, followed through fine-tuned ancestors; ``none`` from scratch; an init that is no experiment (a
    package, a weights file) as its path."""
    seen = {exp.resolve()}
    while summary.get("task", PRETRAIN) != PRETRAIN:
        init = summary.get("init")
        if not init:
            return "none"
        exp = recipe_path(exp, init)
        if not (exp / SUMMARY).is_file() or exp.resolve() in seen:
            return init
        seen.add(exp.resolve())
        summary = load_yaml(exp / SUMMARY)
    return exp.name


def read_system(exp: Path) -> dict[str, Any]:
    """An experiment's training summary, the pre-training it descends from, and its scored decode directories."""
    summary = read_summary(exp)
    results = [load_json(p) for p in sorted(exp.glob(f"decode*/{RESULT}"))]
    return {
        "name": exp.name,
        "config": str(exp / "train.yaml"),
        "pretraining": pretraining(exp, summary),
        **summary,
        "results": results,
    }


def labelled_utterances(exp: Path, config: dict[str, Any]) -> int:
    """The utterances of an experiment's paired streams (the data dirs of its ``train.yaml``, ``config``)."""
    streams = config.get("streams", {})
    dirs = [path for stream in streams.values() if stream["kind"] == "paired" for path in stream["data"]]
    if not dirs:
        raise DataError("no paired stream: no labelled utterances to count", exp / "train.yaml")
    return len({utt for path in dirs for utt in KaldiDir.load(recipe_path(exp, path), allow_pipes=True).utterances})


def curve_point(exp: Path, metric: str | None) -> dict[str, Any]:
    """A system of the labelled-data curve: its labelled utterances, start and budget, and the error rate ``metric``
    (default: the first its results have, WER for ASR) of each of its decodings."""
    system = read_system(exp)
    if not system["results"]:
        raise DataError(f"no scored decoding (decode*/{RESULT}): decode and score it first", exp)
    metric = metric or next((name for result in system["results"] for name in result["tables"]), None)
    if metric is None:
        raise DataError("no error rate (WER, CER) for the labelled-data curve", exp)
    config = load_yaml(exp / "train.yaml")
    budget = {
        "exp": system["name"],
        "steps": system["steps"],
        "max_steps": config["max_steps"],
        "stopped_early": system.get("stopped_early", False),
    }
    decodings = {}
    for result in system["results"]:
        if metric not in result["tables"]:
            raise DataError(f"no {metric}: the curve's systems need one error rate", exp / result["decode"] / RESULT)
        decodings[result["decode"]] = {**budget, "error": result["tables"][metric]["Err"], "lm": result.get("lm")}
    init = recipe_path(exp, system["init"]) / "train.yaml" if system["init"] else None
    return {
        "metric": metric,
        "labelled_utterances": labelled_utterances(exp, config),
        "pretraining": system["pretraining"] if init else None,
        "pretraining_steps": load_yaml(init)["max_steps"] if init and init.is_file() else None,
        "decodings": decodings,
    }


def labelled_data_curve(exps: list[Path]) -> dict[str, Any]:
    """Systems fine-tuned on the same labelled utterances from a pre-trained model and from scratch (``init``
    null), paired: one row per amount of data and decoding, with the pre-trained start's relative gain."""
    metric, rows, starts = None, {}, []
    for exp in exps:
        point = curve_point(exp, metric)
        metric, count = point["metric"], point["labelled_utterances"]
        side = "pretrained" if point["pretraining"] else "scratch"
        if point["pretraining"]:
            starts.append((point["pretraining"], point["pretraining_steps"]))
        for decoding, figures in point["decodings"].items():
            row = rows.setdefault((count, decoding), {"labelled_utterances": count, "decoding": decoding})
            if side in row:
                raise DataError(f"a second {side} system with {count} labelled utterances ({row[side]['exp']})", exp)
            row[side] = figures
    for row in rows.values():
        if "pretrained" in row and "scratch" in row and row["scratch"]["error"] > 0:
            row["relative_gain"] = round(100 * (1 - row["pretrained"]["error"] / row["scratch"]["error"]), 1)
    return {
        "metric": metric,
        "pretraining": ", ".join(dict.fromkeys(name for name, _ in starts)) or "none",
        "pretraining_steps": single({steps for _, steps in starts}),
        "rows": [rows[key] for key in sorted(rows)],
    }


def single(values: set[Any]) -> Any:
    """The one value of a set, None if it has none or several."""
    return next(iter(values)) if len(values) == 1 else None


def plot_curve(path: Path, curve: dict[str, Any]) -> None:
    """The labelled-data curve: each side's error rate against labelled utterances (a line per decoding)."""
    decodings = list(dict.fromkeys(row["decoding"] for row in curve["rows"]))
    lines: dict[str, tuple[list[float], list[float]]] = {}
    for side, label in (("pretrained", f"pre-trained ({curve['pretraining']})"), ("scratch", "from scratch")):
        for decoding in decodings:
            points = [(r["labelled_utterances"], r[side]["error"]) for r in curve["rows"]
                      if r["decoding"] == decoding and side in r]  # fmt: skip
            if points:
                name = f"{label}, {decoding}" if len(decodings) > 1 else label
                lines[name] = ([x for x, _ in points], [y for _, y in points])
    plot_lines(path, lines, "labelled utterances", f"{curve['metric']} (%)", "Labelled-data curve", log_x=True)


def curve_markdown(curve: dict[str, Any]) -> list[str]:
    """The labelled-data curve's section: what it compares, its table and its figure."""
    metric, rows = curve["metric"], curve["rows"]
    pairs = [r for r in rows if "pretrained" in r and "scratch" in r]
    extra = single({r["scratch"]["max_steps"] - r["pretrained"]["max_steps"] for r in pairs})
    if extra == 0:
        budget = "the same number of updates"
    elif extra is not None and extra == curve["pretraining_steps"]:
        budget = f"the same fine-tuning budget, the scratch system also the pre-training's {extra} updates"
    else:
        budget = "the budgets of the steps columns"
    with_lm = any(r[side]["lm"] for r in rows for side in ("pretrained", "scratch") if side in r)
    search = "with a language model fused in" if with_lm else "without a language model: the acoustic model alone"
    lines = [
        "## Labelled-data curve",
        "",
        f"{metric} of the same model fine-tuned on N labelled utterances from the pre-trained `{curve['pretraining']}` "
        f"and from scratch, each pair with {budget}; decoded {search}. Steps: updates done of the budget; relative "
        "gain: how much lower the pre-trained start's error rate is, in % of scratch's.",
        "",
    ]
    columns = ("decoding", f"pre-trained {metric}", f"scratch {metric}", "relative gain %", "pre-trained steps",
               "scratch steps")  # fmt: skip
    table = []
    for row in rows:
        cells = {"decoding": row["decoding"], "relative gain %": row.get("relative_gain", "")}
        for side, title in (("pretrained", "pre-trained"), ("scratch", "scratch")):
            if side in row:
                point = row[side]
                cells[f"{title} {metric}"] = point["error"]
                cells[f"{title} steps"] = f"{point['steps']} of {point['max_steps']}" + (
                    " (stopped early)" if point["stopped_early"] else ""
                )
        table.append((str(row["labelled_utterances"]), cells))
    return [*lines, *_table(table, columns, "labelled utterances"), "", f"![{metric} curve]({curve['plot']})", ""]


def gather(exps: list[Path], curve: list[Path] | None = None) -> dict[str, Any]:
    """Every experiment's training summary and its scored decode directories, and the labelled-data curve of the
    ``curve`` experiments."""
    data = {"environment": environment(), "systems": [read_system(exp) for exp in exps]}
    if curve:
        data["curve"] = labelled_data_curve(curve)
    return data


def results_markdown(data: dict[str, Any]) -> str:
    lines = ["# RESULTS", "", "## Environment", ""]
    lines += [f"- {key}: `{value}`" for key, value in data["environment"].items()] + [""]
    score_names = list(dict.fromkeys(k for s in data["systems"] for r in s["results"] for k in r["scores"]))
    rows = []
    for system in data["systems"]:
        for result in system["results"]:
            cells = {"pre-training": system["pretraining"], **result["scores"]}
            rows.append((f"{system['name']} ({result['test_set']})", cells))
    if rows:
        lines += ["## Summary", "", *_table(rows, ("pre-training", *score_names), "system (test set)"), ""]
    if "curve" in data:
        lines += curve_markdown(data["curve"])
    for system in data["systems"]:
        init = system.get("init") or "scratch"
        lines += [f"## {system['name']}", ""]
        lines += [
            f"- task: {system.get('task', 'pretrain')}; init: `{init}`; config: `{system['config']}`",
            f"- parameters: {system['parameters'] / 1e6:.2f} M; steps: {system['steps']}"
            + (" (stopped early)" if system.get("stopped_early") else ""),
            f"- training: {system['train_seconds'] / 60:.1f} min on {system['world_size']} x {system['device']}, "
            f"{system.get('audio_s_per_s', 0)} audio s/s, {system.get('text_tokens_per_s', 0)} text tokens/s",
            "",
        ]
        for result in system["results"]:
            lines += [f"### {result['test_set']} ({result['decode']}, real-time factor {result['rtf']})", ""]
            lines += [*_table([(result["test_set"], result["scores"])], tuple(result["scores"])), ""]
            for name, row in result["tables"].items():
                lines += [f"{name}:", "", *_table([(result["test_set"], row)], COUNT_COLUMNS), ""]
    return "\n".join(lines)


def write_results(exps: list[Path], out: Path, curve: list[Path] | None = None) -> dict[str, Any]:
    """``out`` (RESULTS.md) and ``out`` with suffix ``.json``; with ``curve`` experiments, the curve's figure too,
    beside them (suffix ``.curve.png``)."""
    data = gather(exps, curve)
    if "curve" in data:
        plot = out.with_suffix(CURVE_PLOT)
        plot_curve(plot, data["curve"])
        data["curve"]["plot"] = plot.name
    write_text(out, results_markdown(data))
    write_text(out.with_suffix(".json"), json.dumps(data, indent=2) + "\n")
    return data
