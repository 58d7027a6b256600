"""Audio from any media file as 16 kHz mono float32, decoded by the ffmpeg binary that
imageio-ffmpeg carries (there is no ffmpeg on PATH by default)."""

from __future__ import annotations

import subprocess
from pathlib import Path

SAMPLE_RATE = 16_000  # what whisper listens at


class AudioError(Exception):
    """The file has no audio Ripple can decode; the message says why, in one line."""


def ffmpeg_binary() -> str:
    from ripple import ffmpeg

    try:
        return ffmpeg.binary()
    except ffmpeg.FfmpegError as exc:
        raise AudioError(f"decoding audio needs ffmpeg; {exc}") from exc


def load_audio(path: Path, rate: int = SAMPLE_RATE):
    """The file's first audio stream as a mono float32 numpy array at `rate` samples/s."""
    import numpy as np

    if not Path(path).is_file():
        raise AudioError("no such file")
    cmd = [ffmpeg_binary(), "-nostdin", "-v", "error", "-i", str(path), "-map", "0:a:0", "-vn",
           "-f", "s16le", "-ac", "1", "-ar", str(rate), "-"]
    result = subprocess.run(cmd, capture_output=True)
    if result.returncode != 0:
        stderr = result.stderr.decode("utf-8", "replace")
        if "matches no streams" in stderr:  # -map 0:a:0 found no audio stream
            raise AudioError("no audio track")
        lines = stderr.strip().splitlines()
        reason = lines[-1] if lines else f"ffmpeg exited with {result.returncode}"
        raise AudioError(reason.replace(str(path), "").strip(" :") or "unreadable media")
    audio = np.frombuffer(result.stdout, dtype=np.int16).astype(np.float32) / 32768.0
    if audio.size == 0:
        raise AudioError("no audio samples (a zero-length clip?)")
    return audio
