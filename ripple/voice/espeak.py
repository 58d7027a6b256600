"""The plain voice: Debian's espeak-ng. Robotic, but instant and always there."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ripple.errors import ModelError
from ripple.voice.config import effective

WORDS_PER_MINUTE = 165  # espeak-ng's rate at VoiceConfig.rate = 1
PITCH = 50  # espeak-ng's default pitch (0-99)


def speak_espeak(text: str, cfg) -> bytes:
    if shutil.which("espeak-ng") is None:
        raise ModelError("espeak-ng is not installed: apt-get install espeak-ng")
    rate, pitch = effective(cfg)
    fd, tmp = tempfile.mkstemp(suffix=".wav")
    os.close(fd)
    try:
        subprocess.run(
            ["espeak-ng", "-v", "en-us", "-s", str(round(WORDS_PER_MINUTE * rate)),
             "-p", str(max(0, min(99, round(PITCH * pitch)))), "-w", tmp, "--", text],
            check=True, capture_output=True,
        )
        return Path(tmp).read_bytes()
    finally:
        Path(tmp).unlink(missing_ok=True)
