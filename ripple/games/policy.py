"""What the live commentator decides, as pure functions of what it knows: which queued moment
to comment on, how a new line cuts the one being spoken short, whether an event stops a line
being written ahead. No clocks are read and nothing is kept here; commentator.py brings the
state and the time.

An event bigger than the line being spoken (any event, over a line about a quiet moment) does
not wait: its line cuts the one being spoken short, as a commentator breaks off mid-sentence
(Cut.NOW). With `break_off` (the default) an event as big as the line being spoken, or a
little smaller (a kill during a kill's line, or during a level's end), does not wait for its
end either: its line breaks that one off at a pause between words (Cut.PAUSE: timeline.start),
and a line whose first words are already heard stops being written when such an event comes
(its rest would not be heard)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ripple.state import Moment

QUIET = -1.0  # the intensity a line about an uneventful moment counts as: any event may cut in
BREAKS_IN = 0.9  # an event this intense stops a line being written ahead (events.INTENSITY: life lost, level end)
BREAK_MARGIN = 0.2  # break_off: an event this much less intense (a kill after a level's end) still breaks off
HEARD_WITHIN_S = 1.0  # the aim: an event's line heard this soon; writing ahead that would delay it more stops


class Cut(str, Enum):
    """How a new line cuts short the one being spoken (a str, so it reads and compares as its word)."""

    WAIT = ""  # it waits for that line to end
    PAUSE = "pause"  # it breaks that line off at a pause between words
    NOW = "now"  # it starts at once


@dataclass
class Offer:
    moment: Moment
    shown: float  # time.monotonic() when the moment's frame was played (the same clock in every process)


def level(moment: Moment) -> float:
    """How intense a line about `moment` counts as: its events' intensity, or QUIET."""
    return (moment.intensity or 0.0) if moment.events else QUIET


def cut(moment: Moment, speaking: float, break_off: bool) -> Cut:
    """How a line about `moment` cuts short one about a moment as intense as `speaking`: NOW
    for an event bigger than that (any event, over a quiet line); PAUSE, at a pause between
    words, for one as big or at most BREAK_MARGIN smaller with break_off; else WAIT."""
    if not moment.events:
        return Cut.WAIT
    if (moment.intensity or 0.0) > speaking:
        return Cut.NOW
    return Cut.PAUSE if break_off and (moment.intensity or 0.0) >= speaking - BREAK_MARGIN - 1e-9 else Cut.WAIT


def strongest(cuts: set[Cut]) -> Cut:
    return Cut.NOW if Cut.NOW in cuts else Cut.PAUSE if Cut.PAUSE in cuts else Cut.WAIT


def choose(offers: list[Offer]) -> Offer:
    """The moment to comment on among those queued: the most intense eventful one, the newest
    among equals, or the newest quiet one when nothing happened."""
    eventful = [o for o in offers if o.moment.events]
    return max(eventful, key=lambda o: (o.moment.intensity or 0, o.shown)) if eventful else offers[-1]


def stale(offers: list[Offer], now: float, stale_after_s: float) -> tuple[list[Offer], int]:
    """(the offers still fresh at `now`, how many were not): a line about something that long
    gone is worse than silence."""
    fresh = [o for o in offers if now - o.shown <= stale_after_s]
    return fresh, len(offers) - len(fresh)


def stops_ahead(offer: Offer, cuts_in: bool, has_line: bool, heard_by: float, done_at: float,
                writing: str = "") -> bool:
    """Whether a queued event stops a line being written ahead for the event `writing`, that
    would be done (ranked and voiced) at `done_at`: an event big enough (a life lost, a level's
    end), or one that cuts in with no line kept for it whose own line, written after that one,
    would be heard after `heard_by`. Other events wait: the line being written is what makes the
    next such event heard at once; and so does the event that line is for."""
    if not cuts_in or writing in {e.text for e in offer.moment.events}:
        return False
    return (offer.moment.intensity or 0.0) >= BREAKS_IN or (not has_line and heard_by < done_at)


def time_left(elapsed: float, tokens: int, most: int) -> float:
    """How much longer a line being written will take, at the pace of its tokens so far (the
    prompt's reading counted in, so early guesses run long) up to `most` tokens."""
    return elapsed / max(1, tokens) * max(0, most - tokens)
