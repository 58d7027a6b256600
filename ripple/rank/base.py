"""What every scorer returns and what it is given."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from ripple.grounding import ngrams, words  # noqa: F401 (the scorers' word counting lives with the checks)
from ripple.state import Moment


@dataclass(frozen=True)
class Score:
    value: float  # 0 (worst) to 1 (best), comparable across scorers
    reason: str  # why, in a few words a person can check
    raw: float | None = None  # the measurement before it was mapped to 0..1
    faults: tuple[str, ...] = ()  # hard faults: any one vetoes the line (rank puts it below every line without)


@dataclass(frozen=True)
class RankContext:
    moment: Moment
    prompt: str  # exactly what the model continued
    previous: list[str] = field(default_factory=list)  # lines already said, oldest first
    lm: Any = None  # the LoadedModel that wrote the candidates
    encoded: Any = None  # the prompt's EncodedPrompt (its KV cache), when the caller has it
    logprobs: dict[str, float] = field(default_factory=dict)  # text → mean token log-prob the engine reported


class Scorer(Protocol):
    name: str

    def score(self, ctx: RankContext, texts: list[str]) -> list[Score]: ...


def clamp01(x: float) -> float:
    return max(0.0, min(1.0, x))
