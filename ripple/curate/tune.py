"""`ripple tune`: preference tuning of the commentary model with DPO (TRL's DPOTrainer).

Ziegler et al. (2019) had people compare samples, a reward model learn their taste, and
the model tuned towards it under a KL penalty to the original. Here the reward model
labels the stored candidates of every moment people did not hold out (its best line
against its worst), and DPO tunes the model on those pairs. Besides DPO's own β, an
explicit per-token KL(tuned || base) penalty on each batch's lines holds the model near
its base (`kl_coef`).

The sign guards of guards.py run before the trainer is built (preflight) and at every
evaluation (Watch): the expected reward of the model's choices among each held-out
moment's candidates, its agreement with people's held-out picks (the implicit reward
log π/π_base of the pick above the others), and its KL to the base on those lines.
The result, or the history of a stopped run, goes into report.md and tune.png.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ripple.config import DEFAULT_MODEL, check_fields
from ripple.curate.guards import GuardConfig, SignError, Watch, preflight
from ripple.curate.sets import Judged, Pool
from ripple.errors import InputError
from ripple.lm.prompting import QUOTE
from ripple.lm.models import cache_keyword

Progress = Callable[[str, int, int], None]
PAIRS_PER_MOMENT = 2  # best v worst, second best v second worst


@dataclass(frozen=True)
class TuneConfig:
    db: Path = Path("outputs/ripple.db")
    model: str = DEFAULT_MODEL  # the commentary model to tune (the base)
    reward_model: Path = Path("outputs/models/reward")
    name: str = "tuned"  # the tuned model's folder under out_root
    out_root: Path = Path("outputs/models")
    beta: float = 0.1  # DPO's β: how strongly the implicit reward log π/π_base is scaled
    kl_coef: float = 0.05  # weight of the explicit KL(tuned || base) penalty, nats/token
    learning_rate: float = 5e-6
    max_steps: int = 40
    batch_size: int = 4  # pairs per step
    eval_every: int = 5  # steps between sign checks
    min_margin: float = 0.5  # reward gap (normalised units) a pair needs to be used
    max_length: int = 512  # prompt and line, in tokens
    win_samples: int = 4  # lines sampled per held-out moment from each model for the win rate
    max_new_tokens: int = 32
    seed: int = 0
    lora_rank: int = 0  # 0: tune every weight; else a LoRA adapter of this rank
    guards: GuardConfig = field(default_factory=GuardConfig)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("db", "reward_model", "out_root"):
            data[key] = str(data[key])
        return data


@dataclass
class TuneResult:
    folder: Path
    preflight: dict[str, Any]
    history: list[dict[str, float]]
    metrics: dict[str, Any]
    pairs: int
    seconds: float


# ---- the pieces a sign can hide in ---------------------------------------------------------

def score_candidates(reward, pool: Pool) -> list[float]:
    """The reward of each of a pool's candidates, as tuning sees it (normalised)."""
    return reward.normalised([pool.description] * len(pool.texts), pool.texts)


def label_pairs(reward, pools: list[Pool], min_margin: float) -> list[dict[str, str]]:
    """DPO pairs from the reward model's ranking of each moment's candidates."""
    pairs = []
    for pool in pools:
        if len(pool.texts) < 2:
            continue
        scores = score_candidates(reward, pool)
        order = sorted(range(len(pool.texts)), key=lambda i: -scores[i])
        for k in range(min(PAIRS_PER_MOMENT, len(order) // 2)):
            best, worst = order[k], order[-1 - k]
            if scores[best] - scores[worst] >= min_margin:
                pairs.append({"prompt": pool.prompt, "chosen": pool.texts[best] + QUOTE,
                              "rejected": pool.texts[worst] + QUOTE})
    return pairs


# ---- measuring the model being tuned --------------------------------------------------------


def line_logprobs(policy, ref, tokenizer, prompt: str, texts: list[str], max_length: int):
    """Per line: (log π(line | prompt), log π_base(line | prompt), summed KL(π || π_base)
    over its tokens, its token count). A line ends at its closing quote.

    The prompt runs once per model and its KV cache is shared by every line, so a moment's
    lines cost their own tokens, not the prompt's again each (about 330 tokens against 30)."""
    import copy

    import torch
    from transformers import DynamicCache

    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    fulls = [tokenizer(prompt + text + QUOTE, add_special_tokens=False)["input_ids"] for text in texts]
    cut = max(0, max(len(f) for f in fulls) - max_length)  # the same left cut keeps a common beginning
    starts = [max(1, len(os.path.commonprefix([prompt_ids, f])) - cut) for f in fulls]  # first line token
    fulls = [f[cut:] for f in fulls]
    shared = max(0, min(starts) - 1)  # the cache covers the tokens before the earliest prediction
    width = max(len(f) for f in fulls) - shared
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    device = next(policy.parameters()).device
    ids = torch.full((len(fulls), width), pad, dtype=torch.long)
    mask = torch.zeros((len(fulls), shared + width), dtype=torch.long)
    for i, f in enumerate(fulls):
        ids[i, : len(f) - shared] = torch.tensor(f[shared:])
        mask[i, : len(f)] = 1
    ids, mask = ids.to(device), mask.to(device)
    prefix = torch.tensor([fulls[0][:shared]], dtype=torch.long, device=device)

    def logits(model):
        cache = DynamicCache(config=model.config)
        if shared:
            model(input_ids=prefix, **{cache_keyword(model): cache}, use_cache=True, logits_to_keep=1)
            cache = copy.deepcopy(cache)
            cache.batch_repeat_interleave(len(fulls))
        return model(input_ids=ids, attention_mask=mask, **{cache_keyword(model): cache}, use_cache=True).logits[:, :-1].float()

    with torch.inference_mode():
        a, b = logits(policy), logits(ref)
        # With few vocabulary-sized temporaries: KL(p || q) = E_p[a - b] - logsumexp(a) + logsumexp(b).
        lse_a, lse_b = a.logsumexp(-1), b.logsumexp(-1)
        p = (a - lse_a[..., None]).exp_()
        kl = (p * a).sum(-1) - (p * b).sum(-1) - lse_a + lse_b
        target = ids[:, 1:, None]
        tok_p = a.gather(2, target).squeeze(2) - lse_a
        tok_q = b.gather(2, target).squeeze(2) - lse_b
    out = []
    for i, f in enumerate(fulls):
        span = slice(starts[i] - 1 - shared, len(f) - 1 - shared)  # logits column j predicts token shared + j + 1
        out.append((float(tok_p[i, span].sum()), float(tok_q[i, span].sum()), float(kl[i, span].sum()),
                    len(f) - starts[i]))
    return out


def credit(gap: float) -> float:
    """A preferred line's share of a win by its implicit-reward lead `gap`: 1, a tie's half, or 0."""
    return 1.0 if gap > 1e-6 else 0.5 if abs(gap) <= 1e-6 else 0.0


@dataclass
class EvalSet:
    pools: list[Pool]  # held-out moments with every stored candidate
    rewards: list[list[float]]  # score_candidates per pool
    picks: list[Judged]  # people's held-out verdicts with a pick


def measure(policy, ref, tokenizer, ev: EvalSet, max_length: int) -> dict[str, float]:
    """The tuned model's expected reward on the held-out moments (estimated from the stored
    candidates), its agreement with people's picks, and its mean KL to the base per token
    over those lines."""
    reward_sum = kl_sum = tokens = 0.0
    implicit: dict[tuple[int, str], float] = {}
    for pool, rewards in zip(ev.pools, ev.rewards):
        rows = line_logprobs(policy, ref, tokenizer, pool.prompt, pool.texts, max_length)
        # The stored candidates are samples of the base, so weights π/π_base turn their mean
        # reward into an estimate of the tuned model's (self-normalised importance sampling).
        ratios = [r[0] - r[1] for r in rows]
        top = max(ratios)
        weights = [math.exp(x - top) for x in ratios]
        reward_sum += sum(w * r for w, r in zip(weights, rewards)) / sum(weights)
        kl_sum += sum(r[2] for r in rows)
        tokens += sum(r[3] for r in rows)
        for text, r in zip(pool.texts, rows):
            implicit[pool.moment, text] = r[0] - r[1]
    right = total = 0.0
    for v in ev.picks:
        pick = implicit.get((v.moment, v.texts[v.chosen]))
        for i, text in enumerate(v.texts):
            other = implicit.get((v.moment, text))
            if i == v.chosen or pick is None or other is None:
                continue
            right += credit(pick - other)
            total += 1
    return {"reward": reward_sum / len(ev.pools), "agreement": right / total if total else 0.5,
            "kl": kl_sum / max(tokens, 1)}


# ---- the run ----------------------------------------------------------------------------------

def check_training(cfg, more: list[tuple[bool, str, str]] = ()) -> None:
    """The settings every preference tuning shares (people's or the scorers'), then `more`;
    a FieldError naming the first that is wrong."""
    g = cfg.guards
    check_fields(cfg, [
        (cfg.beta > 0, "beta", "must be above 0"),
        (cfg.kl_coef >= 0, "kl_coef", "must not be negative (a negative KL penalty pushes the model away)"),
        (cfg.learning_rate > 0 and math.isfinite(cfg.learning_rate), "learning_rate", "must be above 0"),
        (cfg.max_steps >= 1, "max_steps", "must be at least 1"),
        (cfg.batch_size >= 1, "batch_size", "must be at least 1"),
        (cfg.eval_every >= 1, "eval_every", "must be at least 1"),
        (0 <= cfg.lora_rank <= 256, "lora_rank", "must be 0 (every weight) to 256"),
        (g.kl_bound > 0, "guards.kl_bound", "must be above 0"),
        (0 < g.min_canaries <= 1, "guards.min_canaries", "must be in (0, 1]"),
        *more,
    ])


def _check(cfg: TuneConfig) -> None:
    g = cfg.guards
    check_training(cfg, [
        (cfg.win_samples >= 1, "win_samples", "must be at least 1"),
        (0.5 <= g.min_accuracy < 1, "guards.min_accuracy", "must be at least 0.5 (chance) and below 1"),
    ])
    if not cfg.db.is_file():
        raise InputError(str(cfg.db), "no such database (runs are recorded there by `ripple generate` and `narrate`)")
    if not (cfg.reward_model / "reward.json").is_file():
        raise InputError(str(cfg.reward_model), "not a reward model; train one with `ripple reward train`")


def _data(cfg: TuneConfig, reward) -> tuple[list[Judged], list[Pool], list[Pool]]:
    from ripple.store import connect
    from ripple.curate.sets import judged, pools

    conn = connect(cfg.db)
    try:
        verdicts, every = judged(conn), pools(conn)
    finally:
        conn.close()
    trained_on = set(reward.info.get("train_moments") or [])
    held = [v for v in verdicts if v.moment not in trained_on and v.chosen is not None]
    held_moments = {v.moment for v in held}
    return held, [p for p in every if p.moment not in held_moments], [p for p in every if p.moment in held_moments]


def tune(cfg: TuneConfig, progress: Progress | None = None) -> TuneResult:
    """Check the reward model's sign, tune with DPO under the guards, and save the tuned
    model with its report; SignError (after writing the stopped run's report) otherwise."""
    from ripple.curate.reward_model import RewardModel

    progress = progress or (lambda what, done, total: None)
    started = time.perf_counter()
    _check(cfg)
    reward = RewardModel.load(cfg.reward_model)
    held, train_pools, held_pools = _data(cfg, reward)
    progress("checking the reward model's sign", 0, 1)
    checked = preflight(reward, held, cfg.guards)  # refuses before anything heavy is built
    pairs = label_pairs(reward, train_pools, cfg.min_margin)
    if len(pairs) < 2:
        raise InputError(str(cfg.db), f"only {len(pairs)} pairs with a reward gap of {cfg.min_margin:g} or more; "
                         "record more runs (every candidate is a possible pair) or lower --min-margin")
    ev = EvalSet(held_pools, [score_candidates(reward, p) for p in held_pools], held)
    from ripple.curate.trainer import run_dpo

    watch = Watch(cfg.guards)
    try:
        policy, ref, tokenizer, base_info = run_dpo(
            cfg, pairs, lambda model, ref, tok: measure(model, ref, tok, ev, cfg.max_length), watch, progress)
    except SignError as exc:
        folder = cfg.out_root / f"{cfg.name}.stopped"
        _write_stopped(folder, cfg, checked, watch.history, len(pairs), str(exc))
        raise SignError(f"{exc} (history: {folder / 'report.md'})") from None
    progress("win rate against the base", 0, 1)
    final = measure(policy, ref, tokenizer, ev, cfg.max_length)
    wins = win_rate(policy, ref, tokenizer, reward, held_pools, cfg)
    metrics = {"final": final, **wins}
    result = TuneResult(cfg.out_root / cfg.name, checked, watch.history, metrics, len(pairs),
                        time.perf_counter() - started)
    _save(result, cfg, policy, tokenizer, base_info)
    return result


def win_rate(policy, ref, tokenizer, reward, held_pools: list[Pool], cfg: TuneConfig) -> dict[str, Any]:
    """Lines sampled from the tuned model and from the base with the same seeds, scored by
    the reward model: how often the tuned line wins, the mean rewards, and the KL spent
    (log π/π_base of the tuned model's own lines, nats per line)."""
    from ripple.config import SamplingConfig
    from ripple.lm.sampling import encode_prompt, sample
    from ripple.lm.models import LoadedModel, ModelSpec

    sampling = SamplingConfig(candidates=cfg.win_samples, max_new_tokens=cfg.max_new_tokens, seed=cfg.seed)
    lms = [LoadedModel(ModelSpec(name, "local", ""), m.eval(), tokenizer, "") for name, m in
           (("tuned", policy), ("base", ref))]
    wins = ties = n = 0
    tuned_rewards, base_rewards, spent = [], [], []
    for i, pool in enumerate(held_pools):
        lines = []
        for lm in lms:
            encoded = encode_prompt(lm, pool.prompt, room=cfg.max_new_tokens)
            lines.append([c.text for c in sample(lm, encoded, sampling, seed=cfg.seed + i)])
        tuned, base = (reward.normalised([pool.description] * len(ls), ls) for ls in lines)
        for t, b in zip(tuned, base):
            wins += t > b
            ties += t == b
            n += 1
        tuned_rewards += tuned
        base_rewards += base
        spent += [r[0] - r[1] for r in line_logprobs(policy, ref, tokenizer, pool.prompt, lines[0], cfg.max_length)]
    return {"win_rate": (wins + 0.5 * ties) / n if n else None, "samples": n,
            "reward_tuned": sum(tuned_rewards) / n if n else None, "reward_base": sum(base_rewards) / n if n else None,
            "kl_spent_per_line": sum(spent) / len(spent) if spent else None}


def _save(result: TuneResult, cfg: TuneConfig, policy, tokenizer, base_info: dict[str, Any]) -> None:
    from ripple.curate.tune_report import tune_chart, tune_report
    from ripple.atomic import save_replacing

    def save(tmp: Path) -> None:
        policy.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        info = {"base": cfg.model, "tuned_with": "dpo", "reward_model": str(cfg.reward_model),
                "config": cfg.to_dict(), "preflight": result.preflight, "metrics": result.metrics,
                "history": result.history, "pairs": result.pairs}
        if base_info.get("prompt_style"):
            info["prompt_style"] = base_info["prompt_style"]
        (tmp / "ripple.json").write_text(json.dumps(info, indent=2) + "\n")
        tune_chart(result.history, cfg.guards.kl_bound, tmp / "tune.png")
        (tmp / "report.md").write_text(tune_report(cfg, result.preflight, result.history, result.pairs,
                                                   result.metrics, stopped=None))

    save_replacing(result.folder, save)


def _write_stopped(folder: Path, cfg: TuneConfig, checked, history, pairs: int, reason: str) -> None:
    from ripple.curate.tune_report import tune_chart, tune_report
    from ripple.atomic import save_replacing

    def save(tmp: Path) -> None:
        if history:
            tune_chart(history, cfg.guards.kl_bound, tmp / "tune.png")
        (tmp / "report.md").write_text(tune_report(cfg, checked, history, pairs, {}, stopped=reason))

    shutil.rmtree(folder, ignore_errors=True)
    save_replacing(folder, save)
