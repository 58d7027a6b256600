"""`ripple narrate` as a library call: a gameplay video in, a narrated video out.

probe the file → keyframes (cuts, intervals, on-screen text, an optional caption model)
and loudness peaks → merged with the person's captions and game states into moments →
lines scheduled on the timeline, the most important moments first, each moment's candidates
generated and ranked only when a line could still be heard there → spoken →
mixed over the ducked game audio → an MP4 with .srt/.vtt sidecars, commentary.json, a
contact sheet and a timeline picture, all in one run folder written atomically.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ripple.atomic import atomic_dir, temp_prefix
from ripple.generate import CommentaryRun, MomentResult, Progress, Writer, check_config, generate_config, prepare
from ripple.config import GenerateConfig, check_fields, from_options
from ripple.errors import FieldError, InputError
from ripple.schedule import Dropped, Line, Option, ScheduleConfig, schedule
from ripple.state import Moment, load_moments
from ripple.video.frames import FramesConfig, Keyframe
from ripple.video.probe import Probe
from ripple.video.render import RenderConfig
from ripple.voice import VoiceConfig, clip_seconds

DEFAULT_GAME = "a video game"


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
    merge_window_s: float = 1.5
    voice: VoiceConfig = field(default_factory=VoiceConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    render: RenderConfig = field(default_factory=RenderConfig)
    output: Path | None = None  # also put the narrated MP4 (and its sidecars) here

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["generate"] = self.generate.to_dict()
        return json.loads(json.dumps(data, default=str))


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
    for target in _published(cfg.output) if cfg.output is not None else []:
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
    """Narrate `cfg.video` into a new run folder under cfg.generate.out_dir."""
    from ripple.speech.audio import AudioError, load_audio
    from ripple.lm.models import cache_root
    from ripple.video import ocr
    from ripple.video.captions import load_captions
    from ripple.video.frames import keyframes
    from ripple.video.loudness import WINDOW_S, loudness_db, peaks
    from ripple.video.moments import build_moments
    from ripple.video.probe import probe
    from ripple.voice import choose_backend, synthesise

    progress = progress or (lambda what, done, total: None)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    check_settings(cfg)
    info = probe(cfg.video)
    states = load_moments(cfg.states) if cfg.states else []
    captions = load_captions(cfg.captions) if cfg.captions else []
    choose_backend(cfg.voice)  # no voice: say so before the slow part
    inspectors = []
    # A game-state timeline gives the numbers exactly; reading them off the screen (a second
    # a keyframe) is left to --ocr on.
    if cfg.ocr == "on" or (cfg.ocr == "auto" and not states and ocr.available()):
        inspectors.append(lambda frame, keyframe: _read_screen(ocr, frame, keyframe))
    if cfg.describer:
        from ripple.video.describe import Describer

        inspectors.append(Describer(cfg.describer))

    progress("finding moments in the video", 0, 1)
    frames, _ = keyframes(cfg.video, cfg.frames, inspectors)
    levels, found_peaks = None, []
    if info.has_audio:
        try:
            audio = load_audio(cfg.video)
            levels, found_peaks = loudness_db(audio), peaks(audio)
        except AudioError:
            levels = None  # an audio stream with nothing decodable: narrate over silence
    game = cfg.game or (states[0].game if states else DEFAULT_GAME)
    moments = build_moments(game, frames, found_peaks, captions, states, cfg.merge_window_s, info.duration)
    seconds["moments"] = time.perf_counter() - started

    templates, lm = prepare(cfg.generate, moments, progress, lm)
    writer = Writer(cfg.generate, lm)
    results: dict[int, MomentResult] = {}
    clips: dict[tuple[int, str], Path] = {}
    seconds["generate"] = seconds["voice"] = 0.0

    drafts = Drafts(writer, moments, templates)

    def write(index: int, placed: list[Line]) -> list[tuple[str, float]]:
        # Only moments whose line could still be heard get here, the most important first;
        # the lines heard before this one are those placed for earlier moments.
        progress(f"moment {index + 1}/{len(moments)}: {templates[index].name}", len(results), len(moments))
        t = time.perf_counter()
        said = _said_before(index, placed)
        results[index] = writer.finish(drafts.wait(index, said), said)
        seconds["generate"] += time.perf_counter() - t
        return [(c.text, c.total) for c in results[index].ranked]

    def spoken_seconds(index: int, text: str) -> float:
        if (index, text) not in clips:
            t = time.perf_counter()
            clips[index, text] = synthesise(text, replace(cfg.voice, excitement=moments[index].intensity or 0.0),
                                            cache_root())
            seconds["voice"] += time.perf_counter() - t
        return clip_seconds(clips[index, text])

    options = [Option(i, m.time or 0.0, m.intensity or 0.0, []) for i, m in enumerate(moments)]
    try:
        lines, dropped = schedule(options, info.duration, spoken_seconds, cfg.schedule, write=write,
                                  ahead=drafts.start if drafts.lanes else None)
    finally:
        drafts.close()
    reasons = {d.moment: d.reason for d in dropped}
    commentary = CommentaryRun(config=cfg.generate, model=lm.describe(), results=[
        results.get(i) or MomentResult.not_written(m, templates[i], reasons[i]) for i, m in enumerate(moments)])
    progress("done", len(moments), len(moments))
    chosen = {l.moment: clips[l.moment, l.text] for l in lines}

    result = Narration(cfg, info, frames, moments, commentary, lines, dropped, chosen, seconds=seconds)
    _write(result, levels, WINDOW_S, progress)
    return result


def _said_before(index: int, placed: list[Line]) -> list[str]:
    return [l.text for l in placed if l.moment < index]  # placed comes in time order


class Drafts:
    """Moments' candidates being written, each on one of the writer's lanes: the moment the
    schedule asks for, and the one it says is likely next, written meanwhile on the other
    lane (the other core). Lanes take moments in turn, in the order they were started, so
    a run's candidates are the same from the same seed. A moment started ahead was prompted
    with the lines heard before it then; the line placed meanwhile, if it comes earlier,
    reaches its ranking (not repeating it), not its prompt. With one lane, each moment is
    written when it is asked for, in the caller's thread."""

    def __init__(self, writer: Writer, moments, templates):
        from concurrent.futures import ThreadPoolExecutor

        self.writer, self.moments, self.templates = writer, moments, templates
        count = writer.lanes if writer.lanes > 1 else 0  # one lane: the caller's own thread
        self.lanes = [ThreadPoolExecutor(1, thread_name_prefix=f"ripple-lane{i}") for i in range(count)]
        self.started: dict[int, Any] = {}
        if count:
            tokenizer = writer.lm.tokenizer
            writer.lm.ct2.seed_lanes(count, writer.cfg.sampling.seed,
                                     tokenizer.convert_ids_to_tokens(tokenizer.eos_token_id))

    def start(self, index: int, placed: list[Line]) -> None:
        if self.lanes and index not in self.started:
            self._submit(index, _said_before(index, placed))

    def wait(self, index: int, said: list[str]):
        if not self.lanes:
            return self.writer.draft(index, self.moments[index], self.templates[index], said)
        if index not in self.started:
            self._submit(index, said)
        return self.started[index].result()

    def _submit(self, index: int, said: list[str]) -> None:
        lane = len(self.started) % len(self.lanes)
        self.started[index] = self.lanes[lane].submit(
            self.writer.draft, index, self.moments[index], self.templates[index], said, lane)

    def close(self) -> None:
        for lane in self.lanes:  # a guess never asked for is finished, not cut (ctranslate.py: seeds)
            lane.shutdown(wait=True)


def _read_screen(ocr, frame, keyframe: Keyframe) -> None:
    screen = ocr.read_text(frame)
    keyframe.screen_text = screen.lines
    keyframe.numbers = screen.numbers()


def _write(result: Narration, levels, window_s: float, progress: Progress) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from ripple.plots import score_chart, timeline_chart
    from ripple.runs import new_run_id, write_commentary_files
    from ripple.video.frames import contact_sheet
    from ripple.video.render import narration_track, render, to_srt, to_vtt

    cfg, gen = result.config, result.config.generate
    run_id = gen.run_id or new_run_id(gen.out_dir, cfg.video.stem)
    folder = gen.out_dir / run_id
    result.commentary.run_id = run_id
    t = time.perf_counter()
    # ffmpeg renders in a thread of its own (it waits on a subprocess) while the pictures
    # are drawn here: the two took 11 s and 14 s one after the other for a minute of Doom.
    with atomic_dir(folder) as tmp, ThreadPoolExecutor(1, thread_name_prefix="ripple-render") as pool:
        progress("rendering the narrated video", 0, 1)
        voice = tmp / "voice"
        voice.mkdir()
        clips = {}
        for line in result.lines:
            clips[line.moment] = shutil.copy2(result.clips[line.moment], voice / result.clips[line.moment].name)
        result.clips = {k: Path(v) for k, v in clips.items()}
        narration = narration_track(result.lines, result.clips, result.probe.duration, tmp / "narration.wav",
                                    cfg.render.narration_gain)
        rendering = pool.submit(render, result.probe, narration, result.lines, tmp / "narrated.mp4", cfg.render)
        (tmp / "narrated.srt").write_text(to_srt(result.lines))
        (tmp / "narrated.vtt").write_text(to_vtt(result.lines))
        notes = []
        for frame in result.keyframes:  # the line spoken nearest after each keyframe
            near = [l for l in result.lines if 0 <= l.start - frame.time < result.config.frames.sample_every_s]
            notes.append([f'"{near[0].text}"'] if near else [])
        contact_sheet(result.keyframes, tmp / "keyframes.png", notes=notes)
        timeline_chart(result.probe.duration, levels, window_s, result.moments, result.lines, result.dropped,
                       tmp / "timeline.png")
        if result.commentary.results:
            score_chart(result.commentary, tmp / "scores.png")
        result.video_handling = rendering.result()
        result.seconds["render"] = time.perf_counter() - t
        write_commentary_files(result.commentary, tmp, result.to_json(), chart=False)
    result.folder = folder
    result.commentary.folder = folder
    result.clips = {k: folder / "voice" / v.name for k, v in result.clips.items()}
    from ripple.store import DB_NAME, record_run

    record_run(gen.out_dir / DB_NAME, result.to_json(), folder)  # every candidate kept for `ripple curate`
    if cfg.output is not None:  # after the run folder is in place: a late failure here loses nothing
        try:
            _publish(folder, cfg.output)
        except InputError as exc:
            raise InputError(exc.where, f"{exc.message}; the narrated run is kept in {folder}") from None


def _published(output: Path) -> list[Path]:
    """Where --output puts the video and its subtitles."""
    return [output, output.with_suffix(".srt"), output.with_suffix(".vtt")]


def _publish(tmp: Path, output: Path) -> None:
    """Copy the MP4 and its sidecars to the person's --output path, each atomically."""
    import tempfile

    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(str(output), f"cannot create its folder: {exc.strerror}") from None
    for src, dst in zip([tmp / "narrated.mp4", tmp / "narrated.srt", tmp / "narrated.vtt"], _published(output)):
        try:
            fd, part = tempfile.mkstemp(dir=output.parent, prefix=temp_prefix(dst.name), suffix=".tmp")
            os.close(fd)
        except OSError as exc:
            raise InputError(str(dst), f"cannot write here: {exc.strerror}") from None
        try:
            shutil.copyfile(src, part)
            os.chmod(part, 0o644)
            os.replace(part, dst)
        except OSError as exc:
            Path(part).unlink(missing_ok=True)
            raise InputError(str(dst), f"cannot write here: {exc.strerror}") from None
        except BaseException:
            Path(part).unlink(missing_ok=True)
            raise
