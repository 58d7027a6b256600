"""Moments of a video: what was measured (keyframes, on-screen text, loudness peaks) merged
with what the person gave (captions, a game-state timeline).

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

from ripple.errors import InputError
from ripple.state import Event, Moment
from ripple.video.captions import Caption
from ripple.video.frames import Keyframe
from ripple.video.loudness import Peak

MERGE_WINDOW_S = 1.5  # observations closer than this are one moment
PEAK_FULL_DB = 24.0  # a peak this far over the median is the biggest moment (intensity 1)


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
    anchors: list[tuple[float, str, object]] = []  # what something happened at
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
    if duration is not None:
        anchors = [a for a in anchors if a[0] < duration]
    anchors.sort(key=lambda a: (a[0], a[1] != "state"))

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

    frame_times = [k.time for k in frames]
    moments = []
    for group in groups:
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
        moments.append(Moment(
            game=state.game if state else game,
            time=round(group.time, 3),
            scene="; ".join(p.rstrip(".") for p in scene_parts),
            events=_unique(group.events),
            numbers=numbers,
            facts=state.facts if state else [],
            mode=state.mode if state else None,
            intensity=round(intensity, 3),
        ))
    return moments


def _unique(events: list[Event]) -> list[Event]:
    seen, kept = set(), []
    for event in events:
        if event.text.lower() not in seen:
            seen.add(event.text.lower())
            kept.append(event)
    return kept
