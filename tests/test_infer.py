"""Inference on a user's own recordings and texts: audio in, the Python API, the commands, and the same hypotheses
as ``alptk decode`` gives on stage-3 features of the same wav files."""

from __future__ import annotations

import itertools
import json
import math
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy
import soundfile
import torch
import yaml
from typer.testing import CliRunner

from alptk.cli import app
from alptk.data.features import extract_fbank_dir
from alptk.data.tokenizer import train_tokenizer
from alptk.errors import USER_ERROR, AlptkError, ConfigError, DataError
from alptk.inference.api import Failure, Speech2Text, SpeechTextMatcher, Text2Speech, Transcription, package_options
from alptk.inference.audio import (
    AudioInput,
    audio_inputs,
    load_audio,
    merge_windows,
    pause_cuts,
    token_frames,
    utterance_ids,
)
from alptk.inference.decode import DecodeOptions
from alptk.tasks.evaluate import decode_dir
from tests.conftest import make_speech_dir, speechlike, train_systems
from tests.test_train import MODEL_OPTIONS

ALPTK = str(Path(sys.executable).parent / "alptk")
BATCH_FRAMES = 400  # several batches of the 8 test utterances (58 to 158 frames each)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Stage-3 features of real wav files and tiny models trained a few steps on them: asr, and a pre-trained one
    (matching and synthesis); an st and a tts model are copies told their task by a package's ``task.yaml``."""
    root = tmp_path_factory.mktemp("infer")
    data = make_speech_dir(root / "speech", n_utts=8)
    extract_fbank_dir(data, root / "fbank")
    train_tokenizer([data], root / "tok", "char", 40)
    paired = {"kind": "paired", "data": [str(root / "fbank")], "max_frames": 800}
    common = {"model_options": MODEL_OPTIONS, "tokenizer": str(root / "tok"), "log_every": 4, "num_workers": 0}
    systems = {
        "asr": {"task": "asr", "max_steps": 8, "objectives": {"asr": {"type": "s2t", "stream": "paired"}}},
        "pretrain": {"max_steps": 3, "objectives": {"stm": {"stream": "paired"}, "tts": {"stream": "paired"}}},
    }
    train_systems(root, {**common, "streams": {"paired": paired}}, systems)
    for name, source, spec in [
        ("st", "asr", {"task": "st", "objective": {"type": "s2t"}, "field": "text.fr"}),
        ("tts", "pretrain", {"task": "tts", "objective": {"type": "tts"}, "field": "text"}),
    ]:
        shutil.copytree(root / source, root / name)
        (root / name / "task.yaml").write_text(yaml.safe_dump(spec))
    return root


def cli(*args: str | Path) -> tuple[int, str, str]:
    """Run ``alptk`` in this process: (exit status as ``alptk.cli.main`` gives it, stdout, stderr)."""
    result = CliRunner().invoke(app, [str(a) for a in args])
    if isinstance(result.exception, AlptkError):
        return USER_ERROR, result.stdout, result.stderr + f"error: {result.exception}\n"
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def write_wav(path: Path, seconds: float, rate: int = 16000, seed: int = 0, channels: int = 1, **kwargs) -> Path:
    soundfile.write(path, speechlike(seconds, rate, seed, channels), rate, **kwargs)
    return path


# audio in


def test_windows_are_cut_in_pauses_and_merged_where_each_is_surest():
    rate, rng = 1000, np.random.default_rng(0)
    samples = rng.normal(0, 0.3, 80 * rate).astype(np.float32)  # 80 s of noise, quiet from 37 s and from 61 s
    samples[37 * rate : 37 * rate + 300] *= 1e-3
    samples[61 * rate : 61 * rate + 300] *= 1e-3
    cuts = pause_cuts(samples, rate, window=30 * rate, overlap=4 * rate)
    assert len(cuts) == 3 and 37_000 <= cuts[1] <= 37_300 and 61_000 <= cuts[2] <= 61_300  # where they can reach
    bounds = [0, *cuts, len(samples)]
    assert all(b - a + 4 * rate <= 30 * rate for a, b in itertools.pairwise(bounds))  # every window fits
    assert pause_cuts(samples[: 20 * rate], rate, 30 * rate, 4 * rate) == []
    spans = [(0.0, 27.5), (27.5, 52.5), (52.5, math.inf)]
    windows = [
        ([1, 2, 3, 4], [5.0, 15.0, 26.0, 29.0]),  # "4" is past the cut at 27.5: the next window gives it
        ([3, 4, 5, 6], [27.0, 29.0, 40.0, 53.0]),  # "3" (27) belongs to the first window, "6" (53) to the last
        ([6, 7], [54.0, 79.9]),
    ]
    assert merge_windows(windows, spans) == [1, 2, 3, 4, 5, 6, 7]
    assert merge_windows([([], []), ([9], [30.0]), ([], [])], spans) == [9]

    frame_tokens = torch.tensor([-1, 0, 0, -1, 1, -1, 2, -1])
    assert token_frames(frame_tokens, 3, 8, aligned=True) == [1.5, 4.5, 6.5]  # the frame each token starts at
    assert token_frames(frame_tokens, 2, 8, aligned=False) == [2.0, 6.0]  # no alignment: spread evenly


def test_utterance_ids_tell_files_apart(tmp_path: Path):
    paths = [tmp_path / "a" / "x.wav", tmp_path / "b" / "x.flac", tmp_path / "my talk.ogg", tmp_path / "a" / "x.wav"]
    assert utterance_ids(paths) == ["a/x", "b/x", "my_talk", "a/x#2"]
    scp = tmp_path / "wav.scp"
    scp.write_text("u1 /data/one.wav\nu2 /data/two.wav\nu1 /data/three.wav\n")
    with pytest.raises(DataError, match=r"wav.scp:3: u1: utterance listed twice \(first on line 1\)"):
        audio_inputs([], scp)


def test_audio_of_any_rate_and_channels_and_one_line_problems(tmp_path: Path):
    stereo = write_wav(tmp_path / "stereo.wav", 1.0, rate=8000, channels=2)
    samples = load_audio(stereo, 16000)
    assert samples.dtype == np.float32 and samples.shape == (16000,)
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "notes.wav").write_text("not audio at all\n")
    soundfile.write(tmp_path / "silent.wav", np.zeros(8000, np.float32), 16000)
    soundfile.write(tmp_path / "nothing.wav", np.zeros((0, 1), np.float32), 16000)
    problems = {
        "empty.wav": "empty file: no audio",
        "notes.wav": r"not an audio file soundfile can read \(.+\)",
        "silent.wav": "silent: nothing to transcribe",
        "nothing.wav": "empty audio: no samples",
        "missing.wav": "no such file",
    }
    for name, problem in problems.items():
        with pytest.raises(DataError, match=f"^{tmp_path / name}: {problem}$"):
            load_audio(tmp_path / name, 16000)
    scp = tmp_path / "wav.scp"
    scp.write_text(f"good {stereo}\nquiet {tmp_path / 'silent.wav'}\n")
    inputs = audio_inputs([], scp)
    assert [(a.utt, a.line) for a in inputs] == [("good", 1), ("quiet", 2)]
    with pytest.raises(DataError, match=f"^{scp}:2: quiet: {tmp_path / 'silent.wav'}: silent: nothing to transcribe$"):
        load_audio_input(inputs[1])


def load_audio_input(audio: AudioInput) -> np.ndarray:
    from alptk.inference.audio import _load

    return _load(audio, 16000, "transcribe")


# the same hypotheses as alptk decode


@pytest.mark.parametrize("beam", [1, 3])
def test_same_hypotheses_as_decoding_stage_3_features(models: Path, tmp_path: Path, beam: int):
    root = models
    options = DecodeOptions(beam=beam, ctc_weight=0.3, batch_frames=BATCH_FRAMES)
    decode_dir(root / "asr", root / "fbank", tmp_path / "decode", options, "cpu")
    expected = (tmp_path / "decode" / "text").read_text().splitlines()
    scores = (tmp_path / "decode" / "score").read_text().splitlines()

    asr = Speech2Text.from_pretrained(root / "asr", device="cpu", beam=beam, ctc_weight=0.3, batch_frames=BATCH_FRAMES)
    results = list(asr.transcribe(audio_inputs([], root / "speech" / "data" / "wav.scp")))
    assert all(isinstance(r, Transcription) for r in results)
    assert [f"{r.utt} {r.text}".rstrip() for r in results] == expected
    assert [f"{r.utt} {r.score:.4f}" for r in results] == scores
    assert all(set(r.tokens) <= set(asr.exp.tokenizer.tokens) for r in results)

    wav_scp = root / "speech" / "data" / "wav.scp"
    status, out, _ = cli("transcribe", root / "asr", "--scp", wav_scp, "--beam", beam, "--ctc-weight", 0.3,
                         "--batch-frames", BATCH_FRAMES, "--device", "cpu", "--format", "kaldi")  # fmt: skip
    assert status == 0 and out.splitlines() == expected


def test_a_file_and_its_samples_give_the_same_hypothesis(models: Path, tmp_path: Path):
    asr = Speech2Text.from_pretrained(models / "asr", device="cpu", beam=1)
    samples = speechlike(1.2, 8000, seed=5, channels=2)
    soundfile.write(tmp_path / "a.wav", samples, 8000, subtype="FLOAT")
    from_file, from_samples = asr(tmp_path / "a.wav"), asr(samples, sample_rate=8000)
    assert from_file == replace(from_samples, utt="a", path=str(tmp_path / "a.wav"))
    assert from_file.seconds == pytest.approx(1.2, abs=1e-3)
    with pytest.raises(DataError, match=r"^audio1: silent: nothing to transcribe$"):
        asr(np.zeros(16000, np.float32))
    with pytest.raises(DataError, match=r"^audio1: 0\.05 s is too short: the model needs at least 7 frames \(3 "):
        asr(speechlike(0.05, 16000, seed=1))
    with pytest.raises(ConfigError, match="overlap must be >= 0 and shorter than the window"):
        Speech2Text(asr.exp, asr.options, window=2.0, overlap=2.0)


def test_long_recordings_are_windowed_for_asr_and_refused_for_st(models: Path, tmp_path: Path):
    long = write_wav(tmp_path / "long.wav", 2.6, seed=3)
    asr = Speech2Text.from_pretrained(models / "asr", device="cpu", beam=1, window=1.0, overlap=0.3)
    (windowed,) = asr.transcribe([long])
    assert isinstance(windowed, Transcription) and windowed.seconds == pytest.approx(2.6)
    ids = [asr.exp.tokenizer.tokens.index(t) for t in windowed.tokens]
    assert asr.exp.tokenizer.decode(ids) == windowed.text

    status, _, err = cli("translate", models / "st", long, "--max-seconds", 1, "--device", "cpu")
    assert status == USER_ERROR
    assert f"error: {long}: 2.6 s long; alptk translate takes at most 1 s per recording: cut it first" in err
    st = Speech2Text.from_pretrained(models / "st", device="cpu", beam=1)
    assert isinstance(st(long), Transcription)  # under the default 30 s


def test_package_decoding_options_apply_first(models: Path, tmp_path: Path):
    package = tmp_path / "asr"
    shutil.copytree(models / "asr", package)
    (package / "decode.yaml").write_text(yaml.safe_dump({"beam": 4, "ctc_weight": 0.5, "lm": "lm"}))
    options = package_options(package, {"beam": 2})
    assert (options.beam, options.ctc_weight, options.lm) == (2, 0.5, str(package / "lm"))
    assert package_options(package, {"lm": None}).lm is None
    asr = Speech2Text.from_pretrained(package, device="cpu", lm=None, batch_frames=1000)
    assert (asr.options.beam, asr.options.batch_frames, asr.options.lm) == (4, 1000, None)
    (package / "decode.yaml").write_text("bean: 4\n")
    with pytest.raises(ConfigError, match=r"decode\.yaml: unknown key 'bean'"):
        Speech2Text.from_pretrained(package, device="cpu")


# the commands


def test_transcribe_command_goes_on_past_bad_files(models: Path, tmp_path: Path):
    good = write_wav(tmp_path / "good.wav", 1.2, rate=8000, channels=2)  # resampled and downmixed
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "notes.wav").write_text("hello\n")
    soundfile.write(tmp_path / "silent.wav", np.zeros(16000, np.float32), 16000)
    files = [good, tmp_path / "empty.wav", tmp_path / "notes.wav", tmp_path / "silent.wav"]
    result = subprocess.run(
        [ALPTK, "transcribe", str(models / "asr"), *map(str, files), "--beam", "1", "--device", "cpu"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == USER_ERROR
    expected = Speech2Text.from_pretrained(models / "asr", device="cpu", beam=1)(good).text
    assert result.stdout.splitlines() == [expected, "", "", ""]  # one line per input, in order
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 4 and errors[0] == f"error: {tmp_path / 'empty.wav'}: empty file: no audio"
    assert errors[1].startswith(f"error: {tmp_path / 'notes.wav'}: not an audio file soundfile can read (")
    assert errors[2] == f"error: {tmp_path / 'silent.wav'}: silent: nothing to transcribe"
    assert errors[3] == "error: 3 of 4 recordings failed (see above)"
    assert "real-time factor" in result.stderr and "1 recordings, 1.2 s of audio" in result.stderr

    status, out, _ = cli("transcribe", models / "asr", good, tmp_path / "empty.wav", "--beam", 1, "--format", "jsonl")
    records = [json.loads(line) for line in out.splitlines()]
    assert status == USER_ERROR and [r["utt"] for r in records] == ["good", "empty"]
    assert set(records[0]) == {"utt", "path", "text", "score", "seconds"} and records[0]["text"] == expected
    assert records[0]["path"] == str(good) and records[0]["seconds"] == pytest.approx(1.2)
    assert records[1]["error"] == f"{tmp_path / 'empty.wav'}: empty file: no audio"


def test_a_model_of_another_task_is_one_line(models: Path, tmp_path: Path):
    good = write_wav(tmp_path / "good.wav", 1.0)
    status, _, err = cli("transcribe", models / "tts", good, "--device", "cpu")
    assert status == USER_ERROR
    assert err.splitlines()[-1] == (
        f"error: {models / 'tts'} is a model of task tts, not one alptk transcribe runs; run it with alptk synthesize"
    )
    status, _, err = cli("transcribe", models / "st", good, "--device", "cpu")
    assert status == USER_ERROR and err.endswith("not one alptk transcribe runs; run it with alptk translate\n")
    with pytest.raises(ConfigError, match="is a model of task asr; Text2Speech runs those of tts"):
        Text2Speech.from_pretrained(models / "asr", device="cpu")


def test_synthesize_writes_audio_at_the_model_rate(models: Path, tmp_path: Path):
    status, _, _ = cli("synthesize", models / "tts", "hello world", "-o", tmp_path / "hello.wav",
                       "--griffin-lim-iterations", 2, "--device", "cpu")  # fmt: skip
    info = soundfile.info(tmp_path / "hello.wav")
    assert status == 0 and info.samplerate == 16000 and info.channels == 1 and info.frames > 0

    lines = tmp_path / "lines.txt"
    lines.write_text("hello world\nzebra €\n\nnumber one\n")
    status, _, err = cli("synthesize", models / "tts", "--text-file", lines, "-o", tmp_path / "out",
                         "--griffin-lim-iterations", 2, "--device", "cpu")  # fmt: skip
    assert status == USER_ERROR and sorted(p.name for p in (tmp_path / "out").iterdir()) == ["0001.wav", "0004.wav"]
    assert f"error: {lines}:2: characters the model's tokenizer does not know (it would read <unk>): 'z' 'a' '€'" in err
    assert err.splitlines()[-1] == "error: 1 of 3 lines failed (see above)"
    tts = Text2Speech.from_pretrained(models / "tts", device="cpu", griffin_lim_iterations=2)
    speech = tts("hello")
    assert speech.sample_rate == 16000 and speech.waveform.dtype == np.float32 and np.abs(speech.waveform).max() <= 1
    with pytest.raises(DataError, match="text 1: empty text: nothing to say"):
        tts("  ")


def test_embed_and_retrieve(models: Path, tmp_path: Path):
    audio = [write_wav(tmp_path / f"{name}.wav", 1.0, seed=seed) for seed, name in enumerate(["dog", "rain"])]
    texts = tmp_path / "texts.txt"
    texts.write_text("hello world\nnumber one\nworld number\n")
    status, _, _ = cli("embed", models / "pretrain", *audio, "--text-file", texts, "-o", tmp_path / "emb.safetensors")
    assert status == 0
    with safetensors.safe_open(tmp_path / "emb.safetensors", "np") as f:
        assert f.metadata()["utts"] == "dog rain" and json.loads(f.metadata()["texts"])[2] == "world number"
    stored = safetensors.numpy.load_file(tmp_path / "emb.safetensors")
    assert stored["speech"].shape == (2, 16) and stored["text"].shape == (3, 16)
    assert np.allclose(np.linalg.norm(stored["speech"], axis=1), 1, atol=1e-5)

    matcher = SpeechTextMatcher.from_pretrained(models / "pretrain", device="cpu")
    similarity = matcher.match(audio, texts.read_text().splitlines())
    assert np.allclose(similarity, stored["speech"] @ stored["text"].T, atol=1e-5)

    status, out, _ = cli("retrieve", models / "pretrain", "--audio", audio[0], "--audio", audio[1],
                         "--text-file", texts, "--top", 2)  # fmt: skip
    rows = [line.split(" ", 3) for line in out.splitlines()]
    assert status == 0 and [(r[0], r[1]) for r in rows] == [("dog", "1"), ("dog", "2"), ("rain", "1"), ("rain", "2")]
    names = texts.read_text().splitlines()
    for utt, row in (("dog", 0), ("rain", 1)):
        best = np.argsort(-similarity[row])[:2]
        assert [r[3] for r in rows if r[0] == utt] == [names[i] for i in best]
        assert [float(r[2]) for r in rows if r[0] == utt] == pytest.approx(similarity[row][best], abs=1e-4)

    silent = tmp_path / "silent.wav"
    soundfile.write(silent, np.zeros(16000, np.float32), 16000)
    done, vectors, failures = matcher.speech_embeddings([audio[0], silent])
    assert [a.utt for a in done] == ["dog"] and vectors.shape == (1, 16)
    assert [str(f) for f in failures] == [f"{silent}: silent: nothing to embed"] and isinstance(failures[0], Failure)
