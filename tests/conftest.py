"""Shared fixtures: small generated audio, Kaldi data directories, trained systems and recipe runs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import kaldiio
import numpy as np
import pytest
import soundfile
import torch
import yaml

from alptk.data.fbank import FbankConfig, save_features_spec
from alptk.data.kaldi_dir import KaldiDir
from alptk.train.config import load_train_config
from alptk.train.trainer import Runtime, Trainer

REPO = Path(__file__).resolve().parents[1]
SHARED_FSDD = REPO.parent / "shared" / "data" / "fsdd"


def speechlike(seconds: float, rate: int, seed: int, channels: int = 1) -> np.ndarray:
    """A voiced-sounding test signal: a few harmonics with vibrato, an envelope, and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = rng.uniform(90, 220) * (1 + 0.05 * np.sin(2 * np.pi * 3 * t))
    phase = 2 * np.pi * np.cumsum(f0) / rate
    signal = sum(np.sin(k * phase) / k for k in range(1, 6)) * (0.5 + 0.5 * np.sin(2 * np.pi * 1.5 * t) ** 2)
    signal = 0.2 * signal + 0.01 * rng.standard_normal(len(t))
    if channels > 1:
        signal = np.stack([signal * (1 - 0.2 * c) for c in range(channels)], axis=1)
    return signal.astype(np.float32)


def make_speech_dir(
    root: Path,
    n_utts: int = 6,
    rate: int = 16000,
    n_speakers: int = 2,
    fmt: str = "wav",
    channels: int = 1,
    seconds: tuple[float, float] = (0.6, 1.6),
) -> Path:
    """A valid Kaldi dir at ``root`` with ``n_utts`` audio files, transcripts and French translations."""
    audio = root / "audio"
    audio.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    tables: dict[str, dict[str, str]] = {"wav.scp": {}, "text": {}, "text.fr": {}, "utt2spk": {}}
    for i in range(n_utts):
        spk = f"spk{i % n_speakers}"
        utt = f"{spk}-utt{i:03d}"
        path = audio / f"{utt}.{fmt}"
        soundfile.write(path, speechlike(rng.uniform(*seconds), rate, seed=i, channels=channels), rate)
        tables["wav.scp"][utt] = str(path)
        tables["text"][utt] = f"hello world number {i}"
        tables["text.fr"][utt] = f"bonjour le monde numéro {i}"
        tables["utt2spk"][utt] = spk
    KaldiDir(tables).save(root / "data")
    return root / "data"


@pytest.fixture
def speech_dir(tmp_path: Path) -> Path:
    return make_speech_dir(tmp_path)


WORDS = ["abc", "bcd", "cde", "def", "efg", "fgh", "ghi", "hij"]
FRAMES = 48


def make_feature_dir(path: Path, n_utts: int, seed: int) -> Path:
    """A feature directory of equal-length pseudo-fbank utterances with equal-length transcripts."""
    path.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    utts = sorted(f"spk{i % 2}-utt{i:03d}" for i in range(n_utts))
    with kaldiio.WriteHelper(f"ark,scp:{path}/feats.ark,{path}/feats.scp") as writer:
        for utt in utts:
            writer(utt, (rng.standard_normal((FRAMES, 80)).cumsum(axis=0) / 4).astype(np.float32))
    stats = np.zeros((2, 81))
    for mat in kaldiio.load_scp(str(path / "feats.scp")).values():
        stats[0, :80] += mat.sum(0)
        stats[1, :80] += (mat**2).sum(0)
        stats[0, 80] += len(mat)
    kaldiio.save_mat(str(path / "cmvn.ark"), stats)
    save_features_spec(path, FbankConfig())  # as stage 3 records the options of real features
    texts = {u: f"{WORDS[i % 8]} {WORDS[(i * 3 + 1) % 8]}" for i, u in enumerate(utts)}
    tables = {
        "utt2num_frames": {u: str(FRAMES) for u in utts},
        "utt2spk": {u: u.split("-")[0] for u in utts},
        "text": texts,
        "text.fr": {u: t[::-1] for u, t in texts.items()},
    }
    scp = dict(line.split(maxsplit=1) for line in (path / "feats.scp").read_text().splitlines())
    KaldiDir({**tables, "feats.scp": scp}).save(path)
    return path


def train_systems(root: Path, common: dict[str, Any], systems: dict[str, dict[str, Any]]) -> None:
    """Train each system (``common`` config keys, updated by its own) to ``root/<name>``, in order, on the CPU."""
    for name, system in systems.items():
        config_file = root / f"{name}.yaml"
        config_file.write_text(yaml.safe_dump({**common, **system}))
        trainer = Trainer(load_train_config(config_file), root / name, Runtime(0, 1, torch.device("cpu")))
        trainer.resume(restart=False)
        trainer.run()


def recipe_copy(name: str, tmp_path: Path, db: dict[str, Path] | None = None) -> Path:
    """A copy of egs/<name> in tmp_path, so runs do not touch the checkout; ALPTK_ROOT points back to it. ``db``:
    where its corpora are (the variables of its db.sh, e.g. a miniature copy built by the test)."""
    work = tmp_path / name
    shutil.copytree(REPO / "egs" / name, work, ignore=shutil.ignore_patterns("data", "dump", "exp", "downloads"))
    if db is not None:
        (work / "db.sh").write_text("".join(f"{variable}={path}\n" for variable, path in db.items()))
    return work


def run_recipe(work: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ALPTK_ROOT": str(REPO), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return subprocess.run(["./run.sh", *args], cwd=work, env=env, capture_output=True, text=True, check=False)


class Server:
    """What the test server serves and saw."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.cut_first = False  # send half of the first response, then close the connection
        self.stall_first = False  # send half of the first response, then go quiet
        self.ignore_range = False
        self.busy_first = False  # answer the first request 503 Service Unavailable
        self.base = ""


@pytest.fixture
def server():
    state = Server()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            asked = self.headers.get("Range")
            state.requests.append((self.path, asked))
            data = state.files.get(self.path)
            if data is None or (state.busy_first and len(state.requests) == 1):
                self.send_error(404 if data is None else 503)
                return
            first = int(re.fullmatch(r"bytes=(\d+)-", asked)[1]) if asked and not state.ignore_range else 0
            if first >= len(data) > 0:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.end_headers()
                return
            self.send_response(206 if first else 200)
            if first:
                self.send_header("Content-Range", f"bytes {first}-{len(data) - 1}/{len(data)}")
            body = data[first:]
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if (state.cut_first or state.stall_first) and len(state.requests) == 1:
                self.wfile.write(body[: len(body) // 2])
                time.sleep(1.0 if state.stall_first else 0)
                return
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join()
