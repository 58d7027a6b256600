"""Gameplay videos the tests draw: coloured scenes with cuts, a moving sprite, a score
drawn in the corner that changes, and a game-audio track (a quiet hum with loud bursts).
OpenCV draws the frames; the ffmpeg binary from imageio-ffmpeg encodes them, as H.264/AAC
unless told otherwise."""

from __future__ import annotations

import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

AUDIO_RATE = 48_000
HUM_LEVEL = 0.035  # about -29 dBFS RMS: the game's background
HUM_HZ = 50  # below a voice's pitch, so ducking can be measured under narration
BURST_LEVEL = 0.7  # a loud rasping tone, about 20 dB over the hum


@dataclass(frozen=True)
class Clip:
    path: Path
    seconds: float
    fps: int
    size: tuple[int, int]
    scenes: list[tuple[int, int, int]]  # BGR per scene, equal lengths
    score_changes: list[tuple[float, int]]  # (time, score shown from then on)
    bursts: list[float]


def ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def game_audio(seconds: float, bursts: list[float], path: Path) -> Path:
    t = np.arange(int(seconds * AUDIO_RATE)) / AUDIO_RATE
    audio = HUM_LEVEL * np.sqrt(2) * np.sin(2 * np.pi * HUM_HZ * t)
    for start in bursts:
        a, b = int(start * AUDIO_RATE), int((start + 0.6) * AUDIO_RATE)
        audio[a:b] = BURST_LEVEL * np.sin(2 * np.pi * 330 * t[a:b]) * (1 + 0.3 * np.sin(2 * np.pi * 31 * t[a:b])) / 1.3
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(AUDIO_RATE)
        out.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def draw_frames(seconds: float, fps: int, size: tuple[int, int], scenes, score_changes):
    import cv2

    width, height = size
    total = int(seconds * fps)
    per_scene = total / len(scenes)
    for n in range(total):
        t = n / fps
        frame = np.full((height, width, 3), scenes[min(int(n // per_scene), len(scenes) - 1)], dtype=np.uint8)
        x = int((n * 7) % max(1, width - 40))
        cv2.rectangle(frame, (x, height // 2), (x + 30, height // 2 + 30), (255, 255, 255), -1)
        score = max([s for when, s in score_changes if when <= t], default=0)
        cv2.rectangle(frame, (0, 0), (width, height // 9 + 10), (0, 0, 0), -1)
        cv2.putText(frame, f"SCORE {score}", (8, height // 9), cv2.FONT_HERSHEY_SIMPLEX, height / 420,
                    (255, 255, 255), max(1, height // 240), cv2.LINE_AA)
        yield frame


def make_gameplay(
    path: Path,
    seconds: float = 9.0,
    fps: int = 10,
    size: tuple[int, int] = (640, 360),
    scenes=((40, 40, 200), (50, 170, 50), (200, 70, 40)),
    score_changes=((0.0, 0), (4.5, 150)),
    bursts=(6.5,),
    audio: bool = True,
    codec: str = "libx264",
    extra: list[str] = (),
) -> Clip:
    """Write the clip to `path` and describe it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [ffmpeg(), "-nostdin", "-y", "-v", "error", "-f", "rawvideo", "-pix_fmt", "bgr24",
           "-s", f"{size[0]}x{size[1]}", "-r", str(fps), "-i", "-"]
    if audio:
        cmd += ["-i", str(game_audio(seconds, list(bursts), path.with_suffix(".game.wav")))]
    cmd += ["-map", "0:v"] + (["-map", "1:a", "-c:a", "aac", "-b:a", "128k"] if audio else [])
    cmd += ["-c:v", codec] + (["-pix_fmt", "yuv420p", "-preset", "ultrafast"] if codec == "libx264" else [])
    cmd += [*extra, "-t", str(seconds), str(path)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    for frame in draw_frames(seconds, fps, size, scenes, score_changes):
        proc.stdin.write(frame.tobytes())
    _, stderr = proc.communicate()
    assert proc.returncode == 0, stderr.decode()
    path.with_suffix(".game.wav").unlink(missing_ok=True)
    return Clip(path, seconds, fps, size, list(scenes), list(score_changes), list(bursts))


def remux(src: Path, dst: Path, before_input: list[str] = (), after_input: list[str] = ()) -> Path:
    """Copy `src` into `dst` with extra ffmpeg options (a display rotation, new timestamps)."""
    subprocess.run([ffmpeg(), "-nostdin", "-y", "-v", "error", *before_input, "-i", str(src), *after_input, str(dst)],
                   check=True, capture_output=True)
    return dst


def streams(path: Path) -> dict:
    """What PyAV sees in a file: codecs, duration, frame rate, frame count, rotation."""
    import av

    with av.open(str(path)) as c:
        v = c.streams.video[0]
        a = c.streams.audio[0] if c.streams.audio else None
        frames = sum(1 for _ in c.demux(v) if _.size)
        return {
            "video": v.codec_context.name, "audio": a.codec_context.name if a else None,
            "duration": float(c.duration / 1e6), "fps": float(v.average_rate), "frames": frames,
            "audio_duration": float(a.duration * a.time_base) if a and a.duration else None,
            "width": v.codec_context.width, "height": v.codec_context.height,
        }


def rms_db(audio: np.ndarray, rate: int, start: float, end: float) -> float:
    part = audio[int(start * rate) : int(end * rate)].astype(np.float64)
    return float(20 * np.log10(max(np.sqrt((part**2).mean()) if part.size else 0.0, 1e-9)))


def tone_amplitude(audio: np.ndarray, rate: int, start: float, end: float, hz: float = HUM_HZ) -> float:
    """Amplitude of one frequency in a stretch of audio (a single DFT bin, Hann-windowed)."""
    part = audio[int(start * rate) : int(end * rate)].astype(np.float64)
    window = np.hanning(len(part))
    t = np.arange(len(part)) / rate
    return float(2 * abs(np.sum(part * window * np.exp(-2j * np.pi * hz * t))) / window.sum())
