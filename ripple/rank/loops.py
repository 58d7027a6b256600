"""Loops and echoes: the failure small language models are known for.

Three ways a line repeats itself: n-grams repeated within the line ("and then and then"),
a line that parrots its prompt (the moment's own words, or the template's examples), and
a line that echoes one already said.
"""

from __future__ import annotations

from ripple.rank.base import RankContext, Score, clamp01, ngrams, words

LOOP_N = 3  # repeated word trigrams within a line are a loop
PARROT_N = 4  # 4-word runs copied from the prompt are parroting
ECHO_N = 3  # trigrams shared with an earlier line are an echo


def repeated_fraction(tokens: list[str], n: int) -> float:
    grams = ngrams(tokens, n)
    return 1 - len(set(grams)) / len(grams) if grams else 0.0


def copied_fraction(tokens: list[str], source: set[tuple[str, ...]], n: int) -> float:
    grams = ngrams(tokens, n)
    return sum(g in source for g in grams) / len(grams) if grams else 0.0


class Loops:
    name = "loops"

    def score(self, ctx: RankContext, texts: list[str]) -> list[Score]:
        prompt_grams = set(ngrams(words(ctx.prompt), PARROT_N))
        previous = [words(p) for p in ctx.previous]
        echo_grams = {g for p in previous for g in ngrams(p, ECHO_N)}
        scores = []
        for text in texts:
            tokens = words(text)
            if not tokens:
                scores.append(Score(0.0, "empty line", 1.0))
                continue
            problems = {
                "repeats itself": min(1.0, 2 * repeated_fraction(tokens, LOOP_N)),
                "parrots the prompt": copied_fraction(tokens, prompt_grams, PARROT_N),
                "echoes an earlier line": 1.0 if tokens in previous else copied_fraction(tokens, echo_grams, ECHO_N),
            }
            worst = max(problems, key=problems.get)
            penalty = problems[worst]
            reason = f"{worst} ({penalty:.0%})" if penalty > 0 else "no loops or echoes"
            scores.append(Score(clamp01(1 - penalty), reason, penalty))
        return scores
