"""egs/mustc/st1 on a miniature MuST-C v1 en-de in the corpus's own layout: stages 1-5 (Kaldi directories with
segments, ESPnet's ids and English normalization, the cut audio, features, the joint tokenizer), local/download.sh,
the malformed-corpus errors of stage 1, and the training configs."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import unicodedata
from pathlib import Path

import kaldiio
import pytest
import soundfile

from alptk.data.kaldi_dir import KaldiDir, validate_dir
from alptk.data.tokenizer import Tokenizer
from alptk.models.model import load_model_config
from alptk.train.config import load_train_config
from tests.conftest import REPO, recipe_copy, run_recipe, speechlike

RATE = 16000
# split -> talk number, seconds, and its segments: (offset, duration, English as distributed, German)
TALKS = {
    "train": [
        (767, 8.0, [
            (0.5, 2.5, "Hello, World! It’s a “test” — really.", "Hallo, Welt! Es ist ein „Test“ — wirklich."),
            (5.0, 0.12, "(Laughter)", "(Lachen)"),
            (5.9, 2.0, "Don't stop... the well-known 10.5% rule.", "Hör  nicht auf …\tdie 10,5-%-Regel."),
        ]),
        (12, 6.0, [
            (1.2, 3.5, "So -- WHAT'S next?", "Also – was kommt jetzt?"),
            (4.8, 1.0, "Listed twice.", "Zweimal aufgeführt."),
            (4.8, 1.0, "Listed twice.", "Zweimal aufgeführt."),
        ]),
    ],
    "dev": [(535, 7.0, [(0.0, 3.0, "Thank you.", "Danke."), (3.8, 2.75, "Mr. Smith (1984):", "Herr Smith (1984):")])],
    "tst-COMMON": [(1096, 6.5, [(0.3, 2.0, "I'm here.", "Ich bin hier."), (2.9, 3.1, "Wow!", "Wow!")])],
    "tst-HE": [(1200, 6.0, [(1.0, 2.5, "Yes: “no”.", "Ja: „nein“."), (4.0, 1.5, "OK.", "OK.")])],
}  # fmt: skip
# what stage 1 makes of them: utterance id -> (segment, text, text.de); the 0.12 s segment widened to 0.2 s, the
# segment listed twice dropped (both copies), as ESPnet's data_prep.sh does
EXPECTED = {
    "train": {
        "ted_00012_0001200_0004700": ("ted_00012 1.200 4.700", "so what's next", "Also – was kommt jetzt?"),
        "ted_00767_0000500_0003000": (
            "ted_00767 0.500 3.000",
            "hello world it's a test really",
            "Hallo, Welt! Es ist ein „Test“ — wirklich.",
        ),
        "ted_00767_0004960_0005160": ("ted_00767 4.960 5.160", "laughter", "(Lachen)"),
        "ted_00767_0005900_0007900": (
            "ted_00767 5.900 7.900",
            "don't stop the wellknown 105 rule",
            "Hör nicht auf … die 10,5-%-Regel.",
        ),
    },
    "dev": {
        "ted_00535_0000000_0003000": ("ted_00535 0.000 3.000", "thank you", "Danke."),
        "ted_00535_0003800_0006550": ("ted_00535 3.800 6.550", "mr smith 1984", "Herr Smith (1984):"),
    },
    "tst-COMMON": {
        "ted_01096_0000300_0002300": ("ted_01096 0.300 2.300", "i'm here", "Ich bin hier."),
        "ted_01096_0002900_0006000": ("ted_01096 2.900 6.000", "wow", "Wow!"),
    },
    "tst-HE": {
        "ted_01200_0001000_0003500": ("ted_01200 1.000 3.500", "yes no", "Ja: „nein“."),
        "ted_01200_0004000_0005500": ("ted_01200 4.000 5.500", "ok", "OK."),
    },
}


def make_corpus(root: Path) -> Path:
    """A miniature MuST-C v1 en-de under ``root``, laid out as MUSTC_v1.0_en-de.tar.gz unpacks; returns ``root``."""
    for split, talks in TALKS.items():
        data = root / "en-de" / "data" / split
        (data / "wav").mkdir(parents=True)
        (data / "txt").mkdir()
        entries, english, german = [], [], []
        for talk, seconds, segments in talks:
            soundfile.write(data / "wav" / f"ted_{talk}.wav", speechlike(seconds, RATE, talk), RATE, "PCM_16")
            for offset, duration, source, target in segments:
                entries.append(
                    f"- {{duration: {duration:.6f}, offset: {offset:.6f}, rW: {len(source.split())}, uW: 0, "
                    f"speaker_id: spk.{talk}, wav: ted_{talk}.wav}}\n"
                )
                english.append(source + "\n")
                german.append(target + "\n")
        for suffix, lines in (("yaml", entries), ("en", english), ("de", german)):
            (data / "txt" / f"{split}.{suffix}").write_text("".join(lines), encoding="utf-8")
    return root


def test_stages_1_to_5_on_a_miniature_corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    corpus = make_corpus(tmp_path / "must-c")
    work = recipe_copy("mustc/st1", tmp_path, db={"MUSTC": corpus})
    result = run_recipe(work, "--stop_stage", "5", "--nj", "2", "--token_size", "120")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "dropped 1 segments listed more than once (every copy), e.g. ted_00012_0004800_0005800" in result.stderr
    monkeypatch.chdir(work)  # paths in recipe directories are relative to the recipe
    for split, expected in EXPECTED.items():
        wavs = corpus / "en-de" / "data" / split / "wav"
        talks = {f"ted_{talk:05d}": str(wavs / f"ted_{talk}.wav") for talk, _, _ in TALKS[split]}
        tables = KaldiDir.load(work / "data" / split).tables
        assert list(tables["utt2spk"]) == list(expected)  # byte order
        assert tables["wav.scp"] == dict(sorted(talks.items()))
        assert tables["segments"] == {utt: segment for utt, (segment, _, _) in expected.items()}
        assert tables["text"] == {utt: text for utt, (_, text, _) in expected.items()}
        assert tables["text.de"] == {utt: text for utt, (_, _, text) in expected.items()}
        assert tables["utt2spk"] == {utt: utt[:9] for utt in expected}  # the talk is the speaker
        assert validate_dir(work / "data" / split, fs=RATE) == []
        raw = KaldiDir.load(work / "dump" / "raw" / ("train_sp" if split == "train" else split)).tables
        for utt, (segment, _, _) in expected.items():
            _, start, end = segment.split()
            samples = round(float(end) * RATE) - round(float(start) * RATE)
            assert raw["utt2num_samples"][utt] == str(samples) == str(soundfile.info(raw["wav.scp"][utt]).frames)
    speed_perturbed = KaldiDir.load(work / "dump" / "raw" / "train_sp").tables["utt2num_samples"]
    assert sorted(speed_perturbed) == sorted(f"{p}{utt}" for p in ("", "sp0.9-", "sp1.1-") for utt in EXPECTED["train"])
    assert speed_perturbed["sp0.9-ted_00767_0004960_0005160"] == str(round(0.2 * RATE / 0.9))
    features = work / "dump" / "fbank" / "tst-COMMON"
    assert validate_dir(features) == []
    frames = {utt: len(matrix) for utt, matrix in kaldiio.load_scp(str(features / "feats.scp")).items()}
    assert frames == {"ted_01096_0000300_0002300": 198, "ted_01096_0002900_0006000": 308}  # 25 ms windows, 10 ms
    tokenizer = Tokenizer(work / "data" / "token_list" / "bpe120")  # joint: English and German, and <en> <de> whole
    assert [tokenizer.token_id(tag) for tag in ("<en>", "<de>")] == [4, 5]
    for utt, (_, english, german) in EXPECTED["train"].items():
        for text in (english, german):
            assert tokenizer.decode(tokenizer.encode(text)) == unicodedata.normalize("NFKC", text), utt  # … -> ...
    assert "Stage 5: pre-training targets done" in result.stdout


def run_download(work: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "ALPTK_ROOT": str(REPO), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return subprocess.run(["local/download.sh"], cwd=work, env=env, capture_output=True, text=True, check=False)


def test_download_says_what_to_fetch_then_unpacks_it_once(tmp_path: Path):
    downloads = tmp_path / "downloads"
    work = recipe_copy("mustc/st1", tmp_path, db={"MUSTC": downloads})
    absent = run_download(work)
    assert absent.returncode == 1
    assert f"MuST-C v1 en-de not found in '{downloads}' (MUSTC in db.sh)" in absent.stderr
    assert "https://ict.fbk.eu/must-c/" in absent.stderr
    assert f"fetch MUSTC_v1.0_en-de.tar.gz and put it in '{downloads}'" in absent.stderr
    corpus = make_corpus(tmp_path / "corpus")
    downloads.mkdir()
    with tarfile.open(downloads / "MUSTC_v1.0_en-de.tar.gz", "w:gz") as tar:
        tar.add(corpus / "en-de", arcname="en-de")
    first, again = run_download(work), run_download(work)
    assert first.returncode == again.returncode == 0, first.stderr + again.stderr
    assert "already extracted" not in first.stderr and "already extracted" in again.stderr  # unpacked once
    assert (downloads / "en-de" / "data" / "tst-HE" / "txt" / "tst-HE.de").read_text() == "Ja: „nein“.\nOK.\n"


def txt(corpus: Path, split: str, suffix: str) -> Path:
    return corpus / "en-de" / "data" / split / "txt" / f"{split}.{suffix}"


def talk(corpus: Path, split: str, number: int) -> Path:
    return corpus / "en-de" / "data" / split / "wav" / f"ted_{number}.wav"


def drop_last_line(path: Path) -> None:
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:-1]))


def cut_in_half(path: Path) -> None:
    """Keep the first half of a wav file, header included, as an interrupted copy leaves it."""
    os.truncate(path, path.stat().st_size // 2)


# each change to the corpus, and the one line stage 1 then reports (after "error: "); {c} is the corpus directory
MALFORMED = {
    "text-line-missing": (
        lambda c: drop_last_line(txt(c, "dev", "de")),
        "{c}/en-de/data/dev/txt/dev.yaml:2: segment 2 has no line in dev.de, which has 1",
    ),
    "text-line-extra": (
        lambda c: txt(c, "tst-HE", "en").write_text("Yes.\nOK.\nOne more.\n"),
        "{c}/en-de/data/tst-HE/txt/tst-HE.en:3: line 3 has no segment: tst-HE.yaml lists 2",
    ),
    "wav-missing": (
        lambda c: talk(c, "train", 12).unlink(),
        "{c}/en-de/data/train/txt/train.yaml:4: the segment's talk ted_12.wav is not in {c}/en-de/data/train/wav",
    ),
    "segment-after-the-end": (
        lambda c: txt(c, "tst-COMMON", "yaml").write_text(
            txt(c, "tst-COMMON", "yaml").read_text().replace("duration: 3.100000", "duration: 3.700000")
        ),
        "{c}/en-de/data/tst-COMMON/txt/tst-COMMON.yaml:2: ends at 6.600 s, after the end of its talk ted_1096.wav "
        "(6.500 s)",
    ),
    "wav-truncated": (
        lambda c: cut_in_half(talk(c, "dev", 535)),
        "{c}/en-de/data/dev/wav/ted_535.wav: ted_00535: truncated audio '{c}/en-de/data/dev/wav/ted_535.wav': 111978 "
        "of the 224000 bytes its header declares",
    ),
    "wrong-rate": (
        lambda c: soundfile.write(talk(c, "tst-HE", 1200), speechlike(6.0, 8000, 1), 8000),
        "{c}/en-de/data/tst-HE/wav/ted_1200.wav: ted_01200: sample rate 8000 Hz, but MuST-C tst-HE is 16000 Hz",
    ),
    "yaml-entry-without-offset": (
        lambda c: txt(c, "dev", "yaml").write_text(txt(c, "dev", "yaml").read_text().replace("offset: 3.800000, ", "")),
        "{c}/en-de/data/dev/txt/dev.yaml:2: segment without 'offset' (expected {{duration, offset, wav, ...}})",
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_corpus_is_one_line_and_status_2(tmp_path: Path, case: str):
    corpus = make_corpus(tmp_path)
    change, expected = MALFORMED[case]
    change(corpus)
    command = [str(Path(sys.executable).parent / "alptk"), "data", "prepare", "mustc", "--corpus-dir", str(corpus)]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.splitlines()[-1] == f"error: {expected.format(c=corpus)}"
    assert not (tmp_path / "data").exists()  # nothing written: every split is checked before any is saved


@pytest.mark.parametrize("system", ["asr", "st"])
@pytest.mark.parametrize("gpus", [1, 8])
def test_training_configs_load(system: str, gpus: int):
    recipe = REPO / "egs" / "mustc" / "st1"
    eight = ["streams.paired.max_frames=40000", "accum_grad=1"] if gpus == 8 else []  # the headers' 8-GPU overrides
    config = load_train_config(recipe / "conf" / f"{system}.yaml", ["tokenizer=data/token_list/bpe8000", *eight])
    assert (config.task, config.model, config.amp) == (system, "conf/model.yaml", "bf16")
    assert config.init == {"asr": None, "st": "exp/asr"}[system]
    assert config.streams["paired"].fields == [{"asr": "text", "st": "text.de"}[system]]
    assert config.objectives[system]["start_token"] == {"asr": "<en>", "st": "<de>"}[system]
    assert config.streams["paired"].max_frames * config.accum_grad * gpus == 320000  # per update, as the anchors
    model = load_model_config(recipe / "conf" / "model.yaml", vocab_size=8000)
    assert (model.d_model, model.speech_encoder["layers"], model.decoder["layers"]) == (256, 12, 6)
