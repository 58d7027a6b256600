"""Sign safety: the checks that would have caught the flipped sign of Ziegler et al. (2019),
whose tuning optimised overnight for what people rated worst.

Before tuning (`preflight`): the reward model must rank people's held-out picks above the
lines they passed over, and canary pairs the right way round (an empty line, a word loop,
an off-topic sentence and gibberish below each held-out pick), or tuning refuses to start.

During tuning (`Watch`): the reward the tuning sees, the agreement of the model being tuned
with people's held-out choices, and its KL divergence from the base model are checked at
every evaluation. A reward that climbs while agreement falls means the reward's sign is
inverted; a KL that runs past its bound means the KL term's sign is. Either stops tuning
with a line that says which.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ripple.curate.sets import Judged
from ripple.errors import RippleError

# Obviously bad lines, each to be ranked below a line a person picked for the same moment.
CANARIES: dict[str, str] = {
    "empty": "",
    "loop": "and then and then and then and then and then and then",
    "off-topic": "My grandmother keeps bees behind the old barn every summer.",
    "gibberish": "qzv plorth wubnix grenk fasht blorv ztem kalq",
}
MIN_HELD_OUT_PAIRS = 10  # fewer held-out (pick, passed-over) pairs cannot tell a sign from noise


class SignError(RippleError):
    """A reward or KL term whose sign looks inverted; tuning refused or stopped."""


@dataclass(frozen=True)
class GuardConfig:
    min_accuracy: float = 0.6  # held-out pairwise accuracy the reward model needs (chance 0.5)
    min_canaries: float = 0.7  # share of canary pairs it must rank the right way round (an inverted sign gets few)
    kl_bound: float = 0.5  # nats per token of KL(tuned || base) on held-out lines that stops tuning
    reward_rise: float = 0.05  # a rise of the (normalised) reward this large counts as climbing ...
    agreement_drop: float = 0.1  # ... and a fall of agreement this large as falling


def canary_pairs(held: list[Judged]) -> list[tuple[str, str, str, str]]:
    """(description, picked line, canary line, canary kind), one set per held-out moment."""
    pairs, seen = [], set()
    for v in held:
        if v.chosen is None or v.moment in seen or not v.texts[v.chosen].strip():
            continue
        seen.add(v.moment)
        pairs += [(v.description, v.texts[v.chosen], line, kind) for kind, line in CANARIES.items()]
    return pairs


def canary_check(reward, held: list[Judged]) -> dict[str, Any]:
    """How many canary pairs the reward model ranks the right way round, overall and by kind."""
    pairs = canary_pairs(held)
    if not pairs:
        return {"pairs": 0, "right": 0, "fraction": None, "by_kind": {}}
    good = reward.score([p[0] for p in pairs], [p[1] for p in pairs])
    bad = reward.score([p[0] for p in pairs], [p[2] for p in pairs])
    by_kind: dict[str, list[int]] = {}
    for (_, _, _, kind), g, b in zip(pairs, good, bad):
        by_kind.setdefault(kind, []).append(int(g > b))
    right = sum(sum(v) for v in by_kind.values())
    return {"pairs": len(pairs), "right": right, "fraction": right / len(pairs),
            "by_kind": {k: sum(v) / len(v) for k, v in by_kind.items()}}


def preflight(reward, held: list[Judged], cfg: GuardConfig) -> dict[str, Any]:
    """Refuse (SignError, one line) unless the reward model ranks held-out picks and canary
    pairs the right way round; returns the figures when it does."""
    acc = accuracy(reward, held)
    if acc.pairs < MIN_HELD_OUT_PAIRS:
        raise SignError(f"only {acc.pairs} held-out (pick, passed-over) pairs to check the reward model's sign with; "
                        f"judge more moments in `ripple curate` and retrain (at least {MIN_HELD_OUT_PAIRS} pairs)")
    if acc.pairwise < cfg.min_accuracy:
        if acc.pairwise < 1 - cfg.min_accuracy:
            raise SignError(f"the reward model ranks people's held-out picks above the lines they passed over only "
                            f"{acc.pairwise:.0%} of the time ({acc.pairs} pairs; chance is 50%): its sign looks "
                            f"inverted, it prefers what people rejected; tuning refused")
        raise SignError(f"the reward model ranks people's held-out picks first {acc.pairwise:.0%} of the time "
                        f"({acc.pairs} pairs), too close to chance (50%) to trust its sign (needs "
                        f"{cfg.min_accuracy:.0%}); judge more moments or train longer; tuning refused")
    canaries = canary_check(reward, held)
    if canaries["fraction"] < cfg.min_canaries:
        worst = min(canaries["by_kind"], key=canaries["by_kind"].get)
        verdict = ("its sign looks inverted" if canaries["fraction"] < 0.5 else
                   "too many obviously bad lines win to trust it; judge more moments or train longer")
        raise SignError(f"the reward model ranks only {canaries['right']} of {canaries['pairs']} canary pairs the "
                        f"right way round (needs {cfg.min_canaries:.0%}; worst: {worst} lines, "
                        f"{canaries['by_kind'][worst]:.0%} below people's picks): {verdict}; tuning refused")
    return {"held_out": acc.__dict__, "canaries": canaries}


@dataclass
class Accuracy:
    pairwise: float | None  # the pick above each other candidate shown (chance 0.5)
    top1: float | None  # the pick highest of its set (chance 1/k)
    chance_top1: float | None
    pairs: int
    sets: int


def accuracy(reward, verdicts: list[Judged]) -> Accuracy:
    """How often the reward model ranks people's picks above the lines they passed over."""
    picked = [v for v in verdicts if v.chosen is not None]
    if not picked:
        return Accuracy(None, None, None, 0, 0)
    scores = reward.score([v.description for v in picked for _ in v.texts], [t for v in picked for t in v.texts])
    right = pairs = top = 0
    at = 0
    for v in picked:
        mine = scores[at : at + len(v.texts)]
        at += len(v.texts)
        others = [s for i, s in enumerate(mine) if i != v.chosen]
        right += sum(mine[v.chosen] > s for s in others) + 0.5 * sum(mine[v.chosen] == s for s in others)
        pairs += len(others)
        top += all(mine[v.chosen] > s for s in others)
    return Accuracy(right / pairs, top / len(picked), sum(1 / len(v.texts) for v in picked) / len(picked), pairs,
                    len(picked))


@dataclass
class Watch:
    """The during-tuning guard: feed it each evaluation; it raises SignError when a sign
    looks inverted and keeps the history for the report."""

    cfg: GuardConfig
    history: list[dict[str, float]] = field(default_factory=list)
    penalised: bool = True  # an explicit KL penalty is on: a KL past the bound means its sign is inverted
    judge: str = "people's held-out choices"  # what agreement is with
    judged_worst: str = "what people rated worst"

    def check(self, step: int, reward: float, agreement: float, kl: float) -> None:
        self.history.append({"step": step, "reward": reward, "agreement": agreement, "kl": kl})
        first = self.history[0]
        if kl > self.cfg.kl_bound and not self.penalised:
            raise SignError(f"KL to the base model reached {kl:.2f} nats/token at step {step}, past the bound "
                            f"{self.cfg.kl_bound:g}, with no KL penalty on: the model drifted too far from the "
                            f"base; lower --learning-rate or --max-steps, or set --kl-coef; tuning stopped, "
                            f"nothing saved")
        if kl > self.cfg.kl_bound:
            raise SignError(f"KL to the base model reached {kl:.2f} nats/token at step {step}, past the bound "
                            f"{self.cfg.kl_bound:g}: the KL term's sign looks inverted (it pushes the model away "
                            f"from the base instead of holding it near); tuning stopped, nothing saved")
        rose = reward - first["reward"] >= self.cfg.reward_rise
        fell = first["agreement"] - agreement >= self.cfg.agreement_drop
        if rose and fell:
            raise SignError(f"the reward climbed from {first['reward']:.2f} to {reward:.2f} while agreement with "
                            f"{self.judge} fell from {first['agreement']:.0%} to {agreement:.0%} by "
                            f"step {step}: the reward's sign looks inverted (the model is learning "
                            f"{self.judged_worst}); tuning stopped, nothing saved")
