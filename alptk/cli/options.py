"""Options shared by several commands."""

from pathlib import Path

import typer

from alptk.errors import AlptkError


def _jobs(value: int) -> int:
    if value < 1:
        raise AlptkError(f"--nj must be at least 1, got {value}")
    return value


Jobs = typer.Option(1, "--nj", callback=_jobs, help="Number of parallel jobs (processes).")
AllowPipes = typer.Option(
    False,
    "--allow-pipes",
    help="Read Kaldi pipe values (`command |`, `-`) of wav.scp and feats.scp; they run shell commands.",
)
Into = typer.Option(
    None, help="Treat every path as a source and write each to INTO/<its name> (several sets in one process)."
)


def source_targets(paths: list[Path], into: Path | None) -> list[tuple[Path, Path]]:
    """(source, destination) pairs from ``SRC DST`` or, with ``--into DIR``, from ``SRC...``."""
    if into is not None:
        names = [src.name for src in paths]
        for name in names:
            if names.count(name) > 1:
                raise AlptkError(f"--into: two sources named '{name}' would share {into / name}")
        return [(src, into / src.name) for src in paths]
    if len(paths) != 2:
        raise AlptkError(f"expected SRC DST (got {len(paths)} paths); several sources need --into DIR")
    return [(paths[0], paths[1])]
