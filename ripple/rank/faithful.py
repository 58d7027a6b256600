"""Faithfulness: does the line say what happened, and nothing the moment does not hold?

Reads each line against what the moment supports (ripple.grounding). Hard faults are
vetoes, not weights: an unfinished line, a number the moment does not hold, another
game's name, a raw field name read out, words to the reader about "your story", or a
repeat of an earlier line. rank() puts a line with one below every line without, whatever
its other scores. Softer signs lower the value: a line that names too little of what
happened, capitalised names found nowhere in the moment, and a number the moment holds said
beside none of the words it comes with there ('14-25' where the moment has '25 Paladins').
"""

from __future__ import annotations

from ripple.grounding import Grounding
from ripple.rank.base import RankContext, Score

UNGROUNDED_VALUE = 0.3  # a line that names no event's number or name, nor two of its words
NAME_PENALTY = 0.25  # for each name the moment does not hold
MISPLACED_PENALTY = 0.25  # for each number said beside none of the words the moment says it with


class Faithfulness:
    name = "faithfulness"

    def score(self, ctx: RankContext, texts: list[str]) -> list[Score]:
        grounding = Grounding.of(ctx.moment, ctx.previous)
        scores = []
        for text in texts:
            check = grounding.check(text)
            value = 1.0 if check.happened else UNGROUNDED_VALUE
            value = max(0.0, value - NAME_PENALTY * len(check.names) - MISPLACED_PENALTY * len(check.misplaced))
            parts = [f"names {', '.join(check.grounded[:4])}" if check.happened else
                     f"names too little of what happened ({', '.join(check.grounded) or 'nothing'})"]
            if check.names:
                parts.append("names not in the moment: " + ", ".join(check.names[:4]))
            if check.misplaced:
                parts.append("numbers said out of place: " + ", ".join(check.misplaced[:4]))
            parts += check.faults
            scores.append(Score(0.0 if check.faults else value, "; ".join(parts), value, check.faults))
        return scores
