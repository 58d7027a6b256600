"""Streaming a live line (`stream`, the default): a line is not waited for whole. The first
candidate to finish a clause of a few words (and not echo a line already said) is voiced while
the model is still writing, and becomes the line; its rest follows that clause when it is
written, after as much silence as writing it took beyond the clause."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from ripple.games.policy import Cut
from ripple.voice import VoiceConfig

FIRST_WORDS = (3, 6)  # a clause of at least 3 words, or the first 6 words when none ends sooner
ECHO_LIMIT = 0.5  # a loops score below this marks a line, or a first clause, as an echo of one said


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
