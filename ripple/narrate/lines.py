"""narrate's middle steps, driven by the schedule: a moment's candidates are written and ranked
when the schedule asks for them, and a line's clip is synthesised when the schedule times it."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from ripple.config import GenerateConfig
from ripple.generate import CommentaryRun, MomentResult, Progress, Writer, prepare
from ripple.schedule import Dropped, Line, Option, tokens_for
from ripple.state import Moment
from ripple.voice import VoiceConfig, clip_seconds


class Candidates:
    """The moments' candidates, written and ranked when the schedule asks for them. The lines
    heard before a moment (those placed for earlier moments) reach its prompt. With two lanes
    (ctranslate2 on two cores) the moment the schedule says is likely next is written
    meanwhile (Drafts)."""

    def __init__(self, cfg: GenerateConfig, moments: list[Moment], progress: Progress, lm=None, rate: float = 1.0):
        self.cfg, self.moments, self.progress, self.rate = cfg, moments, progress, rate  # rate: the voice's speed
        self.templates, self.lm = prepare(cfg, moments, progress, lm)
        self.writer = Writer(cfg, self.lm)
        self.drafts = Drafts(self.writer, moments, self.templates)
        self.results: dict[int, MomentResult] = {}
        self.seconds = 0.0

    def options(self) -> list[Option]:
        return [Option(i, m.time or 0.0, m.intensity or 0.0, []) for i, m in enumerate(self.moments)]

    def write(self, index: int, placed: list[Line], room_s: float) -> list[tuple[str, float]]:
        """Moment `index`'s candidates, best first, as (text, total), each no longer than a
        line the voice could say in `room_s` seconds (schedule.tokens_for)."""
        self.progress(f"moment {index + 1}/{len(self.moments)}: {self.templates[index].name}", len(self.results),
                      len(self.moments))
        t = time.perf_counter()
        said = _said_before(index, placed)
        tokens = tokens_for(room_s, self.rate)
        self.results[index] = self.writer.finish(self.drafts.wait(index, said, tokens), said)
        self.seconds += time.perf_counter() - t
        return [(c.text, c.total) for c in self.results[index].ranked]

    @property
    def ahead(self):
        """How the schedule starts a likely next moment early, when there is a second lane."""
        return self.drafts.start if self.drafts.lanes else None

    def close(self) -> None:
        self.drafts.close()

    def run(self, dropped: list[Dropped]) -> CommentaryRun:
        """Every moment's candidates, and why the moments left silent were not written."""
        reasons = {d.moment: d.reason for d in dropped}
        return CommentaryRun(config=self.cfg, model=self.lm.describe(), results=[
            self.results.get(i) or MomentResult.not_written(m, self.templates[i], reasons[i])
            for i, m in enumerate(self.moments)])


class Voicing:
    """Each line the schedule times, synthesised once (in the cache) in the voice of its moment's
    excitement; the schedule needs its length to place it."""

    def __init__(self, cfg: VoiceConfig, moments: list[Moment]):
        self.cfg, self.moments = cfg, moments
        self.clips: dict[tuple[int, str], Path] = {}
        self.seconds = 0.0

    def seconds_of(self, index: int, text: str) -> float:
        from ripple.lm.models import cache_root
        from ripple.voice import synthesise

        if (index, text) not in self.clips:
            t = time.perf_counter()
            voice = replace(self.cfg, excitement=self.moments[index].intensity or 0.0)
            self.clips[index, text] = synthesise(text, voice, cache_root())
            self.seconds += time.perf_counter() - t
        return clip_seconds(self.clips[index, text])

    def chosen(self, lines: list[Line]) -> dict[int, Path]:
        return {line.moment: self.clips[line.moment, line.text] for line in lines}


def _said_before(index: int, placed: list[Line]) -> list[str]:
    return [l.text for l in placed if l.moment < index]  # placed comes in time order


class Drafts:
    """Moments' candidates being written, each on one of the writer's lanes: the moment the
    schedule asks for, and the one it says is likely next, written meanwhile on the other
    lane (the other core). Lanes take moments in turn, in the order they were started, so
    a run's candidates are the same from the same seed. A moment started ahead was prompted
    with the lines heard before it then; the line placed meanwhile, if it comes earlier,
    reaches its ranking (not repeating it), not its prompt. With one lane, each moment is
    written when it is asked for, in the caller's thread."""

    def __init__(self, writer: Writer, moments, templates):
        from concurrent.futures import ThreadPoolExecutor

        self.writer, self.moments, self.templates = writer, moments, templates
        count = writer.lanes if writer.lanes > 1 else 0  # one lane: the caller's own thread
        self.lanes = [ThreadPoolExecutor(1, thread_name_prefix=f"ripple-lane{i}") for i in range(count)]
        self.started: dict[int, Any] = {}
        if count:
            tokenizer = writer.lm.tokenizer
            writer.lm.ct2.seed_lanes(count, writer.cfg.sampling.seed,
                                     tokenizer.convert_ids_to_tokens(tokenizer.eos_token_id))

    def start(self, index: int, placed: list[Line]) -> None:
        if self.lanes and index not in self.started:
            self._submit(index, _said_before(index, placed))

    def wait(self, index: int, said: list[str], tokens: int | None = None):
        """Moment `index`'s draft: written now (of at most `tokens` new tokens), or the one
        started ahead (of the full length: its room was not known then)."""
        if not self.lanes:
            return self.writer.draft(index, self.moments[index], self.templates[index], said, max_new_tokens=tokens)
        if index not in self.started:
            self._submit(index, said, tokens)
        return self.started[index].result()

    def _submit(self, index: int, said: list[str], tokens: int | None = None) -> None:
        lane = len(self.started) % len(self.lanes)
        self.started[index] = self.lanes[lane].submit(
            self.writer.draft, index, self.moments[index], self.templates[index], said, lane, max_new_tokens=tokens)

    def close(self) -> None:
        for lane in self.lanes:  # a guess never asked for is finished, not cut (ctranslate.py: seeds)
            lane.shutdown(wait=True)
