"""The lines the live commentator writes before their events happen, and the events it expects:
what the newest moment makes likely (the game says: games/doom.py's likely_events), then what
just happened and may happen again in the same words, then what was likely before."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ripple.games.events import INTENSITY
from ripple.games.streaming import ECHO_LIMIT
from ripple.state import Event, Moment

AHEAD_KEPT = 4  # lines written ahead kept at most (one each for the likeliest events)
RECUR = {"kill", "level_end", "life_lost", "pickup"}  # kinds of event whose very words come again
LIKELY_KEPT = 8  # likely events remembered: monsters seen a while ago come back
AHEAD_KEEP_S = 30.0  # a line written ahead is used at most this long after it was written


def numbers_agree(text: str, moment: Moment) -> bool:
    """Every number in a line written ahead is one the real moment has (its numbers, events or
    scene): 'health at 64' was true of the state it was written from, maybe not any more."""
    known = {str(v) for v in moment.numbers.values()}
    known.update(re.findall(r"\d+", " ".join([moment.scene or "", *(e.text for e in moment.events)])))
    return all(n in known for n in re.findall(r"\d+", text))


@dataclass
class Ahead:
    """A line written for an event before it happened."""

    event: str  # the event's text, as the detector will report it
    text: str
    template: str
    candidates: list[tuple[str, float]]
    clip: Path
    ready: float  # time.monotonic() when its audio was ready


@dataclass
class AheadCounts:
    written: int = 0  # lines written ahead
    used: int = 0  # spoken when their event came
    stopped: int = 0  # abandoned half-written: a life lost, a level's end, or an event that would go stale waiting
    refused: int = 0  # their event came, but a number disagreed or the line echoed one said since
    replaced: int = 0  # made room for a likelier event's line, or grew too old


class AheadStore:
    """The lines kept, by their event's text (`text in store`, `store[text]`), and the likely events."""

    def __init__(self, likely: Callable[[Moment], list[Event]] | None):
        self.likely_after = likely  # the events that could follow a moment (the game's); None: nothing is written
        self.newest: Moment | None = None  # the newest moment seen: what lines are written ahead from
        self.likely: dict[str, Event] = {}  # the newest moment's likely events first, then those seen before
        self.lines: dict[str, Ahead] = {}
        self.counts = AheadCounts()

    def __contains__(self, event_text: str) -> bool:
        return event_text in self.lines

    def __getitem__(self, event_text: str) -> Ahead:
        return self.lines[event_text]

    def clear(self) -> None:
        """Forget the lines kept and what they cost; the likely events stay."""
        self.lines, self.counts = {}, AheadCounts()

    def see(self, moment: Moment) -> None:
        """A new moment: what it makes likely, then what just happened and may happen again word
        for word (a level's end, a pickup), then what was likely before."""
        self.newest = moment
        if self.likely_after is None:
            return
        fresh = {e.text: e for e in self.likely_after(moment)}
        fresh |= {e.text: e for e in moment.events if e.kind in RECUR and not any(c.isdigit() for c in e.text)}
        self.likely = dict(list((fresh | {t: e for t, e in self.likely.items() if t not in fresh}).items())
                           [:LIKELY_KEPT])

    def to_write(self, now: float) -> tuple[Moment, Event] | None:
        """The likeliest event after the newest moment without a line kept for it, making room
        by dropping lines grown too old or for events no longer likely."""
        if self.likely_after is None or self.newest is None:
            return None
        for text in [t for t, a in self.lines.items() if now - a.ready > AHEAD_KEEP_S]:
            del self.lines[text]
            self.counts.replaced += 1
        likely = list(self.likely.values())[:AHEAD_KEPT]
        wanted = [e for e in likely if e.text not in self.lines]
        if not wanted:
            return None
        if len(self.lines) >= AHEAD_KEPT:  # room only by giving up a line for an event no longer in view
            gone = [t for t in self.lines if t not in {e.text for e in likely}]
            if not gone:
                return None
            del self.lines[gone[0]]
            self.counts.replaced += 1
        return self.newest, wanted[0]

    def for_moment(self, moment: Moment) -> Ahead | None:
        """The line kept for one of the moment's events, its biggest first."""
        for event in sorted(moment.events, key=lambda e: -INTENSITY.get(e.kind or "", 0.0)):
            if event.text in self.lines:
                return self.lines[event.text]
        return None

    def take(self, moment: Moment, said: list[str]) -> Ahead | None:
        """The line kept for the moment's event, taken out of the store, unless a number in it no
        longer holds or it echoes one of the lines `said` since it was written (it is dropped)."""
        from ripple.rank import RankContext
        from ripple.rank.loops import Loops

        ahead = self.for_moment(moment)
        if ahead is None:
            return None
        del self.lines[ahead.event]
        echo = Loops().score(RankContext(moment=moment, prompt="", previous=said), [ahead.text])[0]
        if echo.value < ECHO_LIMIT or not numbers_agree(ahead.text, moment):
            self.counts.refused += 1
            return None
        self.counts.used += 1
        return ahead

    def keep(self, ahead: Ahead) -> None:
        self.lines[ahead.event] = ahead
        self.counts.written += 1
