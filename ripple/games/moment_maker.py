"""Moments of a recorded game: one whenever something happens, and a heartbeat between.

Not one per frame: a frame with events becomes a moment at once (its events keep their
exact time), and when nothing has happened for `heartbeat_s` a quiet moment (the scene,
the numbers and a few facts about the game) gives colour commentary its material.
"""

from __future__ import annotations

from ripple.games.events import intensity
from ripple.games.source import Observation, Source
from ripple.state import Event, Moment

HEARTBEAT_S = 2.5  # the longest stretch without a moment
QUIET_INTENSITY = 0.1  # a heartbeat with nothing in view ...
BUSY_INTENSITY = 0.3  # ... and one with enemies in view: still colour, never hype


class MomentMaker:
    def __init__(self, source: Source, heartbeat_s: float = HEARTBEAT_S):
        self.source = source
        self.heartbeat_s = heartbeat_s
        self._last_time: float | None = None

    def update(self, obs: Observation, events: list[Event]) -> Moment | None:
        """The moment of this frame, or None when it is neither eventful nor due."""
        due = self._last_time is None or obs.time - self._last_time >= self.heartbeat_s
        if not events and not due:
            return None
        self._last_time = obs.time
        if events:
            level = intensity(events)
        else:
            level = BUSY_INTENSITY if obs.enemies else QUIET_INTENSITY
        return Moment(
            game=self.source.game,
            time=round(obs.time, 3),
            scene=self.source.describe(obs),
            events=events,
            numbers=dict(obs.numbers),
            facts=[] if events else list(self.source.facts),
            intensity=level,
            objects=obs.objects,
        )


def to_json_line(moment: Moment) -> str:
    """One line of timeline.jsonl: what `ripple generate` and `ripple narrate --states` read."""
    return moment.model_dump_json(exclude_defaults=True) + "\n"
