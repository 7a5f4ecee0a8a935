"""What training reports: a rich progress bar (or log lines when not on a terminal), ``metrics.jsonl`` (one JSON
object per logged step, appended; a torn last line, from a run killed mid-write, is dropped), TensorBoard events
and a PNG of the curves, all in the experiment directory."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from alptk.errors import DataError
from alptk.files import atomic_path, write_text
from alptk.progress import console, log

METRICS = "metrics.jsonl"
CURVES = "curves.png"
CURVES_EVERY = 60.0  # seconds between redrawings of curves.png during training


def read_metrics(exp: Path) -> list[dict[str, Any]]:
    """The records of ``metrics.jsonl``. A torn last line (a run stopped while writing it) is dropped, and the log
    says so; a damaged line before the last is a ``DataError`` naming it (appends tear only the end)."""
    path = exp / METRICS
    if not path.is_file():
        return []
    text = path.read_bytes().decode(errors="replace")  # a damaged byte makes a damaged line, reported below
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    records = []
    for number, line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        if isinstance(record, dict) and "step" in record:
            records.append(record)
        elif number == lines[-1][0]:
            log(f"{path}:{number}: dropped the torn last line (the run stopped while writing it)")
        else:
            raise DataError("not a metrics record: fix or delete this line (or rerun with --restart)", path, number)
    return records


def brief(record: dict[str, Any]) -> str:
    """``s2t 1.23  mlm 4.56`` from a record's per-objective losses."""
    return "  ".join(f"{k[:-5]} {v:.3g}" for k, v in record.items() if k.endswith("/loss"))


class TrainingLog:
    """Rank 0's reporter. Resuming at ``step`` drops records after it, so a rerun never duplicates steps."""

    def __init__(self, exp: Path, step: int, max_steps: int):
        from torch.utils.tensorboard import SummaryWriter

        self.exp = exp
        kept = [r for r in read_metrics(exp) if r["step"] <= step]
        write_text(exp / METRICS, "".join(json.dumps(r) + "\n" for r in kept))
        self.file = open(exp / METRICS, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self.writer = SummaryWriter(str(exp / "tensorboard"), purge_step=step + 1)
        self.progress = Progress(
            TextColumn("step"),
            MofNCompleteColumn(),
            BarColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.description}"),
            console=console,
            disable=not sys.stderr.isatty(),
        )
        self.task = self.progress.add_task("", total=max_steps, completed=step)
        self.progress.start()
        self.plotted = time.monotonic()

    def advance(self) -> None:
        self.progress.advance(self.task)

    def record(self, record: dict[str, Any]) -> None:
        """One training or validation record: to the file, TensorBoard, and the progress bar or a log line."""
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()
        split = record.get("split", "train")
        for name, value in record.items():
            if isinstance(value, float):
                self.writer.add_scalar(f"{split}/{name}", value, record["step"])
        if split == "train":
            speed = f"{record['audio_s_per_s']:.0f} audio s/s" if record.get("audio_s_per_s") else ""
            line = f"{brief(record)}  lr {record['lr']:.2e}  {speed}"
            self.progress.update(self.task, description=line)
            if self.progress.disable:
                log(f"step {record['step']}: {line}")
        else:
            log(f"step {record['step']}: valid loss {record['loss']:.4g}  {brief(record)}")

    def refresh_curves(self) -> None:
        """Redraw ``curves.png`` if the last drawing is over CURVES_EVERY seconds old (a drawing takes about a
        second on a CPU, as long as a few updates of a small model); ``close`` always draws."""
        if time.monotonic() - self.plotted >= CURVES_EVERY:
            plot_curves(self.exp)
            self.plotted = time.monotonic()

    def close(self) -> None:
        self.progress.stop()
        self.file.close()
        self.writer.close()
        plot_curves(self.exp)


def plot_curves(exp: Path) -> None:
    """``curves.png``: each objective's training (and validation) loss, and the learning rate, against steps."""
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, nothing global to close

    records = read_metrics(exp)
    train = [r for r in records if r.get("split", "train") == "train"]
    valid = [r for r in records if r.get("split") == "valid"]
    names = sorted({k for r in train for k in r if k.endswith("/loss")})
    if not names:
        return
    width = 3.2 * (len(names) + 1)
    figure = Figure(figsize=(width, 3))
    axes = figure.subplots(1, len(names) + 1, squeeze=False)
    for ax, name in zip(axes[0], names, strict=False):
        for split, rows in (("train", train), ("valid", valid)):
            points = [(r["step"], r[name]) for r in rows if name in r]
            if points:
                ax.plot(*zip(*points, strict=True), label=split, marker="o" if split == "valid" else None, ms=3)
        ax.set_title(name[:-5])
        ax.set_xlabel("step")
        ax.set_yscale("log")
        ax.legend(fontsize=7)
    lr = axes[0][-1]
    lr.plot([r["step"] for r in train], [r["lr"] for r in train])
    lr.set_title("learning rate")
    lr.set_xlabel("step")
    # fixed margins in inches: tight_layout would take a second or two at every validation
    figure.subplots_adjust(left=0.6 / width, right=1 - 0.1 / width, bottom=0.16, top=0.9, wspace=0.35)
    with atomic_path(exp / CURVES) as tmp:
        figure.savefig(tmp, dpi=90, format="png")
