"""The narrated video: the narration track, the game audio ducked under it, subtitles, and
an MP4 that plays anywhere (H.264 video, AAC audio) with the source's length and frame rate.

Two paths share one audio mix (an ffmpeg filter whose ducking follows the scheduled lines
exactly, with short ramps):

- fast: nothing is burned in, so ffmpeg mixes the audio and copies the H.264 video stream
  untouched (re-encoding only a source that is not H.264). Seconds per minute of video.
- moviepy: subtitles burned into the picture; moviepy reads the frames, the text is
  blended in where a line is spoken, libx264 re-encodes, and ffmpeg muxes the same mix.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

from ripple.errors import FieldError, RippleError
from ripple.schedule import Line
from ripple.speech.audio import AudioError, load_audio
from ripple.video.probe import Probe

MIX_RATE = 48_000  # the output's audio sample rate
NARRATION_DB = -18.0  # each spoken line is levelled to this RMS (dBFS, over its voiced part)
PEAK = 0.95  # ... unless that would push a peak past this
CUT_FADE = 480  # samples (10 ms) over which a line cut off mid-word fades out instead of clicking
COPYABLE = {"h264"}  # video codecs that go into the MP4 unchanged


@dataclass(frozen=True)
class RenderConfig:
    duck: float = 0.3  # game audio's gain under narration (0.3 is about -10 dB)
    ramp_s: float = 0.15  # how long the game audio takes to dip and recover
    narration_gain: float = 1.0
    burn_subtitles: bool = False  # draw the lines into the picture (the moviepy path)
    renderer: str = "auto"  # auto (fast unless subtitles are burned in), fast, moviepy
    crf: int = 20  # x264 quality when the video is re-encoded (lower is better and larger)
    preset: str = "veryfast"


class RenderError(RippleError):
    """ffmpeg or moviepy failed; the message carries their last line."""


# ---- subtitles ---------------------------------------------------------------------------

def _stamp(seconds: float, sep: str) -> str:
    ms = round(seconds * 1000)
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{sep}{ms:03d}"


def to_srt(lines: list[Line]) -> str:
    blocks = [f"{i}\n{_stamp(l.start, ',')} --> {_stamp(l.end, ',')}\n{l.text}\n" for i, l in enumerate(lines, 1)]
    return "\n".join(blocks)


def to_vtt(lines: list[Line]) -> str:
    return "WEBVTT\n\n" + "\n".join(f"{_stamp(l.start, '.')} --> {_stamp(l.end, '.')}\n{l.text}\n" for l in lines)


# ---- audio -------------------------------------------------------------------------------

def level(clip, target_db: float = NARRATION_DB):
    """Scale a spoken clip so that its voiced part sits at `target_db` RMS, peaks allowing:
    voices differ by 10 dB or more, and the game is ducked to sit under a known level."""
    import numpy as np

    frames = clip[: len(clip) // 480 * 480].reshape(-1, 480)  # 10 ms at MIX_RATE
    if frames.size == 0:
        return clip
    power = (frames.astype(np.float64) ** 2).mean(axis=1)
    voiced = power[power > 10 ** (-50 / 10)]
    if voiced.size == 0:
        return clip
    gain = 10 ** (target_db / 20) / np.sqrt(voiced.mean())
    gain = min(gain, PEAK / max(float(np.abs(clip).max()), 1e-9))
    return clip * gain


def narration_track(lines: list[Line], clips: dict[int, Path], duration: float, path: Path, gain: float = 1.0) -> Path:
    """One mono WAV as long as the video with each line's clip, levelled, at its start time,
    and stopped at its end time when that comes before the clip's own end."""
    import numpy as np

    track = np.zeros(int(round(duration * MIX_RATE)), dtype=np.float32)
    for line in lines:
        try:
            clip = level(load_audio(clips[line.moment], rate=MIX_RATE)) * gain
        except AudioError as exc:
            raise RenderError(f"{clips[line.moment]}: cannot read the synthesised line: {exc}") from None
        at = int(round(line.start * MIX_RATE))
        room = int(round((line.end - line.start) * MIX_RATE))
        if room < len(clip) - CUT_FADE:  # the line was cut off (live): stop there, fading out
            clip = clip[:room].copy()
            clip[-min(CUT_FADE, room):] *= np.linspace(1, 0, min(CUT_FADE, room), dtype=clip.dtype)
        clip = clip[: max(0, len(track) - at)]
        track[at : at + len(clip)] += clip
    pcm = (np.clip(track, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(MIX_RATE)
        out.writeframes(pcm.tobytes())
    return path


def duck_expression(lines: list[Line], duck: float, ramp: float) -> str:
    """ffmpeg `volume` expression: 1 away from lines, `duck` while one is spoken, linear
    ramps of `ramp` seconds into and out of each."""
    if not lines:
        return "1"
    terms = [f"clip((t-{l.start - ramp:.3f})/{ramp},0,1)*clip(({l.end + ramp:.3f}-t)/{ramp},0,1)" for l in lines]
    return f"1-{1 - duck:.4f}*min(1,{'+'.join(terms)})"


def _stereo(channels: int | None) -> str:
    """Filters that make a float stereo stream. Mono goes to both sides at full level:
    ffmpeg's own upmix treats it as a centre channel and drops it by 3 dB."""
    if channels == 1:
        return "aformat=sample_fmts=fltp,pan=stereo|c0=c0|c1=c0"
    return "aformat=sample_fmts=fltp:channel_layouts=stereo"


def mix_graph(probe: Probe, lines: list[Line], cfg: RenderConfig, game_input: int = 0, narration_input: int = 1) -> str:
    """The filter graph ending in [mix]: game audio (if any) ducked, plus the narration,
    padded or trimmed to the video's length."""
    d = f"{probe.duration:.3f}"
    narration = f"[{narration_input}:a]aresample={MIX_RATE},{_stereo(1)}[nar]"
    if not probe.has_audio:
        return f"{narration};[nar]apad=whole_dur={d},atrim=0:{d}[mix]"
    expr = duck_expression(lines, cfg.duck, cfg.ramp_s).replace(",", "\\,")
    return (
        f"[{game_input}:a:0]aresample={MIX_RATE},{_stereo(probe.audio_channels)},"
        f"volume=volume='{expr}':eval=frame[game];{narration};"
        f"[game][nar]amix=inputs=2:duration=first:normalize=0,apad=whole_dur={d},atrim=0:{d}[mix]"
    )


def _run_ffmpeg(args: list[str], what: str) -> None:
    from ripple import ffmpeg

    ffmpeg.run(args, what, RenderError)


def _video_args(probe: Probe, cfg: RenderConfig) -> list[str]:
    if probe.video_codec in COPYABLE:
        return ["-c:v", "copy"]
    # Not H.264: re-encode once, keeping every frame's timestamp (variable rates included).
    return ["-c:v", "libx264", "-preset", cfg.preset, "-crf", str(cfg.crf), "-pix_fmt", "yuv420p",
            "-fps_mode", "passthrough"]


def render_fast(probe: Probe, narration: Path, lines: list[Line], out: Path, cfg: RenderConfig) -> str:
    """Mix and mux in one ffmpeg run; returns how the video stream was handled."""
    _run_ffmpeg(
        ["-i", str(probe.path), "-i", str(narration), "-filter_complex", mix_graph(probe, lines, cfg),
         "-map", "0:v:0", "-map", "[mix]", *_video_args(probe, cfg), "-c:a", "aac", "-b:a", "192k",
         "-movflags", "+faststart", "-f", "mp4", str(out)],
        str(probe.path),
    )
    return "copied" if probe.video_codec in COPYABLE else f"re-encoded from {probe.video_codec} to h264"


def font_path() -> str:
    """A TrueType font that is always there: matplotlib ships DejaVu Sans."""
    import matplotlib

    return str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans-Bold.ttf")


def subtitle_images(lines: list[Line], width: int, height: int) -> list[tuple[float, float, int, int, object, object]]:
    """Each line drawn once by moviepy's TextClip (white, black edges, wrapped to 90% of the
    width): (start, end, x, y, RGB pixels, alpha as 0-1 floats), placed near the bottom."""
    from moviepy import TextClip

    drawn = []
    for line in lines:
        text = TextClip(
            font=font_path(), text=line.text, font_size=max(14, height // 22), color="white",
            stroke_color="black", stroke_width=max(1, height // 360), method="caption",
            size=(int(width * 0.9), None), text_align="center",
        )
        rgb, alpha = text.get_frame(0), text.mask.get_frame(0)[..., None]
        h, w = rgb.shape[:2]
        h, w = min(h, height), min(w, width)
        x, y = (width - w) // 2, max(0, height - h - height // 18)
        drawn.append((line.start, line.end, x, y, rgb[:h, :w].astype("float32"), alpha[:h, :w].astype("float32")))
    return drawn


def render_moviepy(probe: Probe, narration: Path, lines: list[Line], out: Path, cfg: RenderConfig) -> str:
    """Burn the lines in as subtitles: moviepy reads the frames, draws each line once, and
    writes H.264; the text is blended into the frames only while its line is spoken (the
    rest pass through untouched, which is most of the video), and ffmpeg then muxes that
    picture with the same audio mix as the fast path, encoding the audio once."""
    import bisect

    try:
        from moviepy import VideoFileClip
    except ImportError as exc:
        raise RenderError("burned-in subtitles need moviepy: pip install 'ripple-commentary[video]'") from exc

    picture = out.with_name(out.stem + ".picture.mp4")
    video = None
    try:
        video = VideoFileClip(str(probe.path), audio=False)
        drawn = subtitle_images(lines, *video.size)
        starts = [d[0] for d in drawn]

        def burn(get_frame, t):
            frame = get_frame(t)
            at = bisect.bisect_right(starts, t) - 1
            if at < 0 or t >= drawn[at][1]:
                return frame
            _, _, x, y, rgb, alpha = drawn[at]
            frame = frame.copy()
            region = frame[y : y + rgb.shape[0], x : x + rgb.shape[1]]
            region[...] = (region * (1 - alpha) + rgb * alpha).astype("uint8")
            return frame

        video.transform(burn).with_duration(probe.duration).write_videofile(
            str(picture), fps=probe.fps, codec="libx264", audio=False, preset=cfg.preset,
            ffmpeg_params=["-crf", str(cfg.crf), "-pix_fmt", "yuv420p"], threads=2, logger=None,
        )
    except (OSError, ValueError, RuntimeError) as exc:
        picture.unlink(missing_ok=True)
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else repr(exc)
        raise RenderError(f"{probe.path}: moviepy failed: {reason}") from None
    finally:
        if video is not None:
            video.close()
    try:
        _run_ffmpeg(["-i", str(picture), "-i", str(probe.path), "-i", str(narration), "-filter_complex",
                     mix_graph(probe, lines, cfg, game_input=1, narration_input=2), "-map", "0:v:0", "-map", "[mix]",
                     "-c:v", "copy", "-c:a", "aac", "-b:a", "192k", "-movflags", "+faststart", "-f", "mp4", str(out)],
                    str(probe.path))
    finally:
        picture.unlink(missing_ok=True)
    return "re-encoded with burned-in subtitles"


def render(probe: Probe, narration: Path, lines: list[Line], out: Path, cfg: RenderConfig) -> str:
    renderer = cfg.renderer
    if renderer == "auto":
        renderer = "moviepy" if cfg.burn_subtitles else "fast"
    if renderer == "fast" and cfg.burn_subtitles:
        raise FieldError("renderer", "fast cannot burn subtitles in (it copies the picture); use moviepy or auto")
    if renderer == "fast":
        return render_fast(probe, narration, lines, out, cfg)
    if renderer == "moviepy":
        return render_moviepy(probe, narration, lines, out, cfg)
    raise FieldError("renderer", f"'{cfg.renderer}' is not one of auto, fast, moviepy")
