"""Figures written to disk (headless, atomic)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from alptk.files import atomic_path


def plot_spectrograms(path: Path, panels: list[tuple[str, np.ndarray]], frame_shift_ms: float = 10.0) -> None:
    """A PNG of log-mel spectrograms stacked vertically (title, (frames, mels) array each), time in seconds on x.

    All panels share one colour scale, so that e.g. a prediction and its target compare at a glance.
    """
    if not panels:
        raise ValueError("plot_spectrograms needs at least one panel")
    from matplotlib.figure import Figure  # lazily: matplotlib is slow to import; Figure needs no GUI backend

    arrays = [np.asarray(array, dtype=np.float32) for _, array in panels]
    for (title, _), array in zip(panels, arrays, strict=True):
        if array.ndim != 2:
            raise ValueError(f"panel '{title}': expected a (frames, mels) array, got shape {array.shape}")
    values = np.concatenate([array.ravel() for array in arrays])
    vmin, vmax = (float(values.min()), float(values.max())) if values.size else (None, None)
    figure = Figure(figsize=(10, 2.5 * len(panels)), layout="constrained")
    axes = figure.subplots(len(panels), 1, squeeze=False, sharex=True)[:, 0]
    for ax, (title, _), array in zip(axes, panels, arrays, strict=True):
        extent = (0.0, len(array) * frame_shift_ms / 1000, 0, array.shape[1])
        image = ax.imshow(array.T, origin="lower", aspect="auto", extent=extent, vmin=vmin, vmax=vmax, cmap="magma")
        ax.set(title=title, ylabel="mel bin")
    axes[-1].set_xlabel("time (s)")
    figure.colorbar(image, ax=list(axes), label="log energy")
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)


def plot_lines(
    path: Path,
    lines: dict[str, tuple[list[float], list[float]]],
    xlabel: str,
    ylabel: str,
    title: str = "",
    log_x: bool = False,
) -> None:
    """A PNG of labelled lines through marked points (label -> (xs, ys)), e.g. an error rate against the amount of
    data; with ``log_x``, a logarithmic x axis ticked at the points' own values."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4), layout="constrained")
    ax = figure.subplots()
    for label, (xs, ys) in lines.items():
        ax.plot(xs, ys, marker="o", label=label)
    if log_x:
        ticks = sorted({x for xs, _ in lines.values() for x in xs})
        ax.set_xscale("log")
        ax.set_xticks(ticks, [f"{x:g}" for x in ticks])
        ax.minorticks_off()
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    if lines:
        ax.legend()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
