"""`ripple generate` as a library call: moments in, ranked candidates and chosen lines out.

For each moment in order: render its template (with the lines already said), sample N
candidates in one batched call, rank them, and take the best as the moment's line. A
`Writer` does one moment at a time, so that `narrate` can ask only for the moments whose
line could still be heard.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ripple import __version__
from ripple.config import DEFAULT_WEIGHTS, GenerateConfig, RankConfig, SamplingConfig, check_fields, from_options
from ripple.lm.constraints import Guard
from ripple.errors import FieldError, InputError
from ripple.lm.sampling import Candidate, encode_prompt, reported_logprobs, sample
from ripple.lm.prompting import find_template, render, to_prompt
from ripple.rank import RankContext, Ranked, build_scorers, parse_weights, rank
from ripple.state import Moment, load_moments

FACTLESS_TEMPLATES = ("play-by-play", "hype")  # built-in templates whose prompts leave the moment's facts out
RUN_ID = re.compile(r"[\w-][\w.-]{0,99}")  # one folder name under --out: no '/', '..' or hidden folder
MAX_CANDIDATES = 256  # lines per moment in one batch; past this the batch's cache outgrows a machine's memory
MAX_NEW_TOKENS = 1024  # a spoken line is under 60 tokens; more is a runaway
MAX_REDRAWS = 8  # more batches than this for one moment is a runaway, not a search
REDRAW_SEED_STEP = 7919  # a redrawn batch's seed, past every moment's own
Progress = Callable[[str, int, int], None]  # (what is happening, done, total)


@dataclass
class MomentResult:
    moment: Moment
    template: str  # the mode or the person's template name
    template_path: str
    turns: list[dict[str, str]]  # the template's sections, rendered
    prompt: str  # exactly what the model continued
    candidates: list[Candidate]  # in the order the model produced them
    ranked: list[Ranked]  # best first
    seconds: float  # generation and ranking time
    unwritten: str = ""  # why no candidates were written for it (narrate: no room left to hear a line)

    @classmethod
    def not_written(cls, moment: Moment, template, reason: str) -> MomentResult:
        return cls(moment, template.name, str(template.path), [], "", [], [], 0.0, reason)

    @property
    def line(self) -> str:
        """The chosen line: the best candidate that says anything."""
        from ripple.rank import best_line

        return best_line(self.ranked)

    @property
    def wants_more(self) -> bool:
        """The best candidate has a hard fault, or names too little of what happened (or
        holds names the moment does not): worth drawing another batch for."""
        if not self.ranked:
            return True
        best = self.ranked[0]
        faithful = best.scores.get("faithfulness")
        return bool(best.faults) or (faithful is not None and faithful.value < 1.0)

    @property
    def note(self) -> str:
        """Why the line may still be wrong: every candidate had a hard fault ("" otherwise)."""
        if self.ranked and all(r.faults for r in self.ranked):
            return f"every candidate had a hard fault; the line has: {'; '.join(self.ranked[0].faults)}"
        return ""

    def to_json(self, index: int) -> dict[str, Any]:
        return {
            "index": index,
            "moment": self.moment.model_dump(mode="json"),
            "template": {"name": self.template, "path": self.template_path},
            "turns": self.turns,
            "prompt": self.prompt,
            "line": self.line,
            "seconds": round(self.seconds, 3),
            **({"unwritten": self.unwritten} if self.unwritten else {}),
            **({"note": self.note} if self.note else {}),
            "candidates": [
                {
                    "rank": position + 1,
                    "index": r.index,
                    "text": r.text,
                    "raw": self.candidates[r.index].raw,
                    "complete": self.candidates[r.index].complete,
                    "new_tokens": self.candidates[r.index].new_tokens,
                    "total": round(r.total, 4),
                    "faults": list(r.faults),
                    "scores": {
                        name: {"value": round(s.value, 4), "reason": s.reason, "raw": s.raw}
                        for name, s in r.scores.items()
                    },
                }
                for position, r in enumerate(self.ranked)
            ],
        }


@dataclass
class CommentaryRun:
    config: GenerateConfig
    model: dict[str, Any]  # LoadedModel.describe()
    results: list[MomentResult] = field(default_factory=list)
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    run_id: str = ""
    folder: Path | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "ripple": __version__,
            "run_id": self.run_id,
            "created": self.created,
            "state_file": str(self.config.state_file),
            "config": self.config.to_dict(),
            "model": self.model,
            "moments": [r.to_json(i) for i, r in enumerate(self.results)],
        }


def generate_config(values: Mapping[str, Any], state_file: Path,
                    weights: Mapping[str, float] = DEFAULT_WEIGHTS) -> GenerateConfig:
    """The config of the settings in `values` by their names (a command's options, a ripple.toml
    table); a setting missing or None keeps its default. `weight` items go over `weights`."""
    reward = values.get("reward_model")
    rank_cfg = from_options(RankConfig, values, weights=parse_weights(values.get("weight") or [], dict(weights)),
                            reward_model=str(reward) if reward else None)
    return from_options(GenerateConfig, values, state_file=Path(state_file),
                        sampling=from_options(SamplingConfig, values), rank=rank_cfg)


def check_run_folder(out_dir: Path, run_id: str | None) -> None:
    """A run's folder name is one plain name inside `out_dir` (no '/', '..' or hidden
    folder), and no run has it yet; `out_dir` is a folder or not there yet."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise FieldError("out_dir", f"{out_dir} is a file; it must be a folder (or not exist yet)", option="out")
    if run_id is None:
        return
    if not RUN_ID.fullmatch(run_id):
        raise FieldError("run_id", f"'{run_id[:60]}': a run id is one folder name (letters, digits, '.', '_' and "
                         "'-', at most 100, not starting with '.'), so the run stays inside its output folder")
    if (out_dir / run_id).exists():
        raise InputError(str(out_dir / run_id), "a run with this id exists already; choose another run id")


def check_config(cfg: GenerateConfig) -> None:
    """Settings out of range, refused before any model loads."""
    s = cfg.sampling
    checks = [
        (s.candidates >= 1, "sampling.candidates", "must be at least 1"),
        (s.candidates <= MAX_CANDIDATES, "sampling.candidates", f"must be at most {MAX_CANDIDATES}"),
        (s.temperature > 0, "sampling.temperature", "must be above 0"),
        (0 < s.top_p <= 1, "sampling.top_p", "must be in (0, 1]"),
        (s.top_k >= 0, "sampling.top_k", "must be 0 (no limit) or more"),
        (s.repetition_penalty > 0, "sampling.repetition_penalty", "must be above 0"),
        (s.max_new_tokens >= 1, "sampling.max_new_tokens", "must be at least 1"),
        (s.max_new_tokens <= MAX_NEW_TOKENS, "sampling.max_new_tokens", f"must be at most {MAX_NEW_TOKENS}"),
        (0 <= s.redraws <= MAX_REDRAWS, "sampling.redraws", f"must be 0 to {MAX_REDRAWS}"),
    ]
    from ripple.lm.models import BACKENDS, PRECISIONS

    checks += [
        (cfg.precision in PRECISIONS, "precision", f"must be one of {', '.join(PRECISIONS)}"),
        (cfg.backend in BACKENDS, "backend", f"must be one of {', '.join(BACKENDS)}"),
    ]
    check_fields(cfg, checks)
    check_run_folder(cfg.out_dir, cfg.run_id)


def guard_for(lm, sampling, template, moment: Moment, said: list[str]) -> Guard | None:
    """What `moment` asks of decoding (constraints.Guard), with the facts' numbers and names
    only where `template` shows the facts; None when `sampling` is not grounded."""
    if not sampling.ground:
        return None
    return Guard.for_moment(lm.tokenizer, moment, said, facts=template.name not in FACTLESS_TEMPLATES)


def prompt_for(lm, template, moment: Moment, said: list[str]) -> tuple[list[dict[str, str]], str]:
    """(turns, prompt): `template` rendered for `moment` with `said`, as `lm` reads it."""
    turns = render(template, moment, said)
    # A model Ripple fine-tuned learnt transcript lines, whatever chat template it kept.
    chat = lm.ripple_json.get("prompt_style") != "transcript"
    return turns, to_prompt(turns, lm.tokenizer if chat else None)


class Writer:
    """Writes one moment's candidates at a time with a loaded model and the run's scorers."""

    def __init__(self, cfg: GenerateConfig, lm):
        self.cfg, self.lm = cfg, lm
        self.scorers = build_scorers(cfg.rank)
        self.encoded = None  # the last prompt, whose cache the next one reuses where they agree

    def write(self, index: int, moment: Moment, template, said: list[str]) -> MomentResult:
        """Moment `index`'s ranked candidates; `said`: the lines heard before it, in order.
        While the best has a hard fault or names too little of what happened, another
        batch is drawn (up to `sampling.redraws`) and all are ranked together."""
        draft = self.draft(index, moment, template, said)
        result = self.finish(draft, said)
        for again in range(1, self.cfg.sampling.redraws + 1):
            if not result.wants_more:
                break
            more = self.draft(index, moment, template, said, seed_step=again)
            draft = replace(draft, candidates=draft.candidates + more.candidates, seconds=draft.seconds + more.seconds)
            result = self.finish(draft, said)
        return result

    def draft(self, index: int, moment: Moment, template, said: list[str], lane: int = 0,
              seed_step: int = 0, max_new_tokens: int | None = None) -> Draft:
        """Moment `index`'s candidates, not ranked yet. Two lanes may draft at once with
        CTranslate2 (see `lanes`); a transformers model drafts on lane 0 only, because
        each prompt reuses the previous one's cache. `max_new_tokens` caps the setting's
        (narrate: a line longer than the room at its moment could not be placed)."""
        cfg, lm = self.cfg, self.lm
        if max_new_tokens is not None and max_new_tokens < cfg.sampling.max_new_tokens:
            cfg = replace(cfg, sampling=replace(cfg.sampling, max_new_tokens=max(1, max_new_tokens)))
        started = time.perf_counter()
        turns, prompt = prompt_for(lm, template, moment, said)
        encoded = encode_prompt(lm, prompt, room=cfg.sampling.max_new_tokens, reuse=self.encoded)
        if lm.backend != "ctranslate2":
            self.encoded = encoded
        guard = guard_for(lm, cfg.sampling, template, moment, said)
        seed = cfg.sampling.seed + index + REDRAW_SEED_STEP * seed_step
        candidates = sample(lm, encoded, cfg.sampling, seed=seed, lane=lane, guard=guard)
        return Draft(moment, template, turns, prompt, encoded, candidates, time.perf_counter() - started)

    def finish(self, draft: Draft, said: list[str]) -> MomentResult:
        """A draft ranked, against `said`: the lines heard before it, which may by now hold
        one more than its prompt did."""
        started = time.perf_counter()
        ctx = RankContext(moment=draft.moment, prompt=draft.prompt, previous=list(said), lm=self.lm,
                          encoded=draft.encoded, logprobs=reported_logprobs(draft.candidates))
        ranked = rank([c.text for c in draft.candidates], ctx, self.scorers, self.cfg.rank.weights)
        return MomentResult(draft.moment, draft.template.name, str(draft.template.path), draft.turns, draft.prompt,
                            draft.candidates, ranked, draft.seconds + time.perf_counter() - started)

    @property
    def lanes(self) -> int:
        """How many moments may be drafted at once: two with CTranslate2 on two cores or
        more (each lane decodes on one thread), else one."""
        return 2 if self.lm.backend == "ctranslate2" and (os.cpu_count() or 1) >= 2 else 1


@dataclass
class Draft:
    """A moment's candidates as written, before ranking (Writer.draft)."""

    moment: Moment
    template: Any
    turns: list[dict[str, str]]
    prompt: str
    encoded: Any
    candidates: list[Candidate]
    seconds: float


def prepare(cfg: GenerateConfig, moments: list[Moment], progress: Progress, lm=None):
    """Each moment's template (a template mistake fails before any model loads), then the
    model when the caller has none: (templates, lm)."""
    from ripple.lm import models

    templates = [find_template(cfg.template, m) for m in moments]
    if lm is None:
        progress(f"loading {cfg.model}", 0, len(moments))
        lm = models.load(cfg.model, cfg.precision, cfg.backend)
    return templates, lm


def generate_commentary(
    cfg: GenerateConfig, progress: Progress | None = None, lm=None, moments: list[Moment] | None = None
) -> CommentaryRun:
    """Comment on every moment of `cfg.state_file`, or on `moments` when a caller found them
    elsewhere. `lm` lets a caller reuse a loaded model."""
    progress = progress or (lambda what, done, total: None)
    check_config(cfg)
    if moments is None:
        moments = load_moments(cfg.state_file)
    templates, lm = prepare(cfg, moments, progress, lm)
    writer = Writer(cfg, lm)
    run = CommentaryRun(config=cfg, model=lm.describe())
    said: list[str] = []
    for i, (moment, template) in enumerate(zip(moments, templates)):
        progress(f"moment {i + 1}/{len(moments)}: {template.name}", i, len(moments))
        result = writer.write(i, moment, template, said)
        run.results.append(result)
        if result.line:
            said.append(result.line)
    progress("done", len(moments), len(moments))
    return run
