"""Rank candidates: every scorer gives each a number and a reason; weights combine them.

Scorers live one per file and register here. A weight of 0 switches a scorer off (and
spares loading whatever model it needs).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from ripple.config import RankConfig
from ripple.errors import FieldError
from ripple.rank.base import RankContext, Score, Scorer
from ripple.rank.coherence import Coherence
from ripple.rank.faithful import Faithfulness
from ripple.rank.length import Length
from ripple.rank.loops import Loops
from ripple.rank.relevance import Relevance
from ripple.rank.reward import Reward

SCORERS: dict[str, Callable[[RankConfig], Scorer]] = {
    "coherence": lambda cfg: Coherence(),
    "relevance": lambda cfg: Relevance(),
    "loops": lambda cfg: Loops(),
    "length": lambda cfg: Length(cfg.min_words, cfg.max_words),
    "faithfulness": lambda cfg: Faithfulness(),
    "reward": lambda cfg: Reward(cfg.reward_model),  # off unless weighted: --weight reward=N
}

__all__ = ["SCORERS", "Ranked", "RankContext", "Score", "best_line", "build_scorers", "rank", "parse_weights"]


@dataclass(frozen=True)
class Ranked:
    index: int  # position in the order the model produced them
    text: str
    total: float  # weighted mean of the scorers' values, 0..1
    scores: dict[str, Score]

    @property
    def faults(self) -> tuple[str, ...]:
        """Every scorer's hard faults: any one puts the candidate below all without."""
        return tuple(f for s in self.scores.values() for f in s.faults)


def parse_weights(items: list[str], base: dict[str, float]) -> dict[str, float]:
    """['relevance=2', 'length=0'] over the defaults; names and numbers are checked."""
    weights = dict(base)
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in SCORERS:
            raise FieldError("weights", f"'{item}': expected NAME=NUMBER with NAME one of {', '.join(SCORERS)}",
                             option="weight")
        try:
            weights[name] = float(value)
        except ValueError:
            raise FieldError("weights", f"'{item}': '{value}' is not a number", option="weight") from None
        if not math.isfinite(weights[name]):
            raise FieldError("weights", f"'{item}': a weight must be a finite number", option="weight")
        if weights[name] < 0:
            raise FieldError("weights", f"'{item}': weights cannot be negative", option="weight")
    if not any(weights.values()):
        raise FieldError("weights", "every weight is 0; at least one scorer must count", option="weight")
    return weights


def build_scorers(cfg: RankConfig) -> list[Scorer]:
    return [SCORERS[name](cfg) for name, weight in cfg.weights.items() if weight > 0]


def rank(texts: list[str], ctx: RankContext, scorers: list[Scorer], weights: dict[str, float]) -> list[Ranked]:
    """Every candidate with its per-scorer breakdown, best first (ties keep model order).
    A candidate with a hard fault (Score.faults) never outranks one without."""
    per_scorer = {s.name: s.score(ctx, texts) for s in scorers}
    total_weight = sum(weights[name] for name in per_scorer)
    ranked = [
        Ranked(
            index=i,
            text=text,
            total=sum(weights[name] * scores[i].value for name, scores in per_scorer.items()) / total_weight,
            scores={name: scores[i] for name, scores in per_scorer.items()},
        )
        for i, text in enumerate(texts)
    ]
    return sorted(ranked, key=lambda r: (bool(r.faults), -r.total, r.index))


def best_line(ranked: list[Ranked]) -> str:
    """The chosen line: the best ranked candidate that says anything ("" when none does)."""
    return next((r.text for r in ranked if r.text.strip()), "")
