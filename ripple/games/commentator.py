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
its line cuts the one being spoken short, as a commentator breaks off mid-sentence.
With `stream` (the default) a line is not waited for whole: the first candidate to finish
a clause of a few words (and not echo a line already said) is voiced while the model is
still writing, and becomes the line; its rest follows that clause when it is written,
after as much silence as writing it took beyond the clause. Latency is counted from the
frame an event was played in to that first audio.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from statistics import median

from ripple.config import DEFAULT_MODEL, RankConfig, SamplingConfig
from ripple.state import Moment
from ripple.voice import VoiceConfig

STALE_AFTER_S = 1.5  # a moment older than this when the worker is free is dropped
QUEUE_SIZE = 8  # moments waiting at most; a full queue loses its oldest
LIVE_SAMPLING = SamplingConfig(candidates=2, max_new_tokens=16)  # latency first: few, short candidates
LIVE_WEIGHTS = {"coherence": 1.0, "relevance": 0.0, "loops": 1.0, "length": 0.5}  # relevance loads a second model
FIRST_LEAD_S = 0.5  # before any line was timed: how early to start making the next one
QUIET = -1.0  # the intensity a line about an uneventful moment counts as: any event may cut in
FIRST_WORDS = (3, 6)  # streaming: a clause of at least 3 words, or the first 6 words when none ends sooner


@dataclass(frozen=True)
class CommentatorConfig:
    model: str = DEFAULT_MODEL  # registry name, hub name or local folder
    precision: str = "int8"  # or fp32
    backend: str = "ctranslate2"  # or transformers: several times slower per token on a CPU
    template: str = "auto"  # play-by-play, colour, hype, auto, or a template file
    sampling: SamplingConfig = LIVE_SAMPLING
    weights: dict[str, float] = field(default_factory=lambda: dict(LIVE_WEIGHTS))
    voice: VoiceConfig = field(default_factory=VoiceConfig)
    stale_after_s: float = STALE_AFTER_S
    queue_size: int = QUEUE_SIZE
    stream: bool = True  # voice a line's first clause while the rest is written


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

    @property
    def latency(self) -> float:
        """From the frame the moment happened in to the first audio of its line."""
        return self.start - self.shown


@dataclass
class Drops:
    stale: int = 0  # too old once the worker was free
    superseded: int = 0  # a fresher or bigger moment was chosen instead
    overflow: int = 0  # pushed out of a full queue
    unused: int = 0  # still queued when the session ended
    no_line: int = 0  # no candidate said anything


class Commentator(threading.Thread):
    def __init__(self, lm, cfg: CommentatorConfig, seed: int = 0):
        super().__init__(name="ripple-commentator", daemon=True)
        from ripple.models import cache_root
        from ripple.rank import build_scorers

        self.lm, self.cfg, self.seed = lm, cfg, seed
        self.scorers = build_scorers(RankConfig(weights=cfg.weights))
        self.cache = cache_root()
        self.spoken: list[Spoken] = []
        self.drops = Drops()
        self.offered = 0
        self.error: BaseException | None = None
        self._queue: deque[Offer] = deque()
        self._lock = threading.Condition()
        self._stopping = False
        self._busy_until = 0.0  # when the line being spoken ends
        self._speaking = QUIET  # the intensity of the line being spoken
        self._cutting = False  # the moment being commented on cuts the line being spoken short
        self._took: list[float] = []  # seconds from taking a moment to its audio being ready
        self._said: list[str] = []
        self._encoded = None  # the last prompt, whose cache the next one reuses where they agree
        self._made = 0  # lines attempted: each one's sampling seed

    # ---- the game loop's side: never blocks ----------------------------------------------
    def offer(self, moment: Moment, shown: float) -> None:
        with self._lock:
            self.offered += 1
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
                offer = self._take()
                if offer is None:
                    return
                self._comment(offer)
        except BaseException as exc:  # reported by the session, never lost with the thread
            self.error = exc

    def _lead(self) -> float:
        return median(self._took[-9:]) if self._took else FIRST_LEAD_S

    def _take(self) -> Offer | None:
        """The moment to comment on next, or None when the session is over."""
        while True:
            with self._lock:
                while not self._stopping:
                    # Start the next line only when it can follow the one being spoken, so
                    # that its moment is as fresh as it can be when the line is heard.
                    # A bigger moment does not wait: its line cuts in.
                    wait = self._busy_until - self._lead() - time.monotonic()
                    if self._queue and (wait <= 0 or any(self._cuts_in(o) for o in self._queue)):
                        break
                    self._lock.wait(timeout=wait if wait > 0 else None)
                if self._stopping:
                    return None
                waiting = list(self._queue)
                self._queue.clear()
            now = time.monotonic()
            fresh = [o for o in waiting if now - o.shown <= self.cfg.stale_after_s]
            self.drops.stale += len(waiting) - len(fresh)
            if fresh:
                break
        eventful = [o for o in fresh if o.moment.events]
        chosen = max(eventful, key=lambda o: (o.moment.intensity or 0, o.shown)) if eventful else fresh[-1]
        self.drops.superseded += len(fresh) - 1
        self._cutting = time.monotonic() < self._busy_until and self._cuts_in(chosen)
        return chosen

    def _cuts_in(self, offer: Offer) -> bool:
        """An event bigger than the line being spoken (any event, over a quiet line)."""
        return bool(offer.moment.events) and (offer.moment.intensity or 0.0) > self._speaking

    def _comment(self, offer: Offer) -> None:
        from ripple.commentary import prompt_for
        from ripple.generate import encode_prompt, reported_logprobs, sample
        from ripple.prompting import find_template
        from ripple.rank import RankContext, rank
        from ripple.voice import join_clips, synthesise

        picked = time.monotonic()
        moment, lm = offer.moment, self.lm
        template = find_template(self.cfg.template, moment)
        # The lines already said are left out of the prompt: every token of it is run through
        # the model before the first word can be spoken (the beginning, the template's system
        # text and examples, is computed once: ctranslate.py). The loops scorer still sees
        # them and marks repeats.
        _, prompt = prompt_for(lm, template, moment, [])
        self._encoded = encode_prompt(lm, prompt, room=self.cfg.sampling.max_new_tokens, reuse=self._encoded)
        context = RankContext(moment=moment, prompt=prompt, previous=list(self._said), lm=lm, encoded=self._encoded)
        voice = replace(self.cfg.voice, excitement=moment.intensity or 0.0)
        first = FirstWords(lm.tokenizer, self._encoded.quoted, context, voice, self.cache) if self.cfg.stream else None
        candidates = sample(lm, self._encoded, self.cfg.sampling, seed=self.seed + self._made, on_token=first)
        self._made += 1
        context = replace(context, logprobs=reported_logprobs(candidates))
        ranked = rank([c.text for c in candidates], context, self.scorers, self.cfg.weights)
        streamed = first is not None and first.clip is not None
        if streamed:  # already being heard: its candidate is the line
            line = candidates[first.index].text
            text, written, ready, clip = first.text, first.written, first.ready, first.clip
        else:
            text = next((r.text for r in ranked if r.text.strip()), "")
            written = time.monotonic()
            if not text:
                self.drops.no_line += 1
                return
            line, clip = text, synthesise(text, voice, self.cache)
            ready = time.monotonic()
        start = ready if self._cutting else max(ready, self._busy_until)
        if self.spoken and self.spoken[-1].end > start:  # as a commentator stops mid-sentence
            self.spoken[-1].end, self.spoken[-1].cut = start, True
        rest = line[len(text):].strip() if line.startswith(text) else ""
        if rest:  # heard after the first words, or after the silence while it was written
            rest_clip = synthesise(rest, voice, self.cache)
            gap = max(0.0, time.monotonic() - (start + clip_seconds(clip)))
            clip, text = join_clips(clip, gap, rest_clip, self.cache), f"{text} {rest}"
        end = start + clip_seconds(clip)
        self._busy_until = end
        self._speaking = (moment.intensity or 0.0) if moment.events else QUIET
        self._took.append(ready - picked)
        self._said.append(text)
        self.spoken.append(Spoken(moment, text, template.name, [(r.text, round(r.total, 4)) for r in ranked],
                                  offer.shown, picked, written, ready, start, end, clip,
                                  first=first.text if streamed else ""))


class FirstWords:
    """generate.OnToken: voices the first clause any candidate finishes, unless the loops
    scorer marks it as an echo of a line already said (that candidate is then left to the
    ranking)."""

    ECHO_LIMIT = 0.5  # a loops score below this refuses the clause

    def __init__(self, tokenizer, quoted: bool, context, voice: VoiceConfig, cache: Path):
        from ripple.rank.loops import Loops

        self.tokenizer, self.quoted, self.context, self.voice, self.cache = tokenizer, quoted, context, voice, cache
        self.loops = Loops()
        self.refused: set[int] = set()  # candidates whose first clause was an echo
        self.index: int | None = None
        self.text = ""
        self.clip: Path | None = None
        self.written = self.ready = 0.0  # when the clause was written, when its audio was ready

    def __call__(self, index: int, tokens: list[int], done: bool) -> None:
        from ripple.generate import first_clause
        from ripple.voice import synthesise

        if self.clip is not None or index in self.refused:
            return
        raw = self.tokenizer.decode(tokens, skip_special_tokens=True)
        words = first_clause(raw, self.quoted, done, *FIRST_WORDS)
        if not words:
            return
        if self.loops.score(self.context, [words])[0].value < self.ECHO_LIMIT:
            self.refused.add(index)
            return
        self.index, self.text, self.written = index, words, time.monotonic()
        self.clip = synthesise(words, self.voice, self.cache)  # the model waits: the voice goes first
        self.ready = time.monotonic()


def clip_seconds(path: Path) -> float:
    import wave

    with wave.open(str(path), "rb") as clip:
        return clip.getnframes() / clip.getframerate()


def warm_up(commentator: Commentator, moment: Moment) -> float:
    """Make and voice one line before play starts, so that the first real one does not pay
    for kernels, tables and the voice being loaded; returns the seconds it took."""
    started = time.monotonic()
    commentator._comment(Offer(moment, started))
    commentator.spoken.clear()
    commentator._said.clear()
    commentator._busy_until = 0.0
    commentator._speaking, commentator._cutting = QUIET, False
    commentator._took.clear()
    commentator.drops = Drops()
    return time.monotonic() - started
