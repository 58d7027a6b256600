"""Length fit: a spoken line of about the right length that ends a sentence."""

from __future__ import annotations

from ripple.grounding import ends_sentence
from ripple.rank.base import RankContext, Score, words

UNFINISHED_FACTOR = 0.5  # a line cut mid-sentence sounds broken when spoken


class Length:
    name = "length"

    def __init__(self, min_words: int, max_words: int):
        self.min_words, self.max_words = min_words, max_words

    def score(self, ctx: RankContext, texts: list[str]) -> list[Score]:
        scores = []
        for text in texts:
            n = len(words(text))
            if n == 0:
                scores.append(Score(0.0, "empty line", 0))
                continue
            if n < self.min_words:
                value, reason = n / self.min_words, f"{n} words, short of {self.min_words}"
            elif n > self.max_words:
                value, reason = self.max_words / n, f"{n} words, over {self.max_words}"
            else:
                value, reason = 1.0, f"{n} words"
            if not ends_sentence(text):
                value *= UNFINISHED_FACTOR
                reason += ", unfinished sentence"
            scores.append(Score(value, reason, n))
        return scores
