"""The ``alptk`` command: one Typer app, a group per stage. Commands parse and call library functions."""

from __future__ import annotations

import os
import sys

import typer
from rich.markup import escape

from alptk.cli.data import app as data_app
from alptk.cli.evaluate import decode, results, score
from alptk.cli.features import app as features_app
from alptk.cli.infer import embed, retrieve, synthesize, transcribe, translate
from alptk.cli.models import app as models_app
from alptk.cli.tokenizer import app as tokenizer_app
from alptk.cli.train import finetune, pretrain
from alptk.cli.zoo import app as zoo_app
from alptk.errors import USER_ERROR, AlptkError
from alptk.files import storage_error
from alptk.progress import console
from alptk.train.preemption import Interrupted
from alptk.version import __version__

app = typer.Typer(
    name="alptk",
    help="Audio-language pre-training toolkit: data, features, tokenizers, training and scoring for recipes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(data_app, name="data")
app.add_typer(features_app, name="features")
app.add_typer(tokenizer_app, name="tokenizer")
app.add_typer(models_app, name="models")
app.add_typer(zoo_app, name="zoo")
app.command()(pretrain)
app.command()(finetune)
for command in (decode, score, results):
    app.command()(command)
for command in (transcribe, translate, synthesize, embed, retrieve):
    app.command()(command)


def _version(value: bool) -> None:
    if value:
        print(f"alptk {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    debug: bool = typer.Option(False, "--debug", help="Show the full traceback of errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """alptk: audio-language pre-training toolkit."""
    if debug:
        os.environ["ALPTK_DEBUG"] = "1"


def main() -> None:
    """Entry point: a user error, or a file the system refused to read or write (an ``OSError``: disk full,
    permissions, a missing file), is one line on stderr and exit status 2 (``--debug`` shows the traceback)."""
    try:
        app()
    except (AlptkError, OSError) as err:
        if os.environ.get("ALPTK_DEBUG"):
            raise
        message = storage_error(err) if isinstance(err, OSError) else err
        console.print(f"[bold red]error:[/] {escape(str(message))}", soft_wrap=True, highlight=False)
        sys.exit(USER_ERROR)
    except Interrupted as err:  # training saved its checkpoint and said how to resume: 128 + the signal's number
        sys.exit(err.status)
    except KeyboardInterrupt:
        console.print("interrupted")
        sys.exit(130)
