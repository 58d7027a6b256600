"""`ripple live` as a library call: play a game at its real speed and comment on it as it
happens.

The game plays in a process of its own (process.py: record.play with real-time pacing)
and sends each moment back on a queue; here each one is offered to the commentator thread
(commentator.py), which nothing waits for. When the time is up the session's run
folder gets what a recording gets (gameplay.mp4, timeline.jsonl, record.json) and the
commentary: narration.wav (every line where it was heard), narration.json (the lines,
their candidates and timings, the moments dropped and why), latency.json (event to first
audio, p50 and p95), latency.png (each event's latency over the session, against the aim
of a second) and narrated.mp4 (the game with the lines mixed in, the game's sound
ducked under them). There is no sound card here, so lines are written, not played.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ripple.atomic import atomic_dir
from ripple.config import check_fields, to_json
from ripple.games.commentator import (HEARD_WITHIN_S, LIVE_SAMPLING, LIVE_WEIGHTS, Commentator, CommentatorConfig,
                                      Spoken, warm_up)
from ripple.games.process import play_elsewhere
from ripple.games.record import Played, Progress, RecordConfig, check, summary
from ripple.state import Moment

FINISH_GRACE_S = 30.0  # how long the last line may take to finish after play stops
TORCH_THREADS = 1  # generation keeps to one core; the game, its encoder and the voice share the other


@dataclass(frozen=True)
class LiveConfig:
    record: RecordConfig  # the game, scenario, seconds, seed, out_dir, run_id
    commentator: CommentatorConfig = field(default_factory=CommentatorConfig)
    threads: int = TORCH_THREADS  # torch threads for generation (0: torch's own choice)

    def to_dict(self) -> dict[str, Any]:
        return to_json(self)


@dataclass
class Latency:
    events: int  # eventful moments that were spoken
    p50_s: float | None
    p95_s: float | None
    max_s: float | None
    ahead: int = 0  # of those, spoken from a line written before the event

    def line(self) -> str:
        if not self.events:
            return "no eventful moment was spoken, so there is no latency to report"
        return (f"event to first audio over {self.events} spoken events ({self.ahead} written ahead): "
                f"p50 {self.p50_s:.2f} s, p95 {self.p95_s:.2f} s, max {self.max_s:.2f} s")


@dataclass
class Silence:
    """The quiet between spoken lines, over a session of `length_s` seconds."""

    gaps: int  # silences between one line's end and the next one's start
    mean_s: float | None
    p95_s: float | None
    max_s: float | None
    spoken_share: float  # of the session, the share with a line being heard

    def line(self) -> str:
        if not self.gaps:
            return f"{self.spoken_share:.0%} of the session spoken"
        return (f"silence between lines: mean {self.mean_s:.2f} s, p95 {self.p95_s:.2f} s, max {self.max_s:.2f} s; "
                f"{self.spoken_share:.0%} of the session spoken")


def silence_of(spans: list[tuple[float, float]], length_s: float) -> Silence:
    """Silence between the spoken `spans` ((start, end), seconds into the session, in time
    order; a line cut short ends where it was cut), and the share of `length_s` spoken."""
    spans = sorted((a, b) for a, b in ((max(0.0, a), min(b, length_s)) for a, b in spans) if b > a)
    gaps, heard, reach = [], 0.0, None
    for start, end in spans:
        if reach is not None and start > reach + 1e-6:  # lines back to back differ in the last digit
            gaps.append(start - reach)
        heard += max(0.0, end - max(start, reach if reach is not None else start))
        reach = end if reach is None else max(reach, end)
    share = round(heard / length_s, 3) if length_s > 0 else 0.0
    if not gaps:
        return Silence(0, None, None, None, share)
    return Silence(len(gaps), round(sum(gaps) / len(gaps), 3), round(percentile(gaps, 95), 3), round(max(gaps), 3),
                   share)


@dataclass
class LiveSession:
    config: LiveConfig
    folder: Path
    played: Played
    spoken: list[Spoken]
    latency: Latency
    drops: dict[str, int]
    offered: int
    warm_up_s: float
    ahead: dict[str, int] = field(default_factory=dict)  # lines written ahead: written, used, stopped, ...
    silence: Silence | None = None


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile with linear interpolation (numpy's default)."""
    import numpy as np

    return float(np.percentile(values, q))


def latency_of(spoken: list[Spoken]) -> Latency:
    eventful = [s for s in spoken if s.moment.events]
    delays = [s.latency for s in eventful]
    if not delays:
        return Latency(0, None, None, None)
    return Latency(len(delays), round(percentile(delays, 50), 3), round(percentile(delays, 95), 3),
                   round(max(delays), 3), sum(s.ahead_s is not None for s in eventful))


def live_config(values: Mapping[str, Any], game: str) -> LiveConfig:
    """The config of a live session's settings by their names (`ripple live`'s options, a
    ripple.toml table); a setting missing or None keeps its live default."""
    from ripple.config import from_options
    from ripple.rank import parse_weights
    from ripple.voice import VoiceConfig

    commentator = from_options(CommentatorConfig, values, sampling=from_options(LIVE_SAMPLING, values),
                               weights=parse_weights(values.get("weight") or [], LIVE_WEIGHTS),
                               voice=from_options(VoiceConfig, values))
    return from_options(LiveConfig, values, record=from_options(RecordConfig, values, game=game),
                        commentator=commentator)


def check_live(cfg: LiveConfig):
    """Everything that can be refused before a model loads or an engine starts; returns the game's module."""
    from ripple.generate import check_config
    from ripple.config import GenerateConfig, RankConfig
    from ripple.voice import choose_backend

    c = cfg.commentator
    check_config(GenerateConfig(state_file=Path("live"), model=c.model, precision=c.precision, backend=c.backend,
                                template=c.template,
                                sampling=c.sampling, rank=RankConfig(weights=c.weights)))
    check_fields(cfg, [
        (c.stale_after_s > 0, "commentator.stale_after_s", "must be above 0 seconds"),
        (c.queue_size >= 1, "commentator.queue_size", "must be at least 1"),
        (cfg.threads >= 0, "threads", "must be 0 (torch's choice) or more"),
    ])
    module = check(cfg.record)
    choose_backend(c.voice)  # no voice: say so before anything loads
    return module


def live(cfg: LiveConfig, progress: Progress | None = None, lm=None) -> LiveSession:
    """Play cfg.record.seconds of the game at its own speed, commenting as it goes."""
    progress = progress or (lambda what, done, total: None)
    module = check_live(cfg)
    import torch

    threads = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        return _session(cfg, module, progress, lm)
    finally:
        torch.set_num_threads(threads)


def _session(cfg: LiveConfig, module, progress: Progress, lm) -> LiveSession:
    from ripple.lm import models
    from ripple.runs import new_run_id

    rec = cfg.record
    if lm is None:
        progress(f"loading {cfg.commentator.model}", 0, 1)
        lm = models.load(cfg.commentator.model, cfg.commentator.precision, cfg.commentator.backend)
    run_id = rec.run_id or new_run_id(rec.out_dir, f"live-{rec.game}-{rec.scenario}")
    folder = Path(rec.out_dir) / run_id
    game, title, facts = module.about(rec.scenario)
    commentator = Commentator(lm, cfg.commentator, rec.seed, likely=module.likely_events)
    progress("warming up the commentator", 0, 1)
    warm = warm_up(commentator, Moment(game=game, time=0.0, scene=title, facts=facts,
                                       events=[{"text": "the game begins", "kind": "start"}]))
    with atomic_dir(folder) as tmp:
        commentator.start()
        fps = module.FPS
        try:
            played = play_elsewhere(rec.game, rec.scenario, rec.seed, max(1, round(rec.seconds * fps)), tmp,
                                    rec.heartbeat_s, commentator.offer, lambda: commentator.error is not None,
                                    progress)
        finally:
            commentator.finish(FINISH_GRACE_S)
        if commentator.error is not None:
            raise commentator.error
        session = LiveSession(cfg, folder, played, commentator.spoken, latency_of(commentator.spoken),
                              asdict(commentator.drops), commentator.offered, round(warm, 3),
                              asdict(commentator.ahead.counts) if commentator.likely else {})
        session.silence = silence_of([(s.start - played.started, s.end - played.started) for s in commentator.spoken],
                                     played.frames / played.fps)
        _write(session, tmp, run_id)
    return session


def _write(session: LiveSession, tmp: Path, run_id: str) -> None:
    from ripple.plots import latency_chart
    from ripple.schedule import Line
    from ripple.video.probe import probe
    from ripple.video.render import RenderConfig, narration_track, render, to_srt

    played, origin = session.played, session.played.started
    lines, clips = [], {}
    for i, s in enumerate(session.spoken):
        lines.append(Line(i, s.text, round(s.start - origin, 3), round(s.end - origin, 3), 1, s.moment.intensity or 0))
        clips[i] = s.clip
    video_s = played.frames / played.fps
    length = max([video_s] + [line.end for line in lines])
    narration_track(lines, clips, length, tmp / "narration.wav")
    info = probe(tmp / "gameplay.mp4")
    render(info, tmp / "narration.wav", [l for l in lines if l.start < video_s], tmp / "narrated.mp4", RenderConfig())
    (tmp / "narrated.srt").write_text(to_srt(lines))
    latency_chart(length, [(l.start, l.end, s.cut) for l, s in zip(lines, session.spoken)],
                  [(s.shown - origin, s.latency, s.ahead_s is not None) for s in session.spoken if s.moment.events],
                  HEARD_WITHIN_S, tmp / "latency.png", session.silence.line())
    latency = asdict(session.latency) | {"silence": asdict(session.silence), "drops": session.drops,
                                         "offered": session.offered,
                                         "spoken": len(session.spoken), "written_ahead": session.ahead,
                                         "pace": asdict(played.pace)}
    (tmp / "latency.json").write_text(json.dumps(latency, indent=2) + "\n")
    narration = {
        "config": session.config.to_dict(),
        "warm_up_s": session.warm_up_s,
        "latency": latency,
        "lines": [
            {"text": s.text, "template": s.template, "moment_time": s.moment.time,
             "events": [e.model_dump(exclude_none=True) for e in s.moment.events],
             "intensity": s.moment.intensity, "start": line.start, "end": line.end,
             "cut": s.cut, "first_words": s.first, "written_ahead_s": s.ahead_s, "latency_s": round(s.latency, 3),
             "waited_s": round(s.picked - s.shown, 3),
             "generate_s": round(s.written - s.picked, 3), "voice_s": round(s.ready - s.written, 3),
             "audio": f"voice/{s.clip.name}", "candidates": [{"text": t, "total": v} for t, v in s.candidates]}
            for s, line in zip(session.spoken, lines)
        ],
    }
    voice = tmp / "voice"
    voice.mkdir()
    for s in session.spoken:
        (voice / s.clip.name).write_bytes(s.clip.read_bytes())
    (tmp / "narration.json").write_text(json.dumps(narration, indent=2, ensure_ascii=False) + "\n")
    (tmp / "record.json").write_text(json.dumps(
        summary(session.config.record.to_dict() | {"run_id": run_id}, played), indent=2) + "\n")
