"""eSpeak NG through ctypes: plausible audio, determinism, voice parameters, errors and the voice lists."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from alptk.corpora.mini_synth.espeak import EspeakSynthesizer, Voice, english_languages, english_variants
from alptk.errors import AlptkError

REPO = Path(__file__).resolve().parents[1]
SENTENCE = "The quick brown fox jumps over the lazy dog."  # nine words


@pytest.fixture(scope="module")
def synth() -> EspeakSynthesizer:
    return EspeakSynthesizer()


def digest(samples: np.ndarray) -> str:
    return hashlib.sha256(samples.tobytes()).hexdigest()


def median_f0(samples: np.ndarray, rate: int) -> float:
    """Median autocorrelation pitch (50-400 Hz) over the loud, clearly periodic 40 ms frames."""
    x = samples.astype(np.float64)
    size, hop = int(0.04 * rate), int(0.01 * rate)
    frames = [x[i : i + size] - x[i : i + size].mean() for i in range(0, len(x) - size, hop)]
    loud = max(float(np.sqrt(np.mean(f**2))) for f in frames) * 0.3
    low, high = rate // 400, rate // 50
    pitches = []
    for frame in frames:
        if np.sqrt(np.mean(frame**2)) < loud:
            continue
        ac = np.correlate(frame, frame, "full")[size - 1 :]
        lag = low + int(np.argmax(ac[low:high]))
        if ac[lag] > 0.5 * ac[0]:
            pitches.append(rate / lag)
    return float(np.median(pitches))


def test_sentence_is_plausible_speech(synth):
    audio = synth.synthesize(SENTENCE, Voice("en-us"))
    assert synth.sample_rate == 22050
    assert audio.dtype == np.int16 and audio.ndim == 1
    assert 1.0 < len(audio) / synth.sample_rate < 6.0
    assert np.sqrt(np.mean(audio.astype(np.float64) ** 2)) > 500
    assert audio.flags.owndata and audio.flags.writeable  # a fresh array, not a view on library memory


def test_same_input_same_audio_in_any_order_and_process(synth):
    voice = Voice("en-gb-x-rp", "f2", rate=150, pitch=60, pitch_range=70)
    first = digest(synth.synthesize(SENTENCE, voice))
    synth.synthesize("Something else entirely, to disturb the library's state.", Voice("en-us", "klatt4", pitch=90))
    assert digest(synth.synthesize(SENTENCE, voice)) == first
    assert digest(EspeakSynthesizer().synthesize(SENTENCE, voice)) == first
    code = (
        "import hashlib; from alptk.corpora.mini_synth.espeak import EspeakSynthesizer, Voice; "
        f"print(hashlib.sha256(EspeakSynthesizer().synthesize({SENTENCE!r}, {voice!r}).tobytes()).hexdigest())"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    fresh = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert fresh.stdout.strip() == first


def test_concurrent_calls_from_threads(synth):
    voice = Voice("en-us", "m3")
    expected = digest(synth.synthesize(SENTENCE, voice))
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(digest(synth.synthesize(SENTENCE, voice)))) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [expected] * 4


def test_rate_changes_duration(synth):
    fast = synth.synthesize(SENTENCE, Voice("en-us", rate=250))
    slow = synth.synthesize(SENTENCE, Voice("en-us", rate=120))
    assert len(fast) < 0.7 * len(slow)


def test_variant_pitch_and_range_change_audio(synth):
    versions = [
        Voice("en-us"),
        Voice("en-us", "m3"),
        Voice("en-us", "f2"),
        Voice("en-us", pitch=70),
        Voice("en-us", pitch_range=90),
        Voice("en-gb-scotland"),
    ]
    assert len({digest(synth.synthesize(SENTENCE, voice)) for voice in versions}) == len(versions)


def test_pitch_raises_f0(synth):
    low = median_f0(synth.synthesize(SENTENCE, Voice("en-us", pitch=10)), synth.sample_rate)
    high = median_f0(synth.synthesize(SENTENCE, Voice("en-us", pitch=90)), synth.sample_rate)
    assert high > 1.3 * low


@pytest.mark.parametrize(
    ("voice", "named"),
    [
        (Voice("xx-nowhere"), "xx-nowhere"),
        (Voice("en-us", "no-such-variant"), "en-us\\+no-such-variant"),
        (Voice("en-us", rate=500), "en-us: rate 500"),
        (Voice("en-us", pitch=101), "en-us: pitch 101"),
        (Voice("en-us", pitch_range=-1), "en-us: pitch_range -1"),
    ],
)
def test_bad_voice_is_a_one_line_error_naming_it(synth, voice, named):
    with pytest.raises(AlptkError, match=named) as caught:
        synth.synthesize(SENTENCE, voice)
    assert "\n" not in str(caught.value)


def test_silent_text_is_an_error(synth):
    with pytest.raises(AlptkError, match="en-us: no audio"):
        synth.synthesize("", Voice("en-us"))


def test_every_english_language_speaks(synth):
    languages = english_languages()
    assert {"en", "en-us", "en-gb-x-rp"} <= set(languages)
    for language in languages:
        audio = synth.synthesize("Hello there, how are you?", Voice(language))
        assert 0.5 < len(audio) / synth.sample_rate < 5.0, language


def test_every_english_variant_speaks_with_a_human_pitch(synth):
    variants = english_variants()
    assert variants == sorted(variants)
    assert {"m1", "m8", "f1", "f5", "klatt"} <= set(variants)
    assert not {"whisper", "croak", "Demonic", "robosoft"} & set(variants)
    for variant in variants:
        audio = synth.synthesize(SENTENCE, Voice("en-us", variant))
        assert 1.0 < len(audio) / synth.sample_rate < 6.0, variant
        assert 70 < median_f0(audio, synth.sample_rate) < 300, variant
