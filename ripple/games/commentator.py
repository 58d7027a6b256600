"""The live commentator: a worker thread that turns the freshest moment into a spoken line
while the game goes on without waiting for it.

Moments arrive through `offer()`, which appends to a short bounded queue under a lock and
returns at once (a full queue loses its oldest moment); the game itself runs in another
process (process.py), so nothing here can hold it up. The worker waits until the voice
is nearly free (the line being spoken ends within the time a line takes to make), then
takes everything queued and keeps one moment (policy.choose). Every other moment is
dropped as superseded, and the chosen one too if it is older than `stale_after_s` by then.
Its line is generated with a small candidate count and a short token budget, ranked, spoken
and placed on the voice timeline where it would have been heard (timeline.py): after the
line being spoken, or cutting it short (policy.cut). With `stream` (the default) the first
clause any candidate finishes is voiced while the rest is written (streaming.py). Latency
is counted from the frame an event was played in to that first audio.

With `ahead` (the default, for games that can say what may come next: games/doom.py's
likely_events) the worker also writes lines before their events happen (ahead.py). When
nothing can be taken yet it writes, ranks and voices a whole line for a likely event on the
newest moment's state, and keeps it. When that event then happens its line is spoken at
once, unless a number in it is not in the real moment or it echoes a line said since
(policy.numbers_agree); otherwise the line is written as above. If that happens while
another line is being written ahead, the ready one is spoken between two of its tokens and
the writing goes on; the biggest events stop it, and so does an event that would go stale
before it is done (policy.stops_ahead). Other events wait for it.

So the commentator is split four ways: policy.py decides (pure functions), timeline.py keeps
the voice's timeline, ahead.py keeps the lines written ahead and the events expected, and this
module is the worker that brings them the clock, the queue and the model.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from statistics import median

from ripple.config import DEFAULT_MODEL, RankConfig, SamplingConfig, option
from ripple.games import policy
from ripple.games.ahead import Ahead, AheadStore
from ripple.games.events import intensity
from ripple.games.policy import HEARD_WITHIN_S, Cut, Offer, time_left
from ripple.games.streaming import FirstWords
from ripple.games.timeline import Spoken, VoiceTimeline
from ripple.state import Event, Moment
from ripple.voice import VoiceConfig, clip_seconds

STALE_AFTER_S = 1.5  # a moment older than this when the worker is free is dropped
QUEUE_SIZE = 8  # moments waiting at most; a full queue loses its oldest
LIVE_SAMPLING = SamplingConfig(candidates=2, max_new_tokens=16)  # latency first: few, short candidates
LIVE_WEIGHTS = {"coherence": 1.0, "relevance": 0.0, "loops": 1.0, "length": 0.5}  # relevance loads a second model
FIRST_LEAD_S = 0.5  # before any line was timed: how early to start making the next one
FINISH_S = 0.1  # before any line written ahead was timed: its ranking and voicing after the last token


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
        self.ahead = AheadStore(self.likely)  # lines written ahead, by their event's text
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
            self.timeline = VoiceTimeline(self.cfg.break_off)
            self.ahead.clear()
            self.drops = Drops()
            self._took: list[float] = []  # seconds from taking a moment to its audio being ready
            self._finished: list[float] = []  # seconds from a line written ahead's last token to its audio being ready

    @property
    def spoken(self) -> list[Spoken]:
        """The session's lines as they were heard."""
        return self.timeline.spoken

    # ---- the game loop's side: never blocks ----------------------------------------------
    def offer(self, moment: Moment, shown: float) -> None:
        with self._lock:
            self.offered += 1
            self.ahead.see(moment)
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
        return 0.0 if self.ahead.for_moment(offer.moment) is not None else self._lead()  # written ahead: no time

    def _cuts_in(self, offer: Offer) -> bool:
        """An event whose line does not wait for the one being spoken to end."""
        return bool(self.timeline.cut_by(offer.moment))

    def _due(self, offer: Offer) -> bool:
        """Whether a queued moment would be taken now: its line would follow the one being
        spoken without a gap, or it cuts that one short (under the lock)."""
        return self._cuts_in(offer) or self.timeline.busy_until - self._lead_for(offer) <= time.monotonic()

    def _ready(self, offer: Offer) -> bool:
        """An event whose line is written already, with the voice free for it (under the lock)."""
        return self.ahead.for_moment(offer.moment) is not None and self._due(offer)

    def _stops_ahead(self, offer: Offer, done_at: float, writing: str = "") -> bool:
        """policy.stops_ahead for a queued moment, against a line written ahead for the event
        `writing` whose last token comes at `done_at` (under the lock)."""
        heard_by = offer.shown + min(HEARD_WITHIN_S, self.cfg.stale_after_s)
        return policy.stops_ahead(offer, self._cuts_in(offer), self._ready(offer), heard_by,
                                  done_at + self._finishing() + self._lead(), writing)

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
                ahead = self.ahead.to_write(time.monotonic())
                if ahead is not None:
                    return ahead
                if any(self._due(o) for o in self._queue):
                    break
                now = time.monotonic()
                waits = [min(self.timeline.busy_until - self._lead_for(o), o.shown + self.cfg.stale_after_s) - now
                         for o in self._queue]
                self._lock.wait(timeout=max(0.0, min(waits)) if waits else None)
            fresh = list(self._queue)
            self._queue.clear()
        chosen = policy.choose(fresh)
        self.drops.superseded += len(fresh) - 1
        self.timeline.cutting = self.timeline.cutting_for(chosen.moment, time.monotonic())
        return chosen

    def _drop_stale(self) -> None:
        """Moments older than stale_after_s leave the queue (under the lock)."""
        fresh, gone = policy.stale(list(self._queue), time.monotonic(), self.cfg.stale_after_s)
        self.drops.stale += gone
        self._queue = deque(fresh)

    def _overtaken(self, speaking: float) -> Cut:
        """How the queued moments would cut short a line about a moment as intense as `speaking`."""
        with self._lock:
            self._drop_stale()
            return policy.strongest({self.timeline.cut_by(o.moment, speaking) for o in self._queue})

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
                self.timeline.cutting = self.timeline.cutting_for(offer.moment, time.monotonic())
            if not self._speak_ahead(offer):  # refused: left to be taken as usual
                with self._lock:
                    self._queue.appendleft(offer)
            return False

        candidates = sample(self.lm, context.encoded, self.cfg.sampling, seed=self.seed + self._made,
                            on_token=interrupted,
                            guard=guard_for(self.lm, self.cfg.sampling, template, moment, self.timeline.said))
        written = time.monotonic()
        self._made += 1
        if stopped:
            self.ahead.counts.stopped += 1
            return
        ranked = self._rank(candidates, context)
        text = best_line(ranked)
        if not text:
            return
        clip = synthesise(text, replace(self.cfg.voice, excitement=moment.intensity or 0.0), self.cache)
        with self._lock:
            self.ahead.keep(Ahead(event.text, text, template.name, [(r.text, round(r.total, 4)) for r in ranked], clip,
                                  time.monotonic()))
            self._finished.append(time.monotonic() - written)

    def _speak_ahead(self, offer: Offer) -> bool:
        """Speak the line written ahead for this moment's event, taken out of the store, unless
        a number in it no longer holds or it echoes a line said since; False when none is spoken."""
        picked = time.monotonic()
        with self._lock:
            ahead = self.ahead.take(offer.moment, list(self.timeline.said))
        if ahead is None:
            return False
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
        return template, RankContext(moment=moment, prompt=prompt, previous=list(self.timeline.said), lm=self.lm,
                                     encoded=self._encoded)

    def _rank(self, candidates, context):
        """Candidates best first, against the lines said by now (one may have been said while
        a line was written ahead) and the log-probabilities the model reported."""
        from ripple.lm.sampling import reported_logprobs
        from ripple.rank import rank

        context = replace(context, previous=list(self.timeline.said), logprobs=reported_logprobs(candidates))
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
        level = policy.level(moment)
        first = FirstWords(lm.tokenizer, self._encoded.quoted, context, voice, self.cache,
                           overtaken=lambda: self._overtaken(level)) if self.cfg.stream else None
        candidates = sample(lm, self._encoded, self.cfg.sampling, seed=self.seed + self._made, on_token=first,
                            guard=guard_for(self.lm, self.cfg.sampling, template, moment, self.timeline.said))
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
            start = self.timeline.start(ready)
            rest_clip = synthesise(rest, voice, self.cache)
            gap = max(0.0, time.monotonic() - (start + clip_seconds(clip)))
            clip, text = join_clips(clip, gap, rest_clip, self.cache), f"{text} {rest}"
        self._took.append(ready - picked)
        self._place(offer, text, template.name, [(r.text, round(r.total, 4)) for r in ranked], picked, written,
                    ready, clip, first=first.text if streamed else "")

    def _place(self, offer: Offer, text: str, template: str, candidates: list[tuple[str, float]], picked: float,
               written: float, ready: float, clip: Path, first: str = "", ahead_s: float | None = None) -> None:
        """Put a line on the voice timeline where it is heard; a line it takes the place of
        (never heard) counts as superseded."""
        line = Spoken(offer.moment, text, template, candidates, offer.shown, picked, written, ready, 0.0, 0.0, clip,
                      first=first, ahead_s=ahead_s)
        self.drops.superseded += self.timeline.place(offer, line, time.monotonic())


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
