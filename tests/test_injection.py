"""Nothing runs unless the user said so: for every table naming data and every command reading it, values that
would create a marker file if a shell ran them are refused in one line (``file:line: utterance``, exit 2) and the
marker never appears; ``--allow-pipes`` runs real pipes. Ids unsafe as file names, CRLF and non-UTF-8 lines,
directories and non-audio files in ``wav.scp`` and truncated arks are each reported in one line too."""

from __future__ import annotations

import os
import pickle
import subprocess
from pathlib import Path

import kaldiio
import numpy as np
import pytest
import soundfile
import torch
import yaml

from alptk.data.audio import read_audio
from alptk.data.datasets import SpeechDataset
from alptk.data.kaldi_dir import KaldiDir, fix_dir, validate_dir
from alptk.data.sources import PIPE_HINT, parse_value, pipe_problem, read_matrix
from alptk.data.table import id_path, read_table
from alptk.data.tokenizer import train_tokenizer
from alptk.errors import DataError
from alptk.inference.decode import DecodeOptions
from alptk.tasks.evaluate import decode_dir
from alptk.train.config import load_train_config
from alptk.train.trainer import Runtime, Trainer
from tests.conftest import FRAMES, make_feature_dir, make_speech_dir, speechlike
from tests.test_cli import ALPTK
from tests.test_train import MODEL_OPTIONS

pytestmark = pytest.mark.faults

# Values a shell would run, each touching the marker ``{m}``: pipes at either end, with spaces and tabs around
# them, and pipes that readers find once they split off ``:offset`` or ``[range]``.
FORMS = {
    "leading": "| touch {m} x.ark:0",
    "trailing": "touch {m} |",
    "spaces": "   touch {m} |   ",
    "tabs": "\ttouch {m}\t|\t",
    "leading-tab": "|\ttouch {m}",
    "ark-offset": "touch {m} |:0",
    "ark-range": "touch {m} |[0:1]",
}
# commands that import torch take seconds to start: they get one form of each kind (all go through the same check)
SOME_FORMS = ["leading-tab", "tabs", "ark-offset"]


def alptk(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    """The real command, in ``cwd`` (where a shell would run a value's command), killed if it hangs."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([ALPTK, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env, timeout=180)


def poison(table: Path, form: str, marker: Path) -> str:
    """Give the first line of ``table`` a value of the form ``form``; returns where it is (``table:1: key``)."""
    lines = table.read_text().splitlines(keepends=True)
    key = lines[0].split()[0]
    separator = "" if form.startswith(("\t", " ")) else " "
    table.write_text(f"{key}{separator}{FORMS[form].format(m=marker)}\n" + "".join(lines[1:]))
    return f"{table}:1: {key}"


def assert_refused(result: subprocess.CompletedProcess, marker: Path, where: str) -> None:
    """Nothing ran, exit status 2, and one line on stderr locating the value and saying how to allow it."""
    assert not marker.exists(), "the shell command ran"
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {where}: '") and lines[0].endswith(f"; {PIPE_HINT}")


def make_segments_dir(root: Path) -> Path:
    """A directory whose utterances are segments of one recording (``rec``, line 1 of ``wav.scp``)."""
    root.mkdir(parents=True)
    soundfile.write(root / "rec.wav", speechlike(2.0, 16000, seed=4), 16000)
    tables = {
        "wav.scp": {"rec": str(root / "rec.wav")},
        "segments": {"rec-1": "rec 0.00 0.80", "rec-2": "rec 1.00 1.90"},
        "utt2spk": {"rec-1": "rec", "rec-2": "rec"},
        "text": {"rec-1": "one", "rec-2": "two"},
    }
    KaldiDir(tables).save(root / "data")
    return root / "data"


# the pipe check itself -----------------------------------------------------------------------------


@pytest.mark.parametrize("form", FORMS)
def test_every_form_is_a_pipe(form: str):
    assert pipe_problem(FORMS[form].format(m="M").strip()) is not None


@pytest.mark.parametrize("value", ["-", "-:0", " - ", "-[0:1]"])
def test_standard_input_is_a_pipe(value: str):
    assert "reads standard input" in pipe_problem(value)


@pytest.mark.parametrize("value", ["a.wav", "x.ark:12", "x.ark:12[0:3,1:2]", "a|b.wav", "sp0.9-a-b.flac", "[1].wav"])
def test_plain_values_are_not_pipes(value: str):
    assert pipe_problem(value) is None and not parse_value(value).pipe


def test_kaldiio_never_gets_a_string_to_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    matrix = np.arange(12, dtype=np.float32).reshape(4, 3)
    with kaldiio.WriteHelper(f"ark,scp:{tmp_path}/f.ark,{tmp_path}/f.scp") as writer:
        writer("u", matrix)
    location = (tmp_path / "f.scp").read_text().split()[1]

    def refuse(*args, **kwargs):
        raise AssertionError("kaldiio was asked to open a value")

    for name in ("open_like_kaldi", "load_mat"):
        monkeypatch.setattr(kaldiio.matio, name, refuse)
        monkeypatch.setattr(kaldiio, name, refuse, raising=False)
    assert np.array_equal(read_matrix(location), matrix)
    assert np.array_equal(read_matrix(f"{location}[1:2,0:1]"), matrix[1:3, 0:2])
    piped = f"cat {tmp_path}/f.ark |:{location.rsplit(':', 1)[1]}"
    assert np.array_equal(read_matrix(piped, allow_pipes=True), matrix)


def test_pickle_in_an_ark_is_refused(tmp_path: Path):
    class Touch:
        def __reduce__(self):
            return (Path.touch, (tmp_path / "M",))

    (tmp_path / "p.ark").write_bytes(b"u PKL" + pickle.dumps(Touch()))
    with pytest.raises(DataError, match=r"pickled Python object at byte 2 of .* could run code when loaded: refused"):
        read_matrix(f"{tmp_path}/p.ark:2")
    assert not (tmp_path / "M").exists()


# every table, every command ------------------------------------------------------------------------


@pytest.mark.parametrize("form", FORMS)
def test_validate_refuses_pipes_in_every_data_table(tmp_path: Path, form: str):
    marker = tmp_path / "M"
    tables = [
        make_speech_dir(tmp_path / "speech", n_utts=2) / "wav.scp",
        make_segments_dir(tmp_path / "segments") / "wav.scp",
        make_feature_dir(tmp_path / "feats", 2, seed=0) / "feats.scp",
    ]
    for table in tables:
        where = poison(table, form, marker)
        result = alptk("data", "validate", table.parent, cwd=tmp_path)
        assert not marker.exists() and result.returncode == 2
        assert result.stderr.strip() == f"error: {table.parent}: 1 problem"
        [problem] = result.stdout.splitlines()
        assert problem.startswith(f"{where}: '") and "is a Kaldi pipe, which runs a shell command" in problem


@pytest.mark.parametrize(
    ("command", "form"), [(("data", "format"), f) for f in FORMS] + [(("features", "fbank"), f) for f in SOME_FORMS]
)
@pytest.mark.parametrize("layout", ["wav.scp", "segments"])
def test_audio_commands_refuse_pipes(tmp_path: Path, command: tuple[str, str], layout: str, form: str):
    data = make_speech_dir(tmp_path / "in", n_utts=2) if layout == "wav.scp" else make_segments_dir(tmp_path / "in")
    where = poison(data / "wav.scp", form, tmp_path / "M")
    result = alptk(*command, data, tmp_path / "out", cwd=tmp_path)
    assert_refused(result, tmp_path / "M", where)
    assert not (tmp_path / "out" / "wav.scp").exists() and not (tmp_path / "out" / "feats.scp").exists()


@pytest.fixture(scope="module")
def experiment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny ASR experiment (2 updates) and its decoding of a clean test set: ``exp``, ``test``, ``decode``."""
    root = tmp_path_factory.mktemp("injection")
    make_feature_dir(root / "train", 4, seed=0)
    make_feature_dir(root / "test", 2, seed=1)
    train_tokenizer([root / "train"], root / "tok", "char", 40, symbols=["<mask>"])
    config = {
        "task": "asr",
        "model_options": MODEL_OPTIONS,
        "tokenizer": str(root / "tok"),
        "streams": {"paired": {"kind": "paired", "data": [str(root / "train")], "max_frames": 4 * FRAMES}},
        "objectives": {"asr": {"type": "s2t", "stream": "paired"}},
        "max_steps": 2,
        "num_workers": 0,
    }
    (root / "asr.yaml").write_text(yaml.safe_dump(config))
    trainer = Trainer(load_train_config(root / "asr.yaml"), root / "exp", Runtime(0, 1, torch.device("cpu")))
    trainer.resume(restart=False)
    trainer.run()
    decode_dir(root / "exp", root / "test", root / "decode", DecodeOptions(beam=1), "cpu")
    return root


def training_config(path: Path, root: Path, data: Path, **changes) -> Path:
    """A pre-training config at ``path`` over ``data``'s features (a paired stream, read by a worker process)."""
    config = {
        "model_options": MODEL_OPTIONS,
        "tokenizer": str(root / "tok"),
        "streams": {"paired": {"kind": "paired", "data": [str(data)], "max_frames": 4 * FRAMES}},
        "objectives": {"stm": {"stream": "paired"}},
        "max_steps": 2,
        "num_workers": 1,
        **changes,
    }
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize(
    ("command", "form"), [("score", f) for f in FORMS] + [(c, f) for c in ("pretrain", "decode") for f in SOME_FORMS]
)
def test_feature_commands_refuse_pipes(experiment: Path, tmp_path: Path, command: str, form: str):
    data = make_feature_dir(tmp_path / "data", 2, seed=2)
    where = poison(data / "feats.scp", form, tmp_path / "M")
    if command == "pretrain":
        config = training_config(tmp_path / "train.yaml", experiment, data)
        result = alptk("pretrain", "--config", config, "--exp", tmp_path / "exp", "--device", "cpu", cwd=tmp_path)
    elif command == "decode":
        result = alptk(*decode_args(experiment, data, tmp_path / "out"), cwd=tmp_path)
    else:
        result = alptk("score", experiment / "decode", "--ref", data, cwd=tmp_path)
    assert_refused(result, tmp_path / "M", where)


def decode_args(experiment: Path, data: Path, out: Path) -> tuple:
    return ("decode", "--exp", experiment / "exp", "--data", data, "--out", out, "--beam", "1", "--device", "cpu")


@pytest.mark.parametrize("form", SOME_FORMS)
@pytest.mark.parametrize("command", ["pretrain", "kmeans"])
def test_cmvn_path_refuses_pipes(experiment: Path, tmp_path: Path, command: str, form: str):
    marker = tmp_path / "M"
    value = FORMS[form].format(m=marker)
    if command == "pretrain":
        config = training_config(tmp_path / "train.yaml", experiment, experiment / "train", cmvn=value)
        result = alptk("pretrain", "--config", config, "--exp", tmp_path / "exp", "--device", "cpu", cwd=tmp_path)
    else:
        out = tmp_path / "c.safetensors"
        result = alptk("features", "kmeans", experiment / "train", "--out", out, "--cmvn", value, cwd=tmp_path)
    assert_refused(result, marker, "CMVN statistics")


# what --allow-pipes allows -------------------------------------------------------------------------


def test_allow_pipes_runs_a_real_pipe(tmp_path: Path):
    data = make_speech_dir(tmp_path / "in", n_utts=2)
    wav = KaldiDir.load(data).tables["wav.scp"]["spk0-utt000"]
    scp = (data / "wav.scp").read_text()
    (data / "wav.scp").write_text(scp.replace(f" {wav}\n", f" touch {tmp_path}/M; cat {wav} |\n"))
    assert alptk("data", "validate", data, cwd=tmp_path).returncode == 2 and not (tmp_path / "M").exists()
    result = alptk("data", "format", data, tmp_path / "out", "--allow-pipes", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "M").exists(), "the allowed pipe did not run"
    formatted, _ = soundfile.read(KaldiDir.load(tmp_path / "out").tables["wav.scp"]["spk0-utt000"], dtype="float32")
    assert np.array_equal(formatted, read_audio(wav)[0][:, 0])
    assert alptk("data", "validate", data, "--allow-pipes", cwd=tmp_path).returncode == 0


def test_decode_allow_pipes_reads_piped_arks(experiment: Path, tmp_path: Path):
    data = tmp_path / "test"
    tables = KaldiDir.load(experiment / "test").tables
    piped = {utt: "cat {} |:{}".format(*value.rsplit(":", 1)) for utt, value in tables["feats.scp"].items()}
    KaldiDir({**tables, "feats.scp": piped}).save(data)
    refused = alptk(*decode_args(experiment, data, tmp_path / "refused"), cwd=tmp_path)
    assert refused.returncode == 2 and refused.stderr.startswith(f"error: {data}/feats.scp:1: spk0-utt000: 'cat ")
    result = alptk(*decode_args(experiment, data, tmp_path / "decode"), "--allow-pipes", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "decode" / "text").read_text() == (experiment / "decode" / "text").read_text()


# ids that would become other files -----------------------------------------------------------------

UNSAFE_IDS = {
    "slash": ("a/b", "id contains '/' or '..'"),
    "parent": ("..x", "id contains '/' or '..'"),
    "option": ("-rf", "id starts with '-'"),
    "control": ("a\x07b", "id contains a control character ('a\\x07b')"),
    "nul": ("a\x00b", "id contains a control character ('a\\x00b')"),
}


def write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("".join(f"{line}\n" for line in lines))


@pytest.mark.parametrize("kind", UNSAFE_IDS)
@pytest.mark.parametrize("role", ["utterance", "speaker", "recording"])
def test_validate_refuses_unsafe_ids(tmp_path: Path, role: str, kind: str):
    bad, reason = UNSAFE_IDS[kind]
    utt, spk, rec = (bad if role == r else f"{r}1" for r in ("utterance", "speaker", "recording"))
    write_lines(tmp_path / "text", [f"{utt} hello"])
    write_lines(tmp_path / "utt2spk", [f"{utt} {spk}"])
    write_lines(tmp_path / "spk2utt", [f"{spk} {utt}"])
    write_lines(tmp_path / "segments", [f"{utt} {rec} 0 1"])
    write_lines(tmp_path / "wav.scp", [f"{rec} {tmp_path}/rec.wav"])
    expected = {
        "utterance": ["segments", "spk2utt", "text", "utt2spk"],
        "speaker": ["spk2utt", "utt2spk"],
        "recording": ["segments", "wav.scp"],
    }[role]
    problems = validate_dir(tmp_path, check_audio=False)
    assert sorted(problem.split(":")[0].rsplit("/", 1)[1] for problem in problems) == expected, problems
    key = {"segments": utt, "spk2utt": spk, "text": utt, "utt2spk": utt, "wav.scp": rec}
    for problem in problems:
        name = problem.split(":")[0].rsplit("/", 1)[1]
        assert problem.startswith(f"{tmp_path}/{name}:1: {key[name]}: {reason}"), problem


def test_format_builds_no_path_from_an_unsafe_id(tmp_path: Path):
    data = make_speech_dir(tmp_path / "in", n_utts=2)
    tables = KaldiDir.load(data).tables
    renamed = {name: {"../../escaped": next(iter(t.values()))} for name, t in tables.items()}
    renamed["utt2spk"] = {"../../escaped": "spk0"}
    KaldiDir(renamed).save(data)
    result = alptk("data", "format", data, tmp_path / "out", cwd=tmp_path)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith(f"error: {data}/spk2utt:1: spk0: id contains '/' or '..'")
    assert not list(tmp_path.rglob("escaped*"))


def test_id_path_checks_the_id(tmp_path: Path):
    assert id_path(tmp_path, "spk0-utt1", ".wav") == tmp_path / "spk0-utt1.wav"
    for bad, reason in UNSAFE_IDS.values():
        with pytest.raises(DataError, match=reason.split(" (")[0]):
            id_path(tmp_path, bad, ".wav")


# lines, files and arks that cannot be read ---------------------------------------------------------


def test_crlf_line_is_reported_then_fixed(speech_dir: Path):
    text = (speech_dir / "text").read_bytes().splitlines(keepends=True)
    (speech_dir / "text").write_bytes(b"".join([text[0], text[1].replace(b"\n", b"\r\n"), *text[2:]]))
    with pytest.raises(DataError, match=r"text:2: Windows \(CRLF\) line ending; convert with dos2unix"):
        read_table(speech_dir / "text")
    crlf = "Windows (CRLF) line ending; convert with dos2unix or alptk data fix"
    assert validate_dir(speech_dir) == [f"{speech_dir}/text:2: {crlf}"]
    report = fix_dir(speech_dir)
    assert report.lines() == ["text: converted 1 Windows (CRLF) line endings", "kept 6 utterances"]
    assert b"\r" not in (speech_dir / "text").read_bytes() and validate_dir(speech_dir) == []


@pytest.mark.parametrize(
    "fault",
    [
        (b"spk0-utt002 hello world number 2\n", b"spk0-utt002 hello world number 2\r\n", "text:2: Windows (CRLF)"),
        (b"number 2\n", b"num\xffber 2\n", "text:2: not valid UTF-8 (byte 28)"),
    ],
    ids=["crlf", "non-utf8"],
)
def test_bad_table_line_is_one_line_error(tmp_path: Path, fault: tuple[bytes, bytes, str]):
    data = make_speech_dir(tmp_path / "in", n_utts=3)
    old, new, message = fault
    (data / "text").write_bytes((data / "text").read_bytes().replace(old, new))
    result = alptk("data", "format", data, tmp_path / "out", cwd=tmp_path)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {data}/{message}")


@pytest.mark.parametrize("target", ["directory", "non-audio"])
def test_wav_scp_naming_a_directory_or_a_non_audio_file(tmp_path: Path, target: str):
    data = make_speech_dir(tmp_path / "in", n_utts=2)
    wav = Path(KaldiDir.load(data).tables["wav.scp"]["spk0-utt000"])
    wav.unlink()
    if target == "directory":
        wav.mkdir()
        reason = f"'{wav}' is a directory, not a file"
    else:
        wav.write_text("just some text\n")
        reason = f"cannot read audio '{wav}': not an audio file soundfile can read ("
    assert validate_dir(data)[0].startswith(f"{data}/wav.scp:1: spk0-utt000: {reason}")
    for command in (("data", "format"), ("features", "fbank")):
        result = alptk(*command, data, tmp_path / command[0], cwd=tmp_path)
        assert result.returncode == 2
        [line] = result.stderr.strip().splitlines()
        assert line.startswith(f"error: {data}/wav.scp: spk0-utt000: {reason}")


@pytest.fixture
def truncated(tmp_path: Path) -> tuple[Path, str]:
    """A feature directory whose ark lost its last 100 bytes, and the utterance whose entry was cut."""
    data = make_feature_dir(tmp_path / "data", 4, seed=3)
    ark = data / "feats.ark"
    os.truncate(ark, ark.stat().st_size - 100)
    last = KaldiDir.load(data).utterances[-1]
    return data, last


def test_truncated_ark_is_located_by_validate(truncated: tuple[Path, str]):
    data, last = truncated
    [problem] = validate_dir(data)
    assert problem.startswith(f"{data}/feats.scp:4: {last}: cannot read features: truncated or corrupt ark entry")
    with pytest.raises(DataError, match=rf"feats.scp: {last}: truncated or corrupt ark entry at byte \d+ of"):
        SpeechDataset(data)[3]


@pytest.mark.parametrize("command", ["pretrain", "decode"])
def test_truncated_ark_ends_training_and_decoding_in_one_line(
    experiment: Path, truncated: tuple[Path, str], tmp_path: Path, command: str
):
    data, last = truncated
    if command == "pretrain":
        config = training_config(tmp_path / "train.yaml", experiment, data)
        result = alptk("pretrain", "--config", config, "--exp", tmp_path / "exp", "--device", "cpu", cwd=tmp_path)
    else:
        result = alptk(*decode_args(experiment, data, tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {data}/feats.scp: {last}: truncated or corrupt ark entry at byte ")
