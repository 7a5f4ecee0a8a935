"""Scoring against hand-computed expectations: error counts and alignments, BLEU/chrF, retrieval recall, MCD."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

from alptk.errors import DataError
from alptk.scoring.metrics import (
    ErrorCounts,
    _dtw_path,
    bleu_chrf,
    error_rates,
    mel_cepstral_distortion,
    normalize_text,
    retrieval_recall,
    write_alignments,
)

# the -> mat and sat -> sit are substitutions, "too" an insertion: 4 correct of 6
CAT_REF, CAT_HYP = "the cat sat on the mat", "the cat sit on mat mat too"
# two -> too, four deleted, seven inserted; the two words between "four" and "seven" keep the alignment unique
NUM_REF, NUM_HYP = "one two three four five six", "one too three five six seven"


def test_word_errors_of_one_utterance():
    report = error_rates({"u1": CAT_REF}, {"u1": CAT_HYP})
    assert report.counts == ErrorCounts(
        sentences=1, units=6, correct=4, substitutions=2, deletions=0, insertions=1, sentence_errors=1
    )
    assert report.counts.error_rate == pytest.approx(50.0)
    assert report.counts.percentages() == pytest.approx(
        {"Corr": 400 / 6, "Sub": 200 / 6, "Del": 0.0, "Ins": 100 / 6, "Err": 50.0, "S.Err": 100.0}
    )


def test_totals_and_sentence_errors_over_utterances():
    refs = {"u1": CAT_REF, "u2": NUM_REF, "u3": "hello world"}
    hyps = {"u3": "hello world", "u1": CAT_HYP, "u2": NUM_HYP}
    counts = error_rates(refs, hyps).counts
    assert counts == ErrorCounts(
        sentences=3, units=14, correct=10, substitutions=3, deletions=1, insertions=2, sentence_errors=2
    )
    assert counts.percentages() == pytest.approx(
        {"Corr": 1000 / 14, "Sub": 300 / 14, "Del": 100 / 14, "Ins": 200 / 14, "Err": 600 / 14, "S.Err": 200 / 3}
    )


def test_alignment_block_marks_columns(tmp_path):
    report = error_rates({"u2": NUM_REF, "u3": "hello world"}, {"u2": NUM_HYP, "u3": "hello world"})
    assert report.alignments[0] == (
        "utt: u2\n"
        "REF:  one two three four five six *****\n"
        "HYP:  one too three **** five six seven\n"
        "EVAL:     S         D             I"
    )
    assert report.alignments[1] == "utt: u3\nREF:  hello world\nHYP:  hello world\nEVAL:"
    write_alignments(tmp_path / "sub" / "result.txt", report)
    assert (tmp_path / "sub" / "result.txt").read_text() == report.alignments[0] + "\n\n" + report.alignments[1] + "\n"


def test_wide_characters_take_two_columns():
    block = error_rates({"u": "你好 世界"}, {"u": "你好世界"}).alignments[0]
    assert block.splitlines()[1:] == ["REF:  你好     世界", "HYP:  你好世界 ****", "EVAL: S        D"]


def test_confusions_most_frequent_first():
    refs = {"a": "the cat sat", "b": "the cat sat", "c": "a big dog", "d": "hi"}
    hyps = {"a": "the bat sat", "b": "the bat sat", "c": "a dog", "d": "hi there"}
    assert error_rates(refs, hyps).confusions == [("cat", "bat", 2), ("", "there", 1), ("big", "", 1)]


def test_char_unit_counts_spaces_as_tokens():
    report = error_rates({"u1": " ab   c", "u2": "cat"}, {"u1": "abc", "u2": "cut"}, unit="char")
    assert report.counts == ErrorCounts(
        sentences=2, units=7, correct=5, substitutions=1, deletions=1, insertions=0, sentence_errors=2
    )
    assert report.counts.error_rate == pytest.approx(200 / 7)
    assert report.alignments[0].splitlines()[1:] == ["REF:  a b <space> c", "HYP:  a b ******* c", "EVAL:     D"]
    assert report.confusions == [("<space>", "", 1), ("a", "u", 1)]


def test_empty_references():
    silent = error_rates({"u": ""}, {"u": ""}).counts
    assert (silent.units, silent.sentence_errors, silent.error_rate) == (0, 0, 0.0)
    inserted = error_rates({"u": ""}, {"u": "x y"}).counts
    assert (inserted.insertions, inserted.sentence_errors, inserted.error_rate) == (2, 1, 0.0)


def test_normalize_text():
    assert normalize_text("Hello, World!") == "hello world"
    assert normalize_text("L'homme « dit » : don’t stop… ‘quoted’ 'tis") == "l'homme dit don't stop quoted tis"
    assert normalize_text("¿Qué? 你好，世界。 well-known") == "qué 你好 世界 well known"
    assert normalize_text("  Keep,  Case ", lowercase=False) == "Keep Case"
    assert normalize_text("  Keep,  Case ", remove_punctuation=False) == "keep, case"
    assert error_rates({"u": "Hello, World!"}, {"u": "hello world"}, normalize=True).counts.error_rate == 0.0
    assert error_rates({"u": "Hello, World!"}, {"u": "hello world"}).counts.substitutions == 2


@pytest.mark.parametrize("score", [error_rates, bleu_chrf])
def test_utterance_mismatch_names_utterance_and_file(score):
    refs = {"u1": "a b", "u2": "c d"}
    with pytest.raises(DataError, match=re.escape("exp/hyp.txt: u2: no hypothesis for this utterance")):
        score(refs, {"u1": "a b"}, hyp_file="exp/hyp.txt")
    with pytest.raises(DataError, match=re.escape("exp/hyp.txt: u3: not in the reference")):
        score(refs, {"u1": "a b", "u2": "c d", "u3": "e"}, hyp_file="exp/hyp.txt")
    with pytest.raises(DataError, match=r"^u2: no hypothesis"):
        score(refs, {"u1": "a b"})
    with pytest.raises(DataError, match="no utterances to score"):
        score({}, {})


def test_bleu_chrf():
    refs = {"u1": "the cat sat on the mat", "u2": "a dog barked at the postman"}
    assert bleu_chrf(refs, dict(refs)) == pytest.approx({"BLEU": 100.0, "chrF": 100.0})
    assert bleu_chrf({"u": "aaa bbb ccc ddd"}, {"u": "xxx yyy zzz www"}) == {"BLEU": 0.0, "chrF": 0.0}
    # all n-gram precisions are 1; half the reference length gives a brevity penalty of exp(1 - 8 / 4)
    prefix = bleu_chrf({"u": "a b c d e f g h"}, {"u": "a b c d"})
    assert prefix["BLEU"] == pytest.approx(100 * math.exp(-1), abs=1e-6)


def test_retrieval_recall_identity_and_clipping():
    eye = torch.eye(4)
    assert retrieval_recall(eye, eye) == {
        "speech2text_R@1": 100.0,
        "speech2text_R@5": 100.0,
        "text2speech_R@1": 100.0,
        "text2speech_R@5": 100.0,
    }


def test_retrieval_recall_with_two_wrong_matches():
    # speech 0 and 1 best match each other's text; their true text scores 0, tied with two other texts
    recall = retrieval_recall(torch.eye(4)[[1, 0, 2, 3]], torch.eye(4), ks=(1, 3, 4, 5))
    for direction in ("speech2text", "text2speech"):
        assert [recall[f"{direction}_R@{k}"] for k in (1, 3, 4, 5)] == [50.0, 50.0, 100.0, 100.0]


def test_retrieval_recall_ties_are_pessimistic():
    speech = torch.eye(4)
    speech[0] = torch.tensor([1.0, 1.0, 0.0, 0.0]) / math.sqrt(2)  # scores texts 0 and 1 equally
    recall = retrieval_recall(speech, torch.eye(4), ks=(1, 2))
    assert recall == {
        "speech2text_R@1": 75.0,
        "speech2text_R@2": 100.0,
        "text2speech_R@1": 100.0,  # text 1 still prefers speech 1 (score 1 > 0.707)
        "text2speech_R@2": 100.0,
    }


MCD_PER_UNIT = 10 / math.log(10) * math.sqrt(2)  # MCD of frames one unit apart in cepstral space


def dct_basis(k: int, n_mels: int = 20) -> np.ndarray:
    """The log-mel (log energy) frame whose cepstrum is the unit vector on coefficient k (k > 0): half of it is the
    log amplitude, and the n_mels / 2 of sum cos^2 over the mel axis divides by n_mels in the cepstrum."""
    return 4 * np.cos(np.pi * (np.arange(n_mels) + 0.5) * k / n_mels)


@pytest.fixture
def log_mel() -> np.ndarray:
    return 5 * np.random.default_rng(0).standard_normal((30, 20))


def test_mcd_zero_for_identical_stretched_and_energy_shifted(log_mel):
    assert mel_cepstral_distortion(log_mel, log_mel) == 0.0
    assert mel_cepstral_distortion(log_mel, np.repeat(log_mel, 2, axis=0)) == pytest.approx(0.0, abs=1e-9)
    # c0 (energy) and coefficients beyond the 13 kept do not count
    assert mel_cepstral_distortion(log_mel, log_mel + 3.0 + 2 * dct_basis(15)) == pytest.approx(0.0, abs=1e-9)


def test_mcd_constant_cepstral_offset(log_mel):
    assert mel_cepstral_distortion(log_mel, log_mel + 0.5 * dct_basis(3)) == pytest.approx(0.5 * MCD_PER_UNIT)
    assert mel_cepstral_distortion(log_mel, log_mel + 0.5 * dct_basis(3), coefficients=2) == pytest.approx(0.0)


def test_mcd_dtw_by_hand():
    # c1 sequences [0, 1, 2] and [0, 2]: the best path pairs (0,0), (1,0) or (1,1), (2,1) at distances 0, 1, 0
    reference, synthesized = np.outer([0, 1, 2], dct_basis(1)), np.outer([0, 2], dct_basis(1))
    assert mel_cepstral_distortion(reference, synthesized) == pytest.approx(MCD_PER_UNIT / 3)


def test_dtw_path_is_optimal():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((9, 3)), rng.standard_normal((6, 3))
    cost = np.linalg.norm(a[:, None] - b[None], axis=-1)
    acc = np.full((10, 7), np.inf)
    acc[0, 0] = 0
    for i in range(9):
        for j in range(6):
            acc[i + 1, j + 1] = cost[i, j] + min(acc[i, j], acc[i, j + 1], acc[i + 1, j])
    rows, cols = _dtw_path(a, b)
    steps = set(zip(np.diff(rows), np.diff(cols), strict=True))
    assert (rows[0], cols[0], rows[-1], cols[-1]) == (0, 0, 8, 5)
    assert steps <= {(1, 0), (0, 1), (1, 1)}
    assert cost[rows, cols].sum() == pytest.approx(acc[9, 6])


def test_mcd_rejects_mismatched_features(log_mel):
    with pytest.raises(DataError, match="reference has 20 mel bins but the synthesized speech has 19"):
        mel_cepstral_distortion(log_mel, log_mel[:, :19])
    with pytest.raises(DataError, match="synthesized features must be a non-empty"):
        mel_cepstral_distortion(log_mel, log_mel[:0])
