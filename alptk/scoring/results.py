"""Scores of decode directories (``result.json`` + ``result.md`` in each; the tasks say which scores) and their
gathering, with each system's training figures, into an ESPnet-style ``RESULTS.md`` (and ``RESULTS.json``)."""

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
from alptk.data.sources import read_matrix
from alptk.data.table import Entry, read_table
from alptk.errors import DataError
from alptk.files import write_text
from alptk.scoring.metrics import (
    ErrorReport,
    error_rates,
    mel_cepstral_distortion,
    retrieval_recall,
    write_alignments,
)
from alptk.version import __version__

RESULT = "result.json"
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


def gather(exps: list[Path]) -> dict[str, Any]:
    """Every experiment's training summary and its scored decode directories."""
    systems = []
    for exp in exps:
        summary_file = exp / "summary.yaml"
        if not summary_file.is_file():
            raise DataError("no summary.yaml: not a finished experiment", exp)
        summary = load_yaml(summary_file)
        results = [load_json(p) for p in sorted(exp.glob(f"decode*/{RESULT}"))]
        systems.append({"name": exp.name, "config": str(exp / "train.yaml"), **summary, "results": results})
    return {"environment": environment(), "systems": systems}


def results_markdown(data: dict[str, Any]) -> str:
    lines = ["# RESULTS", "", "## Environment", ""]
    lines += [f"- {key}: `{value}`" for key, value in data["environment"].items()] + [""]
    score_names = list(dict.fromkeys(k for s in data["systems"] for r in s["results"] for k in r["scores"]))
    rows = []
    for system in data["systems"]:
        for result in system["results"]:
            rows.append((f"{system['name']} ({result['test_set']})", result["scores"]))
    if rows:
        lines += ["## Summary", "", *_table(rows, tuple(score_names), "system (test set)"), ""]
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


def write_results(exps: list[Path], out: Path) -> dict[str, Any]:
    """``out`` (RESULTS.md) and ``out`` with suffix ``.json``."""
    data = gather(exps)
    write_text(out, results_markdown(data))
    write_text(out.with_suffix(".json"), json.dumps(data, indent=2) + "\n")
    return data
