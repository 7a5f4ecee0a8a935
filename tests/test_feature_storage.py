"""``alptk features fbank --storage 16bit``: Kaldi's two-byte compressed matrices (CM2), half the disk, read back as
float32 within half a quantization step; CMVN statistics and ``feats.yaml`` as with float32 storage."""

from __future__ import annotations

from pathlib import Path

import kaldiio
import numpy as np
import pytest
from typer.testing import CliRunner

from alptk.cli import app
from alptk.data.fbank import common_features_spec
from alptk.data.features import extract_fbank_dir
from alptk.data.sources import read_matrix
from alptk.errors import ConfigError

EPS32 = float(np.finfo(np.float32).eps)
FM_HEADER = len(b"\0BFM ") + 2 * 5  # binary marker, type, then rows and columns (each a size byte and an int32)
CM2_HEADER = len(b"\0BCM2 ") + 16  # binary marker, type, then min, range (float32), rows, columns (int32)


def cm2_tolerance(mat: np.ndarray) -> float:
    """The largest error CM2 allows for ``mat``: values are stored as round((x - min) / step) with step = range /
    65535, rounded the way Kaldi and kaldiio do it (+0.499, then truncation: up to 0.501 step), plus the float32
    rounding of computing the code and the value back (a few ulps of the range and of the largest value)."""
    low, high = float(mat.min()), float(mat.max())
    step = (high - low) / 65535
    return 0.501 * step + 2 * EPS32 * ((high - low) + max(abs(low), abs(high)))


def ark_bytes(feats_dir: Path) -> int:
    return sum(ark.stat().st_size for ark in (feats_dir / "data").glob("*.ark"))


def test_16bit_storage(speech_dir: Path, tmp_path: Path):
    extract_fbank_dir(speech_dir, tmp_path / "float32")
    result = CliRunner().invoke(
        app, ["features", "fbank", str(speech_dir), str(tmp_path / "16bit"), "--storage", "16bit"]
    )
    assert result.exit_code == 0, result.output
    exact = kaldiio.load_scp(str(tmp_path / "float32" / "feats.scp"))
    stored = kaldiio.load_scp(str(tmp_path / "16bit" / "feats.scp"))
    assert list(stored) == list(exact) and len(exact) == 6

    key_bytes = sum(len(utt) + 1 for utt in exact)  # "<utt> " before each matrix
    values = sum(mat.size for mat in exact.values())
    assert ark_bytes(tmp_path / "float32") == key_bytes + len(exact) * FM_HEADER + 4 * values
    assert ark_bytes(tmp_path / "16bit") == key_bytes + len(exact) * CM2_HEADER + 2 * values
    assert 0.5 <= ark_bytes(tmp_path / "16bit") / ark_bytes(tmp_path / "float32") <= 0.505  # >= 0.6 s utterances

    for utt, mat in exact.items():
        back = stored[utt]
        assert back.dtype == np.float32 and back.shape == mat.shape
        error = np.abs(back - mat).max()
        assert 0 < error <= cm2_tolerance(mat) < 4e-4, utt  # fbank spans < 50 (log floor -15.9): < 4e-4
    location = (tmp_path / "16bit" / "feats.scp").read_text().split()[1]
    assert read_matrix(location).dtype == np.float32  # how training and decoding read features

    cmvn = [kaldiio.load_mat(str(tmp_path / d / "cmvn.ark")) for d in ("float32", "16bit")]
    assert np.array_equal(*cmvn)  # statistics of the float32 features, whatever the storage
    assert (tmp_path / "float32" / "feats.yaml").read_text() == (tmp_path / "16bit" / "feats.yaml").read_text()
    assert common_features_spec([tmp_path / "float32", tmp_path / "16bit"]) is not None  # one model can train on both


def test_unknown_storage_is_refused(speech_dir: Path, tmp_path: Path):
    with pytest.raises(ConfigError, match="storage 'float16': expected one of float32, 16bit"):
        extract_fbank_dir(speech_dir, tmp_path / "fbank", storage="float16")
