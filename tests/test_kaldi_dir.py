"""Kaldi tables and data directories: round trips, every class of bad input, fix, subset, combine, split."""

from __future__ import annotations

from pathlib import Path

import pytest
import soundfile

from alptk.data.kaldi_dir import KaldiDir, combine_dirs, fix_dir, split_dir, subset_dir, validate_dir
from alptk.data.table import read_table, write_table
from alptk.errors import DataError
from tests.conftest import make_speech_dir, speechlike


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def edit(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")


def only_problem(data: Path, **kwargs) -> str:
    problems = validate_dir(data, **kwargs)
    assert len(problems) == 1, problems
    return problems[0]


# tables ---------------------------------------------------------------------------------------------


def test_table_round_trip_sorts_in_byte_order(tmp_path: Path):
    items = {"é-utt": "accented", "b-utt": "two  spaces kept", "B-utt": "upper", "a-utt": ""}
    write_table(tmp_path / "text", items.items())
    assert [e.key for e in read_table(tmp_path / "text")] == ["B-utt", "a-utt", "b-utt", "é-utt"]
    assert {e.key: e.value for e in read_table(tmp_path / "text")} == items


def test_table_reader_splits_on_any_whitespace_and_numbers_lines(tmp_path: Path):
    (tmp_path / "t").write_text("u1\tvalue one \nu2 value\ttwo\n", encoding="utf-8")
    assert read_table(tmp_path / "t")[1].value == "value\ttwo"
    assert next((e.key, e.value, e.line) for e in read_table(tmp_path / "t")) == ("u1", "value one", 1)


def test_table_reader_locates_bad_utf8(tmp_path: Path):
    (tmp_path / "text").write_bytes(b"u1 fine\nu2 caf\xe9\n")
    with pytest.raises(DataError, match=r"text:2: not valid UTF-8"):
        read_table(tmp_path / "text")


def test_kaldi_dir_round_trip(speech_dir: Path, tmp_path: Path):
    loaded = KaldiDir.load(speech_dir)
    loaded.save(tmp_path / "copy")
    again = KaldiDir.load(tmp_path / "copy")
    assert again.tables == loaded.tables
    assert lines(tmp_path / "copy" / "spk2utt") == lines(speech_dir / "spk2utt")
    assert lines(speech_dir / "spk2utt")[0] == "spk0 spk0-utt000 spk0-utt002 spk0-utt004"
    assert validate_dir(tmp_path / "copy") == []


def test_save_removes_stale_tables(speech_dir: Path):
    kaldi_dir = KaldiDir.load(speech_dir)
    (speech_dir / "utt2dur").write_text("stale 1.0\n")
    kaldi_dir.save(speech_dir)
    assert not (speech_dir / "utt2dur").exists()


# validation: one test per class of bad input ---------------------------------------------------------


def test_valid_directory_has_no_problems(speech_dir: Path):
    assert validate_dir(speech_dir, fs=16000) == []


def test_unsorted_table(speech_dir: Path):
    text = lines(speech_dir / "text")
    (speech_dir / "text").write_text("\n".join([text[1], text[0], *text[2:]]) + "\n")
    assert only_problem(speech_dir) == f"{speech_dir}/text:2: spk0-utt000: not in sorted (C-locale byte) order"


def test_sorting_is_byte_order_not_locale_order(tmp_path: Path):
    # In en_US.UTF-8 "a-x" sorts before "B-x"; in byte order "B-x" comes first.
    (tmp_path / "text").write_text("a-x hello\nB-x hello\n")
    assert only_problem(tmp_path) == f"{tmp_path}/text:2: B-x: not in sorted (C-locale byte) order"


def test_duplicate_id(speech_dir: Path):
    text = lines(speech_dir / "text")
    (speech_dir / "text").write_text("\n".join([text[0], text[0], *text[1:]]) + "\n")
    assert only_problem(speech_dir) == f"{speech_dir}/text:2: spk0-utt000: duplicate id (first on line 1)"


def test_utterance_missing_from_a_table(speech_dir: Path):
    (speech_dir / "text.fr").write_text("\n".join(lines(speech_dir / "text.fr")[1:]) + "\n")
    assert only_problem(speech_dir) == f"{speech_dir}/text:1: spk0-utt000: not in text.fr"


def test_empty_transcript(speech_dir: Path):
    edit(speech_dir / "text", "spk0-utt002 hello world number 2", "spk0-utt002")
    assert only_problem(speech_dir) == f"{speech_dir}/text:2: spk0-utt002: empty transcript"


def test_invalid_utf8_transcript(speech_dir: Path):
    data = (speech_dir / "text").read_bytes().replace(b"number 4", b"num\xffber 4")
    (speech_dir / "text").write_bytes(data)
    problems = validate_dir(speech_dir)
    assert problems[0] == f"{speech_dir}/text:3: not valid UTF-8 (byte 28)"


def test_spk2utt_disagrees_with_utt2spk(speech_dir: Path):
    edit(speech_dir / "utt2spk", "spk0-utt004 spk0", "spk0-utt004 spk1")
    problems = validate_dir(speech_dir)
    assert f"{speech_dir}/spk2utt:1: spk0: lists 'spk0-utt004', which utt2spk gives to 'spk1'" in problems


def test_missing_spk2utt(speech_dir: Path):
    (speech_dir / "spk2utt").unlink()
    assert only_problem(speech_dir).startswith(f"{speech_dir}/spk2utt: missing")


def test_missing_audio_file(speech_dir: Path):
    Path(KaldiDir.load(speech_dir).tables["wav.scp"]["spk1-utt001"]).unlink()
    assert only_problem(speech_dir).startswith(f"{speech_dir}/wav.scp:4: spk1-utt001: file '")


def test_unreadable_audio_file(speech_dir: Path):
    Path(KaldiDir.load(speech_dir).tables["wav.scp"]["spk1-utt001"]).write_bytes(b"RIFF garbage")
    assert "wav.scp:4: spk1-utt001: cannot read audio" in only_problem(speech_dir)


def test_wrong_declared_rate(speech_dir: Path):
    problems = validate_dir(speech_dir, fs=8000)
    assert problems[0] == f"{speech_dir}/wav.scp:1: spk0-utt000: sample rate 16000 Hz, expected 8000 Hz"
    assert len(problems) == 6


def test_duration_mismatch(speech_dir: Path):
    (speech_dir / "utt2dur").write_text("".join(f"{u} 9.5\n" for u in KaldiDir.load(speech_dir).utterances))
    problems = validate_dir(speech_dir)
    assert len(problems) == 6
    assert problems[0].startswith(f"{speech_dir}/utt2dur:1: spk0-utt000: says 9.5 s but the audio lasts")


def test_segment_past_end_of_recording(tmp_path: Path):
    audio = tmp_path / "rec.flac"
    soundfile.write(audio, speechlike(2.0, 16000, seed=1), 16000)
    tables = {
        "wav.scp": {"rec": str(audio)},
        "segments": {"rec-a": "rec 0.00 1.00", "rec-b": "rec 1.00 2.50"},
        "utt2spk": {"rec-a": "rec", "rec-b": "rec"},
        "text": {"rec-a": "first", "rec-b": "second"},
    }
    KaldiDir(tables).save(tmp_path / "d")
    problem = only_problem(tmp_path / "d")
    assert problem == f"{tmp_path}/d/segments:2: rec-b: ends at 2.50 s, after the end of recording 'rec' (2.00 s)"


def test_malformed_segment_and_unknown_recording(tmp_path: Path):
    (tmp_path / "wav.scp").write_text("rec /nonexistent.wav\n")
    (tmp_path / "segments").write_text("a rec 1.0 0.5\nb other 0 1\n")
    (tmp_path / "utt2spk").write_text("a s\nb s\n")
    (tmp_path / "spk2utt").write_text("s a b\n")
    problems = validate_dir(tmp_path)
    assert (
        f"{tmp_path}/segments:1: a: malformed segment (expected 'recording start end', 0 <= start < end): "
        in (problems[0][: len(str(tmp_path)) + 90])
    )
    assert f"{tmp_path}/segments:2: b: recording 'other' is not in wav.scp" in problems


def test_pipe_rejected_unless_allowed(speech_dir: Path):
    path = KaldiDir.load(speech_dir).tables["wav.scp"]["spk0-utt000"]
    edit(speech_dir / "wav.scp", f"spk0-utt000 {path}", f"spk0-utt000 cat {path} |")
    problem = only_problem(speech_dir)
    assert problem.startswith(f"{speech_dir}/wav.scp:1: spk0-utt000: 'cat {path} |' is a Kaldi pipe")
    assert "--allow-pipes" in problem
    assert validate_dir(speech_dir, allow_pipes=True) == []


def test_failing_pipe(speech_dir: Path):
    edit(speech_dir / "wav.scp", "spk0-utt000 ", "spk0-utt000 false && cat ")
    edit(speech_dir / "wav.scp", ".wav\nspk0-utt002", ".wav |\nspk0-utt002")
    assert "failed (exit 1)" in only_problem(speech_dir, allow_pipes=True)


def test_not_a_data_directory(tmp_path: Path):
    with pytest.raises(DataError, match="not a Kaldi data directory"):
        validate_dir(tmp_path)


def test_load_raises_first_problem_with_location(speech_dir: Path):
    edit(speech_dir / "text", "spk0-utt002 hello world number 2", "spk0-utt002")
    with pytest.raises(DataError, match=r"text:2: spk0-utt002: empty transcript; `alptk data validate"):
        KaldiDir.load(speech_dir)


UTTS = [f"spk{i % 2}-utt{i:03d}" for i in range(6)]  # the speech_dir fixture's
BAD_INPUTS = {  # KaldiDir.load checks whole columns at once, and only on a doubt reads line by line
    "unsorted": lambda d: edit(d / "text", "spk0-utt000 hello", "spk9-utt000 hello"),
    "duplicate": lambda d: edit(d / "utt2spk", "spk0-utt002 spk0\n", "spk0-utt002 spk0\nspk0-utt002 spk0\n"),
    "missing utterance": lambda d: edit(d / "text.fr", "spk1-utt005 bonjour le monde numéro 5\n", ""),
    "empty line": lambda d: edit(d / "text", "spk1-utt003", "\nspk1-utt003"),
    "crlf": lambda d: edit(d / "utt2spk", "spk1-utt003 spk1\n", "spk1-utt003 spk1\r\n"),
    "bad utf-8": lambda d: (d / "text").write_bytes((d / "text").read_bytes().replace(b"number 4", b"n\xffber 4")),
    "unsafe id": lambda d: edit(d / "text.fr", "spk1-utt005", "spk1/utt005"),
    "control character": lambda d: edit(d / "wav.scp", "spk1-utt005", "spk1-utt005\x7f"),
    "two speakers": lambda d: edit(d / "utt2spk", "spk1-utt005 spk1", "spk1-utt005 spk1 spk0"),
    "spk2utt disagrees": lambda d: edit(d / "spk2utt", "spk0-utt000 ", ""),
    "pipe": lambda d: edit(d / "wav.scp", "spk1-utt005.wav\n", "spk1-utt005.wav |\n"),
    "standard input": lambda d: edit(d / "wav.scp", "spk1-utt005.wav\n", "spk1-utt005.wav:-\n"),
    "bad duration": lambda d: write_table(d / "utt2dur", [(u, "0" if u == "spk0-utt004" else "1.5") for u in UTTS]),
}


@pytest.mark.parametrize("bad", BAD_INPUTS)
def test_load_finds_what_validate_finds(speech_dir: Path, bad: str):
    BAD_INPUTS[bad](speech_dir)
    first = validate_dir(speech_dir, check_audio=False)[0]
    with pytest.raises(DataError) as raised:
        KaldiDir.load(speech_dir)
    assert str(raised.value).startswith(first)


def test_load_accepts_what_its_quick_checks_doubt(speech_dir: Path):
    expected = KaldiDir.load(speech_dir).tables
    edit(speech_dir / "spk2utt", "spk0-utt000 spk0-utt002", "spk0-utt002 spk0-utt000")  # another order
    edit(speech_dir / "text", "hello world number 2", "hello\rworld number 2")  # a carriage return inside
    expected["text"]["spk0-utt002"] = "hello\rworld number 2"
    assert KaldiDir.load(speech_dir).tables == expected


# fix ------------------------------------------------------------------------------------------------


def test_fix_repairs_and_reports_every_drop(speech_dir: Path):
    text = lines(speech_dir / "text")
    # unsorted, a duplicate, an empty transcript, and an utterance only text has
    (speech_dir / "text").write_text("\n".join([text[3], text[0], text[0], "spk0-utt002", *text[4:], "zz-extra hi"]))
    (speech_dir / "spk2utt").unlink()
    report = fix_dir(speech_dir)
    assert report.lines() == [
        "text: dropped 3 (1 duplicate id, 1 empty transcript, 1 not in text.fr)",
        "text.fr: dropped 2 (2 not in text)",
        "utt2spk: dropped 2 (2 not in text)",
        "wav.scp: dropped 2 (2 not in text)",
        "kept 4 utterances",
    ]
    assert validate_dir(speech_dir) == []
    assert (speech_dir / ".backup" / "text").read_text().startswith(text[3])


def test_fix_drops_orphan_segments_and_unused_recordings(tmp_path: Path):
    for i in range(2):
        soundfile.write(tmp_path / f"r{i}.wav", speechlike(1.0, 8000, seed=i), 8000)
    (tmp_path / "wav.scp").write_text(f"r0 {tmp_path}/r0.wav\nr1 {tmp_path}/r1.wav\n")
    (tmp_path / "segments").write_text("a r0 0 0.5\nb r9 0 0.5\n")
    (tmp_path / "utt2spk").write_text("a s\nb s\n")
    report = fix_dir(tmp_path)
    assert report.lines() == [
        "segments: dropped 1 (1 recording not in wav.scp)",
        "utt2spk: dropped 1 (1 not in segments)",
        "wav.scp: dropped 1 (1 no segment uses it)",
        "kept 1 utterances",
    ]
    assert validate_dir(tmp_path) == []


# subset, combine, split -----------------------------------------------------------------------------


def test_subset_first_random_and_list(speech_dir: Path, tmp_path: Path):
    assert subset_dir(speech_dir, tmp_path / "first", first=2).utterances == ["spk0-utt000", "spk0-utt002"]
    picked = subset_dir(speech_dir, tmp_path / "rand", random_n=3, seed=7).utterances
    assert len(picked) == 3 and picked == subset_dir(speech_dir, tmp_path / "r2", random_n=3, seed=7).utterances
    (tmp_path / "list").write_text("spk1-utt003\nspk0-utt004 extra columns ignored\n")
    assert subset_dir(speech_dir, tmp_path / "list_dir", utt_list=tmp_path / "list").utterances == [
        "spk0-utt004",
        "spk1-utt003",
    ]
    for name in ("first", "rand", "list_dir"):
        assert validate_dir(tmp_path / name) == []


def test_subset_unknown_utterance(speech_dir: Path, tmp_path: Path):
    (tmp_path / "list").write_text("spk1-utt003\nnope\n")
    with pytest.raises(DataError, match=r"list:2: nope: not in"):
        subset_dir(speech_dir, tmp_path / "out", utt_list=tmp_path / "list")


def test_combine_and_duplicate_ids(tmp_path: Path):
    a = make_speech_dir(tmp_path / "a", n_utts=2)
    b = make_speech_dir(tmp_path / "b", n_utts=4)
    with pytest.raises(DataError, match=r"b/data: spk0-utt000: utterance id also in"):
        combine_dirs([a, b], tmp_path / "both")
    kaldi_b = KaldiDir.load(b)
    renamed = {name: {f"b-{k}": v for k, v in t.items()} for name, t in kaldi_b.tables.items()}
    renamed["utt2spk"] = {k: f"b-{v}" for k, v in renamed["utt2spk"].items()}
    KaldiDir(renamed).save(tmp_path / "b2")
    combined = combine_dirs([a, tmp_path / "b2"], tmp_path / "both")
    assert len(combined.utterances) == 6
    assert validate_dir(tmp_path / "both") == []


def test_combine_needs_the_same_tables(tmp_path: Path):
    a = make_speech_dir(tmp_path / "a", n_utts=2)
    b = make_speech_dir(tmp_path / "b", n_utts=2)
    (b / "text.fr").unlink()
    with pytest.raises(DataError, match=r"has no text\.fr"):
        combine_dirs([a, b], tmp_path / "both")


def test_split_by_speaker_and_by_utterance(tmp_path: Path):
    data = make_speech_dir(tmp_path, n_utts=12, n_speakers=5, seconds=(0.1, 0.2))
    parts = split_dir(data, 3)
    speakers = [set(KaldiDir.load(p).tables["utt2spk"].values()) for p in parts]
    assert all(speakers) and not set.intersection(*speakers)
    assert sorted(u for p in parts for u in KaldiDir.load(p).utterances) == KaldiDir.load(data).utterances
    per_utt = split_dir(data, 5, per_utt=True)
    assert [len(KaldiDir.load(p).utterances) for p in per_utt] == [3, 3, 2, 2, 2]
    assert per_utt[0] == data / "split5utt" / "1"
    with pytest.raises(DataError, match=r"cannot split 5 speakers \(use --per-utt\) into 6 parts"):
        split_dir(data, 6)


def test_split_balances_uneven_speakers(tmp_path: Path):
    tables = {"text": {}, "utt2spk": {}}
    for spk, count in (("a", 10), ("b", 1), ("c", 1), ("d", 4)):
        for i in range(count):
            tables["text"][f"{spk}-{i:02d}"] = "x"
            tables["utt2spk"][f"{spk}-{i:02d}"] = spk
    KaldiDir(tables).save(tmp_path / "d")
    parts = [KaldiDir.load(p) for p in split_dir(tmp_path / "d", 3)]
    assert [len(p.utterances) for p in parts] == [10, 1, 5]  # speaker a alone fills more than a third
    assert [sorted(set(p.tables["utt2spk"].values())) for p in parts] == [["a"], ["b"], ["c", "d"]]
