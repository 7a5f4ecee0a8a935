"""The synthesized mini_synth corpus: valid, deterministic, and honest (no test leakage, unseen speakers)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from alptk.corpora.mini_synth.prepare import prepare_mini_synth
from alptk.data.kaldi_dir import KaldiDir, validate_dir
from alptk.data.table import read_table

SETS = ("train", "train_low", "dev", "test", "speech_only", "text_only")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mini_synth")
    counts = prepare_mini_synth(root / "data", root / "audio", size="tiny", seed=3, nj=2)
    assert counts == {"test": 8, "dev": 8, "train": 40, "speech_only": 40, "text_only": 300, "train_low": 10}
    return root


def sentences(root: Path, name: str) -> set[str]:
    data = root / "data"
    if name == "speech_only":
        return {e.value for e in read_table(data / "local" / "speech_only.text")}
    return {e.value for e in read_table(data / name / "text")}


def test_every_set_is_valid(corpus: Path):
    for name in SETS:
        assert validate_dir(corpus / "data" / name, fs=22050 if name != "text_only" else None) == [], name
    assert set(KaldiDir.load(corpus / "data" / "speech_only").tables) == {"wav.scp", "utt2spk", "utt2dur"}
    assert set(KaldiDir.load(corpus / "data" / "text_only").tables) == {"text", "text.fr"}


def test_no_dev_or_test_sentence_in_training_sets(corpus: Path):
    held_out = sentences(corpus, "dev") | sentences(corpus, "test")
    assert len(held_out) == 16
    for name in ("train", "train_low", "speech_only", "text_only"):
        assert not held_out & sentences(corpus, name), name
    assert not sentences(corpus, "dev") & sentences(corpus, "test")
    assert not sentences(corpus, "text_only") & (sentences(corpus, "train") | sentences(corpus, "speech_only"))


def test_dev_and_test_speakers_and_voices_are_unseen(corpus: Path):
    rows = [line.split("\t") for line in (corpus / "data/local/speakers.tsv").read_text().splitlines()[1:]]
    voices = {name: {(r[2], r[3]) for r in rows if r[1] == name} for name in ("train", "dev", "test")}
    assert len(voices["train"]) == 8 and len(voices["test"]) == 2
    assert not voices["train"] & voices["test"] and not voices["train"] & voices["dev"]
    speakers = {name: set(KaldiDir.load(corpus / "data" / name).tables["utt2spk"].values()) for name in SETS[:5]}
    assert not (speakers["train"] | speakers["speech_only"]) & (speakers["test"] | speakers["dev"])


def test_train_low_is_a_subset_of_train_with_translations(corpus: Path):
    train = KaldiDir.load(corpus / "data" / "train")
    low = KaldiDir.load(corpus / "data" / "train_low")
    assert set(low.utterances) < set(train.utterances)
    assert all(low.tables["text.fr"][u] == train.tables["text.fr"][u] for u in low.utterances)


def test_same_seed_same_corpus(corpus: Path, tmp_path: Path):
    prepare_mini_synth(tmp_path / "data", tmp_path / "audio", size="tiny", seed=3, nj=1)
    for name in ("test", "text_only"):
        assert (tmp_path / "data" / name / "text").read_text() == (corpus / "data" / name / "text").read_text()
    first = KaldiDir.load(corpus / "data" / "test").tables["wav.scp"]
    again = KaldiDir.load(tmp_path / "data" / "test").tables["wav.scp"]
    digest = lambda p: hashlib.sha256(Path(p).read_bytes()).hexdigest()  # noqa: E731
    assert [digest(p) for p in first.values()] == [digest(p) for p in again.values()]
