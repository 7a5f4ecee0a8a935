"""Datasets over feature and text directories, batched through the bucket sampler and a DataLoader."""

from __future__ import annotations

import itertools
from pathlib import Path

import kaldiio
import pytest
import torch
from torch.utils.data import DataLoader

from alptk.data.batching import BucketBatchSampler, StreamBatchSampler
from alptk.data.datasets import SpeechDataset, StreamDataset, TextDataset, collate, collate_streams
from alptk.data.features import extract_fbank_dir
from alptk.data.kaldi_dir import KaldiDir
from alptk.data.tokenizer import Tokenizer, train_tokenizer
from alptk.errors import DataError
from tests.conftest import make_speech_dir


@pytest.fixture
def prepared(tmp_path: Path) -> tuple[Path, Path]:
    data = make_speech_dir(tmp_path, n_utts=8)
    extract_fbank_dir(data, tmp_path / "fbank")
    train_tokenizer([data], tmp_path / "tok", "char", 60, ["text", "text.fr"])
    return tmp_path / "fbank", tmp_path / "tok"


def test_speech_batches_through_a_dataloader(prepared: tuple[Path, Path]):
    fbank, tok = prepared
    tokenizer = Tokenizer(tok)
    dataset = SpeechDataset(fbank, tokenizer, "text.fr")
    sampler = BucketBatchSampler(dataset.lengths, max_size=400, seed=0)
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, num_workers=2)
    feats = dict(kaldiio.load_scp_sequential(str(fbank / "feats.scp")))
    seen = []
    for batch in loader:
        assert batch.feats.shape[0] * batch.feats.shape[1] <= 400
        for row, utt in enumerate(batch.utts):
            n = int(batch.feat_lengths[row])
            assert torch.equal(batch.feats[row, :n], torch.from_numpy(feats[utt].copy()))
            assert (batch.feats[row, n:] == 0).all()
            text = tokenizer.decode(batch.tokens[row, : batch.token_lengths[row]].tolist())
            assert text == dataset_text(fbank, utt)
        seen += batch.utts
    assert sorted(seen) == sorted(feats)


def dataset_text(fbank: Path, utt: str) -> str:
    return next(line.split(" ", 1)[1] for line in (fbank / "text.fr").read_text().splitlines() if line.startswith(utt))


def test_text_dataset_and_errors(prepared: tuple[Path, Path], tmp_path: Path):
    fbank, tok = prepared
    tokenizer = Tokenizer(tok)
    text = TextDataset(fbank, tokenizer)
    batch = collate([text[0], text[1]])
    assert batch.feats is None and batch.utts == text.utts[:2] and batch.tokens.shape == (2, max(text.lengths[:2]))
    sentences = KaldiDir.load(fbank).tables["text"]
    for row, utt in enumerate(batch.utts):
        n = int(batch.token_lengths[row])
        assert tokenizer.decode(batch.tokens[row, :n].tolist()) == sentences[utt] and not batch.tokens[row, n:].any()
    with pytest.raises(DataError, match=r"no text\.de table"):
        TextDataset(fbank, Tokenizer(tok), "text.de")
    with pytest.raises(DataError, match=r"no feats\.scp and utt2num_frames"):
        SpeechDataset(make_speech_dir(tmp_path / "raw", n_utts=2))


def test_one_dataloader_over_several_streams(prepared: tuple[Path, Path]):
    fbank, tok = prepared
    tokenizer = Tokenizer(tok)
    streams = {"speech": SpeechDataset(fbank), "text": TextDataset(fbank, tokenizer, "text.fr")}
    sampler = StreamBatchSampler(
        {
            "speech": BucketBatchSampler(streams["speech"].lengths, 400, seed=0),
            "text": BucketBatchSampler(streams["text"].lengths, 200, seed=0),
        },
        {"speech": 1.0, "text": 1.0},
    )
    loader = DataLoader(StreamDataset(streams), batch_sampler=sampler, collate_fn=collate_streams, num_workers=2)
    batches = list(itertools.islice(loader, 6))
    assert [name for name, _ in batches] == ["text", "speech"] * 3
    for name, batch in batches:
        assert (batch.feats is None, batch.tokens is None) == ((True, False) if name == "text" else (False, True))
