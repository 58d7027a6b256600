"""What a video file holds, read with PyAV (FFmpeg's libraries; faster-whisper brings it):
its streams, length, frame rate (and whether it varies), rotation and codecs.

Everything narrate needs to know before it commits to a render path, and the first place
a corrupt, empty or audio-less file is told apart.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ripple.errors import InputError

VFR_SPREAD = 1.5  # frame intervals differing by more than this factor: variable frame rate
VFR_PACKETS = 240  # packets looked at to decide


@dataclass(frozen=True)
class Probe:
    path: Path
    duration: float  # seconds
    width: int  # as stored; a rotated video is shown the other way round
    height: int
    fps: float  # average frame rate
    frames: int  # as counted by the container (an estimate for some formats)
    video_codec: str
    rotation: int  # degrees the picture is turned when shown (phone footage: 90 or -90)
    variable_fps: bool
    audio_codec: str | None  # None: no audio track
    audio_rate: int | None
    audio_channels: int | None

    @property
    def has_audio(self) -> bool:
        return self.audio_codec is not None

    @property
    def shown_size(self) -> tuple[int, int]:
        return (self.height, self.width) if self.rotation % 180 else (self.width, self.height)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path)
        return data


def probe(path: Path) -> Probe:
    """Read `path`'s container; InputError (one line, naming the file) when it is not a
    playable video."""
    import av

    path = Path(path)
    where = str(path)
    if not path.exists():
        raise InputError(where, "no such video file")
    if path.is_dir():
        raise InputError(where, "is a folder, expected a video file")
    if path.stat().st_size == 0:
        raise InputError(where, "the file is empty (a zero-length clip)")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise InputError(where, f"cannot read this video: {_reason(exc)}") from exc
    with container:
        if not container.streams.video:
            raise InputError(where, "has no video stream (an audio file?)")
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        rate = video.average_rate or video.guessed_rate or video.base_rate
        fps = float(rate) if rate else 0.0
        duration = _duration(container, video)
        times, rotation = [], 0
        try:
            for packet in container.demux(video):
                if packet.pts is not None and packet.size:
                    times.append(float(packet.pts * video.time_base))
                if len(times) >= VFR_PACKETS:
                    break
            container.seek(0)
            for frame in container.decode(video=0):
                rotation = int(round(getattr(frame, "rotation", 0) or 0))
                break
        except av.error.FFmpegError as exc:
            raise InputError(where, f"cannot decode the video: {_reason(exc)}") from exc
        if not times:
            raise InputError(where, "has no video frames (a zero-length clip)")
        if duration <= 0 or fps <= 0:
            raise InputError(where, "reports no length or frame rate (a zero-length or broken clip)")
        return Probe(
            path=path, duration=duration, width=video.codec_context.width, height=video.codec_context.height,
            fps=fps, frames=video.frames or round(duration * fps), video_codec=video.codec_context.name,
            rotation=rotation, variable_fps=_varies(times),
            audio_codec=audio.codec_context.name if audio else None,
            audio_rate=audio.codec_context.sample_rate if audio else None,
            audio_channels=audio.codec_context.channels if audio else None,
        )


def _duration(container, video) -> float:
    if video.duration is not None and video.time_base:
        return float(video.duration * video.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return 0.0


def _varies(times: list[float]) -> bool:
    """Frame intervals (in presentation order) that differ widely mean a variable rate."""
    times = sorted(set(times))
    gaps = [b - a for a, b in zip(times, times[1:]) if b > a]
    if len(gaps) < 4:
        return False
    gaps.sort()
    low, high = gaps[len(gaps) // 20], gaps[-1 - len(gaps) // 20]  # ignore a stray 5% either side
    return high > low * VFR_SPREAD


def _reason(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.split(": '")[0].strip() or type(exc).__name__
