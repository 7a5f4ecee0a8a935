"""``alptk zoo``: pack trained experiments into shareable packages, and get, list, show and push packages."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Model zoo: pack, get, list, show and push model packages.", no_args_is_help=True)


@app.command()
def pack(
    exp: Path = typer.Argument(..., help="A trained experiment directory."),
    out: Path = typer.Option(..., help="Package directory to write (OUT.tar.gz is written beside it)."),
    decode_config: Path = typer.Option(None, help="Default decoding options of the package (a decode YAML)."),
    overrides: list[str] = typer.Argument(None, help="Decoding option overrides, e.g. beam=20."),
    lm: Path = typer.Option(None, help="asr, st: a language model experiment to pack and decode with."),
    results: Path = typer.Option(None, help="RESULTS.json with this system's scores, for the model card."),
    license: str = typer.Option("unknown", help="License of the weights (e.g. CC-BY-4.0), stated in the card."),
) -> None:
    """Pack an experiment into a self-contained package: weights (safetensors), model, feature and task specs,
    tokenizer, default decoding options with their language model, a model card and a checksum manifest.

    Example: alptk zoo pack exp/asr --out zoo/mini_synth_alp1_asr --decode-config conf/decode.yaml --lm exp/lm
    """
    from alptk.config import load_config
    from alptk.inference.decode import DecodeOptions
    from alptk.progress import log
    from alptk.zoo.package import ARCHIVE_SUFFIX
    from alptk.zoo.package import pack as pack_experiment

    given = [f"lm={lm}"] if lm is not None else []
    options = load_config(DecodeOptions, decode_config, [*(overrides or []), *given])
    package = pack_experiment(exp, out, options, results, license)
    log(f"{package} (and {package.name}{ARCHIVE_SUFFIX}): {sum(1 for p in package.rglob('*') if p.is_file())} files")


@app.command("list")
def list_packages() -> None:
    """Packages in the cache ($ALPTK_CACHE, default ~/.cache/alptk) and those the recipes of this checkout packed.

    Example: alptk zoo list
    """
    from rich.table import Table

    from alptk.progress import console
    from alptk.zoo.package import local_packages

    table = Table("name", "task", "where", "made")
    for package, manifest in local_packages():
        table.add_row(package.name, manifest.get("task", "?"), str(package), manifest.get("created", ""))
    console.print(table if table.row_count else "no packages yet: alptk zoo get SOURCE, or ./run.sh --stage 10")


@app.command()
def show(source: str = typer.Argument(..., help="A package: directory, archive, URL, hf:owner/name, or name.")) -> None:
    """Print a package's model card.

    Example: alptk zoo show mini_synth_alp1_asr
    """
    from rich.markdown import Markdown

    from alptk.progress import console
    from alptk.zoo.package import CARD
    from alptk.zoo.store import fetch

    console.print(Markdown((fetch(source) / CARD).read_text(encoding="utf-8")))


@app.command()
def get(
    source: str = typer.Argument(
        ..., help="Package directory, .tar.gz, https:// URL, or hf:owner/name (hf:owner/name@revision pins one)."
    ),
    sha256: str = typer.Option(None, help="Expected SHA-256 of the archive (or add #sha256=... to the URL)."),
) -> None:
    """Get a package into the cache (downloads resume and are checksum-verified) and print where it is.

    Example: alptk zoo get https://example.org/mini_synth_alp1_asr.tar.gz
    """
    from alptk.zoo.store import fetch

    print(fetch(source, sha256))


@app.command()
def push(
    source: str = typer.Argument(..., help="A package directory or name."),
    target: str = typer.Argument(..., help="hf:owner/name (needs huggingface_hub: pip install 'alptk\\[hub]')."),
) -> None:
    """Upload a package to the Hugging Face Hub.

    Example: alptk zoo push zoo/mini_synth_alp1_asr hf:me/mini_synth_alp1_asr
    """
    from alptk.progress import log
    from alptk.zoo.store import fetch
    from alptk.zoo.store import push as push_package

    log(f"pushed: {push_package(fetch(source), target)}")
