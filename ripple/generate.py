"""Sample N candidate lines for one prompt in a single batched call with the KV cache.

The prompt is run through the model once (`encode_prompt`); its key/value cache is then
copied for each of the N candidates, so the prompt costs one forward pass however many
candidates are drawn. The coherence scorer reuses the same cache.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from ripple.config import SamplingConfig

# A sentence ends at . ! ? or … (possibly repeated), optionally followed by closing marks.
SENTENCE_END = re.compile(r"[.!?…]+[)\]'’]*(?=\s|$)")
QUOTE = '"'


@dataclass(frozen=True)
class Candidate:
    text: str  # the line, cut at a natural sentence end
    raw: str  # what the model produced before cutting
    complete: bool  # True when the text ends a sentence
    new_tokens: int  # tokens the model generated for it


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


def ends_sentence(text: str) -> bool:
    text = text.rstrip()
    match = None
    for match in SENTENCE_END.finditer(text):
        pass
    return match is not None and match.end() == len(text)


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


def context_length(model) -> int:
    config = model.config
    return getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", 1024)


def encode_prompt(lm, text: str, room: int) -> EncodedPrompt:
    """Tokenise `text` (keeping its end if it is too long to leave `room` new tokens) and
    run all but its last token through the model once."""
    import torch
    from transformers import DynamicCache

    ids = lm.tokenizer(text, return_tensors="pt")["input_ids"]
    keep = max(1, context_length(lm.model) - room)
    ids = ids[:, -keep:].to(lm.device)
    cache = DynamicCache(config=lm.model.config)
    if ids.shape[1] > 1:
        with torch.inference_mode():
            lm.model(input_ids=ids[:, :-1], past_key_values=cache, use_cache=True, logits_to_keep=1)
    return EncodedPrompt(text, ids, cache, text.rstrip(" ").endswith(QUOTE))


def sample(lm, prompt: EncodedPrompt, sampling: SamplingConfig, seed: int) -> list[Candidate]:
    """`sampling.candidates` lines continuing `prompt`, reproducible for the same seed."""
    import torch

    tok, n = lm.tokenizer, sampling.candidates
    ids = prompt.ids.repeat(n, 1)
    torch.manual_seed(seed)
    with torch.inference_mode():
        out = lm.model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            past_key_values=prompt.expanded_cache(n),
            do_sample=True,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            top_k=sampling.top_k,
            repetition_penalty=sampling.repetition_penalty,
            max_new_tokens=sampling.max_new_tokens,
            pad_token_id=tok.pad_token_id,
            stop_strings=["\n", QUOTE] if prompt.quoted else ["\n"],
            tokenizer=tok,
        )
    candidates = []
    for row in out[:, ids.shape[1] :]:
        tokens = row.tolist()
        if tok.pad_token_id in tokens:  # finished rows are padded to the longest
            tokens = tokens[: tokens.index(tok.pad_token_id) + 1]
        raw = tok.decode(tokens, skip_special_tokens=True)
        text, complete = cut_line(raw, prompt.quoted)
        candidates.append(Candidate(text=text, raw=raw, complete=complete, new_tokens=len(tokens)))
    return candidates
