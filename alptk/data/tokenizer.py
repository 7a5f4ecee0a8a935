"""Subword tokenizers (sentencepiece bpe, unigram, char, word): training from data dirs and text, encoding."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import sentencepiece as spm
import yaml

from alptk.data.table import read_table
from alptk.errors import AlptkError, DataError
from alptk.files import atomic_open, write_text

ModelType = Literal["bpe", "unigram", "char", "word"]
BLANK, UNK, BOS, EOS = "<blank>", "<unk>", "<s>", "</s>"  # ids 0..3; <blank> doubles as padding and CTC blank
BLANK_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3  # every alptk tokenizer's: models and search rely on them
MODEL_FILE, TOKENS_FILE, INFO_FILE = "tokenizer.model", "tokens.txt", "tokenizer.yaml"


@dataclass
class TokenizerInfo:
    """What a tokenizer was trained on, saved as ``tokenizer.yaml`` beside the model."""

    model_type: str
    vocab_size: int
    sources: list[str]
    fields: list[str]
    symbols: list[str] = field(default_factory=list)
    character_coverage: float = 1.0
    sentences: int = 0


def read_sentences(sources: list[str | Path], fields: list[str]) -> Iterator[str]:
    """Sentences from data directories (their ``fields`` tables, e.g. ``text`` and ``text.fr``) and plain text files."""
    for source in map(Path, sources):
        if source.is_dir():
            for name in fields:
                if not (source / name).is_file():
                    raise DataError(f"no {name} (asked for by --field)", source)
                for entry in read_table(source / name):
                    if entry.value:
                        yield entry.value
        elif source.is_file():
            with open(source, encoding="utf-8") as f:
                try:
                    yield from (line.strip() for line in f if line.strip())
                except UnicodeDecodeError as err:
                    raise DataError(f"not valid UTF-8 ({err.reason})", source) from None
        else:
            raise DataError("no such data directory or text file", source)


def train_tokenizer(
    sources: list[str | Path],
    out_dir: str | Path,
    model_type: ModelType = "bpe",
    vocab_size: int = 500,
    fields: list[str] | None = None,
    symbols: list[str] | None = None,
    character_coverage: float = 1.0,
) -> Tokenizer:
    """Train on every sentence of ``sources``; write ``tokenizer.model``, ``tokens.txt`` and ``tokenizer.yaml``."""
    out_dir = Path(out_dir)
    fields, symbols = fields or ["text"], symbols or []
    sentences = list(read_sentences(sources, fields))
    if not sentences:
        raise DataError("no sentences to train a tokenizer on", ", ".join(map(str, sources)))
    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences),
            model_writer=model,
            model_type=model_type,
            vocab_size=vocab_size,
            hard_vocab_limit=model_type not in ("char", "word"),
            character_coverage=character_coverage,
            pad_id=BLANK_ID,
            pad_piece=BLANK,
            unk_id=UNK_ID,
            unk_piece=UNK,
            bos_id=BOS_ID,
            bos_piece=BOS,
            eos_id=EOS_ID,
            eos_piece=EOS,
            user_defined_symbols=symbols,
            input_sentence_size=2_000_000,
            shuffle_input_sentence=True,
            num_threads=1,
            minloglevel=2,
        )
    except RuntimeError as err:
        raise AlptkError(f"sentencepiece could not train a {model_type} model: {err}") from None
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_open(out_dir / MODEL_FILE, "wb") as f:
        f.write(model.getvalue())
    tokenizer = Tokenizer(out_dir)
    write_text(out_dir / TOKENS_FILE, "".join(f"{t}\n" for t in tokenizer.tokens))
    info = TokenizerInfo(
        model_type, len(tokenizer), [str(s) for s in sources], fields, symbols, character_coverage, len(sentences)
    )
    write_text(out_dir / INFO_FILE, yaml.safe_dump(asdict(info), sort_keys=False, allow_unicode=True))
    return tokenizer


class Tokenizer:
    """A trained tokenizer directory (or model file): text <-> token ids."""

    def __init__(self, path: str | Path):
        path = Path(path)
        model = path / MODEL_FILE if path.is_dir() else path
        if not model.is_file():
            raise AlptkError(f"{model}: tokenizer model not found (train one with `alptk tokenizer train`)")
        self.processor = spm.SentencePieceProcessor(model_file=str(model))
        self.directory = model.parent
        self.blank_id, self.unk_id, self.bos_id, self.eos_id = BLANK_ID, UNK_ID, BOS_ID, EOS_ID

    def __len__(self) -> int:
        return self.processor.get_piece_size()

    @property
    def tokens(self) -> list[str]:
        """Token strings in id order."""
        return [self.processor.id_to_piece(i) for i in range(len(self))]

    def token_id(self, token: str) -> int:
        """Id of a token such as a user-defined symbol; unknown tokens are an error."""
        index = self.processor.piece_to_id(token)
        if index == self.unk_id and token != UNK:
            raise AlptkError(f"token '{token}' is not in the tokenizer's vocabulary")
        return index

    def encode(self, text: str) -> list[int]:
        return self.processor.encode(text)

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """Many texts at once: far faster than one by one (sentencepiece encodes a list on its own threads)."""
        return self.processor.encode(texts)

    def encode_pieces(self, text: str) -> list[str]:
        return self.processor.encode(text, out_type=str)

    def decode(self, ids: list[int]) -> str:
        return self.processor.decode(ids)
