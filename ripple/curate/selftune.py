"""`ripple tune STATES...`: Ripple tunes its own model on pairs its scorers label, no people needed.

The base model writes `candidates` lines for every moment of the game-state files or
`ripple record` timelines it is given, exactly as `ripple generate` writes them (same
templates, guard and seeds). The scorers rank them as `generate` does; a line with a hard
fault (unfinished, an invented number, another game, ...) is labelled a whole point below
any without. DPO then tunes a LoRA adapter towards each moment's best clean lines and
away from its worst, under the KL penalty of `tune` (tune.py).

The sign checks are those of human-labelled tuning, with canaries in place of people:
every fifth moment is held out, and for each a faithful line (its best clean candidate)
is paired with copies of it broken one way each (an invented number, another game's
name, cut off mid-sentence, speaking to the reader, a field name read out, the previous
line repeated). Before training the scorers must rank the faithful line first in those
pairs (a labeller whose sign is flipped refuses to start); during training the model's
implicit reward log π/π_base must not turn towards the broken copies while the reward
climbs, and its KL to the base must stay under its bound (guards.Watch).

The base's candidates are kept in the cache (they take most of the time), keyed by the
model, the files' bytes and the sampling settings; the labels are made anew every run.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ripple.config import DEFAULT_MODEL, DEFAULT_WEIGHTS
from ripple.curate.guards import GuardConfig, SignError, Watch
from ripple.curate.sets import Pool
from ripple.curate.canaries import Canary, by_moment, canaries, canary_agreement
from ripple.curate.tune import Progress, check_training, measure
from ripple.errors import InputError
from ripple.lm.prompting import QUOTE
from ripple.state import Moment

FAULT_PENALTY = 1.0  # a faulty line's label sits this far below its total: below every clean line
PAIRS_PER_MOMENT = 2


@dataclass(frozen=True)
class SelfTuneConfig:
    states: tuple[Path, ...]  # game-state files or `ripple record` timelines
    model: str = DEFAULT_MODEL
    name: str = "self"
    out_root: Path = Path("outputs/models")
    candidates: int = 8  # lines the base writes per moment
    held_every: int = 5  # every Nth moment is held out for the canaries and the reward figure
    lora_rank: int = 16  # 0: tune every weight instead of an adapter
    beta: float = 0.1
    # The explicit KL penalty costs two more forward passes a step (40% of a step on a CPU);
    # DPO's β already anchors to the base and the guard's KL bound still stops a run that drifts.
    kl_coef: float = 0.0
    learning_rate: float = 1e-4
    max_steps: int = 24
    batch_size: int = 4
    eval_every: int = 8
    eval_moments: int = 24  # held-out moments the reward and canary figures are measured on
    min_margin: float = 0.1  # label gap a pair needs (scorer totals run 0..1)
    max_length: int = 512
    seed: int = 0
    guards: GuardConfig = field(default_factory=lambda: GuardConfig(min_canaries=0.9))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["states"] = [str(p) for p in self.states]
        data["out_root"] = str(self.out_root)
        return data


@dataclass
class Written:
    """One moment's candidates as the base wrote them (what the cache keeps)."""

    source: str  # file:index
    moment: Moment
    template: str
    prompt: str
    previous: list[str]  # the lines chosen before it in its file
    texts: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "moment": self.moment.model_dump(mode="json"), "template": self.template,
                "prompt": self.prompt, "previous": self.previous, "texts": self.texts}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Written:
        return cls(data["source"], Moment.model_validate(data["moment"]), data["template"], data["prompt"],
                   data["previous"], data["texts"])


@dataclass
class Labelled:
    written: Written
    texts: list[str]  # best first, one per distinct text
    labels: list[float]
    faults: list[tuple[str, ...]]


# ---- writing and labelling -------------------------------------------------------------------------

def _moments(cfg: SelfTuneConfig) -> list[tuple[Path, list[Moment]]]:
    from ripple.state import load_moments

    files = []
    for path in cfg.states:
        if not Path(path).is_file():
            raise InputError(str(path), "no such game-state file")
        files.append((Path(path), load_moments(Path(path))))
    return files


def _cache_file(cfg: SelfTuneConfig, sampling) -> Path:
    from ripple.lm.models import cache_root

    digest = hashlib.sha256(json.dumps([cfg.model, asdict(sampling)], sort_keys=True, default=str).encode())
    for path in cfg.states:
        digest.update(Path(path).read_bytes())
    return cache_root() / "tune" / f"written-{digest.hexdigest()[:20]}.jsonl"


def write_candidates(cfg: SelfTuneConfig, lm, progress: Progress,
                     files: list[tuple[Path, list[Moment]]] | None = None) -> list[Written]:
    """Every moment's candidates from the base, as `generate` writes them; from the cache
    when the same model, files and settings wrote them before. `files`: cfg.states as read."""
    from ripple.atomic import atomic_write_bytes
    from ripple.generate import Writer, prepare
    from ripple.config import GenerateConfig, SamplingConfig

    files = _moments(cfg) if files is None else files
    sampling = SamplingConfig(candidates=cfg.candidates, seed=cfg.seed, redraws=0)
    cache = _cache_file(cfg, sampling)
    if cache.is_file():
        return [Written.from_json(json.loads(line)) for line in cache.read_text().splitlines()]
    total, done, out = sum(len(m) for _, m in files), 0, []
    for path, moments in files:
        gen = GenerateConfig(state_file=path, model=cfg.model, sampling=sampling)
        templates, lm = prepare(gen, moments, progress, lm)
        writer, said = Writer(gen, lm), []
        for i, (moment, template) in enumerate(zip(moments, templates)):
            progress(f"the base writes: {path.name} moment {i + 1}", done, total)
            result = writer.write(i, moment, template, said)
            out.append(Written(f"{path}:{i}", moment, result.template, result.prompt, list(said),
                               [c.text for c in result.candidates]))
            if result.line:
                said.append(result.line)
            done += 1
    atomic_write_bytes(cache, "".join(json.dumps(w.to_json()) + "\n" for w in out).encode())
    return out


def _scorers(weights: dict[str, float] | None):
    from ripple.config import RankConfig
    from ripple.rank import build_scorers

    rank_cfg = RankConfig(weights=dict(weights or DEFAULT_WEIGHTS))
    return build_scorers(rank_cfg), rank_cfg.weights


def rank_lines(w: Written, texts: list[str], lm, scorers, weights) -> list[tuple[str, float, tuple[str, ...]]]:
    """(text, label, hard faults) best first, ranked for w's moment as `generate` ranks: the
    labeller, for the pairs and the canaries alike."""
    from ripple.rank import RankContext, rank

    ranked = rank(texts, RankContext(moment=w.moment, prompt=w.prompt, previous=w.previous, lm=lm), scorers, weights)
    return [(r.text, r.total - FAULT_PENALTY * bool(r.faults), r.faults) for r in ranked]


def label(written: list[Written], lm, weights: dict[str, float] | None = None) -> list[Labelled]:
    """Each moment's distinct candidates ranked by the scorers, with their labels."""
    scorers, weights = _scorers(weights)
    out = []
    for w in written:
        texts = list(dict.fromkeys(t for t in w.texts if t.strip()))
        if texts:
            ranked = rank_lines(w, texts, lm, scorers, weights)
            out.append(Labelled(w, [r[0] for r in ranked], [r[1] for r in ranked], [r[2] for r in ranked]))
    return out


def label_pairs(labelled: list[Labelled], min_margin: float) -> list[dict[str, str]]:
    """DPO pairs: a moment's best clean lines against its worst, when their labels differ enough."""
    pairs = []
    for item in labelled:
        n = len(item.texts)
        for k in range(min(PAIRS_PER_MOMENT, n // 2)):
            best, worst = k, n - 1 - k
            if item.faults[best] or item.labels[best] - item.labels[worst] < min_margin:
                continue
            pairs.append({"prompt": item.written.prompt, "chosen": item.texts[best] + QUOTE,
                          "rejected": item.texts[worst] + QUOTE, "gap": item.labels[best] - item.labels[worst]})
    return pairs


def preflight(held: list[Labelled], found: list[Canary], lm, weights, cfg: GuardConfig) -> dict[str, Any]:
    """The labeller's sign: the scorers must rank each faithful line above its broken copies."""
    if len(found) < 10:
        raise SignError(f"only {len(found)} canary pairs to check the scorers' sign with (held-out moments with a "
                        f"faithful line: {len({c.prompt for c in found})} of {len(held)}); give more moments")
    by_prompt = {h.written.prompt: h.written for h in held}
    scorers, weights = _scorers(weights)
    by_kind: dict[str, list[int]] = {}
    for prompt, group, texts in by_moment(found):
        # Every scorer scores each line on its own, so one ranking of a moment's faithful line
        # and all its broken copies orders each pair as ranking the pair alone would.
        order = {text: k for k, (text, _, _) in enumerate(rank_lines(by_prompt[prompt], texts, lm, scorers, weights))}
        for c in group:
            by_kind.setdefault(c.kind, []).append(int(order[c.good] < order[c.bad]))
    right = sum(sum(v) for v in by_kind.values())
    fraction = right / len(found)
    kinds = {k: sum(v) / len(v) for k, v in by_kind.items()}
    if fraction < cfg.min_canaries:
        worst = min(kinds, key=kinds.get)
        raise SignError(f"the scorers rank only {right} of {len(found)} canary pairs the faithful line first (needs "
                        f"{cfg.min_canaries:.0%}; worst: {worst}, {kinds[worst]:.0%}): "
                        + ("their sign looks inverted" if fraction < 0.5 else "they cannot tell faithful lines")
                        + "; tuning refused")
    return {"canaries": {"pairs": len(found), "right": right, "fraction": fraction, "by_kind": kinds}}


# ---- the run ----------------------------------------------------------------------------------------

@dataclass
class SelfTuneResult:
    folder: Path
    preflight: dict[str, Any]
    history: list[dict[str, float]]
    pairs: int
    moments: int
    held: int
    seconds: float


def _check(cfg: SelfTuneConfig) -> None:
    check_training(cfg, [
        (bool(cfg.states), "states", "give at least one game-state file or `ripple record` timeline"),
        (2 <= cfg.candidates <= 64, "candidates", "must be 2 to 64"),
        (cfg.held_every >= 2, "held_every", "must be at least 2"),
    ])


def split(labelled: list[Labelled], every: int) -> tuple[list[Labelled], list[Labelled]]:
    """(train, held): every `every`th moment, counted across the files, is held."""
    held = [x for i, x in enumerate(labelled) if i % every == every - 1]
    return [x for i, x in enumerate(labelled) if i % every != every - 1], held


def tune_self(cfg: SelfTuneConfig, progress: Progress | None = None) -> SelfTuneResult:
    """Write the base's candidates (or read them from the cache), then `tune_written`."""
    from ripple.lm import models

    progress = progress or (lambda what, done, total: None)
    _check(cfg)
    files = _moments(cfg)  # every file is read (and refused) before any model loads
    progress(f"loading {cfg.model}", 0, 1)
    lm = models.load(cfg.model)
    return tune_written(cfg, write_candidates(cfg, lm, progress, files), lm, progress)


def tune_written(cfg: SelfTuneConfig, written: list[Written], lm, progress: Progress | None = None) -> SelfTuneResult:
    """Label `written`, check the labeller's sign, tune under the guards, save the adapter and its report."""
    progress = progress or (lambda what, done, total: None)
    started = time.perf_counter()
    _check(cfg)
    progress("the scorers label every candidate", 0, 1)
    train, held = split(label(written, lm), cfg.held_every)
    found = canaries(held)
    checked = preflight(held, found, lm, None, cfg.guards)
    # The figures every check reads: a sample of the held-out moments that have canaries, to keep checks quick.
    with_canaries = {c.prompt for c in found}
    measured = [h for h in held if h.written.prompt in with_canaries][: cfg.eval_moments]
    found_measured = [c for c in found if c.prompt in {h.written.prompt for h in measured}]
    pairs = label_pairs(train, cfg.min_margin)
    # The clearest lessons first: a run of max_steps x batch_size pairs sees those with the widest label gap.
    pairs = sorted(pairs, key=lambda p: -p["gap"])[: cfg.max_steps * cfg.batch_size]
    pairs = [{k: v for k, v in p.items() if k != "gap"} for p in pairs]
    if len(pairs) < 2:
        raise InputError("STATES", f"only {len(pairs)} pairs with a label gap of {cfg.min_margin:g} or more; "
                         "give more moments or lower --min-margin")
    pools = [Pool(i, h.written.moment.describe(), h.written.prompt, h.texts) for i, h in enumerate(measured)]
    rewards = [h.labels for h in measured]

    def figures(model, ref, tokenizer) -> dict[str, float]:
        from ripple.curate.tune import EvalSet

        out = measure(model, ref, tokenizer, EvalSet(pools, rewards, []), cfg.max_length)
        out["agreement"] = canary_agreement(model, ref, tokenizer, found_measured, cfg.max_length)
        return out

    from ripple.curate.trainer import run_dpo

    watch = Watch(cfg.guards, penalised=cfg.kl_coef > 0, judge="the canaries (faithful lines above their broken copies)",
                  judged_worst="the broken lines")
    try:
        policy, _, tokenizer, base_info = run_dpo(cfg, pairs, figures, watch, progress)
    except SignError as exc:
        folder = cfg.out_root / f"{cfg.name}.stopped"
        _write(folder, cfg, checked, watch.history, len(pairs), None, str(exc), len(written), len(held), None, {})
        raise SignError(f"{exc} (history: {folder / 'report.md'})") from None
    result = SelfTuneResult(cfg.out_root / cfg.name, checked, watch.history, len(pairs), len(written), len(held),
                            time.perf_counter() - started)
    _write(result.folder, cfg, checked, watch.history, len(pairs), policy, None, len(written), len(held), tokenizer,
           base_info)
    return result


def _write(folder: Path, cfg: SelfTuneConfig, checked, history, pairs: int, policy, stopped: str | None,
           moments: int, held: int, tokenizer, base_info: dict[str, Any]) -> None:
    import shutil

    from ripple.curate.tune_report import self_tune_card, self_tune_report, tune_chart
    from ripple.atomic import save_replacing

    def save(tmp: Path) -> None:
        if policy is not None:
            policy.save_pretrained(tmp)
            if not cfg.lora_rank:  # a whole model: it must load on its own, tokenizer and all
                tokenizer.save_pretrained(tmp)
            base = str(Path(cfg.model).resolve()) if Path(cfg.model).exists() else cfg.model
            info = {"base": base, "tuned_with": "dpo on scorer-labelled pairs", "config": cfg.to_dict(),
                    "preflight": checked, "history": history, "pairs": pairs, "moments": moments, "held": held}
            if base_info.get("prompt_style"):
                info["prompt_style"] = base_info["prompt_style"]
            (tmp / "ripple.json").write_text(json.dumps(info, indent=2) + "\n")
            (tmp / "README.md").write_text(self_tune_card(cfg, checked, history, pairs, moments, held))  # not PEFT's blank
        if history:
            tune_chart(history, cfg.guards.kl_bound, tmp / "tune.png", agreement="faithful line above its\n"
                       "broken copy (implicit reward)", reward="expected scorer label\non held-out moments")
        (tmp / "report.md").write_text(self_tune_report(cfg, checked, history, pairs, moments, held, stopped))

    if stopped:
        shutil.rmtree(folder, ignore_errors=True)
    save_replacing(folder, save)

