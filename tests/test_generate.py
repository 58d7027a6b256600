"""Batched sampling on a tiny random-init GPT-2: N candidates, seeds, sentence cuts, the KV cache."""

from __future__ import annotations

import pytest

from ripple.config import SamplingConfig
from ripple.lm.sampling import cut_line, encode_prompt, first_clause, sample
from ripple.grounding import ends_sentence

PROMPT = 'Game: Doom.\nEvents: the player kills an Imp.\nCommentator: "'


def test_cut_line_at_the_closing_quote_and_sentence_end():
    assert cut_line('What a shot! He scores." And then', quoted=True) == ("What a shot! He scores.", True)
    assert cut_line("Down he goes. And the crowd", quoted=False) == ("Down he goes.", True)
    assert cut_line("no end in sight", quoted=True) == ("no end in sight", False)
    assert cut_line("Line one!\nLine two.", quoted=False) == ("Line one!", True)
    assert cut_line("  spaced   out  words.  ", quoted=False) == ("spaced out words.", True)
    assert cut_line('Wait for it... boom" x', quoted=True) == ("Wait for it...", True)
    assert cut_line("it's Doom's", quoted=True) == ("it's Doom's", False)
    assert ends_sentence("Boom!") and ends_sentence("Really?!") and not ends_sentence("Mr")


def test_first_clause_is_said_once_the_next_word_has_begun():
    clause = lambda raw, done=False: first_clause(raw, quoted=True, done=done, min_words=3, max_words=6)  # noqa: E731
    assert clause("What a shot,") is None  # the comma may belong to a number: wait for the next word
    assert clause("What a shot, he") == "What a shot,"
    assert clause("Wow, look at that, he") == "Wow, look at that,"  # "Wow," alone is too short
    assert clause("Down he goes! And") == "Down he goes!"
    assert clause("1,000 kills and 3.5 seconds") is None  # not clause ends
    assert clause("He takes the corridor and blasts every") is None  # 5 words, the last may go on
    assert clause("He takes the corridor and blasts every zombie in") == "He takes the corridor and blasts"
    assert clause('Go go go" and') == "Go go go"  # an ended line is said whole however short
    assert clause("Wow. Look at", done=True) == "Wow."  # as cut_line cuts it
    assert clause("Line one\nLine two") == "Line one"
    assert clause("") is None and clause("   ", done=True) is None


def test_each_token_is_heard_as_it_is_written(tiny_lm):
    """on_token sees every candidate grow one token at a time, told when it has ended."""
    sampling = SamplingConfig(candidates=3, max_new_tokens=10)
    heard: dict[int, list[list[int]]] = {}
    ended: dict[int, list[bool]] = {}

    def on_token(index, tokens, done):
        heard.setdefault(index, []).append(list(tokens))
        ended.setdefault(index, []).append(done)

    prompt = encode_prompt(tiny_lm, 'The commentator says: "', room=10)
    candidates = sample(tiny_lm, prompt, sampling, seed=1, on_token=on_token)
    assert sorted(heard) == [0, 1, 2]
    for index, candidate in enumerate(candidates):
        steps = heard[index]
        assert [len(s) for s in steps] == list(range(1, candidate.new_tokens + 1))
        assert all(later[: len(earlier)] == earlier for earlier, later in zip(steps, steps[1:]))
        assert tiny_lm.tokenizer.decode(steps[-1], skip_special_tokens=True) == candidate.raw
        assert ended[index] == [False] * (candidate.new_tokens - 1) + [True]


def test_n_candidates_in_one_call(tiny_lm):
    out = sample(tiny_lm, encode_prompt(tiny_lm, PROMPT, room=12), SamplingConfig(candidates=5, max_new_tokens=12), 0)
    assert len(out) == 5
    assert all(1 <= c.new_tokens <= 12 for c in out)
    assert all(c.text == cut_line(c.raw, True)[0] for c in out)


def test_same_seed_same_candidates_other_seed_others(tiny_lm):
    cfg = SamplingConfig(candidates=4, max_new_tokens=10)
    enc = encode_prompt(tiny_lm, PROMPT, room=10)
    first = [c.raw for c in sample(tiny_lm, enc, cfg, seed=3)]
    again = [c.raw for c in sample(tiny_lm, enc, cfg, seed=3)]
    other = [c.raw for c in sample(tiny_lm, enc, cfg, seed=4)]
    assert first == again
    assert first != other


def test_prompt_cache_is_not_consumed(tiny_lm):
    """Sampling copies the cache: the same EncodedPrompt serves generation and coherence."""
    enc = encode_prompt(tiny_lm, PROMPT, room=8)
    before = enc.cache.get_seq_length()
    sample(tiny_lm, enc, SamplingConfig(candidates=3, max_new_tokens=8), 0)
    assert enc.cache.get_seq_length() == before == enc.ids.shape[1] - 1


def test_cached_prompt_gives_the_same_next_token_logits(tiny_lm):
    import torch

    from ripple.lm.models import cache_keyword

    enc = encode_prompt(tiny_lm, PROMPT, room=8)
    with torch.inference_mode():
        full = tiny_lm.model(input_ids=enc.ids).logits[0, -1]
        cached = tiny_lm.model(
            input_ids=enc.ids[:, -1:].repeat(3, 1), **{cache_keyword(tiny_lm.model): enc.expanded_cache(3)},
            use_cache=True).logits[:, -1]
    assert torch.allclose(cached, full.expand(3, -1), atol=1e-4)


def test_long_prompt_keeps_its_end(tiny_lm):
    long_prompt = "filler words " * 400 + PROMPT  # longer than the tiny model's 512 positions
    enc = encode_prompt(tiny_lm, long_prompt, room=20)
    assert enc.ids.shape[1] == 512 - 20
    assert tiny_lm.tokenizer.decode(enc.ids[0]).endswith(PROMPT)
    assert len(sample(tiny_lm, enc, SamplingConfig(candidates=2, max_new_tokens=20), 0)) == 2


@pytest.mark.parametrize("top_k,top_p,temperature", [(0, 1.0, 1.5), (5, 0.5, 0.3)])
def test_sampling_settings_are_accepted(tiny_lm, top_k, top_p, temperature):
    cfg = SamplingConfig(candidates=2, max_new_tokens=6, top_k=top_k, top_p=top_p, temperature=temperature)
    assert len(sample(tiny_lm, encode_prompt(tiny_lm, PROMPT, room=6), cfg, 1)) == 2


def test_reusing_a_prompt_cache_gives_the_same_cache(tiny_lm):
    import torch

    first = encode_prompt(tiny_lm, "Shared system text and examples. Moment one: a goal.", room=8)
    fresh = encode_prompt(tiny_lm, "Shared system text and examples. Moment two: a save!", room=8)
    reused = encode_prompt(tiny_lm, "Shared system text and examples. Moment two: a save!", room=8, reuse=first)
    assert reused.cache.get_seq_length() == fresh.cache.get_seq_length()
    for a, b in zip(fresh.cache.layers, reused.cache.layers):
        assert torch.allclose(a.keys, b.keys, atol=1e-5) and torch.allclose(a.values, b.values, atol=1e-5)
    assert first.cache.get_seq_length() == first.ids.shape[1] - 1  # the reused one is untouched
    cfg = SamplingConfig(candidates=3, max_new_tokens=8)
    assert [c.raw for c in sample(tiny_lm, reused, cfg, 1)] == [c.raw for c in sample(tiny_lm, fresh, cfg, 1)]


def test_on_token_can_stop_the_writing(tiny_lm):
    """A True from on_token stops every candidate there: what was written so far comes back."""
    sampling = SamplingConfig(candidates=3, max_new_tokens=20)
    prompt = encode_prompt(tiny_lm, 'The commentator says: "', room=20)
    whole = sample(tiny_lm, prompt, sampling, seed=1)
    stopped = sample(tiny_lm, prompt, sampling, seed=1, on_token=lambda index, tokens, done: len(tokens) == 3)
    assert max(c.new_tokens for c in whole) > 3
    assert [c.new_tokens for c in stopped] == [min(3, c.new_tokens) for c in whole]
    assert all(w.raw.startswith(s.raw) for w, s in zip(whole, stopped))
