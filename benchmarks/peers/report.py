"""The peer benchmark's figures: what each phase of run.sh measured (from ``/usr/bin/time -v``, ESPnet2's
train.log, alptk's metrics.jsonl and summary.yaml, and each side's decode.yaml and hypotheses), gathered into
WORK/figures.json and one markdown table of ratios. run.sh calls it; the subcommands are its steps:

    report.py espnet-train LOG --train-data DIR --out JSON    # ESPnet2 training figures
    report.py alptk-train EXP --time-log LOG --out JSON       # alptk training figures
    report.py decode DIR --time-log LOG --data DIR --out JSON # a decoding's RTF, WER and CER (either side)
    report.py part WORK NAME --steps N --seconds S            # a finished phase's figures into WORK/parts
    report.py prune WORK --steps N [--keep-espnet]            # drop parts a new run must not reuse
    report.py wall-updates WORK                               # alptk's updates in ESPnet2's training time
    report.py table WORK                                      # WORK/figures.json, WORK/table.md; prints it
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from alptk.data.table import read_table
from alptk.files import write_text
from alptk.scoring.metrics import error_rates

SIDES = ("espnet", "alptk")
# ESPnet2 logs the mean of each reported value over every log_interval updates, e.g. "[host] 2026-12-04
# 20:53:17,092 (trainer:811) INFO: 1epoch:train:11-20batch: iter_time=0.016, ..., train_time=5.704" (a ", " goes
# missing now and then: "loss_scale=1.000optim_step_time=0.048")
ESPNET_WINDOW = re.compile(r"\d+epoch:train:(\d+)-(\d+)batch: .*(?<![a-z_])train_time=([-+.0-9e]+)")
ESPNET_BATCHES = re.compile(r"\[train\] mini-batch sizes summary: N-batch=(\d+)")
TIME_WALL = "Elapsed (wall clock) time (h:mm:ss or m:ss): "
TIME_RSS = "Maximum resident set size (kbytes): "


class ReportError(Exception):
    """A missing or unreadable result, reported in one line naming the file."""


# -- parsing -------------------------------------------------------------------------------------------------------


def parse_time_v(text: str, path: str | Path = "the log") -> dict[str, float]:
    """Wall seconds and peak RSS (GB, 1e9 bytes) from the report ``/usr/bin/time -v`` appends to a log."""
    wall = rss = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(TIME_WALL):
            wall = sum(float(part) * 60**i for i, part in enumerate(reversed(line[len(TIME_WALL) :].split(":"))))
        elif line.startswith(TIME_RSS):
            rss = int(line[len(TIME_RSS) :]) * 1024 / 1e9
    if wall is None or rss is None:
        raise ReportError(f"{path}: no /usr/bin/time -v report (did the command finish?)")
    return {"wall_seconds": round(wall, 2), "peak_rss_gb": round(rss, 3)}


def espnet_windows(text: str) -> list[tuple[int, float]]:
    """(updates, mean train_time in seconds) of each training log window of an ESPnet2 train.log, in order.

    ``train_time`` is the time of one whole update (waiting for the batch, forward, backward, optimizer step):
    ESPnet2's trainer measures it from the end of one update to the end of the next."""
    windows = []
    for line in text.splitlines():
        match = ESPNET_WINDOW.search(line)
        if match:
            first, last, seconds = match.groups()
            windows.append((int(last) - int(first) + 1, float(seconds)))
    return windows


def espnet_training(text: str, train_audio_seconds: float, path: str | Path = "train.log") -> dict[str, float]:
    """ESPnet2's training figures from its train.log (with ``/usr/bin/time -v`` appended).

    Seconds per update: the mean ``train_time`` over all updates. Throughput: the audio of a mean batch (the
    training set's audio over its number of batches, ``N-batch`` in the log: updates draw batches from that list)
    over the mean ``train_time`` of the updates after the first log window (its first batch waits for the data
    loader to start), as on alptk's side."""
    batches = ESPNET_BATCHES.search(text)
    windows = espnet_windows(text)
    if batches is None or len(windows) < 2:
        raise ReportError(f"{path}: not an ESPnet2 train.log of 2 or more log windows (did training finish?)")
    updates = sum(n for n, _ in windows)
    steady = windows[1:]
    steady_seconds = sum(n * t for n, t in steady) / sum(n for n, _ in steady)
    audio_per_update = train_audio_seconds / int(batches.group(1))
    return {
        "updates": updates,
        "seconds_per_update": round(sum(n * t for n, t in windows) / updates, 4),
        "audio_seconds_per_update": round(audio_per_update, 2),
        "audio_s_per_s": round(audio_per_update / steady_seconds, 2),
        **parse_time_v(text, path),
    }


def alptk_training(exp: Path, time_log: Path) -> dict[str, float]:
    """alptk's training figures: throughput and padding as the mean over metrics.jsonl's training log windows
    after the first; seconds per update from summary.yaml (the time of all updates over their number)."""
    rows = [json.loads(line) for line in read_file(exp / "metrics.jsonl").splitlines() if line.strip()]
    windows = [r for r in rows if r.get("split", "train") == "train" and "audio_s_per_s" in r][1:]
    summary = yaml.safe_load(read_file(exp / "summary.yaml"))
    if not windows:
        raise ReportError(f"{exp / 'metrics.jsonl'}: fewer than 2 training log windows")
    return {
        "updates": summary["steps"],
        "seconds_per_update": round(summary["train_seconds"] / summary["steps"], 4),
        "audio_s_per_s": round(sum(r["audio_s_per_s"] for r in windows) / len(windows), 2),
        "padding": round(sum(r["padding"] for r in windows) / len(windows), 4),
        "text_padding": round(sum(r["text_padding"] for r in windows) / len(windows), 4),
        **parse_time_v(read_file(time_log), time_log),
    }


def decoding(decode_dir: Path, time_log: Path, data: Path) -> dict[str, float]:
    """A decoding's figures, either side: real-time factors of the whole process (``/usr/bin/time -v``) and of the
    search alone (``decode_seconds`` of decode.yaml: after the model is loaded), over the audio of ``data``'s
    utt2dur; WER and CER of ``decode_dir/text`` against ``data/text``."""
    audio = audio_seconds(data)
    info = yaml.safe_load(read_file(decode_dir / "decode.yaml"))
    process = parse_time_v(read_file(time_log), time_log)
    return {
        "utterances": len(table(data / "text")),
        "audio_seconds": round(audio, 2),
        "rtf_whole": round(process["wall_seconds"] / audio, 5),
        "rtf_search": round(info["decode_seconds"] / audio, 5),
        **score(table(data / "text"), table(decode_dir / "text"), decode_dir / "text"),
        **process,
    }


def score(refs: dict[str, str], hyps: dict[str, str], hyp_file: str | Path | None = None) -> dict[str, float]:
    """WER and CER in percent (jiwer, through alptk's scorer), both sides normalized alike: lowercased, punctuation
    dropped, whitespace collapsed."""
    return {
        name: round(error_rates(refs, hyps, unit, normalize=True, hyp_file=hyp_file).counts.error_rate, 2)
        for name, unit in (("wer", "word"), ("cer", "char"))
    }


def audio_seconds(data: Path) -> float:
    """The audio of a data dir, from its utt2dur."""
    return sum(map(float, table(data / "utt2dur").values()))


def table(path: Path) -> dict[str, str]:
    """A Kaldi table as {key: value}; an empty hypothesis line counts as an empty hypothesis."""
    if not path.is_file():
        raise ReportError(f"{path}: missing")
    return {e.key: e.value for e in read_table(path)}


def read_file(path: Path) -> str:
    if not path.is_file():
        raise ReportError(f"{path}: missing")
    return path.read_text(encoding="utf-8")


# -- parts, figures, table -------------------------------------------------------------------------------------------


def load_parts(work: Path) -> dict[str, dict[str, Any]]:
    """The finished phases' figures, by phase name (``espnet_train``, ``alptk_beam10``, ...)."""
    return {p.stem: json.loads(p.read_text()) for p in sorted((work / "parts").glob("*.json"))}


def prune(work: Path, steps: int, keep_espnet: bool) -> list[str]:
    """Delete what a run of ``steps`` updates must not reuse, and return what it keeps. After a finished run (its
    figures.json exists) a new run starts afresh, keeping only ESPnet2's parts when ``keep_espnet``; after an
    interrupted one it keeps the parts it finished with the same ``steps`` (the data phases: any)."""
    finished = (work / "figures.json").exists()
    kept = []
    for name, part in load_parts(work).items():
        espnet = name.startswith("espnet_")
        reusable = part.get("steps", steps) == steps and ((espnet and keep_espnet) or not finished)
        if reusable:
            kept.append(name)
        else:
            (work / "parts" / f"{name}.json").unlink()
    for name in ("figures.json", "table.md"):
        (work / name).unlink(missing_ok=True)
    return kept


def wall_updates(parts: dict[str, dict[str, Any]]) -> int:
    """The updates alptk makes in the time ESPnet2's updates took (the time of all its updates, from the two
    sides' seconds per update)."""
    espnet, alptk = parts["espnet_train"], parts["alptk_train"]
    return round(espnet["updates"] * espnet["seconds_per_update"] / alptk["seconds_per_update"])


def figures(parts: dict[str, dict[str, Any]], steps: int, espnet_reused: bool) -> dict[str, Any]:
    """figures.json: each side's phases (``train``, ``greedy``, ``beam10``, alptk's ``wall``), and every phase's
    wall seconds."""
    out: dict[str, Any] = {"steps": steps, "espnet_reused": espnet_reused, "espnet": {}, "alptk": {}}
    for name, part in parts.items():
        side, _, phase = name.partition("_")
        found = {k: v for k, v in part.items() if k not in ("steps", "phase_seconds")}
        if side in SIDES and found:
            out[side][phase] = found
    out["phase_seconds"] = {name: part["phase_seconds"] for name, part in parts.items()}
    return out


def ratio(alptk: float | None, espnet: float | None, faster: bool = False) -> str:
    """alptk / ESPnet2 as ``1.25x``; ``faster``: a time ratio, with how many times faster alptk is."""
    if alptk is None or espnet is None or espnet == 0:
        return ""
    text = f"{alptk / espnet:.2f}x"
    return f"{text} ({espnet / alptk:.1f}x faster)" if faster and alptk else text


def markdown_table(fig: dict[str, Any]) -> str:
    """The ratios table: figure | ESPnet2 | alptk | alptk / ESPnet2."""
    e, a, n = fig["espnet"], fig["alptk"], fig["steps"]
    et, at = e["train"], a["train"]
    rows = [
        (
            "training throughput (audio s per wall s)",
            f"{et['audio_s_per_s']:.1f}",
            f"{at['audio_s_per_s']:.1f}",
            ratio(at["audio_s_per_s"], et["audio_s_per_s"]),
        ),
        (
            f"seconds per update (mean of {n})",
            f"{et['seconds_per_update']:.2f}",
            f"{at['seconds_per_update']:.2f}",
            ratio(at["seconds_per_update"], et["seconds_per_update"], faster=True),
        ),
        ("padding in batches: speech frames", "", f"{100 * at['padding']:.1f} %", ""),
        ("padding in batches: text tokens", "", f"{100 * at['text_padding']:.1f} %", ""),
        (
            "peak RSS, training (GB)",
            f"{et['peak_rss_gb']:.2f}",
            f"{at['peak_rss_gb']:.2f}",
            ratio(at["peak_rss_gb"], et["peak_rss_gb"]),
        ),
    ]
    for search, name in (("greedy", "greedy"), ("beam10", "beam 10")):
        for kind, what in (("whole", "whole process"), ("search", "search only")):
            key = f"rtf_{kind}"
            rows.append(
                (
                    f"{name} RTF, {what}",
                    f"{e[search][key]:.4f}",
                    f"{a[search][key]:.4f}",
                    ratio(a[search][key], e[search][key], faster=True),
                )
            )
    for search, name in (("greedy", "greedy"), ("beam10", "beam 10")):
        rows.append(error_row(f"WER / CER, {name}, after {n} updates each", e[search], a[search]))
    wall = a.get("wall", {})
    rows.append(
        error_row(
            "WER / CER, beam 10, after the same training time (updates)",
            e["beam10"],
            wall,
            f" ({et['updates']})",
            f" ({wall['updates']})" if "updates" in wall else "",
        )
    )
    espnet = "ESPnet2 (reused: an earlier run's)" if fig["espnet_reused"] else "ESPnet2"
    header = ["figure", espnet, "alptk", "alptk / ESPnet2"]
    lines = ["| " + " | ".join(header) + " |", "|---|---:|---:|---:|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def error_row(
    name: str, espnet: dict[str, Any], alptk: dict[str, Any], espnet_note: str = "", alptk_note: str = ""
) -> tuple[str, str, str, str]:
    def cell(side: dict[str, Any], note: str) -> str:
        return f"{side['wer']:.1f} / {side['cer']:.1f}{note}" if "wer" in side else f"not measured{note}"

    ratios = " / ".join(ratio(alptk.get(k), espnet.get(k)) for k in ("wer", "cer")) if "wer" in alptk else ""
    return name, cell(espnet, espnet_note), cell(alptk, alptk_note), ratios


# -- command line ----------------------------------------------------------------------------------------------------


def write_json(path: Path, value: dict[str, Any]) -> None:
    write_text(path, json.dumps(value, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    c = commands.add_parser("espnet-train")
    c.add_argument("log", type=Path)
    c.add_argument("--train-data", type=Path, required=True, help="the data dir trained on (its utt2dur)")
    c.add_argument("--out", type=Path, required=True)
    c = commands.add_parser("alptk-train")
    c.add_argument("exp", type=Path)
    c.add_argument("--time-log", type=Path, required=True)
    c.add_argument("--out", type=Path, required=True)
    c = commands.add_parser("decode")
    c.add_argument("decode_dir", type=Path)
    c.add_argument("--time-log", type=Path, required=True)
    c.add_argument("--data", type=Path, required=True, help="the data decoded (text, utt2dur)")
    c.add_argument("--updates", type=int, help="the updates of the model decoded")
    c.add_argument("--out", type=Path, required=True)
    c = commands.add_parser("part")
    c.add_argument("work", type=Path)
    c.add_argument("name")
    c.add_argument("--steps", type=int, help="the updates the figures depend on (none: the data phases)")
    c.add_argument("--seconds", type=int, required=True)
    c = commands.add_parser("prune")
    c.add_argument("work", type=Path)
    c.add_argument("--steps", type=int, required=True)
    c.add_argument("--keep-espnet", action="store_true")
    c = commands.add_parser("wall-updates")
    c.add_argument("work", type=Path)
    c = commands.add_parser("table")
    c.add_argument("work", type=Path)
    c.add_argument("--steps", type=int, required=True)
    c.add_argument("--espnet-reused", action="store_true")
    args = parser.parse_args(argv)
    try:
        run(args)
    except ReportError as err:
        print(f"report.py: {err}", file=sys.stderr)
        return 1
    return 0


def run(args: argparse.Namespace) -> None:
    if args.command == "espnet-train":
        write_json(args.out, espnet_training(read_file(args.log), audio_seconds(args.train_data), args.log))
    elif args.command == "alptk-train":
        write_json(args.out, alptk_training(args.exp, args.time_log))
    elif args.command == "decode":
        found = decoding(args.decode_dir, args.time_log, args.data)
        write_json(args.out, found if args.updates is None else {"updates": args.updates, **found})
    elif args.command == "part":
        found = args.work / args.name / "figures.json"
        part = json.loads(found.read_text()) if found.is_file() else {}
        steps = {} if args.steps is None else {"steps": args.steps}
        write_json(args.work / "parts" / f"{args.name}.json", {**steps, "phase_seconds": args.seconds, **part})
    elif args.command == "prune":
        kept = prune(args.work, args.steps, args.keep_espnet)
        print(" ".join(kept))
    elif args.command == "wall-updates":
        print(wall_updates(load_parts(args.work)))
    elif args.command == "table":
        fig = figures(load_parts(args.work), args.steps, args.espnet_reused)
        text = markdown_table(fig)
        write_text(args.work / "table.md", text)
        write_json(args.work / "figures.json", fig)
        print(text, end="")


if __name__ == "__main__":
    sys.exit(main())
