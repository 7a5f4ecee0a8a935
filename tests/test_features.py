"""The fbank stage: Kaldi ark/scp equal to torchaudio's reference, jobs, CMVN, and crash safety."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import kaldiio
import numpy as np
import pytest
import soundfile
import torch
import torchaudio

from alptk.data.features import extract_fbank_dir, read_cmvn
from alptk.data.kaldi_dir import KaldiDir, validate_dir
from alptk.errors import DataError
from tests.conftest import make_speech_dir


def reference_fbank(path: str) -> np.ndarray:
    samples, rate = soundfile.read(path, dtype="float32")
    wave = torch.from_numpy(samples * 32768).unsqueeze(0)
    return torchaudio.compliance.kaldi.fbank(wave, num_mel_bins=80, sample_frequency=rate, dither=0.0).numpy()


def test_features_match_torchaudio_and_are_kaldi_readable(tmp_path: Path):
    src = make_speech_dir(tmp_path, n_utts=5)
    stats = extract_fbank_dir(src, tmp_path / "fbank", nj=2)
    out = tmp_path / "fbank"
    assert validate_dir(out) == []
    feats = dict(kaldiio.load_scp_sequential(str(out / "feats.scp")))
    wavs = KaldiDir.load(src).tables["wav.scp"]
    assert sorted(feats) == sorted(wavs)
    for utt, mat in feats.items():
        assert mat.dtype == np.float32
        assert np.abs(mat - reference_fbank(wavs[utt])).max() < 1e-4
    frames = KaldiDir.load(out).tables["utt2num_frames"]
    assert all(int(frames[u]) == len(m) for u, m in feats.items())
    assert stats.frames == sum(len(m) for m in feats.values())
    assert (out / "text.fr").read_text() == (src / "text.fr").read_text()
    assert sorted(p.name for p in (out / "data").iterdir()) == ["raw_fbank.1.ark", "raw_fbank.2.ark"]


def test_cmvn_stats_in_kaldi_format(tmp_path: Path):
    src = make_speech_dir(tmp_path, n_utts=3)
    extract_fbank_dir(src, tmp_path / "fbank")
    all_frames = np.concatenate([m for _, m in kaldiio.load_scp_sequential(str(tmp_path / "fbank" / "feats.scp"))])
    stats = kaldiio.load_mat(str(tmp_path / "fbank" / "cmvn.ark"))
    assert stats.shape == (2, 81) and stats.dtype == np.float64
    assert stats[0, 80] == len(all_frames) and stats[1, 80] == 0
    mean, std = read_cmvn(tmp_path / "fbank" / "cmvn.ark")
    assert np.allclose(mean, all_frames.mean(axis=0), atol=1e-4)
    assert np.allclose(std, all_frames.astype(np.float64).std(axis=0), atol=1e-3)


def test_one_job_equals_two_jobs(tmp_path: Path):
    src = make_speech_dir(tmp_path, n_utts=4)
    extract_fbank_dir(src, tmp_path / "one", nj=1)
    extract_fbank_dir(src, tmp_path / "two", nj=2)
    one = dict(kaldiio.load_scp_sequential(str(tmp_path / "one" / "feats.scp")))
    two = dict(kaldiio.load_scp_sequential(str(tmp_path / "two" / "feats.scp")))
    assert sorted(p.name for p in (tmp_path / "two" / "data").iterdir()) == ["raw_fbank.1.ark", "raw_fbank.2.ark"]
    assert one.keys() == two.keys() and all(np.array_equal(one[k], two[k]) for k in one)
    stats_one = kaldiio.load_mat(str(tmp_path / "one" / "cmvn.ark"))
    stats_two = kaldiio.load_mat(str(tmp_path / "two" / "cmvn.ark"))
    assert stats_one[0, -1] == sum(len(m) for m in one.values())  # the frame count: every utterance is in it
    np.testing.assert_allclose(stats_two, stats_one, rtol=1e-9)  # the jobs' sums add up to the same statistics


def test_wrong_sample_rate_names_the_utterance(tmp_path: Path):
    src = make_speech_dir(tmp_path, n_utts=2, rate=8000)
    with pytest.raises(DataError, match=r"wav.scp: spk0-utt000: sample rate 8000 Hz, but the fbank config expects"):
        extract_fbank_dir(src, tmp_path / "fbank")


def test_killed_extraction_leaves_no_scp_and_reruns_to_the_same_result(tmp_path: Path):
    src = make_speech_dir(tmp_path / "in", n_utts=12, seconds=(0.5, 0.8))
    extract_fbank_dir(src, tmp_path / "clean")
    # Slow every read down with a pipe, so the run can be killed half-way through.
    wav = KaldiDir.load(src)
    wav.tables["wav.scp"] = {u: f"sleep 0.3; cat {p} |" for u, p in wav.tables["wav.scp"].items()}
    wav.save(src)
    cmd = [str(Path(sys.executable).parent / "alptk"), "features", "fbank", str(src), str(tmp_path / "out")]
    proc = subprocess.Popen([*cmd, "--allow-pipes"], start_new_session=True)
    deadline = time.time() + 60
    while not list((tmp_path / "out" / "data").glob(".*.tmp")) and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert list((tmp_path / "out" / "data").glob(".*.tmp")), "the run should have been killed mid-way"
    assert not (tmp_path / "out" / "feats.scp").exists()
    assert subprocess.run([*cmd, "--allow-pipes"], check=False).returncode == 0
    clean = dict(kaldiio.load_scp_sequential(str(tmp_path / "clean" / "feats.scp")))
    rerun = dict(kaldiio.load_scp_sequential(str(tmp_path / "out" / "feats.scp")))
    assert clean.keys() == rerun.keys() and all(np.array_equal(clean[k], rerun[k]) for k in clean)
    assert (tmp_path / "clean" / "cmvn.ark").read_bytes() == (tmp_path / "out" / "cmvn.ark").read_bytes()
