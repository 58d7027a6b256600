"""Canaries: a faithful line against copies of it broken one way each (an invented number,
another game's name, cut off, "your story", a field name, the previous line repeated). The
scorers must rank the faithful line first before self-tuning may use them as its labeller, and
the tuned model's own implicit reward must keep doing so while it is tuned."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ripple.curate.tune import credit, line_logprobs
from ripple.state import Moment

INVENTED = (37, 93, 417, 58, 12, 7777)  # numbers for the invented-number canary, the first the moment lacks


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


def corruptions(line: str, moment: Moment, previous: list[str]) -> dict[str, str]:
    """`line` broken one way each: the canaries it must beat. Only the ways that apply."""
    from ripple.grounding import KNOWN_GAMES, moment_text, supported_numbers

    supported = supported_numbers(moment, previous)
    text = moment_text(moment)
    invented = next((n for n in INVENTED if float(n) not in supported), 918_273)
    other = next((t for t in KNOWN_GAMES if t.lower() not in text.lower() and t.lower() not in line.lower()), "Tetris")
    words = line.split()
    out = {
        "invented number": re.sub(r"\d[\d,.]*", str(invented), line, count=1) if re.search(r"\d", line)
        else f"{invented} seconds in, {_lower_first(line)}",
        "another game": f"This is just like {other}: {_lower_first(line)}",
        "to the reader": f"Your story could use some improvement here, but {_lower_first(line)}",
        "field name": f"{line.rstrip('.!?')}, with enemy_hp_pct dropping!",
    }
    if len(words) >= 4:
        out["unfinished"] = " ".join(words[: max(2, len(words) // 2)]).rstrip(".,!?;:") + " and the"
    if previous and previous[-1].strip() and previous[-1] != line:
        out["repeat"] = previous[-1]
    return out


@dataclass(frozen=True)
class Canary:
    prompt: str
    good: str
    bad: str
    kind: str


def faithful_line(w) -> str | None:
    """A candidate of w that names what happened with no hard fault, found by the checks
    themselves (ripple.grounding), not by the labeller whose sign the canaries test."""
    from ripple.grounding import Grounding

    grounding = Grounding.of(w.moment, w.previous)
    for text in w.texts:
        check = grounding.check(text)
        if text.strip() and check.happened and not check.faults:
            return text
    return None


def canaries(held) -> list[Canary]:
    """Each held-out moment's faithful line (a selftune.Labelled's) against its broken copies."""
    out = []
    for item in held:
        w = item.written
        good = faithful_line(w)
        if good is None:
            continue  # no faithful line to stand for the moment
        for kind, bad in corruptions(good, w.moment, w.previous).items():
            out.append(Canary(w.prompt, good, bad, kind))
    return out


def by_moment(found: list[Canary]) -> list[tuple[str, list[Canary], list[str]]]:
    """The canaries moment by moment: (prompt, its canaries, every distinct line among them),
    so that each moment's lines are scored together."""
    groups: dict[str, list[Canary]] = {}
    for c in found:
        groups.setdefault(c.prompt, []).append(c)
    return [(prompt, group, list(dict.fromkeys([*(c.good for c in group), *(c.bad for c in group)])))
            for prompt, group in groups.items()]


def canary_agreement(policy, ref, tokenizer, found: list[Canary], max_length: int) -> float:
    """How often the model's implicit reward log π/π_base (DPO's own, as for people's picks)
    puts the faithful line above its broken copy (ties half): 50% for the base itself."""
    right = 0.0
    for prompt, group, texts in by_moment(found):
        rows = line_logprobs(policy, ref, tokenizer, prompt, texts, max_length)
        implicit = {t: (r[0] - r[1]) for t, r in zip(texts, rows)}
        right += sum(credit(implicit[c.good] - implicit[c.bad]) for c in group)
    return right / len(found) if found else 0.5
