"""Lines on a timeline: each moment's best line placed where it can be heard whole.

The most important moments are placed first. A line starts a little after its moment
(`lead_s`), may slip up to `max_delay_s` to clear the line before it, never overlaps
another, keeps `min_gap_s` of quiet either side and ends before the video does. When a
moment's best candidate does not fit, a shorter one from its ranking may (up to
`alternatives`); when none does, the moment stays silent and the reason is recorded.

Given `write`, a moment's candidates are asked for only when they are needed: in the same
order of importance, and only when a line of `shortest_s` could still fit beside the lines
already placed. The others are never written (narrate: 3 of the 25 moments of a minute of
Doom here, whose room went to lines of more important moments). Given `ahead` too, it is
told, just before each `write`, of the moment likely to be written next (the next in
order with room beside the lines placed so far), so that its writing can start on another
core while this one's line is written and placed; the guess is wrong when this line takes
that room.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from ripple import config

WORDS_PER_SECOND = 2.75  # an average commentator, and espeak-ng's default rate
LOOK_AHEAD = 8  # options looked at for `ahead`'s guess: a long video's full timeline is not searched


@dataclass(frozen=True)
class ScheduleConfig:
    min_gap_s: float = config.option(0.4, name="min_gap")  # quiet between two lines
    lead_s: float = 0.2  # a line starts this long after its moment: the viewer sees it first
    max_delay_s: float = config.option(2.0, name="max_delay")  # how late a line may start and still be about its moment
    alternatives: int = 3  # ranked candidates tried per moment before it is dropped
    shortest_s: float = 1.2  # no line is shorter: a moment with less room is not written (with `write`)


@dataclass(frozen=True)
class Option:
    """One moment's offer: when it happens, how much it matters, its ranked candidates."""

    moment: int  # index of the moment
    time: float  # seconds
    importance: float  # 0 to 1
    candidates: list[tuple[str, float]]  # (text, ranking total), best first


@dataclass(frozen=True)
class Line:
    moment: int
    text: str
    start: float
    end: float
    rank: int  # 1 = the moment's best candidate
    importance: float


@dataclass(frozen=True)
class Dropped:
    moment: int
    time: float
    reason: str


def tokens_for(seconds: float, rate: float = 1.0) -> int:
    """The most new tokens worth writing for a line that must be said within `seconds` by a
    voice at `rate` (its speed, as estimate_seconds takes it): a fifth more words than that
    pace (a big moment is said up to 15% faster) at a generous 1.6 tokens a word, and a few
    for the stop mark. A line longer than that could not be placed there."""
    return int(seconds * WORDS_PER_SECOND * rate * 1.2 * 1.6) + 4


def estimate_seconds(text: str, rate: float = 1.0) -> float:
    """How long `text` takes to say, before anything is synthesised."""
    words = len(text.split())
    return 0.25 + words / (WORDS_PER_SECOND * rate)


def schedule(
    options: list[Option],
    duration: float,
    seconds: Callable[[int, str], float],
    cfg: ScheduleConfig = ScheduleConfig(),
    write: Callable[[int, list[Line], float], list[tuple[str, float]]] | None = None,
    ahead: Callable[[int, list[Line]], None] | None = None,
) -> tuple[list[Line], list[Dropped]]:
    """Place lines; `seconds(moment, text)` is a line's spoken length. Returns the lines in
    time order and the moments left silent. `write(moment, placed)`, when given, supplies a
    moment's candidates (the options then carry none) once it is sure to be tried, with the
    lines placed so far, in time order, and the longest line in seconds that could still be
    placed there (so no longer one need be written: tokens_for). `ahead(moment, placed)`
    hears of the moment likely to be written after it (see above)."""
    placed: list[Line] = []
    dropped: list[Dropped] = []
    ordered = sorted(options, key=lambda o: (-o.importance, o.time))

    def room(option: Option):
        return _first_free(placed, option.time + cfg.lead_s, option.time + cfg.max_delay_s, cfg.shortest_s,
                           duration, cfg.min_gap_s)

    for position, option in enumerate(ordered):
        if write is not None:
            start, blocker = room(option)
            if start is None:
                dropped.append(Dropped(option.moment, option.time, f"{_why(blocker)}; not written"))
                continue
            if ahead is not None:
                following = next((o for o in ordered[position + 1:position + 1 + LOOK_AHEAD] if room(o)[0] is not None),
                                 None)
                if following is not None:
                    ahead(following.moment, list(placed))
            longest = _longest_free(placed, option.time + cfg.lead_s, option.time + cfg.max_delay_s, duration,
                                    cfg.min_gap_s)
            option = replace(option, candidates=write(option.moment, list(placed), longest))
        tried = [(i, text) for i, (text, _) in enumerate(option.candidates) if text.strip()][: cfg.alternatives]
        if not tried:
            dropped.append(Dropped(option.moment, option.time, "no usable candidate"))
            continue
        line, blocker = None, None
        for rank, text in tried:
            length = seconds(option.moment, text)
            start, blocker = _first_free(placed, option.time + cfg.lead_s, option.time + cfg.max_delay_s,
                                         length, duration, cfg.min_gap_s)
            if start is not None:
                line = Line(option.moment, text, round(start, 3), round(start + length, 3), rank + 1, option.importance)
                break
        if line is None:
            dropped.append(Dropped(option.moment, option.time, _why(blocker)))
            continue
        placed.append(line)
        placed.sort(key=lambda l: l.start)
    return placed, sorted(dropped, key=lambda d: d.time)


def _why(blocker: Line | None) -> str:
    if blocker is None:
        return "too long to finish before the video ends"
    return (f"crowded out by the line at {blocker.start:.1f}s (moment {blocker.moment + 1}, "
            f"importance {blocker.importance:.2f})")


def _starts(placed: list[Line], earliest: float, latest: float, gap: float) -> list[float]:
    """Where a line may start in [earliest, latest], earliest first: at `earliest`, or `gap`
    after a placed line ends."""
    return sorted([earliest] + [l.end + gap for l in placed if earliest < l.end + gap <= latest])


def _longest_free(placed: list[Line], earliest: float, latest: float, duration: float, gap: float) -> float:
    """The longest line, in seconds, that fits somewhere starting in [earliest, latest]."""
    longest = 0.0
    for start in _starts(placed, earliest, latest, gap):
        if any(l.start - gap < start < l.end + gap for l in placed):
            continue
        after = [l.start - gap for l in placed if l.start - gap >= start]
        longest = max(longest, min([duration, *after]) - start)
    return longest


def _first_free(placed: list[Line], earliest: float, latest: float, length: float, duration: float, gap: float):
    """The earliest start in [earliest, latest] where a line of `length` fits, or None and
    the line in the way."""
    blocker = None
    for start in _starts(placed, earliest, latest, gap):
        end = start + length
        if end > duration:
            continue
        clash = next((l for l in placed if start < l.end + gap and l.start < end + gap), None)
        if clash is None:
            return start, None
        blocker = blocker or clash
    return None, blocker
