"""Scoring: word/character error rates with sclite-like alignments, BLEU/chrF, retrieval recall and mel cepstral
distortion."""

from __future__ import annotations

import math
import unicodedata
from collections import Counter
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path
from typing import Literal

import jiwer
import numpy as np
import sacrebleu

from alptk.errors import DataError
from alptk.files import write_text

SPACE = "<space>"  # how a space between words is spelled as a character token
_APOSTROPHES = "'’"
_MARKS = {"equal": "", "substitute": "S", "delete": "D", "insert": "I"}
_PRETOKENIZED = jiwer.Compose([])  # jiwer transform that keeps our own token lists
_LABEL_WIDTH = len("EVAL: ")
_DB = 10 / math.log(10)


def _percent(count: int, total: int) -> float:
    return 100 * count / total if total else 0.0


@dataclass
class ErrorCounts:
    """Edit-distance totals over a set of utterances, in words or characters."""

    sentences: int
    units: int  # reference words or characters
    correct: int
    substitutions: int
    deletions: int
    insertions: int
    sentence_errors: int  # utterances with at least one error

    @property
    def error_rate(self) -> float:
        """(S + D + I) / reference units, in percent; 0 when there are no reference units."""
        return _percent(self.substitutions + self.deletions + self.insertions, self.units)

    def percentages(self) -> dict[str, float]:
        """sclite's summary in percent; all but ``S.Err`` (over sentences) are over reference units."""
        return {
            "Corr": _percent(self.correct, self.units),
            "Sub": _percent(self.substitutions, self.units),
            "Del": _percent(self.deletions, self.units),
            "Ins": _percent(self.insertions, self.units),
            "Err": self.error_rate,
            "S.Err": _percent(self.sentence_errors, self.sentences),
        }


@dataclass
class ErrorReport:
    """Error totals with what is needed to inspect them: alignments and the most frequent confusions."""

    counts: ErrorCounts
    alignments: list[str]  # one sclite-like block per utterance
    confusions: list[tuple[str, str, int]]  # (ref, hyp, count), "" for a deleted/inserted side; most frequent first


def normalize_text(text: str, lowercase: bool = True, remove_punctuation: bool = True) -> str:
    """Lowercase, replace Unicode punctuation by spaces and collapse whitespace.

    Apostrophes between two letters or digits are kept, spelled ``'`` ("l'homme", "don’t" -> "don't").
    """
    if lowercase:
        text = text.lower()
    if remove_punctuation:
        text = "".join(_keep_or_space(text, i) for i in range(len(text)))
    return " ".join(text.split())


def _keep_or_space(text: str, i: int) -> str:
    c = text[i]
    if not unicodedata.category(c).startswith("P"):
        return c
    inner = 0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum()
    return "'" if c in _APOSTROPHES and inner else " "


def _paired(refs: dict[str, str], hyps: dict[str, str], hyp_file: str | Path | None) -> list[str]:
    """The utterance ids of ``refs``, in order, after checking that ``hyps`` has exactly the same ones."""
    for utt in refs:
        if utt not in hyps:
            raise DataError("no hypothesis for this utterance", file=hyp_file, utt=utt)
    for utt in hyps:
        if utt not in refs:
            raise DataError("not in the reference", file=hyp_file, utt=utt)
    if not refs:
        raise DataError("no utterances to score", file=hyp_file)
    return list(refs)


def _tokens(text: str, unit: str, normalize: bool) -> list[str]:
    words = (normalize_text(text) if normalize else text).split()
    if unit == "word":
        return words
    return [SPACE if c == " " else c for c in " ".join(words)]


def error_rates(
    refs: dict[str, str],
    hyps: dict[str, str],
    unit: Literal["word", "char"] = "word",
    normalize: bool = False,
    hyp_file: str | Path | None = None,
) -> ErrorReport:
    """Align each hypothesis with its reference (by utterance id) and count errors in words or characters.

    Whitespace is always collapsed; ``normalize`` also applies :func:`normalize_text`. As in ESPnet, the character
    unit counts each single space between words as a token, written ``<space>``. Raises ``DataError`` naming the
    utterance (and ``hyp_file``) when either side lacks an utterance.
    """
    if unit not in ("word", "char"):
        raise ValueError(f"unit must be 'word' or 'char', not {unit!r}")
    utts = _paired(refs, hyps, hyp_file)
    ref_tokens = [_tokens(refs[utt], unit, normalize) for utt in utts]
    hyp_tokens = [_tokens(hyps[utt], unit, normalize) for utt in utts]
    out = jiwer.process_words(ref_tokens, hyp_tokens, _PRETOKENIZED, _PRETOKENIZED)
    columns = [_columns(*x) for x in zip(ref_tokens, hyp_tokens, out.alignments, strict=True)]
    counts = ErrorCounts(
        sentences=len(utts),
        units=sum(map(len, ref_tokens)),
        correct=out.hits,
        substitutions=out.substitutions,
        deletions=out.deletions,
        insertions=out.insertions,
        sentence_errors=sum(any(mark for *_, mark in cols) for cols in columns),
    )
    confused = Counter((r, h) for cols in columns for r, h, mark in cols if mark)
    confusions = [(r, h, n) for (r, h), n in sorted(confused.items(), key=lambda item: (-item[1], item[0]))]
    alignments = [_alignment_block(utt, cols) for utt, cols in zip(utts, columns, strict=True)]
    return ErrorReport(counts, alignments, confusions)


def _columns(ref: list[str], hyp: list[str], chunks: list[jiwer.AlignmentChunk]) -> list[tuple[str, str, str]]:
    """(reference token, hypothesis token, mark) per aligned position: "" for a missing side or a correct token."""
    pairs = ((c, ref[c.ref_start_idx : c.ref_end_idx], hyp[c.hyp_start_idx : c.hyp_end_idx]) for c in chunks)
    return [(r, h, _MARKS[c.type]) for c, rs, hs in pairs for r, h in zip_longest(rs, hs, fillvalue="")]


def _width(text: str) -> int:
    """Display width: East Asian wide and full-width characters take two columns."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _alignment_block(utt: str, columns: list[tuple[str, str, str]]) -> str:
    """sclite-like REF/HYP/EVAL lines with aligned columns; a missing word is a gap of ``*``."""
    widths = [max(_width(r), _width(h), 1) for r, h, _ in columns]

    def line(label: str, cells: list[str]) -> str:
        padded = (cell + " " * (w - _width(cell)) for cell, w in zip(cells, widths, strict=True))
        return (label.ljust(_LABEL_WIDTH) + " ".join(padded)).rstrip()

    ref = [r or "*" * w for (r, _, _), w in zip(columns, widths, strict=True)]
    hyp = [h or "*" * w for (_, h, _), w in zip(columns, widths, strict=True)]
    marks = [mark for *_, mark in columns]
    return "\n".join([f"utt: {utt}", line("REF:", ref), line("HYP:", hyp), line("EVAL:", marks)])


def write_alignments(path: str | Path, report: ErrorReport) -> None:
    """Write the per-utterance alignment blocks, separated by blank lines."""
    write_text(path, "\n\n".join(report.alignments) + "\n")


def bleu_chrf(refs: dict[str, str], hyps: dict[str, str], hyp_file: str | Path | None = None) -> dict[str, float]:
    """Corpus BLEU and chrF with sacrebleu's defaults (13a tokenizer); utterances are matched as in error_rates."""
    utts = _paired(refs, hyps, hyp_file)
    hyp_list, ref_lists = [hyps[utt] for utt in utts], [[refs[utt] for utt in utts]]
    return {
        "BLEU": sacrebleu.corpus_bleu(hyp_list, ref_lists).score,
        "chrF": sacrebleu.corpus_chrf(hyp_list, ref_lists).score,
    }


def retrieval_recall(speech: np.ndarray, text: np.ndarray, ks: tuple[int, ...] = (1, 5)) -> dict[str, float]:
    """Recall@k in percent, both ways, for (N, dim) unit-length embeddings whose row i is the same utterance.

    k is clipped to N. Ties are pessimistic: the true item ranks after every other item with the same score.
    """
    if speech.ndim != 2 or speech.shape != text.shape:
        raise ValueError(f"expected two (N, dim) arrays of one shape, got {list(speech.shape)} and {list(text.shape)}")
    if min(ks, default=1) < 1:
        raise ValueError(f"k must be at least 1, got {ks}")
    scores = np.asarray(speech, dtype=np.float64) @ np.asarray(text, dtype=np.float64).T
    recalls = {}
    for name, sim in (("speech2text", scores), ("text2speech", scores.T)):
        ranks = (sim >= sim.diagonal()[:, None]).sum(1)  # 1-based rank of the true item, after its ties
        for k in ks:
            recalls[f"{name}_R@{k}"] = 100 * float((ranks <= k).mean())
    return recalls


def _cepstra(log_mel: np.ndarray, coefficients: int) -> np.ndarray:
    """Cepstra c1..c_coefficients of each frame's log amplitude on the mel axis (half Kaldi's log energy), as the
    real cepstrum of its even extension defines them: c_k = (1/n) sum_m (x_m / 2) cos(pi k (m + 1/2) / n); c0, the
    energy, is left out."""
    n = log_mel.shape[1]
    basis = np.cos(np.pi * np.outer(np.arange(1, coefficients + 1), np.arange(n) + 0.5) / n) / n
    return (0.5 * log_mel) @ basis.T


def _dtw_path(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lowest-cost alignment of the rows of a and b (Euclidean distance, steps (1,0), (0,1), (1,1)): the row and
    column indices along the path.

    Each row of the cumulative cost is vectorized: with ``above[j]`` the cost of arriving from the row above
    (straight or diagonally), ``acc[i, j] = min over l <= j of above[l] + cost[i, l..j]``, a running minimum over
    prefix sums.
    """
    squared = (a**2).sum(1)[:, None] + (b**2).sum(1) - 2 * a @ b.T
    cost = np.sqrt(np.maximum(squared, 0))
    prefix = np.cumsum(cost, axis=1)
    acc = prefix.copy()
    for i in range(1, len(a)):
        above = acc[i - 1].copy()
        above[1:] = np.minimum(above[1:], acc[i - 1, :-1])
        acc[i] += np.minimum.accumulate(above + cost[i] - prefix[i])
    i, j = len(a) - 1, len(b) - 1
    path = [(i, j)]
    while i or j:
        steps = [(i - di, j - dj) for di, dj in ((1, 1), (1, 0), (0, 1)) if i >= di and j >= dj]
        i, j = min(steps, key=lambda step: acc[step])
        path.append((i, j))
    rows, cols = np.array(path[::-1]).T
    return rows, cols


def mel_cepstral_distortion(reference: np.ndarray, synthesized: np.ndarray, coefficients: int = 13) -> float:
    """Mel cepstral distortion in dB between two (frames, n_mels) natural-log mel filterbank matrices (Kaldi fbank).

    Cepstra c1..c_coefficients (c0, the energy, dropped) are those of the log amplitude on the mel axis (see
    ``_cepstra``), so that the usual scale applies; the sequences are aligned with DTW and the MCD is the mean over
    the path of (10 / ln 10) * sqrt(2 * sum_k (dc_k)^2). Fbank-derived cepstra are not SPTK mel-cepstra (no
    all-pass warping of a spectral envelope): compare alptk MCDs with each other.
    """
    reference, synthesized = np.asarray(reference, dtype=np.float64), np.asarray(synthesized, dtype=np.float64)
    for name, x in (("reference", reference), ("synthesized", synthesized)):
        if x.ndim != 2 or not x.size:
            raise DataError(f"{name} features must be a non-empty (frames, n_mels) matrix, got shape {x.shape}")
    n_mels = reference.shape[1]
    if synthesized.shape[1] != n_mels:
        raise DataError(f"reference has {n_mels} mel bins but the synthesized speech has {synthesized.shape[1]}")
    if not 1 <= coefficients < n_mels:
        raise ValueError(f"coefficients must be in 1..{n_mels - 1} for {n_mels} mel bins, got {coefficients}")
    ref, syn = _cepstra(reference, coefficients), _cepstra(synthesized, coefficients)
    rows, cols = _dtw_path(ref, syn)
    return float(_DB * np.sqrt(2) * np.linalg.norm(ref[rows] - syn[cols], axis=1).mean())
