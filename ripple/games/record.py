"""`ripple record` as a library call: a scripted agent plays a real game, and the run folder
gets gameplay.mp4 (H.264, with the game's sound as AAC when the engine gives any),
timeline.jsonl (moments in the game-state format of `ripple generate`) and record.json.

The same loop serves `ripple live`: it can hold play to the game's real speed and hand
each moment to a callback as soon as it happens.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ripple.config import invalid, option
from ripple.atomic import atomic_dir
from ripple.errors import FieldError
from ripple.games import recorder
from ripple.games.encode import SoundWriter, VideoWriter, mux
from ripple.games.events import EventDetector
from ripple.games.moment_maker import HEARTBEAT_S, MomentMaker, to_json_line
from ripple.state import Moment

MAX_SECONDS = 6 * 3600.0  # a recording longer than this is a mistyped flag
LATE_FRAME_S = 0.1  # in real-time play, a frame this late counts as a stall
VIDEO = "gameplay.mp4"
TIMELINE = "timeline.jsonl"

Progress = Callable[[str, int, int], None]
OnMoment = Callable[[Moment, float], None]  # (moment, time.monotonic() when its frame was played)


@dataclass(frozen=True)
class RecordConfig:
    game: str  # doom or atari
    scenario: str  # a Doom scenario, or an Atari game
    seconds: float = 30.0  # of play
    seed: int = 0  # the engine's and the agent's: the same seed plays the same game
    heartbeat_s: float = option(HEARTBEAT_S, name="heartbeat")  # a quiet moment at least this often
    out_dir: Path = option(Path("outputs"), name="out")  # runs are written to out_dir/<run-id>/
    run_id: str | None = None  # None: the time, the game and the scenario

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"out_dir": str(self.out_dir)}


@dataclass
class Pace:
    """How closely play kept to the game's real speed."""

    frames_per_s: float  # achieved
    max_late_s: float  # the latest any frame came
    late_frames: int  # frames later than LATE_FRAME_S
    max_gap_s: float  # the longest time between two frames: a stall of the loop shows here


@dataclass
class Played:
    frames: int
    fps: int
    size: tuple[int, int]  # of the video
    sound: str  # the audio track, or why there is none
    moments: list[Moment]
    wall_s: float
    pace: Pace | None = None
    info: dict[str, Any] = field(default_factory=dict)
    started: float = 0.0  # time.monotonic() when the first frame was played: one clock for every process

    def event_kinds(self) -> dict[str, int]:
        """How many events of each kind the timeline holds."""
        return dict(sorted(Counter(e.kind for m in self.moments for e in m.events).items()))


@dataclass
class Recording:
    config: RecordConfig
    folder: Path
    played: Played


MAX_SEED = 2**32 - 1  # ViZDoom's and ALE's seeds are unsigned 32-bit


def check_seconds(seconds: float) -> None:
    if not math.isfinite(seconds) or seconds <= 0:
        raise FieldError("seconds", f"must be above 0 seconds (got {seconds:g})")
    if seconds > MAX_SECONDS:
        raise FieldError("seconds", f"must be at most {MAX_SECONDS:g} seconds (got {seconds:g})")


def check(cfg: RecordConfig):
    """Everything that can be refused before an engine starts; returns the game's module."""
    check_seconds(cfg.seconds)
    if not 0 <= cfg.seed <= MAX_SEED:
        raise invalid(cfg, "seed", f"must be 0 to {MAX_SEED} (the engines take an unsigned 32-bit seed; got {cfg.seed})")
    if not cfg.heartbeat_s > 0:
        raise invalid(cfg, "heartbeat_s", "must be above 0 seconds")
    from ripple.generate import check_run_folder

    check_run_folder(cfg.out_dir, cfg.run_id)
    module = recorder(cfg.game)
    module.check_scenario(cfg.scenario)
    return module


def _mux(video: VideoWriter, sound, source, folder: Path) -> str:
    """folder/gameplay.mp4 from the picture and the game's sound; says what sound it has."""
    if sound is not None and sound.peak > 0:
        mux(video.path, sound.path, folder / VIDEO)
        described = f"aac from the game's own sound ({source.audio_rate} Hz, {source.audio_channels} channel(s))"
    else:
        mux(video.path, None, folder / VIDEO)
        described = ("none: the engine gave only silence" + (" (ViZDoom mixes sound with OpenAL: apt-get install "
                     "libopenal1)" if source.game == "Doom" else "")) if sound is not None else "none: no sound"
    if sound is not None:
        sound.path.unlink(missing_ok=True)
    return described


def play(source, agent, frames: int, folder: Path, heartbeat_s: float = HEARTBEAT_S,
         on_moment: OnMoment | None = None, realtime: bool = False, progress: Progress | None = None,
         should_stop: Callable[[], bool] | None = None) -> Played:
    """Play `frames` frames into folder/gameplay.mp4 and folder/timeline.jsonl.

    `realtime` holds each frame back until its time (tic / fps after the start) has come;
    `on_moment` gets every moment as soon as its frame is played and must not block.
    """
    progress = progress or (lambda what, done, total: None)
    scale = getattr(source, "video_scale", 1)
    video = VideoWriter(folder / ".picture.mp4", source.size, source.fps, scale)
    sound = SoundWriter(folder / ".sound.wav", source.audio_rate, source.audio_channels) if source.audio_rate else None
    detector = EventDetector(getattr(source, "say", str))
    maker = MomentMaker(source, heartbeat_s)
    moments: list[Moment] = []
    late, max_late, max_gap, last_shown = 0, 0.0, 0.0, None
    started = time.monotonic()
    try:
        with open(folder / TIMELINE, "w", encoding="utf-8") as timeline:
            for tic in range(frames):
                if realtime:
                    wait = started + tic / source.fps - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                    elif -wait > LATE_FRAME_S:
                        late += 1
                    max_late = max(max_late, -wait)
                obs = source.observe(tic)
                shown = time.monotonic()
                if last_shown is not None:
                    max_gap = max(max_gap, shown - last_shown)
                last_shown = shown
                video.write(obs.frame)
                if sound is not None and obs.audio is not None:
                    sound.write(obs.audio)
                moment = maker.update(obs, detector.update(obs))
                if moment is not None:
                    moments.append(moment)
                    timeline.write(to_json_line(moment))
                    timeline.flush()
                    if on_moment is not None:
                        on_moment(moment, shown)
                source.act(agent.act(obs))
                if tic % source.fps == 0:
                    progress(f"playing {source.title}", tic, frames)
                if should_stop is not None and should_stop():
                    break
        wall = time.monotonic() - started
        written = video.close()
    except BaseException:
        video.abort()
        raise
    finally:
        if sound is not None:
            sound.close()
    described = _mux(video, sound, source, folder)
    progress(f"playing {source.title}", frames, frames)
    pace = Pace(round(written / wall, 2), round(max_late, 4), late, round(max_gap, 4)) if realtime else None
    size = (source.size[0] * scale, source.size[1] * scale)
    return Played(written, source.fps, size, described, moments, round(wall, 3), pace, source.info(), started)


def summary(cfg_dict: dict[str, Any], played: Played) -> dict[str, Any]:
    """record.json: the config, the engine, the video and what the timeline holds."""
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": cfg_dict,
        "engine": played.info,
        "video": {"file": VIDEO, "frames": played.frames, "fps": played.fps, "width": played.size[0],
                  "height": played.size[1], "seconds": round(played.frames / played.fps, 3), "sound": played.sound},
        "timeline": {"file": TIMELINE, "moments": len(played.moments), "events": played.event_kinds()},
        "wall_s": played.wall_s,
        "pace": asdict(played.pace) if played.pace else None,
    }


def record(cfg: RecordConfig, progress: Progress | None = None) -> Recording:
    """Play `cfg.seconds` of the game into a new run folder under cfg.out_dir."""
    from ripple.runs import new_run_id

    module = check(cfg)
    run_id = cfg.run_id or new_run_id(cfg.out_dir, f"{cfg.game}-{cfg.scenario}")
    folder = Path(cfg.out_dir) / run_id
    source = module.open_source(cfg.scenario, cfg.seed)
    try:
        with atomic_dir(folder) as tmp:
            frames = max(1, round(cfg.seconds * source.fps))
            played = play(source, source.make_agent(cfg.seed), frames, tmp, cfg.heartbeat_s, progress=progress)
            (tmp / "record.json").write_text(json.dumps(summary(cfg.to_dict() | {"run_id": run_id}, played),
                                                        indent=2) + "\n")
    finally:
        source.close()
    return Recording(cfg, folder, played)
