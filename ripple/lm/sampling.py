"""Sample N candidate lines for one prompt in a single batched call with the KV cache.

The prompt is run through the model once (`encode_prompt`); its key/value cache is then
copied for each of the N candidates, so the prompt costs one forward pass however many
candidates are drawn. The coherence scorer reuses the same cache.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ripple.config import SamplingConfig
from ripple.lm.constraints import Guard
from ripple.lm.models import cache_keyword
from ripple.grounding import SENTENCE_END
from ripple.lm.prompting import QUOTE

# Told of every token as it is written: (candidate index, its tokens so far, whether it has
# ended), so a caller can act on a line before the whole batch is finished (live's first
# clause). Returning True stops the writing of every candidate there (what was written so
# far is returned).
OnToken = Callable[[int, list[int], bool], bool | None]

# A clause ends at a sentence end or , ; : — once the next word has begun (so "1,000" and
# "3.5" are not cut).
CLAUSE_END = re.compile(r"[,;:.!?…—]+[)\]'’]*(?=\s+\S)")


@dataclass(frozen=True)
class Candidate:
    text: str  # the line, cut at a natural sentence end
    raw: str  # what the model produced before cutting
    complete: bool  # True when the text ends a sentence
    new_tokens: int  # tokens the model generated for it
    mean_logprob: float | None = None  # over the tokens of `text`, when the engine reported them


@dataclass
class EncodedPrompt:
    """A prompt's token ids and the KV cache of all but its last token."""

    text: str
    ids: Any  # LongTensor (1, T)
    cache: Any  # DynamicCache over ids[:, :-1]
    quoted: bool  # the prompt opened a quote, so the closing quote ends a line

    def expanded_cache(self, n: int):
        """A private copy of the cache, repeated for a batch of n."""
        cache = copy.deepcopy(self.cache)
        cache.batch_repeat_interleave(n)
        return cache


def cut_line(raw: str, quoted: bool) -> tuple[str, bool]:
    """Cut generated text to one spoken line ending at a sentence end where there is one.

    `quoted`: the prompt opened a quote, so its closing quote ends the line.
    """
    text = raw.split("\n", 1)[0]
    if quoted:
        text = text.split(QUOTE, 1)[0]
    text = " ".join(text.split())
    ends = list(SENTENCE_END.finditer(text))
    if ends:
        return text[: ends[-1].end()], True
    return text, False


def first_clause(raw: str, quoted: bool, done: bool, min_words: int, max_words: int) -> str | None:
    """The first part of a line being written that can be spoken before the rest exists:
    up to the first clause end with at least `min_words` words before it, or the first
    `max_words` complete words when no clause has ended by then, or the whole line as
    cut_line cuts it once it has ended (`done`, a line end or, when `quoted`, the closing
    quote). None while the line is too short to say anything yet."""
    text = raw.split("\n", 1)[0]
    ended = done or "\n" in raw or (quoted and QUOTE in text)
    if quoted:
        text = text.split(QUOTE, 1)[0]
    if ended:
        return cut_line(raw, quoted)[0] or None
    for match in CLAUSE_END.finditer(text):
        if len(text[: match.end()].split()) >= min_words:
            return " ".join(text[: match.end()].split())
    complete = text.split()[:-1] if text and not text[-1].isspace() else text.split()  # the last may go on
    return " ".join(complete[:max_words]) if len(complete) > max_words else None


def context_length(config) -> int:
    return getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", 1024)


def encode_prompt(lm, text: str, room: int, reuse: EncodedPrompt | None = None) -> EncodedPrompt:
    """Tokenise `text` (keeping its end if it is too long to leave `room` new tokens) and
    run all but its last token through the model once.

    `reuse`: an earlier prompt whose cache covers a common beginning (the same template's
    system text and examples, moment after moment); only the tokens after it are run.
    """
    import torch
    from transformers import DynamicCache

    ids = lm.tokenizer(text, return_tensors="pt")["input_ids"]
    keep = max(1, context_length(lm.config) - room)
    ids = ids[:, -keep:].to(lm.device)
    if lm.backend == "ctranslate2":  # it keeps its own state of shared beginnings (ctranslate.py)
        return EncodedPrompt(text, ids, None, text.rstrip(" ").endswith(QUOTE))
    body = ids[:, :-1]
    shared = 0
    if reuse is not None:
        old = reuse.ids[0, :-1]
        limit = min(len(old), body.shape[1])
        same = (old[:limit] == body[0, :limit]).long()
        shared = int(same.cumprod(0).sum())  # length of the common beginning
    if shared:
        cache = copy.deepcopy(reuse.cache)
        cache.crop(shared - cache.get_seq_length())  # a negative count of tokens to drop
    else:
        cache = DynamicCache(config=lm.model.config)
    if body.shape[1] > shared:
        with torch.inference_mode():
            lm.model(input_ids=body[:, shared:], **{cache_keyword(lm.model): cache}, use_cache=True, logits_to_keep=1)
    return EncodedPrompt(text, ids, cache, text.rstrip(" ").endswith(QUOTE))


@lru_cache(maxsize=8)
def _stop_token_ids(tokenizer, quoted: bool) -> tuple[int, ...]:
    """Every token whose text holds a newline (or, after an open quote, a quote mark).

    Passed to generate as end-of-sequence ids: a row ends the moment it emits one, and
    cut_line trims the text after the mark. transformers' stop_strings does the same job
    but rebuilds its tables on every call, about a second each time for a 49k vocabulary.
    """
    marks = ("\n", QUOTE) if quoted else ("\n",)
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    for token_id in range(len(tokenizer)):
        if any(mark in tokenizer.decode([token_id]) for mark in marks):
            ids.add(token_id)
    return tuple(sorted(ids))


def pick_next(logits, seen, sampling: SamplingConfig):
    """One sampled token per row, in transformers' order: repetition penalty over the
    tokens in `seen`, temperature, top-k, then top-p. `sample` passes each row's own
    tokens and the earlier lines' words as `seen`, not the whole prompt's: a penalty on the
    prompt's words pushes a line away from the very names and actions of its moment (on
    bench/states/dev, 26% of candidates named what happened with it, 62% without).

    Sampling among the top-k survivors only, rather than over a vocabulary of -inf,
    is what makes this cheap: multinomial over 49k entries per row cost ~12 ms a step.
    """
    import torch

    logits = logits.float()
    if sampling.repetition_penalty != 1.0:
        prior = logits.gather(1, seen)
        prior = torch.where(prior < 0, prior * sampling.repetition_penalty, prior / sampling.repetition_penalty)
        logits = logits.scatter(1, seen, prior)
    logits = logits / sampling.temperature
    k = sampling.top_k if 0 < sampling.top_k < logits.shape[1] else logits.shape[1]
    top, index = logits.topk(k, dim=1)  # sorted, largest first
    probs = torch.softmax(top, dim=1)
    if sampling.top_p < 1.0:
        before = probs.cumsum(dim=1) - probs  # mass of the better tokens
        probs = probs.masked_fill(before > sampling.top_p, 0.0)  # the first token always stays
    choice = torch.multinomial(probs, 1)
    return index.gather(1, choice).squeeze(1)


def sample(lm, prompt: EncodedPrompt, sampling: SamplingConfig, seed: int,
           on_token: OnToken | None = None, lane: int = 0, guard: Guard | None = None) -> list[Candidate]:
    """`sampling.candidates` lines continuing `prompt`, reproducible for the same seed.
    `on_token` hears of each token as it is written, and may stop the writing (OnToken).
    `lane`: with CTranslate2, which of its generators writes (ctranslate.py); two lanes
    may write at once. `guard`: the moment's numbers and names (constraints.py): numbers it
    does not hold cannot be written.

    All candidates decode as one batch over the prompt's KV cache. A row leaves the batch
    (and the cache) as soon as it emits a stop token, so a batch of short lines is not kept
    running for its longest one: the reason this loop exists beside transformers' generate,
    which computes finished rows to the end. Each token's log-probability under the model
    (before the guard, the penalty and the temperature) is kept, so that the coherence
    scorer takes each line's mean as measured and runs no second pass.
    """
    import torch

    if lm.backend == "ctranslate2":
        return _sample_ctranslate2(lm, prompt, sampling, seed, on_token, lane, guard)
    tok, n = lm.tokenizer, sampling.candidates
    stop_ids = _stop_token_ids(tok, prompt.quoted)
    stops, stop_set = torch.tensor(stop_ids, device=prompt.ids.device), set(stop_ids)
    rows = _Rows.start(lm, prompt, n, sampling.max_new_tokens)
    alive = torch.arange(n)  # which candidates are still being written, by original row
    made: list[list[int]] = [[] for _ in range(n)]
    logprobs: list[list[float]] = [[] for _ in range(n)]  # each token's, under the model itself
    # What the repetition penalty looks at, per live row: its own tokens and the earlier lines' (guard.echoes)
    echoes = guard.echoes if guard is not None else ()
    seen = torch.tensor([echoes], dtype=torch.long, device=prompt.ids.device).reshape(1, -1).repeat(n, 1)
    step_input = prompt.ids[:, -1:].repeat(n, 1)
    numbers: list[str | None] = [None] * n  # the number each row is writing (guard)
    torch.manual_seed(seed)
    with torch.inference_mode():
        for _ in range(sampling.max_new_tokens):
            logits = rows.step(step_input).float()
            model_logits = logits
            if guard is not None:
                logits = guard.steer(logits, [numbers[row] for row in alive.tolist()])
            chosen = pick_next(logits, seen, sampling)
            chosen_lp = (model_logits.gather(1, chosen[:, None]).squeeze(1) - model_logits.logsumexp(1)).tolist()
            stop = False
            for row, token, lp in zip(alive.tolist(), chosen.tolist(), chosen_lp):
                made[row].append(token)
                logprobs[row].append(lp)
                if guard is not None:
                    numbers[row] = guard.advance(numbers[row], token)
                if on_token is not None:
                    done = token in stop_set or len(made[row]) == sampling.max_new_tokens
                    stop = bool(on_token(row, made[row], done)) or stop
            going = ~torch.isin(chosen, stops)
            if stop or not going.any():
                break
            if not going.all():
                keep = going.nonzero().squeeze(1)
                rows.keep(keep)
                alive, chosen, seen = alive[keep], chosen[keep], seen[keep]
            seen = torch.cat([seen, chosen[:, None]], dim=1)
            step_input = chosen[:, None]
    return _candidates(tok, zip(made, logprobs), prompt.quoted)


def _candidates(tok, made, quoted: bool) -> list[Candidate]:
    """Candidates from each one's (token ids, their log-probabilities)."""
    candidates = []
    for tokens, logprobs in made:
        raw = tok.decode(tokens, skip_special_tokens=True)
        text, complete = cut_line(raw, quoted)
        candidates.append(Candidate(text, raw, complete, len(tokens), _mean_over(tok, tokens, logprobs, text)))
    return candidates


class _Rows:
    """The candidates' decoding state: Ripple's own step (lm/decoder.py) where it runs the
    model, else transformers' forward over a copy of the prompt's cache per row."""

    def __init__(self, model, cache, batch):
        self.model, self.cache, self.batch = model, cache, batch

    @classmethod
    def start(cls, lm, prompt: EncodedPrompt, n: int, room: int) -> _Rows:
        if lm.decoder is not None:
            return cls(None, None, lm.decoder.start(prompt.cache, n, room))
        return cls(lm.model, prompt.expanded_cache(n), None)

    def step(self, step_input):
        """Each live row's logits for the token after `step_input` (rows, 1)."""
        if self.batch is not None:
            return self.batch.step(step_input[:, 0])
        return self.model(input_ids=step_input, **{cache_keyword(self.model): self.cache}, use_cache=True).logits[:, -1]

    def keep(self, rows) -> None:
        if self.batch is not None:
            self.batch.keep(rows)
        else:
            self.cache.batch_select_indices(rows)


def reported_logprobs(candidates: list[Candidate]) -> dict[str, float]:
    """What the coherence scorer can take as measured (RankContext.logprobs)."""
    return {c.text: c.mean_logprob for c in candidates if c.mean_logprob is not None}


def _sample_ctranslate2(lm, prompt: EncodedPrompt, sampling: SamplingConfig, seed: int,
                        on_token: OnToken | None, lane: int = 0, guard: Guard | None = None) -> list[Candidate]:
    from ripple.lm import ctranslate

    stops = _stop_token_ids(lm.tokenizer, prompt.quoted)
    line_ends = frozenset(_stop_token_ids(lm.tokenizer, False))
    made = ctranslate.sample(lm, prompt.ids[0].tolist(), stops, line_ends, sampling, seed, on_token=on_token,
                             lane=lane, suppress=guard.suppress_sequences() if guard is not None else None)
    return _candidates(lm.tokenizer, made, prompt.quoted)


def _mean_over(tok, tokens: list[int], logprobs: list[float], text: str) -> float | None:
    """Mean log-probability of the fewest leading tokens that spell `text` (the line as cut)."""
    if not text.strip():
        return None
    for k in range(1, len(tokens) + 1):
        if " ".join(tok.decode(tokens[:k], skip_special_tokens=True).split()).startswith(text):
            return sum(logprobs[:k]) / k
    return sum(logprobs) / len(logprobs) if logprobs else None
