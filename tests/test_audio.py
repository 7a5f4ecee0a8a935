"""Audio reading (formats, pipes, wav arks), resampling, speed perturbation and the formatting stage."""

from __future__ import annotations

import math
from pathlib import Path

import kaldiio
import numpy as np
import pytest
import soundfile
import torch
import torchaudio

from alptk.data.audio import audio_info, read_audio, resample, speed_perturb, write_audio
from alptk.data.formatting import format_dir
from alptk.data.kaldi_dir import KaldiDir, validate_dir
from alptk.errors import DataError
from tests.conftest import make_speech_dir, speechlike


@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg"])
def test_write_read_round_trip(tmp_path: Path, fmt: str):
    samples = speechlike(0.5, 16000, seed=3)
    write_audio(tmp_path / f"a.{fmt}", samples, 16000)
    back, rate = read_audio(str(tmp_path / f"a.{fmt}"))
    assert rate == 16000 and back.shape == (8000, 1)
    tolerance = 0.05 if fmt == "ogg" else 1 / 32768
    assert np.abs(back[:, 0] - samples).max() <= tolerance
    assert not list(tmp_path.glob(".*tmp")), "temporary file left behind"


def test_read_pipe_and_wav_ark(tmp_path: Path):
    samples = speechlike(0.3, 8000, seed=1)
    soundfile.write(tmp_path / "a.wav", samples, 8000, subtype="PCM_16")
    piped, rate = read_audio(f"cat {tmp_path}/a.wav |", allow_pipes=True)
    assert rate == 8000 and np.array_equal(piped, read_audio(str(tmp_path / "a.wav"))[0])
    with kaldiio.WriteHelper(f"ark,scp:{tmp_path}/w.ark,{tmp_path}/w.scp", write_function="soundfile") as writer:
        writer("u", (samples, 8000))
    location = (tmp_path / "w.scp").read_text().split()[1]
    from_ark, rate = read_audio(location)
    assert rate == 8000 and np.abs(from_ark[:, 0] - samples).max() <= 1 / 32768


def test_pipe_needs_permission(tmp_path: Path):
    with pytest.raises(DataError, match="is a Kaldi pipe, which runs a shell command; pass --allow-pipes"):
        read_audio(f"touch {tmp_path}/ran |")
    assert not (tmp_path / "ran").exists()


def test_resample_matches_torchaudio_and_speed_changes_length():
    samples = speechlike(1.0, 22050, seed=2)
    ours = resample(samples, 22050, 16000)
    ref = torchaudio.functional.resample(torch.from_numpy(samples), 22050, 16000).numpy()
    assert ours.shape == (16000,) and np.allclose(ours, ref, atol=1e-6)
    assert len(speed_perturb(ours, 16000, 1.1)) == math.ceil(16000 / 1.1)
    assert len(speed_perturb(ours, 16000, 0.9)) == math.ceil(16000 / 0.9)


def test_format_resamples_downmixes_and_perturbs(tmp_path: Path):
    src = make_speech_dir(tmp_path / "in", n_utts=4, rate=8000, channels=2, fmt="flac")
    result = format_dir(src, tmp_path / "out", fs=16000, speed_factors=(0.9, 1.0, 1.1), nj=2)
    out = tmp_path / "out"
    assert validate_dir(out, fs=16000) == []
    assert len(result.utterances) == 12
    tables = result.tables
    assert tables["utt2spk"]["sp0.9-spk1-utt001"] == "sp0.9-spk1"
    assert tables["text.fr"]["sp1.1-spk0-utt002"] == "bonjour le monde numéro 2"
    original, rate = soundfile.read(KaldiDir.load(src).tables["wav.scp"]["spk0-utt000"])
    formatted, out_rate = soundfile.read(tables["wav.scp"]["spk0-utt000"])
    assert (rate, out_rate) == (8000, 16000) and formatted.ndim == 1
    assert len(formatted) == 2 * len(original)
    expected = resample(original.mean(axis=1).astype(np.float32), 8000, 16000)
    assert np.abs(formatted - expected).max() < 2 / 32768
    for factor in (0.9, 1.1):
        perturbed = int(tables["utt2num_samples"][f"sp{factor:g}-spk0-utt000"])
        assert perturbed == math.ceil(len(formatted) / factor)


def test_format_cuts_segments(tmp_path: Path):
    rec = speechlike(3.0, 16000, seed=5)
    soundfile.write(tmp_path / "rec.wav", rec, 16000, subtype="FLOAT")
    tables = {
        "wav.scp": {"rec": str(tmp_path / "rec.wav")},
        "segments": {"rec-1": "rec 0.50 1.25", "rec-2": "rec 2.00 3.00"},
        "utt2spk": {"rec-1": "rec", "rec-2": "rec"},
        "text": {"rec-1": "one", "rec-2": "two"},
    }
    KaldiDir(tables).save(tmp_path / "src")
    result = format_dir(tmp_path / "src", tmp_path / "out")
    cut, _ = soundfile.read(result.tables["wav.scp"]["rec-1"], dtype="float32")
    assert np.abs(cut - rec[8000:20000]).max() <= 1 / 32768
    assert result.tables["utt2dur"] == {"rec-1": "0.7500", "rec-2": "1.0000"}
    assert not (tmp_path / "out" / "segments").exists()


def test_format_reports_bad_audio_with_location(tmp_path: Path):
    src = make_speech_dir(tmp_path / "in", n_utts=3)
    Path(KaldiDir.load(src).tables["wav.scp"]["spk1-utt001"]).write_bytes(b"not audio")
    with pytest.raises(DataError, match=r"in/data/wav.scp: spk1-utt001: cannot read audio"):
        format_dir(src, tmp_path / "out")
    assert not (tmp_path / "out" / "wav.scp").exists()


def test_wav_cut_short_is_reported_not_read_as_shorter_audio(tmp_path: Path):
    path = tmp_path / "a.wav"
    soundfile.write(path, speechlike(1.0, 16000, seed=0), 16000, subtype="PCM_16")
    assert audio_info(str(path)) == (16000, 16000)
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) - 1000])  # libsndfile alone would read 15,500 samples without a word
    with pytest.raises(DataError, match=r"truncated audio '.*a\.wav': 31000 of the 32000 bytes its header declares"):
        audio_info(str(path))
    kaldi_dir = KaldiDir({"wav.scp": {"u1": str(path)}, "utt2spk": {"u1": "u1"}, "text": {"u1": "a"}})
    kaldi_dir.save(tmp_path / "data")
    assert validate_dir(tmp_path / "data") == [
        f"{tmp_path / 'data' / 'wav.scp'}:1: u1: truncated audio '{path}': 31000 of the 32000 bytes its header declares"
    ]
