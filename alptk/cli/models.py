"""``alptk models``: the zoo's registered parts and presets, and the parts of a model with their sizes."""

from __future__ import annotations

import typer
from rich.table import Table

from alptk.progress import console

app = typer.Typer(help="Model parts and presets.", no_args_is_help=True)


@app.command("list")
def list_models() -> None:
    """Registered parts by kind, and the whole-model presets.

    Example: alptk models list
    """
    from alptk.models.model import preset_names
    from alptk.models.registry import PARTS

    table = Table("kind", "names")
    for kind, registry in PARTS.items():
        table.add_row(kind, ", ".join(registry.names()))
    table.add_row("preset", ", ".join(preset_names()))
    console.print(table)


@app.command()
def show(
    model: str = typer.Argument(..., help="A preset name (tiny, base, large) or a model YAML file."),
    vocab_size: int = typer.Option(500, help="Vocabulary size (the tokenizer's)."),
) -> None:
    """Every part of a model with its configuration and parameter count.

    Example: alptk models show base --vocab-size 1000
    """
    from alptk.models.model import ALPModel, load_model_config, part_parameters

    config = load_model_config(model, vocab_size=vocab_size)
    counts = part_parameters(ALPModel(config))
    table = Table("part", "configuration", "parameters", title=f"{model}: d_model {config.d_model}")
    for name, count in counts.items():
        if count:
            spec = getattr(config, name, None)
            table.add_row(
                name, ", ".join(f"{k}={v}" for k, v in spec.items()) if isinstance(spec, dict) else "", f"{count:,}"
            )
    table.add_row("total", "", f"{sum(counts.values()):,}", style="bold")
    console.print(table)
