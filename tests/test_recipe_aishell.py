"""egs/aishell/asr1 on a miniature AISHELL-1 in the layout it is distributed in: stages 1-5, the Kaldi directories
exactly, the audio and transcripts left out, one-line errors on malformed corpora; the GPU configs load."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import soundfile

from alptk.config import load_config
from alptk.data.kaldi_dir import KaldiDir, validate_dir
from alptk.data.tokenizer import Tokenizer
from alptk.inference.decode import DecodeOptions
from alptk.models.model import ALPModel, load_model_config, part_parameters
from alptk.train.config import load_train_config
from tests.conftest import REPO, recipe_copy, run_recipe, speechlike

RECIPE = REPO / "egs" / "aishell" / "asr1"
SPEAKERS = {"train": ("S0002", "S0003"), "dev": ("S0724",), "test": ("S0764",)}
TRANSCRIPTS = {  # as in aishell_transcript_v0.8.txt: words separated by spaces
    "BAC009S0002W0122": "而 对 楼市 成交 抑制 作用 最 大 的 限 购",
    "BAC009S0002W0123": "也 成为 地方 政府 的 眼中 钉",
    "BAC009S0003W0121": "广州 市 房地产 中介 协会 分析",
    "BAC009S0003W0122": "另外 北京 的 成交 量 也 有所 下降",
    "BAC009S0724W0121": "今天 天气 很 好",
    "BAC009S0724W0122": "我们 一起 去 公园",
    "BAC009S0764W0121": "银行 贷款 利率 上调",
    "BAC009S0764W0122": "市场 信心 逐步 恢复",
    "BAC009S0916W0121": "这 一 句 没有 录音",  # a transcript line without audio
}
UNTRANSCRIBED = "BAC009S0002W0124"  # audio without a transcript line


def wav_path(corpus: Path, utt: str) -> Path:
    speaker = utt[6:11]
    name = next(name for name, speakers in SPEAKERS.items() if speaker in speakers)
    return corpus / "data_aishell" / "wav" / name / speaker / f"{utt}.wav"


def make_corpus(root: Path) -> Path:
    """data_aishell/{wav/<set>/<speaker>/<utt>.wav, transcript/aishell_transcript_v0.8.txt} under ``root``."""
    for seed, utt in enumerate([*list(TRANSCRIPTS)[:-1], UNTRANSCRIBED]):
        path = wav_path(root, utt)
        path.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(path, speechlike(0.6 + 0.1 * seed, 16000, seed), 16000)
    transcript = root / "data_aishell" / "transcript" / "aishell_transcript_v0.8.txt"
    transcript.parent.mkdir(parents=True)
    transcript.write_text("".join(f"{utt} {text}\n" for utt, text in TRANSCRIPTS.items()), encoding="utf-8")
    return root


def test_stages_1_to_5_on_a_miniature_corpus(tmp_path: Path):
    corpus = make_corpus(tmp_path / "corpus")
    work = recipe_copy("aishell/asr1", tmp_path, db={"AISHELL": corpus})
    result = run_recipe(work, "--stop_stage", "5", "--nj", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    extra = wav_path(corpus, UNTRANSCRIBED).resolve()
    untranscribed = work / "data" / "local" / "untranscribed.txt"
    no_audio = work / "data" / "local" / "no_audio.txt"
    log = result.stdout + result.stderr
    assert f"left out 1 audio files without a transcript line, e.g. {UNTRANSCRIBED} ({extra})" in log
    assert "left out 1 transcript lines without an audio file, e.g. BAC009S0916W0121 (这一句没有录音)" in log
    assert untranscribed.read_text() == f"{UNTRANSCRIBED} {extra}\n"
    assert no_audio.read_text() == "BAC009S0916W0121 这一句没有录音\n"
    for name, speakers in SPEAKERS.items():
        utts = sorted(u for u in TRANSCRIPTS if u[6:11] in speakers)
        data = KaldiDir.load(work / "data" / name)
        assert data.tables["text"] == {u: TRANSCRIPTS[u].replace(" ", "") for u in utts}
        assert data.tables["utt2spk"] == {u: f"BAC009{u[6:11]}" for u in utts}
        assert data.tables["wav.scp"] == {u: str(wav_path(corpus, u).resolve()) for u in utts}
        assert data.spk2utt() == {f"BAC009{s}": [u for u in utts if s in u] for s in speakers}
        assert validate_dir(work / "data" / name, fs=16000) == []
    assert KaldiDir.load(work / "data" / "train").tables["text"]["BAC009S0002W0122"] == "而对楼市成交抑制作用最大的限购"
    for name, count in (("train_sp", 12), ("dev", 2), ("test", 2)):
        assert len(KaldiDir.load(work / "dump" / "fbank" / name).utterances) == count
    train_text = "".join(TRANSCRIPTS[u] for u in KaldiDir.load(work / "data" / "train").utterances)
    tokenizer = Tokenizer(work / "data" / "token_list" / "char6000")
    assert set(train_text.replace(" ", "")) <= set(tokenizer.tokens)
    assert "Stage 5: pre-training targets done" in result.stdout


def prepare(corpus: Path, data: Path, *options: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "alptk", "data", "prepare", "aishell", "--corpus-dir", str(corpus)]
    return subprocess.run([*command, "--data-dir", str(data), *options], capture_output=True, text=True, check=False)


def assert_error(result: subprocess.CompletedProcess, message: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"error: {message}"  # after the progress log


def test_malformed_corpora_are_one_line_errors(tmp_path: Path):
    corpus = make_corpus(tmp_path / "corpus")
    data_aishell, data = corpus / "data_aishell", tmp_path / "data"
    transcript = data_aishell / "transcript" / "aishell_transcript_v0.8.txt"
    extra = wav_path(corpus, UNTRANSCRIBED).resolve()
    assert_error(prepare(corpus, data), f"{extra}: {UNTRANSCRIBED}: no transcript in {transcript}")
    extra.unlink()
    no_audio = f"{transcript}:9: BAC009S0916W0121: no audio file BAC009S0916W0121.wav under {data_aishell / 'wav'}"
    assert_error(prepare(data_aishell, data), no_audio)

    wav = wav_path(corpus, "BAC009S0724W0121").resolve()
    soundfile.write(wav, speechlike(0.5, 8000, 0), 8000)
    rate = f"{wav}: BAC009S0724W0121: sample rate 8000 Hz, but AISHELL-1 dev is 16000 Hz"
    assert_error(prepare(corpus, data, "--skip-unpaired"), rate)
    wav.write_bytes(wav_path(corpus, "BAC009S0724W0122").read_bytes()[:30])  # cut inside the header
    truncated = prepare(corpus, data, "--skip-unpaired")  # soundfile's own reason ends the line
    assert truncated.returncode == 2, truncated.stdout + truncated.stderr
    prefix = f"error: {wav}: BAC009S0724W0121: cannot read audio '{wav}': not an audio file soundfile can read ("
    assert truncated.stderr.strip().splitlines()[-1].startswith(prefix)
    shutil.make_archive(str(data_aishell / "wav" / "S0002"), "gztar", data_aishell / "wav", "train/S0002")
    archives = "holds 1 per-speaker archives (S0002.tar.gz, ...) to extract first (local/download.sh extracts them)"
    assert_error(prepare(corpus, data), f"{data_aishell / 'wav'}: {archives}")
    transcript.unlink()
    missing = "not found: expected AISHELL-1's transcript file (is the corpus directory right?)"
    assert_error(prepare(corpus, data), f"{transcript}: {missing}")
    assert not (data / "train").exists() and not (data / "local").exists()


def test_configs_load_and_build_the_espnet_sized_model():
    config = load_train_config(RECIPE / "conf" / "asr_conformer.yaml", ["tokenizer=data/token_list/char6000"])
    assert (config.task, config.amp, config.streams["paired"].max_frames) == ("asr", "bf16", 50000)
    assert (config.optim.lr, config.optim.warmup_steps, config.optim.schedule) == (5e-4, 30000, "inverse_sqrt")
    model = load_model_config(RECIPE / config.model, vocab_size=4300, heads=["ctc_head", "text_head"])
    parts = part_parameters(ALPModel(model))
    assert 43e6 < sum(parts.values()) < 45e6  # ESPnet's: 12 encoder layers of 256 (2048 units), 6 decoder layers
    decode = load_config(DecodeOptions, RECIPE / "conf" / "decode.yaml")
    assert (decode.beam, decode.ctc_weight) == (10, 0.4)
