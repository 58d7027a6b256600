"""`ripple narrate` as a library call: a gameplay video in, a narrated video out, in five steps
that `narrate()` takes top to bottom:

1. moments (moments.py): probe the file; keyframes (cuts, intervals, on-screen text, an optional
   caption model) and loudness peaks, merged with the person's captions and game states;
2. candidates (lines.py, Candidates): each moment's, generated and ranked only when a line
   could still be heard there;
3. schedule (ripple/schedule.py): lines placed on the timeline, the most important moments
   first, asking step 2 for candidates and step 4 for each line's length;
4. voice (lines.py, Voicing): each timed line spoken once, in its moment's excitement;
5. render (output.py): mixed over the ducked game audio into an MP4 with .srt/.vtt sidecars,
   commentary.json, a contact sheet and a timeline picture, in one run folder written
   atomically.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ripple.config import GenerateConfig, check_fields, from_options, to_json
from ripple.errors import FieldError, InputError
from ripple.generate import CommentaryRun, Progress, check_config, generate_config
from ripple.narrate.lines import Candidates, Voicing
from ripple.narrate.moments import MERGE_WINDOW_S, find_moments, read_inputs
from ripple.narrate.output import published, write_run
from ripple.schedule import Dropped, Line, ScheduleConfig, schedule
from ripple.state import Moment
from ripple.video.frames import FramesConfig, Keyframe
from ripple.video.probe import Probe
from ripple.video.render import RenderConfig
from ripple.voice import VoiceConfig



@dataclass(frozen=True)
class NarrateConfig:
    video: Path
    generate: GenerateConfig  # its state_file is the video; model, sampling, ranking, out_dir, run_id
    game: str | None = None  # default: the game-state timeline's, else DEFAULT_GAME
    states: Path | None = None  # a game-state timeline (the format of `ripple generate`)
    captions: Path | None = None  # the person's time → caption file (CSV, JSON, JSON Lines, SRT)
    frames: FramesConfig = field(default_factory=FramesConfig)
    ocr: str = "auto"  # on, off, or auto: on when tesseract is installed and no game states were given
    describer: Path | None = None  # a local image-to-text model folder
    merge_window_s: float = MERGE_WINDOW_S
    voice: VoiceConfig = field(default_factory=VoiceConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    render: RenderConfig = field(default_factory=RenderConfig)
    output: Path | None = None  # also put the narrated MP4 (and its sidecars) here

    def to_dict(self) -> dict[str, Any]:
        return to_json(self)


@dataclass
class Narration:
    config: NarrateConfig
    probe: Probe
    keyframes: list[Keyframe]
    moments: list[Moment]
    commentary: CommentaryRun
    lines: list[Line]
    dropped: list[Dropped]
    clips: dict[int, Path]  # moment index → synthesised WAV of its line
    video_handling: str = ""
    seconds: dict[str, float] = field(default_factory=dict)  # time per stage
    folder: Path | None = None

    def to_json(self) -> dict[str, Any]:
        data = self.commentary.to_json()
        data["narrate"] = {
            "config": self.config.to_dict(),
            "video": self.probe.to_json(),
            "video_stream": self.video_handling,
            "keyframes": [
                {"time": k.time, "reason": k.reason, "description": k.describe(), "screen_text": k.screen_text,
                 "numbers": k.numbers, "caption": k.caption, "brightness": round(k.brightness, 3),
                 "motion": round(k.motion, 4), "colours": k.colours}
                for k in self.keyframes
            ],
            "lines": [asdict(l) | {"audio": f"voice/{self.clips[l.moment].name}"} for l in self.lines],
            "dropped": [asdict(d) for d in self.dropped],
            "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
            "outputs": {"video": "narrated.mp4", "subtitles": ["narrated.srt", "narrated.vtt"],
                        "narration": "narration.wav", "contact_sheet": "keyframes.png", "timeline": "timeline.png"},
        }
        return data


def narrate_config(values: Mapping[str, Any]) -> NarrateConfig:
    """The config of narrate's settings by their names (its options, a ripple.toml table); a
    setting missing or None keeps its default."""
    video = Path(values["video"])
    return from_options(NarrateConfig, values, video=video, generate=generate_config(values, video),
                        frames=from_options(FramesConfig, values), voice=from_options(VoiceConfig, values),
                        schedule=from_options(ScheduleConfig, values), render=from_options(RenderConfig, values))


def check_settings(cfg: NarrateConfig) -> None:
    """Everything that can be refused before a model loads or a frame is read."""
    check_config(cfg.generate)
    f = cfg.frames
    check_fields(cfg, [
        (f.sample_every_s > 0, "frames.sample_every_s", "must be above 0 seconds"),
        (0 < f.cut_threshold <= 1, "frames.cut_threshold", "must be in (0, 1]"),
        (0 <= cfg.render.duck <= 1, "render.duck", "must be between 0 (silence the game) and 1 (no ducking)"),
        (cfg.schedule.min_gap_s >= 0, "schedule.min_gap_s", "must not be negative"),
        (cfg.voice.rate > 0, "voice.rate", "must be above 0"),
        (cfg.voice.pitch > 0, "voice.pitch", "must be above 0"),
        (cfg.ocr in ("auto", "on", "off"), "ocr", "must be auto, on or off"),
        (cfg.render.renderer in ("auto", "fast", "moviepy"), "render.renderer", "must be auto, fast or moviepy"),
        (not (cfg.render.renderer == "fast" and cfg.render.burn_subtitles), "render.renderer",
         "fast cannot burn subtitles in (it copies the picture); use moviepy or auto"),
    ])
    if cfg.output is not None and cfg.output.suffix.lower() != ".mp4":
        raise FieldError("output", f"{cfg.output} must name an .mp4 file")
    for target in published(cfg.output) if cfg.output is not None else []:
        if target.is_dir():
            raise InputError(str(target), "is a folder; --output names the .mp4 to write (with .srt/.vtt beside it)")
    if cfg.output is not None:  # find out now, not after the render, that it cannot be written
        folder = next(p for p in cfg.output.absolute().parents if p.exists())
        if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
            raise InputError(str(cfg.output), f"cannot write here: {folder} is not a writable folder")
        _probe_writable(folder, cfg.output)


def _probe_writable(folder: Path, output: Path) -> None:
    """Create and remove a file in `folder`: permissions say yes to root even where nothing
    can be written (/proc, a read-only mount)."""
    import tempfile

    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".ripple-probe-", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InputError(str(output), f"cannot write here: {folder}: {exc.strerror}") from None


def narrate(cfg: NarrateConfig, progress: Progress | None = None, lm=None) -> Narration:
    """Narrate `cfg.video` into a new run folder under cfg.generate.out_dir, in five steps:
    moments → candidates → schedule → voice → render. The schedule drives the two in the
    middle: it asks for a moment's candidates only when a line could still be heard there (the
    most important moments first), and for a line's clip only when it times that line."""
    from ripple.video.loudness import WINDOW_S
    from ripple.voice import choose_backend

    progress = progress or (lambda what, done, total: None)
    started = time.perf_counter()
    check_settings(cfg)
    inputs = read_inputs(cfg)
    choose_backend(cfg.voice)  # no voice: say so before the slow part
    found = find_moments(cfg, inputs, progress)  # 1. moments
    seconds = {"moments": time.perf_counter() - started}
    candidates = Candidates(cfg.generate, found.moments, progress, lm, cfg.voice.rate)  # 2. candidates, as asked
    voice = Voicing(cfg.voice, found.moments)  # 4. clips, as the schedule times lines
    try:
        lines, dropped = schedule(candidates.options(), found.probe.duration, voice.seconds_of, cfg.schedule,
                                  write=candidates.write, ahead=candidates.ahead)  # 3. the schedule
    finally:
        candidates.close()
    progress("done", len(found.moments), len(found.moments))
    seconds |= {"generate": candidates.seconds, "voice": voice.seconds}
    result = Narration(cfg, found.probe, found.keyframes, found.moments, candidates.run(dropped), lines, dropped,
                       voice.chosen(lines), seconds=seconds)
    write_run(result, found.levels, WINDOW_S, progress)  # 5. render
    return result


