"""Coherence: mean token log-probability of the line under the base model.

The "coherence coach" of Ziegler et al. (2019): text the language model itself finds
likely reads as fluent; a line of noise scores low. Measured given the prompt, in one
batched forward pass over all candidates, or taken from what the engine reported while
it wrote them (CTranslate2's step log-probabilities: the same quantity, no second pass).
"""

from __future__ import annotations

from ripple.rank.base import RankContext, Score, clamp01
from ripple.lm.models import cache_keyword

FLOOR_NATS = 6.0  # a mean log-probability of -6 nats per token or less scores 0


class Coherence:
    name = "coherence"

    def score(self, ctx: RankContext, texts: list[str]) -> list[Score]:
        from ripple.lm.sampling import encode_prompt

        unknown = [t for t in texts if t not in ctx.logprobs]
        known = dict(ctx.logprobs)
        if unknown:
            longest = max(len(t) for t in unknown)  # characters bound tokens
            prompt = ctx.encoded or encode_prompt(ctx.lm, ctx.prompt, room=longest + 1)
            known.update(zip(unknown, mean_logprobs(ctx.lm, prompt, unknown)))
        mean_lps = [known[t] for t in texts]
        return [
            Score(0.0, "empty line", None)
            if lp is None
            else Score(clamp01(1 + lp / FLOOR_NATS), f"mean log-prob {lp:.2f} nats/token", lp)
            for lp in mean_lps
        ]


def mean_logprobs(lm, prompt, texts: list[str]) -> list[float | None]:
    """Mean log p(token | prompt, earlier tokens) over each text's tokens; None if empty.

    `prompt` is an EncodedPrompt: its cache is reused, so only the texts' tokens are run.
    """
    import torch

    tok = lm.tokenizer
    cont = [tok(t, add_special_tokens=False)["input_ids"] if t.strip() else [] for t in texts]
    rows = [i for i, c in enumerate(cont) if c]
    results: list[float | None] = [None] * len(texts)
    if not rows:
        return results
    if lm.backend == "ctranslate2":
        return _mean_logprobs_ct2(lm, prompt, cont, rows, results)
    # Each row: the prompt's last token (not yet in the cache), then the text; right-padded.
    width = 1 + max(len(cont[i]) for i in rows)
    last = int(prompt.ids[0, -1])
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, i in enumerate(rows):
        seq = [last, *cont[i]]
        ids[r, : len(seq)] = torch.tensor(seq)
        mask[r, : len(seq)] = 1
    cached = prompt.ids.shape[1] - 1
    mask = torch.cat([torch.ones((len(rows), cached), dtype=torch.long), mask], dim=1)
    with torch.inference_mode():
        logits = lm.model(
            input_ids=ids.to(lm.device),
            attention_mask=mask.to(lm.device),
            **{cache_keyword(lm.model): prompt.expanded_cache(len(rows))},
            use_cache=True,
        ).logits.float().cpu()
    logp = torch.log_softmax(logits[:, :-1], dim=-1)
    for r, i in enumerate(rows):
        n = len(cont[i])
        token_lp = logp[r, :n].gather(1, ids[r, 1 : n + 1, None]).squeeze(1)
        results[i] = float(token_lp.mean())
    return results


def _mean_logprobs_ct2(lm, prompt, cont: list[list[int]], rows: list[int], results: list):
    from ripple.lm.ctranslate import THREADS

    head = prompt.ids[0].tolist()
    scored = lm.ct2.generator(THREADS).score_batch(
        [lm.tokenizer.convert_ids_to_tokens(head + cont[i]) for i in rows])
    for i, result in zip(rows, scored):
        token_lps = result.log_probs[-len(cont[i]):]  # log p of each token given all before it
        results[i] = sum(token_lps) / len(token_lps)
    return results
