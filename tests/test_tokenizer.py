"""Tokenizer training from data dirs and text files, special symbols, round trips and errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from alptk.data.kaldi_dir import KaldiDir
from alptk.data.tokenizer import Tokenizer, train_tokenizer
from alptk.errors import AlptkError, DataError

SENTENCES = [
    "the quick brown fox jumps over the lazy dog",
    "a small red car is parked near the old house",
    "twenty three green apples are on the table",
    "we see the black cat every morning",
    "where is the blue bicycle today",
]
FRENCH = [
    "le renard brun rapide saute par-dessus le chien paresseux",
    "une petite voiture rouge est garée près de la vieille maison",
    "vingt-trois pommes vertes sont sur la table",
    "nous voyons le chat noir chaque matin",
    "où est le vélo bleu aujourd'hui",
]


@pytest.fixture
def corpus(tmp_path: Path) -> tuple[Path, Path]:
    ids = [f"u{i}" for i in range(len(SENTENCES))]
    KaldiDir({"text": dict(zip(ids, SENTENCES, strict=True)), "text.fr": dict(zip(ids, FRENCH, strict=True))}).save(
        tmp_path / "data"
    )
    extra = tmp_path / "extra.txt"
    extra.write_text("\n".join(s.upper().lower() + " again" for s in SENTENCES) + "\n", encoding="utf-8")
    return tmp_path / "data", extra


@pytest.mark.parametrize(("model_type", "size"), [("bpe", 60), ("unigram", 60), ("char", 100), ("word", 200)])
def test_train_round_trip(corpus: tuple[Path, Path], tmp_path: Path, model_type: str, size: int):
    data, extra = corpus
    tokenizer = train_tokenizer([data, extra], tmp_path / "tok", model_type, size, ["text", "text.fr"], ["<mask>"])
    for sentence in SENTENCES + FRENCH:
        assert tokenizer.decode(tokenizer.encode(sentence)) == sentence
    assert tokenizer.tokens[:4] == ["<blank>", "<unk>", "<s>", "</s>"]
    assert (tmp_path / "tok" / "tokens.txt").read_text(encoding="utf-8").splitlines() == tokenizer.tokens
    assert tokenizer.token_id("<mask>") >= 4
    if model_type != "word":  # word models see "▁<mask>" as one word
        assert tokenizer.token_id("<mask>") in tokenizer.encode("a <mask> b")
    info = yaml.safe_load((tmp_path / "tok" / "tokenizer.yaml").read_text(encoding="utf-8"))
    assert info["model_type"] == model_type and info["sentences"] == 15 and info["fields"] == ["text", "text.fr"]
    assert len(Tokenizer(tmp_path / "tok")) == len(tokenizer)


def test_joint_vocabulary_covers_both_languages(corpus: tuple[Path, Path], tmp_path: Path):
    data, _ = corpus
    english_only = train_tokenizer([data], tmp_path / "en", "char", 100)
    joint = train_tokenizer([data], tmp_path / "joint", "char", 100, ["text", "text.fr"])
    assert "ù" not in english_only.tokens and "ù" in joint.tokens
    assert english_only.unk_id in english_only.encode("où") and joint.unk_id not in joint.encode("où")


def test_errors(corpus: tuple[Path, Path], tmp_path: Path):
    data, _ = corpus
    with pytest.raises(DataError, match=r"data: no text\.de \(asked for by --field\)"):
        train_tokenizer([data], tmp_path / "t", fields=["text.de"])
    with pytest.raises(DataError, match="no such data directory or text file"):
        train_tokenizer([tmp_path / "nope"], tmp_path / "t")
    with pytest.raises(AlptkError, match=r"could not train a bpe model: .*[Vv]ocabulary size"):
        train_tokenizer([data], tmp_path / "t", vocab_size=5000)
    with pytest.raises(AlptkError, match="tokenizer model not found"):
        Tokenizer(tmp_path / "missing")
    tokenizer = train_tokenizer([data], tmp_path / "ok", "char", 100)
    with pytest.raises(AlptkError, match="'<mask>' is not in the tokenizer's vocabulary"):
        tokenizer.token_id("<mask>")
