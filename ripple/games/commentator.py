"""The live commentator: a worker thread that turns the freshest moment into a spoken line
while the game goes on without waiting for it.

Moments arrive through `offer()`, which appends to a short bounded queue under a lock and
returns at once (a full queue loses its oldest moment); the game itself runs in another
process (process.py), so nothing here can hold it up. The worker waits until the voice
is nearly free (the line being spoken ends within the time a line takes to make), then
takes everything queued and keeps one moment: the most intense eventful one, the newest
among equals, or the newest quiet one when nothing happened. Every other moment is
dropped as superseded, and the chosen one too if it is older than `stale_after_s` by then:
a line about something ten seconds gone is worse than silence. Its line is generated with
a small candidate count and a short token budget, ranked, spoken, and placed on the
session's timeline where it would have been heard: when its audio was ready, or when the
line before it ended, whichever is later; an event bigger than the line being spoken (any
event, over a line about a quiet moment) does not wait: the worker takes it at once and
its line cuts the one being spoken short, as a commentator breaks off mid-sentence. With
`break_off` (the default) an event as big as the line being spoken, or a little smaller
(a kill during a kill's line, or during a level's end), does not wait for its end either:
its line breaks that one off at a pause between words (voice.pauses) that comes within
BREAK_WITHIN_S of the new line being ready, or else right then, after at least
MIN_HEARD_S of the old line; and a line whose first words are already heard stops being
written when such an event comes (its rest would not be heard).
With `stream` (the default) a line is not waited for whole: the first candidate to finish
a clause of a few words (and not echo a line already said) is voiced while the model is
still writing, and becomes the line; its rest follows that clause when it is written,
after as much silence as writing it took beyond the clause. Latency is counted from the
frame an event was played in to that first audio.

With `ahead` (the default, for games that can say what may come next: games/doom.py's
likely_events) the worker also writes lines before their events happen. When nothing can
be taken yet it writes, ranks and voices a whole line for a likely event (the kill of the
enemy nearest the crosshair, the episode's end, the other enemies' kills; then events that
happened already and can happen again in the same words, such as a pickup) on the newest
moment's state, and keeps it.
When that event then happens its line is spoken at once, unless a number in it is not in the
real moment or it echoes a line said since; otherwise the line is written as above. If that
happens while another line is being written ahead, the ready one is spoken between two of
its tokens and the writing goes on; the biggest events stop it, and so does an event that
would go stale before it is done. Other events wait for it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from statistics import median

from ripple.config import DEFAULT_MODEL, RankConfig, SamplingConfig, option
from ripple.games.events import INTENSITY, intensity
from ripple.state import Event, Moment
from ripple.voice import VoiceConfig, clip_seconds, pauses

STALE_AFTER_S = 1.5  # a moment older than this when the worker is free is dropped
QUEUE_SIZE = 8  # moments waiting at most; a full queue loses its oldest
LIVE_SAMPLING = SamplingConfig(candidates=2, max_new_tokens=16)  # latency first: few, short candidates
LIVE_WEIGHTS = {"coherence": 1.0, "relevance": 0.0, "loops": 1.0, "length": 0.5}  # relevance loads a second model
FIRST_LEAD_S = 0.5  # before any line was timed: how early to start making the next one
FINISH_S = 0.1  # before any line written ahead was timed: its ranking and voicing after the last token
QUIET = -1.0  # the intensity a line about an uneventful moment counts as: any event may cut in
FIRST_WORDS = (3, 6)  # streaming: a clause of at least 3 words, or the first 6 words when none ends sooner
AHEAD_KEPT = 4  # lines written ahead kept at most (one each for the likeliest events)
RECUR = {"kill", "level_end", "life_lost", "pickup"}  # kinds of event whose very words come again
LIKELY_KEPT = 8  # likely events remembered: monsters seen a while ago come back
BREAKS_IN = 0.9  # an event this intense stops a line being written ahead (events.INTENSITY: life lost, level end)
AHEAD_KEEP_S = 30.0  # a line written ahead is used at most this long after it was written
ECHO_LIMIT = 0.5  # a loops score below this marks a line, or a first clause, as an echo of one said
MIN_HEARD_S = 0.5  # break_off: a line is heard this long before an equal event's line breaks it off
BREAK_WITHIN_S = 0.3  # break_off: how long a ready line waits for a pause in the one being spoken
BREAK_MARGIN = 0.2  # break_off: an event this much less intense (a kill after a level's end) still breaks off
HEARD_WITHIN_S = 1.0  # the aim: an event's line heard this soon; writing ahead that would delay it more stops


@dataclass(frozen=True)
class CommentatorConfig:
    model: str = DEFAULT_MODEL  # registry name, hub name or local folder
    precision: str = "int8"  # or fp32
    backend: str = "ctranslate2"  # or transformers: several times slower per token on a CPU
    template: str = "auto"  # play-by-play, colour, hype, auto, or a template file
    sampling: SamplingConfig = LIVE_SAMPLING
    weights: dict[str, float] = option(name="weight", factory=lambda: dict(LIVE_WEIGHTS))
    voice: VoiceConfig = field(default_factory=VoiceConfig)
    stale_after_s: float = option(STALE_AFTER_S, name="stale_after")
    queue_size: int = QUEUE_SIZE
    stream: bool = True  # voice a line's first clause while the rest is written
    ahead: bool = True  # write lines for likely events before they happen (where the game says what is likely)
    break_off: bool = True  # an event (nearly) as big as the line being spoken breaks it off at a pause


@dataclass
class Offer:
    moment: Moment
    shown: float  # time.monotonic() when the moment's frame was played (the same clock in every process)


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


class Cut(str, Enum):
    """How a new line cuts short the one being spoken (a str, so it reads and compares as its word)."""

    WAIT = ""  # it waits for that line to end
    PAUSE = "pause"  # it breaks that line off at a pause between words
    NOW = "now"  # it starts at once


@dataclass
class Drops:
    stale: int = 0  # too old once the worker was free
    superseded: int = 0  # a fresher or bigger moment was chosen instead, or its line was cut before it began
    overflow: int = 0  # pushed out of a full queue
    unused: int = 0  # still queued when the session ended
    no_line: int = 0  # no candidate said anything


class Commentator(threading.Thread):
    def __init__(self, lm, cfg: CommentatorConfig, seed: int = 0,
                 likely: Callable[[Moment], list[Event]] | None = None):
        super().__init__(name="ripple-commentator", daemon=True)
        from ripple.lm.models import cache_root
        from ripple.rank import build_scorers

        self.lm, self.cfg, self.seed = lm, cfg, seed
        self.likely = likely if cfg.ahead else None  # the events that could follow a moment (the game's)
        self._newest: Moment | None = None  # the newest moment offered: what lines are written ahead from
        self._likely: dict[str, Event] = {}  # events likely to come, the newest moment's first, then those seen before
        self.scorers = build_scorers(RankConfig(weights=cfg.weights))
        self.cache = cache_root()
        self.offered = 0
        self.error: BaseException | None = None
        self._queue: deque[Offer] = deque()
        self._lock = threading.Condition()
        self._stopping = False
        self._encoded = None  # the last prompt, whose cache the next one reuses where they agree
        self._made = 0  # lines attempted: each one's sampling seed
        self.reset()

    def reset(self) -> None:
        """Forget every line spoken or written ahead and what they cost, as before a session
        (warm_up speaks one line to load everything, then calls this). The model's cache stays."""
        with self._lock:
            self.spoken: list[Spoken] = []
            self._said: list[str] = []
            self.ahead: dict[str, Ahead] = {}  # lines written ahead, by their event's text
            self.ahead_counts = AheadCounts()
            self.drops = Drops()
            self._busy_until = 0.0  # when the line being spoken ends
            self._speaking = QUIET  # the intensity of the line being spoken
            self._pauses: list[float] = []  # where the line being spoken may be broken off (time.monotonic())
            self._heard_from = 0.0  # when the line being spoken may be broken off at the earliest
            self._cutting = Cut.WAIT  # how the moment being commented on cuts the line being spoken short (_cut)
            self._took: list[float] = []  # seconds from taking a moment to its audio being ready
            self._finished: list[float] = []  # seconds from a line written ahead's last token to its audio being ready

    # ---- the game loop's side: never blocks ----------------------------------------------
    def offer(self, moment: Moment, shown: float) -> None:
        with self._lock:
            self.offered += 1
            self._newest = moment
            if self.likely is not None:
                # What the newest moment makes likely, then what just happened and may happen
                # again word for word (a level's end, a pickup), then what was likely before.
                fresh = {e.text: e for e in self.likely(moment)}
                fresh |= {e.text: e for e in moment.events if e.kind in RECUR and not any(c.isdigit() for c in e.text)}
                self._likely = dict(list((fresh | {t: e for t, e in self._likely.items() if t not in fresh}).items())
                                    [:LIKELY_KEPT])
            self._queue.append(Offer(moment, shown))
            if len(self._queue) > self.cfg.queue_size:
                self._queue.popleft()
                self.drops.overflow += 1
            self._lock.notify()

    def finish(self, timeout: float | None = None) -> None:
        """Take no more moments; let the line being made finish."""
        with self._lock:
            self._stopping = True
            self._lock.notify()
        self.join(timeout)
        with self._lock:
            self.drops.unused += len(self._queue)
            self._queue.clear()

    # ---- the worker's side -----------------------------------------------------------------
    def run(self) -> None:
        try:
            while True:
                task = self._take()
                if task is None:
                    return
                if isinstance(task, Offer):
                    self._comment(task)
                else:
                    self._write_ahead(*task)
        except BaseException as exc:  # reported by the session, never lost with the thread
            self.error = exc

    def _lead(self) -> float:
        return median(self._took[-9:]) if self._took else FIRST_LEAD_S

    def _finishing(self) -> float:
        """How long a line written ahead takes from its last token to being kept: ranking and voicing."""
        return median(self._finished[-9:]) if self._finished else FINISH_S

    def _lead_for(self, offer: Offer) -> float:
        """How long before the voice is free its line must be started (under the lock)."""
        return 0.0 if self._ahead_for(offer.moment) is not None else self._lead()  # written ahead: no time

    def _due(self, offer: Offer) -> bool:
        """Whether a queued moment would be taken now: its line would follow the one being
        spoken without a gap, or it cuts that one short (under the lock)."""
        return self._cuts_in(offer) or self._busy_until - self._lead_for(offer) <= time.monotonic()

    def _ready(self, offer: Offer) -> bool:
        """An event whose line is written already, with the voice free for it (under the lock)."""
        return self._ahead_for(offer.moment) is not None and self._due(offer)

    def _stops_ahead(self, offer: Offer, done_at: float, writing: str = "") -> bool:
        """Whether a queued moment stops a line being written ahead for the event `writing`
        that would be done at `done_at` (under the lock): an event big enough (a life lost, a
        level's end), or one that would cut in and has no line kept, whose own line, written
        after that one, would be heard later than HEARD_WITHIN_S after it (or would go stale
        first). Other events wait: the line being written is what makes the next such event
        heard at once; and so does the event that line is for, which it is the quickest way to."""
        if not self._cuts_in(offer) or writing in {e.text for e in offer.moment.events}:
            return False
        heard_by = offer.shown + min(HEARD_WITHIN_S, self.cfg.stale_after_s)
        return ((offer.moment.intensity or 0.0) >= BREAKS_IN
                or (not self._ready(offer) and heard_by < done_at + self._finishing() + self._lead()))

    def _take(self) -> Offer | tuple[Moment, Event] | None:
        """What to do next: the moment to comment on, an event to write a line for ahead of
        time, or None when the session is over.

        In order: an event that cuts in or whose line is ready; a line to write ahead; any
        other event, then a quiet moment, once its line would follow the one being spoken
        without a gap (started that long before the voice is free, so that its moment is as
        fresh as it can be when the line is heard)."""
        with self._lock:
            while True:
                self._drop_stale()
                if self._stopping:
                    return None
                if any(self._ready(o) or self._cuts_in(o) for o in self._queue):
                    break
                ahead = self._to_write_ahead()
                if ahead is not None:
                    return ahead
                if any(self._due(o) for o in self._queue):
                    break
                now = time.monotonic()
                waits = [min(self._busy_until - self._lead_for(o), o.shown + self.cfg.stale_after_s) - now
                         for o in self._queue]
                self._lock.wait(timeout=max(0.0, min(waits)) if waits else None)
            fresh = list(self._queue)
            self._queue.clear()
        eventful = [o for o in fresh if o.moment.events]
        chosen = max(eventful, key=lambda o: (o.moment.intensity or 0, o.shown)) if eventful else fresh[-1]
        self.drops.superseded += len(fresh) - 1
        self._cutting = self._cutting_for(chosen)
        return chosen

    def _drop_stale(self) -> None:
        """Moments older than stale_after_s leave the queue (under the lock): a line about
        something that long gone is worse than silence."""
        now = time.monotonic()
        fresh = [o for o in self._queue if now - o.shown <= self.cfg.stale_after_s]
        self.drops.stale += len(self._queue) - len(fresh)
        self._queue = deque(fresh)

    def _to_write_ahead(self) -> tuple[Moment, Event] | None:
        """The likeliest event after the newest moment without a line kept for it (under the lock)."""
        if self.likely is None or self._newest is None:
            return None
        now = time.monotonic()
        for text in [t for t, a in self.ahead.items() if now - a.ready > AHEAD_KEEP_S]:
            del self.ahead[text]
            self.ahead_counts.replaced += 1
        likely = list(self._likely.values())[:AHEAD_KEPT]
        wanted = [e for e in likely if e.text not in self.ahead]
        if not wanted:
            return None
        if len(self.ahead) >= AHEAD_KEPT:  # room only by giving up a line for an event no longer in view
            gone = [t for t in self.ahead if t not in {e.text for e in likely}]
            if not gone:
                return None
            del self.ahead[gone[0]]
            self.ahead_counts.replaced += 1
        return self._newest, wanted[0]

    def _ahead_for(self, moment: Moment) -> Ahead | None:
        """The line kept for one of the moment's events, its biggest first."""
        for event in sorted(moment.events, key=lambda e: -INTENSITY.get(e.kind or "", 0.0)):
            if event.text in self.ahead:
                return self.ahead[event.text]
        return None

    def _cuts_in(self, offer: Offer) -> bool:
        """An event whose line does not wait for the one being spoken to end (_cut)."""
        return bool(self._cut(offer))

    def _cut(self, offer: Offer, speaking: float | None = None) -> Cut:
        """How an event's line cuts short the one being spoken (or a line about a moment as
        intense as `speaking`): "now" for an event bigger than that line's (any event, over a
        quiet line); "pause", at a pause between words (_start), for one as big or at most
        BREAK_MARGIN smaller with break_off; "" when it waits for the line to end."""
        speaking = self._speaking if speaking is None else speaking
        if not offer.moment.events:
            return Cut.WAIT
        level = offer.moment.intensity or 0.0
        if level > speaking:
            return Cut.NOW
        return Cut.PAUSE if self.cfg.break_off and level >= speaking - BREAK_MARGIN - 1e-9 else Cut.WAIT

    def _overtaken(self, speaking: float) -> Cut:
        """How the queued moments would cut short a line about a moment as intense as
        `speaking`: "now" when one is bigger, "pause" when one would break it off, else ""."""
        with self._lock:
            self._drop_stale()
            cuts = {self._cut(o, speaking) for o in self._queue}
        return Cut.NOW if Cut.NOW in cuts else Cut.PAUSE if Cut.PAUSE in cuts else Cut.WAIT

    def _cutting_for(self, offer: Offer) -> Cut:
        """_cut for the moment just taken, while a line is still being spoken."""
        return self._cut(offer) if time.monotonic() < self._busy_until else Cut.WAIT

    def _write_ahead(self, base: Moment, event: Event) -> None:
        """Write, rank and voice a line for `event` happening on top of `base`, and keep it;
        give up only when one of the biggest events comes meanwhile."""
        from ripple.generate import guard_for
        from ripple.lm.sampling import sample
        from ripple.rank import best_line
        from ripple.voice import synthesise

        numbers = dict(base.numbers)
        counted = {"kill": "kills", "life_lost": "deaths"}.get(event.kind or "")
        if counted in numbers:
            numbers[counted] += 1
        moment = base.model_copy(update={"events": [event], "intensity": intensity([event]), "facts": [],
                                         "numbers": numbers})
        started = time.monotonic()
        template, context = self._prompt(moment)
        stopped, made = [], [0] * self.cfg.sampling.candidates

        def interrupted(index: int, tokens: list[int], done: bool) -> bool:
            # A line written ahead that can be spoken now is spoken from here, between two
            # tokens (it needs no model), and the writing goes on. The biggest events stop it,
            # and so does an event that would go stale waiting for it to end.
            made[index] = len(tokens)
            with self._lock:
                self._drop_stale()
                now = time.monotonic()
                left = time_left(now - started, max(made), self.cfg.sampling.max_new_tokens)
                if self._stopping or any(self._stops_ahead(o, now + left, event.text) for o in self._queue):
                    stopped.append(True)
                    return True
                ready = [o for o in self._queue if self._ready(o)]
                if not ready:
                    return False
                offer = max(ready, key=lambda o: (o.moment.intensity or 0, o.shown))
                self._queue.remove(offer)
                self._cutting = self._cutting_for(offer)
            if not self._speak_ahead(offer):  # refused: left to be taken as usual
                with self._lock:
                    self._queue.appendleft(offer)
            return False

        candidates = sample(self.lm, context.encoded, self.cfg.sampling, seed=self.seed + self._made,
                            on_token=interrupted,
                            guard=guard_for(self.lm, self.cfg.sampling, template, moment, self._said))
        written = time.monotonic()
        self._made += 1
        if stopped:
            self.ahead_counts.stopped += 1
            return
        ranked = self._rank(candidates, context)
        text = best_line(ranked)
        if not text:
            return
        clip = synthesise(text, replace(self.cfg.voice, excitement=moment.intensity or 0.0), self.cache)
        with self._lock:
            self.ahead[event.text] = Ahead(event.text, text, template.name,
                                           [(r.text, round(r.total, 4)) for r in ranked], clip, time.monotonic())
            self._finished.append(time.monotonic() - written)
            self.ahead_counts.written += 1

    def _speak_ahead(self, offer: Offer) -> bool:
        """Speak the line written ahead for this moment's event, taken out of the store, unless
        a number in it no longer holds or it echoes a line said since; False when none is spoken."""
        from ripple.rank import RankContext
        from ripple.rank.loops import Loops

        picked = time.monotonic()
        with self._lock:
            ahead = self._ahead_for(offer.moment)
            if ahead is None:
                return False
            del self.ahead[ahead.event]
        echo = Loops().score(RankContext(moment=offer.moment, prompt="", previous=list(self._said)), [ahead.text])[0]
        if echo.value < ECHO_LIMIT or not numbers_agree(ahead.text, offer.moment):
            self.ahead_counts.refused += 1
            return False
        self.ahead_counts.used += 1
        self._place(offer, ahead.text, ahead.template, ahead.candidates, picked, picked, picked, ahead.clip,
                    ahead_s=round(picked - ahead.ready, 3))
        return True

    def _prompt(self, moment: Moment):
        """The moment's template and its ranking context, the prompt encoded (reusing the last
        prompt's cache where they agree)."""
        from ripple.generate import prompt_for
        from ripple.lm.sampling import encode_prompt
        from ripple.lm.prompting import find_template
        from ripple.rank import RankContext

        template = find_template(self.cfg.template, moment)
        # The lines already said are left out of the prompt: every token of it is run through
        # the model before the first word can be spoken (the beginning, the template's system
        # text and examples, is computed once: ctranslate.py). The loops scorer still sees
        # them and marks repeats.
        _, prompt = prompt_for(self.lm, template, moment, [])
        self._encoded = encode_prompt(self.lm, prompt, room=self.cfg.sampling.max_new_tokens, reuse=self._encoded)
        return template, RankContext(moment=moment, prompt=prompt, previous=list(self._said), lm=self.lm,
                                     encoded=self._encoded)

    def _rank(self, candidates, context):
        """Candidates best first, against the lines said by now (one may have been said while
        a line was written ahead) and the log-probabilities the model reported."""
        from ripple.lm.sampling import reported_logprobs
        from ripple.rank import rank

        context = replace(context, previous=list(self._said), logprobs=reported_logprobs(candidates))
        return rank([c.text for c in candidates], context, self.scorers, self.cfg.weights)

    def _comment(self, offer: Offer) -> None:
        from ripple.generate import guard_for
        from ripple.lm.sampling import sample
        from ripple.rank import best_line
        from ripple.voice import join_clips, synthesise

        picked = time.monotonic()
        if self._speak_ahead(offer):
            return
        moment, lm = offer.moment, self.lm
        template, context = self._prompt(moment)
        voice = replace(self.cfg.voice, excitement=moment.intensity or 0.0)
        level = (moment.intensity or 0.0) if moment.events else QUIET
        first = FirstWords(lm.tokenizer, self._encoded.quoted, context, voice, self.cache,
                           overtaken=lambda: self._overtaken(level)) if self.cfg.stream else None
        candidates = sample(lm, self._encoded, self.cfg.sampling, seed=self.seed + self._made, on_token=first,
                            guard=guard_for(self.lm, self.cfg.sampling, template, moment, self._said))
        self._made += 1
        if first is not None and first.stopped and first.clip is None:  # a bigger event came before any word
            self.drops.superseded += 1
            return
        ranked = self._rank(candidates, context)
        streamed = first is not None and first.clip is not None
        if streamed:  # already being heard: its candidate is the line
            line = candidates[first.index].text
            text, written, ready, clip = first.text, first.written, first.ready, first.clip
        else:
            text = best_line(ranked)
            written = time.monotonic()
            if not text:
                self.drops.no_line += 1
                return
            line, clip = text, synthesise(text, voice, self.cache)
            ready = time.monotonic()
        rest = line[len(text):].strip() if line.startswith(text) and not (streamed and first.stopped) else ""
        if rest:  # heard after the first words, or after the silence while it was written
            start = self._start(ready)
            rest_clip = synthesise(rest, voice, self.cache)
            gap = max(0.0, time.monotonic() - (start + clip_seconds(clip)))
            clip, text = join_clips(clip, gap, rest_clip, self.cache), f"{text} {rest}"
        self._took.append(ready - picked)
        self._place(offer, text, template.name, [(r.text, round(r.total, 4)) for r in ranked], picked, written,
                    ready, clip, first=first.text if streamed else "")

    def _start(self, ready: float) -> float:
        """When a line whose audio is ready at `ready` starts: at once when it cuts the line
        being spoken short; when it breaks that line off, at the line's first pause within
        BREAK_WITHIN_S, else right then (once MIN_HEARD_S of it was heard); else when that
        line ends."""
        if self._cutting == Cut.NOW:
            return ready
        earliest = max(ready, self._heard_from)
        if self._cutting == Cut.PAUSE and earliest < self._busy_until:
            return next((p for p in self._pauses if earliest <= p <= earliest + BREAK_WITHIN_S), earliest)
        return max(ready, self._busy_until)

    def _place(self, offer: Offer, text: str, template: str, candidates: list[tuple[str, float]], picked: float,
               written: float, ready: float, clip: Path, first: str = "", ahead_s: float | None = None) -> None:
        """Put a line on the session's timeline where it is heard, cutting short the one before.
        A line that cuts in before the one before it has begun (that one was waiting for the
        voice) takes its place: that line is never heard, and counts as superseded; the line
        then being spoken is the one to wait for or cut short."""
        start = self._start(ready)
        while self.spoken and self.spoken[-1].start > start:
            self.spoken.pop()
            self._said.pop()
            self.drops.superseded += 1
            if self.spoken:  # heard to its end again, unless this line cuts it short in turn
                before = self.spoken[-1]
                before.end, before.cut = before.start + clip_seconds(before.clip), False
                self._hear(before)
            else:
                self._busy_until, self._speaking, self._pauses, self._heard_from = 0.0, QUIET, [], 0.0
            self._cutting = self._cutting_for(offer)
            start = self._start(ready)
        if self.spoken and self.spoken[-1].end > start:  # as a commentator stops mid-sentence
            self.spoken[-1].end, self.spoken[-1].cut = start, True
        self._said.append(text)
        self.spoken.append(Spoken(offer.moment, text, template, candidates, offer.shown, picked, written, ready, start,
                                  start + clip_seconds(clip), clip, first=first, ahead_s=ahead_s))
        self._hear(self.spoken[-1])

    def _hear(self, line: Spoken) -> None:
        """Make `line` the one being spoken: what the next line waits for, or may cut short."""
        self._busy_until = line.end
        self._speaking = (line.moment.intensity or 0.0) if line.moment.events else QUIET
        self._pauses = [line.start + p for p in pauses(line.clip) if p >= MIN_HEARD_S] if self.cfg.break_off else []
        self._heard_from = line.start + MIN_HEARD_S


def time_left(elapsed: float, tokens: int, most: int) -> float:
    """How much longer a line being written will take, at the pace of its tokens so far (the
    prompt's reading counted in, so early guesses run long) up to `most` tokens."""
    return elapsed / max(1, tokens) * max(0, most - tokens)


def numbers_agree(text: str, moment: Moment) -> bool:
    """Every number in a line written ahead is one the real moment has (its numbers, events or
    scene): 'health at 64' was true of the state it was written from, maybe not any more."""
    import re

    known = {str(v) for v in moment.numbers.values()}
    known.update(re.findall(r"\d+", " ".join([moment.scene or "", *(e.text for e in moment.events)])))
    return all(n in known for n in re.findall(r"\d+", text))


class FirstWords:
    """generate.OnToken: voices the first clause any candidate finishes, unless the loops
    scorer marks it as an echo of a line already said (that candidate is then left to the
    ranking). `overtaken()` (Commentator._overtaken) stops the writing: before any words
    are voiced, when a bigger event has come (its line goes first, this one is never
    heard); once they are, when any event has come whose line will cut this one short (its
    rest would not be heard)."""

    def __init__(self, tokenizer, quoted: bool, context, voice: VoiceConfig, cache: Path,
                 overtaken: Callable[[], str] | None = None):
        from ripple.rank.loops import Loops

        self.tokenizer, self.quoted, self.context, self.voice, self.cache = tokenizer, quoted, context, voice, cache
        self.overtaken = overtaken
        self.stopped = False  # the writing was stopped (before the first words when clip is None)
        self.loops = Loops()
        self.refused: set[int] = set()  # candidates whose first clause was an echo
        self.index: int | None = None
        self.text = ""
        self.clip: Path | None = None
        self.written = self.ready = 0.0  # when the clause was written, when its audio was ready

    def __call__(self, index: int, tokens: list[int], done: bool) -> bool:
        from ripple.lm.sampling import first_clause
        from ripple.voice import synthesise

        cut = self.overtaken() if self.overtaken is not None else Cut.WAIT
        if cut == Cut.NOW or (cut and self.clip is not None):
            self.stopped = True
            return True
        if self.clip is not None or index in self.refused:
            return False
        raw = self.tokenizer.decode(tokens, skip_special_tokens=True)
        words = first_clause(raw, self.quoted, done, *FIRST_WORDS)
        if not words:
            return False
        if self.loops.score(self.context, [words])[0].value < ECHO_LIMIT:
            self.refused.add(index)
            return False
        self.index, self.text, self.written = index, words, time.monotonic()
        self.clip = synthesise(words, self.voice, self.cache)  # the model waits: the voice goes first
        self.ready = time.monotonic()
        return False


def warm_up(commentator: Commentator, moment: Moment) -> float:
    """Make and voice one line before play starts, so that the first real one does not pay
    for kernels, tables and the voice being loaded, after reading every template `auto` may
    choose for two moments (with CTranslate2 the second reading keeps the beginning they
    share, the template's, as a computed state: ctranslate.py); returns the seconds it took."""
    from ripple.lm.sampling import sample
    from ripple.state import MODES

    started = time.monotonic()
    one_token = replace(commentator.cfg.sampling, candidates=1, max_new_tokens=1)
    for mode in MODES if commentator.cfg.template == "auto" else [None]:
        for later in (0.0, 1.0):  # a second apart: what the two share is the template's, not the moment's
            update = {"time": (moment.time or 0.0) + later} | ({"mode": mode} if mode else {})
            _, context = commentator._prompt(moment.model_copy(update=update))
            sample(commentator.lm, context.encoded, one_token, seed=commentator.seed)
    commentator._comment(Offer(moment, started))
    commentator.reset()
    return time.monotonic() - started
