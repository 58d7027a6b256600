"""Decoding constraints from a moment: numbers it does not hold cannot be sampled, and its
names are favoured.

A small model invents numbers ("level 5", "nine times") that no ranking can make true.
So while a line is written, a digit may only extend a number towards one the moment
supports (ripple.grounding.supported_numbers, in every way it may be written: '1500' and
'1,500'), and a number word ('seven', 'twenty', 'third') whose value it does not hold is
never sampled. Both backends take the same rule:

- transformers: `Guard.banned(state)` masks tokens at each step, with `advance`
  following the number being written in each row (exact for any tokenizer);
- CTranslate2: `suppress_sequences()`, the same rule spelt as token sequences that may
  not be completed. It is exact for numbers that start after a space, a bracket or a
  sign, on tokenizers that write one digit per token (SmolLM2, Llama); a number glued
  to a word ('lap5') is left to the faithfulness scorer.

`name_bias` lifts the first token of each name the moment gives ('Zombieman', 'Faker'),
so lines name who and what rather than 'the enemy', and `echoes` are the earlier lines'
words the repetition penalty counts against a new line (transformers only: CTranslate2 has
neither a logit bias nor a penalty on tokens it did not write).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

from ripple.grounding import COUNTED_WORDS, NUMBER_WORDS, number_spellings, supported_numbers

NAME_BIAS = 1.5  # logits added to a moment name's first token: a nudge, not a script
NUMBER_TOKEN = re.compile(r"^\s?[\d,.]*\d[\d,.]*$")  # a token that writes part of a number
CONTINUES = frozenset(",.")  # inside a number: thousands and decimal marks
START_MARKS = (" ", "(", "$", "-", "#", "/", '"', "x")  # what a number starts after, spelt as tokens for CTranslate2


@dataclass(frozen=True)
class Vocabulary:
    """The tokens of one tokenizer that write numbers, number words and marks."""

    number_tokens: dict[int, str]  # id → text, for every token that writes part of a number
    words: dict[int, str]  # id → the number word it spells ('two' for ' Two'), whole-word tokens only
    marks: dict[int, str]  # id → ',' or '.'
    pieces: dict[int, str]  # id → the token as CTranslate2 names it, for the tokens above
    single_digits: dict[str, str]  # '3' → the token that writes it alone, where the tokenizer has one
    start_marks: tuple[str, ...]  # the tokens that write one of START_MARKS alone
    mark_pieces: dict[str, str]  # ',' → the token that writes it alone


@lru_cache(maxsize=4)
def vocabulary(tokenizer) -> Vocabulary:
    number_tokens, words, marks, pieces, single, starts = {}, {}, {}, {}, {}, []
    for token_id, piece in enumerate(tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))):
        if piece is None:
            continue
        text = tokenizer.convert_tokens_to_string([piece])
        bare = text.strip()
        if NUMBER_TOKEN.match(text) or (any(ch.isdigit() for ch in text) and bare.isalnum()):
            number_tokens[token_id], pieces[token_id] = text, piece
            if len(text) == 1:
                single[text] = piece
        elif bare.isalpha() and bare.lower() in NUMBER_WORDS:
            words[token_id], pieces[token_id] = bare.lower(), piece
        elif text in CONTINUES:
            marks[token_id], pieces[token_id] = text, piece
        if text in START_MARKS:
            starts.append(piece)
    mark_pieces = {text: pieces[i] for i, text in marks.items()}
    return Vocabulary(number_tokens, words, marks, pieces, single, tuple(starts), mark_pieces)


@dataclass
class Guard:
    """What one moment asks of decoding: the numbers it allows (and the token masks that
    keep a line to them), its names to favour, and the earlier lines' words to avoid."""

    spellings: frozenset[str]  # every number it may write, digits as written ('1500', '1,500')
    vocab: Vocabulary
    banned_words: frozenset[int]  # number-word tokens whose value the moment does not hold
    bias: dict[int, float] = field(default_factory=dict)  # token → logits added (name_bias)
    echoes: tuple[int, ...] = ()  # tokens of the lines already said that the moment lacks: the repetition penalty's
    _masks: dict = field(default_factory=dict, repr=False)  # banned sets and masks, by the number being written

    @classmethod
    def for_moment(cls, tokenizer, moment, previous: list[str] = (), facts: bool = True) -> Guard:
        """`facts`: the prompt shows the moment's facts (colour does), so their numbers (a
        release year) may be written too, and their names are favoured; a line that never
        saw them would only misplace them ('the 2019 knights', 'killed by John Carmack')."""
        numbers = supported_numbers(moment, previous, facts)
        vocab = vocabulary(tokenizer)
        allowed_words = {w for w, v in NUMBER_WORDS.items() if float(v) in numbers}
        banned = frozenset(i for i, w in vocab.words.items() if w in COUNTED_WORDS and w not in allowed_words)
        return cls(frozenset(number_spellings(numbers)), vocab, banned, name_bias(tokenizer, moment, facts),
                   echoes(tokenizer, moment, previous, facts))

    @cached_property
    def prefixes(self) -> frozenset[str]:
        """Every beginning of a number the moment holds, the numbers themselves included."""
        return frozenset(s[:k] for s in self.spellings for k in range(1, len(s) + 1))

    def complete(self, state: str | None) -> bool:
        """Whether the number being written is one the moment holds (or none is written)."""
        return state is None or state.rstrip(",.") in self.spellings

    def banned(self, state: str | None) -> frozenset[int]:
        """The number tokens and number words that may not come next, with `state` the
        number being written (None when the last token was not part of one). While that
        number is only the beginning of one the moment holds ('2' of '200'), every other
        token is banned too (`mask`): it must be finished."""
        key = ("state", state)
        if key not in self._masks:
            bad = set(self.banned_words)
            for token_id, text in self.vocab.number_tokens.items():
                if self._extend(state, text) not in self.prefixes:
                    bad.add(token_id)
            self._masks[key] = frozenset(bad)
        return self._masks[key]

    def mask(self, state: str | None, width: int):
        """A (width,) bool tensor, True where a token may not come next."""
        key = ("mask", state, width)
        if key not in self._masks:
            import torch

            if self.complete(state):
                mask = torch.zeros(width, dtype=torch.bool)
                mask[sorted(self.banned(state))] = True
            else:
                mask = torch.ones(width, dtype=torch.bool)
                going = [i for i, t in self.vocab.number_tokens.items() if self._extend(state, t) in self.prefixes]
                going += [i for i, t in self.vocab.marks.items() if state + t in self.prefixes]
                mask[going] = False
            self._masks[key] = mask
        return self._masks[key]

    @staticmethod
    def _extend(state: str | None, text: str) -> str:
        return text.strip() if state is None or text[:1].isspace() else state + text

    def steer(self, logits, states: list[str | None]):
        """`logits` (one row per line being written, in `states`' order) with the banned
        tokens at -inf and the moment's names lifted."""
        import torch

        width = logits.shape[1]
        logits = logits.float().masked_fill(torch.stack([self.mask(s, width) for s in states]), -torch.inf)
        if self.bias:
            ids = torch.tensor(list(self.bias), dtype=torch.long)
            logits[:, ids] += torch.tensor(list(self.bias.values()))
        return logits

    def advance(self, state: str | None, token_id: int) -> str | None:
        """The number being written after `token_id`."""
        text = self.vocab.number_tokens.get(token_id)
        if text is not None:
            return self._extend(state, text)
        if state is not None and token_id in self.vocab.marks:
            return state + self.vocab.marks[token_id]
        return None

    def suppress_sequences(self) -> list[list[str]]:
        """The rule as token sequences CTranslate2 may not complete: every number word the
        moment does not hold, every digit no supported number has, and after each mark a
        number starts after, each digit that cannot follow a supported number's beginning."""
        vocab = self.vocab
        sequences = [[vocab.pieces[i]] for i in sorted(self.banned_words)]
        written = {ch for s in self.spellings for ch in s if ch.isdigit()}
        if len(vocab.single_digits) < 10:  # digits come in longer tokens: ban those no supported number holds
            return sequences + [[vocab.pieces[i]] for i, text in vocab.number_tokens.items()
                                if not set(text.strip()) <= written | CONTINUES]
        digits = vocab.single_digits
        sequences += [[digits[d]] for d in "0123456789" if d not in written]
        # every beginning a number may have, and each one followed by a mark it cannot take
        # ('3.' where only 3,600 is held): none may go on with a digit that leaves the moment's numbers
        bodies = {""} | set(self.prefixes)
        bodies |= {p + m for p in self.prefixes if p[-1].isdigit() for m in CONTINUES} - set(self.prefixes)
        for prefix in sorted(bodies):
            body = [digits[ch] if ch.isdigit() else vocab.mark_pieces.get(ch) for ch in prefix]
            if None in body:
                continue
            for d in sorted(written):
                if prefix + d not in self.prefixes:
                    sequences += [[mark, *body, digits[d]] for mark in vocab.start_marks]
        return sequences


def echoes(tokenizer, moment, previous: list[str], facts: bool = True) -> tuple[int, ...]:
    """The tokens of the last lines said (as many as a prompt shows) that the moment's own
    words (its facts' too, unless not `facts`) do not use: what the repetition penalty
    holds against a new line, so that it says something new without being kept from the
    moment's names."""
    from ripple.grounding import moment_text
    from ripple.lm.prompting import PREVIOUS_SHOWN

    def ids(text: str) -> set[int]:
        return set(tokenizer(" " + text, add_special_tokens=False)["input_ids"]) if text else set()

    said = set().union(*(ids(line) for line in previous[-PREVIOUS_SHOWN:])) if previous else set()
    return tuple(sorted(said - ids(moment_text(moment, facts))))


def name_bias(tokenizer, moment, facts: bool = True) -> dict[int, float]:
    """The first token of each name the moment gives, written after a space, where that
    token is the whole name or four letters of it or more, not a start many words share."""
    from ripple.grounding import GENERIC, TOKEN, moment_text

    names = {w for w in TOKEN.findall(moment_text(moment, facts)) if w[:1].isupper() and w.lower() not in GENERIC and len(w) > 2}
    bias = {}
    for name in sorted(names):
        ids = tokenizer(" " + name, add_special_tokens=False)["input_ids"]
        first = tokenizer.decode(ids[:1]).strip() if ids else ""
        if first and (first == name or len(first) >= 4):
            bias[ids[0]] = NAME_BIAS
    return bias
