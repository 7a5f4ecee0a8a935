"""Options shared by several commands."""

import typer

Jobs = typer.Option(1, "--nj", help="Number of parallel jobs (processes).")
AllowPipes = typer.Option(
    False, "--allow-pipes", help="Run Kaldi pipe entries (`command |`) in wav.scp; they execute shell commands."
)
