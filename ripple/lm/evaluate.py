"""`ripple eval`: a commentary model against its base on held-out transcripts.

Perplexity on the corpus (packed as in training), and two measures of sampled lines:
distinct-n (share of n-grams that are new: low means the model says the same things) and
loop rate (share of lines that repeat a word trigram within themselves).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ripple.config import SamplingConfig
from ripple.errors import InputError
from ripple.lm.prompting import QUOTE, SPEAKER
from ripple.rank.base import ngrams, words
from ripple.rank.loops import LOOP_N, repeated_fraction
from ripple.lm.train import document, pack, read_corpus


@dataclass(frozen=True)
class EvalConfig:
    model: str  # a trained model folder (or any model name)
    corpus: Path  # held-out transcripts, JSON Lines from `ripple ingest`
    base: str | None = None  # compared against; default: the base in the model's ripple.json
    block_size: int = 128  # tokens per block for perplexity
    samples: int = 8  # lines sampled per game in the corpus
    max_new_tokens: int = 40
    seed: int = 0


def distinct(lines: list[str], n: int) -> float:
    grams = [g for line in lines for g in ngrams(words(line), n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def perplexity(lm, documents: list[str], block_size: int) -> tuple[float, float]:
    """(perplexity per token, nats per character) over packed blocks."""
    import torch

    blocks = pack(lm.tokenizer, documents, block_size)
    if not blocks:
        raise InputError("corpus", f"fewer than {block_size} tokens; lower --block-size")
    total, count = 0.0, 0
    with torch.inference_mode():
        for i in range(0, len(blocks), 8):
            ids = torch.tensor(blocks[i : i + 8], device=lm.device)
            logits = lm.model(input_ids=ids).logits.float()
            loss = torch.nn.functional.cross_entropy(
                logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), reduction="sum"
            )
            total, count = total + float(loss), count + ids[:, 1:].numel()
    chars = sum(len(lm.tokenizer.decode(b)) for b in blocks)
    return math.exp(total / count), total / chars


def sample_lines(lm, games: list[str], cfg: EvalConfig) -> list[str]:
    from ripple.lm.sampling import encode_prompt, sample

    sampling = SamplingConfig(candidates=cfg.samples, max_new_tokens=cfg.max_new_tokens, seed=cfg.seed)
    lines = []
    for i, game in enumerate(games):
        prompt = encode_prompt(lm, f"Game: {game}.\n{SPEAKER}: {QUOTE}", room=cfg.max_new_tokens)
        lines += [c.text for c in sample(lm, prompt, sampling, seed=cfg.seed + i)]
    return lines


def evaluate(cfg: EvalConfig) -> list[dict]:
    """One row per model (the model, then its base): perplexity, distinct-n, loop rate."""
    from ripple.lm import models

    by_source = read_corpus(cfg.corpus)
    documents = [document(records) for records in by_source.values()]
    games = sorted({r.get("game") or "unknown" for v in by_source.values() for r in v})
    lm = models.load(cfg.model)
    base = cfg.base or lm.ripple_json.get("base")
    rows = []
    for name, loaded in [(cfg.model, lm), *([(base, None)] if base and base != cfg.model else [])]:
        loaded = loaded or models.load(base)
        ppl, nats_per_char = perplexity(loaded, documents, cfg.block_size)
        lines = sample_lines(loaded, games, cfg)
        rows.append({
            "model": name,
            "perplexity": ppl,
            "nats_per_char": nats_per_char,
            "distinct_1": distinct(lines, 1),
            "distinct_2": distinct(lines, 2),
            "loop_rate": sum(repeated_fraction(words(x), LOOP_N) > 0 for x in lines) / max(1, len(lines)),
            "lines": lines,
        })
    return rows
