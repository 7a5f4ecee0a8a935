"""egs/ljspeech/tts1 on a miniature LJSpeech-1.1 in the corpus's own layout: stages 1-5 (Kaldi directories, 22.05 kHz
audio, TTS fbank, character tokenizer), the malformed-corpus errors of stage 1, and the training configs."""

from __future__ import annotations

import os
from pathlib import Path

import kaldiio
import pytest
import soundfile
import yaml

from alptk.data.kaldi_dir import KaldiDir, validate_dir
from alptk.data.tokenizer import Tokenizer
from alptk.train.config import load_train_config
from tests.conftest import REPO, recipe_copy, run_recipe, speechlike

RATE = 22050
# (id, raw text, normalized text) as metadata.csv has them: numbers, abbreviations and symbols spelled out in the third
METADATA = [
    ("LJ001-0001", "Printing, in our sense, began about 1450.", "Printing, in our sense, began about fourteen fifty."),
    ("LJ001-0002", "in being comparatively modern.", "in being comparatively modern."),
    ("LJ001-0003", "Mr. Smith paid 10s. for the book;", "Mister Smith paid ten shillings for the book;"),
    ("LJ001-0004", 'the "forty-two line Bible" of 1455,', 'the "forty-two line Bible" of fourteen fifty-five,'),
    ("LJ002-0001", "On the 3rd of May, 1811, the prisoners", "On the third of May, eighteen eleven, the prisoners"),
    ("LJ002-0002", "were moved to Newgate & the Fleet.", "were moved to Newgate and the Fleet."),
    ("LJ002-0003", "It held 200 debtors.", "It held two hundred  debtors."),
    ("LJ003-0001", "The report of the Commission", "The report of the Commission"),
    ("LJ003-0002", "was published in Vol. II.", "was published in Volume two."),
    ("LJ003-0003", "No. 5 was the last.", "Number five was the last."),
]  # fmt: skip
IDS = [utt for utt, _, _ in METADATA]
SPLIT = ("--local_data_opts", "--dev_size 3 --test_size 2")


def make_corpus(root: Path) -> Path:
    """A miniature LJSpeech-1.1 directory: metadata.csv (LF endings, as distributed) and wavs/<id>.wav at 22050 Hz."""
    corpus = root / "LJSpeech-1.1"
    (corpus / "wavs").mkdir(parents=True)
    (corpus / "metadata.csv").write_text("".join("|".join(fields) + "\n" for fields in METADATA), encoding="utf-8")
    for seed, utt in enumerate(IDS):
        soundfile.write(corpus / "wavs" / f"{utt}.wav", speechlike(0.4 + 0.05 * seed, RATE, seed), RATE, "PCM_16")
    return corpus


def test_stages_1_to_5_on_a_miniature_corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    corpus = make_corpus(tmp_path)
    work = recipe_copy("ljspeech/tts1", tmp_path, db={"LJSPEECH": corpus})
    result = run_recipe(work, "--stop_stage", "5", "--nj", "2", "--token_size", "60", *SPLIT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "TTS intelligibility will not be scored" in result.stderr  # no LibriSpeech ASR package beside it
    monkeypatch.chdir(work)  # paths in recipe directories are relative to the recipe
    splits = {"train": IDS[:5], "dev": IDS[5:8], "test": IDS[8:]}  # the last 5: 3 dev, then 2 test
    normalized = {utt: " ".join(text.split()) for utt, _, text in METADATA}
    for name, utts in splits.items():
        tables = KaldiDir.load(work / "data" / name).tables
        assert list(tables["wav.scp"]) == utts
        assert tables["wav.scp"] == {utt: str(corpus / "wavs" / f"{utt}.wav") for utt in utts}
        assert tables["text"] == {utt: normalized[utt] for utt in utts}
        assert tables["utt2spk"] == dict.fromkeys(utts, "LJ")
        assert (work / "data" / name / "spk2utt").read_text() == f"LJ {' '.join(utts)}\n"
        assert validate_dir(work / "dump" / "raw" / name, fs=RATE) == []
        raw = KaldiDir.load(work / "dump" / "raw" / name).tables["wav.scp"]
        assert {soundfile.info(path).samplerate for path in raw.values()} == {RATE}
        features = work / "dump" / "fbank" / name
        assert validate_dir(features) == []
        frames = KaldiDir.load(features).tables["utt2num_frames"]
        for utt, matrix in kaldiio.load_scp(str(features / "feats.scp")).items():
            samples = soundfile.info(raw[utt]).frames
            assert matrix.shape == (int(frames[utt]), 80) == ((samples + 128) // 256, 80)  # centred 256-sample hops
    assert KaldiDir.load(work / "data" / "test").tables["text"]["LJ003-0003"] == "Number five was the last."
    spec = yaml.safe_load((work / "dump" / "fbank" / "train" / "feats.yaml").read_text())
    assert (spec["sample_rate"], spec["frame_length_ms"], spec["frame_shift_ms"]) == (RATE, 46.44, 11.61)
    assert (spec["low_freq"], spec["high_freq"], spec["use_power"], spec["snip_edges"]) == (80.0, 7600.0, False, False)
    tokenizer = Tokenizer(work / "data" / "token_list" / "char60")
    sentence = normalized["LJ002-0001"]
    assert tokenizer.decode(tokenizer.encode(sentence)) == sentence  # every character of the training text
    assert "Stage 5: pre-training targets done" in result.stdout


def wav(corpus: Path, utt: str) -> Path:
    return corpus / "wavs" / f"{utt}.wav"


def cut_after_header(path: Path) -> None:
    """Truncate a wav to its 44-byte header, as an interrupted copy leaves it."""
    os.truncate(path, 44)


# each change to the corpus, and the one line stage 1 then reports (after "error: "); {c} is the corpus directory
MALFORMED = {
    "two-fields": (
        lambda c: (c / "metadata.csv").write_text(
            (c / "metadata.csv").read_text().replace("LJ001-0003|Mr. Smith paid 10s. for the book;|", "LJ001-0003|")
        ),
        "{c}/metadata.csv:3: expected 3 fields separated by '|' (id|text|normalized text), found 2",
    ),
    "wav-missing": (
        lambda c: wav(c, "LJ002-0002").unlink(),
        "{c}/metadata.csv:6: LJ002-0002: no recording: {c}/wavs/LJ002-0002.wav is missing",
    ),
    "wav-unlisted": (
        lambda c: soundfile.write(wav(c, "LJ004-0001"), speechlike(0.3, RATE, 20), RATE),
        "{c}/wavs/LJ004-0001.wav: a recording not listed in {c}/metadata.csv",
    ),
    "wav-truncated": (
        lambda c: cut_after_header(wav(c, "LJ001-0004")),
        "{c}/wavs/LJ001-0004.wav: LJ001-0004: empty audio '{c}/wavs/LJ001-0004.wav'",
    ),
    "wrong-rate": (
        lambda c: soundfile.write(wav(c, "LJ003-0002"), speechlike(0.4, 16000, 3), 16000),
        "{c}/wavs/LJ003-0002.wav: LJ003-0002: sample rate 16000 Hz, but LJSpeech is 22050 Hz",
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_corpus_is_one_line_and_status_2(tmp_path: Path, case: str):
    corpus = make_corpus(tmp_path)
    change, expected = MALFORMED[case]
    change(corpus)
    result = run_recipe(recipe_copy("ljspeech/tts1", tmp_path, db={"LJSPEECH": corpus}), "--stop_stage", "1", *SPLIT)
    assert result.returncode == 2, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [f"error: {expected.format(c=corpus)}"]
    assert "Stage 1: data preparation ended with status 2" in result.stderr


def test_default_split_is_the_official_250_and_250(tmp_path: Path):
    corpus = make_corpus(tmp_path)
    work = recipe_copy("ljspeech/tts1", tmp_path, db={"LJSPEECH": corpus})
    result = run_recipe(work, "--stop_stage", "1", "--asr_model", "zoo/some_asr")
    assert result.returncode == 2
    assert "will not be scored" not in result.stderr  # --asr_model given: stage 8 transcribes with it
    expected = (
        f"error: {corpus}/metadata.csv: 10 utterances: cannot hold out 250 for dev and 250 for test and keep some "
        "for training (both sizes must be at least 1)"
    )
    assert expected in result.stderr.splitlines()


@pytest.mark.parametrize("config", ["asr", "tts"])
@pytest.mark.parametrize("gpus", ["one", "eight"])
def test_training_configs_load(config: str, gpus: str):
    path = REPO / "egs" / "ljspeech" / "tts1" / "conf" / f"{config}.yaml"
    eight = ["accum_grad=1", "streams.paired.max_frames=17500"]  # the header's 8-GPU overrides
    loaded = load_train_config(path, ["tokenizer=data/token_list/char100", *(eight if gpus == "eight" else [])])
    assert (loaded.task, loaded.model, loaded.amp, loaded.cmvn) == (config, "base", "bf16", "dump/fbank/train/cmvn.ark")
    per_update = loaded.streams["paired"].max_frames * loaded.accum_grad * (8 if gpus == "eight" else 1)
    assert per_update == 140000  # the same updates on one GPU and on eight
    if config == "tts":
        assert loaded.objectives["tts"] == {"type": "fastspeech", "stream": "paired", "aligner": "exp/asr"}
        assert loaded.init is None  # run.sh's tts_pretrained adds init=
