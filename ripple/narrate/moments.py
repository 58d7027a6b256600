"""narrate's first step: the moments of a video worth a line, from what was measured (keyframes:
cuts, intervals, on-screen text, an optional caption model; loudness peaks) merged with what the
person gave (captions, a game-state timeline).

Every observation has a time. Observations within `merge_window_s` of each other become
one moment; a moment's scene comes from the keyframe last seen at its time, its events
from everything that happened in its window, its numbers from the game state or, failing
that, from the numbers read on screen. Each moment gets an intensity (0 quiet to 1 the
biggest), which picks the hype template, raises the voice, and decides which line stays
when two crowd each other.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

from ripple.errors import InputError
from ripple.state import Event, Moment, load_moments
from ripple.video.captions import Caption
from ripple.video.frames import Keyframe
from ripple.video.loudness import Peak
from ripple.video.probe import Probe

DEFAULT_GAME = "a video game"
MERGE_WINDOW_S = 1.5  # observations closer than this are one moment
PEAK_FULL_DB = 24.0  # a peak this far over the median is the biggest moment (intensity 1)


@dataclass
class Found:
    """What the video and the person's files say: the moments worth a line, and what found them."""

    probe: Probe
    keyframes: list[Keyframe]
    moments: list[Moment]
    levels: Any  # the game audio's loudness per window (None: no audio)


def read_inputs(cfg) -> tuple[Probe, list[Moment], list]:
    """`cfg` is a NarrateConfig. The video's streams, the game states and the captions: each refused now if unreadable."""
    from ripple.video.captions import load_captions
    from ripple.video.probe import probe

    info = probe(cfg.video)
    states = load_moments(cfg.states) if cfg.states else []
    return info, states, load_captions(cfg.captions) if cfg.captions else []


def find_moments(cfg, inputs: tuple[Probe, list[Moment], list], progress) -> Found:
    """`cfg` is a NarrateConfig. Keyframes (cuts, intervals, on-screen text, a caption model), loudness peaks, captions and
    game states, merged into moments."""
    from ripple.speech.audio import AudioError, load_audio
    from ripple.video import ocr
    from ripple.video.frames import keyframes
    from ripple.video.loudness import loudness_db, peaks

    info, states, captions = inputs
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
    return Found(info, frames, moments, levels)


def _read_screen(ocr, frame, keyframe: Keyframe) -> None:
    screen = ocr.read_text(frame)
    keyframe.screen_text = screen.lines
    keyframe.numbers = screen.numbers()


@dataclass
class _Group:
    time: float
    events: list[Event] = field(default_factory=list)
    states: list[Moment] = field(default_factory=list)
    intensity: float = 0.0
    kinds: set[str] = field(default_factory=set)  # what made it: state, caption, peak, score, cut, interval, start


def _number_changes(before: Keyframe, after: Keyframe) -> list[Event]:
    """Events for on-screen numbers that changed between two keyframes."""
    events = []
    for label, value in after.numbers.items():
        old = before.numbers.get(label)
        if old is None or old == value:
            continue
        direction = "rose" if value > old else "fell"
        events.append(Event(text=f"{label} {direction} from {old:g} to {value:g}", time=after.time, kind=label))
    return events


def build_moments(
    game: str,
    frames: list[Keyframe],
    peaks: list[Peak] = (),
    captions: list[Caption] = (),
    states: list[Moment] = (),
    merge_window_s: float = MERGE_WINDOW_S,
    duration: float | None = None,
) -> list[Moment]:
    """Merge everything known about the video into moments, in time order."""
    anchors = _anchors(frames, peaks, captions, states, merge_window_s)
    if duration is not None:
        anchors = [a for a in anchors if a[0] < duration]
    anchors.sort(key=lambda a: (a[0], a[1] != "state"))
    frame_times = [k.time for k in frames]
    return [_moment(group, game, frames, frame_times) for group in _groups(anchors, merge_window_s)]


def _anchors(frames, peaks, captions, states, merge_window_s: float) -> list[tuple[float, str, object]]:
    """(time, kind, item) for everything that happened: what moments are made of."""
    anchors: list[tuple[float, str, object]] = []
    for i, state in enumerate(states):
        if state.time is None:
            raise InputError(f"moments[{i}].time", "narrating a video needs a time on every game-state moment")
        anchors.append((state.time, "state", state))
    anchors += [(c.time, "caption", c) for c in captions]
    anchors += [(p.time, "peak", p) for p in peaks]
    for before, after in zip(frames, frames[1:]):
        anchors += [(after.time, "score", event) for event in _number_changes(before, after)]
    anchors += [(k.time, k.reason, k) for k in frames if k.reason in ("start", "cut")]
    # A keyframe taken on the interval is a moment of its own only in a stretch where nothing
    # else happens: colour commentary between the action.
    taken = sorted(a[0] for a in anchors)
    for k in frames:
        if k.reason == "interval":
            near = bisect.bisect_left(taken, k.time - merge_window_s)
            if near == len(taken) or taken[near] > k.time + merge_window_s:
                anchors.append((k.time, k.reason, k))
    return anchors


def _groups(anchors, merge_window_s: float) -> list[_Group]:
    """Anchors in time order, those within `merge_window_s` of a group's first in that group."""
    groups: list[_Group] = []
    for time, kind, item in anchors:
        if not groups or time - groups[-1].time >= merge_window_s:
            groups.append(_Group(time=time))
        group = groups[-1]
        group.kinds.add(kind)
        if kind == "state":
            group.states.append(item)
            group.events += [e if e.time is not None else e.model_copy(update={"time": time}) for e in item.events]
            group.intensity = max(group.intensity, item.intensity if item.intensity is not None else 0.3)
        elif kind == "caption":
            group.events.append(Event(text=item.text, time=time, kind="caption"))
            group.intensity = max(group.intensity, 0.5)
        elif kind == "peak":
            group.events.append(Event(text="a sudden roar of noise", time=time, kind="loud"))
            group.intensity = max(group.intensity, min(1.0, 0.5 + 0.5 * item.over_median_db / PEAK_FULL_DB))
        elif kind == "score":
            group.events.append(item)
            group.intensity = max(group.intensity, 0.5)
        elif kind == "cut":
            group.intensity = max(group.intensity, 0.2)
    return groups


def _moment(group: _Group, game: str, frames: list[Keyframe], frame_times: list[float]) -> Moment:
    """A group as a moment: the scene of the keyframe last seen at its time, its game state's."""
    at = bisect.bisect_right(frame_times, group.time + 1e-6) - 1
    frame = frames[at] if at >= 0 else None
    scene_parts = []
    if frame is not None:
        scene_parts.append(frame.describe())
        if frame.caption:
            scene_parts.append(frame.caption)
    state = group.states[0] if group.states else None
    if state and state.scene:
        scene_parts.insert(0, state.scene)
    numbers = dict(frame.numbers) if frame is not None else {}
    for s in group.states:
        numbers.update(s.numbers)
    if group.events:
        intensity = group.intensity
    else:  # a cut or a quiet keyframe: colour; a busier picture is a little more intense
        intensity = max(group.intensity, min(0.3, 0.1 + (frame.motion if frame is not None else 0.0)))
    return Moment(game=state.game if state else game, time=round(group.time, 3),
                  scene="; ".join(p.rstrip(".") for p in scene_parts), events=_unique(group.events),
                  numbers=numbers, facts=state.facts if state else [], mode=state.mode if state else None,
                  intensity=round(intensity, 3))


def _unique(events: list[Event]) -> list[Event]:
    seen, kept = set(), []
    for event in events:
        if event.text.lower() not in seen:
            seen.add(event.text.lower())
            kept.append(event)
    return kept
