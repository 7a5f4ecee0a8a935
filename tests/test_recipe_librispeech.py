"""The LibriSpeech recipes on a miniature LibriSpeech in its distributed layout: stages 1-5 of librispeech/alp1 and
librispeech_100/asr1, the Kaldi directories they write, malformed corpora, and the GPU configs (loaded, not run)."""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import soundfile

from alptk.config import load_config
from alptk.data.fbank import FbankConfig
from alptk.data.kaldi_dir import KaldiDir, validate_dir
from alptk.data.tokenizer import Tokenizer
from alptk.inference.decode import DecodeOptions
from alptk.models.model import load_model_config
from alptk.train.config import load_train_config
from tests.conftest import REPO, recipe_copy, run_recipe, speechlike

ALPTK = str(Path(sys.executable).parent / "alptk")
RATE = 16000
# subset -> (speaker, chapter, utterances); speakers 103 and 19 put byte order before numeric order
CHAPTERS = {
    "train-clean-100": [("19", "198", 3), ("103", "1240", 2)],
    "train-clean-360": [("14", "208", 2)],
    "train-other-500": [("20", "205", 2)],
    "dev-clean": [("84", "121123", 2), ("174", "50561", 2)],
    "dev-other": [("116", "288045", 2)],
    "test-clean": [("121", "121726", 2)],
    "test-other": [("1688", "142285", 3)],
}
WORDS = ["THE", "BOOK", "HE'S", "READING", "WAS", "OLD", "AND", "HIS", "FATHER", "GAVE", "IT", "TO", "HIM", "ONE"]
LM_TEXT = [f"{WORDS[n % 14]} AND {WORDS[(n * 5) % 14]} SAID {WORDS[(n * 3 + 1) % 14]} NUMBER {n}" for n in range(7)]
TOKEN_SIZE = "60"
PAIRED = ("wav.scp", "text", "utt2spk", "utt2dur")
CONF = ["decode.yaml", "fbank.yaml"]  # every recipe's; librispeech_100 trains alp1's finetune_asr.yaml


def transcript(seed: int) -> str:
    return " ".join(WORDS[(seed * 7 + k * 3) % len(WORDS)] for k in range(3 + seed % 4))


def build_corpus(root: Path, subsets: tuple[str, ...] = tuple(CHAPTERS)) -> dict[str, dict[str, dict[str, str]]]:
    """``root/LibriSpeech/<subset>/<speaker>/<chapter>/`` with flac files and transcripts, and the gzipped LM text
    beside it; the tables each subset's Kaldi directory should hold."""
    expected = {}
    seed = 0
    for subset in subsets:
        tables: dict[str, dict[str, str]] = {"wav.scp": {}, "text": {}, "utt2spk": {}, "utt2dur": {}}
        for speaker, chapter, count in CHAPTERS[subset]:
            chapter_dir = root / "LibriSpeech" / subset / speaker / chapter
            chapter_dir.mkdir(parents=True)
            lines = []
            for number in range(count):
                utt = f"{speaker}-{chapter}-{number:04d}"
                seed += 1
                seconds = 0.5 + 0.1 * number
                soundfile.write(chapter_dir / f"{utt}.flac", speechlike(seconds, RATE, seed), RATE)
                lines.append(f"{utt} {transcript(seed)}\n")
                tables["wav.scp"][utt] = str((chapter_dir / f"{utt}.flac").resolve())
                tables["text"][utt] = transcript(seed)
                tables["utt2spk"][utt] = f"{speaker}-{chapter}"
                tables["utt2dur"][utt] = f"{seconds:.3f}"
            (chapter_dir / f"{speaker}-{chapter}.trans.txt").write_text("".join(lines))
        expected[subset.replace("-", "_")] = tables
    with gzip.open(root / "librispeech-lm-norm.txt.gz", "wt") as f:
        f.write("".join(f"{line}\n" for line in LM_TEXT))
    return expected


def joined(expected: dict, names: list[str], tables: tuple[str, ...]) -> dict[str, dict[str, str]]:
    return {table: {k: v for name in names for k, v in expected[name][table].items()} for table in tables}


def load_tables(path: Path) -> dict[str, dict[str, str]]:
    return KaldiDir.load(path).tables


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("corpus")
    return root, build_corpus(root)


def recipe_on(name: str, tmp_path: Path, corpus_root: Path) -> Path:
    return recipe_copy(name, tmp_path, db={"LIBRISPEECH": corpus_root})


@pytest.mark.slow
def test_alp1_stages_1_to_5(tmp_path: Path, corpus: tuple[Path, dict]):
    root, expected = corpus
    work = recipe_on("librispeech/alp1", tmp_path, root)
    result = run_recipe(work, "--stop_stage", "5", "--nj", "2", "--token_size", TOKEN_SIZE, "--lm_text_fraction", "0.5")
    assert result.returncode == 0, result.stdout + result.stderr
    data = work / "data"
    subsets = sorted(expected)
    assert sorted(p.name for p in data.iterdir()) == sorted([*subsets, "train_960", "dev", "lm_text", "token_list"])
    for name in subsets:
        assert load_tables(data / name) == expected[name], name
        assert validate_dir(data / name, fs=RATE) == []
    assert (data / "train_clean_100" / "spk2utt").read_text() == (
        "103-1240 103-1240-0000 103-1240-0001\n19-198 19-198-0000 19-198-0001 19-198-0002\n"
    )
    train_960 = ["train_clean_100", "train_clean_360", "train_other_500"]
    assert load_tables(data / "train_960") == joined(expected, train_960, ("wav.scp", "utt2spk", "utt2dur"))
    assert load_tables(data / "dev") == joined(expected, ["dev_clean", "dev_other"], PAIRED)
    # every second line of the LM text, named by its line number
    kept = "".join(f"lm-{n:09d} {LM_TEXT[n - 1]}\n" for n in (2, 4, 6))
    assert sorted(p.name for p in (data / "lm_text").iterdir()) == ["text"]
    assert (data / "lm_text" / "text").read_text() == kept
    assert KaldiDir.load(data / "lm_text").utterances == ["lm-000000002", "lm-000000004", "lm-000000006"]

    fbank = work / "dump" / "fbank"
    featurized = ["train_clean_100_sp", "dev", "dev_clean", "dev_other", "test_clean", "test_other", "train_960"]
    assert sorted(p.name for p in fbank.iterdir()) == sorted(featurized)
    assert len(KaldiDir.load(fbank / "train_clean_100_sp").utterances) == 3 * 5
    assert len(KaldiDir.load(fbank / "train_960").utterances) == 9
    assert next((work / "dump" / "raw" / "dev_clean").glob("**/*.flac"), None) is not None  # --audio_format flac
    tokenizer = Tokenizer(data / "token_list" / f"bpe{TOKEN_SIZE}")
    assert tokenizer.decode(tokenizer.encode("HE'S READING")) == "HE'S READING"
    assert "Stage 5: pre-training targets done" in result.stdout


@pytest.mark.slow
def test_librispeech_100_stages_1_to_5(tmp_path: Path, corpus: tuple[Path, dict]):
    root, expected = corpus
    work = recipe_on("librispeech_100/asr1", tmp_path, root)
    result = run_recipe(work, "--stop_stage", "5", "--nj", "2", "--token_size", TOKEN_SIZE)
    assert result.returncode == 0, result.stdout + result.stderr
    data = work / "data"
    needed = ["train_clean_100", "dev_clean", "dev_other", "test_clean", "test_other"]
    assert sorted(p.name for p in data.iterdir()) == sorted([*needed, "dev", "token_list"])  # no train_960, lm_text
    for name in needed:
        assert load_tables(data / name) == expected[name], name
    assert load_tables(data / "dev") == joined(expected, ["dev_clean", "dev_other"], PAIRED)
    fbank = work / "dump" / "fbank"
    assert sorted(p.name for p in fbank.iterdir()) == sorted(["train_clean_100_sp", "dev", *needed[1:]])
    assert len(KaldiDir.load(fbank / "train_clean_100_sp").utterances) == 3 * 5
    assert (data / "token_list" / f"bpe{TOKEN_SIZE}" / "tokens.txt").is_file()
    assert "Stage 5: pre-training targets done" in result.stdout


def prepare(corpus_root: Path, data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    command = [ALPTK, "data", "prepare", "librispeech", "--corpus-dir", str(corpus_root), "--data-dir", str(data_dir)]
    return subprocess.run([*command, *args], capture_output=True, text=True, check=False)


def chapter(root: Path) -> Path:
    return (root / "LibriSpeech" / "dev-clean" / "84" / "121123").resolve()


def remove_transcript(root: Path) -> str:
    path = chapter(root) / "84-121123.trans.txt"
    path.unlink()
    return f"{path}: not found: every chapter directory holds its <speaker>-<chapter>.trans.txt"


def add_untranscribed_flac(root: Path) -> str:
    path = chapter(root) / "84-121123-0002.flac"
    soundfile.write(path, speechlike(0.5, RATE, 0), RATE)
    return f"{path}: 84-121123-0002: no transcript line for this file in 84-121123.trans.txt"


def add_line_without_flac(root: Path) -> str:
    path = chapter(root) / "84-121123.trans.txt"
    path.write_text(path.read_text() + "84-121123-0007 A LINE WITHOUT AUDIO\n")
    return f"{path}:3: 84-121123-0007: no audio file 84-121123-0007.flac for this transcript line"


def add_line_of_another_chapter(root: Path) -> str:
    path = chapter(root) / "84-121123.trans.txt"
    path.write_text("84-5-0000 THE WRONG CHAPTER\n" + path.read_text())
    return f"{path}:1: expected '84-121123-<number> <TRANSCRIPT>'"


def resample_one_flac(root: Path) -> str:
    path = chapter(root) / "84-121123-0001.flac"
    soundfile.write(path, speechlike(0.5, 8000, 0), 8000)
    return f"{path}: 84-121123-0001: sample rate 8000 Hz, but LibriSpeech is 16000 Hz"


@pytest.mark.parametrize(
    "damage",
    [remove_transcript, add_untranscribed_flac, add_line_without_flac, add_line_of_another_chapter, resample_one_flac],
)
def test_malformed_corpus_is_one_line_error(tmp_path: Path, damage):
    build_corpus(tmp_path, ("dev-clean",))
    message = damage(tmp_path)
    result = prepare(tmp_path, tmp_path / "data", "--subset", "dev-clean")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"error: {message}"
    assert not (tmp_path / "data" / "dev_clean").exists()


def test_truncated_flac_fails_in_stage_2_naming_it(tmp_path: Path):
    build_corpus(tmp_path, ("dev-clean",))
    path = chapter(tmp_path) / "84-121123-0001.flac"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # the header still says how long it is
    assert prepare(tmp_path, tmp_path / "data", "--subset", "dev-clean").returncode == 0
    result = subprocess.run(
        [ALPTK, "data", "format", str(tmp_path / "data" / "dev_clean"), str(tmp_path / "raw"), "--fs", str(RATE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    wav_scp = tmp_path / "data" / "dev_clean" / "wav.scp"
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {wav_scp}: 84-121123-0001: cannot read audio '{path}': not an audio file soundfile can read "
        "(Error : flac decoder lost sync.)"
    )


def test_download_takes_the_official_paths_and_checks_their_md5(tmp_path: Path):
    """local/download.sh against a mirror of a wrong archive: the official file name, and its md5 refused."""
    build_corpus(tmp_path / "corpus", ("dev-clean",))
    archive = tmp_path / "mirror" / "12" / "dev-clean.tar.gz"
    archive.parent.mkdir(parents=True)
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "corpus" / "LibriSpeech", "LibriSpeech")
    work = recipe_copy("librispeech/alp1", tmp_path)
    command = ["local/download.sh", "--subsets", "dev-clean", "--lm_text", "false"]
    env = {**os.environ, "ALPTK_ROOT": str(REPO), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    result = subprocess.run(
        [*command, "--base_url", f"file://{tmp_path / 'mirror'}", "downloads"],
        cwd=work, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(f"error: downloads/dev-clean.tar.gz: md5 is {md5}, expected 42e2234ba48799c1f50f24a7926300a1: ")
    )
    assert not (work / "downloads" / "LibriSpeech").exists()  # nothing unpacked


def test_lm_text_fraction_and_damaged_lm_text(tmp_path: Path):
    build_corpus(tmp_path, ("test-clean",))
    lm_text = tmp_path / "librispeech-lm-norm.txt.gz"
    result = prepare(tmp_path, tmp_path / "data", "--subset", "test-clean", "--lm-text", str(lm_text),
                     "--lm-text-fraction", "0.3")  # fmt: skip
    assert result.returncode == 0, result.stderr
    # floor(7 * 0.3) = 2 evenly spaced lines: the 4th and the 7th
    assert (
        tmp_path / "data" / "lm_text" / "text"
    ).read_text() == f"lm-000000004 {LM_TEXT[3]}\nlm-000000007 {LM_TEXT[6]}\n"
    lm_text.write_bytes(lm_text.read_bytes()[:-12])  # cut inside the gzip trailer
    result = prepare(tmp_path, tmp_path / "data", "--subset", "test-clean", "--lm-text", str(lm_text))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: {lm_text}:8: not a complete gzip file (")


def test_configs_load_on_cpu():
    alp1, scratch = REPO / "egs" / "librispeech" / "alp1" / "conf", REPO / "egs" / "librispeech_100" / "asr1" / "conf"
    assert sorted(p.name for p in alp1.glob("*.yaml")) == [
        "decode.yaml",
        "fbank.yaml",
        "finetune_asr.yaml",
        "pretrain.yaml",
    ]
    assert sorted(p.name for p in scratch.glob("*.yaml")) == CONF
    for conf in (alp1, scratch):
        assert load_config(FbankConfig, conf / "fbank.yaml").num_mel_bins == 80
        assert load_config(DecodeOptions, conf / "decode.yaml").beam == 20
    pretrain = load_train_config(alp1 / "pretrain.yaml", ["tokenizer=data/token_list/bpe5000"])
    assert set(pretrain.objectives) == {"masked_speech", "mlm", "denoise", "stm", "tts", "asr"}
    assert pretrain.amp == "bf16" and pretrain.streams["text"].data == ["data/lm_text"]
    finetune = load_train_config(alp1 / "finetune_asr.yaml", ["tokenizer=data/token_list/bpe5000"])
    assert finetune.init == "exp/pretrain" and finetune.amp == "bf16"
    # librispeech_100/asr1 trains the same config from scratch (its run.sh: init=null)
    assert load_train_config(alp1 / "finetune_asr.yaml", ["tokenizer=x", "init=null"]).init is None
    for config in (pretrain, finetune):
        assert load_model_config(config.model, **config.model_options).d_model == 768
