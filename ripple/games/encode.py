"""Frames and game sound into gameplay.mp4 with the ffmpeg binary from imageio-ffmpeg.

Frames are piped to ffmpeg as they are played (H.264, yuv420p), the sound is written to a
WAV file beside it tic by tic, and at the end the two are joined (the picture copied, the
sound encoded as AAC). A recording whose engine gave only silence gets no audio track.
"""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import numpy as np

from ripple.ffmpeg import command

# ultrafast: about half the encoder's CPU of veryfast here (files 2.4x larger, ~0.9 Mbit/s at
# 320x240): the encoder shares two cores with the game and, live, with the commentator.
X264_PRESET = "ultrafast"
X264_CRF = 23


class EncodeError(RuntimeError):
    """ffmpeg failed: a problem of this machine, not of the person's input."""


class VideoWriter:
    """Raw RGB frames in, an H.264 MP4 (no sound yet) out. `scale` enlarges small screens
    with nearest-neighbour pixels (Atari's 160x210)."""

    def __init__(self, path: Path, size: tuple[int, int], fps: int, scale: int = 1):
        self.path, self.size, self.frames = Path(path), size, 0
        width, height = size
        vf = [f"scale={width * scale}:{height * scale}:flags=neighbor"] if scale != 1 else []
        cmd = [*command("-f", "rawvideo"), "-pix_fmt", "rgb24",
               "-s", f"{width}x{height}", "-r", str(fps), "-i", "-", *(["-vf", vf[0]] if vf else []),
               "-c:v", "libx264", "-preset", X264_PRESET, "-crf", str(X264_CRF), "-pix_fmt", "yuv420p",
               "-movflags", "+faststart", str(self.path)]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)

    def write(self, frame: np.ndarray) -> None:
        try:
            self._proc.stdin.write(np.ascontiguousarray(frame, dtype=np.uint8).tobytes())
        except BrokenPipeError:
            self.close()
        self.frames += 1

    def close(self) -> int:
        if self._proc.stdin and not self._proc.stdin.closed:
            try:
                self._proc.stdin.close()
            except BrokenPipeError:
                pass
        stderr = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
        if self._proc.wait() != 0:
            raise EncodeError(f"ffmpeg could not encode the video: {stderr.strip()[-300:]}")
        return self.frames

    def abort(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()


class SoundWriter:
    """int16 samples, tic by tic, into a WAV file; remembers whether any was not silence."""

    def __init__(self, path: Path, rate: int, channels: int):
        self.path, self.rate, self.channels = Path(path), rate, channels
        self.samples, self.peak = 0, 0
        self._wav = wave.open(str(self.path), "wb")
        self._wav.setnchannels(channels)
        self._wav.setsampwidth(2)
        self._wav.setframerate(rate)

    def write(self, samples: np.ndarray) -> None:
        samples = np.asarray(samples, dtype="<i2").reshape(-1, self.channels)
        if samples.size:
            self.peak = max(self.peak, int(np.abs(samples.astype(np.int32)).max()))
        self._wav.writeframes(samples.tobytes())
        self.samples += len(samples)

    def close(self) -> None:
        self._wav.close()


def mux(video: Path, sound: Path | None, out: Path) -> None:
    """The picture of `video` (copied) with `sound` as AAC, into `out`; or `video` renamed."""
    if sound is None:
        Path(video).replace(out)
        return
    proc = subprocess.run(
        command("-i", str(video), "-i", str(sound), "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac",
                "-b:a", "128k", "-movflags", "+faststart", str(out)),
        capture_output=True, text=True,
    )
    if proc.returncode != 0:
        raise EncodeError(f"ffmpeg could not add the game sound: {proc.stderr.strip()[-300:]}")
    Path(video).unlink()
