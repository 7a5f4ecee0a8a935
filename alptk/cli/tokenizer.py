"""``alptk tokenizer``: train sentencepiece models, encode and decode text."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import typer

from alptk.data.tokenizer import ModelType, Tokenizer, train_tokenizer
from alptk.errors import DataError
from alptk.progress import log

app = typer.Typer(help="Subword tokenizers (sentencepiece).", no_args_is_help=True)
Input = typer.Argument(None, help="Input file (default: standard input).")
Kaldi = typer.Option(False, "--kaldi", help="Lines start with an utterance id, kept as is (Kaldi text format).")


@app.command()
def train(
    sources: list[Path] = typer.Argument(..., help="Data directories and/or plain text files (one sentence a line)."),
    out: Path = typer.Option(..., help="Output directory."),
    model_type: ModelType = typer.Option("bpe", "--type", help="bpe, unigram, char or word."),
    vocab_size: int = typer.Option(500, help="Vocabulary size, special symbols included (a limit for char/word)."),
    field: list[str] = typer.Option(["text"], help="Tables read from data directories, e.g. --field text.fr."),
    symbol: list[str] = typer.Option([], help="User-defined symbol kept whole, e.g. --symbol '<mask>'."),
    character_coverage: float = typer.Option(1.0, help="Character coverage (0.9995 suits large CJK alphabets)."),
) -> None:
    """Train a tokenizer; writes OUT/tokenizer.model, OUT/tokens.txt (id order) and OUT/tokenizer.yaml.

    Example: alptk tokenizer train data/train data/text_only --field text --field text.fr --out data/token_list/bpe500
    """
    tokenizer = train_tokenizer(sources, out, model_type, vocab_size, field, symbol, character_coverage)
    log(f"{out}: {model_type} tokenizer with {len(tokenizer)} tokens")


@app.command()
def encode(
    model: Path = typer.Option(..., help="Tokenizer directory or model file."),
    input_file: Path = Input,
    ids: bool = typer.Option(False, "--ids", help="Print token ids instead of token strings."),
    kaldi: bool = Kaldi,
) -> None:
    """Text to tokens, one line in, one line out.

    Example: alptk tokenizer encode --model data/token_list/bpe500 --kaldi data/test/text
    """
    tokenizer = Tokenizer(model)
    for key, text in _lines(input_file, kaldi):
        tokens = tokenizer.encode(text) if ids else tokenizer.encode_pieces(text)
        print(" ".join(map(str, [*key, *tokens])))


@app.command()
def decode(
    model: Path = typer.Option(..., help="Tokenizer directory or model file."),
    input_file: Path = Input,
    kaldi: bool = Kaldi,
) -> None:
    """Token ids to text, one line in, one line out.

    Example: alptk tokenizer encode --model bpe --ids in.txt | alptk tokenizer decode --model bpe
    """
    tokenizer = Tokenizer(model)
    for number, (key, text) in enumerate(_lines(input_file, kaldi), 1):
        try:
            token_ids = [int(t) for t in text.split()]
        except ValueError:
            raise DataError("expected token ids (integers)", input_file or "<stdin>", number) from None
        if any(not 0 <= t < len(tokenizer) for t in token_ids):
            raise DataError(f"token id out of range 0..{len(tokenizer) - 1}", input_file or "<stdin>", number)
        print(" ".join([*key, tokenizer.decode(token_ids)]))


def _lines(path: Path | None, kaldi: bool) -> Iterator[tuple[list[str], str]]:
    stream = open(path, encoding="utf-8") if path else sys.stdin  # noqa: SIM115 - closed below
    try:
        for line in stream:
            line = line.rstrip("\n")
            if kaldi:
                key, _, text = line.partition(" ")
                yield [key], text.strip()
            else:
                yield [], line
    finally:
        if path:
            stream.close()
