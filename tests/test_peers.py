"""benchmarks/peers: the figures report.py reads from each side's logs (ESPnet2's train.log in its own format,
``/usr/bin/time -v``, alptk's metrics), WER/CER, which results a rerun keeps, and the ratios table; no ESPnet2
needed. The scripts parse (``bash -n``) and refuse a bad --steps in one line."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from benchmarks.peers import report
from tests.conftest import REPO

PEERS = REPO / "benchmarks" / "peers"
# lines of a real ESPnet2 202511 train.log (log_interval 10), the first with the ", " it drops before optim_step_time
ESPNET_LOG = """\
[vm] 2026-12-04 20:51:02,140 (abs_task:1886) INFO: [train] mini-batch sizes summary: N-batch=22, mean=54.5, \
min=9, max=93
[vm] 2026-12-04 20:51:02,144 (abs_task:1886) INFO: [valid] mini-batch sizes summary: N-batch=3, mean=50.0, \
min=39, max=60
[vm] 2026-12-04 20:53:17,092 (trainer:811) INFO: 1epoch:train:1-10batch: iter_time=0.016, forward_time=2.735, \
loss_ctc=121.446, loss_att=111.522, acc=0.035, loss=114.500, backward_time=2.858, grad_norm=88.984, clip=100.000, \
loss_scale=1.000optim_step_time=0.048, optim0_lr0=4.333e-05, train_time=5.704
[vm] 2026-12-04 20:54:01,310 (trainer:811) INFO: 1epoch:train:11-20batch: iter_time=0.002, forward_time=2.101, \
loss_ctc=98.123, loss_att=90.001, acc=0.101, loss=92.437, backward_time=2.200, grad_norm=40.112, clip=100.000, \
loss_scale=1.000, optim_step_time=0.040, optim0_lr0=1.000e-04, train_time=4.000
[vm] 2026-12-04 20:54:20,001 (trainer:811) INFO: 2epoch:train:1-10batch: iter_time=0.150, forward_time=2.000, \
loss_ctc=80.000, loss_att=70.000, acc=0.201, loss=73.000, backward_time=2.100, grad_norm=30.000, clip=100.000, \
loss_scale=1.000, optim_step_time=0.041, optim0_lr0=1.500e-04, train_time=5.000
[vm] 2026-12-04 20:54:40,001 (trainer:365) INFO: 2epoch results: [train] iter_time=0.056, forward_time=2.279, \
train_time=4.901, time=2 minutes and 27.1 seconds, total_count=30, [valid] loss=70.123, acc=0.210, time=9.1 seconds
"""
TIME_V = """\
\tCommand being timed: "python -m espnet2.bin.asr_train"
\tElapsed (wall clock) time (h:mm:ss or m:ss): {wall}
\tMaximum resident set size (kbytes): {kbytes}
\tExit status: 0
"""


def time_log(wall: str = "2:03.50", kbytes: int = 3_750_000) -> str:
    return TIME_V.format(wall=wall, kbytes=kbytes)


def test_time_v_report_gives_wall_seconds_and_peak_rss():
    assert report.parse_time_v(time_log("2:03.50", 3_750_000)) == {"wall_seconds": 123.5, "peak_rss_gb": 3.84}
    assert report.parse_time_v(time_log("1:02:03", 1000))["wall_seconds"] == 3723
    with pytest.raises(report.ReportError, match=r"x\.log: no /usr/bin/time -v report"):
        report.parse_time_v("Traceback ...\n", "x.log")


def test_espnet_train_log_windows_and_figures():
    assert report.espnet_windows(ESPNET_LOG) == [(10, 5.704), (10, 4.0), (10, 5.0)]
    train_audio = 22 * 110.0  # seconds: 110 s per batch on average
    got = report.espnet_training(ESPNET_LOG + time_log(), train_audio)
    assert got["updates"] == 30
    assert got["seconds_per_update"] == pytest.approx((5.704 + 4.0 + 5.0) / 3, abs=1e-4)  # every update
    assert got["audio_seconds_per_update"] == 110.0
    assert got["audio_s_per_s"] == pytest.approx(110.0 / 4.5, abs=0.01)  # after the first window
    assert got["peak_rss_gb"] == 3.84
    with pytest.raises(report.ReportError, match="2 or more log windows"):
        report.espnet_training(ESPNET_LOG.splitlines()[2] + "\n" + time_log(), train_audio)


def write_alptk_exp(exp: Path) -> None:
    exp.mkdir()
    rows = [
        {"step": 10, "lr": 1e-4, "audio_s_per_s": 20.0, "padding": 0.5, "text_padding": 0.5},  # warm-up: left out
        {"step": 20, "lr": 2e-4, "audio_s_per_s": 60.0, "padding": 0.06, "text_padding": 0.2},
        {"step": 20, "split": "valid", "loss": 3.0},
        {"step": 30, "lr": 3e-4, "audio_s_per_s": 70.0, "padding": 0.08, "text_padding": 0.3},
    ]
    (exp / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (exp / "summary.yaml").write_text(yaml.safe_dump({"steps": 30, "train_seconds": 60.0}))


def test_alptk_training_figures_leave_out_the_first_window(tmp_path):
    write_alptk_exp(tmp_path / "exp")
    (tmp_path / "train.log").write_text("training...\n" + time_log("0:55.00", 2_000_000))
    got = report.alptk_training(tmp_path / "exp", tmp_path / "train.log")
    assert got == {
        "updates": 30,
        "seconds_per_update": 2.0,
        "audio_s_per_s": 65.0,
        "padding": 0.07,
        "text_padding": 0.25,
        "wall_seconds": 55.0,
        "peak_rss_gb": 2.048,
    }


def test_wer_and_cer_normalize_both_sides_alike():
    refs = {"u1": "I like the water.", "u2": "the bus"}
    hyps = {"u1": "i like a water", "u2": "The Bus!"}
    # words: 1 substitution in 6; characters: "the" -> "a" is 1 substitution + 2 deletions in 16 + 7 characters
    assert report.score(refs, hyps) == {"wer": round(100 / 6, 2), "cer": round(300 / 23, 2)}


def test_decoding_figures(tmp_path):
    data, decode = tmp_path / "test100", tmp_path / "decode"
    data.mkdir()
    decode.mkdir()
    (data / "text").write_text("u1 i like the water\nu2 the bus\n")
    (data / "utt2dur").write_text("u1 3.0\nu2 2.0\n")
    (decode / "text").write_text("u1 i like the water\nu2 the bus\n")
    (decode / "decode.yaml").write_text(yaml.safe_dump({"decode_seconds": 0.5, "audio_seconds": 4.9}))
    (tmp_path / "decode.log").write_text(time_log("0:02.00", 500_000))
    got = report.decoding(decode, tmp_path / "decode.log", data)
    assert got["audio_seconds"] == 5.0  # utt2dur's, the same on both sides
    assert (got["rtf_whole"], got["rtf_search"], got["wer"], got["cer"]) == (0.4, 0.1, 0.0, 0.0)
    (decode / "text").write_text("u1 i like the water\n")
    with pytest.raises(Exception, match="no hypothesis for this utterance"):
        report.decoding(decode, tmp_path / "decode.log", data)


FIGURES = {
    "espnet_train": {"updates": 300, "seconds_per_update": 2.4, "audio_s_per_s": 48.0, "peak_rss_gb": 3.84},
    "alptk_train": {"updates": 300, "seconds_per_update": 1.6, "audio_s_per_s": 60.0, "padding": 0.031,
                    "text_padding": 0.25, "peak_rss_gb": 2.56},
    "espnet_greedy": {"rtf_whole": 0.2, "rtf_search": 0.1, "wer": 70.0, "cer": 26.0},
    "alptk_greedy": {"rtf_whole": 0.04, "rtf_search": 0.02, "wer": 56.0, "cer": 24.0},
    "espnet_beam10": {"rtf_whole": 0.32, "rtf_search": 0.25, "wer": 68.0, "cer": 25.0},
    "alptk_beam10": {"rtf_whole": 0.04, "rtf_search": 0.025, "wer": 51.0, "cer": 20.0},
    "alptk_wall": {"updates": 450, "wer": 34.0, "cer": 15.0},
}  # fmt: skip


def write_parts(work: Path, parts: dict[str, dict], steps: int = 300) -> None:
    (work / "parts").mkdir(parents=True, exist_ok=True)
    for name, part in {"data": {}, "espnet_stats": {}, **parts}.items():
        tag = {} if name in ("data", "espnet_stats") else {"steps": steps}
        (work / "parts" / f"{name}.json").write_text(json.dumps({**tag, "phase_seconds": 7, **part}))


def test_table_of_ratios(tmp_path):
    write_parts(tmp_path, FIGURES)
    assert report.wall_updates(report.load_parts(tmp_path)) == 450  # 300 updates x 2.4 s / 1.6 s
    assert report.main(["table", str(tmp_path), "--steps", "300"]) == 0
    figures = json.loads((tmp_path / "figures.json").read_text())
    assert figures["alptk"]["wall"] == {"updates": 450, "wer": 34.0, "cer": 15.0}
    assert figures["phase_seconds"]["espnet_stats"] == 7
    rows = {
        line.split(" | ")[0][2:]: line.split(" | ")[1:] for line in (tmp_path / "table.md").read_text().splitlines()
    }
    assert rows["training throughput (audio s per wall s)"] == ["48.0", "60.0", "1.25x |"]
    assert rows["seconds per update (mean of 300)"] == ["2.40", "1.60", "0.67x (1.5x faster) |"]
    assert rows["padding in batches: speech frames"] == ["", "3.1 %", " |"]
    assert rows["padding in batches: text tokens"] == ["", "25.0 %", " |"]
    assert rows["peak RSS, training (GB)"] == ["3.84", "2.56", "0.67x |"]
    assert rows["beam 10 RTF, whole process"] == ["0.3200", "0.0400", "0.12x (8.0x faster) |"]
    assert rows["greedy RTF, search only"] == ["0.1000", "0.0200", "0.20x (5.0x faster) |"]
    assert rows["WER / CER, beam 10, after 300 updates each"] == ["68.0 / 25.0", "51.0 / 20.0", "0.75x / 0.80x |"]
    same_time = rows["WER / CER, beam 10, after the same training time (updates)"]
    assert same_time == ["68.0 / 25.0 (300)", "34.0 / 15.0 (450)", "0.50x / 0.60x |"]
    assert len(rows) == 2 + 12  # header, rule and 12 figures


def test_table_says_when_alptk_has_no_same_time_figure(tmp_path):
    write_parts(tmp_path, {**FIGURES, "alptk_wall": {"updates": 200}})
    report.main(["table", str(tmp_path), "--steps", "300"])
    assert "| 68.0 / 25.0 (300) | not measured (200) |  |" in (tmp_path / "table.md").read_text()
    report.main(["table", str(tmp_path), "--steps", "300", "--espnet-reused"])
    assert (tmp_path / "table.md").read_text().startswith("| figure | ESPnet2 (reused: an earlier run's) | alptk |")


def test_rerun_keeps_what_it_may(tmp_path):
    def kept(steps: int, keep_espnet: bool = False) -> list[str]:
        report.prune(tmp_path, steps, keep_espnet)
        return sorted(p.stem for p in (tmp_path / "parts").glob("*.json"))

    interrupted = {k: v for k, v in FIGURES.items() if k != "alptk_wall"}
    write_parts(tmp_path, interrupted)
    assert kept(300) == sorted(["data", "espnet_stats", *interrupted])  # an interrupted run goes on
    assert kept(600) == ["data", "espnet_stats"]  # other steps: the data phases only
    write_parts(tmp_path, FIGURES)
    (tmp_path / "figures.json").write_text("{}")  # a finished run: afresh, but ESPnet2's with --skip-espnet
    assert kept(300, keep_espnet=True) == ["espnet_beam10", "espnet_greedy", "espnet_stats", "espnet_train"]
    assert not (tmp_path / "figures.json").exists()
    write_parts(tmp_path, FIGURES)
    (tmp_path / "figures.json").write_text("{}")
    assert kept(300) == []


def test_missing_result_is_one_line(tmp_path, capsys):
    assert report.main(["alptk-train", str(tmp_path / "exp"), "--time-log", str(tmp_path / "x.log"), "--out",
                        str(tmp_path / "f.json")]) == 1  # fmt: skip
    assert capsys.readouterr().err == f"report.py: {tmp_path / 'exp' / 'metrics.jsonl'}: missing\n"


def test_scripts_parse_and_refuse_bad_steps(tmp_path):
    for script in ("run.sh", "setup_espnet.sh"):
        subprocess.run(["bash", "-n", str(PEERS / script)], check=True)
    bad = subprocess.run(["bash", str(PEERS / "run.sh"), "--steps", "90", "--work", str(tmp_path)],
                         capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 1
    assert bad.stderr == "benchmarks/peers/run.sh: --steps 90: give at most 60, or a multiple of 60\n"
    usage = subprocess.run(["bash", str(PEERS / "run.sh"), "--help"], capture_output=True, text=True, check=True)
    assert usage.stdout.startswith("alptk against ESPnet2")
