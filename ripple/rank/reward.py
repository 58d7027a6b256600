"""Reward: how much people would like the line, by the reward model `ripple reward train`
learnt from their picks.

Its raw output is put on the scale of the lines it was trained on (0 is a typical line,
1 a standard deviation better) and squashed to 0..1 with a logistic. Coherence under the
base model stays beside it as the term that keeps lines fluent (the paper's KL term).
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

from ripple.errors import FieldError
from ripple.rank.base import RankContext, Score

DEFAULT_REWARD_MODEL = Path("outputs/models/reward")  # where `ripple reward train` writes by default


@lru_cache(maxsize=2)
def _load(folder: str):
    from ripple.curate.reward_model import RewardModel

    return RewardModel.load(Path(folder))


class Reward:
    name = "reward"

    def __init__(self, folder: str | Path | None = None):
        self.folder = Path(folder) if folder else DEFAULT_REWARD_MODEL
        if not (self.folder / "reward.json").is_file():
            raise FieldError("reward_model", f"{self.folder}: no reward model here; train one with "
                             "`ripple reward train` or name its folder")

    def score(self, ctx: RankContext, texts: list[str]) -> list[Score]:
        model = _load(str(self.folder.resolve()))
        description = ctx.moment.describe()
        values = model.normalised([description] * len(texts), texts)
        scores = []
        for text, z in zip(texts, values):
            if not text.strip():
                scores.append(Score(0.0, "empty line", z))
                continue
            scores.append(Score(1 / (1 + math.exp(-z)), f"reward {z:+.2f} sd from a typical line (people's taste)", z))
        return scores
