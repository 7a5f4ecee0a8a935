"""Builds the mini_synth corpus: grammar sentences spoken by eSpeak NG pseudo-speakers, as Kaldi directories.

Sets: paired ``train`` / ``dev`` / ``test`` (``text`` in English, ``text.fr`` in French), ``train_low`` (a
small subset of ``train``), ``speech_only`` (unpaired speech) and ``text_only`` (text never spoken). Every
set has its own sentences, and dev and test speakers (voice and accent pairs) are never heard in training.
"""

from __future__ import annotations

import random
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alptk.corpora.mini_synth.espeak import EspeakSynthesizer, Voice, english_languages, english_variants
from alptk.corpora.mini_synth.grammar import generate_sentences
from alptk.data.audio import write_audio
from alptk.data.kaldi_dir import KaldiDir
from alptk.errors import AlptkError
from alptk.files import write_text
from alptk.parallel import run_jobs, split_evenly
from alptk.progress import log


@dataclass(frozen=True)
class CorpusSize:
    """Utterances per set and speakers per speaker pool."""

    train: int
    train_low: int
    dev: int
    test: int
    speech_only: int
    text_only: int
    train_speakers: int
    dev_speakers: int
    test_speakers: int


SIZES = {
    "tiny": CorpusSize(40, 10, 8, 8, 40, 300, 8, 2, 2),
    "default": CorpusSize(1200, 120, 150, 250, 1800, 20000, 60, 6, 10),
}
SPOKEN_SETS = ("test", "dev", "train", "speech_only")  # in the order they take sentences


@dataclass(frozen=True)
class Utterance:
    utt: str
    speaker: str
    en: str
    fr: str


def make_speakers(count: int, pool: list[tuple[str, str]], prefix: str, rng: random.Random) -> dict[str, Voice]:
    """``count`` pseudo-speakers, each a distinct (accent, variant) pair from ``pool`` with its own rate and pitch."""
    return {
        f"{prefix}{i:03d}": Voice(
            language, variant, rate=rng.randint(140, 205), pitch=rng.randint(25, 75), pitch_range=rng.randint(30, 80)
        )
        for i, (language, variant) in enumerate(pool[:count])
    }


def prepare_mini_synth(
    data_dir: str | Path, audio_dir: str | Path, size: str = "default", seed: int = 1, nj: int = 1
) -> dict[str, int]:
    """Synthesize the corpus; returns the number of utterances (or sentences) per set."""
    if size not in SIZES:
        raise AlptkError(f"unknown mini_synth size '{size}' (choose from {', '.join(SIZES)})")
    sizes = SIZES[size]
    data_dir, audio_dir = Path(data_dir), Path(audio_dir)
    rng = random.Random(seed)
    pairs = [(language, variant) for language in english_languages() for variant in english_variants()]
    rng.shuffle(pairs)
    needed = sizes.train_speakers + sizes.dev_speakers + sizes.test_speakers
    if needed > len(pairs):
        raise AlptkError(f"mini_synth needs {needed} voices but eSpeak NG offers {len(pairs)}")
    speakers = {
        "test": make_speakers(sizes.test_speakers, pairs, "test", rng),
        "dev": make_speakers(sizes.dev_speakers, pairs[sizes.test_speakers :], "dev", rng),
        "train": make_speakers(sizes.train_speakers, pairs[sizes.test_speakers + sizes.dev_speakers :], "spk", rng),
    }
    speakers["speech_only"] = speakers["train"]
    counts = {name: getattr(sizes, name) for name in (*SPOKEN_SETS, "text_only")}
    sentences = iter(generate_sentences(sum(counts.values()), seed))
    utterances: dict[str, list[Utterance]] = {}
    for name in SPOKEN_SETS:
        pool = sorted(speakers[name])
        utterances[name] = []
        for i in range(counts[name]):
            sentence = next(sentences)
            speaker = rng.choice(pool)
            utterances[name].append(Utterance(f"{speaker}-{name}{i:05d}", speaker, sentence.en, sentence.fr))
    text_only = [next(sentences) for _ in range(sizes.text_only)]

    voices = {spk: voice for pool in speakers.values() for spk, voice in pool.items()}
    plan = [
        (u, voices[u.speaker], audio_dir / name / f"{u.utt}.flac") for name in SPOKEN_SETS for u in utterances[name]
    ]
    start = time.perf_counter()
    lengths = run_jobs(
        _synthesize_job,
        [(chunk, seed) for chunk in split_evenly(plan, nj)],
        len(plan),
        "synthesize mini_synth",
        output_dir=audio_dir,
    )
    durations = {utt: seconds for job in lengths for utt, seconds in job}
    audio_seconds = sum(durations.values())
    elapsed = time.perf_counter() - start
    speed = audio_seconds / elapsed
    log(f"synthesized {audio_seconds / 3600:.2f} h of audio in {elapsed:.0f} s ({speed:.0f}x real time, {nj} jobs)")

    for name in SPOKEN_SETS:
        tables: dict[str, dict[str, str]] = {"wav.scp": {}, "utt2spk": {}, "utt2dur": {}}
        if name != "speech_only":
            tables.update(text={}, **{"text.fr": {}})
        for u in utterances[name]:
            tables["wav.scp"][u.utt] = str(audio_dir / name / f"{u.utt}.flac")
            tables["utt2spk"][u.utt] = u.speaker
            tables["utt2dur"][u.utt] = f"{durations[u.utt]:.4f}"
            if name != "speech_only":
                tables["text"][u.utt] = u.en
                tables["text.fr"][u.utt] = u.fr
        KaldiDir(tables).save(data_dir / name)
    train = KaldiDir.load(data_dir / "train")
    train.subset(random.Random(seed).sample(train.utterances, sizes.train_low)).save(data_dir / "train_low")
    KaldiDir(
        {
            "text": {f"text-{i:06d}": s.en for i, s in enumerate(text_only)},
            "text.fr": {f"text-{i:06d}": s.fr for i, s in enumerate(text_only)},
        }
    ).save(data_dir / "text_only")
    # What speech_only says, kept out of its data directory: only for checking that sets do not overlap.
    write_text(data_dir / "local" / "speech_only.text", "".join(f"{u.utt} {u.en}\n" for u in utterances["speech_only"]))
    write_text(
        data_dir / "local" / "speakers.tsv",
        "speaker\tset\tlanguage\tvariant\trate\tpitch\tpitch_range\n"
        + "".join(
            f"{spk}\t{name}\t{v.language}\t{v.variant}\t{v.rate}\t{v.pitch}\t{v.pitch_range}\n"
            for name in ("train", "dev", "test")
            for spk, v in sorted(speakers[name].items())
        ),
    )
    return {**counts, "train_low": sizes.train_low}


def _synthesize_job(plan: list[tuple[Utterance, Voice, Path]], seed: int, advance) -> list[tuple[str, float]]:
    """Speak each utterance, add a little noise and a gain (deterministic per utterance), write FLAC."""
    synthesizer = EspeakSynthesizer()
    lengths = []
    for utterance, voice, path in plan:
        samples = synthesizer.synthesize(utterance.en, voice).astype(np.float32) / 32768
        rng = np.random.default_rng([seed, zlib.crc32(utterance.utt.encode())])
        rms = float(np.sqrt(np.mean(samples**2))) or 1e-4
        noise = rng.standard_normal(len(samples)).astype(np.float32) * rms / 10 ** (rng.uniform(25, 45) / 20)
        samples = (samples + noise) * (rng.uniform(0.3, 0.9) / max(float(np.abs(samples).max()), 1e-4))
        path.parent.mkdir(parents=True, exist_ok=True)
        write_audio(path, samples, synthesizer.sample_rate)
        lengths.append((utterance.utt, len(samples) / synthesizer.sample_rate))
        advance()
    return lengths
