"""eSpeak NG speech synthesis through ctypes, using the library and voice data of the ``espeakng-loader`` package.

eSpeak NG keeps synthesis state in C globals (pitch-flutter phase, gain control, filter memories) that carry over
from one utterance to the next, so two identical calls in one process would give different audio. To make the
output a function of (text, voice) alone, the library lives in a helper process that initialises it once and
forks a child per request: every utterance starts from the same pristine state, in any process, on any call.
The helper also keeps a crash inside the C library from taking the caller down.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import functools
import itertools
import json
import os
import struct
import subprocess
import sys
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import IO, Any

import numpy as np

from alptk.errors import AlptkError

# speak_lib.h (API revision 12, eSpeak NG 1.52)
AUDIO_OUTPUT_SYNCHRONOUS = 2
POS_CHARACTER = 1
ESPEAK_CHARS_UTF8 = 1
ESPEAK_INITIALIZE_DONT_EXIT = 0x8000
EE_OK = 0
ESPEAK_RATE, ESPEAK_PITCH, ESPEAK_RANGE = 1, 3, 4
RATE_LIMITS, PITCH_LIMITS = (80, 450), (0, 100)

# Variants (voices/!v) that sound like ordinary speakers. Chosen on three English sentences with en-us: dropped
# those with a loud echo (robosoft*, RicishayMax*, *Robot, announcer, Alicia, Marco, pablo, Demonic), a strong
# flutter (croak, grandma, grandpa, whisper), F0 outside 70-280 Hz (whisperf, caleb, zac), an unstable F0 track
# (95th/5th percentile above 1.6: creaky or octave-jumping, e.g. Andy, boris, max, rob, travis), more than 1 in
# 1000 samples clipped (antonio, iven, Gene2, steph3, Tweaky, Mr serious, ...) and the "fast" test setting.
HUMAN_VARIANTS = frozenset(
    {
        "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
        "klatt", "klatt2", "klatt3", "klatt4", "klatt5", "klatt6",
        "Alex", "Andrea", "Annie", "Denis", "Diogo", "Gene", "Henrique", "Hugo", "Lee", "Mike", "Nguyen", "Reed",
        "adam", "anika", "aunty", "belinda", "benjamin", "david", "edward", "edward2", "iven2", "iven3", "iven4",
        "john", "kaukovalta", "linda", "michel", "miguel", "mike2", "norbert", "pedro", "sandro", "shelby", "steph",
        "steph2", "victor",
    }
)  # fmt: skip
NOT_ACCENTS = frozenset({"en-shaw"})  # the Shavian-alphabet voice: reads Latin text exactly like "en"

_HEADER = struct.Struct(">cI")  # message kind, payload length


@dataclass(frozen=True)
class Voice:
    """An eSpeak NG voice: language (voice file name, e.g. ``en-us``), optional variant and prosody settings."""

    language: str
    variant: str = ""
    rate: int = 175
    pitch: int = 50
    pitch_range: int = 50


def _voice_name(voice: Voice) -> str:
    """The name ``espeak_SetVoiceByName`` takes, e.g. ``en-us+m3``."""
    return f"{voice.language}+{voice.variant}" if voice.variant else voice.language


def _loader() -> ModuleType:
    try:
        import espeakng_loader
    except ImportError as err:
        raise AlptkError("eSpeak NG is missing: install the espeakng-loader package") from err
    return espeakng_loader


def _data_dir() -> Path:
    return Path(_loader().get_data_path())


class EspeakSynthesizer:
    """eSpeak NG (from the espeakng-loader package) driven through ctypes; one per process.

    Instances share one helper process, so constructing several is cheap; calls are serialised and thread-safe.
    """

    sample_rate: int

    def __init__(self) -> None:
        self.sample_rate = _helper().sample_rate

    def synthesize(self, text: str, voice: Voice) -> np.ndarray:
        """Speak ``text`` with ``voice``: a fresh 1-D int16 array at ``sample_rate``, identical for identical input."""
        name = _voice_name(voice)
        _check_voice(voice, name)
        if "\0" in text:
            raise AlptkError(f"eSpeak NG voice {name}: text contains a NUL character: {text[:60]!r}")
        request = {"text": text, "name": name, "rate": voice.rate, "pitch": voice.pitch, "range": voice.pitch_range}
        reply = _helper().request(b"S", json.dumps(request).encode(), f"eSpeak NG voice {name}")
        samples = np.frombuffer(reply, dtype=np.int16).copy()
        if not samples.any():
            raise AlptkError(f"eSpeak NG voice {name}: no audio for text {text[:60]!r}")
        return samples


def _check_voice(voice: Voice, name: str) -> None:
    """Reject what eSpeak NG would silently ignore or clamp."""
    if not voice.language or "+" in voice.language:
        raise AlptkError(f"eSpeak NG voice {name}: bad language {voice.language!r}")
    if voice.variant and ("/" in voice.variant or not (_data_dir() / "voices" / "!v" / voice.variant).is_file()):
        raise AlptkError(f"eSpeak NG voice {name}: unknown variant {voice.variant!r}")
    for what, value, (low, high) in (
        ("rate", voice.rate, RATE_LIMITS),
        ("pitch", voice.pitch, PITCH_LIMITS),
        ("pitch_range", voice.pitch_range, PITCH_LIMITS),
    ):
        if not low <= value <= high:
            raise AlptkError(f"eSpeak NG voice {name}: {what} {value} outside {low}..{high}")


@functools.cache
def _english_languages() -> tuple[str, ...]:
    voices = json.loads(_helper().request(b"L", b"", "listing eSpeak NG voices"))
    candidates = sorted(
        {identifier.rsplit("/", 1)[-1].lower() for identifier, languages in voices if _is_english(languages)}
        - NOT_ACCENTS
    )
    synth = EspeakSynthesizer()
    loadable = []
    for language in candidates:
        try:
            synth.synthesize("Hello.", Voice(language))
        except AlptkError:
            continue
        loadable.append(language)
    return tuple(loadable)


def _is_english(languages: list[str]) -> bool:
    return any(code == "en" or code.startswith("en-") for code in languages)


def english_languages() -> list[str]:
    """English accents in the shipped data (voice file names such as ``en-us``, ``en-gb-x-rp``) that load and speak."""
    return list(_english_languages())


def english_variants() -> list[str]:
    """Shipped variants (voices/!v) that give ordinary human-like voices, sorted; see ``HUMAN_VARIANTS``."""
    return sorted(path.name for path in (_data_dir() / "voices" / "!v").iterdir() if path.name in HUMAN_VARIANTS)


# ---------------------------------------------------------------- messages between caller and helper
# Requests: S (synthesize; JSON text, voice name, rate, pitch, range), L (list voices). Replies: R (ready; the
# sample rate), A (native-order int16 samples), V (voices as JSON), E (error message).


def _write(stream: IO[bytes], kind: bytes, payload: bytes) -> None:
    stream.write(_HEADER.pack(kind, len(payload)) + payload)
    stream.flush()


def _read(stream: IO[bytes]) -> tuple[bytes, bytes] | None:
    """The next message, or None at end of stream (or on a truncated one)."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    kind, size = _HEADER.unpack(header)
    payload = stream.read(size)
    return None if len(payload) < size else (kind, payload)


# ---------------------------------------------------------------- caller side


class _Helper:
    """The helper process, seen from the caller: one request at a time."""

    def __init__(self) -> None:
        root = str(Path(__file__).resolve().parents[3])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from alptk.corpora.mini_synth.espeak import _serve; _serve()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            start_new_session=True,  # Ctrl-C goes to the caller; the helper ends when its input closes
        )
        atexit.register(self.close)
        self.sample_rate = int(self._reply("starting eSpeak NG"))

    def request(self, kind: bytes, payload: bytes, context: str) -> bytes:
        """Send one request and return the reply's payload; ``context`` starts the message of a failure."""
        with self.lock:
            try:
                with contextlib.suppress(OSError):  # a helper that is gone shows as a missing reply
                    _write(self.proc.stdin, kind, payload)
                return self._reply(context)
            except AlptkError:
                raise
            except BaseException:  # interrupted mid-exchange: replies would be out of step, so start afresh
                self.proc.kill()
                self.proc.wait()
                raise

    def _reply(self, context: str) -> bytes:
        message = _read(self.proc.stdout)
        if message is None:
            self.close()
            raise AlptkError(f"{context}: eSpeak NG helper process died (exit code {self.proc.returncode})")
        kind, payload = message
        if kind == b"E":
            raise AlptkError(payload.decode())
        return payload

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


_helper_lock = threading.Lock()
_current: _Helper | None = None


def _helper() -> _Helper:
    """This process's helper, started on first use (again after a fork, or after it died)."""
    global _current
    with _helper_lock:
        if _current is None or _current.pid != os.getpid() or _current.proc.poll() is not None:
            _current = _Helper()
        return _current


# ---------------------------------------------------------------- helper side


class _EspeakVoiceStruct(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),  # (priority byte, NUL-terminated name) pairs, ended by an empty name
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class _Library:
    """libespeak-ng, initialised for synchronous synthesis into memory."""

    def __init__(self) -> None:
        loader = _loader()
        try:
            lib = ctypes.CDLL(loader.get_library_path())
            data = Path(loader.get_data_path())
        except (OSError, RuntimeError) as err:
            raise AlptkError(f"cannot load eSpeak NG from espeakng-loader: {err}") from err
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
            ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_EspeakVoiceStruct))
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        # The path argument is the directory that contains espeak-ng-data.
        self.sample_rate = lib.espeak_Initialize(
            AUDIO_OUTPUT_SYNCHRONOUS, 0, str(data.parent).encode(), ESPEAK_INITIALIZE_DONT_EXIT
        )
        if self.sample_rate <= 0:
            raise AlptkError(f"cannot initialise eSpeak NG with data in {data}")
        self.chunks: list[bytes] = []
        self.callback = _SYNTH_CALLBACK(self._collect)  # referenced here for as long as the library may call it
        lib.espeak_SetSynthCallback(self.callback)
        lib.espeak_ng_SetRandSeed(0)  # seeded from the clock at initialisation; breath noise draws from it
        lib.espeak_SetVoiceByName(b"en")  # forked children inherit the loaded English dictionary: ~3 ms less each
        self.lib = lib

    def _collect(self, wav: Any, count: int, events: Any) -> int:
        if wav and count > 0:
            self.chunks.append(ctypes.string_at(wav, 2 * count))
        return 0

    def synthesize(self, text: str, name: str, rate: int, pitch: int, pitch_range: int) -> bytes:
        """Native-order int16 samples."""
        self.chunks.clear()
        if self.lib.espeak_SetVoiceByName(name.encode()) != EE_OK:
            raise AlptkError(f"unknown eSpeak NG voice {name}")
        for parameter, value in ((ESPEAK_RATE, rate), (ESPEAK_PITCH, pitch), (ESPEAK_RANGE, pitch_range)):
            if self.lib.espeak_SetParameter(parameter, value, 0) != EE_OK:
                raise AlptkError(f"eSpeak NG voice {name}: cannot set parameter {parameter} to {value}")
        data = text.encode()
        status = self.lib.espeak_Synth(data, len(data) + 1, 0, POS_CHARACTER, 0, ESPEAK_CHARS_UTF8, None, None)
        if status != EE_OK or self.lib.espeak_Synchronize() != EE_OK:
            raise AlptkError(f"eSpeak NG voice {name}: synthesis failed (status {status})")
        return b"".join(self.chunks)

    def voices(self) -> list[tuple[str, list[str]]]:
        """(identifier, languages) of every voice file, e.g. ``("gmw/en-US", ["en-us", "en"])``."""
        found = []
        table = self.lib.espeak_ListVoices(None)
        for i in itertools.count():
            if not table[i]:
                break
            entry = table[i].contents
            languages, address = [], entry.languages
            while ctypes.c_ubyte.from_address(address).value:  # a priority byte, then a name; 0 ends the list
                name = ctypes.string_at(address + 1)
                languages.append(name.decode())
                address += len(name) + 2
            found.append((entry.identifier.decode(), languages))
        return found

    def handle(self, kind: bytes, payload: bytes) -> tuple[bytes, bytes]:
        if kind == b"L":
            return b"V", json.dumps(self.voices()).encode()
        request = json.loads(payload)
        return b"A", self.synthesize(
            request["text"], request["name"], request["rate"], request["pitch"], request["range"]
        )


def _serve() -> None:
    """Helper main loop: answer each request from a forked child, so each starts from the initialised state."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything the library prints goes to stderr, not into the message stream
    requests = sys.stdin.buffer
    try:
        library = _Library()
    except AlptkError as err:
        _write(out, b"E", str(err).encode())
        return
    _write(out, b"R", str(library.sample_rate).encode())
    while (message := _read(requests)) is not None:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            _child(library, message, read_end, write_end)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as reply:
            answer = reply.read()
        _, status = os.waitpid(pid, 0)
        if status != 0 or not answer:
            text = f"eSpeak NG crashed (wait status {status}) on request {message[1][:200].decode(errors='replace')}"
            answer = _HEADER.pack(b"E", len(text.encode())) + text.encode()
        out.write(answer)
        out.flush()


def _child(library: _Library, message: tuple[bytes, bytes], read_end: int, write_end: int) -> None:
    """Forked child: answer one request into ``write_end`` and exit without running the parent's cleanup."""
    try:
        os.close(read_end)
        try:
            reply = library.handle(*message)
        except AlptkError as err:
            reply = b"E", str(err).encode()
        with os.fdopen(write_end, "wb") as stream:
            _write(stream, *reply)
    except BaseException:
        traceback.print_exc()
        os._exit(1)
    os._exit(0)
