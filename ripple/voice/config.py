"""How a line is to be spoken: the voice's settings, read by every voice backend."""

from __future__ import annotations

from dataclasses import dataclass

from ripple.config import option


@dataclass(frozen=True)
class VoiceConfig:
    backend: str = option("auto", name="voice")  # "piper", "espeak-ng", or "auto": piper when installed, else espeak-ng
    rate: float = 1.0  # speaking speed, 1 = the voice's own
    pitch: float = 1.0  # 1 = the voice's own (espeak-ng only; piper voices have a fixed pitch)
    excitement: float = 0.0  # 0 calm to 1 a big moment: nudges rate (and pitch) up


def effective(cfg: VoiceConfig) -> tuple[float, float]:
    """(rate, pitch) after excitement: up to 15% faster and 10% higher at the biggest moments."""
    excitement = max(0.0, min(1.0, cfg.excitement))
    return cfg.rate * (1 + 0.15 * excitement), cfg.pitch * (1 + 0.10 * excitement)
