"""The live session's voice timeline: the lines heard, in order, and the one being spoken (until
when, how intense, where it may be broken off). A new line is placed where it is heard: after
the line being spoken, at a pause in it, or at once, as the policy's Cut says."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ripple.games.policy import QUIET, Cut, Offer, cut, level
from ripple.state import Moment
from ripple.voice import clip_seconds, pauses

MIN_HEARD_S = 0.5  # break_off: a line is heard this long before an equal event's line breaks it off
BREAK_WITHIN_S = 0.3  # break_off: how long a ready line waits for a pause in the one being spoken


@dataclass
class Spoken:
    """One line as it went: every time is time.monotonic()."""

    moment: Moment
    text: str
    template: str
    candidates: list[tuple[str, float]]  # (text, total), best first
    shown: float  # the moment's frame was played
    picked: float  # the worker took it
    written: float  # the line was generated and ranked
    ready: float  # its audio was synthesised
    start: float  # its audio starts: ready, or when the line before ended
    end: float  # when the clip ends, or when a bigger moment's line cut it off
    clip: Path
    cut: bool = False  # a line about a bigger moment cut in before this one had finished
    first: str = ""  # streamed: the words voiced while the rest of the line was being written
    ahead_s: float | None = None  # written ahead: how long before it was taken its audio was ready

    @property
    def latency(self) -> float:
        """From the frame the moment happened in to the first audio of its line."""
        return self.start - self.shown


class VoiceTimeline:
    def __init__(self, break_off: bool):
        self.break_off = break_off
        self.spoken: list[Spoken] = []
        self.said: list[str] = []  # the lines heard, as text: what a new line must not repeat
        self._free()
        self.cutting = Cut.WAIT  # how the line being made cuts the one being spoken short

    def _free(self) -> None:
        self.busy_until = 0.0  # when the line being spoken ends
        self.speaking = QUIET  # the intensity of the line being spoken
        self.pauses: list[float] = []  # where the line being spoken may be broken off (time.monotonic())
        self.heard_from = 0.0  # when the line being spoken may be broken off at the earliest

    def cut_by(self, moment: Moment, speaking: float | None = None) -> Cut:
        """How a line about `moment` cuts short the line being spoken (or one as intense as `speaking`)."""
        return cut(moment, self.speaking if speaking is None else speaking, self.break_off)

    def cutting_for(self, moment: Moment, now: float) -> Cut:
        """cut_by for a moment taken at `now`: WAIT when nothing is being spoken by then."""
        return self.cut_by(moment) if now < self.busy_until else Cut.WAIT

    def start(self, ready: float) -> float:
        """When a line whose audio is ready at `ready` starts: at once when it cuts the line
        being spoken short; when it breaks that line off, at the line's first pause within
        BREAK_WITHIN_S, else right then (once MIN_HEARD_S of it was heard); else when that
        line ends."""
        if self.cutting == Cut.NOW:
            return ready
        earliest = max(ready, self.heard_from)
        if self.cutting == Cut.PAUSE and earliest < self.busy_until:
            return next((p for p in self.pauses if earliest <= p <= earliest + BREAK_WITHIN_S), earliest)
        return max(ready, self.busy_until)

    def place(self, offer: Offer, line: Spoken, now: float) -> int:
        """Put `line` (its start and end still to set) on the timeline where it is heard, cutting
        short the one before; returns how many lines it superseded. A line that cuts in before
        the one before it has begun (that one was waiting for the voice) takes its place: that
        line is never heard; the line then being spoken is the one to wait for or cut short."""
        superseded = 0
        start = self.start(line.ready)
        while self.spoken and self.spoken[-1].start > start:
            self.spoken.pop()
            self.said.pop()
            superseded += 1
            if self.spoken:  # heard to its end again, unless this line cuts it short in turn
                before = self.spoken[-1]
                before.end, before.cut = before.start + clip_seconds(before.clip), False
                self.hear(before)
            else:
                self._free()
            self.cutting = self.cutting_for(offer.moment, now)
            start = self.start(line.ready)
        if self.spoken and self.spoken[-1].end > start:  # as a commentator stops mid-sentence
            self.spoken[-1].end, self.spoken[-1].cut = start, True
        line.start, line.end = start, start + clip_seconds(line.clip)
        self.said.append(line.text)
        self.spoken.append(line)
        self.hear(line)
        return superseded

    def hear(self, line: Spoken) -> None:
        """Make `line` the one being spoken: what the next line waits for, or may cut short."""
        self.busy_until = line.end
        self.speaking = level(line.moment)
        self.pauses = [line.start + p for p in pauses(line.clip) if p >= MIN_HEARD_S] if self.break_off else []
        self.heard_from = line.start + MIN_HEARD_S
